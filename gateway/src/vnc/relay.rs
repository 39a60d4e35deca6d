//! The VNC relay: one frontend WebSocket and one upstream byte stream, three pumps in one task
//! (no thread is woken to hand a chunk over, [`service_kit::join`]) under one cancellation
//! token. frontend→upstream runs every client byte through the [`InputFilter`];
//! upstream→frontend reads into reused buffers ([`buffers`]), feeds the handshake to the
//! filter, then passes bytes untouched into a queue bounded in bytes ([`queue`]); one writer
//! owns the WebSocket sink (data, pings, the close frame).
//! Whatever ends first records its [`CloseReason`] in the socket's [`CloseSlot`] and stops the
//! others.

use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::{Sink, Stream, StreamExt};
use service_kit::sync::lock;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, watch};

use self::buffers::ReadBuffers;
use super::filter::{Effect, FilterOutput, InputFilter};
use crate::close::{CloseReason, CloseSlot};
use crate::control::{ControlState, PairEvent};
use crate::entity::ClientId;
use crate::linger;
use crate::metrics::{Direction, Metrics};

/// One WebSocket frame, independent of the WebSocket library (axum in production, channels
/// in unit tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WsFrame {
    /// Binary data (RFB bytes).
    Binary(Bytes),
    /// Text: never valid on the VNC channel.
    Text(String),
    /// Ping with payload.
    Ping(Bytes),
    /// Pong with payload.
    Pong(Bytes),
    /// Close with an optional code and reason.
    Close(Option<(u16, String)>),
}

/// Timings and bounds of one relay.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// Ping the frontend this often.
    pub ping_interval: Duration,
    /// Close with `timeout` when no pong (or any frame) came for this long.
    pub pong_timeout: Duration,
    /// Close with `timeout` when the RFB handshake is not done by then.
    pub handshake_timeout: Duration,
    /// Upstream→frontend queue bound, in bytes of the memory its chunks hold ([`queue`]).
    pub outbound_bytes: usize,
}

/// How long the close frame (and the upstream's shutdown) may take to go out; the frontend
/// pump meanwhile waits for the client's Close within the same bound ([`crate::linger`]).
const CLOSE_SEND_TIMEOUT: Duration = crate::linger::CLOSE_HANDSHAKE_TIMEOUT;
/// How long the key and button releases of an ending socket may take to go upstream.
const RELEASE_TIMEOUT: Duration = Duration::from_secs(1);

/// What the relay needs besides its two sockets.
pub struct RelayContext {
    /// This socket's close decision and token.
    pub close: CloseSlot,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// The control state of the session; checked before every client message.
    pub control: watch::Receiver<ControlState>,
    /// This socket's client id.
    pub client_id: ClientId,
    /// A view-only socket never gets control.
    pub view_only: bool,
    /// Side effects go here (dropped with a log when full: the pump never waits for them).
    pub effects: mpsc::Sender<Effect>,
    /// Events from the paired Message socket (`client-info` platform).
    pub inbox: Option<mpsc::Receiver<PairEvent>>,
    /// Called when user input was forwarded (activity reporting); must not block.
    pub on_input: Box<dyn Fn() + Send + Sync>,
}

/// Shared between the pumps.
struct Shared<F> {
    filter: Mutex<F>,
    /// When the oldest input not yet followed by upstream bytes was forwarded.
    pending_input: Mutex<Option<Instant>>,
    /// When the frontend last sent anything (a pong or data).
    last_heard: Mutex<Instant>,
    /// Output the filter produced from server bytes (handshake fields the server's answer
    /// released, messages that came with ClientInit), for the frontend→upstream pump, which
    /// owns the upstream writer. Sent under the filter lock, so it is always older than any
    /// output the pump takes from the filter afterwards. Unbounded but small: only the
    /// handshake feeds it, and the handshake buffers are capped (`Limits`).
    from_server: mpsc::UnboundedSender<FilterOutput>,
}

/// Runs the relay until either side ends or the token is cancelled; returns the reason the
/// frontend was sent (first close wins).
pub async fn run<F, S, E, R, W>(
    frontend: S,
    upstream_read: R,
    upstream_write: W,
    filter: F,
    config: RelayConfig,
    mut ctx: RelayContext,
) -> CloseReason
where
    F: InputFilter,
    S: Stream<Item = Result<WsFrame, E>> + Sink<WsFrame> + Send + Unpin,
    E: std::fmt::Display,
    R: AsyncRead + Unpin + Send,
    W: AsyncWrite + Unpin + Send,
{
    let (from_server, server_out) = mpsc::unbounded_channel();
    let shared = Shared {
        filter: Mutex::new(filter),
        pending_input: Mutex::new(None),
        last_heard: Mutex::new(Instant::now()),
        from_server,
    };
    let (sink, stream) = frontend.split();
    let pumps = Pumps {
        inbox: ctx.inbox.take(),
        server_out,
    };
    let (out_tx, out_rx) = queue::channel(config.outbound_bytes);
    let buffers = ReadBuffers::new(config.outbound_bytes);
    let trim = buffers.trim();
    let to_upstream = pin!(frontend_to_upstream(
        stream,
        upstream_write,
        pumps,
        &shared,
        &ctx
    ));
    let to_frontend = pin!(upstream_to_frontend(
        upstream_read,
        buffers,
        out_tx,
        &shared,
        &ctx
    ));
    let writer = pin!(writer::run(sink, out_rx, trim, &shared, &config, &ctx));
    // Not `tokio::join!`: see `service_kit::join` for the thread wake-up per chunk it costs.
    service_kit::join::all([to_upstream, to_frontend, writer]).await;
    ctx.close.reason().unwrap_or(CloseReason::InternalError)
}

/// The inputs of the frontend→upstream pump besides the frontend itself.
struct Pumps {
    /// Events from the paired Message socket.
    inbox: Option<mpsc::Receiver<PairEvent>>,
    /// Output the filter produced from server bytes ([`Shared::from_server`]).
    server_out: mpsc::UnboundedReceiver<FilterOutput>,
}

async fn frontend_to_upstream<F, St, E, W>(
    mut stream: St,
    mut upstream: W,
    pumps: Pumps,
    shared: &Shared<F>,
    ctx: &RelayContext,
) where
    F: InputFilter,
    St: Stream<Item = Result<WsFrame, E>> + Unpin,
    E: std::fmt::Display,
    W: AsyncWrite + Unpin,
{
    let token = ctx.close.token().clone();
    let mut control = ctx.control.clone();
    // The initial state counts as a change, so the filter learns it before the first message.
    control.mark_changed();
    let mut control_open = true;
    let Pumps {
        mut inbox,
        mut server_out,
    } = pumps;
    // Whether the client ended its side (Close, end of stream, read error): then there is
    // nothing left to wait for when the relay closes.
    let mut client_done = false;
    loop {
        let mut out = FilterOutput::default();
        tokio::select! {
            // Control first: a change already made is applied before the next message.
            biased;
            () = token.cancelled() => break,
            Some(released) = server_out.recv() => out = released,
            changed = control.changed(), if control_open => {
                if changed.is_err() {
                    // The bus dropped the session state: nothing more to learn; keep the last.
                    control_open = false;
                    continue;
                }
                let in_control = control.borrow_and_update().may_drive(&ctx.client_id, ctx.view_only);
                ctx.metrics.control_transfer();
                let mut filter = lock(&shared.filter);
                take_older(&mut server_out, &mut out);
                filter.set_control(in_control, &mut out);
            }
            Some(event) = recv(&mut inbox) => {
                if let PairEvent::DeclaredPlatform(platform) = event {
                    lock(&shared.filter).set_platform(platform);
                }
            }
            frame = stream.next() => match frame {
                Some(Ok(frame)) => {
                    *lock(&shared.last_heard) = Instant::now();
                    client_done = matches!(frame, WsFrame::Close(_));
                    if let Err(reason) = on_frame(frame, shared, ctx, &mut server_out, &mut out) {
                        ctx.close.close(reason);
                        break;
                    }
                }
                Some(Err(error)) => {
                    tracing::debug!(error.message = %error, "frontend read failed");
                    client_done = true;
                    ctx.close.close(CloseReason::ClientClosed);
                    break;
                }
                None => {
                    client_done = true;
                    ctx.close.close(CloseReason::ClientClosed);
                    break;
                }
            },
        }
        if !forward(&mut upstream, out, shared, ctx).await {
            break;
        }
    }
    // While the writer sends the close frame: see `crate::linger` for why.
    let linger = async {
        if !client_done {
            let is_close = |frame: &WsFrame| matches!(frame, WsFrame::Close(_));
            linger::until_client_closes(&mut stream, is_close, linger::deadline()).await;
        }
    };
    tokio::join!(release_and_shutdown(upstream, shared), linger);
}

/// Releases upstream every key and button the client still holds (best effort, bounded),
/// then ends the upstream's write side.
async fn release_and_shutdown<F: InputFilter, W: AsyncWrite + Unpin>(
    mut upstream: W,
    shared: &Shared<F>,
) {
    let mut out = FilterOutput::default();
    lock(&shared.filter).release_all(&mut out);
    let _ = tokio::time::timeout(RELEASE_TIMEOUT, async {
        for chunk in &out.upstream {
            if upstream.write_all(chunk).await.is_err() {
                return;
            }
        }
        let _ = upstream.flush().await;
    })
    .await;
    let _ = tokio::time::timeout(CLOSE_SEND_TIMEOUT, upstream.shutdown()).await;
}

/// The next pair event, or never when there is no inbox (or it closed).
async fn recv(inbox: &mut Option<mpsc::Receiver<PairEvent>>) -> Option<PairEvent> {
    match inbox {
        Some(rx) => match rx.recv().await {
            Some(event) => Some(event),
            None => {
                *inbox = None;
                std::future::pending().await
            }
        },
        None => std::future::pending().await,
    }
}

/// Moves the output server bytes released so far into `out`, ahead of what the filter adds
/// next. Call it holding the filter lock: the server pump sends under that lock, so exactly
/// the older output is taken and the upstream sees client bytes in order.
fn take_older(server_out: &mut mpsc::UnboundedReceiver<FilterOutput>, out: &mut FilterOutput) {
    while let Ok(older) = server_out.try_recv() {
        out.upstream.extend(older.upstream);
        out.effects.extend(older.effects);
        out.input_forwarded |= older.input_forwarded;
    }
}

/// Handles one frontend frame; `Err` is the reason to close.
fn on_frame<F: InputFilter>(
    frame: WsFrame,
    shared: &Shared<F>,
    ctx: &RelayContext,
    server_out: &mut mpsc::UnboundedReceiver<FilterOutput>,
    out: &mut FilterOutput,
) -> Result<(), CloseReason> {
    match frame {
        WsFrame::Binary(bytes) => {
            ctx.metrics.bytes(Direction::FromFrontend, bytes.len());
            let mut filter = lock(&shared.filter);
            take_older(server_out, out);
            filter.on_client_bytes(&bytes, out).map_err(|error| {
                tracing::debug!(error.message = %error, "RFB stream rejected");
                error.close_reason()
            })
        }
        // RFB is binary only; a text frame means the peer is not a VNC client (decision:
        // close rather than ignore, as the incumbent did).
        WsFrame::Text(_) => Err(CloseReason::ProtocolError),
        WsFrame::Close(_) => Err(CloseReason::ClientClosed),
        WsFrame::Ping(_) | WsFrame::Pong(_) => Ok(()),
    }
}

/// Writes the filter's output upstream and dispatches its effects; false when the relay ends.
async fn forward<F, W: AsyncWrite + Unpin>(
    upstream: &mut W,
    out: FilterOutput,
    shared: &Shared<F>,
    ctx: &RelayContext,
) -> bool {
    for effect in out.effects {
        if let Err(error) = ctx.effects.try_send(effect) {
            tracing::warn!(error.message = %error, "side-effect queue full; effect dropped");
        }
    }
    if out.upstream.is_empty() {
        return true;
    }
    for chunk in &out.upstream {
        let write = async {
            upstream.write_all(chunk).await?;
            upstream.flush().await
        };
        tokio::select! {
            () = ctx.close.token().cancelled() => return false,
            result = write => if let Err(error) = result {
                tracing::debug!(error.message = %error, "upstream write failed");
                ctx.close.close(CloseReason::UpstreamClosed);
                return false;
            },
        }
        ctx.metrics.bytes(Direction::ToUpstream, chunk.len());
    }
    if out.input_forwarded {
        lock(&shared.pending_input).get_or_insert_with(Instant::now);
        (ctx.on_input)();
    }
    true
}

async fn upstream_to_frontend<F: InputFilter, R: AsyncRead + Unpin>(
    mut upstream: R,
    mut buffers: ReadBuffers,
    queue: queue::QueueTx,
    shared: &Shared<F>,
    ctx: &RelayContext,
) {
    let token = ctx.close.token().clone();
    loop {
        let buffer = buffers.for_read();
        let read = tokio::select! {
            // Once the relay ends, nothing more is read: the upstream's shutdown reads what
            // follows (a `ws://` upstream's Pong, `super::ws_bytes`).
            biased;
            () = token.cancelled() => return,
            read = upstream.read_buf(buffer) => read,
        };
        match read {
            Ok(0) => return ctx.close.close(CloseReason::UpstreamClosed),
            Ok(_) => {}
            Err(error) => {
                tracing::debug!(error.message = %error, "upstream read failed");
                return ctx.close.close(CloseReason::UpstreamClosed);
            }
        }
        let (chunk, held) = buffers.take_chunk();
        if let Some(since) = lock(&shared.pending_input).take() {
            ctx.metrics.input_to_screen(since.elapsed().as_secs_f64());
        }
        let failed = on_server_chunk(&chunk, shared);
        ctx.metrics.bytes(Direction::ToFrontend, chunk.len());
        // Never wait for a slow frontend: a full queue closes it, whole chunks only.
        // A failed handshake still shows the viewer what the server said (its refusal reason).
        if queue.push(chunk, held).is_err() {
            return ctx.close.close(CloseReason::SlowConsumer);
        }
        if let Some(reason) = failed {
            return ctx.close.close(reason);
        }
    }
}

/// Feeds a chunk of server bytes to the filter while the handshake runs; the close reason when
/// the handshake failed.
fn on_server_chunk<F: InputFilter>(chunk: &[u8], shared: &Shared<F>) -> Option<CloseReason> {
    let mut filter = lock(&shared.filter);
    if filter.handshake_done() {
        return None;
    }
    let mut out = FilterOutput::default();
    let result = filter.on_server_bytes(chunk, &mut out);
    if !out.is_empty() {
        // Under the filter lock: see `Shared::from_server`. The receiver lives as long as the
        // relay, so a failed send only means the relay is ending.
        let _ = shared.from_server.send(out);
    }
    result
        .map_err(|error| {
            tracing::debug!(error.message = %error, "RFB handshake failed");
            error.close_reason()
        })
        .err()
}

mod buffers;
mod queue;
mod writer;

#[cfg(test)]
mod tests;
