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
}
