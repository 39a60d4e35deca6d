//! What each inbound kind and each event from the paired VNC socket does. Control and pairing
//! are handled inline, in arrival order (fast: one bus call); browser operations are spawned,
//! bounded by the socket's semaphore, so a slow screenshot never delays `take-control`.

use std::sync::Arc;

use service_kit::sync::lock;

use super::ctx::Ctx;
use super::kinds::{Inbound, Interactor, Outbound};
use super::{exfiltration, handoff, ops};
use crate::close::CloseReason;
use crate::control::PairEvent;
use crate::entity::ChannelKind;
use crate::policy::Platform;

/// Error text for a kind a `view` socket may not send.
pub const VIEW_ONLY: &str = "view only";

/// Error text for a kind that needs the client to hold control.
pub const CONTROL_REQUIRED: &str = "control required";

/// Handles one parsed inbound message: the scope and control gates first, for every kind.
pub async fn inbound(ctx: &Arc<Ctx>, message: Inbound) {
    let kind = message.name();
    if ctx.auth.view_only() && !message.allowed_for_view() {
        ctx.outbox
            .send(Outbound::error(Some(kind), VIEW_ONLY))
            .await;
        if matches!(message, Inbound::TakeControl) {
            // The incumbent frontend shows who drives from `control-state` only.
            ctx.outbox
                .send(Outbound::ControlState {
                    interactor: Interactor::Agent,
                    reason: Some("view-only".into()),
                })
                .await;
        }
        return;
    }
    if message.needs_control() && !ctx.in_control() {
        ctx.outbox
            .send(Outbound::error(Some(kind), CONTROL_REQUIRED))
            .await;
        return;
    }
    match message {
        Inbound::TakeControl => take_control(ctx).await,
        Inbound::CedeControl => cede_control(ctx).await,
        Inbound::ClientInfo { platform } => client_info(ctx, &platform).await,
        Inbound::BeginExfiltration { .. } => exfiltration::begin(ctx).await,
        Inbound::EndExfiltration => ctx.stop_user_events(),
        Inbound::RecordingCapturePause => ctx.pause_user_events(true),
        Inbound::RecordingCaptureResume => ctx.pause_user_events(false),
        // The executor's stream re-arms itself on navigations and new tabs.
        Inbound::RecordingRearmCapture => {}
        Inbound::HandoffComplete {
            handoff_id,
            success,
            note,
        } => handoff::complete(ctx, &handoff_id, success, note).await,
        operation => spawn_operation(ctx, operation).await,
    }
}

async fn take_control(ctx: &Arc<Ctx>) {
    let session = ctx.auth.session_key();
    match ctx
        .state
        .bus
        .take_control(&session, &ctx.auth.key.client_id)
        .await
    {
        // Every Message socket of the session (this one included) learns it through its watch.
        Ok(state) => {
            ctx.audit("take-control");
            handoff::accept(ctx, &state).await;
        }
        Err(error) => {
            tracing::warn!(error.message = %error, "take-control not applied");
            ctx.close.close(CloseReason::BusUnavailable);
        }
    }
}

async fn cede_control(ctx: &Arc<Ctx>) {
    let session = ctx.auth.session_key();
    match ctx
        .state
        .bus
        .cede_control(&session, &ctx.auth.key.client_id)
        .await
    {
        Ok(_) => ctx.audit("cede-control"),
        Err(error) => {
            tracing::warn!(error.message = %error, "cede-control not applied");
            ctx.close.close(CloseReason::BusUnavailable);
        }
    }
}

/// `client-info`: remember the platform and tell the paired VNC socket (its policy treats
/// Alt_L as Cmd on a mac). A VNC socket that connects later announces itself with
/// [`PairEvent::VncConnected`] and gets the declared platform then (see [`pair_event`]).
async fn client_info(ctx: &Arc<Ctx>, platform: &str) {
    let Some(platform) = Platform::parse(platform) else {
        ctx.outbox
            .send(Outbound::error(
                Some("client-info"),
                "platform must be mac, windows, linux or other",
            ))
            .await;
        return;
    };
    *lock(&ctx.platform) = Some(platform);
    send_platform(ctx, platform).await;
}

async fn send_platform(ctx: &Arc<Ctx>, platform: Platform) {
    let event = PairEvent::DeclaredPlatform(platform);
    if let Err(error) = ctx
        .state
        .bus
        .send_to_pair(&ctx.auth.key, ChannelKind::Vnc, event)
        .await
    {
        tracing::warn!(error.message = %error, "platform not delivered to the VNC socket");
    }
}

/// An event from the paired VNC socket, or one a VNC-side effect sent.
pub async fn pair_event(ctx: &Arc<Ctx>, event: PairEvent) {
    match event {
        // Never to a view socket (its key never pairs with a control socket's, so this only
        // guards against a future sender).
        PairEvent::CopiedText(_) if ctx.auth.view_only() => {}
        PairEvent::CopiedText(text) => {
            ctx.state
                .metrics
                .clipboard("copy", Some("to_viewer"), text.len());
            ctx.outbox.send(Outbound::CopiedText { text }).await;
        }
        PairEvent::AskForClipboard => {
            ctx.state.metrics.clipboard("ask", None, 0);
            ctx.outbox.send(Outbound::AskForClipboard).await;
        }
        // The VNC socket connected: give it the platform this viewer declared, which wins over
        // its User-Agent guess.
        PairEvent::VncConnected => {
            let declared = *lock(&ctx.platform);
            if let Some(platform) = declared {
                send_platform(ctx, platform).await;
            }
        }
        // Addressed to VNC sockets only; a Message socket has nothing to apply it to.
        PairEvent::DeclaredPlatform(_) => {}
    }
}

async fn spawn_operation(ctx: &Arc<Ctx>, operation: Inbound) {
    let kind = operation.name();
    let Ok(permit) = ctx.ops.clone().try_acquire_owned() else {
        ctx.outbox
            .send(Outbound::error(
                Some(kind),
                "Too many operations in progress; try again.",
            ))
            .await;
        return;
    };
    let ctx = Arc::clone(ctx);
    let token = ctx.close.token().clone();
    let span = tracing::info_span!("message.operation", message.kind = kind);
    ctx.state
        .tracker
        .clone()
        .spawn(tracing::Instrument::instrument(
            async move {
                let _permit = permit;
                tokio::select! {
                    () = token.cancelled() => {}
                    reply = ops::run(&ctx, operation) => if let Some(reply) = reply {
                        ctx.outbox.send(reply).await;
                    },
                }
            },
            span,
        ));
}
