//! Navigation that cannot finish: the tab is reset before the answer.

mod support;

use std::time::{Duration, Instant};

use proto::cdp::v1::{GetUrlRequest, NavigateRequest};
use serde_json::json;
use support::pages::Pages;
use support::{chromium, chromium_available, target, Driver, Executor, WAIT};
use tonic::Code;

#[tokio::test]
async fn a_navigation_that_times_out_resets_the_tab_to_blank_before_answering() {
    if !chromium_available() {
        return;
    }
    let browser = chromium(0).await;
    let pages = Pages::start().await;
    let driver = Driver::connect(&browser).await;
    let tab = driver.first_tab().await;
    driver.goto(&tab, &pages.url("/page/1")).await;
    let mut exec = Executor::spawn(&[
        "--navigate-allow-hosts",
        "127.0.0.1",
        "--operation-timeout-ms",
        "1000",
    ])
    .await;
    let cdp = browser.cdp_http_url();

    let status = exec
        .client
        .navigate(NavigateRequest {
            target: target(&cdp),
            url: pages.url("/hang"),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::DeadlineExceeded);
    // Already reset when the error arrived: no wait, no polling.
    let url = exec
        .client
        .get_url(GetUrlRequest {
            target: target(&cdp),
        })
        .await
        .unwrap()
        .into_inner()
        .url;
    assert_eq!(url, "about:blank");

    // A navigation that fails outright (nothing listens on port 1) still answers its code
    // (the reset after it is best effort).
    driver.goto(&tab, &pages.url("/page/2")).await;
    let status = exec
        .client
        .navigate(NavigateRequest {
            target: target(&cdp),
            url: "http://127.0.0.1:1/".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    driver.close();
    exec.shutdown().await;
}

#[tokio::test]
async fn a_navigation_cancelled_by_its_caller_leaves_no_interception_behind() {
    if !chromium_available() {
        return;
    }
    let browser = chromium(0).await;
    let pages = Pages::start().await;
    let driver = Driver::connect(&browser).await;
    let tab = driver.first_tab().await;
    driver.goto(&tab, &pages.url("/page/1")).await;
    let mut exec = Executor::spawn(&["--navigate-allow-hosts", "127.0.0.1"]).await;
    let cdp = browser.cdp_http_url();

    // The caller gives up while the document request hangs: tonic drops the call.
    let call = exec.client.navigate(NavigateRequest {
        target: target(&cdp),
        url: pages.url("/hang"),
    });
    let gave_up = tokio::time::timeout(Duration::from_millis(700), call).await;
    assert!(
        gave_up.is_err(),
        "the navigation cannot finish: {gave_up:?}"
    );

    // Had the executor left its request interception on, a navigation by another client would
    // stay paused for good. (The executor's clean-up may still be on its way and stop the
    // first attempt: attempts are retried, each bounded.)
    let url = pages.url("/page/2");
    let arrived = format!("location.href === {}", json!(url));
    let deadline = Instant::now() + WAIT;
    loop {
        let navigate =
            driver
                .browser
                .call("Page.navigate", Some(&tab.session), json!({ "url": url }));
        let _ = tokio::time::timeout(Duration::from_secs(2), navigate).await;
        let check = driver.browser.evaluate(&tab.session, &arrived);
        if let Ok(Ok(serde_json::Value::Bool(true))) =
            tokio::time::timeout(Duration::from_secs(2), check).await
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "navigations stay paused after the cancelled one"
        );
    }
    driver.close();
    exec.shutdown().await;
}
