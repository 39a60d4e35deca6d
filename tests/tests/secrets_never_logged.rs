//! Credentials never reach logs or metrics, and API keys are never stored in clear. One test
//! (this binary's global log subscriber is its own): verification, the cdp-executor and a
//! gateway run in-process at `debug`, sharing a service token; an API key, a stream ticket, a
//! JWT and the service token are each used on the endpoints that take them (ticket minting,
//! VNC and Message sockets by query and header, refused reuse, Message operations that reach
//! the executor and verification, the gateway's control gRPC, `/metrics`), and a handoff is
//! completed with a note (the agent's only); then every captured log line and the metrics text
//! are searched for each secret.

use std::io::Write;
use std::sync::{Arc, Mutex};

use integration_tests::executor::{ExecutorOptions, TestExecutor};
use integration_tests::gateway::{
    http_request, Closed, RecordingUpstream, TestGateway, UpstreamMode, BROWSER_PATH,
};
use integration_tests::message::{path as message_path, MessageClient};
use integration_tests::verification::TestVerification;
use proto::control::v1::control_client::ControlClient;
use proto::control::v1::{GetControlRequest, RequestHandoffRequest};
use serde_json::json;
use sqlx::Row;
use tonic::metadata::MetadataValue;
use verification::domain::credentials::{sign_bearer, Claims};

const SERVICE_TOKEN: &str = "svc-token-5e1f0c9a77b2";
const JWT_SECRET: &str = "jwt-secret-0d3b8e61";
const HANDOFF_NOTE: &str = "handoff-note-7c41d2";

/// Every log line of the process, as the operator would see it.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn install() -> Self {
        let captured = Captured::default();
        let writer = captured.clone();
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("debug"))
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .init();
        captured
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_credential_reaches_logs_or_metrics_and_api_keys_are_stored_hashed() {
    // Arrange
    let logs = Captured::install();
    let verification = TestVerification::spawn_sqlite_with(|c| {
        c.service_token = Some(SERVICE_TOKEN.to_owned().into());
        c.jwt_secret = Some(JWT_SECRET.to_owned().into());
    })
    .await;
    let executor = TestExecutor::spawn(
        &verification.url,
        ExecutorOptions {
            service_token: Some(SERVICE_TOKEN.into()),
            ..ExecutorOptions::default()
        },
    )
    .await;
    let upstream = RecordingUpstream::start(UpstreamMode::Quiet).await;
    let org = verification.create_org("org").await;
    let api_key = verification.create_api_key(&org).await;
    let session = verification
        .create_browser_session(&org, Some(&upstream.vnc_url()), Some("http://127.0.0.1:9"))
        .await;
    let mut config = gateway::config::Config::for_tests(verification.url.clone());
    config.service_token = Some(SERVICE_TOKEN.to_owned().into());
    config.cdp_executor_url = Some(executor.url.clone());
    let gateway = TestGateway::spawn_with(config).await;
    let jwt = sign_bearer(
        &Claims {
            sub: org.clone(),
            exp: chrono::Utc::now().timestamp() + 300,
        },
        JWT_SECRET.as_bytes(),
    );
    let vnc = format!("{BROWSER_PATH}{session}");
    let messages = message_path("browser_session", &session);
    // Act: every endpoint with every credential it takes.
    let body =
        format!(r#"{{"entity_kind":"browser_session","entity_id":"{session}","scope":"control"}}"#);
    let (status, minted) = http_request(
        gateway.addr,
        "POST",
        "/v1/stream/tickets",
        &[("x-api-key", &api_key)],
        &body,
    )
    .await;
    assert_eq!(status, 201, "{minted}");
    let ticket = serde_json::from_str::<serde_json::Value>(&minted).unwrap()["ticket"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut by_key = gateway
        .connect_vnc(&vnc, &format!("client_id=c1&apikey={api_key}"))
        .await;
    by_key.handshake().await.expect("an API key streams");
    let mut by_ticket = gateway
        .connect_vnc(&vnc, &format!("client_id=c2&ticket={ticket}"))
        .await;
    by_ticket.handshake().await.expect("a ticket streams");
    let reused = gateway
        .connect_vnc(&vnc, &format!("client_id=c3&ticket={ticket}"))
        .await
        .closed()
        .await;
    let token = format!("client_id=c4&token=Bearer%20{jwt}");
    let mut by_jwt = MessageClient::connect(&gateway.ws_url(&messages, &token)).await;
    by_jwt.next_of_kind("control-state").await;
    by_jwt.send(json!({"kind": "take-control"})).await;
    by_jwt.next_of_kind("control-state").await;
    // Reaches the executor (service token) and, through it, verification.
    by_jwt.send(json!({"kind": "get-browser-url"})).await;
    by_jwt.next_of_kind("error").await;
    let mut by_header = MessageClient::connect_with_headers(
        &gateway.ws_url(&messages, "client_id=c5"),
        &[("x-api-key", &api_key)],
    )
    .await;
    by_header.next_of_kind("control-state").await;
    let refused = gateway
        .connect_vnc(&vnc, &format!("client_id=c6&apikey={api_key}x"))
        .await
        .closed()
        .await;
    let mut control = ControlClient::connect(format!("http://{}", gateway.grpc_addr))
        .await
        .unwrap();
    let mut request = tonic::Request::new(GetControlRequest {
        organization_id: org.clone(),
        browser_session_id: session.clone(),
    });
    let token_value: MetadataValue<_> = SERVICE_TOKEN.parse().unwrap();
    request
        .metadata_mut()
        .insert(service_kit::service_token::HEADER, token_value);
    let state = control.get_control(request).await;
    // A handoff completed with a note: the note goes to the agent, never to the logs.
    let mut ask = tonic::Request::new(RequestHandoffRequest {
        organization_id: org.clone(),
        browser_session_id: session.clone(),
        instructions: "Confirm the order".into(),
        timeout: None,
        handoff_id: String::new(),
    });
    ask.metadata_mut().insert(
        service_kit::service_token::HEADER,
        SERVICE_TOKEN.parse().unwrap(),
    );
    let mut agent = control.clone();
    let handoff = tokio::spawn(async move { agent.request_handoff(ask).await });
    let requested = by_jwt.next_of_kind("handoff-requested").await;
    by_jwt
        .send(json!({"kind": "handoff-complete", "handoff_id": requested["handoff_id"], "success": true, "note": HANDOFF_NOTE}))
        .await;
    let handoff = handoff.await.unwrap().expect("the handoff answers");
    let (_, metrics) = http_request(gateway.addr, "GET", "/metrics", &[], "").await;
    for socket in [by_key, by_ticket] {
        let mut socket = socket;
        socket.close().await;
    }
    drop((by_jwt, by_header));
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let pool = sqlx::AnyPool::connect(&verification.database_url)
        .await
        .unwrap();
    let rows = sqlx::query("SELECT * FROM api_keys")
        .fetch_all(&pool)
        .await
        .unwrap();
    // Assert
    let auth_failed = Closed {
        code: 1002,
        reason: "auth-failed".into(),
    };
    assert_eq!((reused, refused), (auth_failed.clone(), auth_failed));
    assert!(state.is_ok(), "the service token opens the control gRPC");
    assert_eq!(
        handoff.into_inner().note,
        HANDOFF_NOTE,
        "the agent gets the note"
    );
    let logs = logs.text();
    assert!(
        logs.contains("stream socket closed"),
        "the capture holds the sockets' and operations' logs"
    );
    assert!(metrics.contains("close"), "{metrics}");
    assert!(logs.contains("handoff-done"), "the handoff was audited");
    for (name, secret) in [
        ("API key", api_key.as_str()),
        ("ticket", ticket.as_str()),
        ("JWT", jwt.as_str()),
        ("JWT secret", JWT_SECRET),
        ("service token", SERVICE_TOKEN),
        ("handoff note", HANDOFF_NOTE),
    ] {
        assert!(!logs.contains(secret), "the {name} is in the logs");
        assert!(!metrics.contains(secret), "the {name} is in the metrics");
    }
    assert_eq!(rows.len(), 1);
    for row in &rows {
        for column in 0..row.len() {
            let value: Option<String> = row.try_get(column).ok().flatten();
            // The whole key, or its random part without the `bsk_` prefix.
            let clear = value.is_some_and(|v| v.contains(&api_key) || v.contains(&api_key[4..]));
            assert!(!clear, "api_keys column {column} holds the key");
        }
    }
}
