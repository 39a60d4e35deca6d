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
use axum::Router;

use crate::entity::{ChannelKind, EntityKind};
use crate::http::{stream_routes, upgrade_stream, Channel};
use crate::state::AppState;
use crate::stream::StreamRequest;

/// The Message routes of PROTOCOL §2 (merge into the gateway's router).
pub fn routes() -> Router<AppState> {
    stream_routes(
        [
            (
                "/v1/stream/messages/browser_session/{id}",
                EntityKind::BrowserSession,
            ),
            ("/api/v1/stream/messages/task/{id}", EntityKind::Task),
            (
                "/api/v1/stream/messages/workflow_run/{id}",
                EntityKind::WorkflowRun,
            ),
        ],
        upgrade,
    )
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
    crate::stream::serve(
        state,
        socket,
        request,
        ChannelKind::Message,
        |state, socket, _, auth| socket::run(state, socket, auth),
    )
    .await;
}
