//! `browserstream.control.v1` served from the [`ControlBus`]: the automation agent asks who
//! holds control of a browser session, or watches every change, and requests handoffs
//! ([`Handoffs`]). A thin adapter.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::Stream;
use futures::StreamExt;
use proto::control::v1 as pb;
use service_kit::org_tokens::Caller;
use tokio_stream::wrappers::WatchStream;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

use super::handoffs::{HandoffError, Handoffs, Request as HandoffRequest};
use super::{ControlBus, ControlReason, ControlState};
use crate::entity::{SessionKey, MAX_ID_LEN};
use crate::handoff::{Handoff, Outcome};

/// The gRPC handler.
pub struct ControlService {
    bus: Arc<dyn ControlBus>,
    handoffs: Handoffs,
    shutdown: CancellationToken,
}

impl ControlService {
    /// Serves `bus` and `handoffs`; watch streams end with `shutdown`.
    pub fn new(bus: Arc<dyn ControlBus>, handoffs: Handoffs, shutdown: CancellationToken) -> Self {
        Self {
            bus,
            handoffs,
            shutdown,
        }
    }
}

fn handoff_status(error: HandoffError) -> Status {
    match error {
        HandoffError::Invalid(invalid) => Status::invalid_argument(invalid.to_string()),
        HandoffError::AlreadyOpen => Status::failed_precondition(error.to_string()),
        HandoffError::NotFound | HandoffError::SessionNotFound => {
            Status::not_found(error.to_string())
        }
        HandoffError::Unavailable => Status::unavailable(error.to_string()),
    }
}

fn outcome_pb(outcome: Option<Outcome>) -> pb::HandoffOutcome {
    match outcome {
        None => pb::HandoffOutcome::Unspecified,
        Some(Outcome::Done) => pb::HandoffOutcome::Done,
        Some(Outcome::Declined) => pb::HandoffOutcome::Declined,
        Some(Outcome::TimedOut) => pb::HandoffOutcome::TimedOut,
        Some(Outcome::Cancelled) => pb::HandoffOutcome::Cancelled,
        Some(Outcome::NoViewer) => pb::HandoffOutcome::NoViewer,
        Some(Outcome::EntityFinished) => pb::HandoffOutcome::EntityFinished,
    }
}

fn result_pb(handoff: &Handoff) -> pb::HandoffResult {
    let end = handoff.ended.as_ref();
    pb::HandoffResult {
        handoff_id: handoff.id.clone(),
        outcome: outcome_pb(end.map(|e| e.outcome)) as i32,
        note: end.map(|e| e.note.clone()).unwrap_or_default(),
        resolved_by: end.and_then(|e| e.resolved_by.clone()).unwrap_or_default(),
        duration: prost_types::Duration::try_from(handoff.duration()).ok(),
    }
}

fn event_pb(session: &SessionKey, handoff: &Handoff) -> pb::HandoffEvent {
    let end = handoff.ended.as_ref();
    pb::HandoffEvent {
        browser_session_id: session.browser_session_id.clone(),
        handoff_id: handoff.id.clone(),
        instructions: handoff.instructions.clone(),
        deadline: Some(prost_types::Timestamp::from(handoff.deadline())),
        accepted_by: handoff.accepted_by.clone().unwrap_or_default(),
        outcome: outcome_pb(end.map(|e| e.outcome)) as i32,
        note: end.map(|e| e.note.clone()).unwrap_or_default(),
        resolved_by: end.and_then(|e| e.resolved_by.clone()).unwrap_or_default(),
    }
}

fn timeout_of(timeout: Option<prost_types::Duration>) -> Result<Duration, Status> {
    match timeout {
        None => Ok(Duration::ZERO),
        Some(timeout) => Duration::try_from(timeout)
            .map_err(|_| Status::invalid_argument("timeout must not be negative")),
    }
}

fn session_key(organization_id: String, browser_session_id: String) -> Result<SessionKey, Status> {
    let valid = |s: &str| !s.is_empty() && s.len() <= MAX_ID_LEN;
    if !valid(&organization_id) || !valid(&browser_session_id) {
        return Err(Status::invalid_argument(
            "organization_id and browser_session_id are required (at most 128 characters)",
        ));
    }
    Ok(SessionKey {
        organization_id,
        browser_session_id,
    })
}

fn to_pb(session: &SessionKey, state: &ControlState) -> pb::ControlState {
    let (interactor, client_id) = match &state.holder {
        Some(client) => (pb::Interactor::User, client.to_string()),
        None => (pb::Interactor::Agent, String::new()),
    };
    let reason = match state.reason {
        ControlReason::None => pb::ControlReason::Unspecified,
        ControlReason::Ceded => pb::ControlReason::Ceded,
        ControlReason::TakenByAnotherViewer => pb::ControlReason::TakenByAnotherViewer,
        ControlReason::GraceExpired => pb::ControlReason::GraceExpired,
    };
    pb::ControlState {
        browser_session_id: session.browser_session_id.clone(),
        interactor: interactor as i32,
        client_id,
        reason: reason as i32,
        changed_at: Some(prost_types::Timestamp::from(state.changed_at)),
    }
}

type StateStream = Pin<Box<dyn Stream<Item = Result<pb::ControlState, Status>> + Send + 'static>>;
type HandoffStream = Pin<Box<dyn Stream<Item = Result<pb::HandoffEvent, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl pb::control_server::Control for ControlService {
    async fn get_control(
        &self,
        request: Request<pb::GetControlRequest>,
    ) -> Result<Response<pb::ControlState>, Status> {
        Caller::check(&request, &request.get_ref().organization_id)?;
        let request = request.into_inner();
        let session = session_key(request.organization_id, request.browser_session_id)?;
        let state = self
            .bus
            .control(&session)
            .await
            .map_err(|_| Status::unavailable("control state unavailable"))?;
        Ok(Response::new(to_pb(&session, &state)))
    }

    type WatchControlStream = StateStream;

    async fn watch_control(
        &self,
        request: Request<pb::WatchControlRequest>,
    ) -> Result<Response<Self::WatchControlStream>, Status> {
        Caller::check(&request, &request.get_ref().organization_id)?;
        let request = request.into_inner();
        let session = session_key(request.organization_id, request.browser_session_id)?;
        let receiver = self
            .bus
            .watch_control(&session)
            .await
            .map_err(|_| Status::unavailable("control state unavailable"))?;
        let shutdown = self.shutdown.clone();
        let stream = WatchStream::new(receiver)
            .map(move |state| Ok(to_pb(&session, &state)))
            .take_until(async move { shutdown.cancelled().await });
        Ok(Response::new(Box::pin(stream)))
    }

    async fn request_handoff(
        &self,
        request: Request<pb::RequestHandoffRequest>,
    ) -> Result<Response<pb::HandoffResult>, Status> {
        Caller::check(&request, &request.get_ref().organization_id)?;
        let request = request.into_inner();
        let session = session_key(request.organization_id, request.browser_session_id)?;
        let handoff = self
            .handoffs
            .request(HandoffRequest {
                session,
                id: Some(request.handoff_id).filter(|id| !id.is_empty()),
                instructions: request.instructions,
                timeout: timeout_of(request.timeout)?,
            })
            .await
            .map_err(handoff_status)?;
        Ok(Response::new(result_pb(&handoff)))
    }

    async fn cancel_handoff(
        &self,
        request: Request<pb::CancelHandoffRequest>,
    ) -> Result<Response<pb::HandoffResult>, Status> {
        Caller::check(&request, &request.get_ref().organization_id)?;
        let request = request.into_inner();
        let session = session_key(request.organization_id, request.browser_session_id)?;
        let handoff = self
            .handoffs
            .cancel(&session, &request.handoff_id)
            .await
            .map_err(handoff_status)?;
        Ok(Response::new(result_pb(&handoff)))
    }

    type WatchHandoffsStream = HandoffStream;

    async fn watch_handoffs(
        &self,
        request: Request<pb::WatchHandoffsRequest>,
    ) -> Result<Response<Self::WatchHandoffsStream>, Status> {
        Caller::check(&request, &request.get_ref().organization_id)?;
        let request = request.into_inner();
        let session = session_key(request.organization_id, request.browser_session_id)?;
        let records = self
            .handoffs
            .watch(&session)
            .await
            .map_err(handoff_status)?;
        let stream = records.map(move |handoff| Ok(event_pb(&session, &handoff)));
        Ok(Response::new(Box::pin(stream)))
    }
}
