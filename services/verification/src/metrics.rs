//! Prometheus text metrics on `--metrics-listen` (`GET /metrics`): the watch poller's cycles,
//! statements and failures, and how many entities are watched. Values are read at scrape time
//! from the counters the poller keeps, so nothing here sits on the poll path.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry as PromRegistry;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::watch::{PollStats, Registry};

/// What a scrape reads.
#[derive(Clone)]
pub struct Metrics {
    /// Poll cycles and statements.
    pub stats: watch::Receiver<PollStats>,
    /// Polls that failed (database unreachable).
    pub poll_errors: Arc<AtomicU64>,
    /// Watched entities.
    pub registry: Registry,
}

impl Metrics {
    /// The metrics in Prometheus text format.
    pub fn render(&self) -> String {
        let stats = *self.stats.borrow();
        let mut registry = PromRegistry::with_prefix("verification");
        registry.register(
            "watch_poll_cycles",
            "Watch poll cycles completed",
            ConstCounter::new(stats.cycles),
        );
        registry.register(
            "watch_poll_queries",
            "Statements run by the watch poller (one per cycle with watched entities)",
            ConstCounter::new(stats.queries),
        );
        registry.register(
            "watch_poll_errors",
            "Watch polls that failed because the database was unreachable",
            ConstCounter::new(self.poll_errors.load(Ordering::Relaxed)),
        );
        let watched = i64::try_from(self.registry.len()).unwrap_or(i64::MAX);
        registry.register(
            "watched_entities",
            "Distinct entities watched",
            ConstGauge::new(watched),
        );
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut text, &registry);
        text
    }
}

/// Serves `GET /metrics` until `shutdown` is cancelled.
pub async fn serve(
    listener: TcpListener,
    metrics: Metrics,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let metrics = metrics.clone();
            async move {
                (
                    [(
                        "content-type",
                        "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    )],
                    metrics.render(),
                )
            }
        }),
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_poll_counters_are_rendered() {
        let (tx, stats) = watch::channel(PollStats {
            cycles: 7,
            queries: 5,
        });
        let metrics = Metrics {
            stats,
            poll_errors: Arc::new(AtomicU64::new(2)),
            registry: Registry::default(),
        };
        let text = metrics.render();
        assert!(
            text.contains("verification_watch_poll_queries_total 5"),
            "{text}"
        );
        assert!(
            text.contains("verification_watch_poll_cycles_total 7"),
            "{text}"
        );
        assert!(
            text.contains("verification_watch_poll_errors_total 2"),
            "{text}"
        );
        assert!(text.contains("verification_watched_entities 0"), "{text}");
        drop(tx);
    }
}
