//! `WsBytes` against a real tungstenite server end over an in-memory pipe.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio_tungstenite::tungstenite::protocol::Role;

use super::*;

const WAIT: Duration = Duration::from_secs(5);

/// The gateway's end as bytes, and the websockify's end as a WebSocket.
async fn pair() -> (WsBytes<DuplexStream>, WebSocketStream<DuplexStream>) {
    let (ours, theirs) = tokio::io::duplex(64 * 1024);
    let client = WebSocketStream::from_raw_socket(ours, Role::Client, None).await;
    let server = WebSocketStream::from_raw_socket(theirs, Role::Server, None).await;
    (WsBytes::new(client), server)
}

async fn read_exactly(upstream: &mut WsBytes<DuplexStream>, n: usize) -> Vec<u8> {
    let mut out = vec![0; n];
    tokio::time::timeout(WAIT, upstream.read_exact(&mut out))
        .await
        .expect("read in time")
        .expect("read");
    out
}

#[tokio::test]
async fn binary_messages_read_as_one_stream_whatever_the_read_size_and_text_is_skipped() {
    // Arrange
    let (mut upstream, mut server) = pair().await;
    // Act
    server
        .send(Message::binary(b"RFB 003".to_vec()))
        .await
        .unwrap();
    server.send(Message::text("not rfb")).await.unwrap();
    server
        .send(Message::binary(b".008\n".to_vec()))
        .await
        .unwrap();
    let mut got = Vec::new();
    for _ in 0..4 {
        got.extend(read_exactly(&mut upstream, 3).await);
    }
    // Assert
    assert_eq!(got, b"RFB 003.008\n");
}

#[tokio::test]
async fn the_servers_close_is_the_end_of_stream_and_stays_so() {
    // Arrange
    let (mut upstream, mut server) = pair().await;
    server.send(Message::binary(vec![1, 2])).await.unwrap();
    // Act
    server.close(None).await.unwrap();
    let mut buf = [0u8; 8];
    let first = upstream.read(&mut buf).await.unwrap();
    let end = upstream.read(&mut buf).await.unwrap();
    let again = upstream.read(&mut buf).await.unwrap();
    // Assert
    assert_eq!((first, end, again), (2, 0, 0));
}

/// Everything the server end receives until the stream ends.
async fn all_received(server: &mut WebSocketStream<DuplexStream>) -> Vec<Message> {
    let mut seen = Vec::new();
    while let Some(message) = tokio::time::timeout(WAIT, server.next()).await.unwrap() {
        seen.push(message.unwrap());
    }
    seen
}

#[tokio::test]
async fn each_write_is_one_binary_message_and_the_close_follows_the_pong_of_a_last_ping() {
    // Arrange
    let (mut upstream, mut server) = pair().await;
    // Act
    upstream.write_all(&[4, 1, 0, 0]).await.unwrap();
    upstream.flush().await.unwrap();
    upstream.write_all(&[5, 0]).await.unwrap();
    upstream.flush().await.unwrap();
    let started = tokio::time::Instant::now();
    let (shutdown, seen) = tokio::join!(upstream.shutdown(), all_received(&mut server));
    // Assert: the server answered the Ping (reading it), then the grace, then the Close.
    shutdown.unwrap();
    assert_eq!(
        seen,
        vec![
            Message::binary(vec![4, 1, 0, 0]),
            Message::binary(vec![5, 0]),
            Message::Ping(Bytes::from_static(SHUTDOWN_PING)),
            Message::Close(None),
        ]
    );
    assert!(started.elapsed() >= FORWARD_GRACE);
}

#[tokio::test]
async fn the_close_waits_for_the_servers_pong() {
    // Arrange: a server that does not read yet.
    let (mut upstream, mut server) = pair().await;
    upstream.write_all(&[4, 1, 0, 0]).await.unwrap();
    // Act
    let early = tokio::time::timeout(FORWARD_GRACE * 4, upstream.shutdown()).await;
    // Assert: no Close went out; once the server reads, the Pong lets it.
    assert!(early.is_err(), "shut down without a Pong");
    let (shutdown, seen) = tokio::join!(upstream.shutdown(), all_received(&mut server));
    shutdown.unwrap();
    assert_eq!(seen.last(), Some(&Message::Close(None)));
}

#[tokio::test]
async fn after_the_server_closed_the_shutdown_does_not_wait() {
    // Arrange
    let (mut upstream, mut server) = pair().await;
    server.close(None).await.unwrap();
    let mut buf = [0u8; 8];
    assert_eq!(upstream.read(&mut buf).await.unwrap(), 0);
    // Act
    let shutdown = tokio::time::timeout(WAIT, upstream.shutdown()).await;
    // Assert
    assert!(shutdown.expect("shut down in time").is_ok());
}

#[tokio::test]
async fn a_ping_from_the_server_is_answered_while_the_relay_reads() {
    // Arrange
    let (mut upstream, mut server) = pair().await;
    // Act
    server
        .send(Message::Ping(Bytes::from_static(b"p")))
        .await
        .unwrap();
    server.send(Message::binary(vec![9])).await.unwrap();
    let got = read_exactly(&mut upstream, 1).await;
    // The pong is queued by the read and goes out with the next write or read.
    upstream.write_all(&[7]).await.unwrap();
    upstream.flush().await.unwrap();
    let first = tokio::time::timeout(WAIT, server.next()).await.unwrap();
    // Assert
    assert_eq!(got, vec![9]);
    assert_eq!(
        first.unwrap().unwrap(),
        Message::Pong(Bytes::from_static(b"p"))
    );
}

#[tokio::test]
async fn a_malformed_frame_is_a_read_error_not_a_panic() {
    // Arrange: the server's end written raw.
    let (ours, mut theirs) = tokio::io::duplex(1024);
    let client = WebSocketStream::from_raw_socket(ours, Role::Client, None).await;
    let mut upstream = WsBytes::new(client);
    // Act: a binary frame with the reserved bits set (no extension negotiated them).
    theirs.write_all(&[0xF2, 0x01, 0x00]).await.unwrap();
    let mut buf = [0u8; 8];
    let first = upstream.read(&mut buf).await;
    let after = upstream.read(&mut buf).await.unwrap();
    // Assert
    assert!(first.is_err(), "{first:?}");
    assert_eq!(after, 0, "after an error the stream has ended");
}
