//! The axum router: the VNC stream paths of PROTOCOL §2, stream tickets, `/healthz`,
//! `/readyz`, `/metrics`, and the viewer page directory at `/`. Stream paths always complete
//! the upgrade and close with a reason; only a disallowed Origin is refused before it.

use std::collections::HashMap;
use std::future::Future;

use axum::body::Bytes;
use axum::extract::ws::WebSocket;
use axum::extract::{Path, RawQuery, State, WebSocketUpgrade};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use tower_http::services::ServeDir;
use tracing::Instrument;

use crate::close::CloseReason;
use crate::entity::{EntityKind, MAX_ID_LEN};
use crate::state::AppState;
use crate::stream::{close_with, StreamRequest};
use crate::verify::{Credential, VerifyError};

/// Every HTTP route of the gateway.
pub fn router(state: AppState) -> Router {
    let mut router = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/v1/stream/tickets", post(create_ticket))
        .merge(stream_routes(
            [
                (
                    "/v1/stream/vnc/browser_session/{id}",
                    EntityKind::BrowserSession,
                ),
                ("/api/v1/stream/vnc/task/{id}", EntityKind::Task),
                (
                    "/api/v1/stream/vnc/workflow_run/{id}",
                    EntityKind::WorkflowRun,
                ),
            ],
            vnc_upgrade,
        ))
        .merge(crate::message::routes());
    if state.config.web_root.is_dir() {
        router = router.fallback_service(ServeDir::new(&state.config.web_root));
    }
    router.with_state(state)
}

async fn readyz(State(state): State<AppState>) -> Response {
    if state.shutdown.is_cancelled() {
        return (StatusCode::SERVICE_UNAVAILABLE, "draining").into_response();
    }
    if !state.verifier.reachable().await {
        return (StatusCode::SERVICE_UNAVAILABLE, "verification unreachable").into_response();
    }
    (StatusCode::OK, "ready").into_response()
}

async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
        .into_response()
}

#[derive(Deserialize)]
struct TicketBody {
    entity_kind: String,
    entity_id: String,
    scope: String,
}

fn json_error(status: StatusCode, message: &str) -> Response {
    (status, Json(serde_json::json!({ "error": message }))).into_response()
}

/// `POST /v1/stream/tickets` (PROTOCOL §2).
async fn create_ticket(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
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
    let Some(kind) = EntityKind::parse(&body.entity_kind) else {
        return json_error(
            StatusCode::BAD_REQUEST,
            "entity_kind must be browser_session, task or workflow_run",
        );
    };
    let view_only = match body.scope.as_str() {
        "control" => false,
        "view" => true,
        _ => return json_error(StatusCode::BAD_REQUEST, "scope must be control or view"),
    };
    if body.entity_id.is_empty() || body.entity_id.len() > MAX_ID_LEN {
        return json_error(
            StatusCode::BAD_REQUEST,
            "entity_id must be 1 to 128 characters",
        );
    }
    let credential = Credential::ApiKey(key.to_owned().into());
    let result = async {
        let identity = state.verifier.authenticate(&credential).await?;
        state
            .verifier
            .create_ticket(&identity.organization_id, kind, &body.entity_id, view_only)
            .await
    }
    .await;
    match result {
        Ok(ticket) => {
            let expires_at = ticket
                .expires_at
                .and_then(|t| chrono::DateTime::from_timestamp(t.seconds, t.nanos.max(0) as u32))
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
            (
                StatusCode::CREATED,
                Json(serde_json::json!({ "ticket": ticket.ticket, "expires_at": expires_at })),
            )
                .into_response()
        }
        Err(VerifyError::Unauthenticated) => {
            json_error(StatusCode::UNAUTHORIZED, "invalid API key")
        }
        Err(VerifyError::NotFound) => json_error(StatusCode::NOT_FOUND, "entity not found"),
        Err(VerifyError::Invalid) => json_error(StatusCode::BAD_REQUEST, "invalid request"),
        Err(_) => json_error(StatusCode::SERVICE_UNAVAILABLE, "verification unavailable"),
    }
}

/// A channel's upgrade of one stream socket of an entity kind.
pub type Upgrade = fn(
    State<AppState>,
    EntityKind,
    Path<String>,
    RawQuery,
    HeaderMap,
    WebSocketUpgrade,
) -> Response;

/// A channel's stream routes (PROTOCOL §2), each path with the entity kind its id names.
pub fn stream_routes(
    routes: [(&'static str, EntityKind); 3],
    upgrade: Upgrade,
) -> Router<AppState> {
    routes
        .into_iter()
        .fold(Router::new(), |router, (path, kind)| {
            let handler = move |state: State<AppState>,
                                id: Path<String>,
                                query: RawQuery,
                                headers: HeaderMap,
                                ws: WebSocketUpgrade| async move {
                upgrade(state, kind, id, query, headers, ws)
            };
            router.route(path, get(handler))
        })
}

/// Whether the upgrade's Origin may open a stream socket (an absent Origin is a non-browser
/// client, which Origin checks cannot constrain anyway).
pub fn origin_allowed(allowed: &[String], headers: &HeaderMap) -> bool {
    if allowed.is_empty() {
        return true;
    }
    match headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        None => true,
        Some(origin) => allowed.iter().any(|a| a == origin || a == "*"),
    }
}

/// Builds the [`StreamRequest`] of an upgrade.
pub fn stream_request(
    kind: EntityKind,
    entity_id: String,
    query: Option<String>,
    headers: &HeaderMap,
) -> StreamRequest {
    let query: HashMap<String, String> =
        url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    StreamRequest {
        kind,
        entity_id,
        query,
        header_api_key: header("x-api-key"),
        user_agent: header("user-agent"),
    }
}

fn vnc_upgrade(
    state: State<AppState>,
    kind: EntityKind,
    id: Path<String>,
    query: RawQuery,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let max_message_size = state.config.max_frame;
    let channel = Channel {
        protocols: &["binary"],
        max_message_size,
        serve: crate::vnc::serve,
    };
    upgrade_stream(state, kind, id, query, headers, ws, channel)
}

/// The WebSocket read buffer of a stream socket. What a viewer sends is small (input events,
/// JSON requests); a larger message grows the buffer while it is read. The library's default
/// (128 KiB, allocated up front) would be most of an idle socket's memory.
const READ_BUFFER: usize = 8 * 1024;

/// What differs between the stream channels' upgrades: the WebSocket subprotocols offered,
/// the WebSocket layer's message cap, and the per-socket handler.
pub struct Channel<F> {
    /// Subprotocols the gateway accepts (the first one the client also offers is selected).
    pub protocols: &'static [&'static str],
    /// The WebSocket layer's hard cap on one message.
    pub max_message_size: usize,
    /// Serves one upgraded socket to its end.
    pub serve: F,
}

/// The upgrade shared by every stream path: refuse a disallowed Origin, then complete the
/// upgrade and either close at once (`rate-limited` without a socket permit, `draining`
/// during shutdown) or hand the socket to the channel's handler under the task tracker.
pub fn upgrade_stream<F, Fut>(
    State(state): State<AppState>,
    kind: EntityKind,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
    channel: Channel<F>,
) -> Response
where
    F: FnOnce(AppState, WebSocket, StreamRequest) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    if !origin_allowed(&state.config.allowed_origins, &headers) {
        state.metrics.close(CloseReason::OriginNotAllowed.as_str());
        return (StatusCode::FORBIDDEN, "origin not allowed").into_response();
    }
    let request = stream_request(kind, id, query, &headers);
    let permit = state.sockets.clone().try_acquire_owned().ok();
    let tracker = state.tracker.clone();
    let serve = channel.serve;
    ws.protocols(channel.protocols.iter().copied())
        .read_buffer_size(READ_BUFFER)
        .max_message_size(channel.max_message_size)
        .on_upgrade(move |socket| {
            tracker.track_future(
                async move {
                    let Some(_permit) = permit else {
                        return close_with(socket, CloseReason::RateLimited).await;
                    };
                    if state.shutdown.is_cancelled() {
                        return close_with(socket, CloseReason::Draining).await;
                    }
                    serve(state, socket, request).await;
                }
                .in_current_span(),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_checked_only_when_a_list_is_configured() {
        let mut headers = HeaderMap::new();
        headers.insert(header::ORIGIN, "https://evil.example".parse().unwrap());
        assert!(origin_allowed(&[], &headers));
        assert!(!origin_allowed(&["https://app.example".into()], &headers));
        headers.insert(header::ORIGIN, "https://app.example".parse().unwrap());
        assert!(origin_allowed(&["https://app.example".into()], &headers));
        assert!(origin_allowed(
            &["https://app.example".into()],
            &HeaderMap::new()
        ));
    }
}
