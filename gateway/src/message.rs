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
//! - [`ctx`]: what one socket's handlers share (a leaf: it imports none of its siblings).
//! - [`socket`]: the per-socket loop (frames, control watch, pair events, closes).
//! - [`handle`]: what each inbound kind does; control inline, operations spawned.
//! - [`ops`]: browser operations through the executor, and their error texts.
//! - [`exfiltration`]: user events from the executor as `exfiltrated-event`.
//! - [`handoff`]: `handoff-requested`/`handoff-ended` out, `handoff-complete` in.

pub mod ctx;
pub mod exfiltration;
pub mod handle;
pub mod handoff;
pub mod kinds;
pub mod ops;
pub mod outbox;
pub mod socket;

use crate::config::Config;
use crate::entity::{ChannelKind, EntityKind};
use crate::state::AppState;
use crate::stream::StreamRequest;
use crate::upgrade::StreamChannel;

/// The Message channel's upgrade (PROTOCOL §2).
pub struct MessageChannel;

impl StreamChannel for MessageChannel {
    const PATHS: &'static [(&'static str, EntityKind)] = &[
        (
            "/v1/stream/messages/browser_session/{id}",
            EntityKind::BrowserSession,
        ),
        ("/api/v1/stream/messages/task/{id}", EntityKind::Task),
        (
            "/api/v1/stream/messages/workflow_run/{id}",
            EntityKind::WorkflowRun,
        ),
    ];
    const PROTOCOLS: &'static [&'static str] = &[];

    /// The WebSocket layer's hard cap stays above the channel's 2 MiB cap, so a frame between
    /// the two gets an `error` reply (PROTOCOL §4) instead of ending the socket.
    fn max_message_size(config: &Config) -> usize {
        config.max_frame.max(kinds::MAX_TEXT_FRAME * 2)
    }

    async fn serve(state: AppState, socket: axum::extract::ws::WebSocket, request: StreamRequest) {
        crate::stream::serve(
            state,
            socket,
            request,
            ChannelKind::Message,
            |state, socket, _, auth| socket::run(state, socket, auth),
        )
        .await;
    }
}
