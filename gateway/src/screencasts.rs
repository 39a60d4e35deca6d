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
use futures::StreamExt;
use proto::cdp::v1 as cdp;
use service_kit::drop_oldest;
use service_kit::sync::lock;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

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
    state: Mutex<HubState>,
    /// Cancelled when the last viewer leaves (the hub drops): stops the upstream.
    stop: CancellationToken,
    metrics: Arc<Metrics>,
}

#[derive(Default)]
struct HubState {
    viewers: Vec<drop_oldest::Sender<Item>>,
    latest: Option<Arc<Frame>>,
    /// The upstream ended: joiners start a new hub instead.
    ended: bool,
}

impl Drop for Hub {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// One viewer's place in a hub; dropping it leaves (the last one out stops the screencast).
pub struct Subscription {
    items: drop_oldest::Receiver<Item>,
    _hub: Arc<Hub>,
}

impl Subscription {
    /// The next item for this viewer; `None` after [`Item::Ended`].
    pub async fn next(&mut self) -> Option<Item> {
        self.items.next().await
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
        let (queue, items) = drop_oldest::channel(VIEWER_QUEUE);
        let mut hubs = lock(&self.hubs);
        hubs.retain(|_, hub| hub.strong_count() > 0);
        let live = hubs
            .get(session)
            .and_then(Weak::upgrade)
            .filter(|hub| !lock(&hub.state).ended);
        let hub = match live {
            Some(hub) => hub,
            None => {
                let hub = Arc::new(Hub {
                    state: Mutex::default(),
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
        hub.join(queue);
        Subscription { items, _hub: hub }
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
    /// Adds a viewer's queue, with the latest frame in it; after the end it gets only that.
    fn join(&self, queue: drop_oldest::Sender<Item>) {
        let mut state = lock(&self.state);
        if state.ended {
            queue.finish(Some(Item::Ended));
            return;
        }
        if let Some(frame) = state.latest.clone() {
            queue.push(Item::Frame(frame, Instant::now()));
        }
        state.viewers.retain(|v| !v.is_closed());
        state.viewers.push(queue);
    }

    fn publish(&self, frame: Frame) {
        let frame = Arc::new(frame);
        let now = Instant::now();
        let mut state = lock(&self.state);
        state.viewers.retain(|v| !v.is_closed());
        for viewer in &state.viewers {
            if viewer.push(Item::Frame(frame.clone(), now)).is_some() {
                self.metrics.screencast_frame_evicted();
            }
        }
        state.latest = Some(frame);
    }

    /// Every viewer gets [`Item::Ended`] after its queued frames.
    fn end(&self) {
        let mut state = lock(&self.state);
        state.ended = true;
        for viewer in state.viewers.drain(..) {
            viewer.finish(Some(Item::Ended));
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
            state: Mutex::default(),
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

    /// A viewer's queue joined to `hub`: its receiving end.
    fn viewer(hub: &Hub) -> drop_oldest::Receiver<Item> {
        let (queue, items) = drop_oldest::channel(VIEWER_QUEUE);
        hub.join(queue);
        items
    }

    #[tokio::test]
    async fn a_viewer_that_stops_reading_holds_its_queue_only_and_slows_no_one() {
        let metrics = Arc::new(Metrics::new());
        let hub = hub(&metrics);
        let (mut slow, mut fast) = (viewer(&hub), viewer(&hub));
        for n in 1..=100 {
            hub.publish(frame(n));
            assert_eq!(
                width(fast.next().await),
                Some(n),
                "the reading viewer gets every frame"
            );
        }
        assert_eq!(
            slow.len(),
            VIEWER_QUEUE,
            "the other holds two frames, never more"
        );
        assert_eq!(width(slow.next().await), Some(99));
        assert_eq!(
            width(slow.next().await),
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
        let mut late = viewer(&hub);
        assert_eq!(width(late.next().await), Some(7));
        hub.end();
        assert!(matches!(late.next().await, Some(Item::Ended)));
        assert!(late.next().await.is_none());
        // Joining after the end is told at once.
        let mut after = viewer(&hub);
        assert!(matches!(after.next().await, Some(Item::Ended)));
    }

    #[tokio::test]
    async fn a_viewer_that_left_is_no_longer_fed() {
        let metrics = Arc::new(Metrics::new());
        let hub = hub(&metrics);
        let gone = viewer(&hub);
        let _stays = viewer(&hub);
        drop(gone);
        hub.publish(frame(1));
        assert_eq!(lock(&hub.state).viewers.len(), 1);
    }
}
