//! Navigation that cannot finish: the tab is reset before the answer.

mod support;

use proto::cdp::v1::{GetUrlRequest, NavigateRequest};
use support::pages::Pages;
use support::{chromium, chromium_available, target, Driver, Executor};
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
