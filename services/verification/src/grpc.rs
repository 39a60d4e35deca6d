//! The tonic adapter of `browserstream.verification.v1.Verification`: each handler converts
//! the request ([`convert`]), calls [`Verifier`] or the watch [`Registry`], and maps the error
//! through `From<VerificationError> for Status`. No rule lives here.

pub mod convert;

use std::pin::Pin;

use futures::{Stream, StreamExt};
use proto::verification::v1 as pb;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tonic::{Request, Response, Status, Streaming};
use tracing::{instrument, Instrument};

use crate::domain::{EntityKind, EntityRef, OrgId};
use crate::error::VerificationError;
use crate::service::{Credential, Verifier};
use crate::watch::{Registry, StreamHandle};
use service_kit::sync::lock;

/// The gRPC service.
#[derive(Clone)]
pub struct GrpcHandler {
    /// The operations.
    pub verifier: Verifier,
    /// Watched entities, shared with the poller.
    pub registry: Registry,
    /// Ends every Watch stream when the service shuts down.
    pub shutdown: CancellationToken,
    /// Where the Watch request readers run, so shutdown waits for them.
    pub tracker: TaskTracker,
    /// Events buffered per Watch stream.
    pub watch_buffer: usize,
    /// Most entities per Watch stream.
    pub max_watched_per_stream: usize,
}

type WatchStream = Pin<Box<dyn Stream<Item = Result<pb::WatchEvent, Status>> + Send>>;

#[tonic::async_trait]
impl pb::verification_server::Verification for GrpcHandler {
    #[instrument(skip_all)]
    async fn authenticate(
        &self,
        request: Request<pb::AuthenticateRequest>,
    ) -> Result<Response<pb::AuthenticateResponse>, Status> {
        use pb::authenticate_request::Credential as C;
        let credential = match request.into_inner().credential {
            Some(C::ApiKey(key)) => Credential::ApiKey(key),
            Some(C::BearerToken(token)) => Credential::Bearer(token),
            Some(C::Ticket(ticket)) => Credential::Ticket(ticket),
            None => return Err(invalid("a credential is required")),
        };
        let kind = match &credential {
            Credential::ApiKey(_) => pb::CredentialKind::ApiKey,
            Credential::Bearer(_) => pb::CredentialKind::Bearer,
            Credential::Ticket(_) => pb::CredentialKind::Ticket,
        };
        let who = self.verifier.authenticate(credential).await?;
        Ok(Response::new(pb::AuthenticateResponse {
            organization_id: who.organization_id,
            credential_kind: kind as i32,
            ticket: who.grant.map(|(entity, scope)| pb::TicketGrant {
                entity: Some(convert::entity_to_pb(&entity)),
                scope: convert::scope_to_pb(scope) as i32,
            }),
            expires_at: who.expires_at.map(convert::timestamp),
            revocable: who.revocable.unwrap_or_default(),
        }))
    }

    #[instrument(skip_all)]
    async fn create_stream_ticket(
        &self,
        request: Request<pb::CreateStreamTicketRequest>,
    ) -> Result<Response<pb::CreateStreamTicketResponse>, Status> {
        let request = request.into_inner();
        let org = org(&request.organization_id)?;
        let entity = convert::entity(request.entity.as_ref())?;
        let scope = convert::scope(request.scope)?;
        let origin = Some(request.revocable).filter(|r| !r.is_empty());
        let (ticket, expires_at) = self
            .verifier
            .create_ticket(&org, &entity, scope, origin)
            .await?;
        Ok(Response::new(pb::CreateStreamTicketResponse {
            ticket,
            expires_at: Some(convert::timestamp(expires_at)),
        }))
    }

    #[instrument(skip_all)]
    async fn create_stream_link(
        &self,
        request: Request<pb::CreateStreamLinkRequest>,
    ) -> Result<Response<pb::CreateStreamLinkResponse>, Status> {
        let request = request.into_inner();
        let org = org(&request.organization_id)?;
        let entity = convert::entity(request.entity.as_ref())?;
        let scope = convert::scope(request.scope)?;
        let ttl = std::time::Duration::from_secs(request.ttl_seconds);
        let link = self.verifier.create_link(&org, &entity, scope, ttl).await?;
        Ok(Response::new(pb::CreateStreamLinkResponse {
            link_id: link.id,
            secret: link.secret,
            expires_at: Some(convert::timestamp(link.expires_at)),
        }))
    }

    #[instrument(skip_all)]
    async fn revoke_stream_link(
        &self,
        request: Request<pb::RevokeStreamLinkRequest>,
    ) -> Result<Response<pb::RevokeStreamLinkResponse>, Status> {
        let request = request.into_inner();
        let org = org(&request.organization_id)?;
        self.verifier.revoke_link(&org, &request.link_id).await?;
        Ok(Response::new(pb::RevokeStreamLinkResponse {}))
    }

    #[instrument(skip_all)]
    async fn create_stream_ticket_from_link(
        &self,
        request: Request<pb::CreateStreamTicketFromLinkRequest>,
    ) -> Result<Response<pb::CreateStreamTicketFromLinkResponse>, Status> {
        let minted = self
            .verifier
            .ticket_from_link(&request.into_inner().secret)
            .await?;
        let (entity, scope) = minted.grant;
        Ok(Response::new(pb::CreateStreamTicketFromLinkResponse {
            ticket: minted.ticket,
            expires_at: Some(convert::timestamp(minted.expires_at)),
            organization_id: minted.organization_id,
            grant: Some(pb::TicketGrant {
                entity: Some(convert::entity_to_pb(&entity)),
                scope: convert::scope_to_pb(scope) as i32,
            }),
        }))
    }

    #[instrument(skip_all)]
    async fn check_revoked(
        &self,
        request: Request<pb::CheckRevokedRequest>,
    ) -> Result<Response<pb::CheckRevokedResponse>, Status> {
        let revoked = self
            .verifier
            .check_revoked(request.into_inner().ids)
            .await?;
        Ok(Response::new(pb::CheckRevokedResponse { revoked }))
    }

    #[instrument(skip_all)]
    async fn verify_browser_session(
        &self,
        request: Request<pb::VerifyBrowserSessionRequest>,
    ) -> Result<Response<pb::VerifyResponse>, Status> {
        let r = request.into_inner();
        self.verify(
            &r.organization_id,
            EntityKind::BrowserSession,
            &r.browser_session_id,
            r.require_vnc,
        )
        .await
    }

    #[instrument(skip_all)]
    async fn verify_task(
        &self,
        request: Request<pb::VerifyTaskRequest>,
    ) -> Result<Response<pb::VerifyResponse>, Status> {
        let r = request.into_inner();
        self.verify(
            &r.organization_id,
            EntityKind::Task,
            &r.task_id,
            r.require_vnc,
        )
        .await
    }

    #[instrument(skip_all)]
    async fn verify_workflow_run(
        &self,
        request: Request<pb::VerifyWorkflowRunRequest>,
    ) -> Result<Response<pb::VerifyResponse>, Status> {
        let r = request.into_inner();
        self.verify(
            &r.organization_id,
            EntityKind::WorkflowRun,
            &r.workflow_run_id,
            r.require_vnc,
        )
        .await
    }

    type WatchStream = WatchStream;

    #[instrument(skip_all)]
    async fn watch(
        &self,
        request: Request<Streaming<pb::WatchRequest>>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        let (tx, rx) = mpsc::channel(self.watch_buffer.max(1));
        let handle = self.registry.open(tx.clone());
        let end = handle.end.clone();
        let reader = self
            .clone()
            .read_watch_requests(request.into_inner(), handle, tx);
        self.tracker
            .spawn(reader.instrument(tracing::info_span!("watch.requests")));
        let events = ReceiverStream::new(rx).map(|ended| Ok(convert::watch_event(ended)));
        let tail = futures::stream::once(async move {
            let error = lock(&end).take();
            error.map(|e| Err(Status::from(e)))
        })
        .filter_map(std::future::ready);
        Ok(Response::new(Box::pin(events.chain(tail))))
    }

    #[instrument(skip_all)]
    async fn record_activity(
        &self,
        request: Request<pb::RecordActivityRequest>,
    ) -> Result<Response<pb::RecordActivityResponse>, Status> {
        let sessions = request.into_inner().sessions;
        if sessions.len() > crate::service::MAX_ACTIVITY_BATCH {
            return Err(invalid("at most 10000 sessions per call"));
        }
        let pairs = sessions
            .iter()
            .map(|s| {
                let entity = EntityRef::parse(EntityKind::BrowserSession, &s.browser_session_id)?;
                Ok((OrgId::parse(&s.organization_id)?, entity))
            })
            .collect::<Result<Vec<_>, VerificationError>>()?;
        let updated = self.verifier.record_activity(pairs).await?;
        Ok(Response::new(pb::RecordActivityResponse {
            updated: u32::try_from(updated).unwrap_or(u32::MAX),
        }))
    }
}

impl GrpcHandler {
    async fn verify(
        &self,
        organization_id: &str,
        kind: EntityKind,
        id: &str,
        require_vnc: bool,
    ) -> Result<Response<pb::VerifyResponse>, Status> {
        let org = org(organization_id)?;
        let entity = EntityRef::parse(kind, id).map_err(VerificationError::from)?;
        let answer = self.verifier.verify(&org, &entity, require_vnc).await?;
        Ok(Response::new(convert::verify_response(answer)))
    }

    /// Applies a stream's adds and removes until the client goes away, the service ends the
    /// stream, or a request is malformed; then forgets the stream.
    async fn read_watch_requests(
        self,
        mut inbound: Streaming<pb::WatchRequest>,
        handle: StreamHandle,
        tx: mpsc::Sender<crate::watch::Ended>,
    ) {
        let mut inbound_open = true;
        let outcome: Result<(), VerificationError> = loop {
            tokio::select! {
                () = self.shutdown.cancelled() => break Err(VerificationError::ShuttingDown),
                () = handle.cancel.cancelled() => break Ok(()),
                () = tx.closed() => break Ok(()),
                message = inbound.next(), if inbound_open => match message {
                    Some(Ok(request)) => {
                        if let Err(error) = self.apply(handle.id, request) {
                            break Err(error);
                        }
                    }
                    // The client finished adding (or reset): keep reporting until it hangs up.
                    Some(Err(_)) | None => inbound_open = false,
                },
            }
        };
        if let Err(error) = outcome {
            let mut end = lock(&handle.end);
            end.get_or_insert(error);
        }
        self.registry.close(handle.id);
    }

    fn apply(&self, stream: u64, request: pb::WatchRequest) -> Result<(), VerificationError> {
        use pb::watch_request::Change;
        match request.change {
            Some(Change::Add(watched)) => {
                let key = convert::watch_key(Some(&watched))?;
                self.registry.add(stream, key, self.max_watched_per_stream)
            }
            Some(Change::Remove(watched)) => {
                let key = convert::watch_key(Some(&watched))?;
                self.registry.remove(stream, &key);
                Ok(())
            }
            None => Err(VerificationError::InvalidInput("change is required".into())),
        }
    }
}

fn org(raw: &str) -> Result<OrgId, Status> {
    OrgId::parse(raw).map_err(|e| Status::from(VerificationError::from(e)))
}

fn invalid(message: &str) -> Status {
    Status::from(VerificationError::InvalidInput(message.into()))
}
