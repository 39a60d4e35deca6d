//! Unit tests of the in-memory bus: supersede, pairing scope, latest-wins control, grace.

use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::*;
use crate::entity::{ClientId, EntityKey, EntityKind, Scope};

fn key(org: &str, client: &str) -> StreamKey {
    StreamKey {
        entity: EntityKey {
            organization_id: org.into(),
            kind: EntityKind::BrowserSession,
            id: "pbs_1".into(),
        },
        client_id: id(client),
        scope: Scope::Control,
    }
}

fn id(client: &str) -> ClientId {
    ClientId::parse(client).expect("a valid client id")
}

fn bus_with_grace(grace: Duration) -> MemoryBus {
    MemoryBus::new(grace, TaskTracker::new(), CancellationToken::new())
}

fn session(org: &str) -> SessionKey {
    SessionKey {
        organization_id: org.into(),
        browser_session_id: "pbs_1".into(),
    }
}

#[tokio::test]
async fn a_view_socket_never_supersedes_or_pairs_with_a_control_socket_of_the_same_client() {
    let bus = bus_with_grace(Duration::from_secs(10));
    let control = bus
        .register(key("o1", "c"), ChannelKind::Message, session("o1"))
        .await
        .unwrap();
    let view_key = StreamKey {
        scope: Scope::View,
        ..key("o1", "c")
    };
    let mut view = bus
        .register(view_key.clone(), ChannelKind::Message, session("o1"))
        .await
        .unwrap();
    assert!(!control.superseded.is_cancelled());
    assert!(!view.superseded.is_cancelled());
    // What the control socket's VNC pair sends reaches the control socket only.
    assert!(bus
        .send_to_pair(
            &key("o1", "c"),
            ChannelKind::Message,
            PairEvent::CopiedText("secret".into())
        )
        .await
        .unwrap());
    assert!(view.inbox.try_recv().is_err());
    // A view VNC socket pairs with the view Message socket, not with the control one.
    assert!(bus
        .send_to_pair(&view_key, ChannelKind::Message, PairEvent::VncConnected)
        .await
        .unwrap());
    assert_eq!(view.inbox.try_recv().ok(), Some(PairEvent::VncConnected));
}

#[tokio::test]
async fn a_second_socket_of_the_same_kind_and_key_supersedes_the_first() {
    let bus = bus_with_grace(Duration::from_secs(10));
    let first = bus
        .register(key("o1", "c"), ChannelKind::Vnc, session("o1"))
        .await
        .unwrap();
    let message = bus
        .register(key("o1", "c"), ChannelKind::Message, session("o1"))
        .await
        .unwrap();
    let second = bus
        .register(key("o1", "c"), ChannelKind::Vnc, session("o1"))
        .await
        .unwrap();
    assert!(first.superseded.is_cancelled());
    assert!(!message.superseded.is_cancelled());
    assert!(!second.superseded.is_cancelled());
    // The stale socket's deregistration must not evict its replacement.
    drop(first);
    assert!(bus
        .send_to_pair(
            &key("o1", "c"),
            ChannelKind::Vnc,
            PairEvent::AskForClipboard
        )
        .await
        .unwrap());
}

#[tokio::test]
async fn pair_events_reach_only_the_same_stream_key() {
    let bus = bus_with_grace(Duration::from_secs(10));
    let mut mine = bus
        .register(key("o1", "c"), ChannelKind::Message, session("o1"))
        .await
        .unwrap();
    let mut other_org = bus
        .register(key("o2", "c"), ChannelKind::Message, session("o2"))
        .await
        .unwrap();
    let sent = bus
        .send_to_pair(
            &key("o1", "c"),
            ChannelKind::Message,
            PairEvent::CopiedText("hi".into()),
        )
        .await
        .unwrap();
    assert!(sent);
    assert_eq!(
        mine.inbox.recv().await,
        Some(PairEvent::CopiedText("hi".into()))
    );
    assert!(other_org.inbox.try_recv().is_err());
    assert!(!bus
        .send_to_pair(
            &key("o3", "c"),
            ChannelKind::Message,
            PairEvent::AskForClipboard
        )
        .await
        .unwrap());
}

#[tokio::test]
async fn the_latest_take_control_wins_and_names_the_previous_holder() {
    let bus = bus_with_grace(Duration::from_secs(10));
    let a = bus
        .register(key("o1", "a"), ChannelKind::Vnc, session("o1"))
        .await
        .unwrap();
    let _b = bus
        .register(key("o1", "b"), ChannelKind::Vnc, session("o1"))
        .await
        .unwrap();
    bus.take_control(&session("o1"), &id("a")).await.unwrap();
    assert!(a.control.borrow().is_held_by(&id("a")));
    let state = bus.take_control(&session("o1"), &id("b")).await.unwrap();
    assert!(state.is_held_by(&id("b")));
    assert_eq!(state.previous_holder, Some(id("a")));
    assert_eq!(state.reason, ControlReason::TakenByAnotherViewer);
    assert!(!a.control.borrow().is_held_by(&id("a")));
    // Control of another organization's session with the same id is untouched.
    assert_eq!(bus.control(&session("o2")).await.unwrap().holder, None);
}

#[tokio::test]
async fn ceding_returns_control_to_the_agent_and_a_non_holder_cannot_cede() {
    let bus = bus_with_grace(Duration::from_secs(10));
    let _a = bus
        .register(key("o1", "a"), ChannelKind::Vnc, session("o1"))
        .await
        .unwrap();
    bus.take_control(&session("o1"), &id("a")).await.unwrap();
    let state = bus.cede_control(&session("o1"), &id("b")).await.unwrap();
    assert!(state.is_held_by(&id("a")));
    let state = bus.cede_control(&session("o1"), &id("a")).await.unwrap();
    assert_eq!((state.holder, state.reason), (None, ControlReason::Ceded));
}

#[tokio::test(start_paused = true)]
async fn control_outlives_the_holders_sockets_for_the_grace_period_only() {
    let bus = bus_with_grace(Duration::from_secs(10));
    let socket = bus
        .register(key("o1", "a"), ChannelKind::Vnc, session("o1"))
        .await
        .unwrap();
    let mut watch = bus.watch_control(&session("o1")).await.unwrap();
    bus.take_control(&session("o1"), &id("a")).await.unwrap();
    drop(socket);
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(bus
        .control(&session("o1"))
        .await
        .unwrap()
        .is_held_by(&id("a")));
    tokio::time::sleep(Duration::from_secs(6)).await;
    watch.mark_changed();
    let state = watch.borrow_and_update().clone();
    assert_eq!(
        (state.holder, state.reason),
        (None, ControlReason::GraceExpired)
    );
}

#[tokio::test(start_paused = true)]
async fn a_reconnect_within_the_grace_period_keeps_control() {
    let bus = bus_with_grace(Duration::from_secs(10));
    let socket = bus
        .register(key("o1", "a"), ChannelKind::Vnc, session("o1"))
        .await
        .unwrap();
    bus.take_control(&session("o1"), &id("a")).await.unwrap();
    drop(socket);
    let _again = bus
        .register(key("o1", "a"), ChannelKind::Vnc, session("o1"))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(20)).await;
    assert!(bus
        .control(&session("o1"))
        .await
        .unwrap()
        .is_held_by(&id("a")));
}

#[tokio::test]
async fn a_take_control_before_the_vnc_socket_applies_when_it_connects() {
    let bus = bus_with_grace(Duration::from_secs(10));
    bus.take_control(&session("o1"), &id("a")).await.unwrap();
    let vnc = bus
        .register(key("o1", "a"), ChannelKind::Vnc, session("o1"))
        .await
        .unwrap();
    assert!(vnc.control.borrow().is_held_by(&id("a")));
}
