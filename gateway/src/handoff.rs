//! Requested handoffs (PROTOCOL §5): the agent asks a person for help with instructions and a
//! timeout, and learns a typed outcome. This module is the pure core: what a handoff is and
//! how it moves (open, accepted, ended), with no I/O. The record travels inside the session's
//! [`crate::control::ControlState`], so every replica's viewers see it through the same watch
//! as control; [`crate::control::handoffs`] runs the agent's side (request, await, cancel,
//! deadlines).

use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

/// Longest `instructions` and `note`, in characters (PROTOCOL §5).
pub const MAX_TEXT_CHARS: usize = 2_000;
/// Longest handoff id an agent may choose.
pub const MAX_ID_LEN: usize = 64;
/// Longest timeout an agent may ask for.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(3_600);
/// The timeout when the agent asks for none.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

/// How a handoff ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Outcome {
    /// The person did what was asked (`handoff-complete {success: true}`).
    Done,
    /// The person could not (`handoff-complete {success: false}`).
    Declined,
    /// The deadline passed with a viewer connected.
    TimedOut,
    /// The agent cancelled it.
    Cancelled,
    /// The deadline passed with no viewer connected.
    NoViewer,
    /// The browser session stopped being live.
    EntityFinished,
}

impl Outcome {
    /// The wire name (`handoff-ended {outcome}`, audit events).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Done => "DONE",
            Self::Declined => "DECLINED",
            Self::TimedOut => "TIMED_OUT",
            Self::Cancelled => "CANCELLED",
            Self::NoViewer => "NO_VIEWER",
            Self::EntityFinished => "ENTITY_FINISHED",
        }
    }

    /// The audit action of a handoff that ended this way.
    pub fn audit_action(self) -> &'static str {
        match self {
            Self::Done => "handoff-done",
            Self::Declined => "handoff-declined",
            Self::TimedOut => "handoff-timed-out",
            Self::Cancelled => "handoff-cancelled",
            Self::NoViewer => "handoff-no-viewer",
            Self::EntityFinished => "handoff-entity-finished",
        }
    }
}

/// The end of a handoff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandoffEnd {
    /// How it ended.
    pub outcome: Outcome,
    /// The person's note (for the agent only: never logged, never sent to viewers).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
    /// The client id that completed it, if a person did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_by: Option<String>,
    /// When it ended, ms since the epoch.
    pub ended_ms: u64,
}

/// One handoff of one browser session, as stored with its control state (JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Handoff {
    /// The agent's or the gateway's id.
    pub id: String,
    /// What the person is asked to do (at most [`MAX_TEXT_CHARS`]).
    pub instructions: String,
    /// When it was requested, ms since the epoch.
    pub requested_ms: u64,
    /// When it times out, ms since the epoch.
    pub deadline_ms: u64,
    /// The client whose take-control accepted it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted_by: Option<String>,
    /// Set once it ended; the record stays until the next handoff, so the agent can await
    /// it again after a reconnect.
    #[serde(default, rename = "end", skip_serializing_if = "Option::is_none")]
    pub ended: Option<HandoffEnd>,
}

/// Why a request was refused before anything was opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    /// Instructions longer than [`MAX_TEXT_CHARS`].
    #[error("instructions are at most 2000 characters")]
    Instructions,
    /// An id that is too long or has characters outside `[A-Za-z0-9_-]`.
    #[error("handoff_id is 1 to 64 characters of A-Z, a-z, 0-9, '_' and '-'")]
    Id,
    /// A timeout over [`MAX_TIMEOUT`].
    #[error("timeout is at most 3600 s")]
    Timeout,
    /// A note longer than [`MAX_TEXT_CHARS`].
    #[error("note is at most 2000 characters")]
    Note,
}

/// Milliseconds since the epoch of `at`.
pub fn epoch_ms(at: SystemTime) -> u64 {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A fresh gateway-chosen id.
pub fn new_id() -> String {
    format!("ho_{}", uuid::Uuid::new_v4().simple())
}

/// Checks an agent-chosen id.
pub fn check_id(id: &str) -> Result<(), Invalid> {
    let valid = !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if valid {
        Ok(())
    } else {
        Err(Invalid::Id)
    }
}

/// Checks a person's note.
pub fn check_note(note: &str) -> Result<(), Invalid> {
    if note.chars().count() > MAX_TEXT_CHARS {
        Err(Invalid::Note)
    } else {
        Ok(())
    }
}

impl Handoff {
    /// A new open handoff; `timeout` zero means [`DEFAULT_TIMEOUT`].
    pub fn open(
        id: String,
        instructions: String,
        timeout: Duration,
        now: SystemTime,
    ) -> Result<Self, Invalid> {
        check_id(&id)?;
        if instructions.chars().count() > MAX_TEXT_CHARS {
            return Err(Invalid::Instructions);
        }
        if timeout > MAX_TIMEOUT {
            return Err(Invalid::Timeout);
        }
        let timeout = if timeout.is_zero() {
            DEFAULT_TIMEOUT
        } else {
            timeout
        };
        let requested_ms = epoch_ms(now);
        Ok(Self {
            id,
            instructions,
            requested_ms,
            deadline_ms: requested_ms + timeout.as_millis() as u64,
            accepted_by: None,
            ended: None,
        })
    }

    /// Whether it still waits for an outcome.
    pub fn is_open(&self) -> bool {
        self.ended.is_none()
    }

    /// The deadline as a time.
    pub fn deadline(&self) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_millis(self.deadline_ms)
    }

    /// Whether its deadline has passed at `now`.
    pub fn is_due(&self, now: SystemTime) -> bool {
        epoch_ms(now) >= self.deadline_ms
    }

    /// The same handoff, accepted by `client_id` (the first take-control while open wins).
    pub fn accepted(&self, client_id: &str) -> Option<Self> {
        if !self.is_open() || self.accepted_by.is_some() {
            return None;
        }
        Some(Self {
            accepted_by: Some(client_id.to_owned()),
            ..self.clone()
        })
    }

    /// The same handoff, ended; `None` when it already was.
    pub fn ended(
        &self,
        outcome: Outcome,
        note: String,
        resolved_by: Option<String>,
        now: SystemTime,
    ) -> Option<Self> {
        if !self.is_open() {
            return None;
        }
        Some(Self {
            ended: Some(HandoffEnd {
                outcome,
                note,
                resolved_by,
                ended_ms: epoch_ms(now).max(self.requested_ms),
            }),
            ..self.clone()
        })
    }

    /// The outcome a passed deadline gives, by whether any viewer is connected.
    pub fn expiry(viewers: usize) -> Outcome {
        if viewers == 0 {
            Outcome::NoViewer
        } else {
            Outcome::TimedOut
        }
    }

    /// How long it was open (zero while it still is).
    pub fn duration(&self) -> Duration {
        self.ended.as_ref().map_or(Duration::ZERO, |end| {
            Duration::from_millis(end.ended_ms.saturating_sub(self.requested_ms))
        })
    }

    /// The stored form.
    pub fn encode(&self) -> String {
        serde_json::to_string(self).expect("a handoff always serializes")
    }

    /// From the stored form; `None` when malformed or over the caps.
    pub fn decode(text: &str) -> Option<Self> {
        let handoff: Self = serde_json::from_str(text).ok()?;
        let fits = check_id(&handoff.id).is_ok()
            && handoff.instructions.chars().count() <= MAX_TEXT_CHARS
            && handoff
                .ended
                .as_ref()
                .is_none_or(|end| check_note(&end.note).is_ok());
        fits.then_some(handoff)
    }
}

/// A change of a session's handoff, applied atomically with its control state by the bus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandoffSwap {
    /// Stores `new` if the session has no open handoff.
    Open(Handoff),
    /// Replaces the open handoff `id` with `new`. With `by_holder`, only if that client holds
    /// control now, and control then returns to the agent (the person said they are done).
    Update {
        /// The handoff that must still be open.
        id: String,
        /// Its next form.
        new: Handoff,
        /// The client that must hold control.
        by_holder: Option<String>,
    },
}

#[cfg(test)]
mod tests;
