//! Identities the gateway routes by: entity kinds and ids, the browser session that control
//! belongs to, and the stream key that pairs a client's VNC and Message sockets (PROTOCOL §1).

use proto::verification::v1 as pb;

/// What an entity id names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntityKind {
    /// A browser session (`pbs_…`).
    BrowserSession,
    /// A task (`tsk_…`).
    Task,
    /// A workflow run (`wr_…`).
    WorkflowRun,
}

impl EntityKind {
    /// The wire name (`browser_session`, `task`, `workflow_run`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BrowserSession => "browser_session",
            Self::Task => "task",
            Self::WorkflowRun => "workflow_run",
        }
    }

    /// Parses the wire name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "browser_session" => Some(Self::BrowserSession),
            "task" => Some(Self::Task),
            "workflow_run" => Some(Self::WorkflowRun),
            _ => None,
        }
    }

    /// The protobuf enum value.
    pub fn to_pb(self) -> pb::EntityKind {
        match self {
            Self::BrowserSession => pb::EntityKind::BrowserSession,
            Self::Task => pb::EntityKind::Task,
            Self::WorkflowRun => pb::EntityKind::WorkflowRun,
        }
    }

    /// From the protobuf enum value (UNSPECIFIED is `None`).
    pub fn from_pb(kind: i32) -> Option<Self> {
        match pb::EntityKind::try_from(kind).ok()? {
            pb::EntityKind::BrowserSession => Some(Self::BrowserSession),
            pb::EntityKind::Task => Some(Self::Task),
            pb::EntityKind::WorkflowRun => Some(Self::WorkflowRun),
            pb::EntityKind::Unspecified => None,
        }
    }
}

/// Longest entity id or client id accepted from a client.
pub const MAX_ID_LEN: usize = 128;

/// A viewer's `client_id` (PROTOCOL §2): 1 to 128 characters, checked once at the edge and
/// carried typed from there (stream keys, control holders, pair routing).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientId(String);

impl ClientId {
    /// `Some` when `value` is non-empty and at most [`MAX_ID_LEN`] characters.
    pub fn parse(value: &str) -> Option<Self> {
        let valid = !value.is_empty() && value.chars().count() <= MAX_ID_LEN;
        valid.then(|| Self(value.to_owned()))
    }

    /// The id as sent by the viewer.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Reads as the `str` it holds (so `Option<ClientId>::as_deref()` compares with `Option<&str>`).
impl std::ops::Deref for ClientId {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for ClientId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for ClientId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ClientId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// One entity of one organization.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EntityKey {
    /// The owning organization (from the credential, never from the URL).
    pub organization_id: String,
    /// Kind of the entity.
    pub kind: EntityKind,
    /// Its id.
    pub id: String,
}

impl EntityKey {
    /// The protobuf form used by `Watch`.
    pub fn to_watched(&self) -> pb::WatchedEntity {
        pb::WatchedEntity {
            organization_id: self.organization_id.clone(),
            entity: Some(pb::EntityRef {
                kind: self.kind.to_pb() as i32,
                id: self.id.clone(),
            }),
        }
    }

    /// From the protobuf form (`None` when malformed).
    pub fn from_watched(watched: &pb::WatchedEntity) -> Option<Self> {
        let entity = watched.entity.as_ref()?;
        Some(Self {
            organization_id: watched.organization_id.clone(),
            kind: EntityKind::from_pb(entity.kind)?,
            id: entity.id.clone(),
        })
    }
}

/// The browser session control belongs to (one controller per session, PROTOCOL §5).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SessionKey {
    /// The owning organization.
    pub organization_id: String,
    /// `pbs_…`.
    pub browser_session_id: String,
}

/// What a socket's credential lets it do (PROTOCOL §4 "Scopes").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// An API key, a JWT or a `control` ticket: may take control and drive.
    Control,
    /// A `view` ticket: may only watch.
    View,
}

impl Scope {
    /// The wire name (`control`, `view`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Control => "control",
            Self::View => "view",
        }
    }
}

/// (organization, entity kind, entity id, client_id, scope): what pairs a client's sockets.
///
/// The scope is part of the key so a socket can only pair with, and supersede, a socket of
/// the same scope: a `view` socket that knows a controlling client's id lands beside it, never
/// in its place, and never receives what its pair sends (`copied-text`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StreamKey {
    /// The entity streamed.
    pub entity: EntityKey,
    /// The viewer's client id.
    pub client_id: ClientId,
    /// The credential's scope.
    pub scope: Scope,
}

impl StreamKey {
    /// Whether the socket's credential only lets it watch.
    pub fn view_only(&self) -> bool {
        self.scope == Scope::View
    }
}

/// The kind of a stream socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChannelKind {
    /// Binary RFB.
    Vnc,
    /// JSON messages.
    Message,
    /// Screencast frames out (send-only JSON).
    Screencast,
    /// CDP input events in (JSON).
    CdpInput,
}

impl ChannelKind {
    /// The metrics label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Vnc => "vnc",
            Self::Message => "message",
            Self::Screencast => "screencast",
            Self::CdpInput => "cdp_input",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_ids_must_be_present_and_at_most_128_characters() {
        assert_eq!(
            ClientId::parse("abc").map(|c| c.to_string()),
            Some("abc".into())
        );
        assert_eq!(ClientId::parse(""), None);
        assert!(ClientId::parse(&"é".repeat(128)).is_some());
        assert_eq!(ClientId::parse(&"x".repeat(129)), None);
    }
}
