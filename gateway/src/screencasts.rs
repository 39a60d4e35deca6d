//! One screencast per browser session per replica, however many viewers watch it: the first
//! viewer starts the executor's `StreamScreencast`, every frame is base64-encoded once and
//! pushed into each viewer's own drop-oldest queue (a slow viewer loses old frames, never slows
//! the others or the upstream), and the last viewer to leave stops it. A viewer that joins an
//! open screencast gets its latest frame at once (a still page sends no new ones).
//!
//! When the upstream ends (the browser or the executor went away) every viewer gets
//! [`Item::Ended`] after its queued frames and the hub is forgotten: the next viewer starts a
//! fresh screencast, which is how a stream resumes when the browser returns.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Instant;

use base64::Engine;
use proto::cdp::v1 as cdp;
use service_kit::sync::lock;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub mod queue;

use self::queue::DropOldest;
use crate::entity::SessionKey;
use crate::executor::{self, Executor};
use crate::metrics::Metrics;

/// Frames one viewer may have waiting (the incumbent's queue of 2, spec §10.4).
pub const VIEWER_QUEUE: usize = 2;

/// Largest JPEG relayed (the contract's screenshot cap); a larger frame is skipped.
const MAX_FRAME_BYTES: usize = crate::caps::MAX_SCREENSHOT;

/// One frame as every viewer of a session shares it: the JPEG already in base64 (encoded
/// once per frame, whatever the number of viewers).
#[derive(Debug)]
pub struct Frame {
    /// Base64 of the JPEG.
    pub screenshot: Arc<str>,
    /// The page's viewport in CSS pixels.
    pub viewport_width: u32,
    /// The page's viewport in CSS pixels.
    pub viewport_height: u32,
    /// The tab's URL.
    pub url: String,
}

/// What a viewer's queue carries.
#[derive(Debug, Clone)]
pub enum Item {
    /// A frame, and when it was queued.
    Frame(Arc<Frame>, Instant),
    /// The upstream ended: the browser or the executor is unavailable (or none is configured).
    Ended,
}

/// Every screencast of this replica.
#[derive(Clone)]
pub struct Screencasts {
    hubs: Arc<Mutex<HashMap<SessionKey, Weak<Hub>>>>,
    executor: Executor,
    metrics: Arc<Metrics>,
    tracker: TaskTracker,
}

/// One session's screencast and its viewers.
pub struct Hub {
    viewers: Mutex<Vec<Weak<DropOldest<Item>>>>,
    latest: Mutex<Option<Arc<Frame>>>,
    /// Set when the upstream ended: joiners start a new hub instead.
    ended: Mutex<bool>,
    /// Cancelled when the last viewer leaves (the hub drops): stops the upstream.
    stop: CancellationToken,
    metrics: Arc<Metrics>,
}

impl Drop for Hub {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// One viewer's place in a hub; dropping it leaves (the last one out stops the screencast).
pub struct Subscription {
    queue: Arc<DropOldest<Item>>,
    _hub: Arc<Hub>,
}

impl Subscription {
    /// The next item for this viewer.
    pub async fn next(&self) -> Option<Item> {
        self.queue.pop().await
    }
}

impl Screencasts {
    /// No screencast yet; upstreams are spawned on `tracker`.
    pub fn new(executor: Executor, metrics: Arc<Metrics>, tracker: TaskTracker) -> Self {
        Self {
            hubs: Arc::default(),
            executor,
            metrics,
            tracker,
        }
    }

    /// Joins the screencast of `session`, starting it when nobody watches it yet.
    pub fn subscribe(&self, session: &SessionKey) -> Subscription {
        let queue = Arc::new(DropOldest::new(VIEWER_QUEUE));
        let mut hubs = lock(&self.hubs);
        hubs.retain(|_, hub| hub.strong_count() > 0);
        let live = hubs
            .get(session)
            .and_then(Weak::upgrade)
            .filter(|hub| !*lock(&hub.ended));
        let hub = match live {
            Some(hub) => hub,
            None => {
                let hub = Arc::new(Hub {
                    viewers: Mutex::new(Vec::new()),
                    latest: Mutex::new(None),
                    ended: Mutex::new(false),
                    stop: CancellationToken::new(),
                    metrics: self.metrics.clone(),
                });
                hubs.insert(session.clone(), Arc::downgrade(&hub));
                self.tracker.spawn(upstream(
                    Arc::downgrade(&hub),
                    hub.stop.clone(),
                    self.executor.clone(),
                    session.clone(),
                    self.metrics.clone(),
                ));
                hub
            }
        };
        hub.join(&queue);
        Subscription { queue, _hub: hub }
    }

    /// Sessions with an open screencast on this replica (tests and metrics).
    pub fn open(&self) -> usize {
        lock(&self.hubs)
            .values()
            .filter(|h| h.strong_count() > 0)
            .count()
    }
}

impl Hub {
    fn join(&self, queue: &Arc<DropOldest<Item>>) {
        // Under the `ended` lock: a viewer joins either before the end (and is told by it)
        // or after (and is told here), never in between.
        let ended = lock(&self.ended);
        if *ended {
            queue.push_last(Item::Ended);
            return;
        }
        if let Some(frame) = lock(&self.latest).clone() {
            queue.push(Item::Frame(frame, Instant::now()));
        }
        let mut viewers = lock(&self.viewers);
        viewers.retain(|v| v.strong_count() > 0);
        viewers.push(Arc::downgrade(queue));
    }

    fn queues(&self) -> Vec<Arc<DropOldest<Item>>> {
        let mut viewers = lock(&self.viewers);
        viewers.retain(|v| v.strong_count() > 0);
        viewers.iter().filter_map(Weak::upgrade).collect()
    }

    fn publish(&self, frame: Frame) {
        let frame = Arc::new(frame);
        *lock(&self.latest) = Some(frame.clone());
        let now = Instant::now();
        for queue in self.queues() {
            if queue.push(Item::Frame(frame.clone(), now)).is_some() {
                self.metrics.screencast_frame_evicted();
            }
        }
    }

    fn end(&self) {
        let mut ended = lock(&self.ended);
        *ended = true;
        for queue in self.queues() {
            if let Some(Item::Frame(..)) = queue.push_last(Item::Ended) {
                self.metrics.screencast_frame_evicted();
            }
        }
    }
}

/// The executor's screencast of `session`, relayed into the hub until the hub is dropped or
/// the stream ends.
async fn upstream(
    hub: Weak<Hub>,
    stop: CancellationToken,
    executor: Executor,
    session: SessionKey,
    metrics: Arc<Metrics>,
) {
    let _gauge = metrics.screencast_upstream();
    let request = cdp::StreamScreencastRequest {
        target: executor::target(session),
        ..Default::default()
    };
    let opened = tokio::select! {
        () = stop.cancelled() => return,
        opened = executor.call("StreamScreencast", |mut client| async move {
            client.stream_screencast(request).await
        }) => opened,
    };
    let mut stream = match opened {
        Ok(stream) => stream,
        Err(error) => {
            tracing::warn!(error = ?error, "screencast not opened");
            if let Some(hub) = hub.upgrade() {
                hub.end();
            }
            return;
        }
    };
    loop {
        let message = tokio::select! {
            () = stop.cancelled() => return,
            message = stream.message() => message,
        };
        let Some(hub) = hub.upgrade() else { return };
        match message {
            Ok(Some(frame)) if frame.data.len() <= MAX_FRAME_BYTES => {
                hub.publish(Frame {
                    screenshot: base64::engine::general_purpose::STANDARD
                        .encode(&frame.data)
                        .into(),
                    viewport_width: frame.viewport_width,
                    viewport_height: frame.viewport_height,
                    url: frame.url,
                });
            }
            Ok(Some(frame)) => {
                tracing::warn!(
                    frame.bytes = frame.data.len(),
                    "oversized screencast frame skipped"
                );
            }
            Ok(None) => {
                tracing::info!("screencast ended by the executor");
                hub.end();
                return;
            }
            Err(status) => {
                tracing::info!(grpc.code = ?status.code(), "screencast ended");
                hub.end();
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hub(metrics: &Arc<Metrics>) -> Hub {
        Hub {
            viewers: Mutex::new(Vec::new()),
            latest: Mutex::new(None),
            ended: Mutex::new(false),
            stop: CancellationToken::new(),
            metrics: metrics.clone(),
        }
    }

    fn frame(n: u32) -> Frame {
        Frame {
            screenshot: format!("frame{n}").into(),
            viewport_width: n,
            viewport_height: 1,
            url: String::new(),
        }
    }

    fn width(item: Option<Item>) -> Option<u32> {
        match item? {
            Item::Frame(frame, _) => Some(frame.viewport_width),
            Item::Ended => None,
        }
    }

    #[tokio::test]
    async fn a_viewer_that_stops_reading_holds_its_queue_only_and_slows_no_one() {
        let metrics = Arc::new(Metrics::new());
        let hub = hub(&metrics);
        let (slow, fast) = (
            Arc::new(DropOldest::new(VIEWER_QUEUE)),
            Arc::new(DropOldest::new(VIEWER_QUEUE)),
        );
        hub.join(&slow);
        hub.join(&fast);
        for n in 1..=100 {
            hub.publish(frame(n));
            assert_eq!(
                width(fast.pop().await),
                Some(n),
                "the reading viewer gets every frame"
            );
        }
        assert_eq!(
            slow.len(),
            VIEWER_QUEUE,
            "the other holds two frames, never more"
        );
        assert_eq!(width(slow.pop().await), Some(99));
        assert_eq!(
            width(slow.pop().await),
            Some(100),
            "the newest is never dropped"
        );
        assert!(metrics
            .encode()
            .contains("gateway_screencast_frames_evicted_total 98"));
    }

    #[tokio::test]
    async fn a_late_viewer_gets_the_latest_frame_and_every_viewer_learns_the_end() {
        let metrics = Arc::new(Metrics::new());
        let hub = hub(&metrics);
        hub.publish(frame(7));
        let late = Arc::new(DropOldest::new(VIEWER_QUEUE));
        hub.join(&late);
        assert_eq!(width(late.pop().await), Some(7));
        hub.end();
        assert!(matches!(late.pop().await, Some(Item::Ended)));
        assert!(late.pop().await.is_none());
        // Joining after the end is told at once.
        let after = Arc::new(DropOldest::new(VIEWER_QUEUE));
        hub.join(&after);
        assert!(matches!(after.pop().await, Some(Item::Ended)));
    }
}
