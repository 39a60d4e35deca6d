//! Pairing of a viewer's VNC and Message sockets by the whole stream key (PROTOCOL §1, §5), end
//! to end: real verification, the gateway, a recording RFB upstream, real WebSocket clients.
//!
//! Incumbent weaknesses shown fixed here (spec §15): item 2 (pairing bound to organization and
//! entity), item 3 (a replaced socket is closed, not leaked), item 4 (one client_id across
//! several mounted streams does not collide), item 17 (a held-back V never reaches the
//! upstream, so a paste cannot happen twice).

use gateway::rfb::{encode, keysym};
use integration_tests::gateway::{RecordingUpstream, UpstreamMode, VncClient};
use integration_tests::message::{path, MessageClient, MessageWorld};
use serde_json::{json, Value};

fn barrier() -> Vec<u8> {
    encode::framebuffer_update_request(false, 0, 0, 4, 3).to_vec()
}

fn key(down: bool, keysym: u32) -> Vec<u8> {
    encode::key_event(down, keysym).to_vec()
}

/// Sends `messages` then a barrier; returns what reached the upstream after `before` bytes,
/// once the barrier did.
async fn send_through(
    upstream: &RecordingUpstream,
    vnc: &mut VncClient,
    before: usize,
    messages: &[Vec<u8>],
) -> Vec<u8> {
    for message in messages {
        vnc.send(message).await;
    }
    vnc.send(&barrier()).await;
    let mut received = upstream.wait_for(before + barrier().len()).await;
    while !received.ends_with(&barrier()) {
        received = upstream.wait_for(received.len() + 1).await;
    }
    received[before..].to_vec()
}

async fn take_control(messages: &mut MessageClient) {
    messages.send(json!({"kind": "take-control"})).await;
    loop {
        if messages.next_of_kind("control-state").await["interactor"] == "user" {
            return;
        }
    }
}

fn ctrl_v() -> Vec<Vec<u8>> {
    vec![
        key(true, keysym::CONTROL_L),
        key(true, keysym::V_LOWER),
        key(false, keysym::V_LOWER),
        key(false, keysym::CONTROL_L),
    ]
}

#[tokio::test]
async fn a_held_back_paste_asks_the_paired_message_socket_and_the_v_never_reaches_the_upstream() {
    // Arrange: spec §15 item 17, the incumbent forwarded Ctrl+V and also inserted the text.
    let world = MessageWorld::start().await;
    let mut messages = world.messages("c1").await;
    take_control(&mut messages).await;
    let mut vnc = world.vnc("c1").await;
    // Act: Ctrl+V with no ClientCutText before it.
    let received = send_through(&world.upstream, &mut vnc, 0, &ctrl_v()).await;
    // Assert
    assert_eq!(
        messages.next_of_kind("ask-for-clipboard").await,
        json!({"kind": "ask-for-clipboard"})
    );
    assert_eq!(
        received,
        [
            key(true, keysym::CONTROL_L),
            key(false, keysym::CONTROL_L),
            barrier()
        ]
        .concat(),
        "V held back, its key-up too"
    );
}

#[tokio::test]
async fn a_second_message_socket_of_the_same_stream_key_supersedes_the_first() {
    // Arrange: spec §15 item 3, the incumbent's replaced channel kept running.
    let world = MessageWorld::start().await;
    let mut first = world.messages("c1").await;
    assert_eq!(
        first.next_of_kind("control-state").await["kind"],
        "control-state"
    );
    // Act
    let mut second = world.messages("c1").await;
    // Assert
    let closed = first.closed().await;
    assert_eq!((closed.code, closed.reason.as_str()), (1000, "superseded"));
    take_control(&mut second).await;
    let mut vnc = world.vnc("c1").await;
    send_through(&world.upstream, &mut vnc, 0, &ctrl_v()).await;
    assert_eq!(
        second.next_of_kind("ask-for-clipboard").await["kind"],
        "ask-for-clipboard",
        "events reach the newer socket"
    );
}

#[tokio::test]
async fn nothing_pairs_across_organizations_sharing_a_client_id() {
    // Arrange: spec §15 item 2, the incumbent paired by client_id alone, across tenants.
    let world = MessageWorld::start().await;
    let other_org = world.verification.create_org("other").await;
    let other_key = world.verification.create_api_key(&other_org).await;
    let other_upstream = RecordingUpstream::start(UpstreamMode::Quiet).await;
    let other_session = world
        .verification
        .create_browser_session(
            &other_org,
            Some(&other_upstream.vnc_url()),
            Some("http://127.0.0.1:9"),
        )
        .await;
    let other_query = format!("client_id=shared&apikey={other_key}");
    let mut intruder = MessageClient::connect(
        &world
            .gateway
            .ws_url(&path("browser_session", &other_session), &other_query),
    )
    .await;
    let mut victim_messages = world.messages("shared").await;
    let mut victim_vnc = world.vnc("shared").await;
    // Act: the other organization's socket takes control; then the victim pastes.
    take_control(&mut intruder).await;
    let before = send_through(
        &world.upstream,
        &mut victim_vnc,
        0,
        &[key(true, 0x61), key(false, 0x61)],
    )
    .await;
    take_control(&mut victim_messages).await;
    let at = world.upstream.received().len();
    send_through(&world.upstream, &mut victim_vnc, at, &ctrl_v()).await;
    // Assert: the intruder's control did not reach the victim's VNC socket, the victim's
    // clipboard prompt went to the victim's own Message socket, and the intruder's socket was
    // neither superseded nor told anything about the victim.
    assert_eq!(
        before,
        barrier(),
        "input stays blocked: the intruder's take-control is another session's"
    );
    assert_eq!(
        victim_messages.next_of_kind("ask-for-clipboard").await["kind"],
        "ask-for-clipboard"
    );
    intruder.send(json!({"kind": "get-browser-url"})).await;
    assert_eq!(
        intruder.next_of_kind("error").await["failed_kind"],
        "get-browser-url",
        "the intruder's socket is still open"
    );
    assert!(!intruder.has_pending("ask-for-clipboard"));
    assert!(
        intruder
            .pending()
            .iter()
            .all(|m| m["kind"] != "control-state" || m["interactor"] == "user"),
        "{:?}",
        intruder.pending()
    );
}

#[tokio::test]
async fn two_streams_of_one_client_id_pair_only_with_their_own_entity() {
    // Arrange: spec §15 item 4, one client_id per page load collided across mounted streams.
    let world = MessageWorld::start().await;
    let second_upstream = RecordingUpstream::start(UpstreamMode::Quiet).await;
    let second_session = world
        .verification
        .create_browser_session(
            &world.org,
            Some(&second_upstream.vnc_url()),
            Some("http://127.0.0.1:9"),
        )
        .await;
    let mut first_messages = world.messages("page").await;
    let mut second_messages = world
        .messages_on("browser_session", &second_session, "page")
        .await;
    let mut second_vnc = VncClient::connect(&world.gateway.ws_url(
        &format!("/v1/stream/vnc/browser_session/{second_session}"),
        &world.query("page"),
    ))
    .await;
    second_vnc.handshake().await.unwrap();
    // Act: control of the first session only.
    take_control(&mut first_messages).await;
    let blocked = send_through(
        &second_upstream,
        &mut second_vnc,
        0,
        &[key(true, 0x61), key(false, 0x61)],
    )
    .await;
    take_control(&mut second_messages).await;
    send_through(&second_upstream, &mut second_vnc, blocked.len(), &ctrl_v()).await;
    // Assert: neither socket superseded the other; each pairs with its own VNC socket.
    assert_eq!(blocked, barrier());
    assert_eq!(
        second_messages.next_of_kind("ask-for-clipboard").await["kind"],
        "ask-for-clipboard"
    );
    first_messages
        .send(json!({"kind": "get-browser-url"}))
        .await;
    assert_eq!(
        first_messages.next_of_kind("error").await["kind"],
        "error",
        "the first socket is still open"
    );
    assert!(!first_messages.has_pending("ask-for-clipboard"));
}

#[tokio::test]
async fn a_mac_client_info_makes_alt_l_a_cmd_key_for_the_paired_vnc_socket() {
    // Arrange: no User-Agent on the VNC upgrade, so Alt_L is just Alt until client-info says mac.
    let world = MessageWorld::start().await;
    let mut messages = world.messages("c1").await;
    let mut vnc = world.vnc("c1").await;
    take_control(&mut messages).await;
    let alt_v = vec![
        key(true, keysym::ALT_L),
        key(true, keysym::V_LOWER),
        key(false, keysym::V_LOWER),
        key(false, keysym::ALT_L),
    ];
    let plain = send_through(&world.upstream, &mut vnc, 0, &alt_v).await;
    // Act
    messages
        .send(json!({"kind": "client-info", "platform": "mac"}))
        .await;
    messages.send(json!({"kind": "take-control"})).await;
    assert_eq!(
        messages.next_of_kind("control-state").await["interactor"],
        "user"
    );
    let at = world.upstream.received().len();
    let as_cmd = send_through(&world.upstream, &mut vnc, at, &alt_v).await;
    // Assert
    assert_eq!(
        plain,
        [alt_v.concat(), barrier()].concat(),
        "Alt+V is plain input off a mac"
    );
    assert_eq!(
        messages.next_of_kind("ask-for-clipboard").await["kind"],
        "ask-for-clipboard"
    );
    assert_eq!(
        as_cmd,
        [
            key(true, keysym::ALT_L),
            key(false, keysym::ALT_L),
            barrier()
        ]
        .concat(),
        "Cmd+V's V is held back"
    );
}

#[tokio::test]
async fn an_unknown_platform_is_refused_and_the_channel_goes_on() {
    let world = MessageWorld::start().await;
    let mut messages = world.messages("c1").await;
    messages
        .send(json!({"kind": "client-info", "platform": "amiga"}))
        .await;
    let error: Value = messages.next_of_kind("error").await;
    assert_eq!(
        error,
        json!({"kind": "error", "failed_kind": "client-info", "message": "platform must be mac, windows, linux or other"})
    );
}

#[tokio::test]
async fn a_client_info_sent_before_the_vnc_socket_connects_applies_when_it_does() {
    // Arrange: the Message socket declares mac and takes control before any VNC socket exists.
    let world = MessageWorld::start().await;
    let mut messages = world.messages("c1").await;
    messages
        .send(json!({"kind": "client-info", "platform": "mac"}))
        .await;
    take_control(&mut messages).await;
    // Act: the VNC socket connects (no User-Agent), then the viewer presses Cmd+V (Alt_L on a mac).
    let mut vnc = world.vnc("c1").await;
    // A round trip on the Message socket: the VNC socket's announcement, queued before it, has
    // been answered by then.
    take_control(&mut messages).await;
    let alt_v = vec![
        key(true, keysym::ALT_L),
        key(true, keysym::V_LOWER),
        key(false, keysym::V_LOWER),
        key(false, keysym::ALT_L),
    ];
    let received = send_through(&world.upstream, &mut vnc, 0, &alt_v).await;
    // Assert
    assert_eq!(
        messages.next_of_kind("ask-for-clipboard").await["kind"],
        "ask-for-clipboard"
    );
    assert_eq!(
        received,
        [
            key(true, keysym::ALT_L),
            key(false, keysym::ALT_L),
            barrier()
        ]
        .concat()
    );
}
