//! `browserstream.control.v1` served from the [`ControlBus`]: the automation agent asks who
//! holds control of a browser session, or watches every change. A thin adapter.

use std::pin::Pin;
use std::sync::Arc;

use futures::Stream;
use futures::StreamExt;
use proto::control::v1 as pb;
use service_kit::org_tokens::Caller;
use tokio_stream::wrappers::WatchStream;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

use super::{ControlBus, ControlReason, ControlState};
use crate::entity::{SessionKey, MAX_ID_LEN};

/// The gRPC handler.
pub struct ControlService {
    bus: Arc<dyn ControlBus>,
    shutdown: CancellationToken,
}

impl ControlService {
    /// Serves `bus`; watch streams end with `shutdown`.
    pub fn new(bus: Arc<dyn ControlBus>, shutdown: CancellationToken) -> Self {
        Self { bus, shutdown }
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
}
