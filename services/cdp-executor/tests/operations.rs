//! Each operation against a real headless Chromium through the in-process gRPC server.

mod support;

use proto::cdp::v1::{
    ClearRequest, GetSelectedTextRequest, GetUrlRequest, HistoryRequest, InsertTextRequest,
    ListTabsRequest, NavigateRequest, ReloadRequest, ScreenshotRequest,
};
use serde_json::json;
use support::pages::Pages;
use support::{chromium, chromium_available, target, Driver, Executor};
use tonic::Code;

#[tokio::test]
async fn insert_text_pastes_into_input_textarea_and_contenteditable_firing_input_events() {
    if !chromium_available() {
        return;
    }
    let browser = chromium(0).await;
    let pages = Pages::start().await;
    let driver = Driver::connect(&browser).await;
    let tab = driver.first_tab().await;
    driver.goto(&tab, &pages.url("/form")).await;
    let mut exec = Executor::with_local_pages().await;
    let cdp = browser.cdp_http_url();

    for (id, read) in [("i", "value"), ("t", "value"), ("c", "textContent")] {
        driver
            .eval(&tab, &format!("document.getElementById('{id}').focus()"))
            .await;
        let request = InsertTextRequest {
            target: target(&cdp),
            text: format!("pasted é {id}"),
        };
        exec.client.insert_text(request).await.unwrap();
        let value = driver
            .eval(&tab, &format!("document.getElementById('{id}').{read}"))
            .await;
        assert_eq!(value, json!(format!("pasted é {id}")), "element {id}");
        let events = driver.eval(&tab, &format!("window.inputs['{id}']")).await;
        assert!(events.as_i64().unwrap() >= 1, "no input event on {id}");
    }
    let oversized = InsertTextRequest {
        target: target(&cdp),
        text: "x".repeat(1024 * 1024 + 1),
    };
    assert_eq!(
        exec.client.insert_text(oversized).await.unwrap_err().code(),
        Code::InvalidArgument
    );
    driver.close();
    exec.shutdown().await;
}

#[tokio::test]
async fn selected_text_reads_document_input_and_same_origin_iframe_selections() {
    if !chromium_available() {
        return;
    }
    let browser = chromium(0).await;
    let pages = Pages::start().await;
    let driver = Driver::connect(&browser).await;
    let tab = driver.first_tab().await;
    let mut exec = Executor::with_local_pages().await;
    let cdp = browser.cdp_http_url();
    let selected = |exec: &mut Executor| {
        let mut client = exec.client.clone();
        let cdp = cdp.clone();
        async move {
            client
                .get_selected_text(GetSelectedTextRequest {
                    target: target(&cdp),
                })
                .await
                .unwrap()
                .into_inner()
                .text
        }
    };

    driver.goto(&tab, &pages.url("/select")).await;
    assert_eq!(selected(&mut exec).await, "");
    driver
        .eval(&tab, "(() => { const t = document.getElementById('p').firstChild; const r = document.createRange(); r.setStart(t, 4); r.setEnd(t, 15); getSelection().removeAllRanges(); getSelection().addRange(r); })()")
        .await;
    assert_eq!(selected(&mut exec).await, "quick brown");
    driver.eval(&tab, "(() => { const i = document.getElementById('i'); i.focus(); i.setSelectionRange(6, 15); })()").await;
    assert_eq!(selected(&mut exec).await, "selection");

    driver.goto(&tab, &pages.url("/outer")).await;
    driver
        .wait_for(
            &tab.session,
            "!!document.getElementById('f').contentDocument.getElementById('q')",
        )
        .await;
    driver
        .eval(&tab, "(() => { const d = document.getElementById('f').contentDocument; const t = d.getElementById('q').firstChild; const r = d.createRange(); r.setStart(t, 0); r.setEnd(t, 6); d.getSelection().removeAllRanges(); d.getSelection().addRange(r); })()")
        .await;
    assert_eq!(selected(&mut exec).await, "inside");
    driver.close();
    exec.shutdown().await;
}

#[tokio::test]
async fn operations_act_on_the_tab_brought_to_front() {
    if !chromium_available() {
        return;
    }
    let browser = chromium(0).await;
    let pages = Pages::start().await;
    let driver = Driver::connect(&browser).await;
    let first = driver.first_tab().await;
    driver.goto(&first, &pages.url("/form")).await;
    let second = driver.new_tab(&pages.url("/form")).await;
    let mut exec = Executor::with_local_pages().await;
    let cdp = browser.cdp_http_url();

    for (tab, other) in [(&first, &second), (&second, &first)] {
        driver.front(tab).await;
        driver
            .eval(
                tab,
                "document.getElementById('i').value = ''; document.getElementById('i').focus()",
            )
            .await;
        driver
            .eval(other, "document.getElementById('i').value = ''")
            .await;
        exec.client
            .insert_text(InsertTextRequest {
                target: target(&cdp),
                text: "here".into(),
            })
            .await
            .unwrap();
        assert_eq!(
            driver.eval(tab, "document.getElementById('i').value").await,
            json!("here")
        );
        assert_eq!(
            driver
                .eval(other, "document.getElementById('i').value")
                .await,
            json!("")
        );
        let tabs = exec
            .client
            .list_tabs(ListTabsRequest {
                target: target(&cdp),
            })
            .await
            .unwrap()
            .into_inner()
            .tabs;
        assert_eq!(tabs.len(), 2);
        let active: Vec<_> = tabs
            .iter()
            .filter(|t| t.active)
            .map(|t| t.id.clone())
            .collect();
        assert_eq!(active, vec![tab.target_id.clone()]);
    }
    driver.close();
    exec.shutdown().await;
}

/// The executor caches the active tab; a focus change between two pastes must still move the
/// second paste to the newly focused tab (and a new tab must take over too).
#[tokio::test]
async fn a_paste_after_focus_moves_to_another_tab_lands_in_that_tab() {
    if !chromium_available() {
        return;
    }
    let browser = chromium(0).await;
    let pages = Pages::start().await;
    let driver = Driver::connect(&browser).await;
    let first = driver.first_tab().await;
    driver.goto(&first, &pages.url("/form")).await;
    let second = driver.new_tab(&pages.url("/form")).await;
    let mut exec = Executor::with_local_pages().await;
    let cdp = browser.cdp_http_url();
    let focus_input = "document.getElementById('i').focus()";
    let value = "document.getElementById('i').value";

    driver.front(&first).await;
    driver.eval(&first, focus_input).await;
    driver.eval(&second, focus_input).await;
    for text in ["a", "b"] {
        let request = InsertTextRequest {
            target: target(&cdp),
            text: text.into(),
        };
        exec.client.insert_text(request).await.unwrap();
    }
    assert_eq!(driver.eval(&first, value).await, json!("ab"));

    driver.front(&second).await;
    let request = InsertTextRequest {
        target: target(&cdp),
        text: "c".into(),
    };
    exec.client.insert_text(request).await.unwrap();
    assert_eq!(driver.eval(&second, value).await, json!("c"));
    assert_eq!(driver.eval(&first, value).await, json!("ab"));

    driver.front(&first).await;
    let request = InsertTextRequest {
        target: target(&cdp),
        text: "d".into(),
    };
    exec.client.insert_text(request).await.unwrap();
    assert_eq!(driver.eval(&first, value).await, json!("abd"));

    let third = driver.new_tab(&pages.url("/form")).await;
    driver.front(&third).await;
    driver.eval(&third, focus_input).await;
    let request = InsertTextRequest {
        target: target(&cdp),
        text: "e".into(),
    };
    exec.client.insert_text(request).await.unwrap();
    assert_eq!(driver.eval(&third, value).await, json!("e"));
    assert_eq!(driver.eval(&first, value).await, json!("abd"));
    driver.close();
    exec.shutdown().await;
}

#[tokio::test]
async fn navigation_history_reload_screenshot_and_clearing_work_on_the_active_tab() {
    if !chromium_available() {
        return;
    }
    let browser = chromium(0).await;
    let pages = Pages::start().await;
    let mut exec = Executor::with_local_pages().await;
    let cdp = browser.cdp_http_url();
    let c = &mut exec.client;

    let one = pages.url("/page/1");
    let two = pages.url("/page/2");
    let url = c
        .navigate(NavigateRequest {
            target: target(&cdp),
            url: format!("  {one} "),
        })
        .await
        .unwrap()
        .into_inner()
        .url;
    assert_eq!(url, one);
    c.navigate(NavigateRequest {
        target: target(&cdp),
        url: two.clone(),
    })
    .await
    .unwrap();
    assert_eq!(
        c.get_url(GetUrlRequest {
            target: target(&cdp)
        })
        .await
        .unwrap()
        .into_inner()
        .url,
        two
    );
    assert_eq!(
        c.go_back(HistoryRequest {
            target: target(&cdp)
        })
        .await
        .unwrap()
        .into_inner()
        .url,
        one
    );
    assert_eq!(
        c.go_forward(HistoryRequest {
            target: target(&cdp)
        })
        .await
        .unwrap()
        .into_inner()
        .url,
        two
    );
    // At the end of history, forward is a no-op.
    assert_eq!(
        c.go_forward(HistoryRequest {
            target: target(&cdp)
        })
        .await
        .unwrap()
        .into_inner()
        .url,
        two
    );
    assert_eq!(
        c.reload(ReloadRequest {
            target: target(&cdp),
            hard: true
        })
        .await
        .unwrap()
        .into_inner()
        .url,
        two
    );

    let shot = c
        .screenshot(ScreenshotRequest {
            target: target(&cdp),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(&shot.data[..8], b"\x89PNG\r\n\x1a\n");
    assert_eq!(shot.mime_type, "image/png");

    c.clear_cookies(ClearRequest {
        target: target(&cdp),
    })
    .await
    .unwrap();
    c.clear_all_data(ClearRequest {
        target: target(&cdp),
    })
    .await
    .unwrap();
    c.clear_history(ClearRequest {
        target: target(&cdp),
    })
    .await
    .unwrap();
    // After clearing the history there is nothing to go back to.
    assert_eq!(
        c.go_back(HistoryRequest {
            target: target(&cdp)
        })
        .await
        .unwrap()
        .into_inner()
        .url,
        two
    );
    exec.shutdown().await;
}

#[tokio::test]
async fn the_navigation_guard_refuses_schemes_private_hosts_and_redirects_into_them() {
    if !chromium_available() {
        return;
    }
    let browser = chromium(0).await;
    let pages = Pages::start().await;
    let mut exec = Executor::with_local_pages().await;
    let cdp = browser.cdp_http_url();
    let c = &mut exec.client;
    let start = pages.url("/page/1");
    c.navigate(NavigateRequest {
        target: target(&cdp),
        url: start.clone(),
    })
    .await
    .unwrap();

    let refused = |url: &str| NavigateRequest {
        target: target(&cdp),
        url: url.into(),
    };
    assert_eq!(
        c.navigate(refused("")).await.unwrap_err().code(),
        Code::InvalidArgument
    );
    assert_eq!(
        c.navigate(refused("javascript:alert(1)"))
            .await
            .unwrap_err()
            .code(),
        Code::PermissionDenied
    );
    assert_eq!(
        c.navigate(refused("file:///etc/passwd"))
            .await
            .unwrap_err()
            .code(),
        Code::PermissionDenied
    );
    assert_eq!(
        c.navigate(refused("http://10.0.0.1/"))
            .await
            .unwrap_err()
            .code(),
        Code::PermissionDenied
    );
    assert_eq!(
        c.navigate(refused("http://169.254.169.254/latest"))
            .await
            .unwrap_err()
            .code(),
        Code::PermissionDenied
    );
    let sneaky = pages.url("/redirect?to=http://localhost:9/secret");
    let status = c.navigate(refused(&sneaky)).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    assert!(!status.message().contains("localhost"));
    let url = c
        .get_url(GetUrlRequest {
            target: target(&cdp),
        })
        .await
        .unwrap()
        .into_inner()
        .url;
    assert_eq!(
        url, start,
        "a refused redirect must leave the tab where it was"
    );
    // Redirects to allowed destinations are followed.
    let fine = pages.url("/redirect?to=/page/3");
    assert_eq!(
        c.navigate(refused(&fine)).await.unwrap().into_inner().url,
        pages.url("/page/3")
    );
    exec.shutdown().await;

    // Without the allow list, loopback itself is refused.
    let mut strict = Executor::spawn(&[]).await;
    let status = strict
        .client
        .navigate(NavigateRequest {
            target: target(&cdp),
            url: start,
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    strict.shutdown().await;
}
