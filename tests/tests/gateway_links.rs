//! Viewer links with a role (PROTOCOL §5) through the real gateway and verification: a link
//! minted on one replica buys tickets on another; a view link can never take control or
//! complete a handoff; revoking it closes every socket opened through it, on both replicas
//! (real Redis), with 1008 `revoked`; revoking an API key closes the sockets opened with it
//! and with the tickets it minted.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use integration_tests::bus::{bus_url, cluster, redis_url_or_skip};
use integration_tests::gateway::{http_request, Closed, WAIT};
use integration_tests::message::{path, MessageClient, MessageWorld};
use serde_json::{json, Value};

fn revoked() -> Closed {
    Closed {
        code: 1008,
        reason: "revoked".into(),
    }
}

/// `POST /v1/stream/links`: (link_id, secret, the whole answer).
async fn create_link(
    on: SocketAddr,
    key: &str,
    session: &str,
    role: &str,
) -> (String, String, Value) {
    let body =
        json!({"entity_kind": "browser_session", "entity_id": session, "role": role, "ttl": 600})
            .to_string();
    let (status, reply) = http_request(
        on,
        "POST",
        "/v1/stream/links",
        &[("x-api-key", key), ("content-type", "application/json")],
        &body,
    )
    .await;
    assert_eq!(status, 201, "{reply}");
    let reply: Value = serde_json::from_str(&reply).unwrap();
    let url = reply["url"].as_str().unwrap();
    let fragment = url.split_once('#').unwrap().1;
    assert!(
        fragment.starts_with(&format!("session={session}&link=bsl_")),
        "{url}"
    );
    assert!(!url.contains("bsk_"), "never an API key in the link: {url}");
    let secret = fragment.split_once("&link=").unwrap().1.to_owned();
    (reply["link_id"].as_str().unwrap().to_owned(), secret, reply)
}

/// A ticket bought with a link's secret: (ticket, answer).
async fn ticket_from_link(on: SocketAddr, secret: &str) -> (u16, Value) {
    let (status, reply) = http_request(
        on,
        "POST",
        "/v1/stream/tickets",
        &[("x-stream-link", secret)],
        "",
    )
    .await;
    (status, serde_json::from_str(&reply).unwrap_or(Value::Null))
}

async fn messages_with_link(
    on: SocketAddr,
    session: &str,
    secret: &str,
    client: &str,
) -> MessageClient {
    let (status, minted) = ticket_from_link(on, secret).await;
    assert_eq!(status, 201, "{minted}");
    let url = format!(
        "ws://{on}{}?client_id={client}&ticket={}",
        path("browser_session", session),
        minted["ticket"].as_str().unwrap()
    );
    let mut socket = MessageClient::connect(&url).await;
    socket.next_of_kind("control-state").await;
    socket
}

#[tokio::test]
async fn a_revoked_link_closes_its_sockets_on_every_replica_and_only_those() {
    let Some(redis) = redis_url_or_skip() else {
        return;
    };
    let c = cluster(&bus_url(&redis)).await;
    let (view_id, view_secret, _) = create_link(c.a.addr, &c.key, &c.session, "view").await;
    let (_, control_secret, _) = create_link(c.a.addr, &c.key, &c.session, "control").await;

    // Bought on B: the answer names the link's entity and scope.
    let (status, minted) = ticket_from_link(c.b.addr, &view_secret).await;
    assert_eq!(status, 201);
    assert_eq!(minted["entity_kind"], "browser_session");
    assert_eq!(minted["entity_id"], c.session.as_str());
    assert_eq!(minted["scope"], "view");

    let mut on_a = messages_with_link(c.a.addr, &c.session, &view_secret, "viewer-a").await;
    let mut on_b = messages_with_link(c.b.addr, &c.session, &view_secret, "viewer-b").await;
    let mut driver = messages_with_link(c.b.addr, &c.session, &control_secret, "driver").await;

    // A view link watches only.
    on_a.send(json!({"kind": "take-control"})).await;
    assert_eq!(
        on_a.next_of_kind("error").await,
        json!({"kind": "error", "failed_kind": "take-control", "message": "view only"})
    );
    on_a.send(json!({"kind": "handoff-complete", "handoff_id": "h", "success": true}))
        .await;
    assert_eq!(on_a.next_of_kind("error").await["message"], "view only");
    // A control link drives.
    driver.send(json!({"kind": "take-control"})).await;
    loop {
        if driver.next_of_kind("control-state").await["interactor"] == "user" {
            break;
        }
    }

    let started = Instant::now();
    let (status, reply) = http_request(
        c.b.addr,
        "DELETE",
        &format!("/v1/stream/links/{view_id}"),
        &[("x-api-key", &c.key)],
        "",
    )
    .await;
    assert_eq!(status, 204, "{reply}");
    let (a, b) = tokio::time::timeout(WAIT, async { tokio::join!(on_a.closed(), on_b.closed()) })
        .await
        .expect("both view sockets close");
    let took = started.elapsed();
    assert_eq!((a, b), (revoked(), revoked()));
    println!("revocation closed the sockets on both replicas in {took:?}");
    assert!(took < Duration::from_secs(2), "within 2 s: {took:?}");

    // The control link's socket goes on; the revoked link buys nothing more.
    driver.send(json!({"kind": "cede-control"})).await;
    assert_eq!(
        driver.next_of_kind("control-state").await["interactor"],
        "agent"
    );
    assert_eq!(ticket_from_link(c.a.addr, &view_secret).await.0, 401);
    let (status, _) = http_request(
        c.a.addr,
        "DELETE",
        &format!("/v1/stream/links/{view_id}"),
        &[("x-api-key", &c.key)],
        "",
    )
    .await;
    assert_eq!(status, 404, "already revoked");
}

#[tokio::test]
async fn revoking_an_api_key_closes_the_sockets_it_opened_and_its_tickets_opened() {
    let w = MessageWorld::start().await;
    let key = w.verification.create_api_key(&w.org).await;
    let query = format!("client_id=by-key&apikey={key}");
    let mut by_key = MessageClient::connect(
        &w.gateway
            .ws_url(&path("browser_session", &w.session), &query),
    )
    .await;
    by_key.next_of_kind("control-state").await;
    let body =
        json!({"entity_kind": "browser_session", "entity_id": w.session, "scope": "control"})
            .to_string();
    let (status, minted) = http_request(
        w.gateway.addr,
        "POST",
        "/v1/stream/tickets",
        &[("x-api-key", &key)],
        &body,
    )
    .await;
    assert_eq!(status, 201, "{minted}");
    let ticket: Value = serde_json::from_str(&minted).unwrap();
    let query = format!(
        "client_id=by-ticket&ticket={}",
        ticket["ticket"].as_str().unwrap()
    );
    let mut by_ticket = MessageClient::connect(
        &w.gateway
            .ws_url(&path("browser_session", &w.session), &query),
    )
    .await;
    by_ticket.next_of_kind("control-state").await;
    // Another key of the organization is not affected.
    let mut other = w.messages("other").await;
    other.next_of_kind("control-state").await;

    w.verification.admin.revoke_api_key(&key).await.unwrap();
    let (a, b) = tokio::time::timeout(WAIT, async {
        tokio::join!(by_key.closed(), by_ticket.closed())
    })
    .await
    .expect("closed");
    assert_eq!((a, b), (revoked(), revoked()));
    other.send(json!({"kind": "take-control"})).await;
    loop {
        if other.next_of_kind("control-state").await["interactor"] == "user" {
            break;
        }
    }
}

async fn post_link(on: SocketAddr, body: Value, key: &str) -> (u16, String) {
    let headers: Vec<(&str, &str)> = if key.is_empty() {
        vec![]
    } else {
        vec![("x-api-key", key)]
    };
    http_request(on, "POST", "/v1/stream/links", &headers, &body.to_string()).await
}

#[tokio::test]
async fn link_requests_are_checked() {
    let w = MessageWorld::start().await;
    let (at, key) = (w.gateway.addr, w.key.as_str());
    let link = |entity: &str, role: &str| json!({"entity_kind": "browser_session", "entity_id": entity, "role": role});
    let good = link(&w.session, "view");
    assert_eq!(post_link(at, good.clone(), "").await.0, 401);
    assert_eq!(post_link(at, good.clone(), "bsk_wrong").await.0, 401);
    assert_eq!(post_link(at, link(&w.session, "admin"), key).await.0, 400);
    let mut zero = good.clone();
    zero["ttl"] = json!(0);
    assert_eq!(post_link(at, zero, key).await.0, 400);
    assert_eq!(post_link(at, link("pbs_unknown", "view"), key).await.0, 404);
    let (status, reply) = post_link(at, good, key).await;
    assert_eq!(status, 201, "{reply}");
    let reply: Value = serde_json::from_str(&reply).unwrap();
    assert!(reply["expires_at"].as_str().unwrap().ends_with('Z'));
    let base = format!("http://{at}/#session=");
    assert!(reply["url"].as_str().unwrap().starts_with(&base), "{reply}");
    assert_eq!(ticket_from_link(at, "bsl_unknown").await.0, 401);
    let (status, _) = http_request(
        at,
        "DELETE",
        "/v1/stream/links/lnk_unknown",
        &[("x-api-key", key)],
        "",
    )
    .await;
    assert_eq!(status, 404);
}
