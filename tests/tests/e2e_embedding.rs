//! End-to-end: the viewer page embedded in an iframe (real headless Chromium, the whole stack
//! and a browser node). A parent page on an origin `--frame-ancestors` allows drives the viewer
//! through postMessage (take-control, set-view-only) and hears its events (connected,
//! control-state, handoff-requested/ended), and the paste box works inside the frame; a
//! parent on another origin cannot frame it at all; without the flag the page refuses every
//! frame.

use std::time::Duration;

use chromiumoxide::cdp::browser_protocol::page::{
    CreateIsolatedWorldParams, Frame, GetFrameTreeParams,
};
use chromiumoxide::cdp::js_protocol::runtime::EvaluateParams;
use integration_tests::e2e::{parts_or_skip, Stack, TestPage, ViewerDriver, E2E_WAIT};
use integration_tests::gateway::{http_exchange, TestGateway};
use proto::control::v1 as pb;

/// A page of some other application that frames the viewer URL its fragment names, records
/// the viewer's events in `window.events` and sends it commands with `send(command, value)`.
const PARENT_PAGE_HTML: &str = r#"<!doctype html>
<html><head><meta charset="utf-8"><title>embedding application</title></head>
<body style="margin:0">
<iframe id="viewer" width="1200" height="760" style="border:0"></iframe>
<script>
  const viewerUrl = decodeURIComponent(location.hash.slice(1));
  const viewerOrigin = new URL(viewerUrl).origin;
  window.events = [];
  addEventListener('message', (e) => {
    if (e.origin === viewerOrigin && e.data && e.data.source === 'browser-stream') window.events.push(e.data);
  });
  window.send = (command, value) => document.getElementById('viewer').contentWindow
    .postMessage({ target: 'browser-stream', command, value }, viewerOrigin);
  document.getElementById('viewer').src = viewerUrl;
</script>
</body></html>"#;

/// What the parent page has heard, for failure messages.
const EVENTS: &str = "JSON.stringify(window.events || [])";

fn framing(url: &str) -> String {
    let encoded: String = url::form_urlencoded::byte_serialize(url.as_bytes()).collect();
    format!("#{encoded}")
}

/// The first child frame once it navigated away from `about:blank`.
async fn child_frame(driver: &ViewerDriver) -> Frame {
    let deadline = tokio::time::Instant::now() + E2E_WAIT;
    loop {
        let tree = driver
            .page
            .execute(GetFrameTreeParams::default())
            .await
            .unwrap()
            .result
            .frame_tree;
        let child = tree
            .child_frames
            .unwrap_or_default()
            .into_iter()
            .next()
            .map(|c| c.frame);
        match child {
            Some(frame) if frame.url != "about:blank" => return frame,
            _ if tokio::time::Instant::now() > deadline => panic!("no child frame loaded"),
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// Evaluates `expression` inside the framed viewer (an isolated world shares its DOM), as a
/// person acting in the iframe would; the parent page itself cannot reach into it.
async fn in_frame(driver: &ViewerDriver, expression: &str) -> serde_json::Value {
    let frame = child_frame(driver).await;
    let world = driver
        .page
        .execute(
            CreateIsolatedWorldParams::builder()
                .frame_id(frame.id)
                .world_name("e2e")
                .build()
                .unwrap(),
        )
        .await
        .unwrap()
        .result
        .execution_context_id;
    let evaluated = driver
        .page
        .execute(
            EvaluateParams::builder()
                .expression(expression)
                .context_id(world)
                .return_by_value(true)
                .build()
                .unwrap(),
        )
        .await
        .unwrap()
        .result;
    evaluated.result.value.unwrap_or_default()
}

async fn control_of(stack: &Stack, session: &str) -> pb::ControlState {
    let mut client =
        pb::control_client::ControlClient::connect(format!("http://{}", stack.gateway.grpc_addr))
            .await
            .unwrap();
    client
        .get_control(pb::GetControlRequest {
            organization_id: stack.org_id.clone(),
            browser_session_id: session.into(),
        })
        .await
        .unwrap()
        .into_inner()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_allowed_parent_drives_the_viewer_by_postmessage_and_another_cannot_frame_it() {
    if !parts_or_skip() {
        return;
    }
    let allowed = TestPage::serving(PARENT_PAGE_HTML).await.unwrap();
    let other = TestPage::serving(PARENT_PAGE_HTML).await.unwrap();
    let allowed_origin = format!("http://{}", allowed.addr);
    let origin = allowed_origin.clone();
    let stack = Stack::start_with(move |c| c.frame_ancestors = vec![origin])
        .await
        .expect("stack starts");
    let session = stack.live_session().await.expect("browser node");
    let (_, head, _) = http_exchange(stack.gateway.addr, "GET", "/", &[], "").await;
    let head = head.to_ascii_lowercase();
    assert!(
        head.contains(&format!(
            "content-security-policy: frame-ancestors 'self' {allowed_origin}"
        )),
        "{head}"
    );
    assert!(!head.contains("x-frame-options"), "{head}");

    let driver = ViewerDriver::launch().await.expect("browser");
    let viewer_url = stack.viewer_url(&session.id);
    driver
        .open(&format!("{}{}", allowed.url(), framing(&viewer_url)))
        .await
        .unwrap();
    let heard = |condition: &str| format!("(window.events || []).some((e) => {condition})");
    driver
        .wait_until(
            &heard("e.event === 'connected'"),
            "connected",
            E2E_WAIT,
            EVENTS,
        )
        .await
        .expect("the framed viewer connected and said so");

    driver.eval("send('take-control')").await.unwrap();
    driver
        .wait_until(
            &heard("e.event === 'control-state' && e.interactor === 'user'"),
            "control taken through postMessage",
            E2E_WAIT,
            EVENTS,
        )
        .await
        .expect("take-control by postMessage");
    let state = control_of(&stack, &session.id).await;
    assert_eq!(state.interactor, pb::Interactor::User as i32);

    // Paste inside the frame: no clipboard permission there, so the paste box is the way, and
    // it goes through `clipboard-paste` into the focused remote field.
    session
        .remote
        .evaluate("document.getElementById('field').focus()")
        .await
        .unwrap();
    let clicked = in_frame(
        &driver,
        "(() => { document.getElementById('paste-text').value = 'pasted in a frame ✓'; \
         const b = document.getElementById('paste-send'); b.click(); return !b.disabled; })()",
    )
    .await;
    assert_eq!(clicked, true, "the paste button is enabled in control");
    session
        .remote
        .wait_until(
            "document.getElementById('field').value === 'pasted in a frame ✓'",
            E2E_WAIT,
        )
        .await
        .expect("the paste box reached the remote field from inside the frame");

    driver.eval("send('set-view-only', true)").await.unwrap();
    driver
        .wait_until(
            &heard(
                "e.event === 'control-state' && e.interactor === 'agent' && e.reason === 'ceded'",
            ),
            "control handed back by set-view-only",
            E2E_WAIT,
            EVENTS,
        )
        .await
        .expect("set-view-only cedes control");
    assert_eq!(
        control_of(&stack, &session.id).await.interactor,
        pb::Interactor::Agent as i32
    );

    // The agent asks for help: the parent hears it begin and end.
    let mut agent =
        pb::control_client::ControlClient::connect(format!("http://{}", stack.gateway.grpc_addr))
            .await
            .unwrap();
    let ask = pb::RequestHandoffRequest {
        organization_id: stack.org_id.clone(),
        browser_session_id: session.id.clone(),
        instructions: "Check the form".into(),
        timeout: Some(Duration::from_secs(60).try_into().unwrap()),
        handoff_id: "embedded-1".into(),
    };
    let mut caller = agent.clone();
    let call = tokio::spawn(async move { caller.request_handoff(ask).await });
    driver
        .wait_until(
            &heard("e.event === 'handoff-requested' && e.instructions === 'Check the form'"),
            "handoff-requested",
            E2E_WAIT,
            EVENTS,
        )
        .await
        .expect("the parent hears the request for help");
    agent
        .cancel_handoff(pb::CancelHandoffRequest {
            organization_id: stack.org_id.clone(),
            browser_session_id: session.id.clone(),
            handoff_id: "embedded-1".into(),
        })
        .await
        .unwrap();
    driver
        .wait_until(
            &heard("e.event === 'handoff-ended' && e.outcome === 'CANCELLED'"),
            "handoff-ended",
            E2E_WAIT,
            EVENTS,
        )
        .await
        .expect("the parent hears it end");
    call.await.unwrap().unwrap();

    // Another origin: the frame is refused (Chromium commits an error page instead).
    driver
        .open(&format!("{}{}", other.url(), framing(&viewer_url)))
        .await
        .unwrap();
    let child = child_frame(&driver).await;
    assert!(
        child.url.starts_with("chrome-error://"),
        "a disallowed origin framed the viewer: {child:?}"
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(driver.eval(EVENTS).await.unwrap(), "[]");
    driver.close().await;
    session.stop().await;
    stack.shutdown().await;
}

#[tokio::test]
async fn without_frame_ancestors_the_viewer_page_refuses_every_frame() {
    let mut config = gateway::config::Config::for_tests("http://127.0.0.1:9".into());
    config.web_root = integration_tests::e2e::web_root();
    let gateway = TestGateway::spawn_with(config).await;
    for path in ["/", "/js/viewer.js", "/viewer-config.json"] {
        let (status, head, _) = http_exchange(gateway.addr, "GET", path, &[], "").await;
        let head = head.to_ascii_lowercase();
        assert_eq!(status, 200, "{path}");
        assert!(head.contains("x-frame-options: deny"), "{path}: {head}");
        assert!(
            head.contains("content-security-policy: frame-ancestors 'none'"),
            "{path}: {head}"
        );
    }
    let (_, _, body) = http_exchange(gateway.addr, "GET", "/viewer-config.json", &[], "").await;
    assert_eq!(body, r#"{"frame_ancestors":[]}"#);
}
