//! A websockify (`ws://`, `wss://`) upstream as a byte stream, read and written in the relay's
//! own task: binary messages in, bytes out; each write goes out as one binary message.
//!
//! Why not a bridge task with a pipe to the relay: that is a second task per socket, a wake of
//! it per chunk and another copy each way (through the pipe). Here a message's payload is
//! copied once, into the relay's read buffer; the library answers pings and the closing
//! handshake while it reads, and the relay's own bounds (its write timeouts, the close linger)
//! cover the last writes that a bridge had to outlive the relay for.
//!
//! Ending it ([`AsyncWrite::poll_shutdown`]) is not a bare Close frame: websockify drops the
//! client bytes it has read but not yet forwarded when a Close comes with them or just after
//! (its `do_proxy` raises on the Close before it writes its queue), which lost the key
//! releases of a viewer who left (tests/tests/gateway_real.rs). So the shutdown sends a Ping
//! after the last bytes, waits for its Pong (the server has read them), gives the server
//! [`FORWARD_GRACE`] to pass them on, then sends the Close. The caller bounds the whole.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes};
use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::WebSocketStream;

/// How long the server may take, after answering the shutdown's Ping, to forward what it read
/// before it.
pub const FORWARD_GRACE: Duration = Duration::from_millis(50);
/// The payload of the shutdown's Ping, to tell its Pong from others.
const SHUTDOWN_PING: &[u8] = b"browser-stream: end";

/// A WebSocket carrying RFB in binary messages, read and written as bytes.
pub struct WsBytes<S> {
    ws: WebSocketStream<S>,
    /// What the caller has not yet read of the last binary message.
    unread: Bytes,
    /// The server closed, or its stream ended: every further read is the end of stream.
    ended: bool,
    /// How far the shutdown has got.
    shutdown: Shutdown,
}

/// The steps of [`AsyncWrite::poll_shutdown`].
enum Shutdown {
    /// Not begun.
    Open,
    /// The Ping is queued; flushing it with everything before it.
    Flushing,
    /// Waiting for the Pong (what else the server sends is dropped: nobody reads any more).
    AwaitingPong,
    /// The server has read everything; giving it the time to forward it.
    Grace(Pin<Box<Sleep>>),
    /// Sending the Close.
    Closing,
}

impl<S> WsBytes<S> {
    /// Wraps a connected WebSocket (its handshake done).
    pub fn new(ws: WebSocketStream<S>) -> Self {
        Self {
            ws,
            unread: Bytes::new(),
            ended: false,
            shutdown: Shutdown::Open,
        }
    }
}

fn io_error(error: WsError) -> io::Error {
    match error {
        WsError::Io(error) => error,
        other => io::Error::other(other),
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for WsBytes<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        while this.unread.is_empty() {
            if this.ended {
                return Poll::Ready(Ok(()));
            }
            match ready!(this.ws.poll_next_unpin(cx)) {
                Some(Ok(Message::Binary(data))) => this.unread = data,
                Some(Ok(Message::Close(_))) | None => this.ended = true,
                // Text is not RFB; pings are answered by the library, pongs mean nothing here.
                Some(Ok(_)) => {}
                Some(Err(error)) => {
                    this.ended = true;
                    return Poll::Ready(Err(io_error(error)));
                }
            }
        }
        let n = this.unread.len().min(buf.remaining());
        buf.put_slice(&this.unread[..n]);
        this.unread.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for WsBytes<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        ready!(self.ws.poll_ready_unpin(cx)).map_err(io_error)?;
        // Client bytes are input: small, and only as many as the frontend sent.
        self.ws
            .start_send_unpin(Message::Binary(Bytes::copy_from_slice(buf)))
            .map_err(io_error)?;
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.ws.poll_flush_unpin(cx).map_err(io_error)
    }

    /// Ends the stream once the server has read (and had the time to forward) every byte
    /// written before; see the module doc. Call it after the last read.
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        loop {
            match &mut this.shutdown {
                Shutdown::Open if this.ended => this.shutdown = Shutdown::Closing,
                Shutdown::Open => {
                    ready!(this.ws.poll_ready_unpin(cx)).map_err(io_error)?;
                    this.ws
                        .start_send_unpin(Message::Ping(Bytes::from_static(SHUTDOWN_PING)))
                        .map_err(io_error)?;
                    this.shutdown = Shutdown::Flushing;
                }
                Shutdown::Flushing => {
                    ready!(this.ws.poll_flush_unpin(cx)).map_err(io_error)?;
                    this.shutdown = Shutdown::AwaitingPong;
                }
                Shutdown::AwaitingPong => match ready!(this.ws.poll_next_unpin(cx)) {
                    Some(Ok(Message::Pong(payload))) if payload == SHUTDOWN_PING => {
                        this.shutdown =
                            Shutdown::Grace(Box::pin(tokio::time::sleep(FORWARD_GRACE)));
                    }
                    Some(Ok(Message::Close(_))) | Some(Err(_)) | None => {
                        // The server ended first: nothing more will be forwarded.
                        this.ended = true;
                        this.shutdown = Shutdown::Closing;
                    }
                    Some(Ok(_)) => {}
                },
                Shutdown::Grace(sleep) => {
                    ready!(sleep.as_mut().poll(cx));
                    this.shutdown = Shutdown::Closing;
                }
                // The Close goes out without waiting for the server's.
                Shutdown::Closing => return this.ws.poll_close_unpin(cx).map_err(io_error),
            }
        }
    }
}

#[cfg(test)]
mod tests;
