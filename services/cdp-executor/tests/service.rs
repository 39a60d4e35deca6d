//! The service around the operations: the service token, the session lifecycle learned from a
//! real verification service (SQLite), and the Prometheus endpoint.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use proto::cdp::v1::{BrowserTarget, GetUrlRequest, InsertTextRequest};
use support::{chromium, chromium_available, target, Executor, WAIT};
use tonic::Code;
use verification::domain::EntityKind;
use verification::{Admin, Application, Config, NewBrowserSession};

/// GETs `/metrics` with a bare HTTP/1.0 request (no client crate needed) and returns the body.
async fn scrape(addr: SocketAddr) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
    socket
        .write_all(b"GET /metrics HTTP/1.0\r\nHost: metrics\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    tokio::time::timeout(WAIT, socket.read_to_string(&mut answer))
        .await
        .unwrap()
        .unwrap();
    assert!(answer.starts_with("HTTP/1.0 200"), "{answer}");
    answer
}

/// The value of the sample line starting with `prefix` (name and labels), if present.
fn sample(text: &str, prefix: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test]
async fn a_call_without_the_service_token_is_unauthenticated_and_with_it_succeeds() {
    if !chromium_available() {
        return;
    }
    let browser = chromium(0).await;
    let mut exec = Executor::spawn(&["--service-token", "s3cret"]).await;
    let cdp = browser.cdp_http_url();
    let status = exec
        .client
        .get_url(GetUrlRequest {
            target: target(&cdp),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);

    let mut wrong = tonic::Request::new(GetUrlRequest {
        target: target(&cdp),
    });
    wrong
        .metadata_mut()
        .insert("x-service-token", "nope".parse().unwrap());
    let status = exec.client.get_url(wrong).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);

    let mut right = tonic::Request::new(GetUrlRequest {
        target: target(&cdp),
    });
    right
        .metadata_mut()
        .insert("x-service-token", "s3cret".parse().unwrap());
    let deadline = tokio::time::Instant::now() + WAIT;
    // Until Chromium has opened its first tab there is no page to act on.
    while let Err(status) = exec.client.get_url(clone_request(&right)).await {
        assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
        assert!(tokio::time::Instant::now() < deadline, "no tab appeared");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    exec.shutdown().await;
}

fn clone_request(request: &tonic::Request<GetUrlRequest>) -> tonic::Request<GetUrlRequest> {
    let mut copy = tonic::Request::new(request.get_ref().clone());
    *copy.metadata_mut() = request.metadata().clone();
    copy
}

#[tokio::test]
async fn metrics_count_operations_by_outcome_and_show_the_open_connection() {
    if !chromium_available() {
        return;
    }
    let browser = chromium(0).await;
    let mut exec = Executor::spawn(&["--metrics-listen", "127.0.0.1:0"]).await;
    let metrics = exec.metrics.expect("metrics are served when asked for");
    let cdp = browser.cdp_http_url();
    let deadline = tokio::time::Instant::now() + WAIT;
    let request = || InsertTextRequest {
        target: target(&cdp),
        text: "x".into(),
    };
    while exec.client.insert_text(request()).await.is_err() {
        assert!(tokio::time::Instant::now() < deadline, "no tab appeared");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let oversized = InsertTextRequest {
        target: target(&cdp),
        text: "x".repeat(1024 * 1024 + 1),
    };
    assert!(exec.client.insert_text(oversized).await.is_err());

    let text = scrape(metrics).await;
    let ok = r#"cdp_executor_operations_total{operation="insert_text",code="OK"}"#;
    let invalid =
        r#"cdp_executor_operations_total{operation="insert_text",code="INVALID_ARGUMENT"}"#;
    let count = r#"cdp_executor_operation_duration_seconds_count{operation="insert_text"}"#;
    assert_eq!(sample(&text, ok), Some(1.0), "{text}");
    assert_eq!(sample(&text, invalid), Some(1.0), "{text}");
    assert!(sample(&text, count).unwrap_or(0.0) >= 2.0, "{text}");
    assert!(text.contains(r#"le="0.001""#) && text.contains(r#"le="5.0""#));
    assert_eq!(
        sample(&text, "cdp_executor_cdp_connections "),
        Some(1.0),
        "{text}"
    );
    assert_eq!(sample(&text, "cdp_executor_user_event_streams "), Some(0.0));
    exec.shutdown().await;
}

/// A real verification service over a fresh SQLite file.
struct Verification {
    url: String,
    admin: Admin,
    stop: tokio_util::sync::CancellationToken,
    _dir: tempfile::TempDir,
}

impl Verification {
    async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let database_url = format!("sqlite://{}", dir.path().join("v.db").display());
        let mut config = Config::for_database(&database_url);
        config.listen = "127.0.0.1:0".parse().unwrap();
        let app = Application::build(config).await.unwrap();
        let url = format!("http://{}", app.local_addr());
        let stop = tokio_util::sync::CancellationToken::new();
        tokio::spawn(app.run(stop.clone().cancelled_owned()));
        let admin = Admin::connect(&database_url).await.unwrap();
        Self {
            url,
            admin,
            stop,
            _dir: dir,
        }
    }
}

/// The executor learns that a session ended from its sweeper, which asks verification about
/// every pooled session each sweep (`--sweep-interval-ms`, at most a quarter of the idle timeout):
/// the connection closes without any call, and a later call answers FAILED_PRECONDITION.
#[tokio::test]
async fn an_idle_connection_closes_when_verification_says_its_session_ended() {
    if !chromium_available() {
        return;
    }
    let browser = chromium(0).await;
    let verification = Verification::start().await;
    let org = verification.admin.create_org("acme").await.unwrap();
    let mut new = NewBrowserSession::new(&org);
    new.cdp_url = Some(browser.cdp_http_url());
    let session = verification
        .admin
        .create_browser_session(new)
        .await
        .unwrap();
    let mut exec = Executor::spawn_with(&[
        "--verification-url",
        &verification.url,
        "--metrics-listen",
        "127.0.0.1:0",
        "--idle-timeout-ms",
        "600000",
        "--verify-cache-ms",
        "0",
        "--sweep-interval-ms",
        "50",
    ])
    .await;
    let metrics = exec.metrics.unwrap();
    let target = || {
        Some(BrowserTarget {
            organization_id: org.clone(),
            browser_session_id: session.clone(),
            cdp_url: String::new(),
        })
    };
    let deadline = tokio::time::Instant::now() + WAIT;
    while let Err(status) = exec
        .client
        .get_url(GetUrlRequest { target: target() })
        .await
    {
        assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
        assert!(tokio::time::Instant::now() < deadline, "no tab appeared");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let open = "cdp_executor_cdp_connections ";
    assert_eq!(sample(&scrape(metrics).await, open), Some(1.0));

    verification
        .admin
        .set_status(EntityKind::BrowserSession, &session, "completed")
        .await
        .unwrap();
    // Event-driven enough: the gauge drops when the actor ends; the loop only bounds a hang.
    while sample(&scrape(metrics).await, open) != Some(0.0) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "connection kept open"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let status = exec
        .client
        .get_url(GetUrlRequest { target: target() })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(sample(&scrape(metrics).await, open), Some(0.0));
    exec.shutdown().await;
    verification.stop.cancel();
}
