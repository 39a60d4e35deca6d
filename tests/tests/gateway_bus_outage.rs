//! The Redis control bus when Redis fails under two gateway replicas: Redis down then back
//! (new sockets close with `bus-unavailable`, then both replicas reconnect and re-subscribe),
//! and a connection that hangs without closing (a partition: the replica notices through its
//! heartbeat, re-subscribes and re-reads control, so its sockets learn what changed). Needs
//! Redis at `BROWSER_STREAM_TEST_REDIS_URL` (default `redis://127.0.0.1:6379`) and
//! `redis-server` for the private one a test kills.

use std::time::Duration;

use integration_tests::bus::{
    bus_url, bus_url_with, cluster, control_state, free_port, host_port, redis_url_or_skip,
    unique_prefix, Blackhole, Cluster, FaultProxy, PrivateRedis,
};
use integration_tests::gateway::{TestGateway, WAIT};
use integration_tests::message::MessageClient;
use serde_json::{json, Value};

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
#[tokio::test]
async fn a_replica_whose_subscription_hangs_without_closing_resubscribes_and_learns_the_take() {
    let Some(url) = redis_url_or_skip() else {
        return;
    };
    let (c, proxy) = cluster_with_b_behind_a_proxy(&url).await;
    let mut c1 = holder_on_b(&c).await;
    let mut c2 = c.messages(&c.a, "c2").await;
    // Act: B's subscription stops delivering (its command connection still works), then c2
    // takes control on A.
    assert_eq!(
        proxy.blackhole(Blackhole::Subscriptions),
        1,
        "B's subscription"
    );
    c2.send(json!({"kind": "take-control"})).await;
    assert_eq!(
        c2.next_of_kind("control-state").await,
        control_state("user", Value::Null)
    );
    // Assert: B's socket learns it lost control (only a re-subscription re-reads it).
    assert_eq!(
        next_change_within(&mut c1, HANG_BOUND).await,
        control_state("agent", json!("taken-by-another-viewer"))
    );
}

#[tokio::test]
async fn a_replica_cut_off_from_redis_without_a_close_reconnects_and_learns_the_take() {
    let Some(url) = redis_url_or_skip() else {
        return;
    };
    let (c, proxy) = cluster_with_b_behind_a_proxy(&url).await;
    let mut c1 = holder_on_b(&c).await;
    let mut c2 = c.messages(&c.a, "c2").await;
    // Act: both of B's connections (commands and subscription) hang, then c2 takes on A.
    assert!(proxy.blackhole(Blackhole::All) >= 2, "B's two connections");
    c2.send(json!({"kind": "take-control"})).await;
    assert_eq!(
        c2.next_of_kind("control-state").await,
        control_state("user", Value::Null)
    );
    // Assert: B replaces both connections and its socket learns it lost control.
    assert_eq!(
        next_change_within(&mut c1, HANG_BOUND).await,
        control_state("agent", json!("taken-by-another-viewer"))
    );
}

/// Bounds a hang only: detection takes a heartbeat interval plus one or two call deadlines
/// (about 2.5 to 4 s with [`SHORT_CALLS`]), then a re-subscription and a re-read.
const HANG_BOUND: Duration = Duration::from_secs(60);

/// The Redis call deadline (`--connect-timeout`) of the hang tests, so the heartbeat (every
/// half of it) notices a hang in seconds.
const SHORT_CALLS: Duration = Duration::from_secs(3);

/// A cluster on the Redis at `url` where A connects directly and B through a [`FaultProxy`].
async fn cluster_with_b_behind_a_proxy(url: &str) -> (Cluster, FaultProxy) {
    let proxy = FaultProxy::start(host_port(url).expect("redis URL")).await;
    let prefix = unique_prefix();
    let (direct, proxied) = (
        bus_url_with(url, &prefix),
        bus_url_with(&proxy.redis_url(), &prefix),
    );
    let c = Cluster::spawn(&direct, &proxied, |config| {
        config.connect_timeout = SHORT_CALLS;
    })
    .await;
    (c, proxy)
}

/// A Message socket of `c1` on B, holding control.
async fn holder_on_b(c: &Cluster) -> MessageClient {
    let mut c1 = c.messages(&c.b, "c1").await;
    c1.send(json!({"kind": "take-control"})).await;
    assert_eq!(
        c1.next_of_kind("control-state").await,
        control_state("user", Value::Null)
    );
    c1
}

/// The next `control-state` other than "you hold control", within `bound`.
async fn next_change_within(socket: &mut MessageClient, bound: Duration) -> Value {
    let deadline = tokio::time::Instant::now() + bound;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match socket.next_of_kind_within("control-state", left).await {
            Ok(state) if state == control_state("user", Value::Null) => continue,
            Ok(state) => return state,
            Err(closed) => panic!("no control change within {bound:?}: {closed:?}"),
        }
    }
}
