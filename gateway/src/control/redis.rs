//! The Redis [`ControlBus`] (`--bus redis://…`): pairing and control state shared by every
//! gateway replica, so a client's VNC and Message sockets find each other wherever they land
//! and no sticky sessions are needed (PROTOCOL §5). Semantics are those of
//! [`super::memory::MemoryBus`]; only the place the state lives differs.
//!
//! # Data model (every key and channel starts with the prefix, default `browser-stream:`)
//! - `ctl:<session>` hash: `h` holder (absent: the agent), `p` previous holder, `r` reason,
//!   `t` changed_at (ms, Redis clock), `g` generation (at least the Redis clock in ms, so it
//!   keeps growing across a Redis restart), `d` grace deadline (ms), `o` the latest handoff
//!   record (JSON, [`crate::handoff::Handoff`]), `hg` its generation (grows like `g`). Expires 24 h
//!   after its last change or socket refresh.
//! - `sock:<slot>` string: the socket id (`<replica>:<nonce>`) registered for a stream key and
//!   channel kind, with a TTL refreshed while the socket is open.
//! - `live:<session>:<client_id>` sorted set: that client's open sockets, scored by the time
//!   their liveness runs out (refreshed with the slot).
//! - `viewers:<session>` sorted set: every open socket of the session, scored like `live:`
//!   (a handoff that times out with none is `NO_VIEWER`).
//! - `grace` sorted set: sessions whose holder must be checked again, scored by when (expires
//!   24 h after its last addition, so a forgotten prefix empties itself).
//! - Channels `control` (every change of every session, the Lua script publishes it) and
//!   `replica:<id>` (superseded notices and pair events for one replica's sockets, and the
//!   replica's own heartbeats).
//!
//! `<session>` and `<slot>` are JSON arrays of the ids, unambiguous whatever they contain.
//! Every change is one call of `bus.lua`, atomic in Redis, with Redis's clock: latest take
//! wins across replicas. The grace rule runs in the script: when the holder has no live
//! socket a deadline is set; every replica's sweep (every `sweep_interval`) expires due
//! deadlines, so expiry happens even if the holder's replica died; a dead replica's sockets
//! stop counting as live when their TTL runs out. (Keys are built inside the script: a single
//! Redis server or a primary, not Redis Cluster.)
//!
//! # Failure
//! Every call has a deadline (`call_timeout`); Redis unreachable or the subscription down is a
//! [`BusError`], so sockets close with `bus-unavailable`. The command connection reconnects by
//! itself after an error and is replaced after a timeout (a connection that hangs without
//! closing never errors). The subscriber re-subscribes with backoff when the subscription
//! errors or closes, and also when it goes silent: every `heartbeat_interval` the replica
//! publishes a heartbeat on its own channel and drops the subscription when Redis accepted
//! one that does not come back within `call_timeout`. After each (re)subscription it re-reads
//! every watched session and re-asserts its sockets.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::{BusError, ControlState, PairEvent, Registration, INBOX_CAPACITY};
use crate::entity::{ChannelKind, ClientId, SessionKey, StreamKey};
use crate::handoff::HandoffSwap;

mod background;
mod bus_impl;
mod commands;
mod heartbeat;
mod options;
pub mod wire;

pub use options::RedisBusOptions;

use service_kit::sync::lock;
use wire::ReplicaMessage;

/// The key prefix when the bus URL names none.
pub const DEFAULT_PREFIX: &str = "browser-stream:";

/// Pairing and control state in Redis, shared by replicas. Cheap to clone.
#[derive(Clone)]
pub struct RedisBus {
    shared: Arc<Shared>,
}

pub(crate) struct Shared {
    options: RedisBusOptions,
    /// This replica's id (a fresh UUID per process).
    replica: String,
    client: redis::Client,
    commands: Mutex<commands::Commands>,
    script: redis::Script,
    next_nonce: AtomicU64,
    /// Sequence number of the last heartbeat sent (never reused, across re-subscriptions).
    heartbeats: AtomicU64,
    local: Mutex<Local>,
    /// Whether the subscriber is connected (a socket registered without it would miss its
    /// superseded notice and pair events).
    subscribed: watch::Sender<bool>,
    runtime: tokio::runtime::Handle,
    /// Holds the background tasks and the deregistrations a dropped socket leaves behind.
    tracker: TaskTracker,
}

#[derive(Default)]
struct Local {
    sockets: HashMap<u64, LocalSocket>,
    sessions: HashMap<SessionKey, watch::Sender<ControlState>>,
}

struct LocalSocket {
    slot: String,
    session: SessionKey,
    client_id: ClientId,
    superseded: CancellationToken,
    inbox: mpsc::Sender<PairEvent>,
}

/// One call of `bus.lua`.
struct Call<'a> {
    op: &'a str,
    session: &'a str,
    args: Vec<String>,
}

impl RedisBus {
    /// Starts the bus: the command connection is lazy, the subscriber and the sweep run as
    /// `tracker`'s tasks until `shutdown`. Fails only on a malformed URL.
    pub fn start(
        options: RedisBusOptions,
        tracker: TaskTracker,
        shutdown: CancellationToken,
    ) -> anyhow::Result<Self> {
        let client = options::client(&options)?;
        let commands = Mutex::new(commands::Commands::connect(&client, &options)?);
        let shared = Arc::new(Shared {
            replica: uuid::Uuid::new_v4().simple().to_string(),
            client,
            commands,
            script: redis::Script::new(include_str!("redis/bus.lua")),
            next_nonce: AtomicU64::new(1),
            heartbeats: AtomicU64::new(0),
            local: Mutex::default(),
            subscribed: watch::Sender::new(false),
            runtime: tokio::runtime::Handle::current(),
            tracker,
            options,
        });
        shared
            .tracker
            .spawn(background::subscribe(shared.clone(), shutdown.clone()));
        shared
            .tracker
            .spawn(background::maintain(shared.clone(), shutdown));
        Ok(Self { shared })
    }

    /// This replica's id (names its channel).
    pub fn replica_id(&self) -> &str {
        &self.shared.replica
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Local> {
        // No step leaves the maps inconsistent across a panic point.
        lock(&self.local)
    }

    async fn wait_subscribed(&self) -> Result<(), BusError> {
        let mut subscribed = self.subscribed.subscribe();
        let up = tokio::time::timeout(self.options.call_timeout, subscribed.wait_for(|up| *up))
            .await
            .is_ok_and(|result| result.is_ok());
        if up {
            Ok(())
        } else {
            Err(BusError)
        }
    }

    /// Applies a state from Redis to this replica's watch of its session, if newer (`force`
    /// after a reconnect: Redis may have restarted and counted generations from zero).
    fn apply(&self, session: &SessionKey, state: ControlState, force: bool) {
        let local = self.lock();
        let Some(sender) = local.sessions.get(session) else {
            return;
        };
        sender.send_if_modified(|current| {
            let newer = state.is_newer_than(current)
                || (force
                    && (state.generation, state.handoff_generation, &state.holder)
                        != (
                            current.generation,
                            current.handoff_generation,
                            &current.holder,
                        ));
            if newer {
                *current = state;
            }
            newer
        });
    }

    fn apply_payload(&self, payload: &[u8], force: bool) -> Option<ControlState> {
        let Some((session, state)) = wire::decode_state(payload) else {
            tracing::warn!("malformed control state from redis ignored");
            return None;
        };
        self.apply(&session, state.clone(), force);
        Some(state)
    }

    /// Subscribes to `session` on this replica (its watch is created on first use).
    fn local_watch(&self, session: &SessionKey) -> watch::Receiver<ControlState> {
        self.lock()
            .sessions
            .entry(session.clone())
            .or_insert_with(|| watch::Sender::new(ControlState::agent()))
            .subscribe()
    }

    async fn read_state(
        &self,
        session: &SessionKey,
        force: bool,
    ) -> Result<ControlState, BusError> {
        let id = wire::session_id(session);
        let payload: String = self.invoke(call("get", &id, [])).await?;
        self.apply_payload(payload.as_bytes(), force)
            .ok_or(BusError)
    }

    async fn change(
        &self,
        op: &str,
        session: &SessionKey,
        client_id: &ClientId,
    ) -> Result<ControlState, BusError> {
        let id = wire::session_id(session);
        let payload: String = self.invoke(call(op, &id, [client_id.to_string()])).await?;
        self.apply_payload(payload.as_bytes(), false)
            .ok_or(BusError)
    }

    async fn swap_handoff(
        &self,
        session: &SessionKey,
        swap: HandoffSwap,
    ) -> Result<Result<ControlState, ControlState>, BusError> {
        let id = wire::session_id(session);
        let args = match swap {
            HandoffSwap::Open(new) => ["open".into(), String::new(), new.encode(), String::new()],
            HandoffSwap::Update { id, new, by_holder } => [
                "update".into(),
                id,
                new.encode(),
                by_holder.unwrap_or_default(),
            ],
        };
        let (applied, payload): (i64, String) = self.invoke(call("handoff", &id, args)).await?;
        let state = self
            .apply_payload(payload.as_bytes(), false)
            .ok_or(BusError)?;
        Ok(if applied == 1 { Ok(state) } else { Err(state) })
    }

    async fn viewers(&self, session: &SessionKey) -> Result<usize, BusError> {
        let id = wire::session_id(session);
        let count: i64 = self.invoke(call("viewers", &id, [])).await?;
        Ok(usize::try_from(count).unwrap_or(0))
    }

    /// Tells the socket `old` (this replica's or another's) that it was superseded.
    async fn supersede(&self, old: &str) {
        let Some((replica, nonce)) = wire::parse_socket_id(old) else {
            return;
        };
        if replica == self.replica {
            self.deliver(ReplicaMessage::Superseded { n: nonce });
            return;
        }
        let message = ReplicaMessage::Superseded { n: nonce }.encode();
        let channel = wire::replica_channel(&self.options.prefix, replica);
        // A replica that is gone has no socket to close.
        let _ = self.publish(channel, message).await;
    }

    /// Hands a message addressed to one of this replica's sockets to it.
    fn deliver(&self, message: ReplicaMessage) -> bool {
        let local = self.lock();
        match message {
            ReplicaMessage::Superseded { n } => {
                if let Some(socket) = local.sockets.get(&n) {
                    socket.superseded.cancel();
                }
                true
            }
            ReplicaMessage::Event { n, e } => {
                let Some(socket) = local.sockets.get(&n) else {
                    return false;
                };
                let Some(event) = e.into_event() else {
                    tracing::warn!("malformed pair event ignored");
                    return false;
                };
                match socket.inbox.try_send(event) {
                    Ok(()) => true,
                    Err(error) => {
                        tracing::debug!(error.message = %error, "paired socket inbox full or closed; event dropped");
                        false
                    }
                }
            }
            // A liveness probe of the subscription, never a socket's (the subscriber takes them
            // before they get here).
            ReplicaMessage::Heartbeat { .. } => false,
        }
    }

    async fn register(
        self: &Arc<Self>,
        key: StreamKey,
        channel: ChannelKind,
        session: SessionKey,
    ) -> Result<Registration, BusError> {
        self.wait_subscribed().await?;
        let nonce = self.next_nonce.fetch_add(1, Ordering::Relaxed);
        let (inbox_tx, inbox) = mpsc::channel(INBOX_CAPACITY);
        let superseded = CancellationToken::new();
        let slot = wire::slot_id(&key, channel);
        let control = self.local_watch(&session);
        self.lock().sockets.insert(
            nonce,
            LocalSocket {
                slot: slot.clone(),
                session: session.clone(),
                client_id: key.client_id.clone(),
                superseded: superseded.clone(),
                inbox: inbox_tx,
            },
        );
        // Built first: if the call fails, dropping it undoes whatever part was applied.
        let guard = Deregister {
            shared: self.clone(),
            nonce,
        };
        let id = wire::session_id(&session);
        let me = wire::socket_id(&self.replica, nonce);
        let args = [slot, me, key.client_id.to_string()];
        let (old, state): (String, String) = self.invoke(call("register", &id, args)).await?;
        self.apply_payload(state.as_bytes(), false);
        if !old.is_empty() {
            self.supersede(&old).await;
        }
        Ok(Registration {
            superseded,
            inbox,
            control,
            _guard: Box::new(guard),
        })
    }

    async fn send_to_pair(
        &self,
        key: &StreamKey,
        channel: ChannelKind,
        event: PairEvent,
    ) -> Result<bool, BusError> {
        let slot = wire::slot_id(key, channel);
        let owner: String = self.invoke(call("lookup", "", [slot])).await?;
        let Some((replica, nonce)) = wire::parse_socket_id(&owner) else {
            return Ok(false);
        };
        let message = ReplicaMessage::Event {
            n: nonce,
            e: event.into(),
        };
        if replica == self.replica {
            return Ok(self.deliver(message));
        }
        let payload = message.encode();
        if payload.len() > wire::MAX_PAYLOAD {
            // Never reached for events within the contract's caps; refused, not truncated.
            tracing::warn!(
                payload.bytes = payload.len(),
                "pair event over the bus payload cap refused"
            );
            return Ok(false);
        }
        let channel = wire::replica_channel(&self.options.prefix, replica);
        Ok(self.publish(channel, payload).await? > 0)
    }

    /// Runs `deregister` for a socket this replica dropped.
    async fn deregister(&self, socket: LocalSocket, nonce: u64) {
        let id = wire::session_id(&socket.session);
        let me = wire::socket_id(&self.replica, nonce);
        let args = [socket.slot, me, socket.client_id.to_string()];
        // On failure the slot and liveness run out with their TTL.
        let _: Result<i64, _> = self.invoke(call("deregister", &id, args)).await;
    }
}

fn call<'a, const N: usize>(op: &'a str, session: &'a str, args: [String; N]) -> Call<'a> {
    Call {
        op,
        session,
        args: args.into(),
    }
}

/// Deregisters its socket when the [`Registration`] drops.
struct Deregister {
    shared: Arc<Shared>,
    nonce: u64,
}

impl Drop for Deregister {
    fn drop(&mut self) {
        let Some(socket) = self.shared.lock().sockets.remove(&self.nonce) else {
            return;
        };
        let shared = self.shared.clone();
        let nonce = self.nonce;
        // Drop runs outside any async context; the runtime handle lets it spawn anyway.
        self.shared.tracker.spawn_on(
            async move { shared.deregister(socket, nonce).await },
            &self.shared.runtime,
        );
    }
}

#[cfg(test)]
mod tests;
