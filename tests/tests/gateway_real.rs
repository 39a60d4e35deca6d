//! The VNC channel against real parts: a browser node (Xvfb + Chromium + x11vnc) behind the
//! gateway, and a real websockify as a `ws://` upstream. Skips with a printed reason when the
//! parts are missing, unless BROWSER_STREAM_REQUIRE_ALL=1.

use std::process::Stdio;
use std::time::Duration;

use gateway::rfb::encode;
use integration_tests::gateway::{RecordingUpstream, TestGateway, UpstreamMode, VncClient, WAIT};
use integration_tests::node::{skip, vnc_tools_or_skip, BrowserNode, NodeOptions};
use integration_tests::verification::TestVerification;

#[tokio::test]
async fn a_viewer_gets_a_framebuffer_update_from_a_real_browser_node_through_the_gateway() {
    if !vnc_tools_or_skip() {
        return;
    }
    // Arrange: a real browser node registered in real verification.
    let node = BrowserNode::start(NodeOptions::default())
        .await
        .expect("browser node starts");
    let verification = TestVerification::spawn_sqlite().await;
    let org = verification.create_org("org").await;
    let key = verification.create_api_key(&org).await;
    let session = verification
        .create_browser_session(&org, Some(&node.vnc_url()), Some(&node.cdp_url()))
        .await;
    let gateway = TestGateway::spawn(&verification.url).await;
    // Act
    let path = format!("/v1/stream/vnc/browser_session/{session}");
    let mut vnc = gateway
        .connect_vnc(&path, &format!("client_id=c&apikey={key}"))
        .await;
    let (width, height) = vnc
        .handshake()
        .await
        .expect("RFB handshake with x11vnc through the gateway");
    vnc.send(&encode::framebuffer_update_request(
        false, 0, 0, width, height,
    ))
    .await;
    let header = vnc.read_exact(4).await.expect("a server message");
    // Assert: a FramebufferUpdate (type 0) with at least one rectangle.
    assert!(width > 0 && height > 0);
    assert_eq!(header[0], 0, "FramebufferUpdate");
    assert!(u16::from_be_bytes([header[2], header[3]]) >= 1);
    vnc.close().await;
    gateway.shutdown().await.unwrap();
    node.shutdown().await;
}

/// A free loopback port for a child process that needs one on its command line.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A real websockify in front of `upstream`; its `ws://` URL (the child dies with the handle).
async fn websockify(upstream: &RecordingUpstream) -> Option<(tokio::process::Child, String)> {
    let Ok(websockify) = which("websockify") else {
        skip("websockify is not installed");
        return None;
    };
    let port = free_port();
    let child = tokio::process::Command::new(websockify)
        .arg(format!("127.0.0.1:{port}"))
        .arg(upstream.addr.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("websockify starts");
    tokio::time::timeout(WAIT, async {
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("websockify listens");
    Some((child, format!("ws://127.0.0.1:{port}/websockify")))
}

/// A gateway whose browser session's VNC is a real websockify in front of a recording upstream.
struct ThroughWebsockify {
    upstream: RecordingUpstream,
    _websockify: tokio::process::Child,
    _verification: TestVerification,
    gateway: TestGateway,
    org: String,
    key: String,
    session: String,
}

impl ThroughWebsockify {
    /// None (with a printed reason) when websockify is not installed.
    async fn start() -> Option<Self> {
        let upstream = RecordingUpstream::start(UpstreamMode::Quiet).await;
        let (websockify, vnc_url) = websockify(&upstream).await?;
        let verification = TestVerification::spawn_sqlite().await;
        let org = verification.create_org("org").await;
        let key = verification.create_api_key(&org).await;
        let session = verification
            .create_browser_session(&org, Some(&vnc_url), Some("http://127.0.0.1:9"))
            .await;
        let gateway = TestGateway::spawn(&verification.url).await;
        Some(Self {
            upstream,
            _websockify: websockify,
            _verification: verification,
            gateway,
            org,
            key,
            session,
        })
    }

    /// A viewer `client_id` of the session, through its RFB handshake.
    async fn viewer(&self, client_id: &str) -> (VncClient, (u16, u16)) {
        let mut vnc = self
            .gateway
            .connect_vnc(
                &format!("/v1/stream/vnc/browser_session/{}", self.session),
                &format!("client_id={client_id}&apikey={}", self.key),
            )
            .await;
        let size = vnc.handshake().await.expect("handshake through websockify");
        (vnc, size)
    }
}

#[tokio::test]
async fn a_ws_upstream_through_a_real_websockify_relays_the_rfb_stream() {
    // Arrange
    let Some(w) = ThroughWebsockify::start().await else {
        return;
    };
    // Act
    let (mut vnc, size) = w.viewer("c").await;
    let request = encode::framebuffer_update_request(true, 0, 0, 4, 3).to_vec();
    vnc.send(&request).await;
    // Assert
    assert_eq!(size, (4, 3));
    assert_eq!(w.upstream.wait_for(request.len()).await, request);
}

#[tokio::test]
async fn a_key_still_held_when_the_viewer_leaves_is_released_through_a_ws_upstream() {
    // Arrange: a viewer in control holds a key.
    let Some(w) = ThroughWebsockify::start().await else {
        return;
    };
    let (mut vnc, _) = w.viewer("c1").await;
    w.gateway.give_control(&w.org, &w.session, "c1").await;
    let down = encode::key_event(true, 0x61).to_vec();
    vnc.send(&down).await;
    w.upstream.wait_for(down.len()).await;
    // Act: the relay ends, and with it the upstream WebSocket.
    vnc.close().await;
    // Assert: the release still went out over it.
    let expected = [down, encode::key_event(false, 0x61).to_vec()].concat();
    assert_eq!(w.upstream.wait_for(expected.len()).await, expected);
}

fn which(name: &str) -> Result<std::path::PathBuf, ()> {
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|p| p.join(name))
                .find(|p| p.is_file())
        })
        .ok_or(())
}
