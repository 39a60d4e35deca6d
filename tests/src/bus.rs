//! Test kit for the Redis control bus (`--bus`): where the test Redis is (and the skip rule
//! when it is not), a private `redis-server` a test may kill, two gateway replicas on one bus,
//! and a TCP proxy that makes a connection hang without closing (the fault a real Redis
//! cannot produce on demand).

use std::net::{SocketAddr, TcpStream as StdTcpStream, ToSocketAddrs};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gateway::config::Config;
use gateway::entity::SessionKey;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use crate::gateway::{RecordingUpstream, TestGateway, UpstreamMode, VncClient, WAIT};
use crate::message::{path, MessageClient};
use crate::node::skip;
use crate::verification::TestVerification;

/// The Redis server used when `BROWSER_STREAM_TEST_REDIS_URL` is not set.
const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379";

/// The Redis URL for tests when its server accepts connections; otherwise applies the skip
/// rule and returns `None`.
pub fn redis_url_or_skip() -> Option<String> {
    let url = std::env::var("BROWSER_STREAM_TEST_REDIS_URL")
        .unwrap_or_else(|_| DEFAULT_REDIS_URL.to_owned());
    let target = host_port(&url)?;
    if accepts(target) {
        Some(url)
    } else {
        skip(&format!("Redis is not reachable at {url}"));
        None
    }
}

/// The host and port a `redis://` URL names.
pub fn host_port(url: &str) -> Option<(String, u16)> {
    let parsed = url::Url::parse(url).ok()?;
    let host = parsed.host_str().unwrap_or("127.0.0.1").to_owned();
    Some((host, parsed.port().unwrap_or(6379)))
}

fn accepts(target: impl ToSocketAddrs) -> bool {
    let addrs: Vec<SocketAddr> = target
        .to_socket_addrs()
        .map(Vec::from_iter)
        .unwrap_or_default();
    addrs
        .iter()
        .any(|addr| StdTcpStream::connect_timeout(addr, Duration::from_secs(2)).is_ok())
}

/// A key prefix no other test uses.
pub fn unique_prefix() -> String {
    format!("bs-test-{}:", uuid::Uuid::new_v4().simple())
}

/// The bus URL of the Redis at `url` under `prefix`.
pub fn bus_url_with(url: &str, prefix: &str) -> String {
    format!("{url}/?prefix={prefix}")
}

/// `url` with a key prefix no other test uses.
pub fn bus_url(url: &str) -> String {
    bus_url_with(url, &unique_prefix())
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

/// A private Redis on a free port, killed and restarted by the test.
pub struct PrivateRedis {
    /// Its port on 127.0.0.1.
    pub port: u16,
    child: Child,
}

impl PrivateRedis {
    /// Starts `redis-server` on `port` without persistence; `None` (after the skip rule)
    /// when it is not installed.
    pub fn start(port: u16) -> Option<Self> {
        Self::start_with(port, port, &[])
    }

    /// As [`Self::start`], with more `redis-server` arguments (`--requirepass`, TLS), and
    /// `listening` the port to wait for (the TLS port when the plain one is 0).
    pub fn start_with(port: u16, listening: u16, args: &[&str]) -> Option<Self> {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .args(args)
            .stdout(Stdio::null())
            .spawn();
        let Ok(child) = child else {
            skip("redis-server is not installed");
            return None;
        };
        let deadline = std::time::Instant::now() + WAIT;
        while !accepts(("127.0.0.1", listening)) {
            assert!(
                std::time::Instant::now() < deadline,
                "redis-server did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(Self {
            port: listening,
            child,
        })
    }

    /// Kills it (its clients see their connections close).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Two replicas on one bus, one verification, one recording RFB upstream.
pub struct Cluster {
    _verification: TestVerification,
    /// Replica A.
    pub a: TestGateway,
    /// Replica B.
    pub b: TestGateway,
    /// The browser session's RFB server.
    pub upstream: RecordingUpstream,
    /// The organization id.
    pub org: String,
    /// An API key of the organization.
    pub key: String,
    /// The browser session id.
    pub session: String,
}

/// Two replicas sharing the bus at `bus`, with the test configuration.
pub async fn cluster(bus: &str) -> Cluster {
    Cluster::spawn(bus, bus, |_| {}).await
}

impl Cluster {
    /// Replica A on `bus_a`, replica B on `bus_b` (the same Redis and prefix, reached
    /// another way), each with the test configuration adjusted by `configure`.
    pub async fn spawn(bus_a: &str, bus_b: &str, configure: impl Fn(&mut Config)) -> Self {
        let verification = TestVerification::spawn_sqlite().await;
        let upstream = RecordingUpstream::start(UpstreamMode::Quiet).await;
        let org = verification.create_org("org").await;
        let key = verification.create_api_key(&org).await;
        let session = verification
            .create_browser_session(&org, Some(&upstream.vnc_url()), Some("http://127.0.0.1:9"))
            .await;
        let replica = |bus: &str| {
            let mut config = Config::for_tests(verification.url.clone());
            config.bus = Some(bus.to_owned());
            configure(&mut config);
            TestGateway::spawn_with(config)
        };
        let a = replica(bus_a).await;
        let b = replica(bus_b).await;
        Cluster {
            _verification: verification,
            a,
            b,
            upstream,
            org,
            key,
            session,
        }
    }

    fn query(&self, client_id: &str) -> String {
        format!("client_id={client_id}&apikey={}", self.key)
    }

    /// A VNC socket of `client_id` on `on`, past the RFB handshake.
    pub async fn vnc(&self, on: &TestGateway, client_id: &str) -> VncClient {
        let path = format!("/v1/stream/vnc/browser_session/{}", self.session);
        let mut vnc = on.connect_vnc(&path, &self.query(client_id)).await;
        vnc.handshake().await.expect("handshake");
        vnc
    }

    /// A Message socket, once it got its first `control-state` (it is registered then).
    pub async fn messages(&self, on: &TestGateway, client_id: &str) -> MessageClient {
        let mut messages = self.connect_messages(on, client_id).await;
        messages.next_of_kind("control-state").await;
        messages
    }

    /// A Message socket, as soon as it is open.
    pub async fn connect_messages(&self, on: &TestGateway, client_id: &str) -> MessageClient {
        let url = on.ws_url(
            &path("browser_session", &self.session),
            &self.query(client_id),
        );
        MessageClient::connect(&url).await
    }

    /// The browser session's key on the bus.
    pub fn session_key(&self) -> SessionKey {
        SessionKey {
            organization_id: self.org.clone(),
            browser_session_id: self.session.clone(),
        }
    }

    /// The stream key of `client_id`'s control-scoped sockets of the browser session.
    pub fn stream_key(&self, client_id: &str) -> gateway::entity::StreamKey {
        gateway::entity::StreamKey {
            entity: gateway::entity::EntityKey {
                organization_id: self.org.clone(),
                kind: gateway::entity::EntityKind::BrowserSession,
                id: self.session.clone(),
            },
            client_id: gateway::entity::ClientId::parse(client_id).expect("a valid client id"),
            scope: gateway::entity::Scope::Control,
        }
    }

    /// A Message socket of `c1` on B, then a newer one on A: B's closes `superseded` and A's
    /// takes control (pairing and control crossed the bus).
    pub async fn supersede_across_replicas(&self) {
        let mut first = self.messages(&self.b, "c1").await;
        let mut second = self.messages(&self.a, "c1").await;
        let closed = first.closed().await;
        assert_eq!((closed.code, closed.reason.as_str()), (1000, "superseded"));
        // The newer socket stays and still works.
        second.send(json!({"kind": "take-control"})).await;
        assert_eq!(
            second.next_of_kind("control-state").await,
            control_state("user", Value::Null)
        );
    }

    /// Waits until `on` sees `holder` in control (the barrier before input on that replica).
    /// It reads the state from Redis, so it also refreshes `on`'s view.
    pub async fn until_holder(&self, on: &TestGateway, holder: Option<&str>) {
        let mut watch = on
            .state
            .bus
            .watch_control(&self.session_key())
            .await
            .expect("bus reachable");
        tokio::time::timeout(WAIT, watch.wait_for(|s| s.holder.as_deref() == holder))
            .await
            .expect("control state crossed replicas in time")
            .expect("bus alive");
    }
}

/// The `control-state` message a viewer gets.
pub fn control_state(interactor: &str, reason: Value) -> Value {
    json!({"kind": "control-state", "interactor": interactor, "reason": reason})
}

/// Which open connections [`FaultProxy::blackhole`] stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blackhole {
    /// Connections that sent a SUBSCRIBE (pub/sub connections).
    Subscriptions,
    /// Every open connection.
    All,
}

/// A TCP proxy in front of a server. [`FaultProxy::blackhole`] makes open connections stop
/// forwarding both ways without closing them (no FIN, no RST, even when an end closes):
/// what a network partition or a dropped NAT entry looks like. New connections pass.
pub struct FaultProxy {
    addr: SocketAddr,
    links: Arc<Mutex<Vec<Arc<Link>>>>,
    stop: CancellationToken,
}

#[derive(Default)]
struct Link {
    blackholed: AtomicBool,
    subscriber: AtomicBool,
}

impl FaultProxy {
    /// Listens on 127.0.0.1:0 and forwards every connection to `target`.
    pub async fn start(target: (String, u16)) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let links = Arc::new(Mutex::new(Vec::new()));
        let stop = CancellationToken::new();
        tokio::spawn(accept(listener, target, links.clone(), stop.clone()));
        Self { addr, links, stop }
    }

    /// `redis://` at the proxy.
    pub fn redis_url(&self) -> String {
        format!("redis://{}", self.addr)
    }

    /// Blackholes the open connections `which` names; returns how many.
    pub fn blackhole(&self, which: Blackhole) -> usize {
        let links = self.links.lock().expect("links");
        let chosen = links
            .iter()
            .filter(|link| which == Blackhole::All || link.subscriber.load(Ordering::SeqCst));
        chosen
            .map(|link| link.blackholed.store(true, Ordering::SeqCst))
            .count()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn accept(
    listener: TcpListener,
    target: (String, u16),
    links: Arc<Mutex<Vec<Arc<Link>>>>,
    stop: CancellationToken,
) {
    loop {
        let client = tokio::select! {
            accepted = listener.accept() => accepted,
            () = stop.cancelled() => return,
        };
        let Ok((client, _)) = client else { continue };
        let Ok(server) = TcpStream::connect(target.clone()).await else {
            continue;
        };
        let link = Arc::new(Link::default());
        links.lock().expect("links").push(link.clone());
        let (client_read, client_write) = client.into_split();
        let (server_read, server_write) = server.into_split();
        let up = pump(client_read, server_write, link.clone(), true, stop.clone());
        tokio::spawn(up);
        tokio::spawn(pump(server_read, client_write, link, false, stop.clone()));
    }
}

/// Forwards `from` to `to` until either ends; once blackholed, forwards nothing more and
/// holds both halves open until the proxy drops.
async fn pump(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    link: Arc<Link>,
    to_server: bool,
    stop: CancellationToken,
) {
    let mut buf = vec![0; 16 * 1024];
    loop {
        let read = tokio::select! {
            read = from.read(&mut buf) => read,
            () = stop.cancelled() => return,
        };
        let n = read.unwrap_or(0);
        if to_server && contains_ignoring_case(&buf[..n], b"subscribe") {
            link.subscriber.store(true, Ordering::SeqCst);
        }
        if link.blackholed.load(Ordering::SeqCst) {
            stop.cancelled().await;
            return;
        }
        if n == 0 || to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

fn contains_ignoring_case(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window.eq_ignore_ascii_case(needle))
}
