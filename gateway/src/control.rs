//! Control state (who drives each browser session) and pairing of a client's sockets by
//! stream key (PROTOCOL §1, §5), behind the [`ControlBus`] trait so the in-memory
//! implementation ([`memory::MemoryBus`], one replica) and a shared one (Redis, later) are
//! interchangeable. The VNC and Message channels only talk to this trait.
//!
//! # How a channel uses it
//! 1. [`ControlBus::register`] its socket under its stream key and channel kind. The returned
//!    [`Registration`] carries: `superseded` (cancelled when a newer socket of the same kind
//!    takes the key: close with `superseded`), `inbox` (events its paired socket sends it, e.g.
//!    `copied-text` for a Message socket), and `control` (a watch of the session's control
//!    state, to check before every input message). Dropping it deregisters the socket.
//! 2. [`ControlBus::send_to_pair`] delivers a [`PairEvent`] to the other socket of the key.
//! 3. [`ControlBus::take_control`] / [`ControlBus::cede_control`] change the holder (latest
//!    wins); every subscriber of the session sees the change through its watch.

use std::sync::Arc;
use std::time::SystemTime;

use futures::future::BoxFuture;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::entity::{ChannelKind, ClientId, SessionKey, StreamKey};
use crate::handoff::{Handoff, HandoffSwap};
use crate::policy::Platform;

pub mod grpc;
pub mod handoffs;
pub mod memory;
pub mod redis;

/// Why control last changed (the `reason` of `control-state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlReason {
    /// Initial state, or a take-control.
    None,
    /// The holder gave control back.
    Ceded,
    /// Another viewer took control.
    TakenByAnotherViewer,
    /// The holder's sockets all dropped and the grace period ran out.
    GraceExpired,
}

impl ControlReason {
    /// The wire name (`null` is `None`).
    pub fn as_str(self) -> Option<&'static str> {
        match self {
            Self::None => None,
            Self::Ceded => Some("ceded"),
            Self::TakenByAnotherViewer => Some("taken-by-another-viewer"),
            Self::GraceExpired => Some("grace-expired"),
        }
    }
}

/// Who drives one browser session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlState {
    /// The client holding user control; `None` means the agent.
    pub holder: Option<ClientId>,
    /// Why it last changed. A take-control that replaced another holder records
    /// `TakenByAnotherViewer` (what the previous holder is told); the new holder itself shows
    /// `null` (it is the `user`).
    pub reason: ControlReason,
    /// The client that held control before the last change, if any.
    pub previous_holder: Option<ClientId>,
    /// When it last changed.
    pub changed_at: SystemTime,
    /// Increases with every take/cede/expiry (also when nothing changed), so a subscriber can
    /// tell that a `control-state` must be sent again.
    pub generation: u64,
    /// The session's latest handoff, open or ended ([`crate::handoff`]).
    pub handoff: Option<Arc<Handoff>>,
    /// Increases with every change of `handoff` (control changes leave it alone, so a
    /// subscriber tells a handoff change from a `control-state` to send).
    pub handoff_generation: u64,
}

impl ControlState {
    /// The agent holds control.
    pub fn agent() -> Self {
        Self {
            holder: None,
            reason: ControlReason::None,
            previous_holder: None,
            changed_at: SystemTime::now(),
            generation: 0,
            handoff: None,
            handoff_generation: 0,
        }
    }

    /// Whether this state is newer than `current` (both generations only ever grow).
    pub fn is_newer_than(&self, current: &Self) -> bool {
        self.generation > current.generation || self.handoff_generation > current.handoff_generation
    }

    /// The open handoff, if any.
    pub fn open_handoff(&self) -> Option<&Handoff> {
        self.handoff.as_deref().filter(|h| h.is_open())
    }

    /// Whether `client_id` holds user control.
    pub fn is_held_by(&self, client_id: &ClientId) -> bool {
        self.holder.as_ref() == Some(client_id)
    }

    /// The one rule of who may drive the browser now: a socket of `client_id` whose
    /// credential is not view-only, while that client holds control. Input filtering, the
    /// operations that change the browser and the `control-state` a socket is shown all ask
    /// this.
    pub fn may_drive(&self, client_id: &ClientId, view_only: bool) -> bool {
        !view_only && self.is_held_by(client_id)
    }
}

/// What one socket of a stream key sends the other (through [`ControlBus::send_to_pair`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PairEvent {
    /// To the Message socket: the selection the controlling user copied (`copied-text`).
    CopiedText(String),
    /// To the Message socket: the V key of a paste was held back; ask the viewer for its
    /// clipboard (`ask-for-clipboard`), then insert the answer through the executor.
    AskForClipboard,
    /// To the Message socket: the client's VNC socket connected (and would like the platform
    /// the viewer declared, if it did; see [`PairEvent::DeclaredPlatform`]).
    VncConnected,
    /// To the VNC socket: the platform a `client-info` message declared, which replaces the
    /// guess from the VNC upgrade's User-Agent.
    DeclaredPlatform(Platform),
}

/// The bus could not be reached (closes with `bus-unavailable`).
#[derive(Debug, thiserror::Error)]
#[error("the pairing bus is unavailable")]
pub struct BusError;

/// Capacity of each socket's inbox of [`PairEvent`]s; when full, events are dropped (and
/// logged), never awaited, so a stuck socket cannot stall its pair.
pub const INBOX_CAPACITY: usize = 64;

/// A registered socket. Dropping it deregisters the socket (only if it is still the
/// registered one: a superseded socket never evicts its replacement).
pub struct Registration {
    /// Cancelled when a newer socket of the same channel kind registers the same stream key.
    pub superseded: CancellationToken,
    /// Events from the paired socket.
    pub inbox: mpsc::Receiver<PairEvent>,
    /// The control state of the stream key's browser session.
    pub control: watch::Receiver<ControlState>,
    /// Deregisters on drop.
    pub(crate) _guard: Box<dyn Send + Sync>,
}

/// Control state and pairing, shared by every socket of a replica.
pub trait ControlBus: Send + Sync + 'static {
    /// Registers a socket of `channel` kind under `key`, for control of `session`. A socket
    /// already registered under the same key and kind is superseded.
    fn register(
        &self,
        key: StreamKey,
        channel: ChannelKind,
        session: SessionKey,
    ) -> BoxFuture<'_, Result<Registration, BusError>>;

    /// `client_id` takes control of `session` (latest wins). Applies even when the client has
    /// no VNC socket yet. Returns the new state.
    fn take_control(
        &self,
        session: &SessionKey,
        client_id: &ClientId,
    ) -> BoxFuture<'_, Result<ControlState, BusError>>;

    /// `client_id` gives control back to the agent; a no-op (but still a new generation, so
    /// `control-state` is re-sent) when it does not hold it.
    fn cede_control(
        &self,
        session: &SessionKey,
        client_id: &ClientId,
    ) -> BoxFuture<'_, Result<ControlState, BusError>>;

    /// The current control state of `session`.
    fn control(&self, session: &SessionKey) -> BoxFuture<'_, Result<ControlState, BusError>>;

    /// Subscribes to the control state of `session` (current value first).
    fn watch_control(
        &self,
        session: &SessionKey,
    ) -> BoxFuture<'_, Result<watch::Receiver<ControlState>, BusError>>;

    /// Delivers `event` to the socket of `channel` kind registered under `key`. `Ok(false)`
    /// when there is none (or its inbox is full).
    fn send_to_pair(
        &self,
        key: &StreamKey,
        channel: ChannelKind,
        event: PairEvent,
    ) -> BoxFuture<'_, Result<bool, BusError>>;

    /// Applies `swap` to the session's handoff atomically with its control state:
    /// `Ok(Ok(state))` when applied, `Ok(Err(state))` (the current state) when its condition
    /// did not hold. Every subscriber of the session sees an applied change.
    fn swap_handoff(
        &self,
        session: &SessionKey,
        swap: HandoffSwap,
    ) -> BoxFuture<'_, Result<Result<ControlState, ControlState>, BusError>>;

    /// How many sockets of the session are open now, on every replica.
    fn viewers(&self, session: &SessionKey) -> BoxFuture<'_, Result<usize, BusError>>;
}
