//! Database outage: with a PRIVATE PostgreSQL (initdb + pg_ctl on a free port, never the
//! shared server), calls answer UNAVAILABLE while it is stopped, health keeps serving, Watch
//! streams survive, and everything recovers by itself when it starts again.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use proto::verification::v1 as pb;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Code;
use verification::domain::EntityKind;
use verification::NewBrowserSession;

use common::{TestApp, TestDb};

/// A private PostgreSQL cluster in a temp dir, stopped and removed on drop.
struct PrivatePg {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
}

impl PrivatePg {
    fn start() -> Option<Self> {
        let Some(bin) = pg_bin() else {
            test_kit::skip::skip("initdb/pg_ctl not found");
            return None;
        };
        let dir = tempfile::Builder::new()
            .prefix("vt-pg-")
            .tempdir_in("/tmp")
            .unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let pg = Self { bin, dir, port };
        if is_root() {
            // initdb refuses to run as root: hand the directory to the postgres user.
            run(Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(pg.dir.path()));
        }
        let data = pg.data();
        run(pg
            .as_pg_user("initdb")
            .args(["-A", "trust", "-U", "postgres", "-D"])
            .arg(&data));
        pg.ctl_start();
        Some(pg)
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn as_pg_user(&self, tool: &str) -> Command {
        let path = self.bin.join(tool);
        if is_root() {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(path);
            command
        } else {
            Command::new(path)
        }
    }

    fn ctl_start(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("log");
        run(self
            .as_pg_user("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .args(["-o", &options, "-l"])
            .arg(log)
            .args(["-w", "start"]));
    }

    fn ctl_stop(&self) {
        run(self
            .as_pg_user("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .args(["-m", "fast", "-w", "stop"]));
    }
}

impl Drop for PrivatePg {
    fn drop(&mut self) {
        let _ = self
            .as_pg_user("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .args(["-m", "immediate", "stop"])
            .output();
    }
}

fn pg_bin() -> Option<PathBuf> {
    let mut candidates: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|dirs| {
            dirs.filter_map(|d| d.ok())
                .map(|d| d.path().join("bin"))
                .collect()
        })
        .unwrap_or_default();
    candidates.sort();
    candidates.reverse();
    candidates.push(PathBuf::from("/usr/local/bin"));
    candidates.push(PathBuf::from("/usr/bin"));
    candidates
        .into_iter()
        .find(|dir| has(dir, "initdb") && has(dir, "pg_ctl"))
}

fn has(dir: &Path, tool: &str) -> bool {
    dir.join(tool).is_file()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

fn run(command: &mut Command) {
    let output = command.output().expect("command runs");
    assert!(
        output.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

async fn verify(app: &TestApp, org: &str, id: &str) -> Result<pb::VerifyResponse, tonic::Status> {
    let request = pb::VerifyBrowserSessionRequest {
        organization_id: org.into(),
        browser_session_id: id.into(),
        require_vnc: false,
    };
    app.client()
        .verify_browser_session(request)
        .await
        .map(|r| r.into_inner())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_answers_unavailable_and_recovers_by_itself() {
    // Arrange: verification on a private PostgreSQL, with a short acquire timeout.
    let Some(pg) = PrivatePg::start() else { return };
    let db = TestDb::from_url(pg.url());
    let app = TestApp::spawn_with(&db, |c| c.db_acquire_timeout = Duration::from_millis(500)).await;
    let org = app.admin.create_org("acme").await.unwrap();
    let mut new = NewBrowserSession::new(&org);
    new.cdp_url = Some("http://127.0.0.1:9222".into());
    let session = app.admin.create_browser_session(new).await.unwrap();
    assert_eq!(
        verify(&app, &org, &session).await.unwrap().verdict(),
        pb::Verdict::Live
    );
    let (requests, rx) = tokio::sync::mpsc::channel(4);
    let mut events = app
        .client()
        .watch(ReceiverStream::new(rx))
        .await
        .unwrap()
        .into_inner();
    let watched = pb::WatchedEntity {
        organization_id: org.clone(),
        entity: Some(pb::EntityRef {
            kind: pb::EntityKind::BrowserSession as i32,
            id: session.clone(),
        }),
    };
    let add = pb::watch_request::Change::Add(watched);
    requests
        .send(pb::WatchRequest { change: Some(add) })
        .await
        .unwrap();

    // Act: stop the database.
    pg.ctl_stop();

    // Assert: UNAVAILABLE with a short message, health still serving.
    for _ in 0..3 {
        let status = verify(&app, &org, &session).await.unwrap_err();
        assert_eq!(status.code(), Code::Unavailable, "{status:?}");
        assert_eq!(status.message(), "database unavailable");
    }
    let mut health =
        tonic_health::pb::health_client::HealthClient::new(common::channel(app.addr).await);
    let check = tonic_health::pb::HealthCheckRequest {
        service: String::new(),
    };
    assert_eq!(
        health.check(check).await.unwrap().into_inner().status(),
        tonic_health::pb::health_check_response::ServingStatus::Serving
    );

    // Act: start it again. Assert: calls succeed again without restarting the service.
    pg.ctl_start();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        match verify(&app, &org, &session).await {
            Ok(answer) => break assert_eq!(answer.verdict(), pb::Verdict::Live),
            Err(status) => assert_eq!(status.code(), Code::Unavailable),
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no recovery within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The Watch stream survived the outage and still reports the end of its entity.
    app.admin
        .set_status(EntityKind::BrowserSession, &session, "completed")
        .await
        .unwrap();
    let event = tokio::time::timeout(Duration::from_secs(30), events.message())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(event.reason, "final-status");
}
