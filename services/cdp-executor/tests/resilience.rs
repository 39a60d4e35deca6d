//! Connection lifecycle against a real Chromium: restarts, concurrency, refusals, errors.

mod support;

use std::time::{Duration, Instant};

use proto::cdp::v1::{BrowserTarget, GetUrlRequest, InsertTextRequest, ListTabsRequest};
use support::pages::Pages;
use support::{chromium, chromium_available, target, Chromium, Driver, Executor, WAIT};
use tonic::Code;

#[tokio::test]
async fn a_restarted_browser_fails_fast_then_is_reached_on_a_new_connection() {
    if !chromium_available() {
        return;
    }
    let mut browser = chromium(0).await;
    let port = browser.port();
    let mut exec = Executor::with_local_pages().await;
    let cdp = browser.cdp_http_url();
    exec.client
        .get_url(GetUrlRequest {
            target: target(&cdp),
        })
        .await
        .unwrap();

    browser.kill().await;
    let started = Instant::now();
    let status = exec
        .client
        .get_url(GetUrlRequest {
            target: target(&cdp),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    // Well inside the 5 s operation deadline: the dead connection is noticed, not waited on.
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "took {:?}",
        started.elapsed()
    );

    let _restarted = Chromium::launch(port).await;
    let deadline = Instant::now() + WAIT;
    loop {
        match exec
            .client
            .get_url(GetUrlRequest {
                target: target(&cdp),
            })
            .await
        {
            Ok(answer) => {
                assert_eq!(answer.into_inner().url, "about:blank");
                break;
            }
            // Until Chromium has opened its first tab there is no page to act on.
            Err(status) => assert!(
                matches!(status.code(), Code::Unavailable | Code::FailedPrecondition),
                "{status:?}"
            ),
        }
        assert!(Instant::now() < deadline, "never reconnected");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    exec.shutdown().await;
}

#[tokio::test]
async fn concurrent_calls_on_one_session_all_succeed_over_one_connection() {
    if !chromium_available() {
        return;
    }
    let browser = chromium(0).await;
    let pages = Pages::start().await;
    let driver = Driver::connect(&browser).await;
    let tab = driver.first_tab().await;
    driver.goto(&tab, &pages.url("/form")).await;
    driver
        .eval(&tab, "document.getElementById('t').focus()")
        .await;
    let exec = Executor::with_local_pages().await;
    let cdp = browser.cdp_http_url();
    let calls = (0..20).map(|i| {
        let mut client = exec.client.clone();
        let cdp = cdp.clone();
        async move {
            if i % 2 == 0 {
                client
                    .insert_text(InsertTextRequest {
                        target: target(&cdp),
                        text: "ab".into(),
                    })
                    .await
                    .map(|_| ())
            } else {
                client
                    .list_tabs(ListTabsRequest {
                        target: target(&cdp),
                    })
                    .await
                    .map(|_| ())
            }
        }
    });
    for result in futures::future::join_all(calls).await {
        result.unwrap();
    }
    let text = driver
        .eval(&tab, "document.getElementById('t').value")
        .await;
    assert_eq!(text.as_str().unwrap(), "ab".repeat(10));
    driver.close();
    exec.shutdown().await;
}

#[tokio::test]
async fn bad_targets_are_refused_with_their_codes_and_no_internal_text() {
    let mut exec = Executor::with_local_pages().await;
    let bad = |org: &str, id: &str, cdp: &str| {
        Some(BrowserTarget {
            organization_id: org.into(),
            browser_session_id: id.into(),
            cdp_url: cdp.into(),
        })
    };
    let code = |r: Result<tonic::Response<_>, tonic::Status>| {
        r.map(|_: tonic::Response<proto::cdp::v1::GetUrlResponse>| ())
            .unwrap_err()
    };
    assert_eq!(
        code(exec.client.get_url(GetUrlRequest { target: None }).await).code(),
        Code::InvalidArgument
    );
    assert_eq!(
        code(
            exec.client
                .get_url(GetUrlRequest {
                    target: bad("", "pbs_1", "")
                })
                .await
        )
        .code(),
        Code::InvalidArgument
    );
    // Nothing listens on port 1: unavailable, at once.
    let status = code(
        exec.client
            .get_url(GetUrlRequest {
                target: bad("o", "pbs_1", "http://127.0.0.1:1"),
            })
            .await,
    );
    assert_eq!(status.code(), Code::Unavailable);
    assert!(!status.message().contains("127.0.0.1"));
    // Outside --upstream-allow (loopback by default): never dialled.
    let status = code(
        exec.client
            .get_url(GetUrlRequest {
                target: bad("o", "pbs_2", "http://10.1.2.3:9222"),
            })
            .await,
    );
    assert_eq!(status.code(), Code::FailedPrecondition);
    // Verification (here unreachable) is asked when no cdp_url is given.
    let status = code(
        exec.client
            .get_url(GetUrlRequest {
                target: bad("o", "pbs_3", ""),
            })
            .await,
    );
    assert_eq!(status.code(), Code::Unavailable);
    exec.shutdown().await;
}

/// Whether any client holds a session on the first page (the executor attaches one per tab).
async fn page_attached(driver: &Driver) -> bool {
    let targets = driver
        .browser
        .call("Target.getTargets", None, serde_json::json!({}))
        .await
        .unwrap();
    targets["targetInfos"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["type"] == "page" && t["attached"] == true)
}

#[tokio::test]
async fn an_idle_connection_is_closed_and_reopened_on_the_next_call() {
    if !chromium_available() {
        return;
    }
    let browser = chromium(0).await;
    let driver = Driver::connect(&browser).await;
    let mut exec = Executor::spawn(&["--idle-timeout-ms", "300"]).await;
    let cdp = browser.cdp_http_url();
    let deadline = Instant::now() + WAIT;
    while driver.browser.pages().await.unwrap().is_empty() {
        assert!(Instant::now() < deadline, "chromium opened no tab");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    exec.client
        .get_url(GetUrlRequest {
            target: target(&cdp),
        })
        .await
        .unwrap();
    assert!(page_attached(&driver).await);
    let deadline = Instant::now() + WAIT;
    while page_attached(&driver).await {
        assert!(
            Instant::now() < deadline,
            "the idle connection was never closed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    exec.client
        .get_url(GetUrlRequest {
            target: target(&cdp),
        })
        .await
        .unwrap();
    assert!(page_attached(&driver).await);
    driver.close();
    exec.shutdown().await;
}
