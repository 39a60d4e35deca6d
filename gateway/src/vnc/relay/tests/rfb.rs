//! The relay with the production [`RfbFilter`] against a scripted RFB 3.8 server on the
//! upstream side: handshake fields released by the server's answers, messages that came with
//! ClientInit, refusals, protocol errors by side, and key releases when the socket ends.

use std::time::SystemTime;

use crate::control::ControlReason;
use crate::policy::{Platform, Policy};
use crate::rfb::{encode, Limits};
use crate::vnc::rfb_filter::RfbFilter;

use super::*;

/// Bounds every wait of these tests (only a hang makes them reach it).
const WAIT: Duration = Duration::from_secs(10);

fn filter() -> RfbFilter {
    RfbFilter::new(
        Arc::new(Policy::default()),
        Limits::default(),
        Platform::Linux,
        false,
        Arc::new(Metrics::new()),
        None,
    )
}

fn held_by_c() -> ControlState {
    ControlState {
        holder: Some(crate::entity::ClientId::parse("c").unwrap()),
        reason: ControlReason::None,
        previous_holder: None,
        changed_at: SystemTime::now(),
        generation: 1,
        ..ControlState::agent()
    }
}

fn server_init() -> Vec<u8> {
    let mut init = vec![0, 4, 0, 3];
    init.extend_from_slice(&[32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0, 0, 0, 0]);
    init.extend_from_slice(&4u32.to_be_bytes());
    init.extend_from_slice(b"test");
    init
}

async fn read_upstream(upstream: &mut DuplexStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    tokio::time::timeout(WAIT, upstream.read_exact(&mut buf))
        .await
        .expect("upstream bytes in time")
        .expect("upstream open");
    buf
}

/// The server side of an RFB 3.8 handshake with security None; returns ClientInit.
async fn serve_handshake(upstream: &mut DuplexStream) -> Vec<u8> {
    upstream.write_all(b"RFB 003.008\n").await.unwrap();
    assert_eq!(read_upstream(upstream, 12).await, b"RFB 003.008\n");
    upstream.write_all(&[1, 1]).await.unwrap();
    assert_eq!(read_upstream(upstream, 1).await, [1]);
    upstream.write_all(&[0, 0, 0, 0]).await.unwrap();
    let client_init = read_upstream(upstream, 1).await;
    upstream.write_all(&server_init()).await.unwrap();
    client_init
}

async fn send(h: &mut Harness, bytes: &[u8]) {
    h.to_relay
        .send(Ok(WsFrame::Binary(Bytes::copy_from_slice(bytes))))
        .await
        .unwrap();
}

/// Frontend frames until the close frame; returns the data and the close frame.
async fn until_close(rx: &mut fmpsc::Receiver<WsFrame>) -> (Vec<u8>, Option<WsFrame>) {
    let mut data = Vec::new();
    loop {
        let next = tokio::time::timeout(WAIT, next_data(rx))
            .await
            .expect("frame in time");
        match next {
            Some(WsFrame::Binary(bytes)) => data.extend_from_slice(&bytes),
            other => return (data, other),
        }
    }
}

#[tokio::test]
async fn a_client_that_sends_its_whole_handshake_before_the_server_speaks_completes_it() {
    // Arrange: version, security choice and ClientInit in one frame, before the server spoke.
    let mut h = start_with(config(), 64, filter(), ControlState::agent());
    send(&mut h, b"RFB 003.008\n\x01\x01").await;
    // Act: the server plays its part, reading each field only after its own answer.
    let client_init = serve_handshake(&mut h.upstream).await;
    let fbur = encode::framebuffer_update_request(false, 0, 0, 4, 3);
    send(&mut h, &fbur).await;
    // Assert
    assert_eq!(client_init, [1]);
    assert_eq!(read_upstream(&mut h.upstream, fbur.len()).await, fbur);
    assert_eq!(h.close.reason(), None);
}

#[tokio::test]
async fn messages_that_share_a_frame_with_client_init_go_upstream_when_server_init_passes() {
    // Arrange
    let mut h = start_with(config(), 64, filter(), ControlState::agent());
    h.upstream.write_all(b"RFB 003.008\n").await.unwrap();
    send(&mut h, b"RFB 003.008\n").await;
    read_upstream(&mut h.upstream, 12).await;
    h.upstream.write_all(&[1, 1]).await.unwrap();
    send(&mut h, &[1]).await;
    read_upstream(&mut h.upstream, 1).await;
    h.upstream.write_all(&[0, 0, 0, 0]).await.unwrap();
    let encodings = encode::set_encodings(&[0, 1]);
    let fbur = encode::framebuffer_update_request(false, 0, 0, 4, 3);
    // Act: ClientInit + SetEncodings + FramebufferUpdateRequest, then the viewer waits.
    send(&mut h, &[&[1u8][..], &encodings, &fbur].concat()).await;
    assert_eq!(read_upstream(&mut h.upstream, 1).await, [1]);
    h.upstream.write_all(&server_init()).await.unwrap();
    // Assert: both messages arrive without another client frame.
    let expected = [&encodings[..], &fbur[..]].concat();
    assert_eq!(
        read_upstream(&mut h.upstream, expected.len()).await,
        expected
    );
}

#[tokio::test]
async fn a_server_refusal_reaches_the_viewer_then_closes_with_upstream_unreachable() {
    // Arrange
    let mut h = start_with(config(), 64, filter(), ControlState::agent());
    h.upstream.write_all(b"RFB 003.008\n").await.unwrap();
    send(&mut h, b"RFB 003.008\n").await;
    read_upstream(&mut h.upstream, 12).await;
    // Act: no security type, with a reason (the server keeps the connection open).
    let mut refusal = vec![0u8];
    refusal.extend_from_slice(&4u32.to_be_bytes());
    refusal.extend_from_slice(b"busy");
    h.upstream.write_all(&refusal).await.unwrap();
    // Assert
    let (data, close) = until_close(&mut h.from_relay).await;
    assert_eq!(data, [&b"RFB 003.008\n"[..], &refusal].concat());
    assert_eq!(close, Some(close_frame(CloseReason::UpstreamUnreachable)));
    assert_eq!(h.relay.await.unwrap(), CloseReason::UpstreamUnreachable);
}

#[tokio::test]
async fn a_server_that_breaks_rfb_closes_with_upstream_unreachable_and_a_client_with_protocol_error(
) {
    let mut server_fault = start_with(config(), 64, filter(), ControlState::agent());
    server_fault
        .upstream
        .write_all(b"HTTP/1.1 400")
        .await
        .unwrap();
    assert_eq!(
        server_fault.relay.await.unwrap(),
        CloseReason::UpstreamUnreachable
    );
    let mut client_fault = start_with(config(), 64, filter(), ControlState::agent());
    client_fault
        .upstream
        .write_all(b"RFB 003.008\n")
        .await
        .unwrap();
    send(&mut client_fault, b"GET / HTTP/1.1\r\n").await;
    assert_eq!(
        client_fault.relay.await.unwrap(),
        CloseReason::ProtocolError
    );
}

#[tokio::test]
async fn keys_and_buttons_still_held_are_released_upstream_when_the_viewer_leaves() {
    // Arrange: the viewer holds control, presses a key and a button.
    let mut h = start_with(config(), 64, filter(), held_by_c());
    send(&mut h, b"RFB 003.008\n\x01\x01").await;
    serve_handshake(&mut h.upstream).await;
    let down = [
        encode::key_event(true, 0x61).to_vec(),
        encode::pointer_event(0x01, 2, 2).to_vec(),
    ]
    .concat();
    send(&mut h, &down).await;
    assert_eq!(read_upstream(&mut h.upstream, down.len()).await, down);
    // Act
    h.to_relay.send(Ok(WsFrame::Close(None))).await.unwrap();
    // Assert: the releases, then the end of the stream.
    let mut rest = Vec::new();
    tokio::time::timeout(WAIT, h.upstream.read_to_end(&mut rest))
        .await
        .expect("upstream ends in time")
        .unwrap();
    let released = [
        encode::key_event(false, 0x61).to_vec(),
        encode::pointer_event(0, 2, 2).to_vec(),
    ]
    .concat();
    assert_eq!(rest, released);
    assert_eq!(h.relay.await.unwrap(), CloseReason::ClientClosed);
}
