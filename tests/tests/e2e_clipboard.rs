//! End-to-end: the viewer page's clipboard in a real headless Chromium — Ctrl+C copies the
//! remote selection to the page and the local clipboard, Ctrl+V pastes the local clipboard (or
//! the Paste box) through `ask-for-clipboard`, and the Paste button sends `clipboard-paste`.

use integration_tests::e2e::{parts_or_skip, ViewerRun, E2E_WAIT, PAGE_STATE};

/// Text with characters RFB cut text (Latin-1) cannot carry.
const UNICODE_TEXT: &str = "pasted ✓ über 世界";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_selection_copied_with_ctrl_c_appears_on_the_page_and_the_local_clipboard() {
    if !parts_or_skip() {
        return;
    }
    let run = ViewerRun::start(true)
        .await
        .expect("stack and viewer start");
    run.take_control().await.expect("take control");
    run.click_remote_field().await.expect("click");
    run.viewer.type_text("copy me").await.expect("typing");
    run.wait_for_field("copy me").await.expect("typed");
    run.session
        .remote
        .evaluate("document.getElementById('field').select()")
        .await
        .expect("select");

    run.viewer.ctrl('c').await.expect("ctrl+c");
    run.viewer
        .wait_until(
            "document.getElementById('copied-text').value === 'copy me'",
            "copied text on the page",
            E2E_WAIT,
            PAGE_STATE,
        )
        .await
        .expect("copied-text shown");
    let local = run
        .viewer
        .eval("navigator.clipboard.readText()")
        .await
        .expect("read clipboard");
    assert_eq!(
        local, "copy me",
        "the page put the copied text on the local clipboard"
    );
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_v_pastes_the_local_clipboard_through_ask_for_clipboard() {
    if !parts_or_skip() {
        return;
    }
    let run = ViewerRun::start(true)
        .await
        .expect("stack and viewer start");
    run.viewer
        .eval(&format!("navigator.clipboard.writeText({UNICODE_TEXT:?})"))
        .await
        .expect("local clipboard written");
    run.take_control().await.expect("take control");
    run.click_remote_field().await.expect("click");

    run.viewer.ctrl('v').await.expect("ctrl+v");
    run.wait_for_field(UNICODE_TEXT)
        .await
        .expect("the clipboard text lands in the remote field");
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_clipboard_access_the_paste_box_is_pasted() {
    if !parts_or_skip() {
        return;
    }
    let run = ViewerRun::start(false)
        .await
        .expect("stack and viewer start");
    run.viewer
        .eval("document.getElementById('paste-text').value = 'from the box'")
        .await
        .expect("fill paste box");
    run.take_control().await.expect("take control");
    run.click_remote_field().await.expect("click");

    // Ctrl+V on the canvas: the gateway asks, the page cannot read the clipboard, the box answers.
    run.viewer.ctrl('v').await.expect("ctrl+v");
    run.wait_for_field("from the box")
        .await
        .expect("ask-for-clipboard answered from the box");

    // The button sends the box as `clipboard-paste` into the still-focused remote field.
    run.viewer.click("#paste-send").await.expect("paste button");
    run.wait_for_field("from the boxfrom the box")
        .await
        .expect("clipboard-paste inserts the box");
    run.stop().await;
}
