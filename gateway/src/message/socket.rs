//! One Message socket after authorization: register under the stream key, then one loop that
//! reads frames, follows the session's control state and takes events from the paired VNC
//! socket, beside one writer task ([`super::outbox::run_writer`]). The first close wins; on any
//! end the socket's operations and user-event stream stop with it.

use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::ws::{Message, WebSocket};
use futures::stream::SplitStream;
use futures::StreamExt;
use service_kit::sync::lock;
use tokio::sync::{watch, Semaphore};
use tokio_util::sync::CancellationToken;

use super::ctx::{Ctx, MAX_CONCURRENT_OPS};
use super::handle;
use super::handoff::Shown;
use super::kinds;
use super::outbox::{run_writer, Bounds, Keepalive, Outbox};
use crate::close::{CloseReason, CloseSlot};
use crate::control::{ControlState, Registration};
use crate::entity::ChannelKind;
use crate::linger;
use crate::state::AppState;
use crate::stream::Authorized;

/// Streams an authorized socket to its end; returns the close reason sent.
pub async fn run(state: AppState, socket: WebSocket, auth: Authorized) -> CloseReason {
    // One-off phases and handlers are boxed so that this long-lived future stays as small as
    // its idle read loop (`crate::stream`).
    let registration =
        match Box::pin(crate::stream::register(&state, &auth, ChannelKind::Message)).await {
            Ok(registration) => registration,
            Err(reason) => {
                Box::pin(crate::stream::close_with(socket, reason)).await;
                return reason;
            }
        };
    // The guard deregisters when this function returns (only this socket, never a successor).
    let Registration {
        superseded,
        inbox,
        control,
        _guard,
    } = registration;
    let liveness = state.liveness.watch(auth.key.entity.clone());
    let revocation = state.revocations.watch(auth.identity.revocable.as_deref());
    let close = CloseSlot::new(CancellationToken::new());
    let bounds = Bounds {
        messages: state.config.outbound_queue,
        bytes: state.config.outbound_queue_bytes,
    };
    let (outbox, queue) = Outbox::new(bounds, state.config.pong_timeout, close.clone());
    let outbox = outbox.counting_drops_in(state.metrics.clone());
    let (sink, stream) = socket.split();
    let last_heard = Arc::new(Mutex::new(Instant::now()));
    let keepalive = Keepalive {
        ping_interval: state.config.ping_interval,
        pong_timeout: state.config.pong_timeout,
    };
    let ctx = Arc::new(Ctx {
        state: state.clone(),
        auth,
        outbox,
        close: close.clone(),
        control: control.clone(),
        ops: Arc::new(Semaphore::new(MAX_CONCURRENT_OPS)),
        platform: Mutex::new(None),
        exfiltration: Mutex::new(None),
    });
    let ends = async {
        tokio::select! {
            () = close.token().cancelled() => {}
            () = state.shutdown.cancelled() => close.close(CloseReason::Draining),
            () = liveness.ended.cancelled() => close.close(CloseReason::EntityFinished),
            () = liveness.unverifiable.cancelled() => close.close(CloseReason::VerificationUnavailable),
            () = revocation.revoked.cancelled() => close.close(CloseReason::Revoked),
            () = superseded.cancelled() => close.close(CloseReason::Superseded),
        }
    };
    let writer = run_writer(sink, queue, close.clone(), keepalive, last_heard.clone());
    let reader = async {
        let open = read_loop(&ctx, stream, inbox, control, &last_heard).await;
        // While the writer sends the close frame: see `crate::linger` for why.
        if let Some(mut stream) = open {
            let is_close = |m: &Message| matches!(m, Message::Close(_));
            linger::until_client_closes(&mut stream, is_close, linger::deadline()).await;
        }
    };
    // Not `tokio::join!`: a reply queued by the reader wakes the writer within this task.
    service_kit::join::all([pin!(reader), pin!(writer), pin!(ends)]).await;
    ctx.stop_user_events();
    drop(liveness);
    close.reason().unwrap_or(CloseReason::InternalError)
}

/// Frames, control changes and pair events, one at a time, until the socket's token fires
/// (returns the stream, whose client has not closed yet) or the client ends it (`None`).
async fn read_loop(
    ctx: &Arc<Ctx>,
    mut stream: SplitStream<WebSocket>,
    mut inbox: tokio::sync::mpsc::Receiver<crate::control::PairEvent>,
    mut control: watch::Receiver<ControlState>,
    last_heard: &Mutex<Instant>,
) -> Option<SplitStream<WebSocket>> {
    let token = ctx.close.token().clone();
    // `control-state` on connect, before any frame is read (so it always precedes the answer
    // to this socket's own first take-control); later changes come through the watch.
    let mut shown = Shown::default();
    let first = control.borrow_and_update().clone();
    ctx.outbox.send(ctx.control_state(&first)).await;
    for notice in shown.notices(&first) {
        ctx.outbox.send(notice).await;
    }
    // A handoff change alone is not a change of control: no `control-state` for it.
    let mut last_control = (first.generation, first.holder.clone());
    let mut control_open = true;
    let mut inbox_open = true;
    loop {
        tokio::select! {
            // Control changes and pair events already queued go out before the next frame is
            // read, so a viewer's request never overtakes what happened before it.
            biased;
            () = token.cancelled() => return Some(stream),
            changed = control.changed(), if control_open => {
                if changed.is_err() {
                    control_open = false;
                    continue;
                }
                let state = control.borrow_and_update().clone();
                if !ctx.auth.may_drive(&state) {
                    // The user-event stream records the controlling user only.
                    ctx.stop_user_events();
                }
                let now = (state.generation, state.holder.clone());
                if now != last_control {
                    last_control = now;
                    ctx.outbox.send(ctx.control_state(&state)).await;
                }
                for notice in shown.notices(&state) {
                    ctx.outbox.send(notice).await;
                }
            }
            event = inbox.recv(), if inbox_open => match event {
                Some(event) => Box::pin(handle::pair_event(ctx, event)).await,
                None => inbox_open = false,
            },
            frame = stream.next() => {
                *lock(last_heard) = Instant::now();
                let data = matches!(frame, Some(Ok(Message::Text(_) | Message::Binary(_))));
                if data && !ctx.state.org_limits.message_frame(&ctx.auth.key.entity.organization_id) {
                    ctx.outbox.send(kinds::Outbound::error(None, "rate-limited")).await;
                    continue;
                }
                match frame {
                    Some(Ok(Message::Text(text))) => match kinds::parse(&text) {
                        Ok(message) => Box::pin(handle::inbound(ctx, message)).await,
                        Err(rejected) => {
                            ctx.outbox.send(rejected.reply()).await;
                        }
                    },
                    Some(Ok(Message::Binary(_))) => {
                        ctx.outbox.send(kinds::binary_rejected().reply()).await;
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                    Some(Ok(Message::Close(_))) | None => {
                        ctx.close.close(CloseReason::ClientClosed);
                        return None;
                    }
                    Some(Err(error)) => {
                        tracing::debug!(error.message = %error, "message socket read failed");
                        ctx.close.close(CloseReason::ClientClosed);
                        return None;
                    }
                }
            }
        }
    }
}
