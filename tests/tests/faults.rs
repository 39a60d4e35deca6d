//! Faults with the real part stopped: the VNC server (a real x11vnc of a browser node) killed
//! mid-stream, the cdp-executor killed and restarted under an open Message socket, and the
//! node's Chromium killed under the VNC channel. The gateway's tracked tasks are counted
//! before and after: a fault leaves none behind. (A verification outage is
//! `gateway_verification_outage.rs`; a Redis outage `gateway_bus_outage.rs`.)

use std::time::Duration;

use integration_tests::executor::{ExecutorOptions, TestExecutor};
use integration_tests::gateway::{
    http_request, Closed, RecordingUpstream, TestGateway, UpstreamMode, VncClient, BROWSER_PATH,
    WAIT,
};
use integration_tests::message::{path, MessageClient};
use integration_tests::node::{
    chromium_or_skip, vnc_tools_or_skip, BrowserNode, Chromium, ChromiumOptions, NodeOptions,
};
use integration_tests::verification::TestVerification;
use serde_json::json;

/// The gateway's tracked tasks once it serves (its background tasks start with `run`).
async fn baseline_tasks(gateway: &TestGateway) -> usize {
    let (status, _) = http_request(gateway.addr, "GET", "/healthz", &[], "").await;
    assert_eq!(status, 200);
    gateway.state.tracker.len()
}

/// Waits until the gateway tracks `expected` tasks (sockets and their helpers are tracked).
async fn until_tasks(gateway: &TestGateway, expected: usize) {
    let settled = tokio::time::timeout(WAIT, async {
        while gateway.state.tracker.len() != expected {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(
        settled.is_ok(),
        "the gateway tracks {} tasks, {expected} before the fault",
        gateway.state.tracker.len()
    );
}

fn kill(pid: u32) {
    let status = std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -KILL {pid}");
}

/// A browser node (real Xvfb, Chromium, x11vnc) registered as a session, verification, and a
/// gateway (with a real executor when `with_executor`), its idle task count taken.
struct NodeWorld {
    _verification: TestVerification,
    node: BrowserNode,
    executor: Option<TestExecutor>,
    gateway: TestGateway,
    session: String,
    key: String,
    baseline: usize,
}

impl NodeWorld {
    async fn start(with_executor: bool) -> Self {
        let verification = TestVerification::spawn_sqlite().await;
        let node = BrowserNode::start(NodeOptions::default())
            .await
            .expect("browser node starts");
        let org = verification.create_org("org").await;
        let key = verification.create_api_key(&org).await;
        let session = verification
            .create_browser_session(&org, Some(&node.vnc_url()), Some(&node.cdp_url()))
            .await;
        let executor = match with_executor {
            true => Some(TestExecutor::spawn(&verification.url, ExecutorOptions::default()).await),
            false => None,
        };
        let mut config = gateway::config::Config::for_tests(verification.url.clone());
        config.cdp_executor_url = executor.as_ref().map(|e| e.url.clone());
        let gateway = TestGateway::spawn_with(config).await;
        let baseline = baseline_tasks(&gateway).await;
        Self {
            _verification: verification,
            node,
            executor,
            gateway,
            session,
            key,
            baseline,
        }
    }

    /// A VNC socket past the real x11vnc's handshake and a Message socket of one client.
    async fn sockets(&self) -> (VncClient, MessageClient) {
        let query = format!("client_id=c&apikey={}", self.key);
        let mut vnc = self
            .gateway
            .connect_vnc(&format!("{BROWSER_PATH}{}", self.session), &query)
            .await;
        vnc.handshake().await.expect("the real x11vnc streams");
        let url = self
            .gateway
            .ws_url(&path("browser_session", &self.session), &query);
        (vnc, MessageClient::connect(&url).await)
    }

    async fn stop(self) {
        if let Some(executor) = self.executor {
            executor.shutdown().await;
        }
        self.node.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vnc_server_killed_mid_stream_closes_upstream_closed_and_leaves_no_task() {
    if !vnc_tools_or_skip() {
        return;
    }
    let w = NodeWorld::start(false).await;
    let (mut vnc, mut messages) = w.sockets().await;
    messages.next_of_kind("control-state").await;
    assert!(w.gateway.state.tracker.len() > w.baseline);

    let (_, _, x11vnc) = w.node.pids();
    kill(x11vnc);
    assert_eq!(
        tokio::time::timeout(WAIT, vnc.closed())
            .await
            .expect("closed in time"),
        Closed {
            code: 1000,
            reason: "upstream-closed".into(),
        }
    );
    // The Message socket is not the VNC server's: it goes on.
    messages.send(json!({"kind": "take-control"})).await;
    assert_eq!(
        messages.next_of_kind("control-state").await["interactor"],
        "user"
    );
    messages.close().await;
    until_tasks(&w.gateway, w.baseline).await;
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_executor_killed_and_restarted_answers_errors_then_works_and_the_stream_goes_on() {
    if !chromium_or_skip() {
        return;
    }
    let verification = TestVerification::spawn_sqlite().await;
    let chromium = Chromium::launch(ChromiumOptions::default())
        .await
        .expect("chromium starts");
    let upstream = RecordingUpstream::start(UpstreamMode::Quiet).await;
    let org = verification.create_org("org").await;
    let key = verification.create_api_key(&org).await;
    let session = verification
        .create_browser_session(
            &org,
            Some(&upstream.vnc_url()),
            Some(&chromium.cdp_http_url()),
        )
        .await;
    let executor = TestExecutor::spawn(&verification.url, ExecutorOptions::default()).await;
    let addr = executor.addr;
    let mut config = gateway::config::Config::for_tests(verification.url.clone());
    config.cdp_executor_url = Some(executor.url.clone());
    let gateway = TestGateway::spawn_with(config).await;
    let baseline = baseline_tasks(&gateway).await;

    let query = format!("client_id=c&apikey={key}");
    let mut vnc = gateway
        .connect_vnc(&format!("{BROWSER_PATH}{session}"), &query)
        .await;
    vnc.handshake().await.unwrap();
    let mut messages =
        MessageClient::connect(&gateway.ws_url(&path("browser_session", &session), &query)).await;
    messages.send(json!({"kind": "take-control"})).await;
    messages.send(json!({"kind": "get-browser-url"})).await;
    messages.next_of_kind("browser-url").await;

    executor.shutdown().await;
    messages.send(json!({"kind": "get-browser-url"})).await;
    let error = messages.next_of_kind("error").await;
    assert_eq!(error["failed_kind"], "get-browser-url", "{error}");
    // The stream goes on without the executor.
    let request = gateway::rfb::encode::framebuffer_update_request(true, 0, 0, 1, 1);
    vnc.send(&request).await;
    assert!(upstream.wait_for(request.len()).await.ends_with(&request));

    let restarted = TestExecutor::spawn(
        &verification.url,
        ExecutorOptions {
            listen: Some(addr),
            ..ExecutorOptions::default()
        },
    )
    .await;
    // Later calls succeed once the gateway's channel reconnects (within its backoff).
    let answered = tokio::time::timeout(WAIT, async {
        loop {
            messages.send(json!({"kind": "get-browser-url"})).await;
            // Until then each call answers `error` (left pending) and the channel stays open.
            let reply = messages
                .next_of_kind_within("browser-url", Duration::from_millis(500))
                .await;
            match reply {
                Ok(_) => return,
                Err(closed) => assert_eq!(closed.code, 0, "the Message socket closed: {closed:?}"),
            }
        }
    })
    .await;
    assert!(
        answered.is_ok(),
        "no browser-url after the executor came back"
    );
    messages.close().await;
    let mut vnc = vnc;
    vnc.close().await;
    until_tasks(&gateway, baseline).await;
    restarted.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_killed_under_the_vnc_channel_leaves_the_screen_streaming_and_operations_erroring()
{
    if !vnc_tools_or_skip() {
        return;
    }
    let w = NodeWorld::start(true).await;
    let (mut vnc, mut messages) = w.sockets().await;
    messages.send(json!({"kind": "take-control"})).await;
    messages.send(json!({"kind": "get-browser-url"})).await;
    messages.next_of_kind("browser-url").await;

    let (_, chromium, _) = w.node.pids();
    kill(chromium);
    // The X screen is still served: a full update request is answered.
    let request = gateway::rfb::encode::framebuffer_update_request(false, 0, 0, 1, 1);
    vnc.send(&request).await;
    let header = tokio::time::timeout(WAIT, vnc.read_exact(4))
        .await
        .expect("an update in time")
        .expect("the VNC socket stays open");
    assert_eq!(header[0], 0, "a FramebufferUpdate: {header:?}");
    // Browser operations answer `error`; the channel goes on.
    messages.send(json!({"kind": "get-browser-url"})).await;
    let error = messages.next_of_kind("error").await;
    assert_eq!(error["failed_kind"], "get-browser-url", "{error}");
    messages.send(json!({"kind": "cede-control"})).await;
    assert_eq!(
        messages.next_of_kind("control-state").await["interactor"],
        "agent"
    );
    messages.close().await;
    vnc.close().await;
    until_tasks(&w.gateway, w.baseline).await;
    w.stop().await;
}
