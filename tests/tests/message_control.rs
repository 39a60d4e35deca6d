//! Control through the Message channel, end to end (PROTOCOL §5): real verification (SQLite),
//! the gateway in-process, a recording RFB upstream and real WebSocket clients. Whether the
//! VNC side honours a control change is read from the bytes that reach the upstream.
//!
//! Incumbent weaknesses shown fixed here (spec §15): item 11 (browser-changing operations are
//! gated by control) and item 12 (control survives a VNC reconnect, a take-control before the
//! VNC socket applies when it connects, take/cede are acknowledged).

use gateway::rfb::encode;
use integration_tests::gateway::{http_request, VncClient};
use integration_tests::message::{path, MessageClient, MessageWorld};
use serde_json::{json, Value};

fn barrier() -> Vec<u8> {
    encode::framebuffer_update_request(false, 0, 0, 4, 3).to_vec()
}

fn key(down: bool, keysym: u32) -> Vec<u8> {
    encode::key_event(down, keysym).to_vec()
}

/// Sends an `a` press and a barrier; returns the bytes the upstream got after `before` bytes.
async fn press_a(world: &MessageWorld, vnc: &mut VncClient, before: usize) -> Vec<u8> {
    vnc.send(&key(true, 0x61)).await;
    vnc.send(&key(false, 0x61)).await;
    vnc.send(&barrier()).await;
    // Either the two keys and the barrier arrive, or only the barrier: wait for the barrier.
    let mut received = world.upstream.wait_for(before + barrier().len()).await;
    while !received.ends_with(&barrier()) {
        received = world.upstream.wait_for(received.len() + 1).await;
    }
    received[before..].to_vec()
}

fn state(interactor: &str, reason: Option<&str>) -> Value {
    json!({"kind": "control-state", "interactor": interactor, "reason": reason})
}

#[tokio::test]
async fn control_state_is_sent_on_connect_and_acknowledges_every_take_and_cede() {
    // Arrange
    let world = MessageWorld::start().await;
    let mut messages = world.messages("c1").await;
    // Act + Assert: the agent holds control at first.
    assert_eq!(
        messages.next_of_kind("control-state").await,
        state("agent", None)
    );
    messages.send(json!({"kind": "take-control"})).await;
    assert_eq!(
        messages.next_of_kind("control-state").await,
        state("user", None)
    );
    // A repeated take-control is acknowledged too (spec §15 item 12: never acknowledged).
    messages.send(json!({"kind": "take-control"})).await;
    assert_eq!(
        messages.next_of_kind("control-state").await,
        state("user", None)
    );
    messages.send(json!({"kind": "cede-control"})).await;
    assert_eq!(
        messages.next_of_kind("control-state").await,
        state("agent", Some("ceded"))
    );
}

#[tokio::test]
async fn the_latest_take_control_wins_and_the_previous_holder_is_told_it_was_taken() {
    // Arrange
    let world = MessageWorld::start().await;
    let mut first = world.messages("c1").await;
    let mut second = world.messages("c2").await;
    first.send(json!({"kind": "take-control"})).await;
    assert_eq!(
        first.next_of_kind("control-state").await,
        state("agent", None)
    );
    assert_eq!(
        first.next_of_kind("control-state").await,
        state("user", None)
    );
    let mut vnc = world.vnc("c1").await;
    assert_eq!(
        press_a(&world, &mut vnc, 0).await.len(),
        8 + 8 + 10,
        "c1 drives before c2 takes over"
    );
    // Act
    second.send(json!({"kind": "take-control"})).await;
    // Assert
    assert_eq!(
        first.next_of_kind("control-state").await,
        state("agent", Some("taken-by-another-viewer"))
    );
    loop {
        // c2 saw the agent on connect, then c1's take, then its own.
        if second.next_of_kind("control-state").await == state("user", None) {
            break;
        }
    }
    let before = world.upstream.received().len();
    assert_eq!(
        press_a(&world, &mut vnc, before).await,
        barrier(),
        "c1's keys are dropped once c2 holds control"
    );
}

#[tokio::test]
async fn a_take_control_sent_before_the_vnc_socket_exists_applies_when_it_connects() {
    // Arrange: spec §15 item 12, the incumbent dropped a take-control that beat the VNC socket.
    let world = MessageWorld::start().await;
    let mut messages = world.messages("c1").await;
    messages.send(json!({"kind": "take-control"})).await;
    assert_eq!(
        messages.next_of_kind("control-state").await,
        state("agent", None)
    );
    assert_eq!(
        messages.next_of_kind("control-state").await,
        state("user", None)
    );
    // Act
    let mut vnc = world.vnc("c1").await;
    let received = press_a(&world, &mut vnc, 0).await;
    // Assert
    assert_eq!(
        received,
        [key(true, 0x61), key(false, 0x61), barrier()].concat()
    );
}

#[tokio::test]
async fn control_survives_a_vnc_reconnect_without_a_new_take_control() {
    // Arrange: spec §15 item 12, every incumbent VNC reconnect silently reverted to the agent.
    let world = MessageWorld::start_with(None, |c| {
        c.control_grace = std::time::Duration::from_secs(30)
    })
    .await;
    let mut messages = world.messages("c1").await;
    messages.send(json!({"kind": "take-control"})).await;
    assert_eq!(
        messages.next_of_kind("control-state").await,
        state("agent", None)
    );
    assert_eq!(
        messages.next_of_kind("control-state").await,
        state("user", None)
    );
    let mut vnc = world.vnc("c1").await;
    let first = press_a(&world, &mut vnc, 0).await;
    assert_eq!(first.len(), 26);
    // Act: the VNC socket drops and comes back; nothing is sent on the Message socket.
    vnc.close().await;
    let mut again = world.vnc("c1").await;
    let before = world.upstream.received().len();
    let received = press_a(&world, &mut again, before).await;
    // Assert
    assert_eq!(
        received,
        [key(true, 0x61), key(false, 0x61), barrier()].concat()
    );
}

#[tokio::test]
async fn control_returns_to_the_agent_when_the_holder_is_gone_for_the_grace_period() {
    // Arrange
    let world = MessageWorld::start_with(None, |c| {
        c.control_grace = std::time::Duration::from_millis(300)
    })
    .await;
    let mut holder = world.messages("c1").await;
    let mut watcher = world.messages("c2").await;
    holder.send(json!({"kind": "take-control"})).await;
    assert_eq!(
        holder.next_of_kind("control-state").await,
        state("agent", None)
    );
    assert_eq!(
        holder.next_of_kind("control-state").await,
        state("user", None)
    );
    // Act: the holder's only socket leaves; this test's grace is 300 ms.
    holder.close().await;
    // Assert
    loop {
        let seen = watcher.next_of_kind("control-state").await;
        if seen["reason"] == "grace-expired" {
            assert_eq!(seen, state("agent", Some("grace-expired")));
            break;
        }
    }
}

/// A `view` ticket for the world's browser session, minted with its API key.
async fn view_ticket(world: &MessageWorld) -> String {
    let body =
        json!({"entity_kind": "browser_session", "entity_id": world.session, "scope": "view"})
            .to_string();
    let (status, reply) = http_request(
        world.gateway.addr,
        "POST",
        "/v1/stream/tickets",
        &[
            ("x-api-key", &world.key),
            ("content-type", "application/json"),
        ],
        &body,
    )
    .await;
    assert_eq!(status, 201, "{reply}");
    serde_json::from_str::<Value>(&reply).unwrap()["ticket"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// A Message socket of `client_id` opened with a fresh `view` ticket.
async fn view_messages(world: &MessageWorld, client_id: &str) -> MessageClient {
    let ticket = view_ticket(world).await;
    let url = world.gateway.ws_url(
        &path("browser_session", &world.session),
        &format!("client_id={client_id}&ticket={ticket}"),
    );
    MessageClient::connect(&url).await
}

/// A Message socket of `client_id` that took control (both `control-state`s read).
async fn controlling(world: &MessageWorld, client_id: &str) -> MessageClient {
    let mut messages = world.messages(client_id).await;
    messages.send(json!({"kind": "take-control"})).await;
    assert_eq!(
        messages.next_of_kind("control-state").await,
        state("agent", None)
    );
    assert_eq!(
        messages.next_of_kind("control-state").await,
        state("user", None)
    );
    messages
}

fn session_key(world: &MessageWorld) -> gateway::entity::SessionKey {
    gateway::entity::SessionKey {
        organization_id: world.org.clone(),
        browser_session_id: world.session.clone(),
    }
}

#[tokio::test]
async fn a_view_ticket_cannot_take_control_and_is_told_why() {
    // Arrange
    let world = MessageWorld::start().await;
    let mut viewer = view_messages(&world, "v1").await;
    assert_eq!(
        viewer.next_of_kind("control-state").await,
        state("agent", None)
    );
    // Act
    viewer.send(json!({"kind": "take-control"})).await;
    // Assert
    assert_eq!(
        viewer.next_of_kind("error").await,
        json!({"kind": "error", "failed_kind": "take-control", "message": "view only"})
    );
    assert_eq!(
        viewer.next_of_kind("control-state").await,
        state("agent", Some("view-only"))
    );
    let control = world.gateway.state.bus.control(&session_key(&world)).await;
    assert_eq!(
        control.unwrap().holder,
        None,
        "the agent still holds control"
    );
}

#[tokio::test]
async fn a_view_socket_may_only_watch_whatever_it_sends() {
    // Arrange: a view socket of the very client that holds control (it knows the client_id).
    let world = MessageWorld::start().await;
    let _holder = controlling(&world, "c1").await;
    let mut viewer = view_messages(&world, "c1").await;
    assert_eq!(
        viewer.next_of_kind("control-state").await,
        state("agent", None),
        "a view socket is never shown as the user, even with the holder's client_id"
    );
    let refused = [
        json!({"kind": "cede-control"}),
        json!({"kind": "clipboard-copy"}),
        json!({"kind": "clipboard-paste", "text": "injected"}),
        json!({"kind": "ask-for-clipboard-response", "text": "injected"}),
        json!({"kind": "begin-exfiltration"}),
        json!({"kind": "end-exfiltration"}),
        json!({"kind": "navigate", "url": "https://example.com"}),
        json!({"kind": "reload", "hard": false}),
        json!({"kind": "go-back"}),
        json!({"kind": "go-forward"}),
        json!({"kind": "clear-all-data"}),
        json!({"kind": "get-browser-tabs"}),
    ];
    for request in &refused {
        // Act
        viewer.send(request.clone()).await;
        // Assert
        assert_eq!(
            viewer.next_of_kind("error").await,
            json!({"kind": "error", "failed_kind": request["kind"], "message": "view only"})
        );
    }
    // What a view socket may send passes the gate (and reaches the missing executor).
    viewer.send(json!({"kind": "get-browser-url"})).await;
    assert_eq!(
        viewer.next_of_kind("error").await,
        json!({"kind": "error", "failed_kind": "get-browser-url", "message": "browser operations unavailable"})
    );
    let control = world.gateway.state.bus.control(&session_key(&world)).await;
    assert_eq!(
        control.unwrap().holder.as_deref(),
        Some("c1"),
        "the view socket's cede-control changed nothing"
    );
}

#[tokio::test]
async fn a_view_socket_with_the_holders_client_id_neither_supersedes_it_nor_reads_its_copies() {
    // Arrange
    let world = MessageWorld::start().await;
    let mut holder = controlling(&world, "c1").await;
    let mut viewer = view_messages(&world, "c1").await;
    assert_eq!(
        viewer.next_of_kind("control-state").await,
        state("agent", None)
    );
    // Act: the holder's VNC socket delivers a copied selection to its pair, as a Ctrl+C does.
    let holder_key = gateway::entity::StreamKey {
        entity: gateway::entity::EntityKey {
            organization_id: world.org.clone(),
            kind: gateway::entity::EntityKind::BrowserSession,
            id: world.session.clone(),
        },
        client_id: gateway::entity::ClientId::parse("c1").unwrap(),
        scope: gateway::entity::Scope::Control,
    };
    let delivered = world
        .gateway
        .state
        .bus
        .send_to_pair(
            &holder_key,
            gateway::entity::ChannelKind::Message,
            gateway::control::PairEvent::CopiedText("the holder's selection".into()),
        )
        .await
        .unwrap();
    // Assert: the holder's socket is still the registered one and gets it; the viewer not.
    assert!(delivered);
    assert_eq!(
        holder.next_of_kind("copied-text").await,
        json!({"kind": "copied-text", "text": "the holder's selection"})
    );
    viewer.send(json!({"kind": "get-browser-url"})).await;
    viewer.next_of_kind("error").await;
    assert!(!viewer.has_pending("copied-text"), "{:?}", viewer.pending());
    holder.send(json!({"kind": "cede-control"})).await;
    assert_eq!(
        holder.next_of_kind("control-state").await,
        state("agent", Some("ceded")),
        "the holder's socket is still open and served"
    );
}

#[tokio::test]
async fn browser_changing_operations_need_control() {
    // Arrange: spec §15 item 11, the incumbent let any viewer navigate, paste or clear data.
    let world = MessageWorld::start().await;
    let mut messages = world.messages("c1").await;
    assert_eq!(
        messages.next_of_kind("control-state").await,
        state("agent", None)
    );
    let gated = [
        json!({"kind": "navigate", "url": "https://example.com"}),
        json!({"kind": "reload", "hard": true}),
        json!({"kind": "go-back"}),
        json!({"kind": "go-forward"}),
        json!({"kind": "clear-cookies"}),
        json!({"kind": "clear-history"}),
        json!({"kind": "clear-all-data"}),
        json!({"kind": "clipboard-paste", "text": "injected"}),
        json!({"kind": "ask-for-clipboard-response", "text": "injected"}),
        // Reading the selection and the user-event stream need control too.
        json!({"kind": "clipboard-copy"}),
        json!({"kind": "begin-exfiltration"}),
    ];
    for request in &gated {
        // Act
        messages.send(request.clone()).await;
        // Assert
        let error = messages.next_of_kind("error").await;
        assert_eq!(
            error,
            json!({"kind": "error", "failed_kind": request["kind"], "message": "control required"})
        );
    }
    // With control they pass the gate (and reach the missing executor).
    messages.send(json!({"kind": "take-control"})).await;
    assert_eq!(
        messages.next_of_kind("control-state").await,
        state("user", None)
    );
    messages
        .send(json!({"kind": "navigate", "url": "https://example.com"}))
        .await;
    let error = messages.next_of_kind("error").await;
    assert_eq!(
        error,
        json!({"kind": "error", "failed_kind": "navigate", "message": "browser operations unavailable"})
    );
}

#[tokio::test]
async fn tasks_and_workflow_runs_share_control_with_their_browser_session() {
    // Arrange
    let world = MessageWorld::start().await;
    let run = world
        .verification
        .create_workflow_run(&world.org, Some(&world.session))
        .await;
    let task = world
        .verification
        .create_task(&world.org, Some(&world.session), None)
        .await;
    let mut on_session = world.messages("c2").await;
    assert_eq!(
        on_session.next_of_kind("control-state").await,
        state("agent", None)
    );
    let mut on_run = world.messages_on("workflow_run", &run, "c1").await;
    assert_eq!(
        on_run.next_of_kind("control-state").await,
        state("agent", None)
    );
    // Act: c1 takes control through the workflow run's Message socket.
    on_run.send(json!({"kind": "take-control"})).await;
    // Assert: the session's other viewer learns it; c1's VNC socket on the session drives.
    assert_eq!(
        on_run.next_of_kind("control-state").await,
        state("user", None)
    );
    assert_eq!(
        on_session.next_of_kind("control-state").await,
        state("agent", None)
    );
    let mut vnc = world.vnc("c1").await;
    assert_eq!(
        press_a(&world, &mut vnc, 0).await,
        [key(true, 0x61), key(false, 0x61), barrier()].concat()
    );
    // The task path exists too (the incumbent frontend dials it; spec §15 item 25).
    let mut on_task = world.messages_on("task", &task, "c3").await;
    assert_eq!(
        on_task.next_of_kind("control-state").await["kind"],
        "control-state"
    );
}

#[tokio::test]
async fn the_message_socket_closes_with_entity_finished_when_the_session_ends() {
    // Arrange
    let world = MessageWorld::start().await;
    let mut messages = world.messages("c1").await;
    assert_eq!(
        messages.next_of_kind("control-state").await,
        state("agent", None)
    );
    // Act
    world
        .verification
        .set_status("browser_session", &world.session, "completed")
        .await;
    // Assert
    let closed = messages.closed().await;
    assert_eq!(
        (closed.code, closed.reason.as_str()),
        (1000, "entity-finished")
    );
}

#[tokio::test]
async fn a_bad_credential_or_missing_client_id_closes_with_the_vnc_channel_codes() {
    // Arrange
    let world = MessageWorld::start().await;
    let session_path = path("browser_session", &world.session);
    // Act
    let mut no_key = MessageClient::connect(
        &world
            .gateway
            .ws_url(&session_path, "client_id=c1&apikey=wrong"),
    )
    .await;
    let mut no_client = MessageClient::connect(
        &world
            .gateway
            .ws_url(&session_path, &format!("apikey={}", world.key)),
    )
    .await;
    let mut unknown = MessageClient::connect(
        &world
            .gateway
            .ws_url(&path("browser_session", "pbs_missing"), &world.query("c1")),
    )
    .await;
    // Assert
    let closed = no_key.closed().await;
    assert_eq!((closed.code, closed.reason.as_str()), (1002, "auth-failed"));
    let closed = no_client.closed().await;
    assert_eq!(
        (closed.code, closed.reason.as_str()),
        (1002, "client-id-missing")
    );
    let closed = unknown.closed().await;
    assert_eq!(
        (closed.code, closed.reason.as_str()),
        (1013, "entity-not-found")
    );
}

#[tokio::test]
async fn a_holder_whose_message_socket_reconnects_within_the_grace_period_keeps_control() {
    // Arrange
    let world = MessageWorld::start_with(None, |c| {
        c.control_grace = std::time::Duration::from_secs(30)
    })
    .await;
    let mut messages = world.messages("c1").await;
    messages.send(json!({"kind": "take-control"})).await;
    assert_eq!(
        messages.next_of_kind("control-state").await,
        state("agent", None)
    );
    assert_eq!(
        messages.next_of_kind("control-state").await,
        state("user", None)
    );
    // Act
    messages.close().await;
    let mut again = world.messages("c1").await;
    // Assert: the state on connect already says this client drives.
    assert_eq!(
        again.next_of_kind("control-state").await,
        state("user", None)
    );
}
