//! The Redis bus's names and payloads, kept pure so they are unit-tested without a server:
//! key and channel names under the prefix, the control-state payload the Lua script
//! publishes, the messages one replica sends another, and socket ids.

use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::control::{ControlReason, ControlState, PairEvent};
use crate::entity::{ChannelKind, ClientId, SessionKey, StreamKey};
use crate::handoff::Handoff;
use crate::policy::Platform;

/// Longest pub/sub payload sent or decoded: a `copied-text` of the largest clipboard text the
/// contract allows, every byte escaped, and the envelope. Larger ones are refused when sent
/// (a peer replica never sends one).
pub const MAX_PAYLOAD: usize = crate::caps::max_json_string(crate::caps::MAX_CLIPBOARD) + 4096;

/// The session part of keys: the JSON array `[organization_id, browser_session_id]`, which is
/// unambiguous whatever characters the ids hold.
pub fn session_id(session: &SessionKey) -> String {
    serde_json::to_string(&(&session.organization_id, &session.browser_session_id))
        .expect("strings always serialize")
}

/// Parses [`session_id`] back.
pub fn parse_session_id(id: &str) -> Option<SessionKey> {
    let (organization_id, browser_session_id): (String, String) = serde_json::from_str(id).ok()?;
    Some(SessionKey {
        organization_id,
        browser_session_id,
    })
}

/// The socket slot of a stream key and channel kind (after `{prefix}sock:`).
pub fn slot_id(key: &StreamKey, channel: ChannelKind) -> String {
    serde_json::to_string(&(
        &key.entity.organization_id,
        key.entity.kind.as_str(),
        &key.entity.id,
        key.client_id.as_str(),
        channel.as_str(),
        key.scope.as_str(),
    ))
    .expect("strings always serialize")
}

/// The channel every replica subscribes to for control-state changes.
pub fn control_channel(prefix: &str) -> String {
    format!("{prefix}control")
}

/// The channel of one replica (superseded notices and pair events for its sockets).
pub fn replica_channel(prefix: &str, replica: &str) -> String {
    format!("{prefix}replica:{replica}")
}

/// A socket's id in Redis: `{replica}:{nonce}`.
pub fn socket_id(replica: &str, nonce: u64) -> String {
    format!("{replica}:{nonce}")
}

/// Splits a socket id into (replica, nonce).
pub fn parse_socket_id(id: &str) -> Option<(&str, u64)> {
    let (replica, nonce) = id.rsplit_once(':')?;
    Some((replica, nonce.parse().ok()?))
}

/// A control state as the Lua script encodes it (cjson): `s` session id, `h` holder,
/// `p` previous holder, `r` reason (`""` for none), `t` changed_at in ms since the epoch
/// (0: never changed), `g` generation, `o` the handoff record (its JSON, as a string) and
/// `hg` the handoff generation.
#[derive(Debug, Deserialize)]
struct WireState {
    s: String,
    #[serde(default)]
    h: Option<String>,
    #[serde(default)]
    p: Option<String>,
    #[serde(default)]
    r: String,
    #[serde(default)]
    t: f64,
    #[serde(default)]
    g: f64,
    #[serde(default)]
    o: Option<String>,
    #[serde(default)]
    hg: f64,
}

/// Decodes a state payload into its session and state; `None` when malformed.
pub fn decode_state(payload: &[u8]) -> Option<(SessionKey, ControlState)> {
    if payload.len() > MAX_PAYLOAD {
        return None;
    }
    let wire: WireState = serde_json::from_slice(payload).ok()?;
    let session = parse_session_id(&wire.s)?;
    let reason = match wire.r.as_str() {
        "" => ControlReason::None,
        "ceded" => ControlReason::Ceded,
        "taken-by-another-viewer" => ControlReason::TakenByAnotherViewer,
        "grace-expired" => ControlReason::GraceExpired,
        _ => return None,
    };
    let changed_at = if wire.t > 0.0 {
        SystemTime::UNIX_EPOCH + Duration::from_millis(wire.t as u64)
    } else {
        SystemTime::now()
    };
    // Only the gateway writes holders, so one that is not a valid client id is a bad payload.
    let client = |id: Option<String>| match id {
        None => Some(None),
        Some(id) => ClientId::parse(&id).map(Some),
    };
    let state = ControlState {
        holder: client(wire.h)?,
        reason,
        previous_holder: client(wire.p)?,
        changed_at,
        generation: wire.g.max(0.0) as u64,
        handoff: match wire.o {
            None => None,
            // Only the gateway writes records, so one that does not decode is a bad payload.
            Some(record) => Some(std::sync::Arc::new(Handoff::decode(&record)?)),
        },
        handoff_generation: wire.hg.max(0.0) as u64,
    };
    Some((session, state))
}

/// What one replica tells another about one of the receiver's sockets (by nonce), or itself
/// about its subscription.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "kebab-case")]
pub enum ReplicaMessage {
    /// A newer socket took the slot of socket `n`.
    Superseded {
        /// The socket's nonce.
        n: u64,
    },
    /// Deliver `e` to socket `n`'s inbox.
    Event {
        /// The socket's nonce.
        n: u64,
        /// The event.
        e: WireEvent,
    },
    /// A replica's probe of its own subscription: it publishes this on its own channel and
    /// expects it back; never addressed to a socket.
    Heartbeat {
        /// The probe's sequence number (grows for the life of the replica).
        n: u64,
    },
}

/// A [`PairEvent`] on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "k", rename_all = "kebab-case")]
pub enum WireEvent {
    /// [`PairEvent::CopiedText`].
    CopiedText {
        /// The text.
        text: String,
    },
    /// [`PairEvent::AskForClipboard`].
    AskForClipboard,
    /// [`PairEvent::VncConnected`].
    VncConnected,
    /// [`PairEvent::DeclaredPlatform`].
    DeclaredPlatform {
        /// The platform's wire name ([`Platform::as_str`]).
        platform: String,
    },
}

impl From<PairEvent> for WireEvent {
    fn from(event: PairEvent) -> Self {
        match event {
            PairEvent::CopiedText(text) => Self::CopiedText { text },
            PairEvent::AskForClipboard => Self::AskForClipboard,
            PairEvent::VncConnected => Self::VncConnected,
            PairEvent::DeclaredPlatform(platform) => Self::DeclaredPlatform {
                platform: platform.as_str().to_owned(),
            },
        }
    }
}

impl WireEvent {
    /// The event, `None` when a field is not one of ours (an unknown platform name).
    pub fn into_event(self) -> Option<PairEvent> {
        Some(match self {
            WireEvent::CopiedText { text } => PairEvent::CopiedText(text),
            WireEvent::AskForClipboard => PairEvent::AskForClipboard,
            WireEvent::VncConnected => PairEvent::VncConnected,
            WireEvent::DeclaredPlatform { platform } => {
                PairEvent::DeclaredPlatform(Platform::parse(&platform)?)
            }
        })
    }
}

impl ReplicaMessage {
    /// The JSON payload.
    pub fn encode(&self) -> String {
        serde_json::to_string(self).expect("plain data always serializes")
    }

    /// Parses a payload; `None` when malformed or over [`MAX_PAYLOAD`].
    pub fn decode(payload: &[u8]) -> Option<Self> {
        if payload.len() > MAX_PAYLOAD {
            return None;
        }
        serde_json::from_slice(payload).ok()
    }
}

/// Splits `?prefix=…` off a bus URL: returns the URL to give the Redis client and the key
/// prefix (`default` when absent).
pub fn split_prefix(url: &str, default: &str) -> Result<(String, String), url::ParseError> {
    let mut parsed = url::Url::parse(url)?;
    let mut prefix = None;
    let rest: Vec<(String, String)> = parsed
        .query_pairs()
        .filter_map(|(k, v)| {
            if k == "prefix" {
                prefix = Some(v.into_owned());
                None
            } else {
                Some((k.into_owned(), v.into_owned()))
            }
        })
        .collect();
    if rest.is_empty() {
        parsed.set_query(None);
    } else {
        parsed.query_pairs_mut().clear().extend_pairs(rest);
    }
    Ok((parsed.into(), prefix.unwrap_or_else(|| default.to_owned())))
}
