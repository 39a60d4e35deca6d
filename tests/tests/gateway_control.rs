//! Control and pairing through the gateway: release of held keys on a change of control,
//! paste side effects reaching the paired Message socket, tenant isolation, and the gRPC
//! control service the automation agent watches.

use std::collections::HashSet;

use gateway::control::PairEvent;
use gateway::entity::{ChannelKind, ClientId, EntityKey, EntityKind, SessionKey, StreamKey};
use gateway::policy::Platform;
use gateway::rfb::{encode, keysym};
use integration_tests::gateway::{RecordingUpstream, TestGateway, UpstreamMode, VncClient, WAIT};
use integration_tests::verification::TestVerification;
use proto::control::v1 as pb;

struct World {
    _verification: TestVerification,
    gateway: TestGateway,
    upstream: RecordingUpstream,
    org: String,
    key: String,
    session: String,
}

async fn world() -> World {
    let verification = TestVerification::spawn_sqlite().await;
    let upstream = RecordingUpstream::start(UpstreamMode::Quiet).await;
    let org = verification.create_org("org").await;
    let key = verification.create_api_key(&org).await;
    let session = verification
        .create_browser_session(&org, Some(&upstream.vnc_url()), Some("http://127.0.0.1:9"))
        .await;
    let gateway = TestGateway::spawn(&verification.url).await;
    World {
        _verification: verification,
        gateway,
        upstream,
        org,
        key,
        session,
    }
}

impl World {
    async fn viewer(&self, client_id: &str) -> VncClient {
        let path = format!("/v1/stream/vnc/browser_session/{}", self.session);
        let mut vnc = self
            .gateway
            .connect_vnc(&path, &format!("client_id={client_id}&apikey={}", self.key))
            .await;
        vnc.handshake().await.expect("handshake");
        vnc
    }

    fn stream_key(&self, client_id: &str) -> StreamKey {
        StreamKey {
            entity: EntityKey {
                organization_id: self.org.clone(),
                kind: EntityKind::BrowserSession,
                id: self.session.clone(),
            },
            client_id: ClientId::parse(client_id).expect("valid client id"),
            scope: gateway::entity::Scope::Control,
        }
    }
}

fn fbur() -> Vec<u8> {
    encode::framebuffer_update_request(true, 0, 0, 1, 1).to_vec()
}

fn messages(bytes: &[u8]) -> HashSet<Vec<u8>> {
    bytes.chunks(8).map(<[u8]>::to_vec).collect()
}

#[tokio::test]
async fn keys_still_held_are_released_upstream_when_another_viewer_takes_control() {
    // Arrange: c1 drives and holds Control and `a` down.
    let w = world().await;
    w.gateway.give_control(&w.org, &w.session, "c1").await;
    let mut c1 = w.viewer("c1").await;
    let downs = [
        encode::key_event(true, keysym::CONTROL_L).to_vec(),
        encode::key_event(true, 0x61).to_vec(),
    ]
    .concat();
    c1.send(&downs).await;
    w.upstream.wait_for(downs.len()).await;
    // Act: c2 takes control.
    w.gateway.give_control(&w.org, &w.session, "c2").await;
    // Assert: both keys are released upstream, and c1's further input is dropped.
    let received = w.upstream.wait_for(downs.len() + 16).await;
    let releases = messages(&received[downs.len()..]);
    let expected: HashSet<Vec<u8>> = [
        encode::key_event(false, keysym::CONTROL_L).to_vec(),
        encode::key_event(false, 0x61).to_vec(),
    ]
    .into();
    assert_eq!(releases, expected);
    c1.send(&encode::key_event(true, 0x62)).await;
    c1.send(&fbur()).await;
    let all = w.upstream.wait_for(downs.len() + 16 + fbur().len()).await;
    assert_eq!(&all[downs.len() + 16..], &fbur()[..]);
}

#[tokio::test]
async fn a_paste_without_recent_cut_text_holds_v_back_and_asks_the_paired_message_socket() {
    // Arrange: c1 drives and has a Message socket registered under its stream key.
    let w = world().await;
    let session_key = SessionKey {
        organization_id: w.org.clone(),
        browser_session_id: w.session.clone(),
    };
    let mut message = w
        .gateway
        .state
        .bus
        .register(w.stream_key("c1"), ChannelKind::Message, session_key)
        .await
        .unwrap();
    w.gateway.give_control(&w.org, &w.session, "c1").await;
    let mut c1 = w.viewer("c1").await;
    // Act
    let ctrl = encode::key_event(true, keysym::CONTROL_L).to_vec();
    c1.send(
        &[
            ctrl.clone(),
            encode::key_event(true, keysym::V_LOWER).to_vec(),
            fbur(),
        ]
        .concat(),
    )
    .await;
    // Assert
    // The VNC socket first announces itself; then the paste asks.
    let event = tokio::time::timeout(WAIT, async {
        loop {
            match message.inbox.recv().await {
                Some(PairEvent::VncConnected | PairEvent::DeclaredPlatform(_)) => continue,
                other => return other,
            }
        }
    })
    .await
    .expect("event in time");
    assert_eq!(event, Some(PairEvent::AskForClipboard));
    let expected = [ctrl, fbur()].concat();
    assert_eq!(
        w.upstream.wait_for(expected.len()).await,
        expected,
        "the V key was held back"
    );
}

#[tokio::test]
async fn control_taken_under_the_same_ids_in_another_organization_gives_nothing() {
    let w = world().await;
    let mut c = w.viewer("c").await;
    // Another tenant "takes control" of a session with this id for a client with this id.
    w.gateway.give_control("org_other", &w.session, "c").await;
    c.send(&encode::key_event(true, 0x61)).await;
    c.send(&fbur()).await;
    assert_eq!(w.upstream.wait_for(fbur().len()).await, fbur());
}

#[tokio::test]
async fn the_agent_watches_control_changes_over_grpc() {
    let w = world().await;
    let url = format!("http://{}", w.gateway.grpc_addr);
    let mut client = pb::control_client::ControlClient::connect(url)
        .await
        .expect("grpc connects");
    let request = pb::WatchControlRequest {
        organization_id: w.org.clone(),
        browser_session_id: w.session.clone(),
    };
    let mut changes = client.watch_control(request).await.unwrap().into_inner();
    let first = changes.message().await.unwrap().unwrap();
    assert_eq!(first.interactor, pb::Interactor::Agent as i32);
    w.gateway.give_control(&w.org, &w.session, "c1").await;
    let next = tokio::time::timeout(WAIT, changes.message())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(
        (next.interactor, next.client_id.as_str()),
        (pb::Interactor::User as i32, "c1")
    );
    let now = client
        .get_control(pb::GetControlRequest {
            organization_id: w.org.clone(),
            browser_session_id: w.session.clone(),
        })
        .await
        .unwrap();
    assert_eq!(now.into_inner().client_id, "c1");
    let bad = client
        .get_control(pb::GetControlRequest {
            organization_id: String::new(),
            browser_session_id: w.session.clone(),
        })
        .await;
    assert_eq!(bad.unwrap_err().code(), tonic::Code::InvalidArgument);
}

#[tokio::test]
async fn forwarded_input_is_reported_to_verification_as_activity() {
    let w = world().await;
    let mut client = w._verification.client().await;
    let verify = |client: &mut proto::verification::v1::verification_client::VerificationClient<
        tonic::transport::Channel,
    >| {
        let request = proto::verification::v1::VerifyBrowserSessionRequest {
            organization_id: w.org.clone(),
            browser_session_id: w.session.clone(),
            require_vnc: false,
        };
        let mut client = client.clone();
        async move {
            client
                .verify_browser_session(request)
                .await
                .unwrap()
                .into_inner()
                .browser_session
                .unwrap()
                .last_activity_at
        }
    };
    let before = verify(&mut client).await;
    w.gateway.give_control(&w.org, &w.session, "c1").await;
    let mut c1 = w.viewer("c1").await;
    c1.send(&encode::pointer_event(0, 1, 1)).await;
    w.upstream.wait_for(6).await;
    tokio::time::timeout(WAIT, async {
        loop {
            let now = verify(&mut client).await;
            if now.is_some() && now != before {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("last_activity_at moved");
}

#[tokio::test]
async fn a_platform_declared_on_the_message_socket_makes_alt_l_the_cmd_key_of_a_paste() {
    // Arrange: c1 drives from a viewer whose Message socket declared a mac.
    let w = world().await;
    let session_key = SessionKey {
        organization_id: w.org.clone(),
        browser_session_id: w.session.clone(),
    };
    let mut message = w
        .gateway
        .state
        .bus
        .register(w.stream_key("c1"), ChannelKind::Message, session_key)
        .await
        .unwrap();
    w.gateway.give_control(&w.org, &w.session, "c1").await;
    let mut c1 = w.viewer("c1").await;
    let delivered = w
        .gateway
        .state
        .bus
        .send_to_pair(
            &w.stream_key("c1"),
            ChannelKind::Vnc,
            PairEvent::DeclaredPlatform(Platform::Mac),
        )
        .await;
    assert!(delivered.unwrap());
    // Act: Alt_L (noVNC's Cmd on a mac) + V.
    let alt = encode::key_event(true, keysym::ALT_L).to_vec();
    c1.send(
        &[
            alt.clone(),
            encode::key_event(true, keysym::V_LOWER).to_vec(),
            fbur(),
        ]
        .concat(),
    )
    .await;
    // Assert: V held back, the Message socket asked.
    let expected = [alt, fbur()].concat();
    assert_eq!(w.upstream.wait_for(expected.len()).await, expected);
    let event = tokio::time::timeout(WAIT, async {
        loop {
            match message.inbox.recv().await {
                Some(PairEvent::VncConnected | PairEvent::DeclaredPlatform(_)) => continue,
                other => return other,
            }
        }
    })
    .await
    .expect("event in time");
    assert_eq!(event, Some(PairEvent::AskForClipboard));
}

/// The services a reflection endpoint lists, through the protocol version `$v` (`v1` and
/// `v1alpha` are the same messages under two package names).
macro_rules! reflected_services {
    ($v:ident, $channel:expr) => {{
        use futures::StreamExt;
        use tonic_reflection::pb::$v::server_reflection_client::ServerReflectionClient;
        use tonic_reflection::pb::$v::server_reflection_request::MessageRequest;
        use tonic_reflection::pb::$v::server_reflection_response::MessageResponse;
        use tonic_reflection::pb::$v::ServerReflectionRequest;
        let request = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        };
        let mut answers = ServerReflectionClient::new($channel)
            .server_reflection_info(futures::stream::iter([request]))
            .await
            .unwrap()
            .into_inner();
        let Some(MessageResponse::ListServicesResponse(list)) =
            answers.next().await.unwrap().unwrap().message_response
        else {
            panic!("expected a service list")
        };
        let mut names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
        names.sort();
        names
    }};
}

#[tokio::test]
async fn the_control_service_is_listed_by_both_reflection_versions_and_nothing_else_is() {
    let w = world().await;
    let channel =
        tonic::transport::Endpoint::from_shared(format!("http://{}", w.gateway.grpc_addr))
            .unwrap()
            .connect()
            .await
            .expect("grpc connects");
    let served = ["browserstream.control.v1.Control", "grpc.health.v1.Health"];
    assert_eq!(reflected_services!(v1, channel.clone()), served);
    assert_eq!(reflected_services!(v1alpha, channel), served);
}
