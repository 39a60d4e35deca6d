//! End-to-end: the viewer page's CDP transport (PROTOCOL §10) in a real headless Chromium, on a
//! headless browser session (Chromium alone, registered with its `cdp_url` and no `vnc_url`):
//! the page picks the screencast, draws it on its canvas, sends keys and clicks on the CDP input
//! socket only while it holds control, keeps the browser bar and the clipboard on the Message
//! socket, and stops for good when the session ends. A session with VNC still picks VNC.

use std::time::Duration;

use integration_tests::e2e::{
    artifacts_dir, headless_parts_or_skip, parts_or_skip, ViewerRun, BAND_SHARES, E2E_WAIT,
    PAGE_STATE,
};

/// How long input that should not arrive is given to arrive anyway, before the field is read.
const SETTLE: Duration = Duration::from_millis(700);

/// True once every band colour covers a fair share of the canvas.
fn every_band_visible() -> String {
    format!("(() => {{ const s = {BAND_SHARES}; return !!s && s.every((x) => x > 0.02); }})()")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_headless_session_is_watched_over_the_screencast_and_its_canvas_shows_the_remote_page() {
    if !headless_parts_or_skip() {
        return;
    }
    // Arrange / Act
    let run = ViewerRun::start_headless(true)
        .await
        .expect("stack and viewer start");

    // Assert
    run.viewer
        .wait_until(
            &every_band_visible(),
            "the remote page's three colour bands on the canvas",
            E2E_WAIT,
            BAND_SHARES,
        )
        .await
        .expect("canvas shows the remote page");
    let transport = run.viewer.eval("document.body.dataset.transport").await;
    assert_eq!(transport.unwrap(), "cdp");
    // The canvas holds viewport pixels, as noVNC's holds framebuffer pixels.
    let canvas = run
        .viewer
        .eval("(() => { const c = document.querySelector('#screen canvas'); return [c.width, c.height, c.className]; })()")
        .await
        .unwrap();
    let viewport = run
        .session
        .remote
        .evaluate("[innerWidth, innerHeight, 'screencast']")
        .await
        .unwrap();
    assert_eq!(canvas, viewport, "the canvas is the remote viewport's size");
    let vnc_started = run.viewer.eval("window.viewer.links.vnc.generation").await;
    assert_eq!(vnc_started.unwrap(), 0, "the VNC link was never started");
    let pill = run
        .viewer
        .eval("document.querySelector('#vnc-status .pill-text').textContent")
        .await
        .unwrap();
    assert_eq!(pill, "Screen: live");
    run.viewer
        .screenshot(&artifacts_dir().join("viewer-screencast.png"))
        .await
        .expect("screenshot");
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_and_clicks_reach_the_remote_page_only_after_take_control() {
    if !headless_parts_or_skip() {
        return;
    }
    // Arrange: the remote field is not focused, so typed text lands only if a click focused it.
    let run = ViewerRun::start_headless(true)
        .await
        .expect("stack and viewer start");
    let field_focused = "document.activeElement === document.getElementById('field')";
    let blur = "document.getElementById('field').blur(); document.activeElement.id";
    run.session.remote.evaluate(blur).await.expect("blur");

    // Act: with the agent in control, the page sends neither the click nor the keys.
    run.click_remote_field().await.expect("click");
    run.viewer.type_text("blocked").await.expect("typing");
    tokio::time::sleep(SETTLE).await;

    // Assert
    assert_eq!(run.session.remote.field_value().await.unwrap(), "");
    let focused = run.session.remote.evaluate(field_focused).await.unwrap();
    assert_eq!(focused, false, "the click while the agent held control");

    // Act: take control, click the field, type.
    run.take_control().await.expect("take control");
    run.click_remote_field().await.expect("click");
    run.session
        .remote
        .wait_until(field_focused, E2E_WAIT)
        .await
        .expect("the click focused the remote field");
    run.viewer.type_text("hello e2e").await.expect("typing");

    // Assert: exactly the later keys, and the screen shows them.
    run.wait_for_field("hello e2e")
        .await
        .expect("typed text arrives in the remote field");
    run.wait_for_text_on_screen()
        .await
        .expect("the screencast shows the text");
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_browser_bar_navigates_and_goes_back_on_the_cdp_transport() {
    if !headless_parts_or_skip() {
        return;
    }
    // Arrange
    let run = ViewerRun::start_headless(true)
        .await
        .expect("stack and viewer start");
    let start = run.session.page.url();
    let shows = |url: &str| format!("document.getElementById('url-input').value === {url:?}");
    run.viewer
        .wait_until(&shows(&start), "the remote URL", E2E_WAIT, PAGE_STATE)
        .await
        .expect("browser-url shown on connect");
    run.take_control().await.expect("take control");

    // Act: go to another address of the test page.
    let second = format!("{start}second");
    run.viewer
        .eval(&format!(
            "document.getElementById('url-input').value = {second:?}"
        ))
        .await
        .unwrap();
    run.viewer
        .click("#url-form button[type=submit]")
        .await
        .expect("Go");

    // Assert
    run.session
        .remote
        .wait_until(&format!("location.href === {second:?}"), E2E_WAIT)
        .await
        .expect("remote navigated");
    run.viewer
        .wait_until(&shows(&second), "the new URL", E2E_WAIT, PAGE_STATE)
        .await
        .expect("browser-url after navigating");

    // Act / Assert: back, and the screencast follows the page.
    run.viewer.click("#go-back").await.expect("Back");
    run.session
        .remote
        .wait_until(&format!("location.href === {start:?}"), E2E_WAIT)
        .await
        .expect("remote went back");
    run.viewer
        .wait_until(&shows(&start), "the first URL again", E2E_WAIT, PAGE_STATE)
        .await
        .expect("browser-url after back");
    run.viewer
        .wait_until(
            &every_band_visible(),
            "the page on the canvas",
            E2E_WAIT,
            BAND_SHARES,
        )
        .await
        .expect("the screencast still shows the page");
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_v_pastes_the_local_clipboard_on_the_cdp_transport() {
    if !headless_parts_or_skip() {
        return;
    }
    // Arrange
    let run = ViewerRun::start_headless(true)
        .await
        .expect("stack and viewer start");
    let text = "pasted over cdp ✓";
    run.viewer
        .eval(&format!("navigator.clipboard.writeText({text:?})"))
        .await
        .expect("local clipboard written");
    run.take_control().await.expect("take control");
    run.click_remote_field().await.expect("click");

    // Act: the gateway holds the V back and asks the page for its clipboard.
    run.viewer.ctrl('v').await.expect("ctrl+v");

    // Assert
    run.wait_for_field(text)
        .await
        .expect("the clipboard text lands in the remote field");
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finished_headless_session_stops_the_page_with_the_session_ended() {
    if !headless_parts_or_skip() {
        return;
    }
    // Arrange
    let run = ViewerRun::start_headless(true)
        .await
        .expect("stack and viewer start");

    // Act
    run.stack
        .finish(&run.session.id)
        .await
        .expect("session marked completed");

    // Assert: the screencast's end is final, like the VNC channel's `entity-finished`.
    let ended = "document.body.dataset.vncClose === 'entity-finished' && document.body.dataset.vnc === 'stopped' \
        && document.body.dataset.ended === 'yes'";
    run.viewer
        .wait_until(ended, "the screen stopped for good", E2E_WAIT, PAGE_STATE)
        .await
        .expect("stopped");
    let banner = run
        .viewer
        .eval("document.getElementById('banner-text').textContent")
        .await
        .unwrap();
    assert_eq!(banner, "The browser session has ended.");
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_with_vnc_is_still_watched_over_vnc() {
    if !parts_or_skip() {
        return;
    }
    // Arrange / Act
    let run = ViewerRun::start(true)
        .await
        .expect("stack and viewer start");

    // Assert: the screencast said `use-vnc-streaming`, and noVNC draws the screen.
    let state = run
        .viewer
        .eval("[document.body.dataset.transport, document.body.dataset.screencast, !!document.querySelector('#screen canvas.screencast')]")
        .await
        .unwrap();
    assert_eq!(
        state,
        serde_json::json!(["vnc", "stopped", false]),
        "{state}"
    );
    run.viewer
        .wait_until(
            &every_band_visible(),
            "the remote page over VNC",
            E2E_WAIT,
            BAND_SHARES,
        )
        .await
        .expect("canvas shows the remote page");
    run.stop().await;
}
