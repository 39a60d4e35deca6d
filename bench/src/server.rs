//! The synthetic RFB 3.8 server every path relays to, on raw TCP and on its own WebSocket: security None, a 1280×720 ServerInit,
//! then one raw FramebufferUpdate of a configurable size per FramebufferUpdateRequest (the
//! whole 1280×720 screen by default: 3,686,416 bytes) per full FramebufferUpdateRequest, and
//! a small 16×16 update per incremental request, KeyEvent or PointerEvent, so that
//! input→screen latency is exactly one round trip through the relay.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{bail, Context};
use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::Child;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// Framebuffer width announced in ServerInit.
pub const WIDTH: u16 = 1280;
/// Framebuffer height announced in ServerInit.
pub const HEIGHT: u16 = 720;
/// Width of the rectangle of a small full update (its height follows from the requested
/// size); updates of 16 screen-wide rows or more span the whole width.
const NARROW_RECT_WIDTH: u16 = 128;
/// Side of the square update that answers an input event.
const ECHO_SIDE: u16 = 16;
/// Largest ClientCutText the server accepts (a peer-controlled length).
const MAX_CUT_TEXT: usize = 1024 * 1024;

/// A running synthetic server, in its own process (this binary re-executed as `host-server`),
/// as a real VNC server is: a round trip on the direct paths then crosses processes as it
/// does through a relay, and the server's CPU is not the benchmark client's.
pub struct SyntheticServer {
    child: Child,
    /// Where it listens for raw TCP.
    pub addr: SocketAddr,
    /// Where it listens for its own WebSocket (subprotocol `binary`, RFB in binary frames).
    pub ws_addr: SocketAddr,
    /// Bytes of one full FramebufferUpdate message (header included).
    pub full_update_len: usize,
    /// Bytes of one input-echo FramebufferUpdate message (header included).
    pub echo_update_len: usize,
}

/// The prebuilt answers, shared by every connection.
struct Replies {
    full: Bytes,
    echo: Bytes,
}

/// Bound on the server process's start-up.
const START_WAIT: std::time::Duration = std::time::Duration::from_secs(30);
/// Bound on a WebSocket upgrade.
const HANDSHAKE_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Answers the `binary` subprotocol noVNC (and the gateway) asks for.
#[allow(clippy::result_large_err)] // tungstenite's callback signature
fn choose_binary(request: &Request, mut response: Response) -> Result<Response, ErrorResponse> {
    let asked = request
        .headers()
        .get("sec-websocket-protocol")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|p| p.trim() == "binary"));
    if asked {
        response
            .headers_mut()
            .insert("sec-websocket-protocol", HeaderValue::from_static("binary"));
    }
    Ok(response)
}

impl SyntheticServer {
    /// Starts the server process; a full update carries about `update_bytes` of raw pixels
    /// (rounded to whole rows of the rectangle).
    pub async fn spawn(update_bytes: usize) -> anyhow::Result<Self> {
        let update_bytes = update_bytes.to_string();
        let mut child = crate::host::spawn_self(&["host-server", "--update-bytes", &update_bytes])?;
        let stdout = child.stdout.take().context("server stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(START_WAIT, lines.next_line())
            .await
            .context("the server did not start in time")??
            .context("the server exited")?;
        let fields: Vec<&str> = line.split_whitespace().collect();
        let ["bench-server", addr, ws_addr, full, echo] = fields[..] else {
            bail!("malformed server line {line:?}");
        };
        Ok(Self {
            addr: addr.parse()?,
            ws_addr: ws_addr.parse()?,
            full_update_len: full.parse()?,
            echo_update_len: echo.parse()?,
            child,
        })
    }

    /// The server's process id.
    pub fn pid(&self) -> anyhow::Result<u32> {
        self.child.id().context("server exited")
    }
}

/// Child side: serves on two fresh ports, prints `bench-server <tcp addr> <ws addr> <full
/// update length> <echo update length>`, and serves until stdin closes.
pub async fn host(update_bytes: usize) -> anyhow::Result<()> {
    let addrs = serve_in_process(update_bytes).await?;
    println!(
        "bench-server {} {} {} {}",
        addrs.addr, addrs.ws_addr, addrs.full_update_len, addrs.echo_update_len
    );
    let mut stdin = crate::host::stdin_lines();
    while stdin.recv().await.is_some() {}
    Ok(())
}

/// Where an in-process server listens, and its update sizes.
struct Addrs {
    addr: SocketAddr,
    ws_addr: SocketAddr,
    full_update_len: usize,
    echo_update_len: usize,
}

/// Binds two ports on 127.0.0.1 and serves every connection until the process ends.
async fn serve_in_process(update_bytes: usize) -> anyhow::Result<Addrs> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let width = if update_bytes >= usize::from(WIDTH) * 4 * 16 {
        WIDTH
    } else {
        NARROW_RECT_WIDTH
    };
    let rows = (update_bytes / (usize::from(width) * 4)).clamp(1, usize::from(HEIGHT));
    let ws_listener = TcpListener::bind("127.0.0.1:0").await?;
    let ws_addr = ws_listener.local_addr()?;
    let replies = Arc::new(Replies {
        full: framebuffer_update(width, rows as u16).into(),
        echo: framebuffer_update(ECHO_SIDE, ECHO_SIDE).into(),
    });
    let server = Addrs {
        addr,
        ws_addr,
        full_update_len: replies.full.len(),
        echo_update_len: replies.echo.len(),
    };
    tokio::spawn({
        let replies = replies.clone();
        async move {
            while let Ok((stream, _)) = listener.accept().await {
                let _ = stream.set_nodelay(true);
                tokio::spawn(serve(Conn::Tcp(stream), replies.clone()));
            }
        }
    });
    tokio::spawn(async move {
        while let Ok((stream, _)) = ws_listener.accept().await {
            let _ = stream.set_nodelay(true);
            let replies = replies.clone();
            tokio::spawn(async move {
                let upgrade = tokio_tungstenite::accept_hdr_async(stream, choose_binary);
                if let Ok(Ok(ws)) = tokio::time::timeout(HANDSHAKE_WAIT, upgrade).await {
                    serve(Conn::Ws(Box::new(ws)), replies).await;
                }
            });
        }
    });
    Ok(server)
}

/// One FramebufferUpdate with a single raw rectangle at (0, 0).
fn framebuffer_update(width: u16, height: u16) -> Vec<u8> {
    let pixels = usize::from(width) * usize::from(height) * 4;
    let mut out = Vec::with_capacity(16 + pixels);
    out.extend_from_slice(&[0, 0, 0, 1]); // type 0, padding, one rectangle
    out.extend_from_slice(&[0, 0, 0, 0]); // x, y
    out.extend_from_slice(&width.to_be_bytes());
    out.extend_from_slice(&height.to_be_bytes());
    out.extend_from_slice(&0i32.to_be_bytes()); // raw encoding
    out.resize(16 + pixels, 0x5a);
    out
}

/// One accepted connection: raw TCP, or the server's own WebSocket (one binary frame per
/// server message, as a VNC server with built-in WebSocket support sends them).
enum Conn {
    Tcp(TcpStream),
    Ws(Box<WebSocketStream<TcpStream>>),
}

/// A connection with its unread input.
struct Peer {
    conn: Conn,
    input: Vec<u8>,
    pos: usize,
    scratch: Box<[u8]>,
}

impl Peer {
    fn new(conn: Conn) -> Self {
        Self {
            conn,
            input: Vec::new(),
            pos: 0,
            scratch: vec![0; 16 * 1024].into_boxed_slice(),
        }
    }

    async fn send(&mut self, bytes: &Bytes) -> std::io::Result<()> {
        match &mut self.conn {
            Conn::Tcp(stream) => stream.write_all(bytes).await,
            Conn::Ws(ws) => ws
                .send(Message::Binary(bytes.clone()))
                .await
                .map_err(std::io::Error::other),
        }
    }

    /// The next `n` input bytes.
    async fn take(&mut self, n: usize) -> std::io::Result<&[u8]> {
        while self.input.len() - self.pos < n {
            if self.pos == self.input.len() {
                self.input.clear();
                self.pos = 0;
            }
            match &mut self.conn {
                Conn::Tcp(stream) => {
                    let read = stream.read(&mut self.scratch).await?;
                    if read == 0 {
                        return Err(std::io::ErrorKind::UnexpectedEof.into());
                    }
                    self.input.extend_from_slice(&self.scratch[..read]);
                }
                Conn::Ws(ws) => match ws.next().await {
                    Some(Ok(Message::Binary(data))) => self.input.extend_from_slice(&data),
                    Some(Ok(Message::Close(_))) | None => {
                        return Err(std::io::ErrorKind::UnexpectedEof.into())
                    }
                    Some(Ok(_)) => {}
                    Some(Err(error)) => return Err(std::io::Error::other(error)),
                },
            }
        }
        let taken = &self.input[self.pos..self.pos + n];
        self.pos += n;
        Ok(taken)
    }

    async fn byte(&mut self) -> std::io::Result<u8> {
        Ok(self.take(1).await?[0])
    }

    async fn u16(&mut self) -> std::io::Result<u16> {
        let b = self.take(2).await?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    async fn u32(&mut self) -> std::io::Result<u32> {
        let b = self.take(4).await?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// Discards `n` input bytes without holding them all.
    async fn skip(&mut self, mut n: usize) -> std::io::Result<()> {
        while n > 0 {
            let step = n.min(self.scratch.len());
            self.take(step).await?;
            n -= step;
        }
        Ok(())
    }
}

/// Serves one connection; any error just ends it (the client side reports failures).
async fn serve(conn: Conn, replies: Arc<Replies>) {
    let mut peer = Peer::new(conn);
    if handshake(&mut peer).await.is_err() {
        return;
    }
    loop {
        let reply = match next_message(&mut peer).await {
            Ok(Some(Reply::Full)) => replies.full.clone(),
            Ok(Some(Reply::Echo)) => replies.echo.clone(),
            Ok(None) => continue,
            Err(_) => return,
        };
        if peer.send(&reply).await.is_err() {
            return;
        }
    }
}

/// The server side of the RFB 3.8 handshake with security None.
async fn handshake(peer: &mut Peer) -> std::io::Result<()> {
    peer.send(&Bytes::from_static(b"RFB 003.008\n")).await?;
    peer.take(12).await?;
    peer.send(&Bytes::from_static(&[1, 1])).await?; // one security type: None
    peer.byte().await?;
    peer.send(&Bytes::from_static(&[0, 0, 0, 0])).await?; // SecurityResult OK
    peer.byte().await?; // ClientInit
    let mut server_init = Vec::with_capacity(32);
    server_init.extend_from_slice(&WIDTH.to_be_bytes());
    server_init.extend_from_slice(&HEIGHT.to_be_bytes());
    // 32 bpp, depth 24, little endian, true colour, max 255 each, shifts 16/8/0, padding.
    server_init.extend_from_slice(&[32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0, 0, 0, 0]);
    server_init.extend_from_slice(&5u32.to_be_bytes());
    server_init.extend_from_slice(b"bench");
    peer.send(&Bytes::from(server_init)).await
}

/// What a client message asks the server to send.
enum Reply {
    Full,
    Echo,
}

/// Reads one client→server message; `None` for messages that need no answer.
async fn next_message(peer: &mut Peer) -> std::io::Result<Option<Reply>> {
    let kind = peer.byte().await?;
    let reply = match kind {
        0 => peer.skip(19).await.map(|()| None)?, // SetPixelFormat
        2 => {
            peer.skip(1).await?;
            let count = peer.u16().await?;
            peer.skip(4 * usize::from(count)).await.map(|()| None)?
        }
        3 => {
            // FramebufferUpdateRequest: a full one gets the whole update; an incremental one
            // (what a viewer asks once it has a picture) gets the small one.
            let incremental = peer.byte().await?;
            peer.skip(8).await?;
            Some(if incremental == 0 {
                Reply::Full
            } else {
                Reply::Echo
            })
        }
        4 => peer.skip(7).await.map(|()| Some(Reply::Echo))?, // KeyEvent
        5 => peer.skip(5).await.map(|()| Some(Reply::Echo))?, // PointerEvent
        6 => {
            peer.skip(3).await?;
            let len = peer.u32().await? as usize;
            if len > MAX_CUT_TEXT {
                return Err(std::io::Error::other("cut text too long"));
            }
            peer.skip(len).await.map(|()| None)?
        }
        other => {
            return Err(std::io::Error::other(format!(
                "unexpected client message type {other}"
            )))
        }
    };
    Ok(reply)
}
