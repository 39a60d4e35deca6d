//! Building and running the server: `Application::build` binds (port 0 works) and wires the
//! pool, resolver and guard; `run(shutdown)` serves health, reflection and the executor until
//! the shutdown future resolves, then drains connections and stream tasks within the grace.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use proto::cdp::v1::cdp_executor_server::CdpExecutorServer;
use service_kit::grpc::GrpcServer;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Settings;
use crate::grpc::GrpcHandler;
use crate::guard::Guard;
use crate::metrics::{self, Metrics};
use crate::pool::Pool;
use crate::resolve::Resolver;

/// A bound, not yet serving, executor.
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    metrics_listener: Option<TcpListener>,
    settings: Settings,
    handler: GrpcHandler,
}

impl Application {
    /// Binds the listener and builds the parts.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(settings.listen).await?;
        service_kit::grpc::require_token_off_loopback(&listener, settings.service_token.as_ref())?;
        let metrics_listener = match settings.metrics_listen {
            Some(addr) => Some(TcpListener::bind(addr).await?),
            None => None,
        };
        let metrics = Arc::new(Metrics::default());
        let tracker = TaskTracker::new();
        let token = CancellationToken::new();
        let verification = service_kit::grpc_client::endpoint(
            &settings.verification_url,
            settings.grpc_ca.as_ref(),
        )
        .context("--verification-url")?;
        let resolver = Arc::new(Resolver::new(
            verification,
            settings.service_token.as_ref(),
            settings.trust_request_cdp_url,
            settings.pool.connect_timeout,
            settings.pool.verify_cache,
        )?);
        let pool = Arc::new(
            Pool::new(
                settings.pool.clone(),
                settings.upstream_allow.clone(),
                tracker.clone(),
                token.clone(),
            )
            .with_metrics(metrics.clone()),
        );
        let guard = Arc::new(Guard {
            allow: settings.navigate_allow.clone(),
            block: settings.navigate_block.clone(),
        });
        let handler = GrpcHandler {
            resolver,
            pool,
            guard,
            timeout: settings.operation_timeout,
            nav_reset: settings.navigation_reset_timeout,
            event_buffer: settings.event_buffer,
            screencast_event_buffer: settings.screencast_event_buffer,
            screencasts: Arc::default(),
            tracker,
            token,
            metrics,
        };
        Ok(Self {
            listener,
            metrics_listener,
            settings,
            handler,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// The bound `/metrics` address, when `--metrics-listen` was given.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_listener
            .as_ref()
            .and_then(|l| l.local_addr().ok())
    }

    /// Serves until `shutdown` resolves.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let Self {
            listener,
            metrics_listener,
            settings,
            handler,
        } = self;
        let token = handler.token.clone();
        let tracker = handler.tracker.clone();
        let metrics = handler.metrics.clone();
        handler.pool.spawn_sweeper(handler.resolver.clone());
        service_kit::ready::announce(listener.local_addr()?);
        if let Some(metrics_listener) = metrics_listener {
            serve_metrics(metrics_listener, &metrics, &tracker, &token)?;
        }
        let server = GrpcServer {
            listener,
            tls: settings.tls.clone(),
            service_token: settings.service_token.clone(),
            org_tokens: settings.org_tokens.clone(),
            descriptor_set: proto::FILE_DESCRIPTOR_SET,
        };
        let stop = token.clone();
        service_kit::grpc::serve(server, CdpExecutorServer::new(handler), async move {
            tokio::select! {
                () = shutdown => {},
                () = stop.cancelled() => {},
            }
            // Streams (screencasts, input, user events) end on this token: cancelled before
            // tonic waits for calls in flight, or an open stream would hold shutdown until its
            // client left.
            stop.cancel();
        })
        .await?;
        token.cancel();
        tracker.close();
        if tokio::time::timeout(settings.shutdown_grace, tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!("tasks still running after the shutdown grace period");
        }
        Ok(())
    }
}

/// Announces and serves `/metrics` on `listener` until `token` is cancelled.
fn serve_metrics(
    listener: TcpListener,
    metrics: &Arc<Metrics>,
    tracker: &TaskTracker,
    token: &CancellationToken,
) -> anyhow::Result<()> {
    service_kit::ready::announce_labelled("metrics", listener.local_addr()?);
    let app = metrics::router(metrics.clone());
    let stop = token.clone();
    tracker.spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await;
        if let Err(error) = served {
            tracing::warn!(%error, "the metrics endpoint stopped");
        }
    });
    Ok(())
}
