//! How VNC sockets are refused before streaming (PROTOCOL §2): credentials, client ids,
//! entities that cannot stream, verification down, stream tickets, origins and revoked keys,
//! against real verification (SQLite) and a recording RFB upstream. Closes of streaming
//! sockets are in `gateway_close.rs`.

use integration_tests::gateway::{
    http_request, Closed, StreamWorld as World, UpstreamMode, BROWSER_PATH,
};

fn closed(code: u16, reason: &str) -> Closed {
    Closed {
        code,
        reason: reason.into(),
    }
}

/// Stream-ticket calls of the tests (a local trait: [`World`] lives in the test kit).
trait Tickets {
    async fn mint(&self, kind: &str, id: &str, scope: &str) -> (u16, String);
    async fn ticket(&self, kind: &str, id: &str) -> String;
}

impl Tickets for World {
    async fn mint(&self, kind: &str, id: &str, scope: &str) -> (u16, String) {
        let body = format!(r#"{{"entity_kind":"{kind}","entity_id":"{id}","scope":"{scope}"}}"#);
        http_request(
            self.gateway.addr,
            "POST",
            "/v1/stream/tickets",
            &[("x-api-key", &self.key)],
            &body,
        )
        .await
    }

    async fn ticket(&self, kind: &str, id: &str) -> String {
        let (status, body) = self.mint(kind, id, "control").await;
        assert_eq!(status, 201, "{body}");
        let value: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert!(
            value["expires_at"]
                .as_str()
                .is_some_and(|t| t.ends_with('Z')),
            "{body}"
        );
        value["ticket"].as_str().unwrap().to_owned()
    }
}

#[tokio::test]
async fn credentials_and_client_ids_are_checked_with_1002() {
    let w = World::start(UpstreamMode::Quiet).await;
    assert_eq!(
        w.close_of(&w.path(), "client_id=c").await,
        closed(1002, "auth-failed")
    );
    assert_eq!(
        w.close_of(&w.path(), "client_id=c&apikey=nope").await,
        closed(1002, "auth-failed")
    );
    assert_eq!(
        w.close_of(&w.path(), "client_id=c&token=Basic%20x").await,
        closed(1002, "auth-failed")
    );
    assert_eq!(
        w.close_of(&w.path(), &format!("apikey={}", w.key)).await,
        closed(1002, "client-id-missing")
    );
    let long = "x".repeat(129);
    assert_eq!(
        w.close_of(&w.path(), &format!("client_id={long}&apikey={}", w.key))
            .await,
        closed(1002, "client-id-missing")
    );
}

#[tokio::test]
async fn entities_that_cannot_stream_close_with_1013_and_their_reason() {
    let w = World::start(UpstreamMode::Quiet).await;
    let query = format!("client_id=c&apikey={}", w.key);
    // Unknown entity, and another organization's entity, look the same.
    let other_org = w.verification.create_org("other").await;
    let foreign = w
        .verification
        .create_browser_session(
            &other_org,
            Some(&w.upstream.vnc_url()),
            Some("http://127.0.0.1:9"),
        )
        .await;
    assert_eq!(
        w.close_of(&format!("{BROWSER_PATH}{foreign}"), &query)
            .await,
        closed(1013, "entity-not-found")
    );
    assert_eq!(
        w.close_of(&format!("{BROWSER_PATH}pbs_unknown"), &query)
            .await,
        closed(1013, "entity-not-found")
    );
    // Live but without a VNC address.
    let unready = w
        .verification
        .create_browser_session(&w.org, None, Some("http://127.0.0.1:9"))
        .await;
    assert_eq!(
        w.close_of(&format!("{BROWSER_PATH}{unready}"), &query)
            .await,
        closed(1013, "browser-not-ready")
    );
    // Finished.
    w.verification
        .set_status("browser_session", &w.session, "completed")
        .await;
    assert_eq!(
        w.close_of(&w.path(), &query).await,
        closed(1013, "entity-not-live")
    );
    assert_eq!(w.upstream.connections(), 0, "no upstream was dialled");
}

#[tokio::test]
async fn a_gateway_whose_verification_is_down_closes_with_verification_unavailable() {
    let w = World::start(UpstreamMode::Quiet).await;
    let query = format!("client_id=c&apikey={}", w.key);
    let (path, verification) = (w.path(), w.verification);
    verification.shutdown().await;
    let socket = w.gateway.connect_vnc(&path, &query).await.closed().await;
    assert_eq!(socket, closed(1013, "verification-unavailable"));
    let (status, _) = http_request(w.gateway.addr, "GET", "/readyz", &[], "").await;
    assert_eq!(status, 503);
}

#[tokio::test]
async fn a_ticket_opens_exactly_one_socket_of_its_own_entity() {
    let w = World::start(UpstreamMode::Quiet).await;
    let ticket = w.ticket("browser_session", &w.session).await;
    let query = format!("client_id=c&ticket={ticket}");
    let mut vnc = w.gateway.connect_vnc(&w.path(), &query).await;
    vnc.handshake().await.expect("the ticket opens the socket");
    assert_eq!(
        w.close_of(&w.path(), &query).await,
        closed(1002, "auth-failed"),
        "a ticket is single-use"
    );
    // A ticket for another entity of the same organization does not open this one.
    let other = w
        .verification
        .create_browser_session(
            &w.org,
            Some(&w.upstream.vnc_url()),
            Some("http://127.0.0.1:9"),
        )
        .await;
    let ticket = w.ticket("browser_session", &other).await;
    assert_eq!(
        w.close_of(&w.path(), &format!("client_id=c&ticket={ticket}"))
            .await,
        closed(1002, "auth-failed")
    );
}

#[tokio::test]
async fn minting_a_ticket_answers_401_400_and_404_for_bad_requests() {
    let w = World::start(UpstreamMode::Quiet).await;
    let bad_key = http_request(
        w.gateway.addr,
        "POST",
        "/v1/stream/tickets",
        &[("x-api-key", "nope")],
        r#"{"entity_kind":"browser_session","entity_id":"pbs_x","scope":"view"}"#,
    )
    .await;
    assert_eq!(bad_key.0, 401);
    assert_eq!(w.mint("browser_session", &w.session, "admin").await.0, 400);
    assert_eq!(w.mint("planet", &w.session, "view").await.0, 400);
    let not_json = http_request(
        w.gateway.addr,
        "POST",
        "/v1/stream/tickets",
        &[("x-api-key", &w.key)],
        "{",
    )
    .await;
    assert_eq!(not_json.0, 400);
    assert_eq!(
        w.mint("browser_session", "pbs_unknown", "view").await.0,
        404
    );
}

#[tokio::test]
async fn an_origin_outside_the_allow_list_is_refused_before_the_upgrade() {
    use tokio_tungstenite::tungstenite::{client::IntoClientRequest, Error};
    let w = World::start_with(UpstreamMode::Quiet, |c| {
        c.allowed_origins = vec!["https://app.example".into()]
    })
    .await;
    let url = w
        .gateway
        .ws_url(&w.path(), &format!("client_id=c&apikey={}", w.key));
    let mut request = url.as_str().into_client_request().unwrap();
    request
        .headers_mut()
        .insert("origin", "https://evil.example".parse().unwrap());
    match tokio_tungstenite::connect_async(request).await {
        Err(Error::Http(response)) => assert_eq!(response.status(), 403),
        other => panic!("expected an HTTP 403, got {:?}", other.map(|_| ())),
    }
    let mut request = url.as_str().into_client_request().unwrap();
    request
        .headers_mut()
        .insert("origin", "https://app.example".parse().unwrap());
    let (mut allowed, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("allowed origin upgrades");
    let _ = futures::SinkExt::close(&mut allowed).await;
}

#[tokio::test]
async fn a_revoked_api_key_stops_opening_sockets_once_the_auth_cache_ttl_has_passed() {
    let ttl = std::time::Duration::from_millis(200);
    let w = World::start_with(UpstreamMode::Quiet, |c| c.auth_cache_ttl = ttl).await;
    let query = format!("client_id=c&apikey={}", w.key);
    let mut vnc = w.gateway.connect_vnc(&w.path(), &query).await;
    vnc.handshake().await.expect("the key works and is cached");
    vnc.close().await;
    w.verification.admin.revoke_api_key(&w.key).await.unwrap();
    tokio::time::sleep(ttl * 2).await;
    assert_eq!(
        w.close_of(&w.path(), &query).await,
        closed(1002, "auth-failed")
    );
}

#[tokio::test]
async fn a_socket_over_the_stream_cap_closes_with_rate_limited() {
    // Arrange
    let w = World::start_with(UpstreamMode::Quiet, |c| c.max_sockets = 1).await;
    let query = format!("client_id=c1&apikey={}", w.key);
    let mut streaming = w.gateway.connect_vnc(&w.path(), &query).await;
    streaming
        .handshake()
        .await
        .expect("the first socket streams");
    // Act
    let second = w
        .close_of(&w.path(), &format!("client_id=c2&apikey={}", w.key))
        .await;
    // Assert
    assert_eq!(second, closed(1008, "rate-limited"));
}

#[tokio::test]
async fn bad_credentials_never_hold_a_stream_permit_while_their_close_lingers() {
    // Arrange: one stream permit, and sockets with a wrong key that never answer the close
    // frame (the gateway waits for their Close: they used to hold the permit meanwhile).
    let w = World::start_with(UpstreamMode::Quiet, |c| c.max_sockets = 1).await;
    let mut flood = Vec::new();
    for n in 0..4 {
        let query = format!("client_id=bad{n}&apikey=wrong");
        flood.push(w.gateway.connect_vnc(&w.path(), &query).await);
    }
    // Their authentication failed (and the close frame went out) by now.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    // Act
    let query = format!("client_id=c1&apikey={}", w.key);
    let mut legit = w.gateway.connect_vnc(&w.path(), &query).await;
    // Assert
    legit
        .handshake()
        .await
        .expect("an authorized socket streams while bad ones linger");
    for mut bad in flood {
        assert_eq!(bad.closed().await, closed(1002, "auth-failed"));
    }
}
