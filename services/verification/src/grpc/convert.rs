//! Conversions between the wire types of `browserstream.verification.v1` and the domain.
//! Parsing here is where malformed input becomes INVALID_ARGUMENT.

use proto::verification::v1 as pb;

use crate::domain::{EntityKind, EntityRef, OrgId, Reason, Scope, SessionSnapshot, Verdict};
use crate::error::VerificationError;
use crate::service::Verification;
use crate::watch::{Ended, WatchKey};

/// An entity reference from the wire.
pub fn entity(entity: Option<&pb::EntityRef>) -> Result<EntityRef, VerificationError> {
    let entity = entity.ok_or_else(|| invalid("entity is required"))?;
    let kind = match pb::EntityKind::try_from(entity.kind) {
        Ok(pb::EntityKind::BrowserSession) => EntityKind::BrowserSession,
        Ok(pb::EntityKind::Task) => EntityKind::Task,
        Ok(pb::EntityKind::WorkflowRun) => EntityKind::WorkflowRun,
        _ => return Err(invalid("entity kind must be specified")),
    };
    Ok(EntityRef::parse(kind, &entity.id)?)
}

/// A watched entity from the wire.
pub fn watch_key(watched: Option<&pb::WatchedEntity>) -> Result<WatchKey, VerificationError> {
    let watched = watched.ok_or_else(|| invalid("change is required"))?;
    Ok(WatchKey {
        org: OrgId::parse(&watched.organization_id)?,
        entity: entity(watched.entity.as_ref())?,
    })
}

/// A scope from the wire.
pub fn scope(raw: i32) -> Result<Scope, VerificationError> {
    match pb::Scope::try_from(raw) {
        Ok(pb::Scope::Control) => Ok(Scope::Control),
        Ok(pb::Scope::View) => Ok(Scope::View),
        _ => Err(invalid("scope must be CONTROL or VIEW")),
    }
}

/// A domain entity reference on the wire.
pub fn entity_to_pb(entity: &EntityRef) -> pb::EntityRef {
    let kind = match entity.kind {
        EntityKind::BrowserSession => pb::EntityKind::BrowserSession,
        EntityKind::Task => pb::EntityKind::Task,
        EntityKind::WorkflowRun => pb::EntityKind::WorkflowRun,
    };
    pb::EntityRef {
        kind: kind as i32,
        id: entity.id.to_string(),
    }
}

/// A scope on the wire.
pub fn scope_to_pb(scope: Scope) -> pb::Scope {
    match scope {
        Scope::Control => pb::Scope::Control,
        Scope::View => pb::Scope::View,
    }
}

/// Epoch milliseconds as a protobuf timestamp.
pub fn timestamp(ms: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: ms.div_euclid(1000),
        nanos: i32::try_from(ms.rem_euclid(1000) * 1_000_000).unwrap_or(0),
    }
}

/// A verdict and its reason on the wire.
pub fn verdict(verdict: Verdict) -> (pb::Verdict, &'static str) {
    match verdict {
        Verdict::Live => (pb::Verdict::Live, ""),
        Verdict::NotLive(reason) => (pb::Verdict::NotLive, reason_str(reason)),
        Verdict::NotReady(reason) => (pb::Verdict::NotReady, reason_str(reason)),
    }
}

fn reason_str(reason: Reason) -> &'static str {
    reason.as_str()
}

/// A Verify answer on the wire.
pub fn verify_response(answer: Verification) -> pb::VerifyResponse {
    let (verdict, reason) = verdict(answer.verdict);
    pb::VerifyResponse {
        verdict: verdict as i32,
        reason: reason.into(),
        browser_session: answer.session.map(session),
        entity_status: answer.entity_status,
    }
}

/// A browser session row on the wire.
pub fn session(s: SessionSnapshot) -> pb::BrowserSession {
    pb::BrowserSession {
        id: s.id,
        organization_id: s.organization_id,
        status: s.status,
        vnc_url: s.vnc_url.unwrap_or_default(),
        cdp_url: s.cdp_url.unwrap_or_default(),
        browser_address: s.browser_address.unwrap_or_default(),
        runnable_id: s.runnable_id.unwrap_or_default(),
        started_at: s.started_at.map(timestamp),
        timeout_minutes: s
            .timeout_minutes
            .and_then(|m| i32::try_from(m).ok())
            .unwrap_or(0),
        last_activity_at: s.last_activity_at.map(timestamp),
    }
}

/// A watch event on the wire.
pub fn watch_event(ended: Ended) -> pb::WatchEvent {
    let (verdict, reason) = verdict(ended.verdict);
    pb::WatchEvent {
        entity: Some(pb::WatchedEntity {
            organization_id: ended.key.org.to_string(),
            entity: Some(entity_to_pb(&ended.key.entity)),
        }),
        verdict: verdict as i32,
        reason: reason.into(),
    }
}

fn invalid(message: &str) -> VerificationError {
    VerificationError::InvalidInput(message.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unspecified_kinds_and_scopes_are_invalid() {
        let unspecified = pb::EntityRef {
            kind: 0,
            id: "pbs_1".into(),
        };
        assert!(entity(Some(&unspecified)).is_err());
        assert!(entity(None).is_err());
        assert!(scope(0).is_err());
        assert!(scope(99).is_err());
        let ok = pb::EntityRef {
            kind: pb::EntityKind::Task as i32,
            id: "tsk_1".into(),
        };
        assert_eq!(entity(Some(&ok)).unwrap().kind, EntityKind::Task);
    }

    #[test]
    fn timestamps_keep_milliseconds() {
        let ts = timestamp(1_700_000_000_123);
        assert_eq!((ts.seconds, ts.nanos), (1_700_000_000, 123_000_000));
    }
}
