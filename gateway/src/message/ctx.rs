//! What the handlers of one Message socket share ([`Ctx`]), and the slot of its user-event
//! stream. A leaf of the channel: the loop ([`super::socket`]), the dispatcher
//! ([`super::handle`]) and the operations all read it; it imports none of them.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use service_kit::sync::lock;
use tokio::sync::{watch, Semaphore};
use tokio_util::sync::CancellationToken;

use super::kinds::{Interactor, Outbound};
use super::outbox::Outbox;
use crate::close::CloseSlot;
use crate::control::ControlState;
use crate::policy::Platform;
use crate::state::AppState;
use crate::stream::Authorized;

/// Browser operations one socket may run at once; more get an `error` reply at once (the
/// reader never waits for a permit, so control stays responsive).
pub const MAX_CONCURRENT_OPS: usize = 8;

/// What the handlers of one socket share.
pub struct Ctx {
    /// The gateway's shared state.
    pub state: AppState,
    /// Who this socket is (stream key, browser session, view-only).
    pub auth: Authorized,
    /// The one outbound queue.
    pub outbox: Outbox,
    /// This socket's close decision; its token stops every task of the socket.
    pub close: CloseSlot,
    /// The browser session's control state (latest value).
    pub control: watch::Receiver<ControlState>,
    /// Bounds concurrent browser operations.
    pub ops: Arc<Semaphore>,
    /// The platform a `client-info` declared, re-sent to a VNC socket that connects later.
    pub platform: Mutex<Option<Platform>>,
    /// The running user-event stream, if any.
    pub exfiltration: Mutex<Option<UserEvents>>,
}

impl Ctx {
    /// Whether this socket may drive the browser now ([`ControlState::may_drive`]).
    pub fn in_control(&self) -> bool {
        self.auth.may_drive(&self.control.borrow())
    }

    /// The `control-state` this socket is shown for `state`.
    pub fn control_state(&self, state: &ControlState) -> Outbound {
        let user = self.auth.may_drive(state);
        let reason = if user {
            None
        } else {
            state.reason.as_str().map(str::to_owned)
        };
        Outbound::ControlState {
            interactor: if user {
                Interactor::User
            } else {
                Interactor::Agent
            },
            reason,
        }
    }

    /// Records an audit event of this socket's client ([`crate::audit`]).
    pub fn audit(&self, action: &'static str) {
        crate::audit::record(
            action,
            &self.auth.session_key(),
            Some(self.auth.key.client_id.as_str()),
            "message",
        );
    }

    /// Stops the user-event stream, if one runs.
    pub fn stop_user_events(&self) {
        if let Some(running) = lock(&self.exfiltration).take() {
            running.stop.cancel();
        }
    }

    /// Pauses or resumes forwarding user events (events in between are dropped).
    pub fn pause_user_events(&self, paused: bool) {
        if let Some(running) = lock(&self.exfiltration).as_ref() {
            running.paused.store(paused, Ordering::Relaxed);
        }
    }
}

/// A running user-event stream: its stop token and pause flag.
pub struct UserEvents {
    /// Ends the stream.
    pub stop: CancellationToken,
    /// While set, events are dropped, not forwarded.
    pub paused: Arc<AtomicBool>,
}
