//! Dialling the upstream RFB server inside the allow list: raw TCP, or a websockify over
//! `ws://` or `wss://` ([`super::tls`]) read as a byte stream ([`super::ws_bytes`]), so the
//! relay sees one `AsyncRead + AsyncWrite` either way. Only the resolved, allow-listed addresses are dialled,
//! never the name again; TLS checks the certificate for the URL's host.

use std::net::SocketAddr;
use std::time::Duration;

use service_kit::upstream::{AllowList, UpstreamError};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::Connector;

use super::address::Upstream;
use super::tls;
use super::ws_bytes::WsBytes;
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

/// The read buffer of a `ws://` upstream. The library zero-fills all of it before each read, so
/// an idle socket holds all of it: at its default (128 KiB) an idle `ws://` socket held 165 KiB,
/// at 64 KiB 100 KiB with the same throughput and CPU per GB, at 16 KiB 52 KiB but 30% more
/// CPU per GB (relay-bench, full-frame updates). 64 KiB is also the `tcp://` relay's chunk.
const WS_READ_BUFFER: usize = 64 * 1024;

/// Dials `upstream`.
/// `wss://` runs TLS over the allow-listed TCP connection, with SNI and certificate checks for
/// the URL's host, trusting the system's roots and `extra_roots`.
pub async fn dial(
    upstream: &Upstream,
    allow: &AllowList,
    timeout: Duration,
    extra_roots: Option<&CaFile>,
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
                Some(WebSocketConfig::default().read_buffer_size(WS_READ_BUFFER)),
                Some(connector),
            );
            let (ws, _) = tokio::time::timeout(timeout, handshake)
                .await
                .map_err(|_| DialError::Connect)?
                .map_err(|error| {
                    tracing::debug!(error.message = %error, "websockify handshake failed");
                    DialError::Connect
                })?;
            Ok(Box::new(WsBytes::new(ws)))
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
