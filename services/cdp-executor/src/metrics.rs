//! Prometheus metrics and their optional HTTP endpoint (`--metrics-listen`, `GET /metrics`,
//! OpenMetrics text): operations by kind and outcome (gRPC code name), operation latency,
//! open CDP connections, reconnects, open user-event streams and events sent, open screencasts
//! with the frames they sent and the frames they dropped for a slow consumer.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use tonic::Code;

/// Latency buckets, in seconds: 1 ms … 5 s.
const LATENCY_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

type OperationLabels = Vec<(&'static str, &'static str)>;

/// Every metric of the executor, registered once.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    operations: Family<OperationLabels, Counter>,
    latency: Family<OperationLabels, Histogram>,
    /// CDP connections currently open.
    pub connections: Gauge,
    /// Dials of a session that had a connection or a failed dial before.
    pub reconnects: Counter,
    /// User-event streams currently open.
    pub streams: Gauge,
    /// User events sent to stream consumers.
    pub events_sent: Counter,
    /// Screencast streams currently open.
    pub screencasts: Gauge,
    /// Screencast frames handed to consumers.
    pub frames_sent: Counter,
    /// Screencast frames dropped (oldest first) because the consumer was slower than the page.
    pub frames_evicted: Counter,
    /// Screencasts restarted on their tab after falling behind the browser's events.
    pub screencast_restarts: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("cdp_executor");
        let operations = Family::<OperationLabels, Counter>::default();
        let latency = Family::<OperationLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(LATENCY_BUCKETS)
        });
        let (connections, reconnects) = (Gauge::default(), Counter::default());
        let (streams, events_sent) = (Gauge::default(), Counter::default());
        registry.register(
            "operations",
            "Operations by kind and outcome",
            operations.clone(),
        );
        registry.register(
            "operation_duration_seconds",
            "Operation latency",
            latency.clone(),
        );
        registry.register(
            "cdp_connections",
            "Open CDP connections",
            connections.clone(),
        );
        registry.register("reconnects", "CDP reconnects", reconnects.clone());
        registry.register(
            "user_event_streams",
            "Open user-event streams",
            streams.clone(),
        );
        registry.register("user_events_sent", "User events sent", events_sent.clone());
        let screencasts = Gauge::default();
        let (frames_sent, frames_evicted) = (Counter::default(), Counter::default());
        registry.register(
            "screencasts",
            "Screencasts running (one per browser session and frame limits, shared by its streams)",
            screencasts.clone(),
        );
        registry.register(
            "screencast_frames_sent",
            "Screencast frames sent",
            frames_sent.clone(),
        );
        registry.register(
            "screencast_frames_evicted",
            "Screencast frames dropped for a slow consumer",
            frames_evicted.clone(),
        );
        let screencast_restarts = Counter::default();
        registry.register(
            "screencast_restarts",
            "Screencasts restarted after falling behind the browser's events",
            screencast_restarts.clone(),
        );
        Self {
            registry,
            operations,
            latency,
            connections,
            reconnects,
            streams,
            events_sent,
            screencasts,
            frames_sent,
            frames_evicted,
            screencast_restarts,
        }
    }
}

impl Metrics {
    /// Records one finished operation.
    pub fn operation(&self, kind: &'static str, code: Code, took: Duration) {
        self.operations
            .get_or_create(&vec![("operation", kind), ("code", code_name(code))])
            .inc();
        self.latency
            .get_or_create(&vec![("operation", kind)])
            .observe(took.as_secs_f64());
    }

    /// The OpenMetrics text of every metric.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut text, &self.registry);
        text
    }
}

/// The `/metrics` router.
pub fn router(metrics: Arc<Metrics>) -> Router {
    Router::new()
        .route("/metrics", get(scrape))
        .with_state(metrics)
}

async fn scrape(State(metrics): State<Arc<Metrics>>) -> impl IntoResponse {
    (
        [(
            CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        metrics.encode(),
    )
}

/// The canonical gRPC name of `code` (`OK`, `INVALID_ARGUMENT`, …).
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}
