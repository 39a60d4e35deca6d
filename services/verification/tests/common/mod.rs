//! Test harness: a fresh database (SQLite temp file or a new PostgreSQL database), a
//! verification service on 127.0.0.1:0 over it, and a generated gRPC client.
#![allow(dead_code)]

pub mod db;

use std::net::SocketAddr;

use proto::verification::v1::verification_client::VerificationClient;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;
use verification::watch::{PollStats, Registry};
use verification::{Admin, Application, Config};

pub use db::TestDb;

/// The JWT secret every test app is configured with.
pub const JWT_SECRET: &str = "test-jwt-secret";

/// A running verification service.
pub struct TestApp {
    pub addr: SocketAddr,
    pub admin: Admin,
    pub client: VerificationClient<Channel>,
    pub stats: watch::Receiver<PollStats>,
    pub registry: Registry,
    shutdown: CancellationToken,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl TestApp {
    /// Starts a service on `db` with test defaults (100 ms poll, JWT secret), then `tweak`.
    pub async fn spawn_with(db: &TestDb, tweak: impl FnOnce(&mut Config)) -> Self {
        let mut config = Config::for_database(&db.url);
        config.poll_interval = std::time::Duration::from_millis(100);
        config.jwt_secret = Some(JWT_SECRET.to_owned().into());
        tweak(&mut config);
        let app = Application::build(config).await.expect("service builds");
        let addr = app.local_addr();
        let stats = app.poll_stats();
        let registry = app.watch_registry();
        let shutdown = CancellationToken::new();
        let server = tokio::spawn(app.run(shutdown.clone().cancelled_owned()));
        // Channels connect lazily, so a TLS-only server does not fail plaintext setup here.
        let client = VerificationClient::new(
            tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
                .expect("valid uri")
                .connect_lazy(),
        );
        let admin = Admin::connect(&db.url).await.expect("admin connects");
        Self {
            addr,
            admin,
            client,
            stats,
            registry,
            shutdown,
            server: Some(server),
        }
    }

    /// Starts a service with test defaults.
    pub async fn spawn(db: &TestDb) -> Self {
        Self::spawn_with(db, |_| {}).await
    }

    /// A fresh client.
    pub fn client(&self) -> VerificationClient<Channel> {
        self.client.clone()
    }

    /// Stops the service and waits for it.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(server) = self.server.take() {
            server
                .await
                .expect("server task")
                .expect("server ends cleanly");
        }
    }

    /// Waits (bounded) until the poller has completed `n` more cycles.
    pub async fn wait_cycles(&mut self, n: u64) -> PollStats {
        let start = *self.stats.borrow_and_update();
        let wait = self.stats.wait_for(|s| s.cycles >= start.cycles + n);
        let stats = tokio::time::timeout(std::time::Duration::from_secs(60), wait)
            .await
            .expect("poller keeps cycling")
            .expect("poller alive");
        *stats
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// A plaintext channel to a test service.
pub async fn channel(addr: SocketAddr) -> Channel {
    tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .expect("valid uri")
        .connect()
        .await
        .expect("connects")
}

/// Waits (bounded by 30 s) until `check` holds, polling every 10 ms.
pub async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    while !check() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}
