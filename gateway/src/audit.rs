//! Audit events (PROTOCOL §9): who did what kind of thing to which browser session, and when
//! (the log timestamp); never the content (no text, URL or note). One shape for every event, on
//! the `audit` tracing target, so operators can route them apart from the other logs.

use crate::entity::SessionKey;

/// Records that `client_id` (a viewer; `None` for the gateway itself, e.g. a grace period that
/// ran out) did `action` on `session`; `source` says which channel or mechanism it came from.
pub fn record(action: &'static str, session: &SessionKey, client_id: Option<&str>, source: &str) {
    tracing::info!(
        target: "audit",
        action,
        source,
        organization.id = %session.organization_id,
        browser_session.id = %session.browser_session_id,
        client.id = client_id.unwrap_or(""),
        "audit"
    );
}

/// Records an action on an organization's resource that is not a browser session's control
/// (a viewer link), by its id; `source` is always `http`.
pub fn record_entity(action: &'static str, organization_id: &str, id: &str) {
    tracing::info!(
        target: "audit",
        action,
        source = "http",
        organization.id = %organization_id,
        resource.id = %id,
        "audit"
    );
}
