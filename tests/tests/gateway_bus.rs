//! Two gateway replicas sharing pairing and control through Redis (`--bus`), with no sticky
//! sessions (PROTOCOL §5; spec §15 items 1–3): a client's VNC socket on one replica and its
//! Message socket on the other pair up, control changes cross replicas, and supersession and
//! grace expiry work across them. Needs Redis at `BROWSER_STREAM_TEST_REDIS_URL` (default
//! `redis://127.0.0.1:6379`); each test uses its own key prefix.

use gateway::rfb::{encode, keysym};
use integration_tests::bus::{bus_url, cluster, control_state, redis_url_or_skip, Cluster};
use integration_tests::gateway::WAIT;
use proto::control::v1 as pb;
use serde_json::{json, Value};

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
    c.supersede_across_replicas().await;
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

#[tokio::test]
async fn a_copied_text_at_the_clipboard_cap_crosses_replicas_whole() {
    // Arrange: 1 MiB of control characters, each six bytes once JSON-escaped (the bus used to
    // drop payloads over 1 MiB without a word).
    let Some(url) = redis_url_or_skip() else {
        return;
    };
    let c = cluster(&bus_url(&url)).await;
    let mut messages = c.messages(&c.b, "c1").await;
    let text = "\u{1}".repeat(gateway::caps::MAX_CLIPBOARD);
    // Act: what a Ctrl+C on replica A's VNC socket delivers to its pair.
    let delivered =
        c.a.state
            .bus
            .send_to_pair(
                &c.stream_key("c1"),
                gateway::entity::ChannelKind::Message,
                gateway::control::PairEvent::CopiedText(text.clone()),
            )
            .await
            .expect("bus reachable");
    // Assert
    assert!(delivered, "replica B's socket received it");
    let copied = messages.next_of_kind("copied-text").await;
    assert_eq!(copied["text"].as_str().map(str::len), Some(text.len()));
    assert_eq!(copied["text"], json!(text));
}
