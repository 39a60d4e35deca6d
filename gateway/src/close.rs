//! Close codes and machine-readable reasons of the stream sockets (PROTOCOL §2), and the
//! "first close wins" slot each socket keeps.

use std::sync::{Arc, OnceLock};

use tokio_util::sync::CancellationToken;

/// Why a stream socket closes; each maps to one code and one reason text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CloseReason {
    /// No, bad, expired, revoked or reused credential.
    AuthFailed,
    /// No `client_id`, or one over 128 characters.
    ClientIdMissing,
    /// The entity does not exist in the caller's organization.
    EntityNotFound,
    /// The entity exists but is not live.
    EntityNotLive,
    /// The entity is live but its browser has no address yet.
    BrowserNotReady,
    /// Verification could not be asked.
    VerificationUnavailable,
    /// The entity stopped being live while streaming.
    EntityFinished,
    /// A newer socket of the same channel kind took this stream key.
    Superseded,
    /// The frontend ended the stream.
    ClientClosed,
    /// The upstream ended the stream.
    UpstreamClosed,
    /// The peer broke the protocol.
    ProtocolError,
    /// The peer exceeded a rate.
    RateLimited,
    /// The frontend did not read fast enough.
    SlowConsumer,
    /// A peer-controlled wait ran out (pong, handshake).
    Timeout,
    /// The upgrade's Origin is not allowed.
    OriginNotAllowed,
    /// The credential the socket was opened with (an API key or a link) was revoked.
    Revoked,
    /// The upstream could not be dialled.
    UpstreamUnreachable,
    /// The pairing bus is unavailable.
    BusUnavailable,
    /// A bug or an unexpected failure on our side.
    InternalError,
    /// This replica is shutting down.
    Draining,
    /// A screencast socket of a session that has a VNC server (and no `force_cdp`).
    UseVncStreaming,
    /// CDP input: the browser session does not exist (in the caller's organization).
    BrowserSessionNotFound,
    /// CDP input: the browser session is no longer live.
    BrowserSessionFinalized,
    /// CDP input: the workflow run does not exist (or a task, on this channel).
    WorkflowRunNotFound,
    /// CDP input: the workflow run is final.
    WorkflowRunClosing,
    /// CDP input: the task does not exist.
    TaskNotFound,
    /// CDP input: the task is final.
    TaskClosing,
    /// CDP input: the browser has no address or cannot be reached yet (the client retries).
    BrowserStateTimeout,
    /// CDP input: the browser has no page to bind to.
    NoWorkingPage,
    /// CDP input: the browser failed while input was dispatched.
    DispatchFailed,
}

impl CloseReason {
    /// The WebSocket close code.
    pub fn code(self) -> u16 {
        use CloseReason::*;
        match self {
            AuthFailed | ClientIdMissing => 1002,
            EntityNotFound | EntityNotLive | BrowserNotReady | VerificationUnavailable => 1013,
            EntityFinished | Superseded | ClientClosed | UpstreamClosed => 1000,
            ProtocolError | RateLimited | SlowConsumer | Timeout | OriginNotAllowed | Revoked => {
                1008
            }
            UpstreamUnreachable | BusUnavailable | InternalError => 1011,
            Draining => 1012,
            UseVncStreaming => 4001,
            BrowserSessionNotFound
            | BrowserSessionFinalized
            | WorkflowRunNotFound
            | TaskNotFound => 4404,
            BrowserStateTimeout => 4408,
            WorkflowRunClosing | TaskClosing => 4409,
            NoWorkingPage => 4410,
            DispatchFailed => 4411,
        }
    }

    /// The reason text sent in the close frame (and used as the metrics label).
    pub fn as_str(self) -> &'static str {
        use CloseReason::*;
        match self {
            AuthFailed => "auth-failed",
            ClientIdMissing => "client-id-missing",
            EntityNotFound => "entity-not-found",
            EntityNotLive => "entity-not-live",
            BrowserNotReady => "browser-not-ready",
            VerificationUnavailable => "verification-unavailable",
            EntityFinished => "entity-finished",
            Superseded => "superseded",
            ClientClosed => "client-closed",
            UpstreamClosed => "upstream-closed",
            ProtocolError => "protocol-error",
            RateLimited => "rate-limited",
            SlowConsumer => "slow-consumer",
            Timeout => "timeout",
            OriginNotAllowed => "origin-not-allowed",
            Revoked => "revoked",
            UpstreamUnreachable => "upstream-unreachable",
            BusUnavailable => "bus-unavailable",
            InternalError => "internal-error",
            Draining => "draining",
            UseVncStreaming => "use-vnc-streaming",
            BrowserSessionNotFound => "browser_session_not_found",
            BrowserSessionFinalized => "browser_session_finalized",
            WorkflowRunNotFound => "workflow_run_not_found",
            WorkflowRunClosing => "workflow_run_closing",
            TaskNotFound => "task_not_found",
            TaskClosing => "task_closing",
            BrowserStateTimeout => "browser_state_timeout",
            NoWorkingPage => "no_working_page",
            DispatchFailed => "dispatch_failed",
        }
    }
}

impl CloseReason {
    /// A refusal of a CDP input socket in the incumbent's codes (spec §2.5, §9.1–9.2): entity
    /// not found and not live become 44xx; credential and other failures stay as they are.
    pub fn for_cdp_input(self, kind: crate::entity::EntityKind) -> Self {
        use crate::entity::EntityKind;
        match (self, kind) {
            (Self::EntityNotFound, EntityKind::BrowserSession) => Self::BrowserSessionNotFound,
            (Self::EntityNotFound, EntityKind::WorkflowRun) => Self::WorkflowRunNotFound,
            (Self::EntityNotFound, EntityKind::Task) => Self::TaskNotFound,
            (Self::EntityNotLive, EntityKind::BrowserSession) => Self::BrowserSessionFinalized,
            (Self::EntityNotLive, EntityKind::WorkflowRun) => Self::WorkflowRunClosing,
            (Self::EntityNotLive, EntityKind::Task) => Self::TaskClosing,
            (Self::BrowserNotReady, _) => Self::BrowserStateTimeout,
            (other, _) => other,
        }
    }
}

impl std::fmt::Display for CloseReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The close decision of one socket: the first [`CloseSlot::close`] sets the reason and
/// cancels the socket's token; later calls change nothing.
#[derive(Clone, Debug)]
pub struct CloseSlot {
    reason: Arc<OnceLock<CloseReason>>,
    token: CancellationToken,
}

impl CloseSlot {
    /// A slot whose token is a child of `parent` (cancelling the parent ends the socket too,
    /// and the caller then decides the reason).
    pub fn new(token: CancellationToken) -> Self {
        Self {
            reason: Arc::new(OnceLock::new()),
            token,
        }
    }

    /// Records `reason` if none is recorded yet, and ends the socket.
    pub fn close(&self, reason: CloseReason) {
        let _ = self.reason.set(reason);
        self.token.cancel();
    }

    /// The recorded reason, if any.
    pub fn reason(&self) -> Option<CloseReason> {
        self.reason.get().copied()
    }

    /// The socket's cancellation token.
    pub fn token(&self) -> &CancellationToken {
        &self.token
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_close_wins() {
        let slot = CloseSlot::new(CancellationToken::new());
        slot.close(CloseReason::SlowConsumer);
        slot.close(CloseReason::ClientClosed);
        assert_eq!(slot.reason(), Some(CloseReason::SlowConsumer));
        assert!(slot.token().is_cancelled());
    }

    #[test]
    fn codes_follow_the_protocol_table() {
        assert_eq!(
            (
                CloseReason::AuthFailed.code(),
                CloseReason::AuthFailed.as_str()
            ),
            (1002, "auth-failed")
        );
        assert_eq!(CloseReason::BrowserNotReady.code(), 1013);
        assert_eq!(CloseReason::Superseded.code(), 1000);
        assert_eq!(CloseReason::SlowConsumer.code(), 1008);
        assert_eq!(CloseReason::UpstreamUnreachable.code(), 1011);
        assert_eq!(
            (CloseReason::Draining.code(), CloseReason::Draining.as_str()),
            (1012, "draining")
        );
    }

    #[test]
    fn cdp_input_refusals_use_the_incumbent_codes() {
        use crate::entity::EntityKind::{BrowserSession, WorkflowRun};
        let shown = |r: CloseReason| (r.code(), r.as_str());
        assert_eq!(
            shown(CloseReason::EntityNotFound.for_cdp_input(BrowserSession)),
            (4404, "browser_session_not_found")
        );
        assert_eq!(
            shown(CloseReason::EntityNotLive.for_cdp_input(BrowserSession)),
            (4404, "browser_session_finalized")
        );
        assert_eq!(
            shown(CloseReason::EntityNotFound.for_cdp_input(WorkflowRun)),
            (4404, "workflow_run_not_found")
        );
        assert_eq!(
            shown(CloseReason::EntityNotLive.for_cdp_input(WorkflowRun)),
            (4409, "workflow_run_closing")
        );
        assert_eq!(
            shown(CloseReason::BrowserNotReady.for_cdp_input(WorkflowRun)),
            (4408, "browser_state_timeout")
        );
        assert_eq!(
            shown(CloseReason::EntityNotLive.for_cdp_input(crate::entity::EntityKind::Task)),
            (4409, "task_closing")
        );
        assert_eq!(
            CloseReason::AuthFailed.for_cdp_input(WorkflowRun),
            CloseReason::AuthFailed
        );
        assert_eq!(
            shown(CloseReason::UseVncStreaming),
            (4001, "use-vnc-streaming")
        );
    }
}
