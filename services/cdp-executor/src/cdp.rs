//! The connection actor: one task owns one chromiumoxide [`Connection`] (the CDP WebSocket) and
//! is reached only through a bounded mpsc. It matches responses to calls, fans events out to
//! bounded subscribers, health-checks the browser, and ends (failing every pending call) when
//! the socket closes, the health check fails, or its token is cancelled.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chromiumoxide::cdp::browser_protocol::target::SessionId;
use chromiumoxide::types::{CallId, EventMessage, Message, Method, MethodId};
use chromiumoxide::Connection;
use futures::StreamExt;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

/// Requests queued to one actor at most.
const MAILBOX: usize = 256;

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

/// An event as it arrives. (chromiumoxide's `CdpJsonEventMessage` misses the `sessionId`
/// field's camel-case name, so flattened sessions would be lost.)
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawEvent {
    method: MethodId,
    session_id: Option<String>,
    #[serde(default)]
    params: Value,
}

impl Method for RawEvent {
    fn identifier(&self) -> MethodId {
        self.method.clone()
    }
}

impl EventMessage for RawEvent {
    fn session_id(&self) -> Option<&str> {
        self.session_id.as_deref()
    }
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
        method: Cow<'static, str>,
        session: Option<String>,
        params: Value,
        reply: oneshot::Sender<Result<Value, CallError>>,
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
            method: Cow::Borrowed(method),
            session: session.map(str::to_string),
            params,
            reply,
        };
        self.tx.send(request).await.map_err(|_| CallError::Closed)?;
        rx.await.map_err(|_| CallError::Closed)?
    }

    /// Sends a command without waiting (cleanup from a drop guard). Lost when the mailbox is full.
    pub fn fire(&self, method: &'static str, session: Option<&str>, params: Value) {
        let (reply, _) = oneshot::channel();
        let request = Request::Call {
            method: Cow::Borrowed(method),
            session: session.map(str::to_string),
            params,
            reply,
        };
        let _ = self.tx.try_send(request);
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

/// Dials `ws_url` (already checked against the allow list) and spawns its actor on `tracker`.
pub async fn connect(
    ws_url: &str,
    health_interval: Duration,
    tracker: &TaskTracker,
    parent: &CancellationToken,
) -> Result<CdpHandle, chromiumoxide::error::CdpError> {
    let conn = Connection::<RawEvent>::connect(ws_url).await?;
    let (tx, rx) = mpsc::channel(MAILBOX);
    let token = parent.child_token();
    let actor = Actor {
        conn,
        rx,
        token: token.clone(),
        pending: HashMap::new(),
        subscribers: Vec::new(),
        watchers: Vec::new(),
    };
    tracker.spawn(
        actor
            .run(health_interval)
            .instrument(tracing::debug_span!("cdp.connection")),
    );
    Ok(CdpHandle { tx, token })
}

struct Actor {
    conn: Connection<RawEvent>,
    rx: mpsc::Receiver<Request>,
    token: CancellationToken,
    pending: HashMap<CallId, Pending>,
    subscribers: Vec<mpsc::Sender<Arc<CdpEvent>>>,
    watchers: Vec<Watcher>,
}

impl Actor {
    async fn run(mut self, health_interval: Duration) {
        let mut health = tokio::time::interval(health_interval);
        health.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        health.tick().await;
        let mut ping_outstanding = false;
        let reason = loop {
            tokio::select! {
                () = self.token.cancelled() => break "closed",
                request = self.rx.recv() => match request {
                    Some(request) => self.submit(request),
                    None => break "no handles left",
                },
                message = self.conn.next() => match message {
                    Some(Ok(Message::Response(response))) => {
                        if let Some(Pending::Ping) = self.pending.get(&response.id) {
                            ping_outstanding = false;
                        }
                        self.respond(response);
                    }
                    Some(Ok(Message::Event(event))) => self.publish(event),
                    // A message chromiumoxide cannot parse is skipped, not fatal.
                    Some(Err(chromiumoxide::error::CdpError::InvalidMessage(..))) => {}
                    Some(Err(error)) => {
                        tracing::debug!(error = %error, "CDP socket failed");
                        break "socket error";
                    }
                    None => break "socket closed",
                },
                _ = health.tick() => {
                    if ping_outstanding {
                        break "health check unanswered";
                    }
                    ping_outstanding = true;
                    self.pending.retain(|_, p| match p {
                        Pending::Caller(reply) => !reply.is_closed(),
                        Pending::Ping => false,
                    });
                    if let Ok(id) = self.conn.submit_command("Browser.getVersion".into(), None, Value::Object(Default::default())) {
                        self.pending.insert(id, Pending::Ping);
                    }
                }
            }
        };
        tracing::debug!(reason, "CDP connection ended");
        // Pending callers see their reply channel drop: `CallError::Closed`.
        self.token.cancel();
    }

    fn submit(&mut self, request: Request) {
        match request {
            Request::Call {
                method,
                session,
                params,
                reply,
            } => {
                if reply.is_closed() {
                    return;
                }
                match self
                    .conn
                    .submit_command(method, session.map(SessionId::from), params)
                {
                    Ok(id) => {
                        self.pending.insert(id, Pending::Caller(reply));
                    }
                    Err(_) => {
                        let _ = reply.send(Err(CallError::Closed));
                    }
                }
            }
            Request::Subscribe(tx) => self.subscribers.push(tx),
            Request::Watch(watcher) => self.watchers.push(watcher),
        }
    }

    fn respond(&mut self, response: chromiumoxide::types::Response) {
        let Some(Pending::Caller(reply)) = self.pending.remove(&response.id) else {
            return;
        };
        let result = match (response.result, response.error) {
            (_, Some(error)) => Err(CallError::Protocol {
                code: error.code,
                message: error.message,
            }),
            (Some(result), None) => Ok(result),
            (None, None) => Ok(Value::Null),
        };
        let _ = reply.send(result);
    }

    fn publish(&mut self, event: RawEvent) {
        if self.subscribers.is_empty() && self.watchers.is_empty() {
            return;
        }
        let event = Arc::new(CdpEvent {
            method: event.method.into_owned(),
            session_id: event.session_id,
            params: event.params,
        });
        for watcher in &self.watchers {
            watcher(&event);
        }
        self.subscribers
            .retain(|s| s.try_send(event.clone()).is_ok());
    }
}
