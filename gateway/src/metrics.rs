//! Prometheus metrics of the gateway (PROTOCOL §9), served as text at `/metrics`.

use std::sync::Mutex;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use service_kit::sync::lock;

/// Label set of one dimension: an array, so that looking a series up allocates nothing (the
/// RFB message and verdict counters are looked up per client message).
type Labels = [(&'static str, &'static str); 1];

/// The incumbent's input-to-screen buckets, in seconds (spec §12).
pub const LATENCY_BUCKETS: [f64; 14] = [
    0.001, 0.002, 0.005, 0.01, 0.02, 0.03, 0.045, 0.06, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// Which way relayed bytes went (`gateway_bytes_total{direction}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Read from the viewer's VNC socket.
    FromFrontend = 0,
    /// Written to the upstream VNC server.
    ToUpstream = 1,
    /// Queued to the viewer's VNC socket.
    ToFrontend = 2,
}

impl Direction {
    /// Every direction, each at the index of its discriminant.
    const ALL: [Direction; 3] = [Self::FromFrontend, Self::ToUpstream, Self::ToFrontend];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::FromFrontend => "from_frontend",
            Self::ToUpstream => "to_upstream",
            Self::ToFrontend => "to_frontend",
        }
    }
}

/// Every metric of the gateway, cheap to update from any task.
pub struct Metrics {
    registry: Mutex<Registry>,
    sockets_open: Family<Labels, Gauge>,
    /// `gateway_bytes_total` by [`Direction`], resolved once: a relay adds to it per chunk.
    bytes: [Counter; Direction::ALL.len()],
    rfb_messages: Family<Labels, Counter>,
    verdicts: Family<Labels, Counter>,
    closes: Family<Labels, Counter>,
    control_transfers: Counter,
    verification_seconds: Family<Labels, Histogram>,
    executor_seconds: Family<Labels, Histogram>,
    clipboard_operations: Family<Labels, Counter>,
    clipboard_bytes: Family<Labels, Counter>,
    message_dropped: Counter,
    input_to_screen: Histogram,
    screencast: Screencast,
}

/// The CDP transport's series (spec §13.3): frames sent and evicted, upstream screencasts,
/// the time a frame waits in a viewer's queue and takes to send, and input wait and dispatch.
struct Screencast {
    frames_sent: Counter,
    frames_evicted: Counter,
    upstreams: Gauge,
    frame_queue: Family<Labels, Histogram>,
    frame_send: Family<Labels, Histogram>,
    input_wait: Family<Labels, Histogram>,
    input_dispatch: Family<Labels, Histogram>,
}

impl Screencast {
    fn new() -> Self {
        Self {
            frame_queue: Family::new_with_constructor(latency_histogram),
            frame_send: Family::new_with_constructor(latency_histogram),
            input_wait: Family::new_with_constructor(latency_histogram),
            input_dispatch: Family::new_with_constructor(latency_histogram),
            frames_sent: Counter::default(),
            frames_evicted: Counter::default(),
            upstreams: Gauge::default(),
        }
    }

    fn register(&self, registry: &mut Registry) {
        registry.register(
            "screencast_frames_sent",
            "Screencast frames sent to viewers",
            self.frames_sent.clone(),
        );
        registry.register(
            "screencast_frames_evicted",
            "Screencast frames dropped (oldest first) from a slow viewer's queue",
            self.frames_evicted.clone(),
        );
        registry.register(
            "screencast_upstreams",
            "Screencasts this replica takes from the executor (one per watched browser session)",
            self.upstreams.clone(),
        );
        registry.register(
            "screencast_frame_queue_seconds",
            "Time a screencast frame waited in a viewer's queue, by entity type",
            self.frame_queue.clone(),
        );
        registry.register(
            "screencast_frame_send_seconds",
            "Time sending one screencast frame to a viewer took, by entity type",
            self.frame_send.clone(),
        );
        registry.register(
            "cdp_input_wait_seconds",
            "CDP input: from receiving an event to starting its dispatch, by event kind",
            self.input_wait.clone(),
        );
        registry.register(
            "cdp_input_dispatch_seconds",
            "CDP input: from starting a dispatch to the executor's answer, by event kind",
            self.input_dispatch.clone(),
        );
    }
}

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

/// Executor calls include page loads: buckets up to a minute, in seconds.
pub const EXECUTOR_BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 15.0, 60.0,
];

fn executor_histogram() -> Histogram {
    Histogram::new(EXECUTOR_BUCKETS)
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric under the `gateway_` prefix.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("gateway");
        let bytes = Family::<Labels, Counter>::default();
        // A clone shares the series' value.
        let by_direction =
            Direction::ALL.map(|d| bytes.get_or_create(&[("direction", d.as_str())]).clone());
        let metrics = Self {
            registry: Mutex::new(Registry::default()),
            sockets_open: Family::default(),
            bytes: by_direction,
            rfb_messages: Family::default(),
            verdicts: Family::default(),
            closes: Family::default(),
            control_transfers: Counter::default(),
            verification_seconds: Family::new_with_constructor(latency_histogram),
            executor_seconds: Family::new_with_constructor(executor_histogram),
            clipboard_operations: Family::default(),
            clipboard_bytes: Family::default(),
            message_dropped: Counter::default(),
            input_to_screen: latency_histogram(),
            screencast: Screencast::new(),
        };
        registry.register(
            "sockets_open",
            "Open stream sockets by channel",
            metrics.sockets_open.clone(),
        );
        registry.register("bytes", "Relayed bytes by direction", bytes);
        registry.register(
            "rfb_messages",
            "Client RFB messages by type",
            metrics.rfb_messages.clone(),
        );
        registry.register(
            "policy_verdicts",
            "Input policy verdicts by rule",
            metrics.verdicts.clone(),
        );
        registry.register(
            "closes",
            "Stream socket closes by reason",
            metrics.closes.clone(),
        );
        registry.register(
            "control_transfers",
            "Control changes seen by VNC sockets",
            metrics.control_transfers.clone(),
        );
        registry.register(
            "verification_call_seconds",
            "Verification call latency by method",
            metrics.verification_seconds.clone(),
        );
        registry.register(
            "executor_call_seconds",
            "cdp-executor call latency by operation (failures and timeouts included)",
            metrics.executor_seconds.clone(),
        );
        registry.register(
            "clipboard_operations",
            "Clipboard operations: copy (browser to viewer), paste (viewer to browser), ask",
            metrics.clipboard_operations.clone(),
        );
        registry.register(
            "clipboard_bytes",
            "Clipboard text bytes by direction (to_viewer, to_browser)",
            metrics.clipboard_bytes.clone(),
        );
        registry.register(
            "message_dropped",
            "Droppable Message-channel frames (exfiltrated-event) dropped on a full queue",
            metrics.message_dropped.clone(),
        );
        registry.register(
            "input_to_screen_seconds",
            "Time from a forwarded input message to the first upstream bytes after it",
            metrics.input_to_screen.clone(),
        );
        metrics.screencast.register(&mut registry);
        *lock(&metrics.registry) = registry;
        metrics
    }

    /// The text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let registry = lock(&self.registry);
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &registry);
        out
    }

    /// A socket of `channel` opened; the returned guard counts it closed when dropped.
    pub fn socket_opened(&self, channel: &'static str) -> SocketGauge {
        let gauge = self
            .sockets_open
            .get_or_create(&[("channel", channel)])
            .clone();
        gauge.inc();
        SocketGauge(gauge)
    }

    /// Bytes relayed in `direction`.
    pub fn bytes(&self, direction: Direction, n: usize) {
        self.bytes[direction as usize].inc_by(n as u64);
    }

    /// One client RFB message of the named type.
    pub fn rfb_message(&self, kind: &'static str) {
        self.rfb_messages.get_or_create(&[("type", kind)]).inc();
    }

    /// One policy verdict, labelled by the rule that decided it.
    pub fn verdict(&self, rule: &'static str) {
        self.verdicts.get_or_create(&[("rule", rule)]).inc();
    }

    /// One socket closed for `reason`.
    pub fn close(&self, reason: &'static str) {
        self.closes.get_or_create(&[("reason", reason)]).inc();
    }

    /// A VNC socket saw control change.
    pub fn control_transfer(&self) {
        self.control_transfers.inc();
    }

    /// One verification call took `seconds`.
    pub fn verification_call(&self, method: &'static str, seconds: f64) {
        self.verification_seconds
            .get_or_create(&[("method", method)])
            .observe(seconds);
    }

    /// One cdp-executor call (`op` names the RPC) took `seconds`, whatever its outcome.
    pub fn executor_call(&self, op: &'static str, seconds: f64) {
        self.executor_seconds
            .get_or_create(&[("op", op)])
            .observe(seconds);
    }

    /// One clipboard operation: `op` is `copy`, `paste` or `ask`; `bytes` of text moved in
    /// `direction` (`to_viewer` or `to_browser`; nothing for `ask`).
    pub fn clipboard(&self, op: &'static str, direction: Option<&'static str>, bytes: usize) {
        self.clipboard_operations.get_or_create(&[("op", op)]).inc();
        if let Some(direction) = direction {
            self.clipboard_bytes
                .get_or_create(&[("direction", direction)])
                .inc_by(bytes as u64);
        }
    }

    /// One droppable Message-channel frame dropped on a full queue.
    pub fn message_dropped(&self) {
        self.message_dropped.inc();
    }

    /// One screencast frame sent to a viewer of `entity_type`, after `queued` seconds in its
    /// queue and `send` seconds on its socket.
    pub fn screencast_frame_sent(&self, entity_type: &'static str, queued: f64, send: f64) {
        let labels = [("entity_type", entity_type)];
        self.screencast.frames_sent.inc();
        self.screencast
            .frame_queue
            .get_or_create(&labels)
            .observe(queued);
        self.screencast
            .frame_send
            .get_or_create(&labels)
            .observe(send);
    }

    /// One screencast frame dropped from a slow viewer's queue.
    pub fn screencast_frame_evicted(&self) {
        self.screencast.frames_evicted.inc();
    }

    /// An upstream screencast started; the guard counts it ended when dropped.
    pub fn screencast_upstream(&self) -> SocketGauge {
        self.screencast.upstreams.inc();
        SocketGauge(self.screencast.upstreams.clone())
    }

    /// One CDP input event of `kind`: `wait` seconds from receipt to dispatch start.
    pub fn cdp_input_wait(&self, kind: &'static str, wait: f64) {
        self.screencast
            .input_wait
            .get_or_create(&[("event_kind", kind)])
            .observe(wait);
    }

    /// One CDP input event of `kind`: `dispatch` seconds until the executor answered.
    pub fn cdp_input_dispatch(&self, kind: &'static str, dispatch: f64) {
        self.screencast
            .input_dispatch
            .get_or_create(&[("event_kind", kind)])
            .observe(dispatch);
    }

    /// One input-to-screen latency sample.
    pub fn input_to_screen(&self, seconds: f64) {
        self.input_to_screen.observe(seconds);
    }
}

/// Decrements the open-socket gauge when dropped.
pub struct SocketGauge(Gauge);

impl Drop for SocketGauge {
    fn drop(&mut self) {
        self.0.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_names_the_metrics_and_the_incumbent_buckets() {
        let metrics = Metrics::new();
        let socket = metrics.socket_opened("vnc");
        metrics.close("slow-consumer");
        metrics.input_to_screen(0.004);
        let text = metrics.encode();
        assert!(
            text.contains("gateway_sockets_open{channel=\"vnc\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("gateway_closes_total{reason=\"slow-consumer\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("gateway_input_to_screen_seconds_bucket{le=\"0.045\"} 1"),
            "{text}"
        );
        metrics.executor_call("Navigate", 0.3);
        metrics.clipboard("paste", Some("to_browser"), 5);
        metrics.message_dropped();
        let text = metrics.encode();
        for series in [
            "gateway_executor_call_seconds_bucket{le=\"0.5\",op=\"Navigate\"} 1",
            "gateway_clipboard_operations_total{op=\"paste\"} 1",
            "gateway_clipboard_bytes_total{direction=\"to_browser\"} 5",
            "gateway_message_dropped_total 1",
            "gateway_control_transfers_total 0",
        ] {
            assert!(text.contains(series), "{series} in {text}");
        }
        drop(socket);
        assert!(metrics
            .encode()
            .contains("gateway_sockets_open{channel=\"vnc\"} 0"));
    }
}
