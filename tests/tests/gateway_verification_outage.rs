//! A verification outage (PROTOCOL §2 `verification-unavailable`): streams go on while
//! verification is unreachable, for at most `--verification-outage-grace`, then close with
//! 1013, since nobody could tell them that their entity ended.

use std::time::Duration;

use integration_tests::gateway::{Closed, StreamWorld as World, UpstreamMode, WAIT};
use integration_tests::message::{path, MessageClient};

fn unavailable() -> Closed {
    Closed {
        code: 1013,
        reason: "verification-unavailable".into(),
    }
}

#[tokio::test]
async fn streams_go_on_through_an_outage_and_close_past_the_grace() {
    let World {
        verification,
        gateway,
        upstream,
        key,
        session,
        ..
    } = World::start_with(UpstreamMode::Quiet, |c| {
        c.verification_outage_grace = Duration::from_secs(2);
    })
    .await;
    let query = format!("client_id=c&apikey={key}");
    let mut vnc = gateway
        .connect_vnc(
            &format!("{}{session}", integration_tests::gateway::BROWSER_PATH),
            &query,
        )
        .await;
    vnc.handshake().await.unwrap();
    let mut messages =
        MessageClient::connect(&gateway.ws_url(&path("browser_session", &session), &query)).await;
    messages.next_of_kind("control-state").await;

    verification.shutdown().await;
    let down = tokio::time::Instant::now();
    // Inside the grace the stream still relays.
    let request = gateway::rfb::encode::framebuffer_update_request(true, 0, 0, 1, 1);
    vnc.send(&request).await;
    let seen = upstream.wait_for(request.len()).await;
    assert!(
        seen.ends_with(&request),
        "the request reached the upstream during the outage"
    );

    let (vnc_close, message_close) = tokio::time::timeout(WAIT, async {
        tokio::join!(vnc.closed(), messages.closed())
    })
    .await
    .expect("both sockets close past the grace");
    assert_eq!(vnc_close, unavailable());
    assert_eq!(message_close, unavailable());
    assert!(
        down.elapsed() >= Duration::from_millis(1500),
        "not closed before the grace ran out ({:?})",
        down.elapsed()
    );
}

#[tokio::test]
async fn a_zero_grace_keeps_streams_open_through_an_outage() {
    let World {
        verification,
        gateway,
        upstream,
        key,
        session,
        ..
    } = World::start_with(UpstreamMode::Quiet, |c| {
        c.verification_outage_grace = Duration::ZERO;
    })
    .await;
    let query = format!("client_id=c&apikey={key}");
    let mut vnc = gateway
        .connect_vnc(
            &format!("{}{session}", integration_tests::gateway::BROWSER_PATH),
            &query,
        )
        .await;
    vnc.handshake().await.unwrap();
    verification.shutdown().await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let request = gateway::rfb::encode::framebuffer_update_request(true, 0, 0, 1, 1);
    vnc.send(&request).await;
    assert!(upstream.wait_for(request.len()).await.ends_with(&request));
}
