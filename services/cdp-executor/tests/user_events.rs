//! `StreamUserEvents` against a real Chromium: numbered events across a navigation and a new
//! tab, sensitive values redacted in the page, and nothing left behind when the stream ends.

mod support;

use std::time::Duration;

use proto::cdp::v1::{StreamUserEventsRequest, UserEvent};
use serde_json::{json, Value};
use support::pages::Pages;
use support::{chromium, chromium_available, target, Driver, Executor, WAIT};
use tonic::Streaming;

const INSTALLED: &str =
    "Object.keys(window).some(k => k.startsWith('__bsUserEvents_') && k.endsWith('_installed'))";
const CLEAN: &str = "!Object.keys(window).some(k => k.startsWith('__bsUserEvents_'))";

/// Reads events until `done` holds for the collected list (bounded by WAIT).
async fn collect_until(
    stream: &mut Streaming<UserEvent>,
    seen: &mut Vec<UserEvent>,
    done: impl Fn(&[UserEvent]) -> bool,
) {
    tokio::time::timeout(WAIT, async {
        while !done(seen) {
            let event = stream.message().await.unwrap().expect("stream open");
            seen.push(event);
        }
    })
    .await
    .unwrap_or_else(|_| {
        panic!(
            "events seen: {:#?}",
            seen.iter()
                .map(|e| (&e.event_name, &e.params_json))
                .collect::<Vec<_>>()
        )
    });
}

fn params(event: &UserEvent) -> Value {
    serde_json::from_str(&event.params_json).unwrap()
}

fn has(events: &[UserEvent], name: &str, pred: impl Fn(&UserEvent) -> bool) -> bool {
    events.iter().any(|e| e.event_name == name && pred(e))
}

#[tokio::test]
async fn user_events_are_numbered_redacted_and_survive_navigation_and_new_tabs() {
    if !chromium_available() {
        return;
    }
    let browser = chromium(0).await;
    let pages = Pages::start().await;
    let driver = Driver::connect(&browser).await;
    let tab = driver.first_tab().await;
    driver.goto(&tab, &pages.url("/login")).await;
    let mut exec = Executor::with_local_pages().await;
    let cdp = browser.cdp_http_url();
    let mut stream = exec
        .client
        .stream_user_events(StreamUserEventsRequest {
            target: target(&cdp),
        })
        .await
        .unwrap()
        .into_inner();
    driver.wait_for(&tab.session, INSTALLED).await;
    let mut seen = Vec::new();

    driver
        .eval(&tab, "document.getElementById('user').focus()")
        .await;
    driver
        .browser
        .call(
            "Input.insertText",
            Some(&tab.session),
            json!({ "text": "alice" }),
        )
        .await
        .unwrap();
    driver
        .eval(&tab, "document.getElementById('pw').focus()")
        .await;
    for key in ["s", "e"] {
        let down = json!({ "type": "keyDown", "key": key, "text": key, "code": format!("Key{}", key.to_uppercase()) });
        driver
            .browser
            .call("Input.dispatchKeyEvent", Some(&tab.session), down)
            .await
            .unwrap();
        driver
            .browser
            .call(
                "Input.dispatchKeyEvent",
                Some(&tab.session),
                json!({ "type": "keyUp", "key": key }),
            )
            .await
            .unwrap();
    }
    driver
        .browser
        .call(
            "Input.insertText",
            Some(&tab.session),
            json!({ "text": "cret" }),
        )
        .await
        .unwrap();
    driver
        .eval(&tab, "document.getElementById('card').focus()")
        .await;
    driver
        .browser
        .call(
            "Input.insertText",
            Some(&tab.session),
            json!({ "text": "4111111111111111" }),
        )
        .await
        .unwrap();
    collect_until(&mut stream, &mut seen, |s| {
        has(s, "input", |e| params(e)["value"] == "alice")
            && s.iter()
                .filter(|e| e.event_name == "input" && params(e)["value"] == "[redacted]")
                .count()
                >= 4
    })
    .await;
    assert_eq!(
        driver
            .eval(&tab, "document.getElementById('pw').value")
            .await,
        json!("secret")
    );
    assert!(has(&seen, "keypress", |e| params(e)["key"] == "[redacted]"));
    assert!(has(&seen, "focus", |e| params(e)["target"]["id"] == "pw"));

    // A click that navigates: the click, the navigation, and events of the new document.
    driver
        .eval(&tab, "document.getElementById('next').click()")
        .await;
    let page2 = pages.url("/page/2");
    collect_until(&mut stream, &mut seen, |s| {
        has(s, "navigation", |e| e.url == page2 && e.source == "cdp")
    })
    .await;
    assert!(has(&seen, "click", |e| params(e)["target"]["id"] == "next"
        && e.source == "page"));
    driver.wait_for(&tab.session, INSTALLED).await;
    driver
        .eval(&tab, "document.querySelector('h1').click()")
        .await;
    collect_until(&mut stream, &mut seen, |s| {
        has(s, "click", |e| e.url == page2)
    })
    .await;

    // A new tab is instrumented too.
    let second = driver.new_tab(&pages.url("/login")).await;
    driver.wait_for(&second.session, INSTALLED).await;
    driver
        .eval(&second, "document.getElementById('user').click()")
        .await;
    collect_until(&mut stream, &mut seen, |s| {
        has(s, "click", |e| e.tab_id == second.target_id)
    })
    .await;

    let sequences: Vec<u64> = seen.iter().map(|e| e.sequence).collect();
    assert_eq!(sequences, (1..=seen.len() as u64).collect::<Vec<_>>());
    for event in &seen {
        assert!(
            !event.params_json.contains("secret") && !event.params_json.contains("cret"),
            "{event:?}"
        );
        assert!(!event.params_json.contains("4111"), "{event:?}");
        assert!(event.timestamp.is_some());
    }

    // Ending the stream removes the listeners and the binding from every page.
    drop(stream);
    driver.wait_for(&tab.session, CLEAN).await;
    driver.wait_for(&second.session, CLEAN).await;
    // And new documents are no longer instrumented.
    driver.goto(&tab, &pages.url("/page/5")).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(driver.eval(&tab, CLEAN).await, json!(true));
    driver.close();
    exec.shutdown().await;
}
