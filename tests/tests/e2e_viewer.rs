//! End-to-end: a real headless Chromium drives the viewer page (`web/`) served by the gateway,
//! against the whole stack and a browser node showing a test page: the screen, control, and how
//! the page ends or retries. Each test starts its own stack; waits poll a condition against a
//! deadline.

use integration_tests::e2e::{
    artifacts_dir, parts_or_skip, Stack, ViewerDriver, ViewerRun, BAND_SHARES, E2E_WAIT,
    PAGE_STATE, SCREEN_LIVE,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_viewer_canvas_shows_the_remote_page() {
    if !parts_or_skip() {
        return;
    }
    let run = ViewerRun::start(true)
        .await
        .expect("stack and viewer start");
    let every_band_visible =
        format!("(() => {{ const s = {BAND_SHARES}; return !!s && s.every((x) => x > 0.02); }})()");
    run.viewer
        .wait_until(
            &every_band_visible,
            "the remote page's three colour bands on the canvas",
            E2E_WAIT,
            BAND_SHARES,
        )
        .await
        .expect("canvas shows the remote page");
    let shares = run.viewer.eval(BAND_SHARES).await.expect("canvas readable");
    println!("share of canvas pixels in each band colour: {shares}");
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_reach_the_remote_field_only_after_take_control() {
    if !parts_or_skip() {
        return;
    }
    let run = ViewerRun::start(true)
        .await
        .expect("stack and viewer start");
    assert_eq!(
        run.viewer
            .eval("document.body.dataset.control")
            .await
            .unwrap(),
        "agent"
    );
    // With the agent in control, a click and keys on the canvas are dropped by the gateway.
    run.click_remote_field().await.expect("click");
    run.viewer.type_text("blocked").await.expect("typing");
    assert_eq!(
        run.session.remote.field_value().await.unwrap(),
        "",
        "keys while the agent holds control"
    );

    run.take_control().await.expect("take control");
    let indicator = run
        .viewer
        .eval("document.getElementById('control-text').textContent")
        .await
        .unwrap();
    assert_eq!(indicator, "You are in control");
    run.click_remote_field().await.expect("click");
    run.viewer.type_text("hello e2e").await.expect("typing");
    // Exactly the later keys: had the earlier ones been forwarded, they would come first.
    run.wait_for_field("hello e2e")
        .await
        .expect("typed text arrives in the remote field");
    run.wait_for_text_on_screen()
        .await
        .expect("the remote screen shows the text");

    run.viewer
        .screenshot(&artifacts_dir().join("viewer.png"))
        .await
        .expect("screenshot");
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finished_session_closes_both_sockets_with_entity_finished_and_the_page_says_so() {
    if !parts_or_skip() {
        return;
    }
    let run = ViewerRun::start(true)
        .await
        .expect("stack and viewer start");
    run.stack
        .finish(&run.session.id)
        .await
        .expect("session marked completed");
    let closed = "document.body.dataset.vncClose === 'entity-finished' && document.body.dataset.messagesClose === 'entity-finished' \
        && document.body.dataset.vnc === 'stopped' && document.body.dataset.messages === 'stopped'";
    run.viewer
        .wait_until(
            closed,
            "both sockets closed with entity-finished",
            E2E_WAIT,
            PAGE_STATE,
        )
        .await
        .expect("closed");
    let banner = run.viewer.eval("document.getElementById('banner').hidden ? null : document.getElementById('banner-text').textContent").await.unwrap();
    assert_eq!(banner, "The browser session has ended.");
    let reconnect_hidden = run
        .viewer
        .eval("document.getElementById('reconnect').hidden")
        .await
        .unwrap();
    assert_eq!(
        reconnect_hidden, true,
        "no reconnect offered for a finished session"
    );
    run.viewer
        .screenshot(&artifacts_dir().join("viewer-finished.png"))
        .await
        .expect("screenshot");
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_viewer_retries_a_starting_browser_and_shows_it_once_ready() {
    if !parts_or_skip() {
        return;
    }
    let stack = Stack::start().await.expect("stack starts");
    let session = stack.live_session_with(false).await.expect("node starts");
    let run = ViewerRun::open(stack, session, true)
        .await
        .expect("viewer opens");
    let retrying = "document.body.dataset.vncClose === 'browser-not-ready' && document.body.dataset.vnc !== 'stopped'";
    run.viewer
        .wait_until(
            retrying,
            "a retry after browser-not-ready",
            E2E_WAIT,
            PAGE_STATE,
        )
        .await
        .expect("retrying");

    run.stack
        .register_vnc(&run.session)
        .await
        .expect("vnc address registered");
    run.viewer
        .wait_until(
            SCREEN_LIVE,
            "the screen after the browser became ready",
            E2E_WAIT,
            PAGE_STATE,
        )
        .await
        .expect("live");
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_api_key_stops_the_viewer_with_a_clear_message() {
    if !parts_or_skip() {
        return;
    }
    let stack = Stack::start().await.expect("stack starts");
    let viewer = ViewerDriver::launch().await.expect("viewer browser starts");
    viewer
        .open(
            &stack
                .gateway
                .http_url("/#session=pbs_0123456789abcdef&apikey=not-a-key"),
        )
        .await
        .expect("page opens");
    let refused = "document.body.dataset.vnc === 'stopped' && document.body.dataset.messages === 'stopped' \
        && [document.body.dataset.vncClose, document.body.dataset.messagesClose].includes('auth-failed')";
    viewer
        .wait_until(
            refused,
            "the viewer to stop on auth-failed",
            E2E_WAIT,
            PAGE_STATE,
        )
        .await
        .expect("stopped");
    let banner = viewer
        .eval("document.getElementById('banner-text').textContent")
        .await
        .unwrap();
    assert!(
        banner
            .as_str()
            .unwrap_or("")
            .contains("refused your credential"),
        "banner: {banner}"
    );
    let in_address_bar = viewer
        .eval("location.href.includes('not-a-key')")
        .await
        .unwrap();
    assert_eq!(
        in_address_bar, false,
        "the API key is removed from the address bar"
    );
    viewer.close().await;
    stack.shutdown().await;
}
