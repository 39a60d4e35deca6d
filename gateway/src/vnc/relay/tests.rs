//! Relay tests over channels (frontend) and `tokio::io::duplex` (upstream).

use std::pin::Pin;
use std::task::{Context, Poll};

use futures::channel::mpsc as fmpsc;
use futures::SinkExt;
use tokio::io::DuplexStream;
use tokio_util::sync::CancellationToken;

use super::*;
use crate::vnc::filter::Passthrough;

mod rfb;

/// A frontend WebSocket made of two channels.
struct TestSocket {
    incoming: fmpsc::Receiver<Result<WsFrame, String>>,
    outgoing: fmpsc::Sender<WsFrame>,
}

impl Stream for TestSocket {
    type Item = Result<WsFrame, String>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Pin::new(&mut self.incoming).poll_next(cx)
    }
}

impl Sink<WsFrame> for TestSocket {
    type Error = fmpsc::SendError;
    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Pin::new(&mut self.outgoing).poll_ready(cx)
    }
    fn start_send(mut self: Pin<&mut Self>, item: WsFrame) -> Result<(), Self::Error> {
        Pin::new(&mut self.outgoing).start_send(item)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Pin::new(&mut self.outgoing).poll_flush(cx)
    }
    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Pin::new(&mut self.outgoing).poll_close(cx)
    }
}

struct Harness {
    to_relay: fmpsc::Sender<Result<WsFrame, String>>,
    from_relay: fmpsc::Receiver<WsFrame>,
    upstream: DuplexStream,
    close: CloseSlot,
    relay: tokio::task::JoinHandle<CloseReason>,
}

fn config() -> RelayConfig {
    RelayConfig {
        ping_interval: Duration::from_millis(200),
        pong_timeout: Duration::from_secs(30),
        handshake_timeout: Duration::from_secs(30),
        outbound_bytes: 4 * 1024,
    }
}

fn start(config: RelayConfig, frontend_buffer: usize) -> Harness {
    start_with(config, frontend_buffer, Passthrough, ControlState::agent())
}

fn start_with<F: InputFilter>(
    config: RelayConfig,
    frontend_buffer: usize,
    filter: F,
    control: ControlState,
) -> Harness {
    let (to_relay, incoming) = fmpsc::channel(16);
    let (outgoing, from_relay) = fmpsc::channel(frontend_buffer);
    let (relay_side, upstream) = tokio::io::duplex(4096);
    let (read, write) = tokio::io::split(relay_side);
    let close = CloseSlot::new(CancellationToken::new());
    let (effects, _effects_rx) = mpsc::channel(4);
    let ctx = RelayContext {
        close: close.clone(),
        metrics: Arc::new(Metrics::new()),
        control: watch::Sender::new(control).subscribe(),
        client_id: crate::entity::ClientId::parse("c").unwrap(),
        view_only: false,
        effects,
        inbox: None,
        on_input: Box::new(|| {}),
    };
    let socket = TestSocket { incoming, outgoing };
    let relay = tokio::spawn(run(socket, read, write, filter, config, ctx));
    Harness {
        to_relay,
        from_relay,
        upstream,
        close,
        relay,
    }
}

/// The next frame that is not a ping.
async fn next_data(rx: &mut fmpsc::Receiver<WsFrame>) -> Option<WsFrame> {
    loop {
        match rx.next().await? {
            WsFrame::Ping(_) => continue,
            frame => return Some(frame),
        }
    }
}

fn close_frame(reason: CloseReason) -> WsFrame {
    WsFrame::Close(Some((reason.code(), reason.as_str().into())))
}

#[tokio::test]
async fn bytes_flow_both_ways_and_a_client_close_ends_the_upstream() {
    let mut h = start(config(), 16);
    h.to_relay
        .send(Ok(WsFrame::Binary(Bytes::from_static(b"hello"))))
        .await
        .unwrap();
    let mut buf = [0u8; 5];
    h.upstream.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"hello");
    h.upstream.write_all(b"screen").await.unwrap();
    assert_eq!(
        next_data(&mut h.from_relay).await,
        Some(WsFrame::Binary(Bytes::from_static(b"screen")))
    );
    h.to_relay.send(Ok(WsFrame::Close(None))).await.unwrap();
    assert_eq!(h.relay.await.unwrap(), CloseReason::ClientClosed);
    assert_eq!(
        next_data(&mut h.from_relay).await,
        Some(close_frame(CloseReason::ClientClosed))
    );
    assert_eq!(
        h.upstream.read(&mut buf).await.unwrap(),
        0,
        "upstream sees end of stream"
    );
}

#[tokio::test]
async fn an_upstream_end_closes_the_frontend_with_upstream_closed() {
    let mut h = start(config(), 16);
    drop(h.upstream);
    assert_eq!(
        next_data(&mut h.from_relay).await,
        Some(close_frame(CloseReason::UpstreamClosed))
    );
    h.to_relay.send(Ok(WsFrame::Close(None))).await.unwrap();
    assert_eq!(h.relay.await.unwrap(), CloseReason::UpstreamClosed);
}

#[tokio::test]
async fn a_frontend_that_never_reads_is_closed_as_slow_consumer_without_stalling_upstream() {
    let mut h = start(config(), 0);
    // Arrange: the frontend reads nothing; the upstream floods.
    let flood = tokio::spawn(async move {
        let chunk = vec![7u8; 1024];
        let mut written = 0usize;
        while h.upstream.write_all(&chunk).await.is_ok() {
            written += chunk.len();
        }
        written
    });
    // Assert: the relay ends with slow-consumer, and the upstream writer is released.
    assert_eq!(h.relay.await.unwrap(), CloseReason::SlowConsumer);
    let written = flood.await.unwrap();
    assert!(
        written > 4 * 1024,
        "the upstream was read beyond the queue bound: {written}"
    );
    drop(h.from_relay);
}

#[tokio::test]
async fn an_update_in_many_small_chunks_within_the_byte_bound_reaches_a_frontend_that_reads_late() {
    let mut config = config();
    config.outbound_bytes = 64 * 1024;
    let mut h = start(config, 0);
    // Arrange: 36,000 bytes arrive in 900-byte pieces, each read on its own, while the
    // frontend reads nothing yet: far more chunks than full ones would need, less memory than
    // the bound.
    for _ in 0..40 {
        h.upstream.write_all(&[5u8; 900]).await.unwrap();
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    // Act: the frontend reads.
    let mut received = 0;
    while received < 40 * 900 {
        match next_data(&mut h.from_relay).await {
            Some(WsFrame::Binary(bytes)) => received += bytes.len(),
            other => panic!("expected data, got {other:?}"),
        }
    }
    // Assert: everything arrived and the relay still runs.
    assert_eq!(h.close.reason(), None);
    h.to_relay.send(Ok(WsFrame::Close(None))).await.unwrap();
    assert_eq!(h.relay.await.unwrap(), CloseReason::ClientClosed);
}

#[tokio::test]
async fn a_text_frame_closes_with_protocol_error() {
    let mut h = start(config(), 16);
    h.to_relay
        .send(Ok(WsFrame::Text("hi".into())))
        .await
        .unwrap();
    assert_eq!(
        next_data(&mut h.from_relay).await,
        Some(close_frame(CloseReason::ProtocolError))
    );
    h.to_relay.send(Ok(WsFrame::Close(None))).await.unwrap();
    assert_eq!(h.relay.await.unwrap(), CloseReason::ProtocolError);
}

#[tokio::test]
async fn a_silent_frontend_is_closed_with_timeout() {
    let mut config = config();
    config.ping_interval = Duration::from_millis(50);
    config.pong_timeout = Duration::from_millis(200);
    let h = start(config, 64);
    assert_eq!(h.relay.await.unwrap(), CloseReason::Timeout);
    drop(h.to_relay);
}

#[tokio::test]
async fn an_external_close_sends_its_reason_first() {
    let mut h = start(config(), 16);
    h.close.close(CloseReason::Draining);
    h.close.close(CloseReason::ClientClosed);
    assert_eq!(
        next_data(&mut h.from_relay).await,
        Some(close_frame(CloseReason::Draining))
    );
    h.to_relay.send(Ok(WsFrame::Close(None))).await.unwrap();
    assert_eq!(h.relay.await.unwrap(), CloseReason::Draining);
}

#[tokio::test(start_paused = true)]
async fn a_closing_relay_reads_on_until_the_clients_close_before_it_drops_the_socket() {
    let mut h = start(config(), 16);
    h.close.close(CloseReason::EntityFinished);
    assert_eq!(
        next_data(&mut h.from_relay).await,
        Some(close_frame(CloseReason::EntityFinished))
    );
    // The client is still sending (its input crossed our close frame): read and discarded,
    // and the socket stays open for the client's Close.
    h.to_relay
        .send(Ok(WsFrame::Binary(Bytes::from_static(b"late"))))
        .await
        .unwrap();
    let waited = tokio::time::timeout(Duration::from_secs(1), &mut h.relay).await;
    assert!(waited.is_err(), "the relay ended before the client's Close");
    h.to_relay.send(Ok(WsFrame::Close(None))).await.unwrap();
    assert_eq!(h.relay.await.unwrap(), CloseReason::EntityFinished);
    assert!(
        h.to_relay.is_closed(),
        "the socket is dropped after the Close"
    );
}

#[tokio::test(start_paused = true)]
async fn a_client_that_never_answers_the_close_is_dropped_at_the_handshake_deadline() {
    let h = start(config(), 16);
    let closing = tokio::time::Instant::now();
    h.close.close(CloseReason::EntityFinished);
    assert_eq!(h.relay.await.unwrap(), CloseReason::EntityFinished);
    assert!(closing.elapsed() >= crate::linger::CLOSE_HANDSHAKE_TIMEOUT);
    assert!(h.to_relay.is_closed(), "the socket is dropped");
}

#[tokio::test(start_paused = true)]
async fn the_upstreams_first_bytes_reach_the_frontend_without_waiting_for_a_timer() {
    // Off a millisecond boundary: a writer that first awaited a timer due "now" would wait
    // for the timer's next millisecond (the clock moves on only then, being paused).
    tokio::time::advance(Duration::from_micros(500)).await;
    let mut h = start(config(), 16);
    let sent = tokio::time::Instant::now();
    h.upstream.write_all(b"RFB 003.008\n").await.unwrap();
    assert_eq!(
        next_data(&mut h.from_relay).await,
        Some(WsFrame::Binary(Bytes::from_static(b"RFB 003.008\n")))
    );
    assert_eq!(
        sent.elapsed(),
        Duration::ZERO,
        "the bytes waited for a timer"
    );
}
