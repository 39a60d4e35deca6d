//! Viewer links (PROTOCOL §5): `POST /v1/stream/links {entity_kind, entity_id, role, ttl}`
//! (header `x-api-key`) answers `201 {url, link_id, expires_at}`, a viewer page URL whose
//! fragment carries the entity and a link secret (never an API key); the page exchanges the
//! secret for tickets (`POST /v1/stream/tickets`, header `x-stream-link`). `DELETE
//! /v1/stream/links/{link_id}` revokes it, and every socket opened through it closes with
//! 1008 `revoked` on every replica ([`crate::revocations`]). Links are stored by verification,
//! so any replica serves them.

use std::net::IpAddr;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use secrecy::ExposeSecret;
use serde::Deserialize;

use crate::edge_limits::client_address;
use crate::entity::{EntityKind, MAX_ID_LEN};
use crate::state::AppState;
use crate::tickets::{json_error, target, too_many};
use crate::verify::{Credential, Identity, VerifyError};

/// A link's lifetime when the request names none.
const DEFAULT_TTL: Duration = Duration::from_secs(3_600);

#[derive(Deserialize)]
struct LinkBody {
    entity_kind: String,
    entity_id: String,
    role: String,
    #[serde(default)]
    ttl: Option<u64>,
}

/// The viewer page's fragment key for an entity kind (`web/js/params.js`).
fn fragment_key(kind: EntityKind) -> &'static str {
    match kind {
        EntityKind::BrowserSession => "session",
        EntityKind::Task => "task",
        EntityKind::WorkflowRun => "workflow_run",
    }
}

/// Where the viewer page is: `--viewer-url`, else this request's own host over http.
fn viewer_base(state: &AppState, headers: &HeaderMap) -> Option<String> {
    if let Some(base) = &state.config.viewer_url {
        return Some(base.trim_end_matches('/').to_owned());
    }
    let host = headers.get(header::HOST)?.to_str().ok()?;
    let safe = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b));
    safe.then(|| format!("http://{host}"))
}

/// Authenticates the request's `x-api-key` within the address's budget of failures.
async fn api_key_identity(
    state: &AppState,
    client: IpAddr,
    headers: &HeaderMap,
) -> Result<Identity, Response> {
    let Some(key) = headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .filter(|k| !k.is_empty())
    else {
        return Err(json_error(StatusCode::UNAUTHORIZED, "x-api-key required"));
    };
    let limits = &state.edge_limits;
    if !limits.may_authenticate(client) {
        return Err(too_many(
            limits.auth_retry_after(client),
            "too many failed authentications",
        ));
    }
    match state
        .verifier
        .authenticate(&Credential::ApiKey(key.to_owned().into()))
        .await
    {
        Ok(identity) if identity.ticket.is_none() => Ok(identity),
        Ok(_) | Err(VerifyError::Unauthenticated) => {
            limits.failed_authentication(client);
            Err(json_error(StatusCode::UNAUTHORIZED, "invalid API key"))
        }
        Err(_) => Err(json_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "verification unavailable",
        )),
    }
}

/// `POST /v1/stream/links`.
pub async fn create_link(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let client = client_address(peer.ip(), &headers, &state.config.trusted_proxies);
    let Ok(body) = serde_json::from_slice::<LinkBody>(&body) else {
        return json_error(
            StatusCode::BAD_REQUEST,
            "body must be {entity_kind, entity_id, role, ttl}",
        );
    };
    let (kind, view_only) = match target(&body.entity_kind, &body.entity_id, &body.role, "role") {
        Ok(target) => target,
        Err(message) => return json_error(StatusCode::BAD_REQUEST, &message),
    };
    let ttl = body.ttl.map_or(DEFAULT_TTL, Duration::from_secs);
    let Some(base) = viewer_base(&state, &headers) else {
        return json_error(StatusCode::BAD_REQUEST, "a Host header is required");
    };
    let identity = match api_key_identity(&state, client, &headers).await {
        Ok(identity) => identity,
        Err(response) => return response,
    };
    let minted = state
        .verifier
        .create_link(
            &identity.organization_id,
            kind,
            &body.entity_id,
            view_only,
            ttl,
        )
        .await;
    match minted {
        Ok(link) => {
            let entity: String =
                url::form_urlencoded::byte_serialize(body.entity_id.as_bytes()).collect();
            let url = format!(
                "{base}/#{}={entity}&link={}",
                fragment_key(kind),
                link.secret.expose_secret()
            );
            crate::audit::record_entity("link-created", &identity.organization_id, &body.entity_id);
            (
                StatusCode::CREATED,
                Json(serde_json::json!({
                    "url": url,
                    "link_id": link.link_id,
                    "expires_at": link.expires_at,
                })),
            )
                .into_response()
        }
        Err(VerifyError::NotFound) => json_error(StatusCode::NOT_FOUND, "entity not found"),
        Err(VerifyError::Invalid) => json_error(
            StatusCode::BAD_REQUEST,
            "ttl must be 1 s to 7 days (604800)",
        ),
        Err(_) => json_error(StatusCode::SERVICE_UNAVAILABLE, "verification unavailable"),
    }
}

/// `DELETE /v1/stream/links/{link_id}`.
pub async fn revoke_link(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    Path(link_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let client = client_address(peer.ip(), &headers, &state.config.trusted_proxies);
    if link_id.is_empty() || link_id.len() > MAX_ID_LEN {
        return json_error(StatusCode::NOT_FOUND, "link not found");
    }
    let identity = match api_key_identity(&state, client, &headers).await {
        Ok(identity) => identity,
        Err(response) => return response,
    };
    match state
        .verifier
        .revoke_link(&identity.organization_id, &link_id)
        .await
    {
        Ok(()) => {
            crate::audit::record_entity("link-revoked", &identity.organization_id, &link_id);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(VerifyError::NotFound | VerifyError::Invalid) => {
            json_error(StatusCode::NOT_FOUND, "link not found")
        }
        Err(_) => json_error(StatusCode::SERVICE_UNAVAILABLE, "verification unavailable"),
    }
}
