//! The Message socket's one outbound path: a bounded queue ([`Outbox`]) that every producer
//! (handlers, operations, the paired VNC socket's effects, user events) writes into without
//! waiting, and one writer task ([`run_writer`]) that owns the WebSocket sink (frames, pings,
//! the close frame), so frames never interleave.
//!
//! # Bounds
//! The queue holds at most `--outbound-queue` messages and `--outbound-queue-bytes` bytes of
//! their JSON text (a producer serialises its message, so the size is exact; the writer only
//! sends). A message larger than the whole byte budget still goes, alone: the budget bounds
//! memory, it does not refuse what the contract allows (a 5 MiB screenshot).
//!
//! # When the viewer cannot keep up
//! When either bound is reached, a droppable message (`exfiltrated-event`, a best-effort
//! stream) is dropped and counted; any other message (answers, control state, clipboard)
//! cannot be lost silently, so its producer waits for room (the reader then stops reading: TCP
//! backpressure on a viewer that floods requests), for at most `--pong-timeout`. A viewer that
//! has not taken a single message for that long cannot keep up at all: the socket closes with
//! `slow-consumer` and the viewer reconnects to a fresh state.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes};
use futures::{Sink, SinkExt};
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore, TryAcquireError};

use super::kinds::Outbound;
use crate::close::{CloseReason, CloseSlot};
use crate::metrics::Metrics;
use service_kit::sync::lock;

/// How long the close frame may take to go out (the reader meanwhile waits for the client's
/// Close within the same bound: [`crate::linger`]).
const CLOSE_SEND_TIMEOUT: Duration = crate::linger::CLOSE_HANDSHAKE_TIMEOUT;

/// One serialised message in the queue, holding its share of the byte budget until the
/// writer has sent it.
pub struct Queued {
    text: Utf8Bytes,
    _bytes: OwnedSemaphorePermit,
}

impl Queued {
    /// The JSON text.
    pub fn text(&self) -> &str {
        self.text.as_str()
    }
}

/// The queue's two bounds.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    /// Most messages queued (at least 1).
    pub messages: usize,
    /// Most bytes of JSON text queued (at least 1).
    pub bytes: usize,
}

/// The producer side of the outbound queue; cheap to clone.
#[derive(Clone)]
pub struct Outbox {
    tx: mpsc::Sender<Queued>,
    /// One permit per byte of queued text.
    budget: Arc<Semaphore>,
    budget_bytes: usize,
    close: CloseSlot,
    wait: Duration,
    dropped: Arc<AtomicU64>,
    metrics: Option<Arc<Metrics>>,
}

impl Outbox {
    /// A queue within `bounds` for the socket closed through `close`; a producer waits at most
    /// `wait` for room before the socket closes as a slow consumer.
    pub fn new(bounds: Bounds, wait: Duration, close: CloseSlot) -> (Self, mpsc::Receiver<Queued>) {
        let (tx, rx) = mpsc::channel(bounds.messages.max(1));
        let budget_bytes = bounds.bytes.clamp(1, Semaphore::MAX_PERMITS);
        (
            Self {
                tx,
                budget: Arc::new(Semaphore::new(budget_bytes)),
                budget_bytes,
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
        if self.close.token().is_cancelled() {
            return false;
        }
        let kind = message.name();
        let droppable = message.is_droppable();
        let text = match serde_json::to_string(&message) {
            Ok(text) => Utf8Bytes::from(text),
            Err(error) => {
                tracing::error!(message.kind = kind, error.message = %error, "outbound message not serialisable");
                return false;
            }
        };
        drop(message);
        // Its share: the whole budget at most, so one message larger than it still goes alone.
        let share = u32::try_from(text.len().clamp(1, self.budget_bytes)).unwrap_or(u32::MAX);
        let queued = match self.budget.clone().try_acquire_many_owned(share) {
            Ok(bytes) => match self.tx.try_send(Queued {
                text,
                _bytes: bytes,
            }) {
                Ok(()) => return true,
                Err(TrySendError::Closed(_)) => return false,
                Err(TrySendError::Full(_)) if droppable => return self.drop_one(kind),
                Err(TrySendError::Full(queued)) => queued,
            },
            Err(TryAcquireError::Closed) => return false,
            Err(TryAcquireError::NoPermits) if droppable => return self.drop_one(kind),
            Err(TryAcquireError::NoPermits) => {
                let acquired = tokio::select! {
                    () = self.close.token().cancelled() => return false,
                    acquired = tokio::time::timeout(self.wait, self.budget.clone().acquire_many_owned(share)) => acquired,
                };
                match acquired {
                    Ok(Ok(bytes)) => Queued {
                        text,
                        _bytes: bytes,
                    },
                    Ok(Err(_closed)) => return false,
                    Err(_elapsed) => return self.slow_consumer(kind),
                }
            }
        };
        let sent = tokio::select! {
            () = self.close.token().cancelled() => return false,
            sent = self.tx.send_timeout(queued, self.wait) => sent,
        };
        match sent {
            Ok(()) => true,
            Err(mpsc::error::SendTimeoutError::Timeout(_)) => self.slow_consumer(kind),
            Err(mpsc::error::SendTimeoutError::Closed(_)) => false,
        }
    }

    fn drop_one(&self, kind: &'static str) -> bool {
        let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
        if let Some(metrics) = &self.metrics {
            metrics.message_dropped();
        }
        tracing::debug!(
            message.kind = kind,
            dropped,
            "outbound queue full; droppable message dropped"
        );
        false
    }

    fn slow_consumer(&self, kind: &'static str) -> bool {
        tracing::info!(
            message.kind = kind,
            "outbound queue full for too long; closing a slow consumer"
        );
        self.close.close(CloseReason::SlowConsumer);
        false
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
    mut queue: mpsc::Receiver<Queued>,
    close: CloseSlot,
    keepalive: Keepalive,
    last_heard: Arc<Mutex<Instant>>,
) where
    S: Sink<Message> + Unpin,
{
    let token = close.token().clone();
    let mut ping = service_kit::ticks::every(keepalive.ping_interval);
    loop {
        let frame = tokio::select! {
            () = token.cancelled() => break,
            // The message's share of the byte budget is released once it is handed to the
            // sink (the WebSocket's own write buffer is bounded by tungstenite).
            queued = queue.recv() => match queued {
                Some(queued) => Message::Text(queued.text),
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

    fn copied(len: usize) -> Outbound {
        Outbound::CopiedText {
            text: "x".repeat(len),
        }
    }

    /// Room for `messages` messages and plenty of bytes.
    fn count(messages: usize) -> Bounds {
        Bounds {
            messages,
            bytes: 1 << 20,
        }
    }

    /// Room for plenty of messages and `bytes` bytes.
    fn bytes(bytes: usize) -> Bounds {
        Bounds {
            messages: 1024,
            bytes,
        }
    }

    fn outbox(bounds: Bounds, wait: Duration) -> (Outbox, mpsc::Receiver<Queued>, CloseSlot) {
        let close = CloseSlot::new(CancellationToken::new());
        let (outbox, rx) = Outbox::new(bounds, wait, close.clone());
        (outbox, rx, close)
    }

    #[tokio::test]
    async fn a_full_queue_drops_user_events_and_keeps_the_socket_open() {
        let (outbox, _rx, close) = outbox(count(1), Duration::from_secs(60));
        assert!(outbox.send(event()).await);
        assert!(!outbox.send(event()).await);
        assert_eq!(outbox.dropped(), 1);
        assert_eq!(close.reason(), None);
    }

    #[tokio::test]
    async fn a_full_byte_budget_drops_user_events_whatever_the_count() {
        let (outbox, _rx, close) = outbox(bytes(4096), Duration::from_secs(60));
        assert!(outbox.send(copied(4000)).await);
        assert!(!outbox.send(event()).await, "no 4096 bytes left for it");
        assert_eq!(outbox.dropped(), 1);
        assert_eq!(close.reason(), None);
    }

    #[tokio::test]
    async fn a_message_larger_than_the_byte_budget_goes_alone() {
        let (outbox, mut rx, close) = outbox(bytes(100), Duration::from_secs(60));
        assert!(outbox.send(copied(1000)).await);
        let reader = tokio::spawn(async move {
            let first = rx.recv().await.map(|q| q.text().len());
            let second = rx.recv().await.map(|q| q.text().len());
            (first, second)
        });
        // Waits until the first one left the queue, then goes.
        assert!(outbox.send(copied(1000)).await);
        let (first, second) = reader.await.unwrap();
        assert_eq!((first, second), (Some(1032), Some(1032)));
        assert_eq!(close.reason(), None);
    }

    #[tokio::test]
    async fn a_byte_budget_full_for_too_long_closes_the_socket_rather_than_lose_an_answer() {
        let (outbox, _rx, close) = outbox(bytes(1000), Duration::from_millis(20));
        assert!(outbox.send(copied(900)).await);
        assert!(!outbox.send(copied(200)).await);
        assert_eq!(close.reason(), Some(CloseReason::SlowConsumer));
    }

    #[tokio::test]
    async fn drops_are_exported_as_a_counter() {
        let metrics = Arc::new(Metrics::new());
        let (outbox, _rx, _close) = outbox(count(1), Duration::from_secs(60));
        let outbox = outbox.counting_drops_in(metrics.clone());
        outbox.send(event()).await;
        outbox.send(event()).await;
        outbox.send(event()).await;
        let text = metrics.encode();
        assert!(text.contains("gateway_message_dropped_total 2"), "{text}");
    }

    #[tokio::test]
    async fn an_answer_waits_for_room_while_the_viewer_reads() {
        let (outbox, mut rx, close) = outbox(count(1), Duration::from_secs(60));
        assert!(outbox.send(Outbound::AskForClipboard).await);
        let reader = tokio::spawn(async move {
            let first = rx.recv().await.map(|q| q.text().to_owned());
            let second = rx.recv().await.map(|q| q.text().to_owned());
            (first, second)
        });
        assert!(outbox.send(copied(1)).await);
        let (first, second) = reader.await.unwrap();
        assert_eq!(
            (first.as_deref(), second.as_deref()),
            (
                Some(r#"{"kind":"ask-for-clipboard"}"#),
                Some(r#"{"kind":"copied-text","text":"x"}"#)
            )
        );
        assert_eq!(close.reason(), None);
    }

    #[tokio::test]
    async fn a_queue_full_for_too_long_closes_the_socket_rather_than_lose_an_answer() {
        let (outbox, _rx, close) = outbox(count(1), Duration::from_millis(20));
        assert!(outbox.send(Outbound::AskForClipboard).await);
        assert!(!outbox.send(copied(1)).await);
        assert_eq!(close.reason(), Some(CloseReason::SlowConsumer));
        assert!(close.token().is_cancelled());
    }

    /// The writer of `rx` on a channel sink (pings a minute apart), and that sink's far end.
    fn spawn_writer(
        rx: mpsc::Receiver<Queued>,
        close: &CloseSlot,
    ) -> (
        tokio::task::JoinHandle<()>,
        futures::channel::mpsc::UnboundedReceiver<Message>,
    ) {
        let (sink_tx, sink_rx) = futures::channel::mpsc::unbounded::<Message>();
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
        (writer, sink_rx)
    }

    #[tokio::test(start_paused = true)]
    async fn the_writers_first_message_goes_out_without_waiting_for_a_timer() {
        // Off a millisecond boundary: a writer that first awaited a timer due "now" would
        // wait for the timer's next millisecond (the clock moves on only then, being paused).
        tokio::time::advance(Duration::from_micros(500)).await;
        let (outbox, rx, close) = outbox(count(8), Duration::from_secs(60));
        let (writer, mut sink_rx) = spawn_writer(rx, &close);
        let sent = tokio::time::Instant::now();
        outbox.send(Outbound::AskForClipboard).await;
        let first = futures::StreamExt::next(&mut sink_rx).await.unwrap();
        assert_eq!(
            first,
            Message::Text(r#"{"kind":"ask-for-clipboard"}"#.into())
        );
        assert_eq!(
            sent.elapsed(),
            Duration::ZERO,
            "the message waited for a timer"
        );
        close.close(CloseReason::EntityFinished);
        writer.await.unwrap();
    }

    #[tokio::test]
    async fn the_writer_sends_queued_messages_in_order_then_the_close_frame() {
        let (outbox, rx, close) = outbox(count(8), Duration::from_secs(60));
        let (writer, mut sink_rx) = spawn_writer(rx, &close);
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
