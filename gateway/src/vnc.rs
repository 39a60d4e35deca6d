//! The VNC channel: one socket task per viewer. Authorize (see [`crate::stream`]), register
//! the stream key, watch the entity, dial the upstream, then run the [`relay`] with the
//! [`rfb_filter::RfbFilter`] until something ends it; the reason is sent to the viewer.
//!
//! # Layout
//! - [`address`]: the session's upstream address (pure).
//! - [`dial`]: connecting inside the allow list (tcp, or ws/wss read as bytes).
//! - [`ws_bytes`]: a websockify upstream as a byte stream, in the relay's task.
//! - [`tls`]: the TLS client of `wss://` upstreams (system roots plus `--upstream-ca`).
//! - [`filter`]: the parse + decide interface of the relay.
//! - [`rfb_filter`]: that interface over `crate::rfb` and `crate::policy`.
//! - [`relay`]: the pumps.
//! - [`effects`]: copy / ask-for-clipboard, off the input pump.

pub mod address;
pub mod dial;
pub mod effects;
pub mod filter;
pub mod relay;
pub mod rfb_filter;
pub mod tls;
pub mod ws_bytes;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures::{future, Sink, SinkExt, Stream, StreamExt};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use self::address::resolve_upstream;
use self::filter::Effect;
use self::relay::{RelayConfig, RelayContext, WsFrame};
use self::rfb_filter::{InputRate, RfbFilter};
use crate::close::{CloseReason, CloseSlot};
use crate::config::Config;
use crate::control::PairEvent;
use crate::entity::{ChannelKind, EntityKind};
use crate::policy::Platform;
use crate::rfb::Limits;
use crate::state::AppState;
use crate::stream::{close_with, Authorized, StreamRequest};
use crate::upgrade::StreamChannel;

/// Side effects queued per socket before new ones are dropped.
const EFFECT_QUEUE: usize = 16;

/// The VNC channel's upgrade (PROTOCOL §2); noVNC asks for the `binary` subprotocol.
pub struct VncChannel;

impl StreamChannel for VncChannel {
    const PATHS: &'static [(&'static str, EntityKind)] = &[
        (
            "/v1/stream/vnc/browser_session/{id}",
            EntityKind::BrowserSession,
        ),
        ("/api/v1/stream/vnc/task/{id}", EntityKind::Task),
        (
            "/api/v1/stream/vnc/workflow_run/{id}",
            EntityKind::WorkflowRun,
        ),
    ];
    const PROTOCOLS: &'static [&'static str] = &["binary"];

    fn max_message_size(config: &Config) -> usize {
        config.max_frame
    }

    async fn serve(state: AppState, socket: WebSocket, request: StreamRequest) {
        crate::stream::serve(state, socket, request, ChannelKind::Vnc, stream).await;
    }
}

/// Streams an authorized socket. Takes its arguments by value so that `crate::stream::serve`
/// calls it directly, without a wrapping closure's future holding them a second time.
async fn stream(
    state: AppState,
    socket: WebSocket,
    request: StreamRequest,
    auth: Authorized,
) -> CloseReason {
    let (state, request) = (&state, &request);
    let span = tracing::Span::current();
    let Some(upstream) = resolve_upstream(&auth.session.vnc_url, &auth.session.browser_address)
    else {
        return Box::pin(fail(socket, CloseReason::BrowserNotReady)).await;
    };
    // The one-off phases (registration, dial, the pair announcement, a failure's close) are
    // boxed so that this long-lived future is only as large as the relay (`crate::stream`).
    let Ok(registration) = Box::pin(state.bus.register(
        auth.key.clone(),
        ChannelKind::Vnc,
        auth.session_key(),
    ))
    .await
    else {
        return Box::pin(fail(socket, CloseReason::BusUnavailable)).await;
    };
    let liveness = state.liveness.watch(auth.key.entity.clone());
    let revocation = state.revocations.watch(auth.identity.revocable.as_deref());
    let close = CloseSlot::new(CancellationToken::new());
    let io = match Box::pin(dial::dial(
        &upstream,
        &state.config.upstream_allow,
        state.config.connect_timeout,
        state.config.upstream_ca.as_ref(),
    ))
    .await
    {
        Ok(io) => io,
        Err(error) => {
            tracing::warn!(error.message = %error, "upstream not dialled");
            return Box::pin(fail(socket, CloseReason::UpstreamUnreachable)).await;
        }
    };
    let platform = Platform::from_user_agent(request.user_agent.as_deref().unwrap_or_default());
    // Announce this socket to its Message socket, which answers with the platform its
    // `client-info` declared (when that came first).
    let _ = Box::pin(state.bus.send_to_pair(
        &auth.key,
        ChannelKind::Message,
        PairEvent::VncConnected,
    ))
    .await;
    let filter = RfbFilter::new(
        state.policy.clone(),
        Limits::default(),
        platform,
        auth.view_only(),
        state.metrics.clone(),
        Some(InputRate {
            limits: state.org_limits.clone(),
            organization_id: auth.key.entity.organization_id.clone(),
        }),
    );
    let (effects_tx, effects_rx) = mpsc::channel::<Effect>(EFFECT_QUEUE);
    state.tracker.spawn(
        effects::run(state.clone(), auth.clone(), effects_rx, "vnc").instrument(span.clone()),
    );
    let activity = state.activity.clone();
    let (org, session_id) = (
        auth.key.entity.organization_id.clone(),
        auth.session.browser_session_id.clone(),
    );
    let ctx = RelayContext {
        close: close.clone(),
        metrics: state.metrics.clone(),
        control: registration.control.clone(),
        client_id: auth.key.client_id.clone(),
        view_only: auth.view_only(),
        effects: effects_tx,
        inbox: Some(registration.inbox),
        on_input: Box::new(move || activity.touch(&org, &session_id)),
    };
    let config = RelayConfig {
        ping_interval: state.config.ping_interval,
        pong_timeout: state.config.pong_timeout,
        handshake_timeout: state.config.handshake_timeout,
        outbound_bytes: state.config.outbound_queue_bytes,
    };
    let reasons = async {
        tokio::select! {
            () = close.token().cancelled() => {}
            () = state.shutdown.cancelled() => close.close(CloseReason::Draining),
            () = liveness.ended.cancelled() => close.close(CloseReason::EntityFinished),
            () = liveness.unverifiable.cancelled() => close.close(CloseReason::VerificationUnavailable),
            () = revocation.revoked.cancelled() => close.close(CloseReason::Revoked),
            () = registration.superseded.cancelled() => close.close(CloseReason::Superseded),
        }
    };
    let (read, write) = tokio::io::split(io);
    let (reason, ()) = tokio::join!(
        relay::run(adapt(socket), read, write, filter, config, ctx),
        reasons
    );
    drop(registration.superseded);
    drop(registration._guard);
    drop(liveness);
    reason
}

async fn fail(socket: WebSocket, reason: CloseReason) -> CloseReason {
    close_with(socket, reason).await;
    reason
}

/// The axum socket as a [`WsFrame`] stream and sink.
fn adapt(
    socket: WebSocket,
) -> impl Stream<Item = Result<WsFrame, axum::Error>> + Sink<WsFrame> + Send + Unpin {
    socket
        .with(|frame: WsFrame| future::ready(Ok::<_, axum::Error>(to_axum(frame))))
        .map(|message| message.map(from_axum))
}

fn to_axum(frame: WsFrame) -> Message {
    match frame {
        WsFrame::Binary(b) => Message::Binary(b),
        WsFrame::Text(t) => Message::Text(t.into()),
        WsFrame::Ping(b) => Message::Ping(b),
        WsFrame::Pong(b) => Message::Pong(b),
        WsFrame::Close(c) => Message::Close(c.map(|(code, reason)| CloseFrame {
            code,
            reason: reason.into(),
        })),
    }
}

fn from_axum(message: Message) -> WsFrame {
    match message {
        Message::Binary(b) => WsFrame::Binary(b),
        Message::Text(t) => WsFrame::Text(t.to_string()),
        Message::Ping(b) => WsFrame::Ping(b),
        Message::Pong(b) => WsFrame::Pong(b),
        Message::Close(c) => WsFrame::Close(c.map(|f| (f.code, f.reason.to_string()))),
    }
}
