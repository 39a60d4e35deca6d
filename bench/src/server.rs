//! The synthetic RFB 3.8 server every path relays to: security None, a 1280×800 ServerInit,
//! then one raw FramebufferUpdate of a configurable size per FramebufferUpdateRequest, and a
//! small 16×16 update per KeyEvent or PointerEvent, so that input→screen latency is exactly
//! one round trip through the relay.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::OwnedReadHalf;
use tokio::net::{TcpListener, TcpStream};

/// Framebuffer width announced in ServerInit.
pub const WIDTH: u16 = 1280;
/// Framebuffer height announced in ServerInit.
pub const HEIGHT: u16 = 800;
/// Width of the rectangle of a full update (its height follows from the requested size).
const FULL_RECT_WIDTH: u16 = 128;
/// Side of the square update that answers an input event.
const ECHO_SIDE: u16 = 16;
/// Largest ClientCutText the server accepts (a peer-controlled length).
const MAX_CUT_TEXT: usize = 1024 * 1024;

/// A running synthetic server.
pub struct SyntheticServer {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Bytes of one full FramebufferUpdate message (header included).
    pub full_update_len: usize,
    /// Bytes of one input-echo FramebufferUpdate message (header included).
    pub echo_update_len: usize,
}

/// The prebuilt answers, shared by every connection.
struct Replies {
    full: Vec<u8>,
    echo: Vec<u8>,
}

impl SyntheticServer {
    /// Binds 127.0.0.1:0 and serves every connection until the process ends; a full update
    /// carries about `update_bytes` of raw pixels (rounded to whole 128-pixel rows).
    pub async fn start(update_bytes: usize) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let row_bytes = usize::from(FULL_RECT_WIDTH) * 4;
        let rows = (update_bytes / row_bytes).clamp(1, usize::from(HEIGHT));
        let replies = Arc::new(Replies {
            full: framebuffer_update(FULL_RECT_WIDTH, rows as u16),
            echo: framebuffer_update(ECHO_SIDE, ECHO_SIDE),
        });
        let server = Self {
            addr,
            full_update_len: replies.full.len(),
            echo_update_len: replies.echo.len(),
        };
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let _ = stream.set_nodelay(true);
                tokio::spawn(serve(stream, replies.clone()));
            }
        });
        Ok(server)
    }
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

/// Serves one connection; any error just ends it (the client side reports failures).
async fn serve(mut stream: TcpStream, replies: Arc<Replies>) {
    if handshake(&mut stream).await.is_err() {
        return;
    }
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::with_capacity(16 * 1024, read);
    loop {
        let reply = match next_message(&mut read).await {
            Ok(Some(Reply::Full)) => &replies.full,
            Ok(Some(Reply::Echo)) => &replies.echo,
            Ok(None) => continue,
            Err(_) => return,
        };
        if write.write_all(reply).await.is_err() {
            return;
        }
    }
}

/// The server side of the RFB 3.8 handshake with security None.
async fn handshake(stream: &mut TcpStream) -> std::io::Result<()> {
    stream.write_all(b"RFB 003.008\n").await?;
    let mut version = [0u8; 12];
    stream.read_exact(&mut version).await?;
    stream.write_all(&[1, 1]).await?; // one security type: None
    let mut chosen = [0u8; 1];
    stream.read_exact(&mut chosen).await?;
    stream.write_all(&[0, 0, 0, 0]).await?; // SecurityResult OK
    let mut client_init = [0u8; 1];
    stream.read_exact(&mut client_init).await?;
    let mut server_init = Vec::with_capacity(32);
    server_init.extend_from_slice(&WIDTH.to_be_bytes());
    server_init.extend_from_slice(&HEIGHT.to_be_bytes());
    // 32 bpp, depth 24, little endian, true colour, max 255 each, shifts 16/8/0, padding.
    server_init.extend_from_slice(&[32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0, 0, 0, 0]);
    server_init.extend_from_slice(&5u32.to_be_bytes());
    server_init.extend_from_slice(b"bench");
    stream.write_all(&server_init).await
}

/// What a client message asks the server to send.
enum Reply {
    Full,
    Echo,
}

/// Reads one client→server message; `None` for messages that need no answer.
async fn next_message(read: &mut BufReader<OwnedReadHalf>) -> std::io::Result<Option<Reply>> {
    let kind = read.read_u8().await?;
    let reply = match kind {
        0 => skip(read, 19).await.map(|()| None)?, // SetPixelFormat
        2 => {
            skip(read, 1).await?;
            let count = read.read_u16().await?;
            skip(read, 4 * usize::from(count)).await.map(|()| None)?
        }
        3 => skip(read, 9).await.map(|()| Some(Reply::Full))?, // FramebufferUpdateRequest
        4 => skip(read, 7).await.map(|()| Some(Reply::Echo))?, // KeyEvent
        5 => skip(read, 5).await.map(|()| Some(Reply::Echo))?, // PointerEvent
        6 => {
            skip(read, 3).await?;
            let len = read.read_u32().await? as usize;
            if len > MAX_CUT_TEXT {
                return Err(std::io::Error::other("cut text too long"));
            }
            skip(read, len).await.map(|()| None)?
        }
        other => {
            return Err(std::io::Error::other(format!(
                "unexpected client message type {other}"
            )))
        }
    };
    Ok(reply)
}

/// Discards `n` bytes.
async fn skip(read: &mut BufReader<OwnedReadHalf>, n: usize) -> std::io::Result<()> {
    let copied = tokio::io::copy(&mut (&mut *read).take(n as u64), &mut tokio::io::sink()).await?;
    if copied == n as u64 {
        Ok(())
    } else {
        Err(std::io::ErrorKind::UnexpectedEof.into())
    }
}
