//! The relay's one writer: owns the frontend sink; sends queued upstream data, pings, checks
//! the pong and handshake deadlines (and on each ping tick lets an idle relay's spare read
//! buffers go), and sends the close frame with the recorded reason. Data already queued when
//! the writer wakes goes out in one flush (one write to the socket where the WebSocket
//! library's buffer holds it), so a frontend that fell behind catches up with fewer writes.

use bytes::Bytes;
use futures::{Sink, SinkExt};

use service_kit::sync::lock;

use super::buffers::SpareTrim;
use super::queue::QueueRx;
use super::{RelayConfig, RelayContext, Shared, WsFrame, CLOSE_SEND_TIMEOUT};
use crate::close::CloseReason;
use crate::vnc::filter::InputFilter;

pub(super) async fn run<F: InputFilter, Si>(
    mut sink: Si,
    mut queue: QueueRx,
    trim: SpareTrim,
    shared: &Shared<F>,
    config: &RelayConfig,
    ctx: &RelayContext,
) where
    Si: Sink<WsFrame> + Unpin,
{
    let token = ctx.close.token().clone();
    let mut ping = service_kit::ticks::every(config.ping_interval);
    let handshake_deadline = tokio::time::sleep(config.handshake_timeout);
    tokio::pin!(handshake_deadline);
    let mut handshake_checked = false;
    loop {
        tokio::select! {
            () = token.cancelled() => break,
            item = queue.recv() => {
                let Some(bytes) = item else { break };
                if !send_queued(&mut sink, bytes, &mut queue, ctx).await {
                    break;
                }
            }
            _ = ping.tick() => {
                trim.trim_if_idle();
                if lock(&shared.last_heard).elapsed() > config.pong_timeout {
                    ctx.close.close(CloseReason::Timeout);
                    break;
                }
                if !send(&mut sink, WsFrame::Ping(Bytes::from_static(b"bs")), ctx).await {
                    break;
                }
            }
            () = &mut handshake_deadline, if !handshake_checked => {
                handshake_checked = true;
                if !lock(&shared.filter).handshake_done() {
                    ctx.close.close(CloseReason::Timeout);
                    break;
                }
            }
        }
    }
    let reason = ctx.close.reason().unwrap_or(CloseReason::InternalError);
    let frame = WsFrame::Close(Some((reason.code(), reason.as_str().to_owned())));
    let _ = tokio::time::timeout(CLOSE_SEND_TIMEOUT, async {
        // The upstream ended or refused: what it said last (a refusal reason) still reaches
        // the viewer before the close frame.
        if matches!(
            reason,
            CloseReason::UpstreamClosed | CloseReason::UpstreamUnreachable
        ) {
            while let Some(bytes) = queue.try_recv() {
                if sink.send(WsFrame::Binary(bytes)).await.is_err() {
                    return;
                }
            }
        }
        let _ = sink.send(frame).await;
        let _ = sink.close().await;
    })
    .await;
}

/// Most bytes fed to the sink before one flush.
const BATCH_BYTES: usize = 256 * 1024;

/// Sends `first` and whatever else is queued by now (up to [`BATCH_BYTES`]) as binary frames
/// with one flush, unless the relay ends first; false when the writer must stop.
async fn send_queued<Si: Sink<WsFrame> + Unpin>(
    sink: &mut Si,
    first: Bytes,
    queue: &mut QueueRx,
    ctx: &RelayContext,
) -> bool {
    let batch = async {
        let mut fed = first.len();
        sink.feed(WsFrame::Binary(first)).await?;
        while fed < BATCH_BYTES {
            let Some(bytes) = queue.try_recv() else { break };
            fed += bytes.len();
            sink.feed(WsFrame::Binary(bytes)).await?;
        }
        sink.flush().await
    };
    tokio::select! {
        // As in `send`: a batch the sink takes at once still goes out when the relay ends.
        biased;
        result = batch => {
            if result.is_err() {
                ctx.close.close(CloseReason::ClientClosed);
            }
            result.is_ok()
        }
        () = ctx.close.token().cancelled() => false,
    }
}

/// Sends one frame unless the relay ends first; false when the writer must stop.
async fn send<Si: Sink<WsFrame> + Unpin>(
    sink: &mut Si,
    frame: WsFrame,
    ctx: &RelayContext,
) -> bool {
    tokio::select! {
        // A frame the sink takes at once goes out even when the relay is ending (the upstream's
        // last bytes before its close); only a frontend that makes us wait is abandoned.
        biased;
        result = sink.send(frame) => {
            if result.is_err() {
                ctx.close.close(CloseReason::ClientClosed);
            }
            result.is_ok()
        }
        () = ctx.close.token().cancelled() => false,
    }
}
