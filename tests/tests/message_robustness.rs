//! Robustness of the Message channel, end to end: bad input gets an `error` reply and the
//! channel goes on (spec §15 item 22); operations run concurrently within a bound, outbound
//! frames go through one bounded queue, and a viewer that stops reading is closed as a slow
//! consumer (spec §15 item 23).

use std::time::Duration;

use integration_tests::message::MessageWorld;
use serde_json::{json, Value};
use tokio::net::TcpListener;

fn error(failed_kind: Option<&str>, message: &str) -> Value {
    json!({"kind": "error", "failed_kind": failed_kind, "message": message})
}

#[tokio::test]
async fn bad_frames_get_error_replies_and_the_channel_goes_on() {
    // Arrange: each of these ended the incumbent's channel (spec §15 item 22).
    let world = MessageWorld::start().await;
    let mut messages = world.messages("c1").await;
    assert_eq!(
        messages.next_of_kind("control-state").await["interactor"],
        "agent"
    );
    // Act + Assert
    messages.send_text("{not json").await;
    assert_eq!(
        messages.next_of_kind("error").await,
        error(None, "Invalid JSON.")
    );
    messages.send_binary(&[1, 2, 3]).await;
    assert_eq!(
        messages.next_of_kind("error").await,
        error(None, "Binary frames are not accepted; send JSON text.")
    );
    messages.send_text("[\"take-control\"]").await;
    assert_eq!(
        messages.next_of_kind("error").await,
        error(None, "A message must be a JSON object.")
    );
    messages.send(json!({"kind": "format-disk"})).await;
    assert_eq!(
        messages.next_of_kind("error").await,
        error(Some("format-disk"), "Unknown kind.")
    );
    messages.send(json!({"kind": "navigate", "url": 5})).await;
    assert_eq!(
        messages.next_of_kind("error").await,
        error(Some("navigate"), "Missing or invalid field.")
    );
    messages
        .send(json!({"kind": "clipboard-paste", "text": {"nested": true}}))
        .await;
    assert_eq!(
        messages.next_of_kind("error").await,
        error(Some("clipboard-paste"), "Missing or invalid field.")
    );
    let huge = json!({"kind": "clipboard-paste", "text": "x".repeat(2 * 1024 * 1024)});
    messages.send(huge).await;
    assert_eq!(
        messages.next_of_kind("error").await,
        error(None, "Message too large.")
    );
    // The channel still works.
    messages.send(json!({"kind": "take-control"})).await;
    assert_eq!(
        messages.next_of_kind("control-state").await,
        json!({"kind": "control-state", "interactor": "user", "reason": null})
    );
}

#[tokio::test]
async fn clipboard_text_over_one_mebibyte_is_refused_with_the_incumbent_text() {
    // Arrange
    let world = MessageWorld::start().await;
    let mut messages = world.messages("c1").await;
    messages.send(json!({"kind": "take-control"})).await;
    // Act: 1 MiB + 1 byte of UTF-8 in a frame under the 2 MiB frame cap.
    let text = "é".repeat(512 * 1024) + "a";
    messages
        .send(json!({"kind": "ask-for-clipboard-response", "text": text}))
        .await;
    // Assert
    assert_eq!(
        messages.next_of_kind("error").await,
        error(
            Some("ask-for-clipboard-response"),
            "Clipboard payload too large."
        )
    );
}

/// An executor address that accepts connections and never answers: every call hangs until its
/// deadline (a fault a real executor does not produce on demand).
async fn silent_executor() -> (String, TcpListener) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    (
        format!("http://{}", listener.local_addr().unwrap()),
        listener,
    )
}

#[tokio::test]
async fn a_slow_operation_never_delays_take_control() {
    // Arrange: spec §15 item 23, the incumbent handled messages serially.
    let (url, listener) = silent_executor().await;
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            open.push(stream);
        }
    });
    let world = MessageWorld::start_with(None, |c| c.cdp_executor_url = Some(url)).await;
    let mut messages = world.messages("c1").await;
    assert_eq!(
        messages.next_of_kind("control-state").await["interactor"],
        "agent"
    );
    // Act: eight screenshots hang at the executor; a ninth is over the bound.
    for _ in 0..9 {
        messages.send(json!({"kind": "take-screenshot"})).await;
    }
    messages.send(json!({"kind": "take-control"})).await;
    // Assert
    assert_eq!(
        messages.next_of_kind("error").await,
        error(
            Some("take-screenshot"),
            "Too many operations in progress; try again."
        )
    );
    assert_eq!(
        messages.next_of_kind("control-state").await["interactor"],
        "user"
    );
    assert!(
        !messages.has_pending("screenshot"),
        "the screenshots are still hanging"
    );
    held.abort();
}

#[tokio::test]
async fn operations_without_an_executor_answer_that_they_are_unavailable() {
    // Arrange
    let world = MessageWorld::start().await;
    let mut messages = world.messages("c1").await;
    messages.send(json!({"kind": "take-control"})).await;
    // Act + Assert
    for kind in [
        "get-browser-url",
        "take-screenshot",
        "clipboard-copy",
        "get-browser-tabs",
        "begin-exfiltration",
    ] {
        messages.send(json!({ "kind": kind })).await;
        assert_eq!(
            messages.next_of_kind("error").await,
            error(Some(kind), "browser operations unavailable")
        );
    }
}

#[tokio::test]
async fn a_viewer_that_stops_reading_is_closed_as_a_slow_consumer() {
    // Arrange: spec §15 item 23, the incumbent's outbound queue was unbounded.
    let world = MessageWorld::start_with(None, |c| {
        c.outbound_queue = 8;
        c.pong_timeout = Duration::from_secs(1);
    })
    .await;
    let mut messages = world.messages("c1").await;
    let unknown = json!({"kind": "k".repeat(60)}).to_string();
    // Act: every frame earns a reply; never read them, so the socket's buffers fill, then the
    // queue, which stays full for longer than the pong timeout.
    let mut sent = 0;
    let closed = tokio::time::timeout(Duration::from_secs(120), async {
        while messages.try_send_text(&unknown).await {
            sent += 1;
            if sent % 1000 == 0 && slow_consumer_closed(&world) {
                return;
            }
        }
    })
    .await;
    // Assert
    assert!(closed.is_ok(), "not closed after {sent} unread replies");
    let ended = messages.closed().await;
    assert!(ended.code == 1008 || ended.code == 1006, "{ended:?}");
    // The close is counted when the socket task ends, just after the TCP connection does.
    let counted = tokio::time::timeout(Duration::from_secs(20), async {
        while !slow_consumer_closed(&world) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    assert!(
        counted.await.is_ok(),
        "closed for another reason: {}",
        world.gateway.state.metrics.encode()
    );
}

fn slow_consumer_closed(world: &MessageWorld) -> bool {
    world
        .gateway
        .state
        .metrics
        .encode()
        .contains("gateway_closes_total{reason=\"slow-consumer\"} 1")
}
