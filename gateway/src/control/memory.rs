//! The in-memory [`ControlBus`]: pairing and control state of one replica (no `--bus`).
//! One mutex guards the maps; no `.await` happens while it is held, so it never blocks long.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use std::time::{Duration, SystemTime};

use futures::future::BoxFuture;
use futures::FutureExt;
use service_kit::sync::lock;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use super::{
    BusError, ControlBus, ControlReason, ControlState, PairEvent, Registration, INBOX_CAPACITY,
};
use crate::entity::{ChannelKind, ClientId, SessionKey, StreamKey};
use crate::handoff::HandoffSwap;

/// Pairing and control state in this process.
#[derive(Clone)]
pub struct MemoryBus {
    inner: Arc<Mutex<Inner>>,
    grace: Duration,
    /// Grace timers run here, and stop with `shutdown`.
    tracker: TaskTracker,
    shutdown: CancellationToken,
}

#[derive(Default)]
struct Inner {
    sockets: HashMap<(StreamKey, ChannelKind), SocketEntry>,
    sessions: HashMap<SessionKey, SessionEntry>,
    next_id: u64,
}

struct SocketEntry {
    id: u64,
    superseded: CancellationToken,
    inbox: mpsc::Sender<PairEvent>,
}

struct SessionEntry {
    state: watch::Sender<ControlState>,
    /// Open sockets per client_id, to know when the holder has none left.
    sockets_by_client: HashMap<ClientId, usize>,
}

impl SessionEntry {
    fn new() -> Self {
        Self {
            state: watch::Sender::new(ControlState::agent()),
            sockets_by_client: HashMap::new(),
        }
    }

    fn client_sockets(&self, client_id: &ClientId) -> usize {
        self.sockets_by_client.get(client_id).copied().unwrap_or(0)
    }

    fn set(&self, holder: Option<ClientId>, reason: ControlReason) -> ControlState {
        self.state.send_modify(|state| {
            state.previous_holder = state.holder.take();
            state.holder = holder;
            state.reason = reason;
            state.changed_at = SystemTime::now();
            state.generation += 1;
        });
        self.state.borrow().clone()
    }
}

impl MemoryBus {
    /// A bus whose control outlives its holder's sockets by `grace`; its grace timers are
    /// tracked by `tracker` and end with `shutdown`.
    pub fn new(grace: Duration, tracker: TaskTracker, shutdown: CancellationToken) -> Self {
        Self {
            inner: Arc::new(Mutex::new(Inner::default())),
            grace,
            tracker,
            shutdown,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        lock(&self.inner)
    }

    fn take(&self, session: &SessionKey, client_id: &ClientId) -> ControlState {
        let mut inner = self.lock();
        let entry = inner
            .sessions
            .entry(session.clone())
            .or_insert_with(SessionEntry::new);
        let previous = entry.state.borrow().holder.clone();
        let reason = match previous {
            Some(ref p) if p != client_id => ControlReason::TakenByAnotherViewer,
            _ => ControlReason::None,
        };
        let state = entry.set(Some(client_id.clone()), reason);
        let idle = entry.client_sockets(client_id) == 0;
        drop(inner);
        if idle {
            // Taken before any socket of the client exists: the grace period still bounds it.
            self.start_grace(session.clone(), client_id.clone());
        }
        state
    }

    fn cede(&self, session: &SessionKey, client_id: &ClientId) -> ControlState {
        let mut inner = self.lock();
        let entry = inner
            .sessions
            .entry(session.clone())
            .or_insert_with(SessionEntry::new);
        let holds = entry.state.borrow().is_held_by(client_id);
        if holds {
            return entry.set(None, ControlReason::Ceded);
        }
        entry.state.send_modify(|state| state.generation += 1);
        let state = entry.state.borrow().clone();
        state
    }

    fn subscribe(&self, session: &SessionKey) -> watch::Receiver<ControlState> {
        let mut inner = self.lock();
        inner
            .sessions
            .entry(session.clone())
            .or_insert_with(SessionEntry::new)
            .state
            .subscribe()
    }

    fn start_grace(&self, session: SessionKey, client_id: ClientId) {
        let inner = Arc::clone(&self.inner);
        let (grace, shutdown) = (self.grace, self.shutdown.clone());
        let span =
            tracing::debug_span!("control.grace", browser_session.id = %session.browser_session_id);
        self.tracker.spawn(
            async move {
                tokio::select! {
                    () = tokio::time::sleep(grace) => expire_grace(&inner, &session, &client_id),
                    // The replica is going away, and its control state with it.
                    () = shutdown.cancelled() => {}
                }
            }
            .instrument(span),
        );
    }

    fn register_now(
        &self,
        key: StreamKey,
        channel: ChannelKind,
        session: SessionKey,
    ) -> Registration {
        let (inbox_tx, inbox) = mpsc::channel(INBOX_CAPACITY);
        let superseded = CancellationToken::new();
        let mut inner = self.lock();
        inner.next_id += 1;
        let id = inner.next_id;
        let entry = SocketEntry {
            id,
            superseded: superseded.clone(),
            inbox: inbox_tx,
        };
        if let Some(old) = inner.sockets.insert((key.clone(), channel), entry) {
            old.superseded.cancel();
        }
        let session_entry = inner
            .sessions
            .entry(session.clone())
            .or_insert_with(SessionEntry::new);
        *session_entry
            .sockets_by_client
            .entry(key.client_id.clone())
            .or_insert(0) += 1;
        let control = session_entry.state.subscribe();
        drop(inner);
        let guard = Deregister {
            bus: self.clone(),
            key,
            channel,
            session,
            id,
        };
        Registration {
            superseded,
            inbox,
            control,
            _guard: Box::new(guard),
        }
    }

    fn deregister(&self, key: &StreamKey, channel: ChannelKind, session: &SessionKey, id: u64) {
        let mut inner = self.lock();
        let slot = (key.clone(), channel);
        if inner.sockets.get(&slot).is_some_and(|e| e.id == id) {
            inner.sockets.remove(&slot);
        }
        let Some(entry) = inner.sessions.get_mut(session) else {
            return;
        };
        let count = entry
            .sockets_by_client
            .entry(key.client_id.clone())
            .or_insert(1);
        *count -= 1;
        let last = *count == 0;
        if last {
            entry.sockets_by_client.remove(&key.client_id);
        }
        let holder_left = last && entry.state.borrow().is_held_by(&key.client_id);
        let unused = entry.sockets_by_client.is_empty()
            && entry.state.borrow().holder.is_none()
            && entry.state.borrow().open_handoff().is_none()
            && entry.state.receiver_count() == 0;
        if unused {
            inner.sessions.remove(session);
        }
        drop(inner);
        if holder_left {
            self.start_grace(session.clone(), key.client_id.clone());
        }
    }

    fn swap_now(
        &self,
        session: &SessionKey,
        swap: HandoffSwap,
    ) -> Result<ControlState, ControlState> {
        let mut inner = self.lock();
        let entry = inner
            .sessions
            .entry(session.clone())
            .or_insert_with(SessionEntry::new);
        let current = entry.state.borrow().clone();
        let (new, cede) = match swap {
            HandoffSwap::Open(new) if current.open_handoff().is_none() => (new, None),
            HandoffSwap::Update { id, new, by_holder }
                if current.open_handoff().is_some_and(|h| h.id == id)
                    && by_holder.as_deref().is_none_or(|c| {
                        current.holder.as_ref().is_some_and(|h| h.as_str() == c)
                    }) =>
            {
                (new, by_holder)
            }
            _ => return Err(current),
        };
        entry.state.send_modify(|state| {
            state.handoff = Some(std::sync::Arc::new(new));
            state.handoff_generation += 1;
        });
        if cede.is_some() {
            // The person finished: control goes back to the agent.
            return Ok(entry.set(None, ControlReason::Ceded));
        }
        let state = entry.state.borrow().clone();
        Ok(state)
    }

    fn viewers_now(&self, session: &SessionKey) -> usize {
        self.lock()
            .sessions
            .get(session)
            .map_or(0, |e| e.sockets_by_client.values().sum())
    }

    fn send_now(&self, key: &StreamKey, channel: ChannelKind, event: PairEvent) -> bool {
        let inner = self.lock();
        let Some(entry) = inner.sockets.get(&(key.clone(), channel)) else {
            return false;
        };
        match entry.inbox.try_send(event) {
            Ok(()) => true,
            Err(error) => {
                tracing::debug!(error.message = %error, "paired socket inbox full or closed; event dropped");
                false
            }
        }
    }
}

fn expire_grace(inner: &Mutex<Inner>, session: &SessionKey, client_id: &ClientId) {
    let inner = lock(inner);
    let Some(entry) = inner.sessions.get(session) else {
        return;
    };
    if entry.state.borrow().is_held_by(client_id) && entry.client_sockets(client_id) == 0 {
        entry.set(None, ControlReason::GraceExpired);
        crate::audit::record(
            "grace-expired",
            session,
            Some(client_id.as_str()),
            "control",
        );
    }
}

struct Deregister {
    bus: MemoryBus,
    key: StreamKey,
    channel: ChannelKind,
    session: SessionKey,
    id: u64,
}

impl Drop for Deregister {
    fn drop(&mut self) {
        self.bus
            .deregister(&self.key, self.channel, &self.session, self.id);
    }
}

impl ControlBus for MemoryBus {
    fn register(
        &self,
        key: StreamKey,
        channel: ChannelKind,
        session: SessionKey,
    ) -> BoxFuture<'_, Result<Registration, BusError>> {
        let registration = self.register_now(key, channel, session);
        async move { Ok(registration) }.boxed()
    }

    fn take_control(
        &self,
        session: &SessionKey,
        client_id: &ClientId,
    ) -> BoxFuture<'_, Result<ControlState, BusError>> {
        let state = self.take(session, client_id);
        async move { Ok(state) }.boxed()
    }

    fn cede_control(
        &self,
        session: &SessionKey,
        client_id: &ClientId,
    ) -> BoxFuture<'_, Result<ControlState, BusError>> {
        let state = self.cede(session, client_id);
        async move { Ok(state) }.boxed()
    }

    fn control(&self, session: &SessionKey) -> BoxFuture<'_, Result<ControlState, BusError>> {
        let state = self
            .lock()
            .sessions
            .get(session)
            .map_or_else(ControlState::agent, |e| e.state.borrow().clone());
        async move { Ok(state) }.boxed()
    }

    fn watch_control(
        &self,
        session: &SessionKey,
    ) -> BoxFuture<'_, Result<watch::Receiver<ControlState>, BusError>> {
        let receiver = self.subscribe(session);
        async move { Ok(receiver) }.boxed()
    }

    fn send_to_pair(
        &self,
        key: &StreamKey,
        channel: ChannelKind,
        event: PairEvent,
    ) -> BoxFuture<'_, Result<bool, BusError>> {
        let sent = self.send_now(key, channel, event);
        async move { Ok(sent) }.boxed()
    }

    fn swap_handoff(
        &self,
        session: &SessionKey,
        swap: HandoffSwap,
    ) -> BoxFuture<'_, Result<Result<ControlState, ControlState>, BusError>> {
        let result = self.swap_now(session, swap);
        async move { Ok(result) }.boxed()
    }

    fn viewers(&self, session: &SessionKey) -> BoxFuture<'_, Result<usize, BusError>> {
        let count = self.viewers_now(session);
        async move { Ok(count) }.boxed()
    }
}

#[cfg(test)]
mod tests;
