//! End-to-end: the viewer page's browser bar in a real headless Chromium — navigate, back,
//! a refused address as an error toast, clear cookies, and the screenshot dialog.

use integration_tests::e2e::{parts_or_skip, ViewerRun, E2E_WAIT, PAGE_STATE};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_browser_bar_navigates_goes_back_and_reports_a_refused_address() {
    if !parts_or_skip() {
        return;
    }
    let run = ViewerRun::start(true)
        .await
        .expect("stack and viewer start");
    let start = run.session.page.url();
    let shown_url = "document.getElementById('url-input').value";
    let shows = |url: &str| format!("{shown_url} === {url:?}");
    run.viewer
        .wait_until(
            &shows(&start),
            "the remote URL in the address bar",
            E2E_WAIT,
            PAGE_STATE,
        )
        .await
        .expect("browser-url shown on connect");

    run.take_control().await.expect("take control");
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
    run.session
        .remote
        .wait_until(&format!("location.href === {second:?}"), E2E_WAIT)
        .await
        .expect("remote navigated");
    run.viewer
        .wait_until(
            &shows(&second),
            "the new URL in the address bar",
            E2E_WAIT,
            PAGE_STATE,
        )
        .await
        .expect("browser-url");

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
        .eval("document.getElementById('url-input').value = 'file:///etc/passwd'")
        .await
        .unwrap();
    run.viewer
        .click("#url-form button[type=submit]")
        .await
        .expect("Go");
    let toast = "[...document.querySelectorAll('.toast-error')].some((t) => t.textContent.startsWith('Opening the address failed'))";
    run.viewer
        .wait_until(
            toast,
            "an error toast for a refused address",
            E2E_WAIT,
            PAGE_STATE,
        )
        .await
        .expect("error toast");
    assert_eq!(
        run.session.remote.evaluate("location.href").await.unwrap(),
        start.as_str(),
        "the remote page stayed"
    );
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_clear_cookies_and_screenshot_buttons_act_on_the_remote_browser() {
    if !parts_or_skip() {
        return;
    }
    let run = ViewerRun::start(true)
        .await
        .expect("stack and viewer start");
    run.session
        .remote
        .evaluate("document.cookie = 'e2e=1; path=/'; document.cookie")
        .await
        .expect("cookie set");
    run.session
        .remote
        .wait_until("document.cookie.includes('e2e=1')", E2E_WAIT)
        .await
        .expect("cookie stored");
    run.take_control().await.expect("take control");
    run.viewer
        .click("#clear-cookies")
        .await
        .expect("Clear cookies");
    run.session
        .remote
        .wait_until("document.cookie === ''", E2E_WAIT)
        .await
        .expect("cookies cleared");

    run.viewer
        .click("#take-screenshot")
        .await
        .expect("Screenshot");
    let shown = "document.getElementById('screenshot-dialog').open && document.getElementById('screenshot-image').naturalWidth > 0 \
        && document.getElementById('screenshot-download').href.startsWith('data:image/png;base64,')";
    run.viewer
        .wait_until(shown, "the screenshot dialog", E2E_WAIT, PAGE_STATE)
        .await
        .expect("screenshot shown");
    run.stop().await;
}
