//! What the gateway exports at `/metrics` after Message-channel flows (PROTOCOL §9), and the
//! `--executor-timeout` deadline of executor calls: real verification (SQLite), the gateway
//! in-process, a recording RFB upstream, and an executor address that never answers (a fault a
//! real executor does not produce on demand).

use std::time::Duration;

use gateway::rfb::{encode, keysym};
use integration_tests::gateway::http_request;
use integration_tests::message::MessageWorld;
use serde_json::json;
use tokio::net::TcpListener;

/// Accepts connections and never answers; returns its URL and the task holding them.
async fn silent_executor() -> (String, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            open.push(stream);
        }
    });
    (url, held)
}

async fn scrape(world: &MessageWorld) -> String {
    let (status, body) = http_request(world.gateway.addr, "GET", "/metrics", &[], "").await;
    assert_eq!(status, 200);
    body
}

#[tokio::test]
async fn an_executor_call_is_given_up_at_the_executor_timeout_and_its_latency_is_exported() {
    // Arrange: a deadline far below the 30 s default (and below the kit's wait).
    let (url, held) = silent_executor().await;
    let world = MessageWorld::start_with(None, |c| {
        c.cdp_executor_url = Some(url);
        c.executor_timeout = Duration::from_millis(300);
    })
    .await;
    let mut messages = world.messages("c1").await;
    // Act
    messages.send(json!({"kind": "get-browser-url"})).await;
    // Assert
    assert_eq!(
        messages.next_of_kind("error").await,
        json!({"kind": "error", "failed_kind": "get-browser-url", "message": "Failed to read browser URL."})
    );
    let metrics = scrape(&world).await;
    assert!(
        metrics.contains("gateway_executor_call_seconds_count{op=\"GetUrl\"} 1"),
        "{metrics}"
    );
    held.abort();
}

#[tokio::test]
async fn clipboard_asks_control_transfers_and_dropped_frames_are_exported() {
    // Arrange: a viewer that holds control, on both channels.
    let world = MessageWorld::start().await;
    let mut messages = world.messages("c1").await;
    messages.send(json!({"kind": "take-control"})).await;
    while messages.next_of_kind("control-state").await["interactor"] != "user" {}
    let mut vnc = world.vnc("c1").await;
    // Act: Ctrl+V without a recent cut text asks the Message socket for the clipboard.
    for (down, sym) in [
        (true, keysym::CONTROL_L),
        (true, keysym::V_LOWER),
        (false, keysym::V_LOWER),
        (false, keysym::CONTROL_L),
    ] {
        vnc.send(&encode::key_event(down, sym)).await;
    }
    messages.next_of_kind("ask-for-clipboard").await;
    // Assert
    let metrics = scrape(&world).await;
    for series in [
        "gateway_clipboard_operations_total{op=\"ask\"} 1",
        "gateway_message_dropped_total 0",
        "gateway_control_transfers_total",
    ] {
        assert!(metrics.contains(series), "{series} missing from {metrics}");
    }
}
