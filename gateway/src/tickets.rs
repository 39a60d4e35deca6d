//! `POST /v1/stream/tickets` (PROTOCOL §2): an API key (header `x-api-key`) buys a 60 s,
//! single-use stream ticket bound to one entity and a scope, minted by verification, so the
//! long-lived key never appears in a stream URL. A viewer link's secret (header
//! `x-stream-link`, body ignored) buys one for the link's entity and scope, which the answer
//! names. Each client address has a budget of mints
//! and of failed authentications per minute ([`crate::edge_limits`]): over either, 429 with
//! `Retry-After`, before verification is asked.

use std::net::{IpAddr, SocketAddr};

use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::edge_limits::client_address;
use crate::entity::{EntityKind, MAX_ID_LEN};
use crate::state::AppState;
use crate::verify::{Credential, VerifyError};

#[derive(Deserialize)]
struct TicketBody {
    entity_kind: String,
    entity_id: String,
    scope: String,
}

pub(crate) fn json_error(status: StatusCode, message: &str) -> Response {
    (status, Json(serde_json::json!({ "error": message }))).into_response()
}

pub(crate) fn too_many(retry_after: u64, message: &str) -> Response {
    let mut response = json_error(StatusCode::TOO_MANY_REQUESTS, message);
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, retry_after.into());
    response
}

/// Checks what a ticket or link request names: the entity kind, its id, and `control` or
/// `view` in the field `field` (`scope`, `role`); answers the kind and whether it is view-only,
/// or the 400 answer's text.
pub(crate) fn target(
    entity_kind: &str,
    entity_id: &str,
    scope: &str,
    field: &str,
) -> Result<(EntityKind, bool), String> {
    let kind = EntityKind::parse(entity_kind)
        .ok_or("entity_kind must be browser_session, task or workflow_run")?;
    let view_only = match scope {
        "control" => false,
        "view" => true,
        _ => return Err(format!("{field} must be control or view")),
    };
    if entity_id.is_empty() || entity_id.len() > MAX_ID_LEN {
        return Err("entity_id must be 1 to 128 characters".into());
    }
    Ok((kind, view_only))
}

/// `POST /v1/stream/tickets` (PROTOCOL §2).
pub async fn create_ticket(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let client = client_address(peer.ip(), &headers, &state.config.trusted_proxies);
    if let Some(link) = headers
        .get("x-stream-link")
        .and_then(|v| v.to_str().ok())
        .filter(|k| !k.is_empty())
    {
        return ticket_from_link(&state, client, link).await;
    }
    let Some(key) = headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .filter(|k| !k.is_empty())
    else {
        return json_error(StatusCode::UNAUTHORIZED, "x-api-key required");
    };
    let Ok(body) = serde_json::from_slice::<TicketBody>(&body) else {
        return json_error(
            StatusCode::BAD_REQUEST,
            "body must be {entity_kind, entity_id, scope}",
        );
    };
    let (kind, view_only) = match target(&body.entity_kind, &body.entity_id, &body.scope, "scope") {
        Ok(target) => target,
        Err(message) => return json_error(StatusCode::BAD_REQUEST, &message),
    };
    let limits = &state.edge_limits;
    if !limits.may_authenticate(client) {
        return too_many(
            limits.auth_retry_after(client),
            "too many failed authentications",
        );
    }
    if let Err(retry_after) = limits.mint_ticket(client) {
        return too_many(retry_after, "too many tickets");
    }
    let credential = Credential::ApiKey(key.to_owned().into());
    let result = async {
        let identity = state.verifier.authenticate(&credential).await?;
        state
            .verifier
            .create_ticket(
                &identity.organization_id,
                kind,
                &body.entity_id,
                view_only,
                identity.revocable.as_deref(),
            )
            .await
    }
    .await;
    match result {
        Ok(ticket) => {
            let expires_at = crate::verify::links::rfc3339(ticket.expires_at);
            (
                StatusCode::CREATED,
                Json(serde_json::json!({ "ticket": ticket.ticket, "expires_at": expires_at })),
            )
                .into_response()
        }
        Err(VerifyError::Unauthenticated) => {
            limits.failed_authentication(client);
            json_error(StatusCode::UNAUTHORIZED, "invalid API key")
        }
        Err(VerifyError::NotFound) => json_error(StatusCode::NOT_FOUND, "entity not found"),
        Err(VerifyError::Invalid) => json_error(StatusCode::BAD_REQUEST, "invalid request"),
        Err(_) => json_error(StatusCode::SERVICE_UNAVAILABLE, "verification unavailable"),
    }
}

/// `POST /v1/stream/tickets` with `x-stream-link`: a ticket for the link's entity and scope.
async fn ticket_from_link(state: &AppState, client: IpAddr, secret: &str) -> Response {
    let limits = &state.edge_limits;
    if !limits.may_authenticate(client) {
        return too_many(
            limits.auth_retry_after(client),
            "too many failed authentications",
        );
    }
    if let Err(retry_after) = limits.mint_ticket(client) {
        return too_many(retry_after, "too many tickets");
    }
    let secret = SecretString::from(secret.to_owned());
    match state.verifier.ticket_from_link(&secret).await {
        Ok(minted) => {
            let (kind, id) = &minted.grant.entity;
            let scope = if minted.grant.view_only {
                "view"
            } else {
                "control"
            };
            (
                StatusCode::CREATED,
                Json(serde_json::json!({
                    "ticket": minted.ticket.expose_secret(),
                    "expires_at": minted.expires_at,
                    "entity_kind": kind.as_str(),
                    "entity_id": id,
                    "scope": scope,
                })),
            )
                .into_response()
        }
        Err(VerifyError::Unauthenticated) => {
            limits.failed_authentication(client);
            json_error(StatusCode::UNAUTHORIZED, "invalid, expired or revoked link")
        }
        Err(VerifyError::NotFound) => json_error(StatusCode::NOT_FOUND, "entity not found"),
        Err(VerifyError::Invalid) => json_error(StatusCode::BAD_REQUEST, "invalid request"),
        Err(_) => json_error(StatusCode::SERVICE_UNAVAILABLE, "verification unavailable"),
    }
}
