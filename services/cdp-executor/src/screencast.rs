//! `StreamScreencast`: one task per stream follows the browser's active tab with its own
//! flattened session and `Page.startScreencast`, acknowledging every frame at once so the
//! browser never waits for us, and hands frames to the consumer through a drop-oldest queue
//! of two (`service_kit::drop_oldest`): a slow consumer gets fewer, newer frames and never slows the browser
//! or the task that reads its events.
//!
//! A tab switch is make-before-break: the new tab's screencast is started before the old
//! one is stopped, and every (re)attach is primed with one `Page.captureScreenshot`, because
//! headless Chromium sends screencast frames only when the page is repainted and a still page
//! would otherwise stay blank. The active tab is checked every 0.5 s and soon after any event
//! that may have changed it (the check is free while nothing did, see `browser`).

mod frames;
mod shared;

use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime};

use proto::cdp::v1::ScreencastFrame;
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tonic::Status;

use crate::browser::BrowserConn;
use crate::cdp::CdpEvent;
use crate::error::ExecutorError;
use crate::metrics::Metrics;
use crate::plan;
use crate::pool::Lease;

pub use frames::{
    decode_jpeg, frame_viewport, layout_viewport, url_update, Limits, Viewport, DEFAULT_VIEWPORT,
    MAX_FRAME_BYTES,
};
pub use shared::{CastKey, Fanout, FrameSender, Joined, Screencasts};

/// Frames waiting for the consumer, at most (the oldest is dropped for a newer one).
pub const QUEUE: usize = 2;
/// How often the active tab is checked.
const FOLLOW_EVERY: Duration = Duration::from_millis(500);
/// How soon after an event that may change the active tab it is checked (a burst of events
/// costs one check).
const FOLLOW_SOON: Duration = Duration::from_millis(30);
/// Bound on each cleanup command.
const TEARDOWN: Duration = Duration::from_secs(1);

/// What the stream needs besides its queue.
#[derive(Debug, Clone)]
pub struct Options {
    /// Frame size and quality.
    pub limits: Limits,
    /// Bound on each CDP command.
    pub timeout: Duration,
    /// CDP events buffered between the connection and the task (`--screencast-event-buffer`).
    /// Chromium keeps few frames in flight unacknowledged, so this is mostly other events;
    /// overflowing it only restarts the screencast.
    pub event_buffer: usize,
    /// Metrics.
    pub metrics: Arc<Metrics>,
}

/// Casts until the last stream leaves or `token` fires (the streams end) or the browser goes
/// away (they end with UNAVAILABLE), then stops its screencast and detaches.
pub async fn run(
    browser: Arc<BrowserConn>,
    _lease: Lease,
    frames: Weak<Fanout>,
    token: CancellationToken,
    options: Options,
) {
    options.metrics.screencasts.inc();
    let mut cast = Cast {
        browser,
        options,
        frames,
        sequence: 0,
        current: None,
        restart: false,
    };
    let outcome = cast.pump(&token).await;
    cast.teardown().await;
    if let Some(fanout) = cast.frames.upgrade() {
        fanout.finish(outcome.err());
    }
    cast.options.metrics.screencasts.dec();
}

/// The tab being cast, through the stream's own session.
#[derive(Debug)]
struct Casting {
    target_id: String,
    session: String,
    url: String,
    viewport: Viewport,
}

struct Cast {
    browser: Arc<BrowserConn>,
    options: Options,
    frames: Weak<Fanout>,
    sequence: u64,
    current: Option<Casting>,
    /// Restart on the same tab at the next check (events were lost, frames may be unacked).
    restart: bool,
}

fn unavailable() -> Status {
    Status::unavailable("browser unavailable")
}

// === impl Cast ===

impl Cast {
    async fn pump(&mut self, token: &CancellationToken) -> Result<(), Status> {
        let cdp = self.browser.cdp().clone();
        let mut events = self.subscribe().await?;
        self.follow().await?;
        let mut tick = tokio::time::interval(FOLLOW_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut soon: Option<Instant> = None;
        loop {
            tokio::select! {
                () = token.cancelled() => return Ok(()),
                () = cdp.closed() => return Err(unavailable()),
                event = events.recv() => match event {
                    Some(event) => {
                        if soon.is_none() && may_move(&event) {
                            soon = Some(Instant::now() + FOLLOW_SOON);
                        }
                        self.handle(&event).await;
                    }
                    None if cdp.is_closed() => return Err(unavailable()),
                    None => {
                        tracing::debug!("screencast fell behind the browser's events; restarting it");
                        self.options.metrics.screencast_restarts.inc();
                        events = self.subscribe().await?;
                        self.restart = true;
                        self.follow().await?;
                    }
                },
                () = sleep_until(soon), if soon.is_some() => {
                    soon = None;
                    self.follow().await?;
                }
                _ = tick.tick() => self.follow().await?,
            }
        }
    }

    async fn subscribe(&self) -> Result<mpsc::Receiver<Arc<CdpEvent>>, Status> {
        tokio::time::timeout(
            self.options.timeout,
            self.browser.cdp().subscribe(self.options.event_buffer),
        )
        .await
        .map_err(|_| unavailable())?
        .map_err(|_| unavailable())
    }

    /// Moves the screencast to the active tab when it changed (or a restart is due). A
    /// failure other than the connection closing keeps the current screencast and is retried
    /// at the next check.
    async fn follow(&mut self) -> Result<(), Status> {
        let active = tokio::time::timeout(self.options.timeout, self.browser.active_tab())
            .await
            .unwrap_or(Err(ExecutorError::DeadlineExceeded));
        let target_id = match active {
            Ok(tab) => tab.target_id,
            Err(_) if self.browser.cdp().is_closed() => return Err(unavailable()),
            Err(error) => {
                tracing::debug!(error = %error, "active tab unknown; screencast kept");
                return Ok(());
            }
        };
        let same = self
            .current
            .as_ref()
            .is_some_and(|c| c.target_id == target_id);
        if same && !self.restart {
            return Ok(());
        }
        match self.start(&target_id).await {
            Ok(new) => {
                self.restart = false;
                let switched = tokio::time::Instant::now();
                if let Some(old) = self.current.replace(new) {
                    self.stop(&old, self.options.timeout).await;
                }
                self.prime().await;
                tracing::debug!(tab = %target_id, took = ?switched.elapsed(), "screencast attached");
                Ok(())
            }
            Err(_) if self.browser.cdp().is_closed() => Err(unavailable()),
            Err(error) => {
                tracing::debug!(error = %error, "screencast not started; retrying");
                Ok(())
            }
        }
    }

    /// Attaches a new session to `target_id` and starts its screencast; on a failure after
    /// the attach the new session is detached again.
    async fn start(&self, target_id: &str) -> Result<Casting, ExecutorError> {
        let session = self.browser.attach(target_id).await?;
        let started = async {
            let s = Some(session.as_str());
            self.call("Page.enable", s, json!({})).await?;
            self.call(
                "Page.startScreencast",
                s,
                self.options.limits.start_params(),
            )
            .await?;
            tokio::time::timeout(self.options.timeout, self.browser.pages())
                .await
                .unwrap_or(Err(ExecutorError::DeadlineExceeded))
        }
        .await;
        match started {
            Ok(pages) => Ok(Casting {
                url: pages
                    .into_iter()
                    .find(|p| p.target_id == target_id)
                    .map(|p| p.url)
                    .unwrap_or_default(),
                target_id: target_id.to_string(),
                session,
                viewport: DEFAULT_VIEWPORT,
            }),
            Err(error) => {
                self.detach(&session, self.options.timeout).await;
                Err(error)
            }
        }
    }

    /// Sends one frame of the current tab as it is now (a still page sends none by itself).
    async fn prime(&mut self) {
        let Some(session) = self.current.as_ref().map(|c| c.session.clone()) else {
            return;
        };
        let s = Some(session.as_str());
        let (shot, layout) = tokio::join!(
            self.call(
                "Page.captureScreenshot",
                s,
                self.options.limits.capture_params()
            ),
            self.call("Page.getLayoutMetrics", s, json!({})),
        );
        let Some(current) = self.current.as_mut() else {
            return;
        };
        if let Ok(layout) = layout {
            current.viewport = layout_viewport(&layout, current.viewport);
        }
        let data = shot.ok().and_then(|shot| {
            shot.get("data")
                .and_then(Value::as_str)
                .and_then(decode_jpeg)
        });
        match data {
            Some(data) => self.emit(data),
            None => tracing::debug!("no primer frame"),
        }
    }

    async fn handle(&mut self, event: &CdpEvent) {
        let params = &event.params;
        match event.method.as_str() {
            "Page.screencastFrame" => self.frame(event).await,
            "Target.targetDestroyed" | "Target.targetCrashed" => {
                if self
                    .current
                    .as_ref()
                    .is_some_and(|c| params["targetId"] == c.target_id.as_str())
                {
                    self.current = None;
                }
            }
            "Target.detachedFromTarget" => {
                if self
                    .current
                    .as_ref()
                    .is_some_and(|c| params["sessionId"] == c.session.as_str())
                {
                    self.current = None;
                }
            }
            method => {
                if let Some(current) = self.current.as_mut() {
                    let session = event.session_id.as_deref();
                    if let Some(url) = url_update(
                        method,
                        session,
                        params,
                        &current.session,
                        &current.target_id,
                    ) {
                        current.url = url;
                    }
                }
            }
        }
    }

    /// Acknowledges a frame at once (stale ones too, or their session stops sending), then
    /// queues it when it is of the current session.
    async fn frame(&mut self, event: &CdpEvent) {
        let Some(session) = event.session_id.as_deref() else {
            return;
        };
        let params = &event.params;
        if let Some(number) = params.get("sessionId") {
            // Waits for room in the connection's mailbox rather than drop the ack: a lost
            // ack would stop this tab's screencast for good.
            let _ = self
                .browser
                .cdp()
                .send(
                    "Page.screencastFrameAck",
                    Some(session),
                    json!({ "sessionId": number }),
                )
                .await;
        }
        let Some(current) = self.current.as_mut() else {
            return;
        };
        if current.session != session {
            return;
        }
        current.viewport = frame_viewport(params, current.viewport);
        match params
            .get("data")
            .and_then(Value::as_str)
            .and_then(decode_jpeg)
        {
            Some(data) => self.emit(data),
            None => tracing::debug!("screencast frame skipped (malformed or over 5 MiB)"),
        }
    }

    /// Queues one frame of the current tab, numbered; counts the frame it pushed out.
    fn emit(&mut self, data: Vec<u8>) {
        let Some(current) = self.current.as_ref() else {
            return;
        };
        self.sequence += 1;
        let frame = ScreencastFrame {
            data,
            format: "jpeg".into(),
            viewport_width: current.viewport.width,
            viewport_height: current.viewport.height,
            url: current.url.clone(),
            tab_id: current.target_id.clone(),
            sequence: self.sequence,
            captured_at: Some(prost_types::Timestamp::from(SystemTime::now())),
        };
        if let Some(fanout) = self.frames.upgrade() {
            fanout.publish(frame);
        }
    }

    async fn call(
        &self,
        method: &'static str,
        session: Option<&str>,
        params: Value,
    ) -> Result<Value, ExecutorError> {
        tokio::time::timeout(
            self.options.timeout,
            self.browser.call(method, session, params),
        )
        .await
        .unwrap_or(Err(ExecutorError::DeadlineExceeded))
    }

    /// Stops a screencast and detaches its session (best effort, each step bounded).
    async fn stop(&self, casting: &Casting, bound: Duration) {
        let _ = tokio::time::timeout(
            bound,
            self.browser
                .call("Page.stopScreencast", Some(&casting.session), json!({})),
        )
        .await;
        self.detach(&casting.session, bound).await;
    }

    async fn detach(&self, session: &str, bound: Duration) {
        let _ = tokio::time::timeout(
            bound,
            self.browser.call(
                "Target.detachFromTarget",
                None,
                json!({ "sessionId": session }),
            ),
        )
        .await;
    }

    async fn teardown(&mut self) {
        if let Some(casting) = self.current.take() {
            if !self.browser.cdp().is_closed() {
                self.stop(&casting, TEARDOWN.min(self.options.timeout))
                    .await;
            }
        }
    }
}

/// Whether `event` may mean the active tab changed (check soon rather than at the next tick).
fn may_move(event: &CdpEvent) -> bool {
    event.method.starts_with("Target.") || plan::may_change_active_tab(&event.method, &event.params)
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
