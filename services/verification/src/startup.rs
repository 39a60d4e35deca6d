//! Builds and runs the server: `Application::build(config)` connects the database (running the
//! migrations) and binds the listener (port 0 works); `run(shutdown)` serves verification,
//! `grpc.health.v1` and reflection until `shutdown` resolves, with the one watch poller.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use proto::verification::v1::verification_server::VerificationServer;
use service_kit::grpc::{GrpcServer, TlsFiles};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::config::Config;
use crate::grpc::GrpcHandler;
use crate::metrics::Metrics;
use crate::service::Verifier;
use crate::store::{self, PoolSettings};
use crate::watch::{PollStats, Poller, Registry};

/// How long the stopped service waits for its tasks (poller, metrics, Watch readers) to end;
/// each ends on the shutdown token, so this bound is only met when one is stuck.
const DRAIN_GRACE: Duration = Duration::from_secs(10);

/// A bound, ready-to-run verification service.
pub struct Application {
    config: Config,
    listener: TcpListener,
    local_addr: SocketAddr,
    verifier: Verifier,
    registry: Registry,
    queries: Arc<AtomicU64>,
    poll_errors: Arc<AtomicU64>,
    stats: watch::Sender<PollStats>,
    metrics_listener: Option<TcpListener>,
}

impl Application {
    /// Connects the database (migrating it) and binds the listener.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let settings = PoolSettings {
            acquire_timeout: config.db_acquire_timeout,
            max_connections: config.db_max_connections,
        };
        let pool = store::connect(&config.database_url, &settings)
            .await
            .context("cannot open or migrate the database")?;
        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        service_kit::grpc::require_token_off_loopback(&listener, config.service_token.as_ref())?;
        let local_addr = listener.local_addr()?;
        let metrics_listener = match config.metrics_listen {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("cannot listen on {addr} for metrics"))?,
            ),
            None => None,
        };
        let verifier = Verifier::new(pool, config.jwt_secret.clone(), config.ticket_ttl);
        Ok(Self {
            config,
            listener,
            local_addr,
            verifier,
            registry: Registry::default(),
            queries: Arc::new(AtomicU64::new(0)),
            poll_errors: Arc::new(AtomicU64::new(0)),
            stats: watch::Sender::new(PollStats::default()),
            metrics_listener,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The bound metrics address, when `--metrics-listen` is set.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_listener
            .as_ref()
            .and_then(|l| l.local_addr().ok())
    }

    /// Statements the watch poller has run so far.
    pub fn poll_query_count(&self) -> u64 {
        self.queries.load(Ordering::Relaxed)
    }

    /// The shared set of watched entities (for metrics and tests).
    pub fn watch_registry(&self) -> Registry {
        self.registry.clone()
    }

    /// Poll cycles and statements, published after every poll cycle.
    pub fn poll_stats(&self) -> watch::Receiver<PollStats> {
        self.stats.subscribe()
    }

    /// Serves until `shutdown` resolves, then ends Watch streams (UNAVAILABLE), finishes
    /// in-flight calls and returns.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let token = CancellationToken::new();
        let tracker = TaskTracker::new();
        tracker.spawn({
            let token = token.clone();
            async move {
                tokio::select! {
                    () = shutdown => token.cancel(),
                    () = token.cancelled() => {}
                }
            }
        });
        let Self {
            config,
            listener,
            verifier,
            registry,
            queries,
            poll_errors,
            stats,
            metrics_listener,
            ..
        } = self;
        if let Some(listener) = metrics_listener {
            let metrics = Metrics {
                stats: stats.subscribe(),
                poll_errors: poll_errors.clone(),
                registry: registry.clone(),
            };
            let serving = crate::metrics::serve(listener, metrics, token.clone());
            tracker.spawn(
                async move {
                    if let Err(error) = serving.await {
                        tracing::warn!(error.message = %error, "metrics listener failed");
                    }
                }
                .instrument(tracing::info_span!("metrics")),
            );
        }
        let poller = Poller {
            registry: registry.clone(),
            pool: verifier.pool().clone(),
            interval: config.poll_interval,
            queries,
            stats,
            errors: poll_errors,
        };
        tracker.spawn(
            poller
                .run(token.clone())
                .instrument(tracing::info_span!("watch.poller")),
        );
        let pool = verifier.pool().clone();
        let handler = GrpcHandler {
            verifier,
            registry,
            shutdown: token.clone(),
            tracker: tracker.clone(),
            watch_buffer: config.watch_buffer,
            max_watched_per_stream: config.max_watched_per_stream,
        };
        let server = GrpcServer {
            listener,
            tls: TlsFiles::from_flags(config.tls_cert.clone(), config.tls_key.clone()),
            service_token: config.service_token.clone(),
            // Verification is called by the gateway and the executor only (the
            // NetworkPolicies), both acting for any organization.
            org_tokens: Default::default(),
            descriptor_set: proto::FILE_DESCRIPTOR_SET,
        };
        let result = service_kit::grpc::serve(
            server,
            VerificationServer::new(handler),
            token.clone().cancelled_owned(),
        )
        .await;
        token.cancel();
        tracker.close();
        if tokio::time::timeout(DRAIN_GRACE, tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!("tasks still running after the shutdown grace period");
        }
        pool.close().await;
        result
    }
}
