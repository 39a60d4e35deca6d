//! `DispatchInput` against a real Chromium: clicks, typing, wheel scrolling and the right
//! button reach the page; invalid events are refused without ending the stream; a stream
//! whose first request names no target is refused.

mod support;

use cdp_executor::browser::ActiveTab;
use proto::cdp::v1::dispatch_input_request::Event;
use proto::cdp::v1::{
    DispatchInputRequest, DispatchInputResponse, KeyInput, MouseInput, WheelInput,
};
use serde_json::{json, Value};
use support::pages::Pages;
use support::{chromium, chromium_available, target, Driver, Executor, WAIT};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Code, Streaming};

/// One open input stream.
struct Input {
    requests: mpsc::Sender<DispatchInputRequest>,
    answers: Streaming<DispatchInputResponse>,
    sequence: u64,
}

impl Input {
    /// Opens the stream with a first request that names the target and carries no event.
    async fn open(exec: &Executor, cdp: &str) -> Self {
        let (requests, rx) = mpsc::channel(16);
        requests
            .send(DispatchInputRequest {
                target: target(cdp),
                sequence: 0,
                event: None,
            })
            .await
            .unwrap();
        let answers = exec
            .client
            .clone()
            .dispatch_input(ReceiverStream::new(rx))
            .await
            .unwrap()
            .into_inner();
        Self {
            requests,
            answers,
            sequence: 0,
        }
    }

    /// Sends one event and returns its answer (which must carry its sequence number).
    async fn send(&mut self, event: Event) -> DispatchInputResponse {
        self.sequence += 1;
        self.requests
            .send(DispatchInputRequest {
                target: None,
                sequence: self.sequence,
                event: Some(event),
            })
            .await
            .unwrap();
        let answer = tokio::time::timeout(WAIT, self.answers.message())
            .await
            .expect("an answer in time")
            .expect("no error")
            .expect("stream open");
        assert_eq!(answer.sequence, self.sequence);
        answer
    }

    async fn dispatched(&mut self, event: Event) {
        let answer = self.send(event).await;
        assert!(answer.dispatched, "{answer:?}");
        assert_eq!(answer.error, "");
    }
}

fn mouse(kind: &str, x: i32, y: i32, button: &str) -> Event {
    Event::Mouse(MouseInput {
        r#type: kind.into(),
        x,
        y,
        button: button.into(),
        click_count: 1,
        modifiers: 0,
    })
}

fn key(kind: &str, key: &str, text: &str) -> Event {
    Event::Key(KeyInput {
        r#type: kind.into(),
        key: key.into(),
        code: format!("Key{}", key.to_uppercase()),
        text: text.into(),
        windows_virtual_key_code: Some(i32::from(key.to_uppercase().as_bytes()[0])),
        modifiers: 0,
    })
}

/// The centre of element `id` in viewport coordinates.
async fn centre_of(driver: &Driver, tab: &ActiveTab, id: &str) -> (i32, i32) {
    let rect = driver
        .eval(
            tab,
            &format!("(() => {{ const r = document.getElementById('{id}').getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; }})()"),
        )
        .await;
    let at = |i: usize| rect[i].as_f64().unwrap().round() as i32;
    (at(0), at(1))
}

async fn click(input: &mut Input, (x, y): (i32, i32), button: &str) {
    input.dispatched(mouse("mousePressed", x, y, button)).await;
    input.dispatched(mouse("mouseReleased", x, y, button)).await;
}

async fn setup() -> (support::Chromium, Pages, Driver, ActiveTab, Executor) {
    let browser = chromium(0).await;
    let pages = Pages::start().await;
    let driver = Driver::connect(&browser).await;
    let tab = driver.first_tab().await;
    driver.goto(&tab, &pages.url("/input")).await;
    let exec = Executor::with_local_pages().await;
    (browser, pages, driver, tab, exec)
}

#[tokio::test]
async fn clicks_keys_wheel_and_the_right_button_reach_the_page() {
    if !chromium_available() {
        return;
    }
    let (browser, _pages, driver, tab, exec) = setup().await;
    let mut input = Input::open(&exec, &browser.cdp_http_url()).await;

    let button = centre_of(&driver, &tab, "b").await;
    click(&mut input, button, "left").await;
    assert_eq!(driver.eval(&tab, "window.clicks").await, json!(1));
    click(&mut input, button, "left").await;
    assert_eq!(driver.eval(&tab, "window.clicks").await, json!(2));

    // Typing into a focused field: keyDown with text types, keyUp does not.
    driver
        .eval(&tab, "document.getElementById('f').focus()")
        .await;
    for k in ["a", "b"] {
        input.dispatched(key("keyDown", k, k)).await;
        input.dispatched(key("keyUp", k, k)).await;
    }
    assert_eq!(
        driver
            .eval(&tab, "document.getElementById('f').value")
            .await,
        json!("ab")
    );

    // The right button is dispatched (the page sees button 2 and its context menu).
    let field = centre_of(&driver, &tab, "f").await;
    click(&mut input, field, "right").await;
    assert_eq!(
        driver.eval(&tab, "window.buttons.includes(2)").await,
        json!(true)
    );
    assert_eq!(
        driver.eval(&tab, "window.contextmenus >= 1").await,
        json!(true)
    );

    // The wheel scrolls the tall page (asynchronously: wait for it).
    assert_eq!(driver.eval(&tab, "window.scrollY").await, json!(0));
    input
        .dispatched(Event::Wheel(WheelInput {
            x: 200,
            y: 200,
            delta_x: 0,
            delta_y: 600,
            modifiers: 0,
        }))
        .await;
    driver.wait_for(&tab.session, "window.scrollY > 0").await;
    drop(input);
    driver.close();
    exec.shutdown().await;
}

#[tokio::test]
async fn invalid_events_are_refused_and_the_stream_goes_on() {
    if !chromium_available() {
        return;
    }
    let (browser, _pages, driver, tab, exec) = setup().await;
    let mut input = Input::open(&exec, &browser.cdp_http_url()).await;
    let button = centre_of(&driver, &tab, "b").await;

    let refused = input
        .send(mouse("mouseClicked", button.0, button.1, "left"))
        .await;
    assert!(!refused.dispatched);
    assert_eq!(refused.error, "invalid");
    let long = "x".repeat(40);
    let refused = input.send(key("keyDown", &long, "x")).await;
    assert_eq!(
        (refused.dispatched, refused.error.as_str()),
        (false, "invalid")
    );
    let refused = input
        .send(Event::Key(KeyInput {
            r#type: "keyPress".into(),
            key: "a".into(),
            ..Default::default()
        }))
        .await;
    assert_eq!(refused.error, "invalid");
    assert_eq!(driver.eval(&tab, "window.clicks").await, json!(0));

    // Still open, and still dispatching; out-of-range values are clamped, not refused.
    click(&mut input, button, "left").await;
    assert_eq!(driver.eval(&tab, "window.clicks").await, json!(1));
    input
        .dispatched(mouse("mouseMoved", -50, 99_999, "sideways"))
        .await;

    // Closing our side ends the stream.
    drop(input.requests);
    let end = tokio::time::timeout(WAIT, input.answers.message())
        .await
        .expect("the stream ends");
    assert!(matches!(end, Ok(None)), "{end:?}");
    driver.close();
    exec.shutdown().await;
}

#[tokio::test]
async fn a_first_request_without_a_target_is_invalid() {
    if !chromium_available() {
        return;
    }
    let exec = Executor::with_local_pages().await;
    let (requests, rx) = mpsc::channel(4);
    requests
        .send(DispatchInputRequest {
            target: None,
            sequence: 1,
            event: Some(mouse("mouseMoved", 1, 1, "none")),
        })
        .await
        .unwrap();
    let status = exec
        .client
        .clone()
        .dispatch_input(ReceiverStream::new(rx))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);

    // A stream closed before its first request is refused the same way.
    let (requests, rx) = mpsc::channel::<DispatchInputRequest>(1);
    drop(requests);
    let status = exec
        .client
        .clone()
        .dispatch_input(ReceiverStream::new(rx))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    exec.shutdown().await;
}

#[tokio::test]
async fn the_first_request_may_carry_an_event_and_events_keep_their_order() {
    if !chromium_available() {
        return;
    }
    let (browser, _pages, driver, tab, exec) = setup().await;
    let button = centre_of(&driver, &tab, "b").await;
    let (requests, rx) = mpsc::channel(64);
    let cdp = browser.cdp_http_url();
    let press = |sequence, kind: &str| DispatchInputRequest {
        target: (sequence == 1).then(|| target(&cdp)).flatten(),
        sequence,
        event: Some(mouse(kind, button.0, button.1, "left")),
    };
    // Ten clicks sent at once, without waiting for answers: all in order.
    for n in 0..10u64 {
        requests
            .send(press(2 * n + 1, "mousePressed"))
            .await
            .unwrap();
        requests
            .send(press(2 * n + 2, "mouseReleased"))
            .await
            .unwrap();
    }
    let mut answers = exec
        .client
        .clone()
        .dispatch_input(ReceiverStream::new(rx))
        .await
        .unwrap()
        .into_inner();
    for expected in 1..=20u64 {
        let answer = tokio::time::timeout(WAIT, answers.message())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(answer.sequence, expected);
        assert!(answer.dispatched, "{answer:?}");
    }
    assert_eq!(driver.eval(&tab, "window.clicks").await, Value::from(10));
    drop((requests, answers));
    driver.close();
    exec.shutdown().await;
}

#[tokio::test]
async fn an_org_token_may_send_input_for_its_own_organization_only() {
    if !chromium_available() {
        return;
    }
    let browser = chromium(0).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("org-tokens");
    std::fs::write(
        &file,
        "agent-token-0123456789 org_test\nother-token-0123456789 org_other\n",
    )
    .unwrap();
    let exec = Executor::spawn(&[
        "--service-token",
        "s3cret",
        "--org-tokens",
        file.to_str().unwrap(),
    ])
    .await;
    let cdp = browser.cdp_http_url();
    let open = |token: &str| {
        let (requests, rx) = mpsc::channel(4);
        requests
            .try_send(DispatchInputRequest {
                target: target(&cdp),
                sequence: 0,
                event: None,
            })
            .unwrap();
        let mut request = tonic::Request::new(ReceiverStream::new(rx));
        request
            .metadata_mut()
            .insert("x-service-token", token.parse().unwrap());
        (requests, request)
    };

    let (_requests, other) = open("other-token-0123456789");
    let status = exec.client.clone().dispatch_input(other).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    let (requests, own) = open("agent-token-0123456789");
    let answers = exec.client.clone().dispatch_input(own).await;
    assert!(answers.is_ok(), "{:?}", answers.err());
    drop((requests, answers));
    exec.shutdown().await;
}
