//! Building and running the gateway: bind both listeners (port 0 works), wire the shared
//! state, serve until the shutdown token fires, then drain: every socket closes with
//! `draining` and the process waits at most `--drain-grace` for them (each socket's closing
//! handshake is bounded well below it: [`crate::linger`]).

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use axum::serve::ListenerExt;
use proto::control::v1::control_server::ControlServer;
use service_kit::grpc::GrpcServer;
use service_kit::grpc_client;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::activity::ActivityReporter;
use crate::config::Config;
use crate::control::grpc::ControlService;
use crate::control::handoffs::Handoffs;
use crate::control::memory::MemoryBus;
use crate::control::ControlBus;
use crate::edge_limits::EdgeLimits;
use crate::executor::Executor;
use crate::liveness::Liveness;
use crate::metrics::Metrics;
use crate::org_limits::OrgLimits;
use crate::org_sockets::OrgSockets;
use crate::policy::Policy;
use crate::revocations::Revocations;
use crate::state::{AppState, Shared};
use crate::verify::Verifier;

/// A bound, ready-to-run gateway.
pub struct Application {
    http: TcpListener,
    grpc: TcpListener,
    state: AppState,
}

impl Application {
    /// Binds the listeners and builds the shared state (the verification client connects
    /// lazily, so a gateway starts while verification is still coming up).
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        check_open_files(config.max_sockets);
        let http = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("binding {}", config.listen))?;
        let grpc = TcpListener::bind(config.grpc_listen)
            .await
            .with_context(|| format!("binding {}", config.grpc_listen))?;
        service_kit::grpc::require_token_off_loopback(&grpc, config.service_token.as_ref())?;
        let metrics = Arc::new(Metrics::new());
        let token = config.service_token.as_ref();
        let ca = config.grpc_ca.as_ref();
        let verification =
            grpc_client::endpoint(&config.verification_url, ca).context("--verification-url")?;
        let executor = match config.cdp_executor_url.as_deref() {
            Some(url) => Some(grpc_client::endpoint(url, ca).context("--cdp-executor-url")?),
            None => None,
        };
        let verifier = Verifier::new(
            verification,
            token,
            config.verification_timeout,
            config.auth_cache_ttl,
            metrics.clone(),
        )
        .context("verification URL")?;
        let executor = Executor::new(
            executor,
            token,
            config.connect_timeout,
            config.executor_timeout,
            metrics.clone(),
        )?;
        let shutdown = CancellationToken::new();
        let tracker = TaskTracker::new();
        let bus: Arc<dyn ControlBus> = match &config.bus {
            Some(url) => {
                let options = crate::control::redis::RedisBusOptions::from_config(&config, url)
                    .context("--bus")?;
                Arc::new(crate::control::redis::RedisBus::start(
                    options,
                    tracker.clone(),
                    shutdown.clone(),
                )?)
            }
            None => Arc::new(MemoryBus::new(
                config.control_grace,
                tracker.clone(),
                shutdown.clone(),
            )),
        };
        let state = AppState::new(Shared {
            liveness: Liveness::start(
                verifier.client(),
                &tracker,
                shutdown.clone(),
                config.verification_outage_grace,
            ),
            revocations: Revocations::start(
                verifier.clone(),
                config.revocation_poll,
                &tracker,
                shutdown.clone(),
            ),
            activity: ActivityReporter::default(),
            policy: Arc::new(Policy::default()),
            sockets: Arc::new(Semaphore::new(config.max_sockets)),
            authenticating: Arc::new(Semaphore::new(config.max_authenticating)),
            org_sockets: OrgSockets::new(config.max_sockets_per_org),
            org_limits: Arc::new(OrgLimits::new(
                config.message_frames_per_second_per_org,
                config.input_events_per_second_per_org,
            )),
            edge_limits: EdgeLimits::new(
                config.auth_failures_per_minute,
                config.tickets_per_minute,
            ),
            screencasts: crate::screencasts::Screencasts::new(
                executor.clone(),
                metrics.clone(),
                tracker.clone(),
            ),
            tracker,
            config: Arc::new(config),
            verifier,
            bus,
            metrics,
            executor,
            shutdown,
        });
        Ok(Self { http, grpc, state })
    }

    /// The HTTP/WebSocket address.
    pub fn local_addr(&self) -> SocketAddr {
        self.http
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// The gRPC control address.
    pub fn grpc_addr(&self) -> SocketAddr {
        self.grpc
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// The shared state (tests reach the control bus through it).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` is cancelled, then drains.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let Self { http, grpc, state } = self;
        let config = state.config.clone();
        state.tracker.spawn(state.activity.clone().run(
            state.verifier.clone(),
            config.activity_interval,
            state.shutdown.clone(),
        ));
        let grpc_server = {
            let server = GrpcServer {
                listener: grpc,
                tls: None,
                service_token: config.service_token.clone(),
                org_tokens: config.org_tokens.clone().unwrap_or_default(),
                descriptor_set: proto::FILE_DESCRIPTOR_SET,
            };
            let handoffs = Handoffs::new(
                state.bus.clone(),
                state.verifier.clone(),
                state.liveness.clone(),
                state.tracker.clone(),
                state.shutdown.clone(),
            );
            let service = ControlServer::new(ControlService::new(
                state.bus.clone(),
                handoffs,
                state.shutdown.clone(),
            ));
            service_kit::grpc::serve(server, service, state.shutdown.clone().cancelled_owned())
        };
        let drain = state.shutdown.clone();
        let tracker = state.tracker.clone();
        // The caller's trigger starts the drain: stop accepting, close every socket.
        let link = tokio::spawn({
            let drain = drain.clone();
            async move {
                shutdown.cancelled().await;
                tracing::info!("draining");
                drain.cancel();
            }
        });
        // No Nagle delay on viewer connections: screen updates and answers go out at once,
        // and a close frame never waits behind an unacknowledged segment.
        let http = http.tap_io(|tcp| {
            if let Err(error) = tcp.set_nodelay(true) {
                tracing::debug!(error.message = %error, "TCP_NODELAY not set");
            }
        });
        // The peer address feeds the per-address limits (`crate::edge_limits`).
        let app = crate::http::router(state).into_make_service_with_connect_info::<SocketAddr>();
        let http_server =
            axum::serve(http, app).with_graceful_shutdown(async move { drain.cancelled().await });
        let (http_result, grpc_result) = tokio::join!(http_server, grpc_server);
        link.abort();
        tracker.close();
        if tokio::time::timeout(config.drain_grace, tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!("drain grace expired with sockets still open");
        }
        http_result.context("http server")?;
        grpc_result.context("grpc server")?;
        Ok(())
    }
}

/// Descriptors a replica needs per admitted socket on average: a VNC socket holds two (the
/// frontend and its upstream dial), a Message socket one, and viewers open them in pairs.
const DESCRIPTORS_PER_SOCKET: f64 = 1.5;
/// Descriptors kept for listeners, gRPC clients, the bus and the runtime itself.
const DESCRIPTOR_MARGIN: u64 = 256;

/// Raises the open-files soft limit to the hard one and warns when even that cannot hold
/// `max_sockets` (the replica would then refuse accepts with EMFILE before `rate-limited`).
fn check_open_files(max_sockets: usize) {
    let needed = (max_sockets as f64 * DESCRIPTORS_PER_SOCKET) as u64 + DESCRIPTOR_MARGIN;
    match service_kit::limits::raise_open_files() {
        Ok(limit) if limit.soft < needed => tracing::warn!(
            open_files = limit.soft,
            needed,
            max_sockets,
            "the open-files limit cannot hold --max-sockets; raise the hard limit (LimitNOFILE, ulimit -Hn) or lower --max-sockets"
        ),
        Ok(limit) => tracing::debug!(open_files = limit.soft, "open-files limit"),
        Err(error) => tracing::warn!(%error, "could not raise the open-files limit"),
    }
}
