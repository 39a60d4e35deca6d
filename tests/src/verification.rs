//! Test kit: a real verification service in-process on 127.0.0.1:0 over a fresh SQLite file
//! (kept alive by the struct), with seed helpers and a connected client.
//!
//! ```ignore
//! let v = TestVerification::spawn_sqlite().await;
//! let org = v.create_org("acme").await;
//! let key = v.create_api_key(&org).await;
//! let pbs = v.create_browser_session(&org, Some("tcp://127.0.0.1:5900"), Some("http://127.0.0.1:9222")).await;
//! v.set_status("browser_session", &pbs, "completed").await;
//! ```

use std::net::SocketAddr;
use std::time::Duration;

use proto::verification::v1::verification_client::VerificationClient;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;
use verification::domain::EntityKind;
use verification::watch::PollStats;
use verification::{Admin, Application, Config, NewBrowserSession};

/// A running verification service and operator access to its database.
pub struct TestVerification {
    /// `http://ip:port`.
    pub url: String,
    /// The bound address.
    pub addr: SocketAddr,
    /// Its database (`sqlite://…`).
    pub database_url: String,
    /// Operator access to that database (seed more than the helpers below offer).
    pub admin: Admin,
    /// Watch poll cycles and statements, updated after every poll.
    pub poll_stats: watch::Receiver<PollStats>,
    shutdown: CancellationToken,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    dir: std::path::PathBuf,
}

impl TestVerification {
    /// Starts verification on a fresh SQLite file, polling watched entities every 100 ms.
    pub async fn spawn_sqlite() -> Self {
        Self::spawn_sqlite_with(|_| {}).await
    }

    /// As [`Self::spawn_sqlite`], then `tweak` adjusts the config (JWT secret, service token,
    /// ticket TTL, poll interval…) before the service starts.
    pub async fn spawn_sqlite_with(tweak: impl FnOnce(&mut Config)) -> Self {
        // The kit is a library (tempfile is only a dev-dependency here): a unique dir, removed
        // on drop.
        let dir =
            std::env::temp_dir().join(format!("bs-verification-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let database_url = format!("sqlite://{}", dir.join("verification.db").display());
        let mut config = Config::for_database(&database_url);
        config.poll_interval = Duration::from_millis(100);
        tweak(&mut config);
        let app = Application::build(config)
            .await
            .expect("verification builds");
        let addr = app.local_addr();
        let poll_stats = app.poll_stats();
        let shutdown = CancellationToken::new();
        let server = tokio::spawn(app.run(shutdown.clone().cancelled_owned()));
        let admin = Admin::connect(&database_url).await.expect("admin connects");
        Self {
            url: format!("http://{addr}"),
            addr,
            database_url,
            admin,
            poll_stats,
            shutdown,
            server: Some(server),
            dir,
        }
    }

    /// Verification serving gRPC over TLS only, with a certificate for `localhost` signed by
    /// a test CA that [`crate::tls::certificates`] writes into `dir` (`dir/ca.pem` is what
    /// its clients must trust). Its `https://localhost:<port>` URL is [`Self::https_url`].
    pub async fn spawn_sqlite_tls(dir: &std::path::Path) -> Self {
        crate::tls::certificates(dir).await;
        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        Self::spawn_sqlite_with(|c| {
            c.tls_cert = Some(cert);
            c.tls_key = Some(key);
        })
        .await
    }

    /// `https://localhost:<port>`, for a service started by [`Self::spawn_sqlite_tls`].
    pub fn https_url(&self) -> String {
        format!("https://localhost:{}", self.addr.port())
    }

    /// A connected client.
    pub async fn client(&self) -> VerificationClient<Channel> {
        VerificationClient::connect(self.url.clone())
            .await
            .expect("verification client connects")
    }

    /// A new organization; returns its id.
    pub async fn create_org(&self, name: &str) -> String {
        self.admin.create_org(name).await.expect("create org")
    }

    /// A new API key of `org`.
    pub async fn create_api_key(&self, org: &str) -> String {
        self.admin
            .create_api_key(org)
            .await
            .expect("create api key")
    }

    /// A running browser session of `org` (started now, no timeout) with these addresses.
    pub async fn create_browser_session(
        &self,
        org: &str,
        vnc_url: Option<&str>,
        cdp_url: Option<&str>,
    ) -> String {
        let mut new = NewBrowserSession::new(org);
        new.vnc_url = vnc_url.map(str::to_owned);
        new.cdp_url = cdp_url.map(str::to_owned);
        self.admin
            .create_browser_session(new)
            .await
            .expect("create browser session")
    }

    /// A running task of `org` on `browser_session` (and/or inside `workflow_run`).
    pub async fn create_task(
        &self,
        org: &str,
        browser_session: Option<&str>,
        workflow_run: Option<&str>,
    ) -> String {
        self.admin
            .create_task(org, browser_session, workflow_run, "running")
            .await
            .expect("create task")
    }

    /// A running workflow run of `org` on `browser_session`.
    pub async fn create_workflow_run(&self, org: &str, browser_session: Option<&str>) -> String {
        self.admin
            .create_workflow_run(org, browser_session, "running")
            .await
            .expect("create run")
    }

    /// Sets a status; `kind` is `browser_session`, `task` or `workflow_run`.
    pub async fn set_status(&self, kind: &str, id: &str, status: &str) {
        let kind = EntityKind::parse(kind).expect("kind is browser_session, task or workflow_run");
        self.admin
            .set_status(kind, id, status)
            .await
            .expect("set status");
    }

    /// Stops the service and waits for it to finish (Watch streams end UNAVAILABLE).
    pub async fn shutdown(mut self) {
        self.shutdown.cancel();
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }
}

impl Drop for TestVerification {
    fn drop(&mut self) {
        self.shutdown.cancel();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use proto::verification::v1 as pb;

    use super::*;

    #[tokio::test]
    async fn the_kit_serves_a_seeded_session_and_reports_its_end() {
        // Arrange
        let v = TestVerification::spawn_sqlite().await;
        let org = v.create_org("acme").await;
        let key = v.create_api_key(&org).await;
        let pbs = v
            .create_browser_session(
                &org,
                Some("tcp://127.0.0.1:5900"),
                Some("http://127.0.0.1:9222"),
            )
            .await;
        let mut client = v.client().await;
        // Act
        let credential = pb::authenticate_request::Credential::ApiKey(key);
        let who = client
            .authenticate(pb::AuthenticateRequest {
                credential: Some(credential),
            })
            .await
            .unwrap()
            .into_inner();
        let verify = |client: &mut VerificationClient<Channel>| {
            let request = pb::VerifyBrowserSessionRequest {
                organization_id: org.clone(),
                browser_session_id: pbs.clone(),
                require_vnc: true,
            };
            let mut client = client.clone();
            async move {
                client
                    .verify_browser_session(request)
                    .await
                    .unwrap()
                    .into_inner()
            }
        };
        let live = verify(&mut client).await;
        v.set_status("browser_session", &pbs, "completed").await;
        let ended = verify(&mut client).await;
        // Assert
        assert_eq!(who.organization_id, org);
        assert_eq!(live.verdict(), pb::Verdict::Live);
        assert_eq!(ended.verdict(), pb::Verdict::NotLive);
        v.shutdown().await;
    }
}
