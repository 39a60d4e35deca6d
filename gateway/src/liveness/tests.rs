//! The Watch stream against a scripted verification whose stream can be broken on demand (a
//! fault the real service does not produce at will): refcounting, events, reconnect.

use std::pin::Pin;
use std::time::Duration;

use futures::Stream;
use proto::verification::v1::verification_server::{Verification, VerificationServer};
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};
use tonic::{Request, Response, Status, Streaming};

use super::*;
use crate::entity::EntityKind;

/// One Watch connection as the test sees it.
struct Connection {
    requests: Streaming<pb::WatchRequest>,
    events: mpsc::Sender<Result<pb::WatchEvent, Status>>,
}

struct Scripted {
    connections: mpsc::Sender<Connection>,
}

type Events = Pin<Box<dyn Stream<Item = Result<pb::WatchEvent, Status>> + Send>>;

#[tonic::async_trait]
impl Verification for Scripted {
    async fn authenticate(
        &self,
        _: Request<pb::AuthenticateRequest>,
    ) -> Result<Response<pb::AuthenticateResponse>, Status> {
        Err(Status::unimplemented("scripted"))
    }
    async fn create_stream_ticket(
        &self,
        _: Request<pb::CreateStreamTicketRequest>,
    ) -> Result<Response<pb::CreateStreamTicketResponse>, Status> {
        Err(Status::unimplemented("scripted"))
    }
    async fn verify_browser_session(
        &self,
        _: Request<pb::VerifyBrowserSessionRequest>,
    ) -> Result<Response<pb::VerifyResponse>, Status> {
        Err(Status::unimplemented("scripted"))
    }
    async fn verify_task(
        &self,
        _: Request<pb::VerifyTaskRequest>,
    ) -> Result<Response<pb::VerifyResponse>, Status> {
        Err(Status::unimplemented("scripted"))
    }
    async fn verify_workflow_run(
        &self,
        _: Request<pb::VerifyWorkflowRunRequest>,
    ) -> Result<Response<pb::VerifyResponse>, Status> {
        Err(Status::unimplemented("scripted"))
    }
    type WatchStream = Events;
    async fn watch(
        &self,
        request: Request<Streaming<pb::WatchRequest>>,
    ) -> Result<Response<Events>, Status> {
        let (events, rx) = mpsc::channel(16);
        let _ = self
            .connections
            .send(Connection {
                requests: request.into_inner(),
                events,
            })
            .await;
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
    async fn record_activity(
        &self,
        _: Request<pb::RecordActivityRequest>,
    ) -> Result<Response<pb::RecordActivityResponse>, Status> {
        Err(Status::unimplemented("scripted"))
    }
    async fn create_stream_link(
        &self,
        _: Request<pb::CreateStreamLinkRequest>,
    ) -> Result<Response<pb::CreateStreamLinkResponse>, Status> {
        Err(Status::unimplemented("scripted"))
    }
    async fn revoke_stream_link(
        &self,
        _: Request<pb::RevokeStreamLinkRequest>,
    ) -> Result<Response<pb::RevokeStreamLinkResponse>, Status> {
        Err(Status::unimplemented("scripted"))
    }
    async fn create_stream_ticket_from_link(
        &self,
        _: Request<pb::CreateStreamTicketFromLinkRequest>,
    ) -> Result<Response<pb::CreateStreamTicketFromLinkResponse>, Status> {
        Err(Status::unimplemented("scripted"))
    }
    async fn check_revoked(
        &self,
        _: Request<pb::CheckRevokedRequest>,
    ) -> Result<Response<pb::CheckRevokedResponse>, Status> {
        Err(Status::unimplemented("scripted"))
    }
}

async fn start() -> (Liveness, mpsc::Receiver<Connection>, CancellationToken) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (connections, rx) = mpsc::channel(4);
    let shutdown = CancellationToken::new();
    let server = tonic::transport::Server::builder()
        .add_service(VerificationServer::new(Scripted { connections }))
        .serve_with_incoming_shutdown(
            TcpListenerStream::new(listener),
            shutdown.clone().cancelled_owned(),
        );
    tokio::spawn(server);
    let channel = tonic::transport::Endpoint::from_shared(url)
        .unwrap()
        .connect_lazy();
    let client = proto::verification::v1::verification_client::VerificationClient::with_interceptor(
        channel,
        service_kit::service_token::AttachToken::default(),
    );
    (
        Liveness::start(
            client,
            &tokio_util::task::TaskTracker::new(),
            shutdown.clone(),
            Duration::ZERO,
        ),
        rx,
        shutdown,
    )
}

fn entity(id: &str) -> EntityKey {
    EntityKey {
        organization_id: "o".into(),
        kind: EntityKind::BrowserSession,
        id: id.into(),
    }
}

async fn next_change(connection: &mut Connection) -> pb::watch_request::Change {
    let request = tokio::time::timeout(Duration::from_secs(10), connection.requests.message())
        .await
        .expect("request in time");
    request.unwrap().unwrap().change.unwrap()
}

fn added(id: &str) -> pb::watch_request::Change {
    pb::watch_request::Change::Add(entity(id).to_watched())
}

#[tokio::test]
async fn an_entity_is_watched_once_while_sockets_hold_it_and_its_end_reaches_every_socket() {
    let (liveness, mut connections, _shutdown) = start().await;
    let first = liveness.watch(entity("pbs_1"));
    let second = liveness.watch(entity("pbs_1"));
    let mut connection = connections.recv().await.unwrap();
    assert_eq!(next_change(&mut connection).await, added("pbs_1"));
    // A third socket on another entity is one more Add, not a repeat of the first.
    let other = liveness.watch(entity("pbs_2"));
    assert_eq!(next_change(&mut connection).await, added("pbs_2"));
    drop(other);
    assert_eq!(
        next_change(&mut connection).await,
        pb::watch_request::Change::Remove(entity("pbs_2").to_watched())
    );
    // The end of pbs_1 reaches both of its sockets at once.
    let event = pb::WatchEvent {
        entity: Some(entity("pbs_1").to_watched()),
        verdict: pb::Verdict::NotLive as i32,
        reason: "final-status".into(),
    };
    connection.events.send(Ok(event)).await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), async {
        tokio::join!(first.ended.cancelled(), second.ended.cancelled())
    })
    .await
    .expect("both ended");
}

#[tokio::test]
async fn a_broken_watch_stream_is_reopened_and_every_entity_re_added() {
    let (liveness, mut connections, _shutdown) = start().await;
    let guard = liveness.watch(entity("pbs_1"));
    let mut connection = connections.recv().await.unwrap();
    assert_eq!(next_change(&mut connection).await, added("pbs_1"));
    // Break the stream.
    connection
        .events
        .send(Err(Status::unavailable("database restarting")))
        .await
        .unwrap();
    drop(connection);
    let mut again = tokio::time::timeout(Duration::from_secs(10), connections.recv())
        .await
        .expect("reconnected")
        .unwrap();
    assert_eq!(next_change(&mut again).await, added("pbs_1"));
    assert!(!guard.ended.is_cancelled());
}

#[tokio::test]
async fn a_socket_that_watches_an_ended_entity_again_stays_watched_when_the_old_socket_goes() {
    // Arrange: the entity ends while its socket is still closing.
    let (liveness, mut connections, _shutdown) = start().await;
    let old = liveness.watch(entity("pbs_1"));
    let mut connection = connections.recv().await.unwrap();
    assert_eq!(next_change(&mut connection).await, added("pbs_1"));
    let event = pb::WatchEvent {
        entity: Some(entity("pbs_1").to_watched()),
        verdict: pb::Verdict::NotLive as i32,
        reason: "final-status".into(),
    };
    connection.events.send(Ok(event.clone())).await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), old.ended.cancelled())
        .await
        .expect("ended");
    // A new socket watches it again before the old guard is dropped.
    let new = liveness.watch(entity("pbs_1"));
    assert_eq!(next_change(&mut connection).await, added("pbs_1"));
    // Act: the old socket finally goes.
    drop(old);
    // Assert: the new socket's interest is intact (no Remove) and a later end reaches it.
    let marker = liveness.watch(entity("pbs_marker"));
    assert_eq!(
        next_change(&mut connection).await,
        added("pbs_marker"),
        "the old guard's drop removed the new socket's entity"
    );
    connection.events.send(Ok(event)).await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), new.ended.cancelled())
        .await
        .expect("the new socket learns the end too");
    drop(marker);
}
