//! The connection actor: one task owns the read side of one CDP WebSocket and is reached only
//! through a bounded mpsc; a writer task beside it owns the write side, so a browser that stops
//! reading never blocks the actor (its health check still runs). The actor matches responses to
//! calls, fans events out to bounded subscribers, health-checks the browser, and ends (failing
//! every pending call) when the socket closes, the health check fails, or its token is
//! cancelled.
//!
//! The socket is ours rather than chromiumoxide's `Connection`, which reads messages of any
//! size: here every message is capped ([`wire::MAX_MESSAGE_BYTES`]) because a page can make
//! the browser send large ones (a binding called with a huge payload), and Nagle is off.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::{FutureExt, SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

pub mod wire;

use wire::{Call, Incoming};

/// Requests queued to one actor at most (and frames queued to its writer).
const MAILBOX: usize = 256;

/// A health tick reached later than its interval ÷ this is late: the actor's thread was held,
/// and the browser is not judged on it.
const LATE_FRACTION: u32 = 4;

/// Frames read without waiting before a health verdict, at most.
const READY_BURST: usize = 1024;

/// How long the writer may take to close the socket once the actor ends.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// One CDP event as the browser sent it.
#[derive(Debug, Clone)]
pub struct CdpEvent {
    /// `Domain.event`.
    pub method: String,
    /// The flattened session it belongs to (none: the browser session).
    pub session_id: Option<String>,
    /// Its parameters.
    pub params: Value,
}

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The connection is gone (or was never there).
    #[error("the CDP connection is closed")]
    Closed,
    /// The browser answered with an error.
    #[error("CDP error {code}: {message}")]
    Protocol {
        /// CDP error code.
        code: i64,
        /// CDP error text (logged only).
        message: String,
    },
}

enum Request {
    Call {
        method: &'static str,
        session: Option<String>,
        params: Value,
        /// Where the answer goes; `None` for a command nobody waits for.
        reply: Option<oneshot::Sender<Result<Value, CallError>>>,
    },
    Subscribe(mpsc::Sender<Arc<CdpEvent>>),
    Watch(Watcher),
}

/// A callback the actor runs on every event, in socket order, before reading further
/// messages (so it can never fall behind or be dropped like a subscriber). Must be cheap.
pub type Watcher = Box<dyn Fn(&CdpEvent) + Send + Sync>;

enum Pending {
    Caller(oneshot::Sender<Result<Value, CallError>>),
    Ping,
}

/// A cheap handle to one connection actor.
#[derive(Clone, Debug)]
pub struct CdpHandle {
    tx: mpsc::Sender<Request>,
    token: CancellationToken,
}

impl CdpHandle {
    /// Sends one command (on `session`, or the browser when `None`) and waits for its answer.
    /// The caller bounds the wait; a dropped call is forgotten by the actor.
    pub async fn call(
        &self,
        method: &'static str,
        session: Option<&str>,
        params: Value,
    ) -> Result<Value, CallError> {
        let (reply, rx) = oneshot::channel();
        let request = Request::Call {
            method,
            session: session.map(str::to_string),
            params,
            reply: Some(reply),
        };
        self.tx.send(request).await.map_err(|_| CallError::Closed)?;
        rx.await.map_err(|_| CallError::Closed)?
    }

    /// Sends a command without waiting (cleanup from a drop guard). Lost when the mailbox is full.
    pub fn fire(&self, method: &'static str, session: Option<&str>, params: Value) {
        let request = Request::Call {
            method,
            session: session.map(str::to_string),
            params,
            reply: None,
        };
        let _ = self.tx.try_send(request);
    }

    /// Sends a command without waiting for its answer, but waiting for room in the mailbox: for
    /// a command that must not be lost (a screencast frame's ack).
    pub async fn send(
        &self,
        method: &'static str,
        session: Option<&str>,
        params: Value,
    ) -> Result<(), CallError> {
        let request = Request::Call {
            method,
            session: session.map(str::to_string),
            params,
            reply: None,
        };
        self.tx.send(request).await.map_err(|_| CallError::Closed)
    }

    /// Every event from now on, through a channel of `capacity`. A subscriber that falls
    /// behind is dropped (its receiver ends) rather than slowing the connection.
    pub async fn subscribe(
        &self,
        capacity: usize,
    ) -> Result<mpsc::Receiver<Arc<CdpEvent>>, CallError> {
        let (tx, rx) = mpsc::channel(capacity);
        self.tx
            .send(Request::Subscribe(tx))
            .await
            .map_err(|_| CallError::Closed)?;
        Ok(rx)
    }

    /// Runs `watcher` on every event from now on, inside the actor.
    pub async fn watch(&self, watcher: Watcher) -> Result<(), CallError> {
        self.tx
            .send(Request::Watch(watcher))
            .await
            .map_err(|_| CallError::Closed)
    }

    /// Whether the actor has ended.
    pub fn is_closed(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Resolves when the actor has ended.
    pub async fn closed(&self) {
        self.token.cancelled().await
    }

    /// Ends the actor (the browser stays up; only this connection closes).
    pub fn close(&self) {
        self.token.cancel()
    }
}

/// Dials `ws_url` (already checked against the allow list) and spawns its actor and writer
/// on `tracker`. The caller bounds the wait.
pub async fn connect(
    ws_url: &str,
    health_interval: Duration,
    tracker: &TaskTracker,
    parent: &CancellationToken,
) -> Result<CdpHandle, tokio_tungstenite::tungstenite::Error> {
    let config = WebSocketConfig::default()
        .max_message_size(Some(wire::MAX_MESSAGE_BYTES))
        .max_frame_size(Some(wire::MAX_MESSAGE_BYTES));
    let (socket, _) =
        tokio_tungstenite::connect_async_with_config(ws_url, Some(config), true).await?;
    let (sink, stream) = socket.split();
    let (tx, rx) = mpsc::channel(MAILBOX);
    let (out, out_rx) = mpsc::channel(MAILBOX);
    let token = parent.child_token();
    let actor = Actor {
        stream,
        out,
        rx,
        token: token.clone(),
        next_id: 0,
        pending: HashMap::new(),
        subscribers: Vec::new(),
        watchers: Vec::new(),
        ping_outstanding: false,
        heard: false,
    };
    tracker.spawn(
        actor
            .run(health_interval)
            .instrument(tracing::debug_span!("cdp.connection")),
    );
    tracker.spawn(write(sink, out_rx, token.clone()));
    Ok(CdpHandle { tx, token })
}

/// Sends the actor's frames in order until the actor ends (or a send fails, which ends it).
async fn write(
    mut sink: futures::stream::SplitSink<Socket, Message>,
    mut frames: mpsc::Receiver<String>,
    token: CancellationToken,
) {
    loop {
        let frame = tokio::select! {
            () = token.cancelled() => break,
            frame = frames.recv() => match frame {
                Some(frame) => frame,
                None => break,
            },
        };
        let sent = tokio::select! {
            () = token.cancelled() => break,
            sent = sink.send(Message::Text(frame.into())) => sent,
        };
        if let Err(error) = sent {
            tracing::debug!(error = %error, "CDP socket write failed");
            token.cancel();
            break;
        }
    }
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, sink.close()).await;
}

struct Actor {
    stream: futures::stream::SplitStream<Socket>,
    out: mpsc::Sender<String>,
    rx: mpsc::Receiver<Request>,
    token: CancellationToken,
    next_id: u64,
    pending: HashMap<u64, Pending>,
    subscribers: Vec<mpsc::Sender<Arc<CdpEvent>>>,
    watchers: Vec<Watcher>,
    /// A health check was sent and not yet answered.
    ping_outstanding: bool,
    /// A frame was read since the last check was sent (the browser is not hung).
    heard: bool,
}

impl Actor {
    async fn run(mut self, health_interval: Duration) {
        let mut health = service_kit::ticks::every(health_interval);
        let reason = loop {
            tokio::select! {
                () = self.token.cancelled() => break "closed",
                request = self.rx.recv() => match request {
                    Some(request) => self.submit(request),
                    None => break "no handles left",
                },
                frame = self.stream.next() => if let Err(reason) = self.read(frame) {
                    break reason;
                },
                scheduled = health.tick() => {
                    let late = scheduled.elapsed() > health_interval / LATE_FRACTION;
                    if let Err(reason) = self.check_health(late) {
                        break reason;
                    }
                }
            }
        };
        tracing::debug!(reason, "CDP connection ended");
        // Pending callers see their reply channel drop: `CallError::Closed`.
        self.token.cancel();
    }

    /// Handles one frame from the browser; `Err` with the reason when the socket is done.
    fn read(
        &mut self,
        frame: Option<Result<Message, tokio_tungstenite::tungstenite::Error>>,
    ) -> Result<(), &'static str> {
        if matches!(frame, Some(Ok(_))) {
            self.heard = true;
        }
        match frame {
            Some(Ok(Message::Text(text))) => match wire::decode(&text) {
                Ok(Incoming::Response { id, result }) => {
                    if let Some(Pending::Ping) = self.pending.get(&id) {
                        self.ping_outstanding = false;
                    }
                    self.respond(id, result);
                }
                Ok(Incoming::Event {
                    method,
                    session_id,
                    params,
                }) => self.publish(CdpEvent {
                    method,
                    session_id,
                    params,
                }),
                // A message that is not CDP is skipped, not fatal.
                Err(error) => tracing::debug!(error = %error, "CDP message skipped"),
            },
            Some(Ok(Message::Close(_))) | None => return Err("socket closed"),
            Some(Ok(_)) => {}
            Some(Err(error)) => {
                tracing::warn!(error = %error, "CDP socket failed");
                return Err("socket error");
            }
        }
        Ok(())
    }

    /// The health tick: judges the last check, then sends the next one. The verdict is the
    /// browser's, not this task's: an answer already received but not yet read counts (the
    /// tick and the answer can be ready at once, and `select!` takes either); a browser that
    /// sent anything since the check is not hung, though its answer may queue behind a burst
    /// of events; and a tick this task reached `late` (its thread was held, so the check may
    /// have been written only just now). The last two give the browser one more interval.
    fn check_health(&mut self, late: bool) -> Result<(), &'static str> {
        if self.ping_outstanding {
            self.read_ready()?;
        }
        if self.ping_outstanding {
            return if late || std::mem::take(&mut self.heard) {
                Ok(())
            } else {
                Err("health check unanswered")
            };
        }
        self.ping_outstanding = true;
        self.heard = false;
        self.pending.retain(|_, p| match p {
            Pending::Caller(reply) => !reply.is_closed(),
            Pending::Ping => false,
        });
        if let Some(id) = self.send(
            "Browser.getVersion",
            None,
            &Value::Object(Default::default()),
        ) {
            self.pending.insert(id, Pending::Ping);
        }
        Ok(())
    }

    /// Handles the frames already received, at most [`READY_BURST`], without waiting. The
    /// read is polled once with a no-op waker; the loop in [`Actor::run`] polls it again with
    /// its own before the task sleeps.
    fn read_ready(&mut self) -> Result<(), &'static str> {
        for _ in 0..READY_BURST {
            match self.stream.next().now_or_never() {
                Some(frame) => self.read(frame)?,
                None => break,
            }
        }
        Ok(())
    }

    /// Queues one command to the writer; `None` when the writer's queue is full (the browser
    /// stopped reading) or gone.
    fn send(&mut self, method: &str, session_id: Option<&str>, params: &Value) -> Option<u64> {
        self.next_id += 1;
        let id = self.next_id;
        let frame = Call {
            id,
            method,
            session_id,
            params,
        }
        .encode();
        self.out.try_send(frame).ok().map(|()| id)
    }

    fn submit(&mut self, request: Request) {
        match request {
            Request::Call {
                method,
                session,
                params,
                reply,
            } => {
                // A caller that gave up before its turn is not sent; a fired command always is.
                if reply.as_ref().is_some_and(oneshot::Sender::is_closed) {
                    return;
                }
                match (self.send(method, session.as_deref(), &params), reply) {
                    (Some(id), Some(reply)) => {
                        self.pending.insert(id, Pending::Caller(reply));
                    }
                    (None, Some(reply)) => {
                        let _ = reply.send(Err(CallError::Closed));
                    }
                    (_, None) => {}
                }
            }
            Request::Subscribe(tx) => self.subscribers.push(tx),
            Request::Watch(watcher) => self.watchers.push(watcher),
        }
    }

    fn respond(&mut self, id: u64, result: Result<Value, (i64, String)>) {
        let Some(Pending::Caller(reply)) = self.pending.remove(&id) else {
            return;
        };
        let _ = reply.send(result.map_err(|(code, message)| CallError::Protocol { code, message }));
    }

    fn publish(&mut self, event: CdpEvent) {
        if self.subscribers.is_empty() && self.watchers.is_empty() {
            return;
        }
        let event = Arc::new(event);
        for watcher in &self.watchers {
            watcher(&event);
        }
        self.subscribers
            .retain(|s| s.try_send(event.clone()).is_ok());
    }
}

#[cfg(test)]
mod tests;
