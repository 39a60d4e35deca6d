//! Two gateway replicas sharing pairing and control through Redis (`--bus`), with no sticky
//! sessions (PROTOCOL §5; spec §15 items 1–3): a client's VNC socket on one replica and its
//! Message socket on the other pair up, control changes cross replicas, supersession and
//! grace expiry work across them, and a lost Redis closes new sockets with `bus-unavailable`
//! until it returns. Needs Redis at `BROWSER_STREAM_TEST_REDIS_URL` (default
//! `redis://127.0.0.1:6379`); each test uses its own key prefix.

use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use gateway::config::Config;
use gateway::control::redis::{RedisBus, RedisBusOptions};
use gateway::control::{ControlBus, ControlReason, PairEvent};
use gateway::entity::{ChannelKind, EntityKey, EntityKind, SessionKey, StreamKey};
use gateway::rfb::{encode, keysym};
use integration_tests::gateway::{RecordingUpstream, TestGateway, UpstreamMode, VncClient, WAIT};
use integration_tests::message::{path, MessageClient};
use integration_tests::node::skip;
use integration_tests::verification::TestVerification;
use proto::control::v1 as pb;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

/// The Redis server used when `BROWSER_STREAM_TEST_REDIS_URL` is not set.
const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379";

/// The Redis URL for tests when its server accepts connections; otherwise applies the skip
/// rule and returns `None`.
fn redis_url_or_skip() -> Option<String> {
    let url = std::env::var("BROWSER_STREAM_TEST_REDIS_URL")
        .unwrap_or_else(|_| DEFAULT_REDIS_URL.to_owned());
    let parsed = url::Url::parse(&url).ok()?;
    let target = (
        parsed.host_str().unwrap_or("127.0.0.1").to_owned(),
        parsed.port().unwrap_or(6379),
    );
    if accepts(target) {
        Some(url)
    } else {
        skip(&format!("Redis is not reachable at {url}"));
        None
    }
}

fn accepts(target: impl ToSocketAddrs) -> bool {
    let addrs: Vec<SocketAddr> = target
        .to_socket_addrs()
        .map(Vec::from_iter)
        .unwrap_or_default();
    addrs
        .iter()
        .any(|addr| TcpStream::connect_timeout(addr, Duration::from_secs(2)).is_ok())
}

/// `url` with a key prefix no other test uses.
fn bus_url(url: &str) -> String {
    format!("{url}/?prefix=bs-test-{}:", uuid::Uuid::new_v4().simple())
}

/// Two replicas on one bus, one verification, one recording RFB upstream.
struct Cluster {
    _verification: TestVerification,
    a: TestGateway,
    b: TestGateway,
    upstream: RecordingUpstream,
    org: String,
    key: String,
    session: String,
}

async fn cluster(bus: &str) -> Cluster {
    let verification = TestVerification::spawn_sqlite().await;
    let upstream = RecordingUpstream::start(UpstreamMode::Quiet).await;
    let org = verification.create_org("org").await;
    let key = verification.create_api_key(&org).await;
    let session = verification
        .create_browser_session(&org, Some(&upstream.vnc_url()), Some("http://127.0.0.1:9"))
        .await;
    let a = replica(&verification, bus).await;
    let b = replica(&verification, bus).await;
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

async fn replica(verification: &TestVerification, bus: &str) -> TestGateway {
    let mut config = Config::for_tests(verification.url.clone());
    config.bus = Some(bus.to_owned());
    TestGateway::spawn_with(config).await
}

impl Cluster {
    fn query(&self, client_id: &str) -> String {
        format!("client_id={client_id}&apikey={}", self.key)
    }

    async fn vnc(&self, on: &TestGateway, client_id: &str) -> VncClient {
        let path = format!("/v1/stream/vnc/browser_session/{}", self.session);
        let mut vnc = on.connect_vnc(&path, &self.query(client_id)).await;
        vnc.handshake().await.expect("handshake");
        vnc
    }

    /// A Message socket, once it got its first `control-state` (it is registered then).
    async fn messages(&self, on: &TestGateway, client_id: &str) -> MessageClient {
        let mut messages = self.connect_messages(on, client_id).await;
        messages.next_of_kind("control-state").await;
        messages
    }

    async fn connect_messages(&self, on: &TestGateway, client_id: &str) -> MessageClient {
        let url = on.ws_url(
            &path("browser_session", &self.session),
            &self.query(client_id),
        );
        MessageClient::connect(&url).await
    }

    fn session_key(&self) -> SessionKey {
        SessionKey {
            organization_id: self.org.clone(),
            browser_session_id: self.session.clone(),
        }
    }

    /// Waits until `on` sees `holder` in control (the barrier before input on that replica).
    async fn until_holder(&self, on: &TestGateway, holder: Option<&str>) {
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

fn control_state(interactor: &str, reason: Value) -> Value {
    json!({"kind": "control-state", "interactor": interactor, "reason": reason})
}

fn fbur() -> Vec<u8> {
    encode::framebuffer_update_request(true, 0, 0, 1, 1).to_vec()
}

#[tokio::test]
async fn control_taken_on_one_replica_lets_the_vnc_socket_on_the_other_drive() {
    let Some(url) = redis_url_or_skip() else {
        return;
    };
    let c = cluster(&bus_url(&url)).await;
    let mut vnc = c.vnc(&c.a, "c1").await;
    let mut messages = c.messages(&c.b, "c1").await;
    // Before: no control, the key is dropped and only the update request passes.
    vnc.send(&[encode::key_event(true, 0x61).to_vec(), fbur()].concat())
        .await;
    c.upstream.wait_for(fbur().len()).await;
    // Take control on B: A's input goes through.
    messages.send(json!({"kind": "take-control"})).await;
    assert_eq!(
        messages.next_of_kind("control-state").await,
        control_state("user", Value::Null)
    );
    c.until_holder(&c.a, Some("c1")).await;
    let typed = [
        encode::key_event(true, 0x62),
        encode::key_event(false, 0x62),
    ]
    .concat();
    vnc.send(&typed).await;
    // Cede on B: A's input is dropped again.
    c.upstream.wait_for(fbur().len() + typed.len()).await;
    messages.send(json!({"kind": "cede-control"})).await;
    assert_eq!(
        messages.next_of_kind("control-state").await,
        control_state("agent", json!("ceded"))
    );
    c.until_holder(&c.a, None).await;
    vnc.send(&[encode::key_event(true, 0x63).to_vec(), fbur()].concat())
        .await;
    let expected = [fbur(), typed, fbur()].concat();
    assert_eq!(c.upstream.wait_for(expected.len()).await, expected);
}

#[tokio::test]
async fn a_paste_held_back_on_one_replica_asks_the_message_socket_on_the_other() {
    let Some(url) = redis_url_or_skip() else {
        return;
    };
    let c = cluster(&bus_url(&url)).await;
    let mut messages = c.messages(&c.b, "c1").await;
    messages.send(json!({"kind": "take-control"})).await;
    messages.next_of_kind("control-state").await;
    let mut vnc = c.vnc(&c.a, "c1").await;
    c.until_holder(&c.a, Some("c1")).await;
    let ctrl = encode::key_event(true, keysym::CONTROL_L).to_vec();
    let paste = [
        ctrl.clone(),
        encode::key_event(true, keysym::V_LOWER).to_vec(),
        fbur(),
    ];
    vnc.send(&paste.concat()).await;
    messages.next_of_kind("ask-for-clipboard").await;
    let expected = [ctrl, fbur()].concat();
    assert_eq!(
        c.upstream.wait_for(expected.len()).await,
        expected,
        "V was held back"
    );
}

#[tokio::test]
async fn a_second_message_socket_on_another_replica_supersedes_the_first() {
    let Some(url) = redis_url_or_skip() else {
        return;
    };
    let c = cluster(&bus_url(&url)).await;
    let mut first = c.messages(&c.b, "c1").await;
    let mut second = c.messages(&c.a, "c1").await;
    let closed = first.closed().await;
    assert_eq!((closed.code, closed.reason.as_str()), (1000, "superseded"));
    // The newer socket stays and still works.
    second.send(json!({"kind": "take-control"})).await;
    assert_eq!(
        second.next_of_kind("control-state").await,
        control_state("user", Value::Null)
    );
}

#[tokio::test]
async fn the_latest_take_wins_across_replicas_and_the_previous_holder_is_told() {
    let Some(url) = redis_url_or_skip() else {
        return;
    };
    let c = cluster(&bus_url(&url)).await;
    let mut c1 = c.messages(&c.a, "c1").await;
    let mut c1_vnc = c.vnc(&c.a, "c1").await;
    let mut c2 = c.messages(&c.b, "c2").await;
    c1.send(json!({"kind": "take-control"})).await;
    assert_eq!(
        c1.next_of_kind("control-state").await,
        control_state("user", Value::Null)
    );
    c2.send(json!({"kind": "take-control"})).await;
    let taken = control_state("agent", json!("taken-by-another-viewer"));
    let seen = loop {
        let state = c1.next_of_kind("control-state").await;
        if state != control_state("user", Value::Null) {
            break state;
        }
    };
    assert_eq!(seen, taken);
    // c1's VNC socket on A lost control too: its key is dropped.
    c.until_holder(&c.a, Some("c2")).await;
    c1_vnc
        .send(&[encode::key_event(true, 0x61).to_vec(), fbur()].concat())
        .await;
    assert_eq!(c.upstream.wait_for(fbur().len()).await, fbur());
    let now =
        c.b.state
            .bus
            .control(&c.session_key())
            .await
            .expect("bus reachable");
    assert_eq!(now.holder.as_deref(), Some("c2"));
}

#[tokio::test]
async fn control_returns_to_the_agent_after_the_grace_when_the_holders_replica_shuts_down() {
    let Some(url) = redis_url_or_skip() else {
        return;
    };
    let c = cluster(&bus_url(&url)).await;
    let grpc = format!("http://{}", c.b.grpc_addr);
    let mut agent = pb::control_client::ControlClient::connect(grpc)
        .await
        .expect("grpc");
    let request = pb::WatchControlRequest {
        organization_id: c.org.clone(),
        browser_session_id: c.session.clone(),
    };
    let mut changes = agent
        .watch_control(request)
        .await
        .expect("watch")
        .into_inner();
    let first = changes.message().await.expect("stream").expect("first");
    assert_eq!(first.interactor, pb::Interactor::Agent as i32);
    let mut messages = c.messages(&c.a, "c1").await;
    let _vnc = c.vnc(&c.a, "c1").await;
    messages.send(json!({"kind": "take-control"})).await;
    // B's agent sees the take made on A.
    let taken = next_change(&mut changes).await;
    assert_eq!(
        (taken.interactor, taken.client_id.as_str()),
        (pb::Interactor::User as i32, "c1")
    );
    // A goes away with the holder's sockets; B returns control to the agent after the grace.
    let Cluster { a, .. } = c;
    a.shutdown().await.expect("replica A drains");
    let expired = next_change(&mut changes).await;
    assert_eq!(
        (expired.interactor, expired.reason),
        (
            pb::Interactor::Agent as i32,
            pb::ControlReason::GraceExpired as i32
        )
    );
}

async fn next_change(changes: &mut tonic::Streaming<pb::ControlState>) -> pb::ControlState {
    tokio::time::timeout(WAIT, changes.message())
        .await
        .expect("change in time")
        .expect("stream")
        .expect("open")
}

/// A private Redis on a free port, killed and restarted by the test.
struct PrivateRedis {
    port: u16,
    child: Child,
}

impl PrivateRedis {
    fn start(port: u16) -> Option<Self> {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .spawn();
        let Ok(child) = child else {
            skip("redis-server is not installed");
            return None;
        };
        let deadline = std::time::Instant::now() + WAIT;
        while !accepts(("127.0.0.1", port)) {
            assert!(
                std::time::Instant::now() < deadline,
                "redis-server did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(Self { port, child })
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

#[tokio::test]
async fn new_sockets_close_with_bus_unavailable_while_redis_is_down_and_work_once_it_returns() {
    if redis_url_or_skip().is_none() {
        return;
    }
    let Some(mut redis) = PrivateRedis::start(free_port()) else {
        return;
    };
    let c = cluster(&bus_url(&format!("redis://127.0.0.1:{}", redis.port))).await;
    c.messages(&c.b, "c1").await;
    redis.stop();
    let mut refused = c.connect_messages(&c.b, "c2").await;
    let closed = refused.closed().await;
    assert_eq!(
        (closed.code, closed.reason.as_str()),
        (1011, "bus-unavailable")
    );
    let Some(_redis) = PrivateRedis::start(redis.port) else {
        return;
    };
    // The bus reconnects by itself: new sockets are served within the kit's wait, on both
    // replicas, and changes cross replicas again (both re-subscribed).
    let (mut on_b, state) = served(&c, &c.b, "c3").await;
    assert_eq!(state, control_state("agent", Value::Null));
    let (mut on_a, _) = served(&c, &c.a, "c4").await;
    on_a.send(json!({"kind": "take-control"})).await;
    assert_eq!(
        on_a.next_of_kind("control-state").await,
        control_state("user", Value::Null)
    );
    assert_eq!(
        on_b.next_of_kind("control-state").await,
        control_state("agent", Value::Null),
        "B learned of A's take through its new subscription"
    );
}

/// A Message socket on `on`, retried while the bus is still reconnecting; with its first
/// `control-state`.
async fn served(c: &Cluster, on: &TestGateway, client_id: &str) -> (MessageClient, Value) {
    let served = tokio::time::timeout(WAIT, async {
        loop {
            let mut socket = c.connect_messages(on, client_id).await;
            match socket.next_of_kind_within("control-state", WAIT).await {
                Ok(state) => return (socket, state),
                Err(closed) => assert_eq!(closed.reason, "bus-unavailable"),
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    served.expect("served after Redis returned")
}

fn bus(url: &str, prefix: &str, shutdown: &CancellationToken) -> RedisBus {
    let options = RedisBusOptions {
        url: url.to_owned(),
        prefix: prefix.to_owned(),
        grace: Duration::from_millis(300),
        call_timeout: Duration::from_secs(5),
        socket_ttl: Duration::from_secs(1),
        sweep_interval: Duration::from_millis(50),
    };
    RedisBus::start(options, shutdown.clone()).expect("valid URL")
}

fn stream_key(client_id: &str) -> StreamKey {
    StreamKey {
        entity: EntityKey {
            organization_id: "org".into(),
            kind: EntityKind::BrowserSession,
            id: "pbs_1".into(),
        },
        client_id: client_id.into(),
    }
}

#[tokio::test]
async fn two_bus_replicas_pair_sockets_pass_events_and_supersede_each_other() {
    let Some(url) = redis_url_or_skip() else {
        return;
    };
    let prefix = format!("bs-test-{}:", uuid::Uuid::new_v4().simple());
    let shutdown = CancellationToken::new();
    let (a, b) = (bus(&url, &prefix, &shutdown), bus(&url, &prefix, &shutdown));
    let session = SessionKey {
        organization_id: "org".into(),
        browser_session_id: "pbs_1".into(),
    };
    let mut message = b
        .register(stream_key("c1"), ChannelKind::Message, session.clone())
        .await
        .expect("registers");
    let sent = a
        .send_to_pair(
            &stream_key("c1"),
            ChannelKind::Message,
            PairEvent::CopiedText("hi".into()),
        )
        .await;
    assert!(sent.expect("bus reachable"));
    let event = tokio::time::timeout(WAIT, message.inbox.recv())
        .await
        .expect("in time");
    assert_eq!(event, Some(PairEvent::CopiedText("hi".into())));
    // Nothing pairs across clients.
    let other = a.send_to_pair(
        &stream_key("c2"),
        ChannelKind::Message,
        PairEvent::AskForClipboard,
    );
    assert!(!other.await.expect("bus reachable"));
    // A take on A reaches B's watch; a newer socket on A supersedes B's.
    let state = a.take_control(&session, "c1").await.expect("bus reachable");
    assert_eq!(
        (state.holder.as_deref(), state.reason),
        (Some("c1"), ControlReason::None)
    );
    tokio::time::timeout(WAIT, message.control.wait_for(|s| s.is_held_by("c1")))
        .await
        .expect("in time")
        .expect("open");
    let _newer = a
        .register(stream_key("c1"), ChannelKind::Message, session.clone())
        .await
        .expect("registers");
    tokio::time::timeout(WAIT, message.superseded.cancelled())
        .await
        .expect("superseded in time");
    shutdown.cancel();
}

#[tokio::test]
async fn control_returns_to_the_agent_when_the_holders_replica_dies_without_deregistering() {
    let Some(url) = redis_url_or_skip() else {
        return;
    };
    let prefix = format!("bs-test-{}:", uuid::Uuid::new_v4().simple());
    let (dies, survives) = (CancellationToken::new(), CancellationToken::new());
    let (a, b) = (bus(&url, &prefix, &dies), bus(&url, &prefix, &survives));
    let session = SessionKey {
        organization_id: "org".into(),
        browser_session_id: "pbs_1".into(),
    };
    let registration = a
        .register(stream_key("c1"), ChannelKind::Vnc, session.clone())
        .await
        .expect("registers");
    a.take_control(&session, "c1").await.expect("bus reachable");
    let mut watch = b.watch_control(&session).await.expect("bus reachable");
    // A dies: its tasks stop and its socket never deregisters (nor refreshes).
    dies.cancel();
    std::mem::forget(registration);
    let expired = tokio::time::timeout(
        WAIT,
        watch.wait_for(|s| s.reason == ControlReason::GraceExpired),
    )
    .await
    .expect("grace expired in time")
    .expect("open")
    .clone();
    assert_eq!(
        (expired.holder, expired.previous_holder.as_deref()),
        (None, Some("c1"))
    );
    survives.cancel();
}
