//! The operator interface of the `verification` binary: `serve` prints one `listening on` line
//! and answers health; `admin …` commands print one line (the new id or key) and share the
//! SQLite file with the running server; SIGTERM stops it cleanly.

use std::process::Stdio;
use std::time::Duration;

use proto::verification::v1 as pb;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_verification");
const WAIT: Duration = Duration::from_secs(30);

async fn admin(database_url: &str, args: &[&str]) -> String {
    let output = tokio::time::timeout(
        WAIT,
        Command::new(BIN)
            .arg("admin")
            .args(args)
            .arg("--database-url")
            .arg(database_url)
            .output(),
    )
    .await
    .expect("admin finishes")
    .expect("admin runs");
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1, "{args:?} printed {stdout:?}");
    stdout.trim_end().to_owned()
}

#[tokio::test]
async fn serve_announces_its_port_answers_health_and_admin_prints_one_line() {
    // Arrange: a server on port 0 over a fresh SQLite file.
    let dir = tempfile::tempdir().unwrap();
    let database_url = format!("sqlite://{}", dir.path().join("v.db").display());
    let mut child = Command::new(BIN)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--database-url",
            &database_url,
            "--metrics-listen",
            "127.0.0.1:0",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(WAIT, lines.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let addr = line
        .strip_prefix("listening on ")
        .expect("ready line")
        .to_owned();
    let line = tokio::time::timeout(WAIT, lines.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let metrics_addr = line
        .strip_prefix("metrics listening on ")
        .expect("metrics line")
        .to_owned();

    // Act: admin commands against the same file, while the server runs.
    let org = admin(&database_url, &["create-org", "--name", "acme"]).await;
    let key = admin(&database_url, &["create-api-key", "--org", &org]).await;
    let pbs = admin(
        &database_url,
        &[
            "create-browser-session",
            "--org",
            &org,
            "--cdp-url",
            "http://127.0.0.1:9222",
            "--vnc-url",
            "tcp://127.0.0.1:5900",
            "--timeout-minutes",
            "30",
        ],
    )
    .await;
    let run = admin(
        &database_url,
        &[
            "create-workflow-run",
            "--org",
            &org,
            "--browser-session",
            &pbs,
        ],
    )
    .await;
    let task = admin(
        &database_url,
        &[
            "create-task",
            "--org",
            &org,
            "--workflow-run",
            &run,
            "--status",
            "queued",
        ],
    )
    .await;
    let json = admin(&database_url, &["create-org", "--name", "other", "--json"]).await;
    let updated = admin(
        &database_url,
        &[
            "update-browser-session",
            &pbs,
            "--cdp-url",
            "http://127.0.0.1:9333",
        ],
    )
    .await;

    // Assert: ids and key look right, and the server sees what the CLI wrote.
    assert!(org.starts_with("org_") && key.starts_with("bsk_") && pbs.starts_with("pbs_"));
    assert!(run.starts_with("wr_") && task.starts_with("tsk_") && updated == pbs);
    let object: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert!(object["id"].as_str().unwrap().starts_with("org_"));
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
    let request = tonic_health::pb::HealthCheckRequest {
        service: String::new(),
    };
    let status = health.check(request).await.unwrap().into_inner().status();
    assert_eq!(
        status,
        tonic_health::pb::health_check_response::ServingStatus::Serving
    );
    let mut client = pb::verification_client::VerificationClient::new(channel);
    let credential = pb::authenticate_request::Credential::ApiKey(key.clone());
    let who = client
        .authenticate(pb::AuthenticateRequest {
            credential: Some(credential),
        })
        .await
        .unwrap();
    assert_eq!(who.into_inner().organization_id, org);
    let request = pb::VerifyTaskRequest {
        organization_id: org.clone(),
        task_id: task.clone(),
        require_vnc: true,
    };
    let answer = client
        .verify_task(request.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answer.verdict(), pb::Verdict::Live);
    assert_eq!(
        answer.browser_session.unwrap().cdp_url,
        "http://127.0.0.1:9333"
    );
    assert_eq!(
        admin(
            &database_url,
            &["set-status", "browser_session", &pbs, "completed"]
        )
        .await,
        "completed"
    );
    assert_eq!(
        client
            .verify_task(request)
            .await
            .unwrap()
            .into_inner()
            .verdict(),
        pb::Verdict::NotLive
    );
    assert_eq!(
        admin(&database_url, &["revoke-api-key", &key]).await,
        "revoked"
    );
    let credential = pb::authenticate_request::Credential::ApiKey(key);
    let refused = client
        .authenticate(pb::AuthenticateRequest {
            credential: Some(credential),
        })
        .await;
    assert_eq!(refused.unwrap_err().code(), tonic::Code::Unauthenticated);

    // Metrics: Prometheus text with the watch poller's counters.
    let metrics = http_get(&metrics_addr, "/metrics").await;
    assert!(metrics.starts_with("HTTP/1.1 200"), "{metrics}");
    assert!(
        metrics.contains("verification_watch_poll_queries_total"),
        "{metrics}"
    );

    // SIGTERM: a graceful exit with status 0.
    let pid = child.id().unwrap().to_string();
    let kill = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .unwrap();
    assert!(kill.success());
    let status = tokio::time::timeout(WAIT, child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "exit status {status:?}");
}

#[tokio::test]
async fn admin_errors_go_to_stderr_with_a_failure_status() {
    let dir = tempfile::tempdir().unwrap();
    let database_url = format!("sqlite://{}", dir.path().join("v.db").display());
    let output = Command::new(BIN)
        .args([
            "admin",
            "create-api-key",
            "--org",
            "org_missing",
            "--database-url",
            &database_url,
        ])
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    assert!(output.stdout.is_empty());
    assert!(String::from_utf8_lossy(&output.stderr).contains("organization not found"));
    let bad_status = Command::new(BIN)
        .args([
            "admin",
            "set-status",
            "task",
            "tsk_1",
            "exploded",
            "--database-url",
            &database_url,
        ])
        .output()
        .await
        .unwrap();
    assert!(!bad_status.status.success());
}

#[tokio::test]
async fn a_bad_flag_exits_with_usage_status() {
    let status = Command::new(BIN)
        .args(["--poll-interval", "soon"])
        .output()
        .await
        .unwrap()
        .status;
    assert_eq!(status.code(), Some(64));
}

/// A bare HTTP/1.1 GET (the crate has no HTTP client); returns the whole response.
async fn http_get(addr: &str, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    tokio::time::timeout(WAIT, stream.read_to_string(&mut response))
        .await
        .unwrap()
        .unwrap();
    response
}
