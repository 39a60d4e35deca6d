//! Per-address limits of the public edge (`--auth-failures-per-minute`,
//! `--tickets-per-minute`, `--trusted-proxies`), against real verification: an address that
//! spent its failed authentications is refused with `rate-limited` (sockets) or 429 (tickets)
//! whatever it brings next, while other addresses are untouched. The gateway trusts loopback
//! as its proxy here, so each test's `X-Forwarded-For` plays a different client.

use integration_tests::gateway::{http_exchange, Closed, StreamWorld as World, UpstreamMode};

const ATTACKER: &str = "198.51.100.7";
const NEIGHBOUR: &str = "198.51.100.8";

fn behind_loopback_proxy(config: &mut gateway::config::Config) {
    config.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
}

async fn close_from(w: &World, address: &str, query: &str) -> Closed {
    w.gateway
        .connect_vnc_with_headers(&w.path(), query, &[("x-forwarded-for", address)])
        .await
        .closed()
        .await
}

/// Mints a ticket for the world's session as `address`: (status, head, body).
async fn mint_from(w: &World, address: &str, key: &str) -> (u16, String, String) {
    let body = format!(
        r#"{{"entity_kind":"browser_session","entity_id":"{}","scope":"control"}}"#,
        w.session
    );
    http_exchange(
        w.gateway.addr,
        "POST",
        "/v1/stream/tickets",
        &[("x-api-key", key), ("x-forwarded-for", address)],
        &body,
    )
    .await
}

#[tokio::test]
async fn an_address_out_of_failed_authentications_is_refused_even_with_a_good_key() {
    // Arrange
    let w = World::start_with(UpstreamMode::Quiet, |c| {
        behind_loopback_proxy(c);
        c.auth_failures_per_minute = 3;
    })
    .await;
    let good = format!("client_id=c1&apikey={}", w.key);
    // Act
    let mut failures = Vec::new();
    for n in 0..3 {
        failures.push(close_from(&w, ATTACKER, &format!("client_id=b{n}&apikey=wrong")).await);
    }
    let limited = close_from(&w, ATTACKER, &good).await;
    let (minted, head, _) = mint_from(&w, ATTACKER, &w.key).await;
    let mut neighbour = w
        .gateway
        .connect_vnc_with_headers(&w.path(), &good, &[("x-forwarded-for", NEIGHBOUR)])
        .await;
    // Assert
    let auth_failed = Closed {
        code: 1002,
        reason: "auth-failed".into(),
    };
    assert_eq!(failures, vec![auth_failed; 3]);
    assert_eq!(
        limited,
        Closed {
            code: 1008,
            reason: "rate-limited".into()
        }
    );
    assert_eq!(minted, 429, "{head}");
    assert!(
        head.to_ascii_lowercase().contains("retry-after: 20"),
        "one failure comes back every 20 s at 3 per minute: {head}"
    );
    neighbour
        .handshake()
        .await
        .expect("another address streams");
}

#[tokio::test]
async fn ticket_mints_are_limited_per_address_and_bad_keys_spend_failures() {
    // Arrange
    let w = World::start_with(UpstreamMode::Quiet, |c| {
        behind_loopback_proxy(c);
        c.tickets_per_minute = 2;
        c.auth_failures_per_minute = 1;
    })
    .await;
    // Act
    let first = mint_from(&w, ATTACKER, &w.key).await.0;
    let second = mint_from(&w, ATTACKER, &w.key).await.0;
    let (third, head, body) = mint_from(&w, ATTACKER, &w.key).await;
    let neighbour = mint_from(&w, NEIGHBOUR, &w.key).await.0;
    let wrong = mint_from(&w, NEIGHBOUR, "bsk_wrong").await.0;
    let after_wrong = mint_from(&w, NEIGHBOUR, &w.key).await;
    // Assert
    assert_eq!((first, second), (201, 201));
    assert_eq!(third, 429, "{body}");
    assert!(body.contains("too many tickets"), "{body}");
    assert!(
        head.to_ascii_lowercase().contains("retry-after: 30"),
        "{head}"
    );
    assert_eq!((neighbour, wrong), (201, 401));
    assert_eq!(after_wrong.0, 429, "{}", after_wrong.2);
    assert!(after_wrong.2.contains("failed authentications"));
}

#[tokio::test]
async fn an_organization_at_its_socket_cap_is_rate_limited_while_others_stream() {
    // Arrange: a cap of one socket per organization, and a second organization.
    let w = World::start_with(UpstreamMode::Quiet, |c| c.max_sockets_per_org = 1).await;
    let other = w.verification.create_org("other").await;
    let other_key = w.verification.create_api_key(&other).await;
    let other_upstream =
        integration_tests::gateway::RecordingUpstream::start(UpstreamMode::Quiet).await;
    let other_session = w
        .verification
        .create_browser_session(
            &other,
            Some(&other_upstream.vnc_url()),
            Some("http://127.0.0.1:9"),
        )
        .await;
    let query = |client: &str| format!("client_id={client}&apikey={}", w.key);
    let mut first = w.gateway.connect_vnc(&w.path(), &query("c1")).await;
    first.handshake().await.expect("the first socket streams");
    // Act
    let over = w.close_of(&w.path(), &query("c2")).await;
    let mut other_socket = w
        .gateway
        .connect_vnc(
            &format!("/v1/stream/vnc/browser_session/{other_session}"),
            &format!("client_id=c1&apikey={other_key}"),
        )
        .await;
    let other_streams = other_socket.handshake().await;
    first.close().await;
    let mut after_close = None;
    for _ in 0..50 {
        let mut again = w.gateway.connect_vnc(&w.path(), &query("c3")).await;
        if again.handshake().await.is_ok() {
            after_close = Some(again);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // Assert
    assert_eq!(
        over,
        Closed {
            code: 1008,
            reason: "rate-limited".into()
        }
    );
    assert!(
        other_streams.is_ok(),
        "another organization is not capped by this one"
    );
    assert!(
        after_close.is_some(),
        "a closed socket gives its place back"
    );
}

#[tokio::test]
async fn an_organization_over_its_message_rate_gets_rate_limited_errors_and_keeps_its_socket() {
    // Arrange: two Message frames a second for the organization.
    let w = World::start_with(UpstreamMode::Quiet, |c| {
        c.message_frames_per_second_per_org = 2;
    })
    .await;
    let url = w.gateway.ws_url(
        &integration_tests::message::path("browser_session", &w.session),
        &format!("client_id=c1&apikey={}", w.key),
    );
    let mut messages = integration_tests::message::MessageClient::connect(&url).await;
    messages.next_of_kind("control-state").await;
    // Act: six frames at once, each answered with an error (an unknown kind, or the rate).
    for _ in 0..6 {
        messages
            .send(serde_json::json!({"kind": "no-such-kind"}))
            .await;
    }
    let mut answers = Vec::new();
    for _ in 0..6 {
        let error = messages.next_of_kind("error").await;
        answers.push(error["message"].as_str().unwrap_or_default().to_owned());
    }
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    messages
        .send(serde_json::json!({"kind": "take-control"}))
        .await;
    let later = messages.next_of_kind("control-state").await;
    // Assert
    let limited = answers.iter().filter(|m| *m == "rate-limited").count();
    assert!(
        answers[..2].iter().all(|m| m != "rate-limited"),
        "{answers:?}"
    );
    assert!(
        limited >= 3,
        "frames over the rate are refused: {answers:?}"
    );
    assert_eq!(
        later["interactor"], "user",
        "the socket lives on once the rate allows"
    );
}

#[tokio::test]
async fn a_vnc_socket_over_its_organizations_input_rate_closes_with_rate_limited() {
    // Arrange
    let w = World::start_with(UpstreamMode::Quiet, |c| {
        c.input_events_per_second_per_org = 3;
    })
    .await;
    let mut vnc = w
        .gateway
        .connect_vnc(&w.path(), &format!("client_id=c1&apikey={}", w.key))
        .await;
    vnc.handshake().await.expect("handshake");
    // Act
    for _ in 0..10 {
        vnc.send(&gateway::rfb::encode::pointer_event(0, 1, 1))
            .await;
    }
    // Assert
    assert_eq!(
        vnc.closed().await,
        Closed {
            code: 1008,
            reason: "rate-limited".into()
        }
    );
}
