//! Dialling the upstream RFB server inside the allow list: raw TCP, or a websockify over
//! `ws://` or `wss://` ([`super::tls`]) bridged into a byte stream (so the relay sees one
//! `AsyncRead + AsyncWrite` either way). Only the resolved, allow-listed addresses are dialled,
//! never the name again; TLS checks the certificate for the URL's host.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use service_kit::upstream::{AllowList, UpstreamError};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::Connector;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use super::address::Upstream;
use super::tls;
use service_kit::ca_file::CaFile;

/// A connected upstream byte stream.
pub trait UpstreamIo: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> UpstreamIo for T {}

/// Why the upstream could not be dialled.
#[derive(Debug, thiserror::Error)]
pub enum DialError {
    /// Outside the allow list, unresolvable or malformed.
    #[error("upstream refused: {0}")]
    Refused(#[from] UpstreamError),
    /// Connect failed or timed out.
    #[error("upstream connect failed")]
    Connect,
    /// The TLS client could not be configured.
    #[error("TLS configuration failed: {0}")]
    Tls(#[from] rustls::Error),
}

/// Bytes buffered between a websockify and the relay, per direction.
const BRIDGE_BUFFER: usize = 256 * 1024;
/// How long a websockify bridge outlives its relay, to deliver the relay's last bytes.
const BRIDGE_GRACE: Duration = Duration::from_secs(2);

/// Dials `upstream`; the bridge task of a ws upstream ends with `token`.
/// `wss://` runs TLS over the allow-listed TCP connection, with SNI and certificate checks for
/// the URL's host, trusting the system's roots and `extra_roots`.
pub async fn dial(
    upstream: &Upstream,
    allow: &AllowList,
    timeout: Duration,
    extra_roots: Option<&CaFile>,
    tracker: &TaskTracker,
    token: CancellationToken,
) -> Result<Box<dyn UpstreamIo>, DialError> {
    match upstream {
        Upstream::Tcp { host, port } => {
            let addrs = allow.resolve(host, *port).await?;
            Ok(Box::new(connect_any(&addrs, timeout).await?))
        }
        Upstream::WebSocket(url) => {
            let connector = match url.scheme() {
                "wss" => Connector::Rustls(tls::client_config(extra_roots)?),
                _ => Connector::Plain,
            };
            let addrs = allow.resolve_url(url).await?;
            let tcp = connect_any(&addrs, timeout).await?;
            // SNI and the certificate name come from the URL's host, not the dialled address.
            let handshake = tokio_tungstenite::client_async_tls_with_config(
                url.as_str(),
                tcp,
                None,
                Some(connector),
            );
            let (ws, _) = tokio::time::timeout(timeout, handshake)
                .await
                .map_err(|_| DialError::Connect)?
                .map_err(|error| {
                    tracing::debug!(error.message = %error, "websockify handshake failed");
                    DialError::Connect
                })?;
            Ok(Box::new(bridge(ws, tracker, token)))
        }
    }
}

async fn connect_any(addrs: &[SocketAddr], timeout: Duration) -> Result<TcpStream, DialError> {
    for addr in addrs {
        match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => {
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Ok(Err(error)) => {
                tracing::debug!(upstream.addr = %addr, error.message = %error, "upstream connect failed")
            }
            Err(_) => tracing::debug!(upstream.addr = %addr, "upstream connect timed out"),
        }
    }
    Err(DialError::Connect)
}

/// Turns a websockify connection into a byte stream: binary messages in, bytes out.
fn bridge<S>(
    ws: tokio_tungstenite::WebSocketStream<S>,
    tracker: &TaskTracker,
    token: CancellationToken,
) -> DuplexStream
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (relay_side, bridge_side) = tokio::io::duplex(BRIDGE_BUFFER);
    let span = tracing::debug_span!("vnc.ws_bridge");
    tracker.spawn(
        async move {
            let (mut ws_tx, mut ws_rx) = ws.split();
            let (mut read, mut write) = tokio::io::split(bridge_side);
            let to_ws = async {
                let mut buf = vec![0u8; 64 * 1024];
                loop {
                    let n = read.read(&mut buf).await.unwrap_or(0);
                    if n == 0 {
                        break;
                    }
                    if ws_tx
                        .send(Message::Binary(Bytes::copy_from_slice(&buf[..n])))
                        .await
                        .is_err()
                    {
                        break;
                    }
                }
                let _ = ws_tx.close().await;
            };
            let from_ws = async {
                while let Some(Ok(message)) = ws_rx.next().await {
                    let data = match message {
                        Message::Binary(data) => data,
                        Message::Close(_) => break,
                        _ => continue,
                    };
                    if write.write_all(&data).await.is_err() {
                        break;
                    }
                }
                let _ = write.shutdown().await;
            };
            // After the relay ends, its last writes (key releases) and its end of stream still
            // go out, for a bounded time.
            let ended = async {
                token.cancelled().await;
                tokio::time::sleep(BRIDGE_GRACE).await;
            };
            tokio::select! {
                () = ended => {}
                () = async { tokio::join!(to_ws, from_ws); } => {}
            }
        }
        .instrument(span),
    );
    relay_side
}
