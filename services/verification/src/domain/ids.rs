//! Identifiers parsed at the edge: organization ids, entity kinds and entity ids (`pbs_…`,
//! `tsk_…`, `wr_…`), and ticket scopes. A value of these types is always well formed.

use std::fmt;

/// The longest id accepted anywhere.
pub const MAX_ID_LEN: usize = 128;

/// Why an identifier was refused; the text is safe to send to a client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct IdError(pub String);

/// An organization id: 1–128 characters of `[A-Za-z0-9_-]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OrgId(String);

impl OrgId {
    /// Parses an organization id.
    pub fn parse(raw: &str) -> Result<Self, IdError> {
        check_charset("organization_id", raw)?;
        Ok(Self(raw.to_owned()))
    }
}

impl AsRef<str> for OrgId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for OrgId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What an entity id names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EntityKind {
    /// A running browser (`pbs_…`).
    BrowserSession,
    /// A task (`tsk_…`).
    Task,
    /// A workflow run (`wr_…`).
    WorkflowRun,
}

impl EntityKind {
    /// The id prefix of this kind.
    pub fn prefix(self) -> &'static str {
        match self {
            Self::BrowserSession => "pbs_",
            Self::Task => "tsk_",
            Self::WorkflowRun => "wr_",
        }
    }

    /// The stored and operator-facing name (`browser_session`, `task`, `workflow_run`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BrowserSession => "browser_session",
            Self::Task => "task",
            Self::WorkflowRun => "workflow_run",
        }
    }

    /// Parses the operator-facing name.
    pub fn parse(raw: &str) -> Result<Self, IdError> {
        match raw {
            "browser_session" => Ok(Self::BrowserSession),
            "task" => Ok(Self::Task),
            "workflow_run" => Ok(Self::WorkflowRun),
            _ => Err(IdError("unknown entity kind".into())),
        }
    }

    /// Statuses that count as live for this kind (spec §3.2–3.4).
    pub fn is_live_status(self, status: &str) -> bool {
        match self {
            // A session is live while its status is not final (completed, failed, timeout).
            Self::BrowserSession => !matches!(status, "completed" | "failed" | "timeout"),
            Self::Task => matches!(status, "created" | "queued" | "running"),
            Self::WorkflowRun => matches!(status, "created" | "queued" | "running" | "paused"),
        }
    }

    /// Every status an operator may set for this kind.
    pub fn known_statuses(self) -> &'static [&'static str] {
        match self {
            Self::BrowserSession => &[
                "created",
                "running",
                "failed",
                "completed",
                "timeout",
                "retry",
            ],
            Self::Task => &[
                "created",
                "queued",
                "running",
                "timed_out",
                "failed",
                "terminated",
                "completed",
                "canceled",
            ],
            Self::WorkflowRun => &[
                "created",
                "queued",
                "running",
                "failed",
                "terminated",
                "canceled",
                "timed_out",
                "completed",
                "paused",
            ],
        }
    }
}

/// An entity id whose prefix matches its kind.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EntityId(String);

impl EntityId {
    /// Parses an id of the given kind: the kind's prefix, then `[A-Za-z0-9_-]`, ≤ 128 chars.
    pub fn parse(kind: EntityKind, raw: &str) -> Result<Self, IdError> {
        let field = match kind {
            EntityKind::BrowserSession => "browser_session_id",
            EntityKind::Task => "task_id",
            EntityKind::WorkflowRun => "workflow_run_id",
        };
        check_charset(field, raw)?;
        if !raw.starts_with(kind.prefix()) || raw.len() == kind.prefix().len() {
            return Err(IdError(format!(
                "{field} must start with {}",
                kind.prefix()
            )));
        }
        Ok(Self(raw.to_owned()))
    }

    /// A fresh random id of the given kind.
    pub fn generate(kind: EntityKind) -> Self {
        Self(format!(
            "{}{}",
            kind.prefix(),
            uuid::Uuid::new_v4().simple()
        ))
    }
}

impl AsRef<str> for EntityId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EntityId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One entity, by kind and id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EntityRef {
    /// Its kind.
    pub kind: EntityKind,
    /// Its id, whose prefix matches the kind.
    pub id: EntityId,
}

impl EntityRef {
    /// Parses a kind name and an id together.
    pub fn parse(kind: EntityKind, id: &str) -> Result<Self, IdError> {
        Ok(Self {
            kind,
            id: EntityId::parse(kind, id)?,
        })
    }
}

/// What a stream ticket allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Watch and take control.
    Control,
    /// Watch only.
    View,
}

impl Scope {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Control => "control",
            Self::View => "view",
        }
    }

    /// Parses the stored name.
    pub fn parse(raw: &str) -> Result<Self, IdError> {
        match raw {
            "control" => Ok(Self::Control),
            "view" => Ok(Self::View),
            _ => Err(IdError("unknown scope".into())),
        }
    }
}

fn check_charset(field: &str, raw: &str) -> Result<(), IdError> {
    if raw.is_empty() {
        return Err(IdError(format!("{field} is empty")));
    }
    if raw.len() > MAX_ID_LEN {
        return Err(IdError(format!(
            "{field} is longer than {MAX_ID_LEN} characters"
        )));
    }
    if !raw
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(IdError(format!(
            "{field} has characters outside [A-Za-z0-9_-]"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entity_ids_need_the_prefix_of_their_kind() {
        assert!(EntityId::parse(EntityKind::BrowserSession, "pbs_abc").is_ok());
        assert!(EntityId::parse(EntityKind::Task, "tsk_abc").is_ok());
        assert!(EntityId::parse(EntityKind::WorkflowRun, "wr_abc").is_ok());
        assert!(EntityId::parse(EntityKind::Task, "pbs_abc").is_err());
        assert!(EntityId::parse(EntityKind::Task, "tsk_").is_err());
    }

    #[test]
    fn malformed_ids_are_refused_with_a_short_reason() {
        let long = format!("pbs_{}", "a".repeat(MAX_ID_LEN));
        for bad in ["", "pbs_a b", "pbs_é", "pbs_a;drop", long.as_str()] {
            let err = EntityId::parse(EntityKind::BrowserSession, bad).unwrap_err();
            assert!(err.0.starts_with("browser_session_id"), "{bad}: {err}");
        }
        assert!(OrgId::parse("").is_err());
        assert!(OrgId::parse("org_1-A").is_ok());
    }

    #[test]
    fn generated_ids_parse_as_their_kind() {
        for kind in [
            EntityKind::BrowserSession,
            EntityKind::Task,
            EntityKind::WorkflowRun,
        ] {
            let id = EntityId::generate(kind);
            assert_eq!(EntityId::parse(kind, id.as_ref()).unwrap(), id);
        }
    }

    #[test]
    fn live_statuses_follow_the_incumbent_sets() {
        assert!(EntityKind::Task.is_live_status("queued"));
        assert!(!EntityKind::Task.is_live_status("paused"));
        assert!(EntityKind::WorkflowRun.is_live_status("paused"));
        assert!(!EntityKind::BrowserSession.is_live_status("timeout"));
        assert!(!EntityKind::WorkflowRun.is_live_status("bogus"));
    }
}
