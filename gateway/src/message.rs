//! The Message channel (PROTOCOL §2, §4, §5): JSON text frames between a viewer and the
//! gateway, paired with the viewer's VNC socket by stream key. It carries control
//! (`take-control`/`cede-control` → the [`crate::control::ControlBus`], `control-state` back),
//! the clipboard (the VNC side's copy/paste effects arrive as [`crate::control::PairEvent`]s;
//! pastes and on-demand copies go to the cdp-executor), and browser operations (executor gRPC).
//!
//! # Lifecycle of one socket
//! Authorize exactly as the VNC channel does ([`crate::stream::authorize`], without requiring
//! a VNC address), register under the stream key (a second Message socket of the same key
//! supersedes the first), watch the entity, then run one reader loop and one writer task
//! under one [`crate::close::CloseSlot`] until the viewer leaves, the entity ends, the socket is
//! superseded, the replica drains, or the viewer stops reading (`slow-consumer`).
//!
//! # Layout
//! - [`kinds`]: the wire enums and robust parsing (caps, `error` replies).
//! - [`outbox`]: the one bounded outbound queue and its writer.
//! - [`socket`]: the per-socket loop (frames, control watch, pair events, closes).
//! - [`handle`]: what each inbound kind does; control inline, operations spawned.
//! - [`ops`]: browser operations through the executor, and their error texts.
//! - [`exfiltration`]: user events from the executor as `exfiltrated-event`.

pub mod exfiltration;
pub mod handle;
pub mod kinds;
pub mod ops;
pub mod outbox;
pub mod socket;

use axum::extract::{Path, RawQuery, State, WebSocketUpgrade};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use tracing::Instrument;

use crate::entity::{ChannelKind, EntityKind};
use crate::http::{upgrade_stream, Channel};
use crate::state::AppState;
use crate::stream::{authorize, close_with, StreamRequest};

/// The Message routes of PROTOCOL §2 (merge into the gateway's router).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/stream/messages/browser_session/{id}",
            get(browser_session),
        )
        .route("/api/v1/stream/messages/task/{id}", get(task))
        .route(
            "/api/v1/stream/messages/workflow_run/{id}",
            get(workflow_run),
        )
}

async fn browser_session(
    state: State<AppState>,
    id: Path<String>,
    query: RawQuery,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    upgrade(state, EntityKind::BrowserSession, id, query, headers, ws)
}

async fn task(
    state: State<AppState>,
    id: Path<String>,
    query: RawQuery,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    upgrade(state, EntityKind::Task, id, query, headers, ws)
}

async fn workflow_run(
    state: State<AppState>,
    id: Path<String>,
    query: RawQuery,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    upgrade(state, EntityKind::WorkflowRun, id, query, headers, ws)
}

fn upgrade(
    state: State<AppState>,
    kind: EntityKind,
    id: Path<String>,
    query: RawQuery,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    // The WebSocket layer's hard cap stays above the channel's 2 MiB cap, so a frame between
    // the two gets an `error` reply (PROTOCOL §4) instead of ending the socket.
    let hard_cap = state.config.max_frame.max(kinds::MAX_TEXT_FRAME * 2);
    let channel = Channel {
        protocols: &[],
        max_message_size: hard_cap,
        serve,
    };
    upgrade_stream(state, kind, id, query, headers, ws, channel)
}

/// Serves one upgraded Message socket to its end.
pub async fn serve(state: AppState, socket: axum::extract::ws::WebSocket, request: StreamRequest) {
    let span = tracing::info_span!(
        "message",
        entity.kind = request.kind.as_str(),
        entity.id = %request.entity_id,
        client.id = tracing::field::Empty,
        organization.id = tracing::field::Empty,
        browser_session.id = tracing::field::Empty,
    );
    async move {
        let _gauge = state.metrics.socket_opened(ChannelKind::Message.as_str());
        let reason = match authorize(&state, &request, false).await {
            Ok(authorized) => socket::run(state.clone(), socket, authorized).await,
            Err(reason) => {
                close_with(socket, reason).await;
                reason
            }
        };
        state.metrics.close(reason.as_str());
        tracing::info!(close.reason = reason.as_str(), "message socket closed");
    }
    .instrument(span)
    .await;
}
