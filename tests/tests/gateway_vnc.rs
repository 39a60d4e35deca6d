//! The VNC channel end to end: real verification (SQLite), the gateway in-process, a
//! recording RFB upstream, and a WebSocket RFB client. Proves byte for byte what reaches the
//! upstream, however the client frames its messages.

use gateway::rfb::{encode, keysym};
use integration_tests::gateway::{StreamWorld as World, UpstreamMode, BROWSER_PATH};

fn fbur() -> Vec<u8> {
    encode::framebuffer_update_request(false, 0, 0, 4, 3).to_vec()
}

#[tokio::test]
async fn a_viewer_completes_the_handshake_and_its_update_requests_reach_the_upstream_unchanged() {
    // Arrange
    let w = World::start(UpstreamMode::Quiet).await;
    let query = format!("client_id=c1&apikey={}", w.key);
    let mut vnc = w
        .gateway
        .connect_vnc(&format!("{BROWSER_PATH}{}", w.session), &query)
        .await;
    // Act
    let size = vnc
        .handshake()
        .await
        .expect("handshake through the gateway");
    let encodings = encode::set_encodings(&[0, 1, -223]).to_vec();
    vnc.send(&encodings).await;
    vnc.send(&fbur()).await;
    // Assert
    assert_eq!(size, (4, 3));
    assert_eq!(vnc.protocol.as_deref(), Some("binary"));
    let expected = [encodings, fbur()].concat();
    assert_eq!(w.upstream.wait_for(expected.len()).await, expected);
}

#[tokio::test]
async fn input_passes_only_while_the_viewer_holds_control_whatever_the_framing() {
    // Arrange
    let w = World::start(UpstreamMode::Quiet).await;
    let query = format!("client_id=c1&apikey={}", w.key);
    let mut vnc = w
        .gateway
        .connect_vnc(&format!("{BROWSER_PATH}{}", w.session), &query)
        .await;
    vnc.handshake().await.unwrap();
    // Act: the agent holds control; key, pointer and cut text are dropped, the request passes.
    vnc.send(&encode::key_event(true, 0x61)).await;
    vnc.send(&encode::pointer_event(1, 2, 2)).await;
    vnc.send(&encode::client_cut_text(b"secret")).await;
    vnc.send(&fbur()).await;
    let first = w.upstream.wait_for(fbur().len()).await;
    assert_eq!(
        first,
        fbur(),
        "no input reached the upstream while the agent held control"
    );
    // Act: the viewer takes control; a key split across frames, then a pointer and a key
    // coalesced into one frame, with a blocked right button in the pointer mask.
    w.gateway.give_control(&w.org, &w.session, "c1").await;
    // The control change is seen before the next message; send a marker to be sure it passed.
    let key = encode::key_event(true, 0x62).to_vec();
    vnc.send(&key[..3]).await;
    vnc.send(&key[3..]).await;
    let coalesced = [
        encode::pointer_event(0x05, 1, 1).to_vec(),
        encode::key_event(false, 0x62).to_vec(),
    ]
    .concat();
    vnc.send(&coalesced).await;
    // Assert: the right button (0x04) is cleared, everything else unchanged.
    let expected = [
        fbur(),
        key,
        encode::pointer_event(0x01, 1, 1).to_vec(),
        encode::key_event(false, 0x62).to_vec(),
    ]
    .concat();
    assert_eq!(w.upstream.wait_for(expected.len()).await, expected);
}

#[tokio::test]
async fn ctrl_o_and_xvp_never_reach_the_upstream_even_with_control() {
    let w = World::start(UpstreamMode::Quiet).await;
    let query = format!("client_id=c1&apikey={}", w.key);
    w.gateway.give_control(&w.org, &w.session, "c1").await;
    let mut vnc = w
        .gateway
        .connect_vnc(&format!("{BROWSER_PATH}{}", w.session), &query)
        .await;
    vnc.handshake().await.unwrap();
    let ctrl_down = encode::key_event(true, keysym::CONTROL_L).to_vec();
    let all = [
        ctrl_down.clone(),
        encode::key_event(true, keysym::O_LOWER).to_vec(),
        encode::key_event(false, keysym::O_LOWER).to_vec(),
        encode::xvp(1, 2).to_vec(),
        fbur(),
    ]
    .concat();
    vnc.send(&all).await;
    let expected = [ctrl_down, fbur()].concat();
    assert_eq!(w.upstream.wait_for(expected.len()).await, expected);
    drop(w.verification);
}

#[tokio::test]
async fn a_view_ticket_never_gets_control() {
    let w = World::start(UpstreamMode::Quiet).await;
    let body = format!(
        r#"{{"entity_kind":"browser_session","entity_id":"{}","scope":"view"}}"#,
        w.session
    );
    let (status, answer) = integration_tests::gateway::http_request(
        w.gateway.addr,
        "POST",
        "/v1/stream/tickets",
        &[("x-api-key", &w.key), ("content-type", "application/json")],
        &body,
    )
    .await;
    assert_eq!(status, 201, "{answer}");
    let ticket: serde_json::Value = serde_json::from_str(&answer).unwrap();
    let ticket = ticket["ticket"].as_str().unwrap().to_owned();
    w.gateway.give_control(&w.org, &w.session, "viewer").await;
    let mut vnc = w
        .gateway
        .connect_vnc(
            &format!("{BROWSER_PATH}{}", w.session),
            &format!("client_id=viewer&ticket={ticket}"),
        )
        .await;
    vnc.handshake().await.unwrap();
    vnc.send(&encode::key_event(true, 0x61)).await;
    vnc.send(&fbur()).await;
    assert_eq!(w.upstream.wait_for(fbur().len()).await, fbur());
}

#[tokio::test]
async fn a_viewer_that_sends_its_whole_handshake_in_one_frame_before_the_server_answers_streams() {
    // Arrange
    let w = World::start(UpstreamMode::Quiet).await;
    let query = format!("client_id=c1&apikey={}", w.key);
    let mut vnc = w
        .gateway
        .connect_vnc(&format!("{BROWSER_PATH}{}", w.session), &query)
        .await;
    // Act: version, security None and ClientInit at once, without reading anything first.
    vnc.send(b"RFB 003.008\n\x01\x01").await;
    let server_side = vnc
        .read_exact(12 + 2 + 4 + 24 + 4)
        .await
        .expect("the server's whole handshake");
    vnc.send(&fbur()).await;
    // Assert
    assert_eq!(&server_side[..12], b"RFB 003.008\n");
    assert_eq!(&server_side[18..22], [0, 4, 0, 3], "ServerInit of 4×3");
    assert_eq!(w.upstream.wait_for(fbur().len()).await, fbur());
}

#[tokio::test]
async fn messages_sent_with_client_init_reach_the_upstream_without_another_frame() {
    // Arrange
    let w = World::start(UpstreamMode::Quiet).await;
    let query = format!("client_id=c1&apikey={}", w.key);
    let mut vnc = w
        .gateway
        .connect_vnc(&format!("{BROWSER_PATH}{}", w.session), &query)
        .await;
    vnc.read_exact(12).await.unwrap();
    vnc.send(b"RFB 003.008\n").await;
    vnc.read_exact(2).await.unwrap();
    vnc.send(&[1]).await;
    vnc.read_exact(4).await.unwrap();
    // Act: ClientInit + SetEncodings + FramebufferUpdateRequest, then the viewer only waits.
    let encodings = encode::set_encodings(&[0, 1]).to_vec();
    vnc.send(&[vec![1], encodings.clone(), fbur()].concat())
        .await;
    vnc.read_exact(24 + 4).await.expect("ServerInit");
    // Assert
    let expected = [encodings, fbur()].concat();
    assert_eq!(w.upstream.wait_for(expected.len()).await, expected);
}

#[tokio::test]
async fn a_key_still_held_when_the_viewer_leaves_is_released_upstream() {
    // Arrange
    let w = World::start(UpstreamMode::Quiet).await;
    let query = format!("client_id=c1&apikey={}", w.key);
    let mut vnc = w
        .gateway
        .connect_vnc(&format!("{BROWSER_PATH}{}", w.session), &query)
        .await;
    vnc.handshake().await.unwrap();
    // Given once the socket exists, so control cannot expire before it connects.
    w.gateway.give_control(&w.org, &w.session, "c1").await;
    let down = encode::key_event(true, 0x61).to_vec();
    vnc.send(&down).await;
    w.upstream.wait_for(down.len()).await;
    // Act
    vnc.close().await;
    // Assert
    let expected = [down, encode::key_event(false, 0x61).to_vec()].concat();
    assert_eq!(w.upstream.wait_for(expected.len()).await, expected);
}
