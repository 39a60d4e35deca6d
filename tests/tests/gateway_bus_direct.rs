//! Two [`RedisBus`] instances used directly, without gateways, as two replicas would: sockets
//! pair and pass events, a newer socket supersedes an older one, and control returns to the
//! agent when the holder's replica dies without deregistering. Needs Redis at
//! `BROWSER_STREAM_TEST_REDIS_URL` (default `redis://127.0.0.1:6379`); each test uses its own
//! key prefix.

use std::time::Duration;

use gateway::control::redis::{RedisBus, RedisBusOptions};
use gateway::control::{ControlBus, ControlReason, PairEvent};
use gateway::entity::{ChannelKind, ClientId, EntityKey, EntityKind, Scope, SessionKey, StreamKey};
use integration_tests::bus::{redis_url_or_skip, unique_prefix};
use integration_tests::gateway::WAIT;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

fn bus(url: &str, prefix: &str, shutdown: &CancellationToken) -> RedisBus {
    let options = RedisBusOptions {
        url: url.to_owned(),
        ca: None,
        prefix: prefix.to_owned(),
        grace: Duration::from_millis(300),
        call_timeout: Duration::from_secs(5),
        socket_ttl: Duration::from_secs(1),
        sweep_interval: Duration::from_millis(50),
        heartbeat_interval: Duration::from_millis(500),
    };
    RedisBus::start(options, TaskTracker::new(), shutdown.clone()).expect("valid URL")
}

fn stream_key(client_id: &str) -> StreamKey {
    StreamKey {
        entity: EntityKey {
            organization_id: "org".into(),
            kind: EntityKind::BrowserSession,
            id: "pbs_1".into(),
        },
        client_id: client(client_id),
        scope: Scope::Control,
    }
}

fn client(id: &str) -> ClientId {
    ClientId::parse(id).expect("valid client id")
}

#[tokio::test]
async fn two_bus_replicas_pair_sockets_pass_events_and_supersede_each_other() {
    let Some(url) = redis_url_or_skip() else {
        return;
    };
    let prefix = unique_prefix();
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
    let state = a
        .take_control(&session, &client("c1"))
        .await
        .expect("bus reachable");
    assert_eq!(
        (state.holder.as_deref(), state.reason),
        (Some("c1"), ControlReason::None)
    );
    tokio::time::timeout(
        WAIT,
        message.control.wait_for(|s| s.is_held_by(&client("c1"))),
    )
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
    let prefix = unique_prefix();
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
    a.take_control(&session, &client("c1"))
        .await
        .expect("bus reachable");
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

#[tokio::test]
async fn a_view_socket_on_another_replica_neither_supersedes_nor_receives_for_a_control_socket() {
    let Some(url) = redis_url_or_skip() else {
        return;
    };
    let prefix = unique_prefix();
    let shutdown = CancellationToken::new();
    let (a, b) = (bus(&url, &prefix, &shutdown), bus(&url, &prefix, &shutdown));
    let session = SessionKey {
        organization_id: "org".into(),
        browser_session_id: "pbs_1".into(),
    };
    let mut control = a
        .register(stream_key("c1"), ChannelKind::Message, session.clone())
        .await
        .expect("registers");
    let view_key = StreamKey {
        scope: Scope::View,
        ..stream_key("c1")
    };
    // Act: a view socket of the same client_id registers on the other replica.
    let mut view = b
        .register(view_key, ChannelKind::Message, session.clone())
        .await
        .expect("registers");
    let sent = b
        .send_to_pair(
            &stream_key("c1"),
            ChannelKind::Message,
            PairEvent::CopiedText("the holder's selection".into()),
        )
        .await;
    // Assert
    assert!(sent.expect("bus reachable"));
    let event = tokio::time::timeout(WAIT, control.inbox.recv())
        .await
        .expect("event in time");
    assert_eq!(
        event,
        Some(PairEvent::CopiedText("the holder's selection".into()))
    );
    assert!(!control.superseded.is_cancelled());
    assert!(view.inbox.try_recv().is_err());
    shutdown.cancel();
}
