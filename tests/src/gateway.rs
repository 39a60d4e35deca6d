//! Test kit: a gateway in-process on 127.0.0.1:0 with short timeouts, a WebSocket RFB client
//! that can do the RFB 3.8 None handshake, and a recording RFB upstream (a tiny server that
//! speaks the server side of the handshake and logs every byte it receives after ClientInit).
//! The `world` submodule holds [`StreamWorld`], the common starting point of the VNC tests.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use gateway::config::Config;
use gateway::entity::SessionKey;
use gateway::startup::Application;
use gateway::state::AppState;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tokio_util::sync::CancellationToken;

pub use world::{StreamWorld, BROWSER_PATH};

mod world;

/// Generous bound on any single wait in these tests (only bounds a hang).
pub const WAIT: Duration = Duration::from_secs(20);

/// A running gateway.
pub struct TestGateway {
    /// HTTP/WebSocket address.
    pub addr: SocketAddr,
    /// gRPC control address.
    pub grpc_addr: SocketAddr,
    /// Shared state: tests reach the control bus through it.
    pub state: AppState,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl TestGateway {
    /// A gateway wired to `verification_url`, with the test configuration.
    pub async fn spawn(verification_url: &str) -> Self {
        Self::spawn_with(Config::for_tests(verification_url.to_owned())).await
    }

    /// A gateway with an adjusted configuration (start from [`Config::for_tests`]).
    pub async fn spawn_with(config: Config) -> Self {
        let app = Application::build(config).await.expect("gateway builds");
        let (addr, grpc_addr, state) = (app.local_addr(), app.grpc_addr(), app.state().clone());
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(app.run(shutdown.clone()));
        Self {
            addr,
            grpc_addr,
            state,
            shutdown,
            task,
        }
    }

    /// `ws://addr{path}?{query}`.
    pub fn ws_url(&self, path: &str, query: &str) -> String {
        format!("ws://{}{path}?{query}", self.addr)
    }

    /// `http://addr{path}`.
    pub fn http_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Opens a VNC socket (asking for the `binary` subprotocol, as noVNC does).
    pub async fn connect_vnc(&self, path: &str, query: &str) -> VncClient {
        VncClient::connect(&self.ws_url(path, query)).await
    }

    /// As [`Self::connect_vnc`], with extra upgrade headers (`x-forwarded-for`…).
    pub async fn connect_vnc_with_headers(
        &self,
        path: &str,
        query: &str,
        headers: &[(&'static str, &str)],
    ) -> VncClient {
        VncClient::connect_with_headers(&self.ws_url(path, query), headers).await
    }

    /// Gives `client_id` control of a browser session through the control bus (what a
    /// `take-control` on the Message channel does).
    pub async fn give_control(
        &self,
        organization_id: &str,
        browser_session_id: &str,
        client_id: &str,
    ) {
        let session = SessionKey {
            organization_id: organization_id.into(),
            browser_session_id: browser_session_id.into(),
        };
        self.state
            .bus
            .take_control(
                &session,
                &gateway::entity::ClientId::parse(client_id).expect("a valid client id"),
            )
            .await
            .expect("in-memory bus");
    }

    /// Starts draining (as SIGTERM does) without waiting.
    pub fn begin_shutdown(&self) {
        self.shutdown.cancel();
    }

    /// Drains and waits for the gateway to exit.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        tokio::time::timeout(WAIT, self.task)
            .await
            .expect("gateway exits in time")
            .expect("gateway task")
    }
}

/// A WebSocket RFB client.
pub struct VncClient {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    buf: Vec<u8>,
    /// The subprotocol the gateway selected.
    pub protocol: Option<String>,
}

/// How a socket ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Closed {
    /// Close code (1006 when the connection dropped without a close frame).
    pub code: u16,
    /// Reason text.
    pub reason: String,
}

impl VncClient {
    /// Connects to a full `ws://` URL.
    pub async fn connect(url: &str) -> Self {
        Self::connect_with_headers(url, &[]).await
    }

    /// Connects with extra upgrade headers.
    pub async fn connect_with_headers(url: &str, headers: &[(&'static str, &str)]) -> Self {
        let mut request = url.into_client_request().expect("valid URL");
        for (name, value) in headers {
            request
                .headers_mut()
                .insert(*name, value.parse().expect("header value"));
        }
        request.headers_mut().insert(
            "sec-websocket-protocol",
            "binary".parse().expect("static header"),
        );
        let (ws, response) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(request))
            .await
            .expect("upgrade in time")
            .expect("upgrade");
        let protocol = response
            .headers()
            .get("sec-websocket-protocol")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        Self {
            ws,
            buf: Vec::new(),
            protocol,
        }
    }

    /// Sends one binary frame.
    pub async fn send(&mut self, bytes: &[u8]) {
        self.ws
            .send(Message::Binary(bytes.to_vec().into()))
            .await
            .expect("send");
    }

    /// Reads exactly `n` bytes of RFB data (across frames), or `Err` with how the socket ended.
    pub async fn read_exact(&mut self, n: usize) -> Result<Vec<u8>, Closed> {
        while self.buf.len() < n {
            self.fill().await?;
        }
        Ok(self.buf.drain(..n).collect())
    }

    async fn fill(&mut self) -> Result<(), Closed> {
        let next = tokio::time::timeout(WAIT, self.ws.next())
            .await
            .expect("frame in time");
        match next {
            Some(Ok(Message::Binary(data))) => {
                self.buf.extend_from_slice(&data);
                Ok(())
            }
            Some(Ok(Message::Close(frame))) => Err(frame.map_or(
                Closed {
                    code: 1005,
                    reason: String::new(),
                },
                |f| Closed {
                    code: f.code.into(),
                    reason: f.reason.to_string(),
                },
            )),
            Some(Ok(_)) => Ok(()),
            Some(Err(_)) | None => Err(Closed {
                code: 1006,
                reason: String::new(),
            }),
        }
    }

    /// The RFB 3.8 handshake with security None; returns (width, height).
    pub async fn handshake(&mut self) -> Result<(u16, u16), Closed> {
        let version = self.read_exact(12).await?;
        assert_eq!(&version[..4], b"RFB ", "server version: {version:?}");
        self.send(b"RFB 003.008\n").await;
        let count = self.read_exact(1).await?[0] as usize;
        assert!(count > 0, "server offered no security type");
        let types = self.read_exact(count).await?;
        assert!(types.contains(&1), "security None offered: {types:?}");
        self.send(&[1]).await;
        let result = self.read_exact(4).await?;
        assert_eq!(result, [0, 0, 0, 0], "security result OK");
        self.send(&[1]).await; // ClientInit, shared
        let init = self.read_exact(24).await?;
        let width = u16::from_be_bytes([init[0], init[1]]);
        let height = u16::from_be_bytes([init[2], init[3]]);
        let name_len = u32::from_be_bytes([init[20], init[21], init[22], init[23]]) as usize;
        self.read_exact(name_len).await?;
        Ok((width, height))
    }

    /// Reads until the gateway closes the socket; returns the close code and reason.
    pub async fn closed(&mut self) -> Closed {
        loop {
            self.buf.clear();
            if let Err(closed) = self.fill().await {
                return closed;
            }
        }
    }

    /// Sends a close frame (the viewer leaves).
    pub async fn close(&mut self) {
        let _ = self.ws.close(None).await;
    }
}

/// A tiny RFB 3.8 server on 127.0.0.1:0 that completes the handshake (security None,
/// 4×3 framebuffer) and records every byte received after ClientInit.
#[derive(Clone)]
pub struct RecordingUpstream {
    /// Where it listens.
    pub addr: SocketAddr,
    received: Arc<Mutex<Vec<u8>>>,
    connections: Arc<Mutex<usize>>,
    changed: Arc<Notify>,
}

/// What the recording upstream does after the handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamMode {
    /// Record and answer nothing.
    Quiet,
    /// Record, and write an endless stream of bytes (a screen that never stops changing).
    Flood,
}

impl RecordingUpstream {
    /// Starts the server.
    pub async fn start(mode: UpstreamMode) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let upstream = Self {
            addr: listener.local_addr().expect("addr"),
            received: Arc::default(),
            connections: Arc::default(),
            changed: Arc::default(),
        };
        let server = upstream.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                *server.connections.lock().unwrap() += 1;
                server.changed.notify_waiters();
                tokio::spawn(server.clone().serve(stream, mode));
            }
        });
        upstream
    }

    /// `tcp://127.0.0.1:P`, the session's `vnc_url`.
    pub fn vnc_url(&self) -> String {
        format!("tcp://{}", self.addr)
    }

    /// Everything received after ClientInit so far (all connections, in arrival order).
    pub fn received(&self) -> Vec<u8> {
        self.received.lock().unwrap().clone()
    }

    /// How many connections were accepted.
    pub fn connections(&self) -> usize {
        *self.connections.lock().unwrap()
    }

    /// Waits until at least `n` bytes were received; returns them all.
    pub async fn wait_for(&self, n: usize) -> Vec<u8> {
        tokio::time::timeout(WAIT, async {
            loop {
                let notified = self.changed.notified();
                let received = self.received();
                if received.len() >= n {
                    return received;
                }
                notified.await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("upstream received only {:?}", self.received()))
    }

    async fn serve(self, mut stream: TcpStream, mode: UpstreamMode) {
        if handshake(&mut stream).await.is_err() {
            return;
        }
        let (mut read, mut write) = stream.into_split();
        if mode == UpstreamMode::Flood {
            tokio::spawn(async move {
                let chunk = vec![0x55u8; 16 * 1024];
                while write.write_all(&chunk).await.is_ok() {}
            });
        }
        let mut buf = [0u8; 4096];
        loop {
            match read.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    self.received.lock().unwrap().extend_from_slice(&buf[..n]);
                    self.changed.notify_waiters();
                }
            }
        }
    }
}

async fn handshake(stream: &mut TcpStream) -> std::io::Result<()> {
    stream.write_all(b"RFB 003.008\n").await?;
    let mut version = [0u8; 12];
    stream.read_exact(&mut version).await?;
    stream.write_all(&[1, 1]).await?;
    let mut chosen = [0u8; 1];
    stream.read_exact(&mut chosen).await?;
    stream.write_all(&[0, 0, 0, 0]).await?;
    let mut client_init = [0u8; 1];
    stream.read_exact(&mut client_init).await?;
    let mut server_init = vec![0, 4, 0, 3];
    // 32 bpp, depth 24, little endian, true colour, max 255 each, shifts 16/8/0.
    server_init.extend_from_slice(&[32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0, 0, 0, 0]);
    server_init.extend_from_slice(&4u32.to_be_bytes());
    server_init.extend_from_slice(b"test");
    stream.write_all(&server_init).await
}

/// A minimal HTTP/1.1 request (the test kit has no HTTP client crate): returns status and body.
pub async fn http_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    let (status, _, body) = http_exchange(addr, method, path, headers, body).await;
    (status, body)
}

/// As [`http_request`], also returning the response head (status line and headers).
pub async fn http_exchange(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String, String) {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut response = Vec::new();
    tokio::time::timeout(WAIT, stream.read_to_end(&mut response))
        .await
        .expect("response in time")
        .expect("read");
    let text = String::from_utf8_lossy(&response).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    (status, head.to_owned(), body.to_owned())
}
