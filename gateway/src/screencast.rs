//! The screencast channel (PROTOCOL §10, spec §10): send-only sockets of JSON frames for
//! browsers without a VNC server, on the incumbent's paths. A socket is authorized like every
//! stream socket (a `client_id` is optional here, as in the incumbent), then joins the one
//! screencast of its browser session ([`crate::screencasts`]) and sends what its own queue
//! holds.
//!
//! `/v1/stream/browser_sessions/{id}` streams when `force_cdp=true` or the session has no VNC
//! address, and otherwise closes 4001 `use-vnc-streaming` (how a viewer learns to use VNC).
//! The task and workflow-run paths always stream (their browser session's screencast); with
//! `prefer_vnc=true` they follow the session path's rule instead.
//!
//! # Layout
//! - [`frames`]: the JSON frames (pure).
//! - [`socket`]: one socket's loop.

pub mod frames;
pub mod socket;

use crate::config::Config;
use crate::entity::{ChannelKind, EntityKind};
use crate::state::AppState;
use crate::stream::StreamRequest;
use crate::upgrade::StreamChannel;

/// Largest message a screencast client may send (it sends nothing the gateway reads).
const MAX_CLIENT_MESSAGE: usize = 64 * 1024;

/// The screencast channel's upgrade.
pub struct ScreencastChannel;

impl StreamChannel for ScreencastChannel {
    const PATHS: &'static [(&'static str, EntityKind)] = &[
        (
            "/v1/stream/browser_sessions/{id}",
            EntityKind::BrowserSession,
        ),
        ("/api/v1/stream/tasks/{id}", EntityKind::Task),
        ("/api/v1/stream/workflow_runs/{id}", EntityKind::WorkflowRun),
    ];
    const PROTOCOLS: &'static [&'static str] = &[];

    fn max_message_size(_: &Config) -> usize {
        MAX_CLIENT_MESSAGE
    }

    async fn serve(
        state: AppState,
        socket: axum::extract::ws::WebSocket,
        mut request: StreamRequest,
    ) {
        // The incumbent's screencast clients send no client_id: such a socket gets its own,
        // so it is still counted as a viewer of the session.
        request
            .query
            .entry("client_id".into())
            .or_insert_with(|| format!("screencast-{}", uuid::Uuid::new_v4().simple()));
        crate::stream::serve(state, socket, request, ChannelKind::Screencast, socket::run).await;
    }
}

/// Whether a query flag is set (`true` or `1`).
pub fn flag(request: &StreamRequest, name: &str) -> bool {
    matches!(
        request.query.get(name).map(String::as_str),
        Some("true" | "1")
    )
}
