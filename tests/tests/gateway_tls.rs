//! TLS towards the gateway's upstreams, with certificates from a test CA made by openssl for
//! each test: `wss://` VNC upstreams (a real websockify serving TLS in front of the recording
//! RFB upstream; the gateway checks the certificate for the URL's host and trusts the test's CA
//! only when `--upstream-ca` names it), and an `https://` verification service (trusted only
//! when `--grpc-ca` names the CA).

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use gateway::config::Config;
use gateway::rfb::encode;
use integration_tests::gateway::{Closed, RecordingUpstream, TestGateway, UpstreamMode, WAIT};
use integration_tests::node::skip;
use integration_tests::tls::certificates;
use integration_tests::verification::TestVerification;
use service_kit::ca_file::CaFile;
use tokio::process::{Child, Command};

const BROWSER_PATH: &str = "/v1/stream/vnc/browser_session/";

fn tool(name: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(name).is_file()))
}

/// websockify with TLS only, in front of `target`; returns the child and its port.
async fn tls_websockify(dir: &Path, target: std::net::SocketAddr) -> (Child, u16) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("websockify")
        .arg(format!("--cert={}", dir.join("cert.pem").display()))
        .arg(format!("--key={}", dir.join("key.pem").display()))
        .arg("--ssl-only")
        .arg(format!("127.0.0.1:{port}"))
        .arg(target.to_string())
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
    (child, port)
}

#[tokio::test]
async fn a_wss_upstream_streams_when_its_ca_is_trusted_and_is_unreachable_otherwise() {
    if !tool("websockify") || !tool("openssl") {
        return skip("websockify or openssl is not installed");
    }
    // Arrange
    let dir = tempfile::tempdir().unwrap();
    certificates(dir.path()).await;
    let upstream = RecordingUpstream::start(UpstreamMode::Quiet).await;
    let (_websockify, port) = tls_websockify(dir.path(), upstream.addr).await;
    let verification = TestVerification::spawn_sqlite().await;
    let org = verification.create_org("org").await;
    let key = verification.create_api_key(&org).await;
    let wss = format!("wss://localhost:{port}/");
    let session = verification
        .create_browser_session(&org, Some(&wss), Some("http://127.0.0.1:9"))
        .await;
    let path = format!("{BROWSER_PATH}{session}");
    let query = format!("client_id=c&apikey={key}");
    let mut config = Config::for_tests(verification.url.clone());
    config.upstream_ca = Some(CaFile::load(&dir.path().join("ca.pem")).unwrap());
    let trusting = TestGateway::spawn_with(config).await;
    let untrusting = TestGateway::spawn(&verification.url).await;
    // Act
    let mut vnc = trusting.connect_vnc(&path, &query).await;
    let size = vnc.handshake().await.expect("handshake over wss");
    let fbur = encode::framebuffer_update_request(false, 0, 0, 4, 3).to_vec();
    vnc.send(&fbur).await;
    let refused = untrusting.connect_vnc(&path, &query).await.closed().await;
    // Assert
    assert_eq!(size, (4, 3));
    assert_eq!(upstream.wait_for(fbur.len()).await, fbur);
    assert_eq!(
        refused,
        Closed {
            code: 1011,
            reason: "upstream-unreachable".into()
        },
        "a certificate no root vouches for is not accepted"
    );
}

#[tokio::test]
async fn an_https_verification_authenticates_sockets_when_its_ca_is_trusted() {
    if !tool("openssl") {
        return skip("openssl is not installed");
    }
    // Arrange: verification serving gRPC over TLS with a certificate for localhost.
    let dir = tempfile::tempdir().unwrap();
    let verification = TestVerification::spawn_sqlite_tls(dir.path()).await;
    let org = verification.create_org("org").await;
    let api_key = verification.create_api_key(&org).await;
    let upstream = RecordingUpstream::start(UpstreamMode::Quiet).await;
    let session = verification
        .create_browser_session(&org, Some(&upstream.vnc_url()), Some("http://127.0.0.1:9"))
        .await;
    let path = format!("{BROWSER_PATH}{session}");
    let query = format!("client_id=c&apikey={api_key}");
    let https = verification.https_url();
    let mut config = Config::for_tests(https.clone());
    config.grpc_ca = Some(CaFile::load(&dir.path().join("ca.pem")).unwrap());
    let trusting = TestGateway::spawn_with(config).await;
    let untrusting = TestGateway::spawn_with(Config::for_tests(https)).await;
    // Act
    let size = trusting.connect_vnc(&path, &query).await.handshake().await;
    let refused = untrusting.connect_vnc(&path, &query).await.closed().await;
    // Assert
    assert_eq!(size, Ok((4, 3)), "authenticated over TLS, then relayed");
    assert_eq!(
        refused,
        Closed {
            code: 1013,
            reason: "verification-unavailable".into()
        },
        "a certificate no root vouches for is not accepted"
    );
}
