//! How streaming VNC sockets end (PROTOCOL §2): entity-finished, superseded, draining,
//! slow-consumer, timeout and upstream-unreachable, against real verification (SQLite) and a
//! recording RFB upstream. Closes decided before streaming (credentials, entities, tickets,
//! origins) are in `gateway_close_auth.rs`.

use integration_tests::gateway::{
    http_request, Closed, StreamWorld as World, UpstreamMode, BROWSER_PATH, WAIT,
};

fn closed(code: u16, reason: &str) -> Closed {
    Closed {
        code,
        reason: reason.into(),
    }
}

#[tokio::test]
async fn an_idle_socket_closes_with_entity_finished_when_its_entity_ends() {
    let w = World::start(UpstreamMode::Quiet).await;
    let mut vnc = w
        .gateway
        .connect_vnc(&w.path(), &format!("client_id=c&apikey={}", w.key))
        .await;
    vnc.handshake().await.unwrap();
    w.verification
        .set_status("browser_session", &w.session, "completed")
        .await;
    assert_eq!(vnc.closed().await, closed(1000, "entity-finished"));
}

#[tokio::test]
async fn a_second_vnc_socket_of_the_same_stream_key_supersedes_the_first() {
    let w = World::start(UpstreamMode::Quiet).await;
    let query = format!("client_id=c&apikey={}", w.key);
    let mut first = w.gateway.connect_vnc(&w.path(), &query).await;
    first.handshake().await.unwrap();
    let mut second = w.gateway.connect_vnc(&w.path(), &query).await;
    assert_eq!(first.closed().await, closed(1000, "superseded"));
    second.handshake().await.expect("the newer socket streams");
    // Another client_id does not supersede.
    let mut other = w
        .gateway
        .connect_vnc(&w.path(), &format!("client_id=d&apikey={}", w.key))
        .await;
    other.handshake().await.unwrap();
    second
        .send(&gateway::rfb::encode::framebuffer_update_request(
            true, 0, 0, 1, 1,
        ))
        .await;
    w.upstream.wait_for(10).await;
}

#[tokio::test]
async fn shutdown_closes_every_socket_with_draining_and_the_gateway_exits() {
    let w = World::start(UpstreamMode::Quiet).await;
    let mut vnc = w
        .gateway
        .connect_vnc(&w.path(), &format!("client_id=c&apikey={}", w.key))
        .await;
    vnc.handshake().await.unwrap();
    let gateway = w.gateway;
    let closing = tokio::spawn(async move { vnc.closed().await });
    gateway.shutdown().await.expect("clean exit");
    assert_eq!(closing.await.unwrap(), closed(1012, "draining"));
}

#[tokio::test]
async fn a_viewer_that_never_reads_is_closed_as_slow_consumer_while_the_upstream_floods() {
    let w = World::start_with(UpstreamMode::Flood, |c| {
        c.outbound_queue_bytes = 1024 * 1024;
    })
    .await;
    let mut vnc = w
        .gateway
        .connect_vnc(&w.path(), &format!("client_id=c&apikey={}", w.key))
        .await;
    // The handshake reads only what it needs; after it the viewer reads nothing.
    vnc.handshake().await.unwrap();
    tokio::time::timeout(WAIT, async {
        loop {
            let (_, metrics) = http_request(w.gateway.addr, "GET", "/metrics", &[], "").await;
            if metrics.contains("gateway_closes_total{reason=\"slow-consumer\"} 1") {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("slow-consumer close counted");
}

#[tokio::test]
async fn task_and_workflow_run_paths_stream_their_browser_session() {
    let w = World::start(UpstreamMode::Quiet).await;
    let task = w
        .verification
        .create_task(&w.org, Some(&w.session), None)
        .await;
    let run = w
        .verification
        .create_workflow_run(&w.org, Some(&w.session))
        .await;
    let query = format!("client_id=c&apikey={}", w.key);
    let mut by_task = w
        .gateway
        .connect_vnc(&format!("/api/v1/stream/vnc/task/{task}"), &query)
        .await;
    assert_eq!(by_task.handshake().await.unwrap(), (4, 3));
    let mut by_run = w
        .gateway
        .connect_vnc(&format!("/api/v1/stream/vnc/workflow_run/{run}"), &query)
        .await;
    assert_eq!(by_run.handshake().await.unwrap(), (4, 3));
    w.verification.set_status("task", &task, "completed").await;
    assert_eq!(by_task.closed().await, closed(1000, "entity-finished"));
}

#[tokio::test]
async fn health_readiness_and_metrics_are_served() {
    let w = World::start(UpstreamMode::Quiet).await;
    assert_eq!(
        http_request(w.gateway.addr, "GET", "/healthz", &[], "")
            .await
            .0,
        200
    );
    assert_eq!(
        http_request(w.gateway.addr, "GET", "/readyz", &[], "")
            .await
            .0,
        200
    );
    let (status, metrics) = http_request(w.gateway.addr, "GET", "/metrics", &[], "").await;
    assert_eq!(status, 200);
    assert!(
        metrics.contains("gateway_input_to_screen_seconds"),
        "{metrics}"
    );
}

#[tokio::test]
async fn an_upstream_that_never_completes_the_handshake_closes_with_timeout() {
    let w = World::start_with(UpstreamMode::Quiet, |c| {
        c.handshake_timeout = std::time::Duration::from_millis(300)
    })
    .await;
    // A server that accepts and says nothing.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_url = format!("tcp://{}", silent.local_addr().unwrap());
    let held = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = silent.accept().await {
            held.push(stream);
        }
    });
    let session = w
        .verification
        .create_browser_session(&w.org, Some(&silent_url), Some("http://127.0.0.1:9"))
        .await;
    let socket = w
        .close_of(
            &format!("{BROWSER_PATH}{session}"),
            &format!("client_id=c&apikey={}", w.key),
        )
        .await;
    assert_eq!(socket, closed(1008, "timeout"));
    held.abort();
}

#[tokio::test]
async fn upstreams_that_cannot_or_may_not_be_dialled_close_with_upstream_unreachable() {
    let w = World::start(UpstreamMode::Quiet).await;
    let query = format!("client_id=c&apikey={}", w.key);
    // Nothing listens there.
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let dead = w
        .verification
        .create_browser_session(
            &w.org,
            Some(&format!("tcp://{closed_port}")),
            Some("http://127.0.0.1:9"),
        )
        .await;
    assert_eq!(
        w.close_of(&format!("{BROWSER_PATH}{dead}"), &query).await,
        closed(1011, "upstream-unreachable")
    );
    // Outside the allow list (default: loopback only): never dialled.
    let outside = w
        .verification
        .create_browser_session(
            &w.org,
            Some("tcp://192.0.2.7:5900"),
            Some("http://127.0.0.1:9"),
        )
        .await;
    assert_eq!(
        w.close_of(&format!("{BROWSER_PATH}{outside}"), &query)
            .await,
        closed(1011, "upstream-unreachable")
    );
}
