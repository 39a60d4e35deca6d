//! The actor's health check against a CDP peer on a thread of its own: a browser that answers
//! in time is kept even when the executor's own thread was held past the check, one busy
//! sending events is kept while its answer is late, and one that
//! stops answering is dropped.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::{connect, CdpHandle};

const INTERVAL: Duration = Duration::from_millis(100);

/// How a test peer treats `Browser.getVersion`.
#[derive(Clone, Copy)]
enum Health {
    /// Half an interval late, so a check is often outstanding when the test holds its thread.
    Late,
    /// Never.
    Unanswered,
    /// Never, but an event is sent every tenth of an interval (a browser busy, not hung).
    UnansweredWhileBusy,
}

/// A CDP peer on its own thread and runtime (so it answers while the test's thread is held):
/// every call gets an empty result, `Browser.getVersion` as `health` says.
fn peer(health: Health) -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            let (socket, _) = listener.accept().await.unwrap();
            let mut ws = tokio_tungstenite::accept_async(socket).await.unwrap();
            let mut busy = tokio::time::interval(INTERVAL / 10);
            loop {
                let message = tokio::select! {
                    message = ws.next() => match message {
                        Some(Ok(message)) => message,
                        _ => return,
                    },
                    _ = busy.tick(), if matches!(health, Health::UnansweredWhileBusy) => {
                        let event = json!({ "method": "Page.frameNavigated", "params": {} });
                        if ws.send(Message::Text(event.to_string().into())).await.is_err() {
                            return;
                        }
                        continue;
                    }
                };
                let Message::Text(text) = message else {
                    continue;
                };
                let call: Value = serde_json::from_str(&text).unwrap();
                if call["method"] == "Browser.getVersion" {
                    if !matches!(health, Health::Late) {
                        continue;
                    }
                    tokio::time::sleep(INTERVAL / 2).await;
                }
                let answer = json!({ "id": call["id"], "result": {} }).to_string();
                if ws.send(Message::Text(answer.into())).await.is_err() {
                    return;
                }
            }
        });
    });
    addr
}

/// A connection to a new peer; cancel the token to end it.
async fn connected(health: Health) -> (CdpHandle, CancellationToken) {
    let token = CancellationToken::new();
    let url = format!("ws://{}", peer(health));
    let cdp = connect(&url, INTERVAL, &TaskTracker::new(), &token)
        .await
        .unwrap();
    (cdp, token)
}

#[tokio::test]
async fn a_browser_that_answers_is_kept_when_the_executors_thread_was_held_past_the_check() {
    let (cdp, token) = connected(Health::Late).await;
    // Each hold keeps the actor from running for more than two intervals: when it runs again,
    // the browser's answer to the last check and the next tick are ready at once, and the
    // check's ping may still be unwritten.
    for hold in 0..20 {
        tokio::time::sleep(INTERVAL + Duration::from_millis(7 * hold)).await;
        std::thread::sleep(INTERVAL * 5 / 2);
        tokio::task::yield_now().await;
        assert!(!cdp.is_closed(), "dropped after hold {hold}");
    }
    let answer = tokio::time::timeout(
        Duration::from_secs(5),
        cdp.call("Page.enable", None, json!({})),
    );
    assert_eq!(answer.await.unwrap().unwrap(), json!({}));
    token.cancel();
}

#[tokio::test]
async fn a_browser_that_stops_answering_the_check_is_dropped() {
    let (cdp, token) = connected(Health::Unanswered).await;
    let start = Instant::now();
    tokio::time::timeout(Duration::from_secs(5), cdp.closed())
        .await
        .expect("the connection ends");
    // One interval to send the check, one for it to go unanswered.
    assert!(start.elapsed() >= INTERVAL * 2, "{:?}", start.elapsed());
    token.cancel();
}

#[tokio::test]
async fn a_browser_busy_sending_events_is_kept_while_its_answer_is_late() {
    let (cdp, token) = connected(Health::UnansweredWhileBusy).await;
    tokio::time::sleep(INTERVAL * 6).await;
    assert!(!cdp.is_closed());
    token.cancel();
}
