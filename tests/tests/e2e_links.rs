//! End-to-end: a view-role viewer link opened in the viewer page (real headless Chromium, the
//! whole stack and a browser node): the page streams with the link alone (no API key in the
//! page), cannot take control, and stops with "Access was revoked" when the link is revoked.

use integration_tests::e2e::{
    parts_or_skip, Stack, ViewerDriver, E2E_WAIT, PAGE_STATE, SCREEN_LIVE,
};
use integration_tests::gateway::http_request;
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_view_link_watches_cannot_drive_and_stops_when_revoked() {
    if !parts_or_skip() {
        return;
    }
    let stack = Stack::start().await.expect("stack starts");
    let session = stack.live_session().await.expect("browser node");
    let body = json!({"entity_kind": "browser_session", "entity_id": session.id, "role": "view"});
    let (status, reply) = http_request(
        stack.gateway.addr,
        "POST",
        "/v1/stream/links",
        &[("x-api-key", &stack.api_key)],
        &body.to_string(),
    )
    .await;
    assert_eq!(status, 201, "{reply}");
    let link: Value = serde_json::from_str(&reply).unwrap();
    let url = link["url"].as_str().unwrap();
    assert!(!url.contains(&stack.api_key));

    let viewer = ViewerDriver::launch().await.expect("browser");
    viewer.open(url).await.unwrap();
    viewer
        .wait_until(
            SCREEN_LIVE,
            "the remote screen through the link",
            E2E_WAIT,
            PAGE_STATE,
        )
        .await
        .expect("a view link streams");
    // The secret left the address bar (kept in the tab's sessionStorage, like a key).
    let address = viewer.eval("location.href").await.unwrap();
    assert!(!address.as_str().unwrap().contains("link="), "{address}");

    viewer.click("#take-control").await.unwrap();
    viewer
        .wait_until(
            "document.getElementById('control-text').textContent.includes('can only watch')",
            "the view-only answer",
            E2E_WAIT,
            PAGE_STATE,
        )
        .await
        .expect("a view link cannot take control");
    assert_eq!(
        viewer.eval("document.body.dataset.control").await.unwrap(),
        "agent"
    );

    let (status, _) = http_request(
        stack.gateway.addr,
        "DELETE",
        &format!("/v1/stream/links/{}", link["link_id"].as_str().unwrap()),
        &[("x-api-key", &stack.api_key)],
        "",
    )
    .await;
    assert_eq!(status, 204);
    viewer
        .wait_until(
            "document.body.dataset.ended === 'yes' && document.getElementById('banner-text').textContent.includes('revoked')",
            "the page stopped with the revocation",
            E2E_WAIT,
            PAGE_STATE,
        )
        .await
        .expect("revoking the link ends the page");
    viewer.close().await;
    session.stop().await;
    stack.shutdown().await;
}
