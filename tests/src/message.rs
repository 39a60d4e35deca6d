//! Test kit: a Message-channel client for the gateway. Connects with a query, sends JSON (or
//! raw text / binary frames, to test robustness), and receives the next JSON object of a given
//! kind within a timeout, keeping the others it saw on the way for later assertions.
//!
//! ```ignore
//! let mut messages = MessageClient::connect(&gateway.ws_url(&path, &query)).await;
//! messages.send(json!({"kind": "take-control"})).await;
//! let state = messages.next_of_kind("control-state").await;
//! ```

use std::collections::VecDeque;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use gateway::config::Config;

use crate::executor::{ExecutorOptions, TestExecutor};
use crate::gateway::{Closed, RecordingUpstream, TestGateway, UpstreamMode, VncClient, WAIT};
use crate::verification::TestVerification;

/// A Message-channel socket.
pub struct MessageClient {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// JSON objects received but not yet taken by a `next_of_kind` of their kind.
    pending: VecDeque<Value>,
    /// How the socket ended, once it did.
    closed: Option<Closed>,
}

/// Paths of the Message channel by entity kind.
pub fn path(entity_kind: &str, id: &str) -> String {
    match entity_kind {
        "browser_session" => format!("/v1/stream/messages/browser_session/{id}"),
        other => format!("/api/v1/stream/messages/{other}/{id}"),
    }
}

impl MessageClient {
    /// Connects to a full `ws://` URL.
    pub async fn connect(url: &str) -> Self {
        Self::connect_with_headers(url, &[]).await
    }

    /// Connects with extra upgrade headers (`user-agent`, `x-api-key`, `origin`…).
    pub async fn connect_with_headers(url: &str, headers: &[(&'static str, &str)]) -> Self {
        let mut request = url.into_client_request().expect("valid URL");
        for (name, value) in headers {
            request
                .headers_mut()
                .insert(*name, value.parse().expect("header value"));
        }
        // Screenshots can be ~7 MiB of base64: accept up to 16 MiB.
        let config = WebSocketConfig::default()
            .max_message_size(Some(16 << 20))
            .max_frame_size(Some(16 << 20));
        let connect = tokio_tungstenite::connect_async_with_config(request, Some(config), false);
        let (ws, _) = tokio::time::timeout(WAIT, connect)
            .await
            .expect("upgrade in time")
            .expect("upgrade");
        Self {
            ws,
            pending: VecDeque::new(),
            closed: None,
        }
    }

    /// Sends one JSON value as a text frame.
    pub async fn send(&mut self, value: Value) {
        self.send_text(&value.to_string()).await;
    }

    /// Sends a raw text frame (not necessarily JSON).
    pub async fn send_text(&mut self, text: &str) {
        self.ws
            .send(Message::Text(text.into()))
            .await
            .expect("send text");
    }

    /// Sends a raw text frame; false when the socket is gone.
    pub async fn try_send_text(&mut self, text: &str) -> bool {
        self.ws.send(Message::Text(text.into())).await.is_ok()
    }

    /// Sends a binary frame.
    pub async fn send_binary(&mut self, bytes: &[u8]) {
        self.ws
            .send(Message::Binary(bytes.to_vec().into()))
            .await
            .expect("send binary");
    }

    /// The next JSON object of `kind` (earlier ones of other kinds stay pending). Panics when
    /// none comes within the kit's wait or the socket closes first.
    pub async fn next_of_kind(&mut self, kind: &str) -> Value {
        self.next_of_kind_within(kind, WAIT)
            .await
            .unwrap_or_else(|closed| panic!("no {kind}: {closed:?}; seen {:?}", self.pending))
    }

    /// The next JSON object of `kind` within `wait`; `Err` with how the socket ended (code 0
    /// when it is still open and nothing came in time).
    pub async fn next_of_kind_within(
        &mut self,
        kind: &str,
        wait: Duration,
    ) -> Result<Value, Closed> {
        if let Some(at) = self.pending.iter().position(|v| v["kind"] == kind) {
            return Ok(self.pending.remove(at).expect("index in range"));
        }
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let value = match tokio::time::timeout_at(deadline, self.read()).await {
                Ok(result) => result?,
                Err(_) => {
                    return Err(Closed {
                        code: 0,
                        reason: "nothing in time".into(),
                    })
                }
            };
            if value["kind"] == kind {
                return Ok(value);
            }
            self.pending.push_back(value);
        }
    }

    /// The next JSON value whatever its kind (pending ones first) within `wait`; `Err` as in
    /// [`Self::next_of_kind_within`].
    pub async fn next_within(&mut self, wait: Duration) -> Result<Value, Closed> {
        if let Some(value) = self.pending.pop_front() {
            return Ok(value);
        }
        match tokio::time::timeout(wait, self.read()).await {
            Ok(result) => result,
            Err(_) => Err(Closed {
                code: 0,
                reason: "nothing in time".into(),
            }),
        }
    }

    /// Whether a message of `kind` was received and not taken yet (for "nothing was sent"
    /// assertions after an event-driven barrier, such as the reply to a later request).
    pub fn has_pending(&self, kind: &str) -> bool {
        self.pending.iter().any(|v| v["kind"] == kind)
    }

    /// Everything received and not yet taken.
    pub fn pending(&self) -> &VecDeque<Value> {
        &self.pending
    }

    /// The next JSON object, or how the socket ended.
    async fn read(&mut self) -> Result<Value, Closed> {
        if let Some(closed) = &self.closed {
            return Err(closed.clone());
        }
        loop {
            match self.ws.next().await {
                Some(Ok(Message::Text(text))) => {
                    return Ok(serde_json::from_str(&text).expect("the gateway sends JSON"))
                }
                Some(Ok(Message::Close(frame))) => {
                    let closed = frame.map_or(
                        Closed {
                            code: 1005,
                            reason: String::new(),
                        },
                        |f| Closed {
                            code: f.code.into(),
                            reason: f.reason.to_string(),
                        },
                    );
                    self.closed = Some(closed.clone());
                    return Err(closed);
                }
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => {
                    let closed = Closed {
                        code: 1006,
                        reason: String::new(),
                    };
                    self.closed = Some(closed.clone());
                    return Err(closed);
                }
            }
        }
    }

    /// Reads until the gateway closes the socket; returns the close code and reason.
    pub async fn closed(&mut self) -> Closed {
        loop {
            match tokio::time::timeout(WAIT, self.read())
                .await
                .expect("close in time")
            {
                Ok(value) => self.pending.push_back(value),
                Err(closed) => return closed,
            }
        }
    }

    /// Sends a close frame (the viewer leaves).
    pub async fn close(&mut self) {
        let _ = self.ws.close(None).await;
    }
}

/// A gateway over real verification with one organization, API key, recording RFB upstream and
/// a browser session on it: what most Message-channel tests start from.
pub struct MessageWorld {
    /// Verification (SQLite).
    pub verification: TestVerification,
    /// The gateway.
    pub gateway: TestGateway,
    /// The session's RFB server.
    pub upstream: RecordingUpstream,
    /// The organization.
    pub org: String,
    /// Its API key.
    pub key: String,
    /// The browser session (`vnc_url` = the recording upstream).
    pub session: String,
    /// The cdp-executor, when the world has a browser.
    pub executor: Option<TestExecutor>,
}

impl MessageWorld {
    /// A world with the gateway's test configuration and no executor.
    pub async fn start() -> Self {
        Self::start_with(None, |_| {}).await
    }

    /// A world whose session has `cdp_url` (default: a closed port, which makes the session
    /// ready without a browser) and whose gateway config `tweak` adjusts.
    pub async fn start_with(cdp_url: Option<&str>, tweak: impl FnOnce(&mut Config)) -> Self {
        Self::build(cdp_url.unwrap_or("http://127.0.0.1:9"), false, tweak).await
    }

    /// A world whose session is the browser at `cdp_url`, with a real cdp-executor (resolving
    /// the session through verification) wired to the gateway.
    pub async fn start_with_browser(cdp_url: &str) -> Self {
        Self::build(cdp_url, true, |_| {}).await
    }

    async fn build(cdp_url: &str, with_executor: bool, tweak: impl FnOnce(&mut Config)) -> Self {
        let verification = TestVerification::spawn_sqlite().await;
        let upstream = RecordingUpstream::start(UpstreamMode::Quiet).await;
        let org = verification.create_org("acme").await;
        let key = verification.create_api_key(&org).await;
        let session = verification
            .create_browser_session(&org, Some(&upstream.vnc_url()), Some(cdp_url))
            .await;
        let mut config = Config::for_tests(verification.url.clone());
        let executor = match with_executor {
            true => Some(TestExecutor::spawn(&verification.url, ExecutorOptions::default()).await),
            false => None,
        };
        config.cdp_executor_url = executor.as_ref().map(|e| e.url.clone());
        tweak(&mut config);
        let gateway = TestGateway::spawn_with(config).await;
        Self {
            verification,
            gateway,
            upstream,
            org,
            key,
            session,
            executor,
        }
    }
    /// `client_id=…&apikey=…`.
    pub fn query(&self, client_id: &str) -> String {
        format!("client_id={client_id}&apikey={}", self.key)
    }

    /// A Message socket of `client_id` on the browser session.
    pub async fn messages(&self, client_id: &str) -> MessageClient {
        MessageClient::connect(&self.gateway.ws_url(
            &path("browser_session", &self.session),
            &self.query(client_id),
        ))
        .await
    }

    /// A Message socket of `client_id` on any entity path.
    pub async fn messages_on(&self, entity_kind: &str, id: &str, client_id: &str) -> MessageClient {
        MessageClient::connect(
            &self
                .gateway
                .ws_url(&path(entity_kind, id), &self.query(client_id)),
        )
        .await
    }

    /// A VNC socket of `client_id` on the browser session, past the RFB handshake.
    pub async fn vnc(&self, client_id: &str) -> VncClient {
        let path = format!("/v1/stream/vnc/browser_session/{}", self.session);
        let mut vnc = self
            .gateway
            .connect_vnc(&path, &self.query(client_id))
            .await;
        vnc.handshake()
            .await
            .expect("RFB handshake through the gateway");
        vnc
    }
}
