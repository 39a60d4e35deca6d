//! The Redis bus behind a password and behind TLS, each on a private `redis-server` the test
//! starts: two replicas pair and supersede through it, and a bus with the wrong password or
//! an untrusted certificate answers every call with an error instead of hanging or falling
//! back to plaintext.

use std::time::Duration;

use gateway::control::redis::{RedisBus, RedisBusOptions};
use gateway::control::ControlBus;
use gateway::entity::SessionKey;
use integration_tests::bus::{free_port, unique_prefix, Cluster, PrivateRedis};
use integration_tests::node::skip;
use integration_tests::tls::certificates;
use service_kit::ca_file::CaFile;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

const PASSWORD: &str = "bus-password-4f1c";

/// One replica's bus on `url`, used directly.
fn bus(url: &str, ca: Option<CaFile>, shutdown: &CancellationToken) -> RedisBus {
    let options = RedisBusOptions {
        url: url.to_owned(),
        ca,
        prefix: unique_prefix(),
        grace: Duration::from_millis(300),
        call_timeout: Duration::from_secs(3),
        socket_ttl: Duration::from_secs(1),
        sweep_interval: Duration::from_millis(50),
        heartbeat_interval: Duration::from_millis(500),
    };
    RedisBus::start(options, TaskTracker::new(), shutdown.clone()).expect("valid URL")
}

fn session() -> SessionKey {
    SessionKey {
        organization_id: "org".into(),
        browser_session_id: "pbs_1".into(),
    }
}

#[tokio::test]
async fn a_bus_behind_a_password_carries_pairing_and_a_wrong_password_gets_errors() {
    // Arrange
    let port = free_port();
    let Some(_redis) = PrivateRedis::start_with(port, port, &["--requirepass", PASSWORD]) else {
        return;
    };
    let url = format!(
        "redis://:{PASSWORD}@127.0.0.1:{port}/?prefix={}",
        unique_prefix()
    );
    let c = Cluster::spawn(&url, &url, |_| {}).await;
    let shutdown = CancellationToken::new();
    let wrong = bus(&format!("redis://:wrong@127.0.0.1:{port}"), None, &shutdown);
    let none = bus(&format!("redis://127.0.0.1:{port}"), None, &shutdown);
    // Act
    c.supersede_across_replicas().await;
    let refused = wrong.control(&session()).await;
    let anonymous = none.control(&session()).await;
    // Assert
    assert!(refused.is_err(), "a wrong password is refused: {refused:?}");
    assert!(anonymous.is_err(), "no password is refused: {anonymous:?}");
    shutdown.cancel();
}

#[tokio::test]
async fn a_rediss_bus_carries_pairing_when_bus_ca_trusts_its_certificate_and_only_then() {
    if std::process::Command::new("openssl")
        .arg("version")
        .output()
        .is_err()
    {
        return skip("openssl is not installed");
    }
    // Arrange: a Redis serving TLS only, with a certificate for localhost from a test CA.
    let dir = tempfile::tempdir().unwrap();
    certificates(dir.path()).await;
    let file = |name: &str| dir.path().join(name).display().to_string();
    let (cert, key, ca) = (file("cert.pem"), file("key.pem"), file("ca.pem"));
    let port = free_port();
    let tls = [
        "--tls-port",
        &port.to_string(),
        "--tls-cert-file",
        &cert,
        "--tls-key-file",
        &key,
        "--tls-ca-cert-file",
        &ca,
        "--tls-auth-clients",
        "no",
    ];
    let Some(_redis) = PrivateRedis::start_with(0, port, &tls) else {
        return;
    };
    let trusted = CaFile::load(&dir.path().join("ca.pem")).unwrap();
    let url = format!("rediss://localhost:{port}/?prefix={}", unique_prefix());
    let c = Cluster::spawn(&url, &url, |config| {
        config.bus_ca = Some(trusted.clone());
    })
    .await;
    let shutdown = CancellationToken::new();
    let untrusting = bus(&format!("rediss://localhost:{port}"), None, &shutdown);
    let plaintext = bus(&format!("redis://localhost:{port}"), None, &shutdown);
    // Act
    c.supersede_across_replicas().await;
    let refused = untrusting.control(&session()).await;
    let cleartext = plaintext.control(&session()).await;
    // Assert
    assert!(
        refused.is_err(),
        "a certificate no root vouches for: {refused:?}"
    );
    assert!(
        cleartext.is_err(),
        "a TLS port does not speak plaintext: {cleartext:?}"
    );
    shutdown.cancel();
}
