//! One screencast socket after authorization: refuse with `use-vnc-streaming` when the
//! session should be watched over VNC, register as a viewer of the session, join its
//! screencast, then send frames until the viewer leaves, the entity ends (a final status
//! frame), the screencast ends (a `browser_unavailable` status frame: the viewer retries and
//! a fresh screencast starts), the socket is superseded or revoked, or the replica drains.
//!
//! Nothing from the client is read but its Close (and pings); a viewer that stops reading
//! holds at most its queue of frames plus what a send in progress holds, and one send that
//! takes longer than [`SEND_TIMEOUT`] closes the socket `slow-consumer`.

use std::time::{Duration, Instant};

use axum::extract::ws::{Message, WebSocket};
use futures::{SinkExt, StreamExt};

use super::{flag, frames};
use crate::close::CloseReason;
use crate::entity::{ChannelKind, EntityKind};
use crate::screencasts::Item;
use crate::state::AppState;
use crate::stream::{Authorized, StreamRequest};
use crate::verify::LiveSession;
use crate::vnc::address::{derive_vnc_url, parse_vnc_url};

/// Longest one frame may take to send before the viewer counts as gone.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(20);

/// The status sent when the screencast ended with the entity still live.
pub const BROWSER_UNAVAILABLE: &str = "browser_unavailable";

/// Whether the session can be watched over VNC.
pub fn has_vnc(session: &LiveSession) -> bool {
    parse_vnc_url(&session.vnc_url).is_some() || derive_vnc_url(&session.browser_address).is_some()
}

/// Whether this socket must be told to use VNC instead.
fn use_vnc(request: &StreamRequest, auth: &Authorized) -> bool {
    let asks = request.kind == EntityKind::BrowserSession || flag(request, "prefer_vnc");
    asks && !flag(request, "force_cdp") && has_vnc(&auth.session)
}

/// Streams an authorized socket to its end; returns the close reason sent.
pub async fn run(
    state: AppState,
    socket: WebSocket,
    request: StreamRequest,
    auth: Authorized,
) -> CloseReason {
    if use_vnc(&request, &auth) {
        Box::pin(crate::stream::close_with(
            socket,
            CloseReason::UseVncStreaming,
        ))
        .await;
        return CloseReason::UseVncStreaming;
    }
    let registration = match Box::pin(crate::stream::register(
        &state,
        &auth,
        ChannelKind::Screencast,
    ))
    .await
    {
        Ok(registration) => registration,
        Err(reason) => {
            Box::pin(crate::stream::close_with(socket, reason)).await;
            return reason;
        }
    };
    let liveness = state.liveness.watch(auth.key.entity.clone());
    let revocation = state.revocations.watch(auth.identity.revocable.as_deref());
    let mut subscription = state.screencasts.subscribe(&auth.session_key());
    let kind = auth.key.entity.kind;
    let id = auth.key.entity.id.clone();
    let entity_type = kind.as_str();
    let (mut sink, mut stream) = socket.split();

    let mut ping = service_kit::ticks::every(state.config.ping_interval);
    // What ends the socket, and the status frame (if any) it ends with.
    let (reason, last_status): (CloseReason, Option<String>) = loop {
        tokio::select! {
            () = state.shutdown.cancelled() => break (CloseReason::Draining, None),
            () = liveness.ended.cancelled() => {
                let status = Box::pin(state.verifier.final_status(&auth.key.entity)).await;
                break (CloseReason::EntityFinished, Some(status.unwrap_or_else(|| "completed".into())));
            }
            () = liveness.unverifiable.cancelled() => break (CloseReason::VerificationUnavailable, None),
            () = revocation.revoked.cancelled() => break (CloseReason::Revoked, None),
            () = registration.superseded.cancelled() => break (CloseReason::Superseded, None),
            frame = stream.next() => match frame {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break (CloseReason::ClientClosed, None),
                // Anything else from the client is ignored: this socket only sends.
                Some(Ok(_)) => {}
            },
            _ = ping.tick() => {
                if !matches!(tokio::time::timeout(SEND_TIMEOUT, sink.send(Message::Ping(Default::default()))).await, Ok(Ok(()))) {
                    break (CloseReason::SlowConsumer, None);
                }
            }
            item = subscription.next() => match item {
                Some(Item::Frame(frame, queued_at)) => {
                    let queued = queued_at.elapsed().as_secs_f64();
                    let text = frames::running(kind, &id, &frame);
                    let started = Instant::now();
                    match tokio::time::timeout(SEND_TIMEOUT, sink.send(Message::Text(text.into()))).await {
                        Ok(Ok(())) => state.metrics.screencast_frame_sent(
                            entity_type,
                            queued,
                            started.elapsed().as_secs_f64(),
                        ),
                        Ok(Err(_)) => break (CloseReason::ClientClosed, None),
                        Err(_) => break (CloseReason::SlowConsumer, None),
                    }
                }
                Some(Item::Ended) | None => break (CloseReason::UpstreamClosed, Some(BROWSER_UNAVAILABLE.into())),
            },
        }
    };
    drop(subscription);
    if reason != CloseReason::ClientClosed {
        if let Some(status) = last_status {
            let text = frames::status(kind, &id, &status);
            let sent = sink.send(Message::Text(text.into()));
            let _ = tokio::time::timeout(crate::linger::CLOSE_HANDSHAKE_TIMEOUT, sent).await;
        }
        crate::stream::close_split(&mut sink, &mut stream, reason).await;
    }
    drop(liveness);
    reason
}
