//! The benchmark's RFB client, over raw TCP (the direct baseline) or over WebSocket (as noVNC
//! speaks it: subprotocol `binary`, one binary frame per client message). It measures one
//! input→update round trip and the time to receive a given amount of framebuffer updates.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::server::{HEIGHT, WIDTH};

/// Bound on any single wait of the client (only bounds a hang).
pub const WAIT: Duration = Duration::from_secs(30);
/// Largest rectangle the client accepts, in bytes of pixels (a peer-controlled length).
const MAX_RECT: usize = 64 * 1024 * 1024;

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How the client reaches the server.
enum Transport {
    Tcp(TcpStream),
    Ws(Box<Ws>),
}

/// A client kept answered in its own task; see [`RfbClient::keep_answered`].
pub struct Answered {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<anyhow::Result<RfbClient>>,
}

impl Answered {
    /// Stops the task and gives the client back, or the error its socket had meanwhile.
    pub async fn take(self) -> anyhow::Result<RfbClient> {
        let _ = self.stop.send(());
        self.task.await.context("the answering task failed")?
    }
}

/// A connected RFB client.
pub struct RfbClient {
    transport: Transport,
    buf: Vec<u8>,
    pos: usize,
    scratch: Box<[u8]>,
    pointer_x: u16,
}

impl RfbClient {
    /// Connects over raw TCP.
    pub async fn tcp(addr: SocketAddr) -> anyhow::Result<Self> {
        let stream = tokio::time::timeout(WAIT, TcpStream::connect(addr))
            .await
            .context("connect timed out")??;
        stream.set_nodelay(true)?;
        Ok(Self::new(Transport::Tcp(stream)))
    }

    /// Connects over WebSocket to `url`, asking for the `binary` subprotocol as noVNC does.
    pub async fn ws(url: &str) -> anyhow::Result<Self> {
        let mut request = url.into_client_request()?;
        request
            .headers_mut()
            .insert("sec-websocket-protocol", "binary".parse()?);
        let connect = tokio_tungstenite::connect_async_with_config(request, None, true);
        let (ws, _) = tokio::time::timeout(WAIT, connect)
            .await
            .context("upgrade timed out")??;
        Ok(Self::new(Transport::Ws(Box::new(ws))))
    }

    fn new(transport: Transport) -> Self {
        Self {
            transport,
            buf: Vec::new(),
            pos: 0,
            scratch: vec![0; 256 * 1024].into_boxed_slice(),
            pointer_x: 0,
        }
    }

    /// The RFB 3.8 handshake with security None, then SetEncodings [raw].
    pub async fn handshake(&mut self) -> anyhow::Result<()> {
        let version = self.read_exact(12).await?;
        ensure!(version.starts_with(b"RFB "), "not an RFB server");
        self.send(b"RFB 003.008\n").await?;
        let count = usize::from(self.read_exact(1).await?[0]);
        ensure!(
            self.read_exact(count).await?.contains(&1),
            "no security None"
        );
        self.send(&[1]).await?;
        ensure!(self.read_exact(4).await? == [0, 0, 0, 0], "security failed");
        self.send(&[1]).await?; // ClientInit, shared
        let init = self.read_exact(24).await?;
        ensure!(
            init[..4] == [WIDTH.to_be_bytes(), HEIGHT.to_be_bytes()].concat(),
            "unexpected framebuffer size"
        );
        let name_len = u32::from_be_bytes([init[20], init[21], init[22], init[23]]) as usize;
        ensure!(name_len <= 1024, "desktop name too long");
        self.read_exact(name_len).await?;
        self.send(&[2, 0, 0, 1, 0, 0, 0, 0]).await // SetEncodings: raw
    }

    /// Sends a PointerEvent (no button, moving along a row) and waits for the update it
    /// causes; returns the round trip.
    pub async fn pointer_round_trip(&mut self) -> anyhow::Result<Duration> {
        self.pointer_x = (self.pointer_x + 1) % WIDTH;
        let [xh, xl] = self.pointer_x.to_be_bytes();
        let start = Instant::now();
        self.send(&[5, 0, xh, xl, 0, 100]).await?;
        self.read_update().await?;
        Ok(start.elapsed())
    }

    /// Sends an incremental FramebufferUpdateRequest (the server answers with a small update)
    /// and waits for the update.
    pub async fn incremental_update(&mut self) -> anyhow::Result<usize> {
        let [wh, wl] = WIDTH.to_be_bytes();
        let [hh, hl] = HEIGHT.to_be_bytes();
        self.send(&[3, 1, 0, 0, 0, 0, wh, wl, hh, hl]).await?;
        self.read_update().await
    }

    /// Keeps the connection answered (a WebSocket ping is ponged as it is read) until `until`
    /// completes; any RFB bytes that arrive meanwhile are kept for the next read.
    pub async fn idle_until(
        &mut self,
        until: impl std::future::Future<Output = ()>,
    ) -> anyhow::Result<()> {
        let mut until = std::pin::pin!(until);
        loop {
            tokio::select! {
                () = &mut until => return Ok(()),
                filled = self.fill_untimed() => filled?,
            }
        }
    }

    /// Hands the client to a task of its own that keeps it answered (as [`RfbClient::idle_until`])
    /// until [`Answered::take`] gives it back: a socket idle through other paths' turns still
    /// answers the gateway's pings, so no turn is bounded by the pong timeout.
    pub fn keep_answered(mut self) -> Answered {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            self.idle_until(async {
                let _ = stopped.await;
            })
            .await?;
            Ok(self)
        });
        Answered { stop, task }
    }

    /// Asks for `updates` full-screen updates, keeping `window` requests outstanding (noVNC
    /// keeps one); returns (bytes received, elapsed).
    pub async fn fetch_updates(
        &mut self,
        updates: usize,
        window: usize,
    ) -> anyhow::Result<(usize, Duration)> {
        let request = {
            let [wh, wl] = WIDTH.to_be_bytes();
            let [hh, hl] = HEIGHT.to_be_bytes();
            [3, 0, 0, 0, 0, 0, wh, wl, hh, hl]
        };
        let start = Instant::now();
        let (mut received, mut sent) = (0, 0);
        while sent < updates.min(window.max(1)) {
            self.send(&request).await?;
            sent += 1;
        }
        for _ in 0..updates {
            received += self.read_update().await?;
            if sent < updates {
                self.send(&request).await?;
                sent += 1;
            }
        }
        Ok((received, start.elapsed()))
    }

    /// Reads one FramebufferUpdate of raw rectangles; returns its length in bytes.
    async fn read_update(&mut self) -> anyhow::Result<usize> {
        let header = self.read_exact(4).await?;
        ensure!(
            header[0] == 0,
            "expected a FramebufferUpdate, got type {}",
            header[0]
        );
        let rects = u16::from_be_bytes([header[2], header[3]]);
        let mut len = 4;
        for _ in 0..rects {
            let rect = self.read_exact(12).await?;
            let (w, h) = (
                u16::from_be_bytes([rect[4], rect[5]]),
                u16::from_be_bytes([rect[6], rect[7]]),
            );
            ensure!(rect[8..12] == [0, 0, 0, 0], "expected raw encoding");
            let pixels = usize::from(w) * usize::from(h) * 4;
            ensure!(pixels <= MAX_RECT, "rectangle too large");
            self.consume(pixels).await?;
            len += 12 + pixels;
        }
        Ok(len)
    }

    /// Sends one client message (one WebSocket binary frame).
    async fn send(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        let sent = async {
            match &mut self.transport {
                Transport::Tcp(stream) => anyhow::Ok(stream.write_all(bytes).await?),
                Transport::Ws(ws) => Ok(ws.send(Message::Binary(bytes.to_vec().into())).await?),
            }
        };
        tokio::time::timeout(WAIT, sent)
            .await
            .context("send timed out")?
    }

    /// Reads exactly `n` bytes.
    async fn read_exact(&mut self, n: usize) -> anyhow::Result<Vec<u8>> {
        while self.buf.len() - self.pos < n {
            self.fill().await?;
        }
        let out = self.buf[self.pos..self.pos + n].to_vec();
        self.pos += n;
        Ok(out)
    }

    /// Discards exactly `n` bytes (pixels are not inspected).
    async fn consume(&mut self, mut n: usize) -> anyhow::Result<()> {
        loop {
            let take = n.min(self.buf.len() - self.pos);
            self.pos += take;
            n -= take;
            if n == 0 {
                return Ok(());
            }
            self.fill().await?;
        }
    }

    /// Appends the next chunk (TCP read or WebSocket message) to the buffer.
    async fn fill(&mut self) -> anyhow::Result<()> {
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        } else if self.pos > 64 * 1024 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        tokio::time::timeout(WAIT, self.fill_untimed())
            .await
            .context("read timed out")?
    }

    /// [`RfbClient::fill`] without the bound, for waits that are bounded elsewhere. Cancel-safe:
    /// a read that has not completed has consumed nothing.
    async fn fill_untimed(&mut self) -> anyhow::Result<()> {
        match &mut self.transport {
            Transport::Tcp(stream) => {
                let n = stream.read(&mut self.scratch).await?;
                ensure!(n > 0, "server closed the connection");
                self.buf.extend_from_slice(&self.scratch[..n]);
                anyhow::Ok(())
            }
            Transport::Ws(ws) => loop {
                match ws.next().await {
                    Some(Ok(Message::Binary(data))) => {
                        self.buf.extend_from_slice(&data);
                        return Ok(());
                    }
                    Some(Ok(Message::Close(frame))) => bail!("socket closed: {frame:?}"),
                    Some(Ok(_)) => continue,
                    Some(Err(error)) => return Err(error.into()),
                    None => bail!("socket ended"),
                }
            },
        }
    }

    /// Closes the connection politely.
    pub async fn close(mut self) {
        match &mut self.transport {
            Transport::Tcp(stream) => {
                let _ = stream.shutdown().await;
            }
            Transport::Ws(ws) => {
                let _ = tokio::time::timeout(WAIT, ws.as_mut().close(None)).await;
            }
        }
    }
}
