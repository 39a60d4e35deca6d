//! The second half of a stream socket's closing handshake (RFC 6455 §5.5.1, §7.1.1): once
//! the gateway has decided to close, it keeps reading (and discarding) what the client still
//! sends until the client's Close arrives, the stream ends, or a short deadline passes; only
//! then is the TCP connection dropped.
//!
//! Why not drop at once: closing a TCP socket whose receive buffer still holds unread bytes
//! (a viewer that was typing, moving the mouse or sending requests when its session ended)
//! makes the kernel reset the connection and discard everything not yet transmitted,
//! including the close frame just written. The viewer then sees a dropped connection (1006)
//! instead of the reason. After the client's Close the client sends nothing more, so the
//! buffer is drained and the connection ends with a FIN behind the close frame.

use std::time::Duration;

use futures::{Stream, StreamExt};
use tokio::time::Instant;

/// How long a closing socket may take in total (its close frame out, the client's Close
/// back), counted from the close decision. Also bounds the drain: every socket is gone this
/// long after `draining` was decided, well within `--drain-grace`.
pub const CLOSE_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(2);

/// How the wait for the client's Close ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lingered {
    /// The client's Close arrived.
    ClientClosed,
    /// The stream ended or failed (the client closed TCP, or reset it).
    Ended,
    /// The deadline passed first: the socket is dropped anyway.
    TimedOut,
}

/// The deadline of a close decided now.
pub fn deadline() -> Instant {
    Instant::now() + CLOSE_HANDSHAKE_TIMEOUT
}

/// Reads and discards frames from `stream` until one `is_close`, the stream ends or errs, or
/// `deadline` passes. Call it on a stream whose client has not closed yet.
pub async fn until_client_closes<S, T, E>(
    stream: &mut S,
    is_close: impl Fn(&T) -> bool,
    deadline: Instant,
) -> Lingered
where
    S: Stream<Item = Result<T, E>> + Unpin,
{
    let drained = async {
        loop {
            match stream.next().await {
                Some(Ok(frame)) if is_close(&frame) => return Lingered::ClientClosed,
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return Lingered::Ended,
            }
        }
    };
    let lingered = tokio::time::timeout_at(deadline, drained)
        .await
        .unwrap_or(Lingered::TimedOut);
    tracing::debug!(close.handshake = ?lingered, "closing handshake ended");
    lingered
}

#[cfg(test)]
mod tests {
    use futures::channel::mpsc;
    use futures::SinkExt;

    use super::*;

    type Frame = Result<&'static str, ()>;

    fn is_close(frame: &&'static str) -> bool {
        *frame == "close"
    }

    #[tokio::test]
    async fn frames_before_the_clients_close_are_read_and_discarded() {
        let (mut client, mut stream) = mpsc::channel::<Frame>(8);
        for frame in ["input", "input", "close", "after"] {
            client.send(Ok(frame)).await.unwrap();
        }
        let lingered = until_client_closes(&mut stream, is_close, deadline()).await;
        assert_eq!(lingered, Lingered::ClientClosed);
        assert_eq!(stream.next().await, Some(Ok("after")), "stops at the Close");
    }

    #[tokio::test]
    async fn a_stream_that_ends_or_fails_ends_the_wait() {
        let (client, mut stream) = mpsc::channel::<Frame>(8);
        drop(client);
        let ended = until_client_closes(&mut stream, is_close, deadline()).await;
        let (mut client, mut stream) = mpsc::channel::<Frame>(8);
        client.send(Err(())).await.unwrap();
        let failed = until_client_closes(&mut stream, is_close, deadline()).await;
        assert_eq!((ended, failed), (Lingered::Ended, Lingered::Ended));
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_that_never_answers_is_dropped_at_the_deadline() {
        let (_client, mut stream) = mpsc::channel::<Frame>(8);
        let start = Instant::now();
        let lingered = until_client_closes(&mut stream, is_close, deadline()).await;
        assert_eq!(lingered, Lingered::TimedOut);
        assert!(start.elapsed() >= CLOSE_HANDSHAKE_TIMEOUT);
    }
}
