//! The Message socket's one outbound path: a bounded queue ([`Outbox`]) that every producer
//! (handlers, operations, the paired VNC socket's effects, user events) writes into without
//! waiting, and one writer task ([`run_writer`]) that owns the WebSocket sink (frames, pings,
//! the close frame), so frames never interleave.
//!
//! # When the viewer cannot keep up
//! The queue holds `--outbound-queue` messages. When it is full, a droppable message
//! (`exfiltrated-event`, a best-effort stream) is dropped and counted; any other message
//! (answers, control state, clipboard) cannot be lost silently, so its producer waits for room
//! (the reader then stops reading: TCP backpressure on a viewer that floods requests), for at
//! most `--pong-timeout`. A viewer that has not taken a single message for that long cannot
//! keep up at all: the socket closes with `slow-consumer` and the viewer reconnects to a fresh
//! state.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message};
use futures::{Sink, SinkExt};
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;

use super::kinds::Outbound;
use crate::close::{CloseReason, CloseSlot};
use crate::metrics::Metrics;
use service_kit::sync::lock;

/// How long the close frame may take to go out (the reader meanwhile waits for the client's
/// Close within the same bound: [`crate::linger`]).
const CLOSE_SEND_TIMEOUT: Duration = crate::linger::CLOSE_HANDSHAKE_TIMEOUT;

/// The producer side of the outbound queue; cheap to clone.
#[derive(Clone)]
pub struct Outbox {
    tx: mpsc::Sender<Outbound>,
    close: CloseSlot,
    wait: Duration,
    dropped: Arc<AtomicU64>,
    metrics: Option<Arc<Metrics>>,
}

impl Outbox {
    /// A queue of `capacity` messages (at least 1) for the socket closed through `close`; a
    /// producer waits at most `wait` for room before the socket closes as a slow consumer.
    pub fn new(
        capacity: usize,
        wait: Duration,
        close: CloseSlot,
    ) -> (Self, mpsc::Receiver<Outbound>) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        (
            Self {
                tx,
                close,
                wait,
                dropped: Arc::default(),
                metrics: None,
            },
            rx,
        )
    }

    /// Queues `message`. False when it was not queued: dropped (droppable, queue full), the
    /// socket is closing, or no room came in time and the socket now closes with
    /// `slow-consumer`.
    pub async fn send(&self, message: Outbound) -> bool {
        let message = match self.tx.try_send(message) {
            Ok(()) => return true,
            Err(TrySendError::Closed(_)) => return false,
            Err(TrySendError::Full(message)) if message.is_droppable() => {
                let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                if let Some(metrics) = &self.metrics {
                    metrics.message_dropped();
                }
                tracing::debug!(
                    message.kind = message.name(),
                    dropped,
                    "outbound queue full; droppable message dropped"
                );
                return false;
            }
            Err(TrySendError::Full(message)) => message,
        };
        let kind = message.name();
        let queued = tokio::select! {
            () = self.close.token().cancelled() => return false,
            queued = self.tx.send_timeout(message, self.wait) => queued,
        };
        match queued {
            Ok(()) => true,
            Err(mpsc::error::SendTimeoutError::Timeout(_)) => {
                tracing::info!(
                    message.kind = kind,
                    "outbound queue full for too long; closing a slow consumer"
                );
                self.close.close(CloseReason::SlowConsumer);
                false
            }
            Err(mpsc::error::SendTimeoutError::Closed(_)) => false,
        }
    }

    /// Also counts every drop in `gateway_message_dropped_total`.
    pub fn counting_drops_in(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// How many droppable messages were dropped so far.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// Pings and the pong deadline of the writer.
#[derive(Debug, Clone, Copy)]
pub struct Keepalive {
    /// Ping this often.
    pub ping_interval: Duration,
    /// Close with `timeout` when nothing (a pong or any frame) came for this long.
    pub pong_timeout: Duration,
}

/// Drains the queue into `sink` until the socket's token is cancelled, then sends the close
/// frame with the recorded reason.
pub async fn run_writer<S>(
    mut sink: S,
    mut queue: mpsc::Receiver<Outbound>,
    close: CloseSlot,
    keepalive: Keepalive,
    last_heard: Arc<Mutex<Instant>>,
) where
    S: Sink<Message> + Unpin,
{
    let token = close.token().clone();
    let mut ping = tokio::time::interval(keepalive.ping_interval);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ping.tick().await;
    loop {
        let frame = tokio::select! {
            () = token.cancelled() => break,
            message = queue.recv() => match message {
                Some(message) => match serde_json::to_string(&message) {
                    Ok(text) => Message::Text(text.into()),
                    Err(error) => {
                        tracing::error!(error.message = %error, "outbound message not serialisable");
                        continue;
                    }
                },
                None => break,
            },
            _ = ping.tick() => {
                let quiet = lock(&last_heard).elapsed();
                if quiet > keepalive.pong_timeout {
                    close.close(CloseReason::Timeout);
                    break;
                }
                Message::Ping(bytes::Bytes::from_static(b"bs"))
            }
        };
        let sent = tokio::select! {
            () = token.cancelled() => break,
            sent = sink.send(frame) => sent,
        };
        if sent.is_err() {
            close.close(CloseReason::ClientClosed);
            break;
        }
    }
    let reason = close.reason().unwrap_or(CloseReason::InternalError);
    let frame = Message::Close(Some(CloseFrame {
        code: reason.code(),
        reason: reason.as_str().into(),
    }));
    let _ = tokio::time::timeout(CLOSE_SEND_TIMEOUT, async {
        let _ = sink.send(frame).await;
        let _ = sink.close().await;
    })
    .await;
}

#[cfg(test)]
mod tests {
    use tokio_util::sync::CancellationToken;

    use super::*;

    fn event() -> Outbound {
        Outbound::ExfiltratedEvent {
            event_name: "click".into(),
            params: serde_json::json!({}),
            source: "cdp".into(),
            timestamp: 0.0,
        }
    }

    #[tokio::test]
    async fn a_full_queue_drops_user_events_and_keeps_the_socket_open() {
        let close = CloseSlot::new(CancellationToken::new());
        let (outbox, _rx) = Outbox::new(1, Duration::from_secs(60), close.clone());
        assert!(outbox.send(event()).await);
        assert!(!outbox.send(event()).await);
        assert_eq!(outbox.dropped(), 1);
        assert_eq!(close.reason(), None);
    }

    #[tokio::test]
    async fn drops_are_exported_as_a_counter() {
        let close = CloseSlot::new(CancellationToken::new());
        let metrics = Arc::new(Metrics::new());
        let (outbox, _rx) = Outbox::new(1, Duration::from_secs(60), close.clone());
        let outbox = outbox.counting_drops_in(metrics.clone());
        outbox.send(event()).await;
        outbox.send(event()).await;
        outbox.send(event()).await;
        let text = metrics.encode();
        assert!(text.contains("gateway_message_dropped_total 2"), "{text}");
    }

    #[tokio::test]
    async fn an_answer_waits_for_room_while_the_viewer_reads() {
        let close = CloseSlot::new(CancellationToken::new());
        let (outbox, mut rx) = Outbox::new(1, Duration::from_secs(60), close.clone());
        assert!(outbox.send(Outbound::AskForClipboard).await);
        let reader = tokio::spawn(async move { (rx.recv().await, rx.recv().await) });
        assert!(outbox.send(Outbound::CopiedText { text: "x".into() }).await);
        let (first, second) = reader.await.unwrap();
        assert_eq!(
            (first, second),
            (
                Some(Outbound::AskForClipboard),
                Some(Outbound::CopiedText { text: "x".into() })
            )
        );
        assert_eq!(close.reason(), None);
    }

    #[tokio::test]
    async fn a_queue_full_for_too_long_closes_the_socket_rather_than_lose_an_answer() {
        let close = CloseSlot::new(CancellationToken::new());
        let (outbox, _rx) = Outbox::new(1, Duration::from_millis(20), close.clone());
        assert!(outbox.send(Outbound::AskForClipboard).await);
        assert!(!outbox.send(Outbound::CopiedText { text: "x".into() }).await);
        assert_eq!(close.reason(), Some(CloseReason::SlowConsumer));
        assert!(close.token().is_cancelled());
    }

    #[tokio::test]
    async fn the_writer_sends_queued_messages_in_order_then_the_close_frame() {
        let close = CloseSlot::new(CancellationToken::new());
        let (outbox, rx) = Outbox::new(8, Duration::from_secs(60), close.clone());
        let (sink_tx, mut sink_rx) = futures::channel::mpsc::unbounded::<Message>();
        let keepalive = Keepalive {
            ping_interval: Duration::from_secs(60),
            pong_timeout: Duration::from_secs(60),
        };
        let writer = tokio::spawn(run_writer(
            sink_tx,
            rx,
            close.clone(),
            keepalive,
            Arc::new(Mutex::new(Instant::now())),
        ));
        outbox.send(Outbound::AskForClipboard).await;
        outbox.send(Outbound::BrowserUrl { url: "u".into() }).await;
        let first = futures::StreamExt::next(&mut sink_rx).await.unwrap();
        let second = futures::StreamExt::next(&mut sink_rx).await.unwrap();
        assert_eq!(
            first,
            Message::Text(r#"{"kind":"ask-for-clipboard"}"#.into())
        );
        assert_eq!(
            second,
            Message::Text(r#"{"kind":"browser-url","url":"u"}"#.into())
        );
        close.close(CloseReason::EntityFinished);
        writer.await.unwrap();
        let Some(Message::Close(Some(frame))) = futures::StreamExt::next(&mut sink_rx).await else {
            panic!("close frame")
        };
        assert_eq!(
            (frame.code, frame.reason.as_str()),
            (1000, "entity-finished")
        );
    }
}
