//! The CDP input channel (PROTOCOL §10, spec §9): JSON input events from a viewer of a
//! browser without a VNC server, dispatched by the executor on the active tab. The same
//! control model as the VNC channel: one controller per browser session across transports and
//! replicas (the socket registers on the [`crate::control::ControlBus`] and follows its
//! control state), input from anyone else dropped, everything held released when control
//! moves away, the blocked keys of PROTOCOL §3 dropped, the right button allowed (unless
//! `--cdp-block-right-button`).
//!
//! Refusals use the incumbent's codes ([`crate::close::CloseReason::for_cdp_input`]): 4404
//! unknown or finished entity, 4408 browser not reachable yet, 4410 no page; 4411
//! `dispatch_failed` when the executor fails mid-session.
//!
//! # Layout
//! - [`events`]: parsing and validation of what the client sends (pure).
//! - [`keys`]: blocked keys, clipboard shortcuts, held input (pure).
//! - [`dispatch`]: the executor's `DispatchInput` stream of one socket.
//! - [`socket`]: one socket's loop.

pub mod dispatch;
pub mod events;
pub mod keys;
pub mod socket;

use crate::config::Config;
use crate::entity::{ChannelKind, EntityKind};
use crate::state::AppState;
use crate::stream::StreamRequest;
use crate::upgrade::StreamChannel;

/// The WebSocket layer's cap on one message: above the channel's own cap
/// ([`socket::MAX_TEXT_FRAME`]), so an oversize frame is skipped rather than ending the socket.
const MAX_MESSAGE: usize = 1024 * 1024;

/// The CDP input channel's upgrade.
pub struct CdpInputChannel;

impl StreamChannel for CdpInputChannel {
    const PATHS: &'static [(&'static str, EntityKind)] = &[
        (
            "/v1/stream/cdp_input/browser_session/{id}",
            EntityKind::BrowserSession,
        ),
        (
            "/api/v1/stream/cdp_input/workflow_run/{id}",
            EntityKind::WorkflowRun,
        ),
        // Not in the incumbent (whose frontend has no CDP input for tasks): the same socket
        // for a task's browser session, as the Message channel has a task path.
        ("/api/v1/stream/cdp_input/task/{id}", EntityKind::Task),
    ];
    const PROTOCOLS: &'static [&'static str] = &[];

    fn max_message_size(_: &Config) -> usize {
        MAX_MESSAGE
    }

    async fn serve(state: AppState, socket: axum::extract::ws::WebSocket, request: StreamRequest) {
        crate::stream::serve(
            state,
            socket,
            request,
            ChannelKind::CdpInput,
            |state, socket, _, auth| socket::run(state, socket, auth),
        )
        .await;
    }
}
