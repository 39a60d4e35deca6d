//! The agent's side of requested handoffs (PROTOCOL §5): open one, await its outcome, cancel
//! it, and end it when its deadline passes or its browser session stops being live. The record
//! lives with the session's control state on the bus ([`ControlBus::swap_handoff`]), so the
//! viewers of every replica see it and any replica can end it.
//!
//! # Who ends a handoff
//! The person (through the Message channel), the agent (`CancelHandoff`), or a driver: a task
//! on the replica that opened the handoff, and on every replica where the agent awaits it
//! again, that watches the record, its deadline and the session's liveness. Every end is a
//! compare-and-swap on the open record, so when drivers race only the first end counts. A
//! driver outlives the agent's call (an agent that reconnects finds the handoff still
//! enforced); if the opening replica dies, the next await or request on any replica drives it.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures::StreamExt;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::{BusError, ControlBus, ControlState};
use crate::entity::{EntityKey, EntityKind, SessionKey};
use crate::handoff::{Handoff, HandoffSwap, Invalid, Outcome};
use crate::liveness::Liveness;
use crate::verify::{Verifier, VerifyError};

/// How long a driver waits before trying again after the bus failed.
const RETRY: Duration = Duration::from_secs(1);

/// Why a handoff call failed (the gRPC adapter maps each to a status).
#[derive(Debug, thiserror::Error)]
pub enum HandoffError {
    /// A field over its cap or malformed.
    #[error(transparent)]
    Invalid(#[from] Invalid),
    /// Another handoff is open for the session.
    #[error("another handoff is open for this browser session")]
    AlreadyOpen,
    /// No handoff of that id is the session's latest.
    #[error("no such handoff")]
    NotFound,
    /// The browser session is unknown to the organization.
    #[error("browser session not found")]
    SessionNotFound,
    /// The bus or verification could not be reached, or the gateway is draining.
    #[error("handoffs are unavailable")]
    Unavailable,
}

impl From<BusError> for HandoffError {
    fn from(_: BusError) -> Self {
        Self::Unavailable
    }
}

/// What the agent asks for.
pub struct Request {
    /// The browser session.
    pub session: SessionKey,
    /// The agent's id for it (awaits that handoff again when it is the session's latest);
    /// `None`: a fresh one.
    pub id: Option<String>,
    /// What the person should do.
    pub instructions: String,
    /// How long the person has (zero: the default).
    pub timeout: Duration,
}

/// Requested handoffs of this replica's agents.
#[derive(Clone)]
pub struct Handoffs {
    bus: Arc<dyn ControlBus>,
    verifier: Verifier,
    liveness: Liveness,
    tracker: TaskTracker,
    shutdown: CancellationToken,
}

impl Handoffs {
    /// Handoffs over `bus`; drivers run on `tracker` until `shutdown`.
    pub fn new(
        bus: Arc<dyn ControlBus>,
        verifier: Verifier,
        liveness: Liveness,
        tracker: TaskTracker,
        shutdown: CancellationToken,
    ) -> Self {
        Self {
            bus,
            verifier,
            liveness,
            tracker,
            shutdown,
        }
    }

    /// Opens a handoff (or finds the agent's own again) and answers once it ended.
    pub async fn request(&self, request: Request) -> Result<Handoff, HandoffError> {
        let id = match request.id {
            Some(id) => id,
            None => crate::handoff::new_id(),
        };
        let now = SystemTime::now();
        let new = Handoff::open(id.clone(), request.instructions, request.timeout, now)?;
        let session = request.session;
        let current = self.bus.control(&session).await?;
        let own = current.handoff.as_deref().filter(|h| h.id == id);
        if own.is_none() {
            if !self.session_is_live(&session).await? {
                // Nothing to hand over: the agent learns it at once, and nothing is stored.
                return Ok(new
                    .ended(Outcome::EntityFinished, String::new(), None, now)
                    .expect("a new handoff is open"));
            }
            if let Some(open) = current.open_handoff() {
                if !open.is_due(now) {
                    return Err(HandoffError::AlreadyOpen);
                }
                // Its driver is gone (its replica died): end it before opening ours.
                self.expire(&session, open).await?;
            }
            match self
                .bus
                .swap_handoff(&session, HandoffSwap::Open(new.clone()))
                .await?
            {
                Ok(_) => crate::audit::record("handoff-requested", &session, None, "control"),
                Err(now_state) => {
                    if now_state.handoff.as_deref().is_none_or(|h| h.id != id) {
                        return Err(HandoffError::AlreadyOpen);
                    }
                }
            }
        }
        self.spawn_driver(session.clone(), id.clone());
        self.outcome(&session, &id).await
    }

    /// Cancels the open handoff `id`; answers how it ended (also when it already had).
    pub async fn cancel(&self, session: &SessionKey, id: &str) -> Result<Handoff, HandoffError> {
        loop {
            let current = self.bus.control(session).await?;
            let Some(handoff) = current.handoff.as_deref().filter(|h| h.id == id) else {
                return Err(HandoffError::NotFound);
            };
            if !handoff.is_open() {
                return Ok(handoff.clone());
            }
            if let Some(ended) = self.end(session, handoff, Outcome::Cancelled).await? {
                return Ok(ended);
            }
            // It changed in between (accepted or ended): look again.
        }
    }

    /// The session's handoff records as they change (the current one first, if any), until
    /// `shutdown`.
    pub async fn watch(
        &self,
        session: &SessionKey,
    ) -> Result<impl futures::Stream<Item = Arc<Handoff>> + Send + 'static, HandoffError> {
        let receiver = self.bus.watch_control(session).await?;
        let shutdown = self.shutdown.clone();
        let mut last = 0;
        let stream = tokio_stream::wrappers::WatchStream::new(receiver)
            .filter_map(move |state| {
                let changed = state.handoff_generation != last;
                last = state.handoff_generation;
                std::future::ready(state.handoff.filter(|_| changed))
            })
            .take_until(async move { shutdown.cancelled().await });
        Ok(stream)
    }

    /// Waits until the session's handoff `id` ended.
    async fn outcome(&self, session: &SessionKey, id: &str) -> Result<Handoff, HandoffError> {
        let mut receiver = self.bus.watch_control(session).await?;
        loop {
            match latest(&mut receiver, id) {
                Latest::Ended(handoff) => return Ok(handoff),
                Latest::Gone => return Err(HandoffError::NotFound),
                Latest::Open(_) => {}
            }
            tokio::select! {
                changed = receiver.changed() => changed.map_err(|_| HandoffError::Unavailable)?,
                () = self.shutdown.cancelled() => return Err(HandoffError::Unavailable),
            }
        }
    }

    async fn session_is_live(&self, session: &SessionKey) -> Result<bool, HandoffError> {
        match self.verifier.verify(&entity(session), false).await {
            Ok(_) | Err(VerifyError::NotReady) => Ok(true),
            Err(VerifyError::NotLive) => Ok(false),
            Err(VerifyError::NotFound | VerifyError::Invalid) => Err(HandoffError::SessionNotFound),
            Err(VerifyError::Unauthenticated | VerifyError::Unavailable) => {
                Err(HandoffError::Unavailable)
            }
        }
    }

    fn spawn_driver(&self, session: SessionKey, id: String) {
        let driver = self.clone();
        let span = tracing::info_span!("control.handoff", browser_session.id = %session.browser_session_id);
        self.tracker.spawn(tracing::Instrument::instrument(
            async move { driver.drive(session, id).await },
            span,
        ));
    }

    /// Ends the handoff `id` when its deadline passes or its session stops being live;
    /// returns once it ended (by anyone), was replaced, or the gateway drains.
    async fn drive(self, session: SessionKey, id: String) {
        let liveness = self.liveness.watch(entity(&session));
        loop {
            let mut receiver = match self.bus.watch_control(&session).await {
                Ok(receiver) => receiver,
                Err(_) => {
                    if self.pause().await {
                        return;
                    }
                    continue;
                }
            };
            loop {
                let handoff = match latest(&mut receiver, &id) {
                    Latest::Open(handoff) => handoff,
                    Latest::Ended(_) | Latest::Gone => return,
                };
                let wait = handoff
                    .deadline()
                    .duration_since(SystemTime::now())
                    .unwrap_or_default();
                let outcome = tokio::select! {
                    changed = receiver.changed() => {
                        if changed.is_err() {
                            break;
                        }
                        continue;
                    }
                    () = tokio::time::sleep(wait) => None,
                    () = liveness.ended.cancelled() => Some(Outcome::EntityFinished),
                    () = self.shutdown.cancelled() => return,
                };
                let ended = match outcome {
                    Some(outcome) => self.end(&session, &handoff, outcome).await,
                    None => self.expire(&session, &handoff).await.map(|_| None),
                };
                if ended.is_err() && self.pause().await {
                    return;
                }
            }
        }
    }

    /// Ends `handoff` as its passed deadline says (by whether a viewer is connected).
    async fn expire(&self, session: &SessionKey, handoff: &Handoff) -> Result<(), HandoffError> {
        let viewers = self.bus.viewers(session).await?;
        self.end(session, handoff, Handoff::expiry(viewers)).await?;
        Ok(())
    }

    /// Ends the open `handoff` with `outcome`: `Ok(None)` when it was no longer that record.
    async fn end(
        &self,
        session: &SessionKey,
        handoff: &Handoff,
        outcome: Outcome,
    ) -> Result<Option<Handoff>, HandoffError> {
        let Some(ended) = handoff.ended(outcome, String::new(), None, SystemTime::now()) else {
            return Ok(None);
        };
        let swap = HandoffSwap::Update {
            id: handoff.id.clone(),
            new: ended.clone(),
            by_holder: None,
        };
        match self.bus.swap_handoff(session, swap).await? {
            Ok(_) => {
                crate::audit::record(outcome.audit_action(), session, None, "control");
                Ok(Some(ended))
            }
            Err(_) => Ok(None),
        }
    }

    /// Waits before a retry; true when the gateway is draining instead.
    async fn pause(&self) -> bool {
        tokio::select! {
            () = tokio::time::sleep(RETRY) => false,
            () = self.shutdown.cancelled() => true,
        }
    }
}

/// Where the handoff `id` stands in the latest state.
enum Latest {
    Open(Handoff),
    Ended(Handoff),
    /// Another handoff replaced it (or there never was one).
    Gone,
}

fn latest(receiver: &mut watch::Receiver<ControlState>, id: &str) -> Latest {
    let state = receiver.borrow_and_update();
    match state.handoff.as_deref() {
        Some(handoff) if handoff.id == id && handoff.is_open() => Latest::Open(handoff.clone()),
        Some(handoff) if handoff.id == id => Latest::Ended(handoff.clone()),
        _ => Latest::Gone,
    }
}

fn entity(session: &SessionKey) -> EntityKey {
    EntityKey {
        organization_id: session.organization_id.clone(),
        kind: EntityKind::BrowserSession,
        id: session.browser_session_id.clone(),
    }
}

/// Records that `client` accepted the session's open handoff by taking control (the state
/// `take_control` answered). True when this call recorded it; false when there was no open
/// handoff, it was already accepted, or it ended in between.
pub async fn accept_by_taking_control(
    bus: &dyn ControlBus,
    session: &SessionKey,
    client: &str,
    state: &ControlState,
) -> Result<bool, BusError> {
    let Some(accepted) = state.open_handoff().and_then(|h| h.accepted(client)) else {
        return Ok(false);
    };
    let swap = crate::handoff::HandoffSwap::Update {
        id: accepted.id.clone(),
        new: accepted,
        by_holder: None,
    };
    Ok(bus.swap_handoff(session, swap).await?.is_ok())
}
