//! The gateway's client of verification: authentication (API-key results cached for at most
//! `--auth-cache-ttl`; tickets and bearer tokens never cached), entity verification, tickets
//! and activity reports. Every call has a deadline; failures map to close reasons here, once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use proto::verification::v1 as pb;
use proto::verification::v1::verification_client::VerificationClient;
use secrecy::{ExposeSecret, SecretString};
use service_kit::service_token::AttachToken;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};
use tonic::Code;

use crate::close::CloseReason;
use crate::entity::{EntityKey, EntityKind};
use crate::metrics::Metrics;
use service_kit::sync::lock;

pub mod links;

/// The tonic client type, with the service token attached.
pub type Client = VerificationClient<InterceptedService<Channel, AttachToken>>;

/// Most API keys remembered at once; the cache is emptied when it is full.
const CACHE_CAPACITY: usize = 1024;

/// A credential presented by a client.
#[derive(Clone)]
pub enum Credential {
    /// `apikey=` or header `x-api-key`.
    ApiKey(SecretString),
    /// `token=Bearer …`.
    Bearer(SecretString),
    /// `ticket=`.
    Ticket(SecretString),
}

/// Who the caller is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The organization of the credential.
    pub organization_id: String,
    /// For a ticket: the entity it opens and whether it is view-only.
    pub ticket: Option<TicketGrant>,
    /// The revocable credential behind it (`key:<hash>`, `link:<id>`); sockets opened with
    /// it close when it is revoked ([`crate::revocations`]).
    pub revocable: Option<String>,
}

/// What a ticket opens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketGrant {
    /// The one entity (kind, id).
    pub entity: (EntityKind, String),
    /// A `view` ticket never gets control.
    pub view_only: bool,
}

/// A live entity's browser session, as the VNC channel needs it.
#[derive(Debug, Clone)]
pub struct LiveSession {
    /// `pbs_…`.
    pub browser_session_id: String,
    /// `ws://`, `wss://` or `tcp://`; may be empty.
    pub vnc_url: String,
    /// The incumbent's routed address (spec §5.2 derivation when `vnc_url` is empty).
    pub browser_address: String,
}

/// Verification failures, already in the terms of a close.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// Bad credential (`auth-failed`).
    #[error("authentication failed")]
    Unauthenticated,
    /// Unknown entity, or one of another organization (`entity-not-found`).
    #[error("entity not found")]
    NotFound,
    /// Not live (`entity-not-live`).
    #[error("entity not live")]
    NotLive,
    /// No browser address yet (`browser-not-ready`).
    #[error("browser not ready")]
    NotReady,
    /// The request was malformed (bad id).
    #[error("invalid request")]
    Invalid,
    /// Verification could not be asked (`verification-unavailable`).
    #[error("verification unavailable")]
    Unavailable,
}

impl VerifyError {
    /// The close reason of a stream socket that hit this error.
    pub fn close_reason(self) -> CloseReason {
        match self {
            Self::Unauthenticated => CloseReason::AuthFailed,
            Self::NotFound | Self::Invalid => CloseReason::EntityNotFound,
            Self::NotLive => CloseReason::EntityNotLive,
            Self::NotReady => CloseReason::BrowserNotReady,
            Self::Unavailable => CloseReason::VerificationUnavailable,
        }
    }

    fn from_status(status: &tonic::Status) -> Self {
        match status.code() {
            Code::Unauthenticated | Code::PermissionDenied => Self::Unauthenticated,
            Code::NotFound => Self::NotFound,
            Code::InvalidArgument => Self::Invalid,
            _ => Self::Unavailable,
        }
    }
}

/// The verification client shared by every socket.
#[derive(Clone)]
pub struct Verifier {
    client: Client,
    health: tonic_health::pb::health_client::HealthClient<Channel>,
    timeout: Duration,
    cache_ttl: Duration,
    cache: Arc<Mutex<HashMap<String, (Identity, Instant)>>>,
    metrics: Arc<Metrics>,
}

impl Verifier {
    /// A lazily connecting client of `endpoint` (the first call dials).
    pub fn new(
        endpoint: Endpoint,
        token: Option<&SecretString>,
        timeout: Duration,
        cache_ttl: Duration,
        metrics: Arc<Metrics>,
    ) -> anyhow::Result<Self> {
        let channel = endpoint
            .connect_timeout(timeout)
            .timeout(timeout)
            .connect_lazy();
        let health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
        let client = VerificationClient::with_interceptor(channel, AttachToken::new(token)?);
        Ok(Self {
            client,
            health,
            timeout,
            cache_ttl,
            cache: Arc::default(),
            metrics,
        })
    }

    /// Whether verification answers at all (for `/readyz`): any gRPC answer counts.
    pub async fn reachable(&self) -> bool {
        let request = tonic_health::pb::HealthCheckRequest {
            service: String::new(),
        };
        match tokio::time::timeout(self.timeout, self.health.clone().check(request)).await {
            Ok(Ok(_)) => true,
            Ok(Err(status)) => !matches!(
                status.code(),
                Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled | Code::Unknown
            ),
            Err(_) => false,
        }
    }

    /// The raw client (for the Watch stream).
    pub fn client(&self) -> Client {
        self.client.clone()
    }

    async fn timed<T>(
        &self,
        method: &'static str,
        call: impl std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    ) -> Result<T, VerifyError> {
        let started = Instant::now();
        let result = tokio::time::timeout(self.timeout, call).await;
        self.metrics
            .verification_call(method, started.elapsed().as_secs_f64());
        match result {
            Ok(Ok(response)) => Ok(response.into_inner()),
            Ok(Err(status)) => {
                tracing::debug!(method, grpc.code = ?status.code(), "verification call failed");
                Err(VerifyError::from_status(&status))
            }
            Err(_) => Err(VerifyError::Unavailable),
        }
    }

    /// Resolves a credential to its organization (API keys through the cache).
    pub async fn authenticate(&self, credential: &Credential) -> Result<Identity, VerifyError> {
        if let Credential::ApiKey(key) = credential {
            if let Some(identity) = self.cached(key.expose_secret()) {
                return Ok(identity);
            }
        }
        let request = pb::AuthenticateRequest {
            credential: Some(to_pb_credential(credential)),
        };
        let response = self
            .timed("authenticate", self.client.clone().authenticate(request))
            .await?;
        if response.organization_id.is_empty() {
            return Err(VerifyError::Unauthenticated);
        }
        let identity = Identity {
            organization_id: response.organization_id,
            ticket: response.ticket.and_then(grant_from_pb),
            revocable: Some(response.revocable).filter(|r| !r.is_empty()),
        };
        if matches!(credential, Credential::Ticket(_)) && identity.ticket.is_none() {
            return Err(VerifyError::Unauthenticated);
        }
        if let Credential::ApiKey(key) = credential {
            self.remember(key.expose_secret(), &identity);
        }
        Ok(identity)
    }

    fn cached(&self, key: &str) -> Option<Identity> {
        let cache = lock(&self.cache);
        cache
            .get(key)
            .filter(|(_, at)| at.elapsed() < self.cache_ttl)
            .map(|(identity, _)| identity.clone())
    }

    fn remember(&self, key: &str, identity: &Identity) {
        if self.cache_ttl.is_zero() {
            return;
        }
        let mut cache = lock(&self.cache);
        if cache.len() >= CACHE_CAPACITY {
            cache.retain(|_, (_, at)| at.elapsed() < self.cache_ttl);
            if cache.len() >= CACHE_CAPACITY {
                cache.clear();
            }
        }
        cache.insert(key.to_owned(), (identity.clone(), Instant::now()));
    }

    /// Initial verification of an entity: live (with its browser session) or why not.
    pub async fn verify(
        &self,
        entity: &EntityKey,
        require_vnc: bool,
    ) -> Result<LiveSession, VerifyError> {
        let response = self.verify_response(entity, require_vnc).await?;
        match pb::Verdict::try_from(response.verdict) {
            Ok(pb::Verdict::Live) => {
                let session = response.browser_session.ok_or(VerifyError::NotReady)?;
                Ok(LiveSession {
                    browser_session_id: session.id,
                    vnc_url: session.vnc_url,
                    browser_address: session.browser_address,
                })
            }
            Ok(pb::Verdict::NotReady) => Err(VerifyError::NotReady),
            Ok(pb::Verdict::NotLive) => Err(VerifyError::NotLive),
            _ => Err(VerifyError::Unavailable),
        }
    }

    /// The status a stream of an entity that stopped being live reports (spec §10.4): its
    /// own final status (a browser session's `timeout` is `session_expired`), `not_found` when
    /// it is gone, `None` when it is live again or verification cannot say.
    pub async fn final_status(&self, entity: &EntityKey) -> Option<String> {
        match self.verify_response(entity, false).await {
            Err(VerifyError::NotFound) => Some("not_found".into()),
            Err(_) => None,
            Ok(response) if response.verdict == pb::Verdict::NotLive as i32 => {
                let status = response.entity_status;
                Some(match (entity.kind, status.as_str()) {
                    (EntityKind::BrowserSession, "timeout") => "session_expired".into(),
                    (_, "") => "completed".into(),
                    _ => status,
                })
            }
            Ok(_) => None,
        }
    }

    async fn verify_response(
        &self,
        entity: &EntityKey,
        require_vnc: bool,
    ) -> Result<pb::VerifyResponse, VerifyError> {
        let org = entity.organization_id.clone();
        let id = entity.id.clone();
        let mut client = self.client.clone();
        let response = match entity.kind {
            EntityKind::BrowserSession => {
                let request = pb::VerifyBrowserSessionRequest {
                    organization_id: org,
                    browser_session_id: id,
                    require_vnc,
                };
                self.timed(
                    "verify_browser_session",
                    client.verify_browser_session(request),
                )
                .await?
            }
            EntityKind::Task => {
                let request = pb::VerifyTaskRequest {
                    organization_id: org,
                    task_id: id,
                    require_vnc,
                };
                self.timed("verify_task", client.verify_task(request))
                    .await?
            }
            EntityKind::WorkflowRun => {
                let request = pb::VerifyWorkflowRunRequest {
                    organization_id: org,
                    workflow_run_id: id,
                    require_vnc,
                };
                self.timed("verify_workflow_run", client.verify_workflow_run(request))
                    .await?
            }
        };
        Ok(response)
    }

    /// Mints a stream ticket (for `POST /v1/stream/tickets`).
    pub async fn create_ticket(
        &self,
        organization_id: &str,
        kind: EntityKind,
        id: &str,
        view_only: bool,
        revocable: Option<&str>,
    ) -> Result<pb::CreateStreamTicketResponse, VerifyError> {
        let scope = if view_only {
            pb::Scope::View
        } else {
            pb::Scope::Control
        };
        let request = pb::CreateStreamTicketRequest {
            organization_id: organization_id.to_owned(),
            entity: Some(pb::EntityRef {
                kind: kind.to_pb() as i32,
                id: id.to_owned(),
            }),
            scope: scope as i32,
            revocable: revocable.unwrap_or_default().to_owned(),
        };
        self.timed(
            "create_stream_ticket",
            self.client.clone().create_stream_ticket(request),
        )
        .await
    }

    /// Reports user activity on browser sessions (org, session id).
    pub async fn record_activity(
        &self,
        sessions: Vec<(String, String)>,
    ) -> Result<u32, VerifyError> {
        let sessions = sessions
            .into_iter()
            .map(
                |(organization_id, browser_session_id)| pb::SessionActivity {
                    organization_id,
                    browser_session_id,
                },
            )
            .collect();
        let response = self
            .timed(
                "record_activity",
                self.client
                    .clone()
                    .record_activity(pb::RecordActivityRequest { sessions }),
            )
            .await?;
        Ok(response.updated)
    }
}

fn to_pb_credential(credential: &Credential) -> pb::authenticate_request::Credential {
    use pb::authenticate_request::Credential as C;
    match credential {
        Credential::ApiKey(k) => C::ApiKey(k.expose_secret().to_owned()),
        Credential::Bearer(t) => C::BearerToken(t.expose_secret().to_owned()),
        Credential::Ticket(t) => C::Ticket(t.expose_secret().to_owned()),
    }
}

pub(crate) fn grant_from_pb(grant: pb::TicketGrant) -> Option<TicketGrant> {
    let entity = grant.entity?;
    let kind = EntityKind::from_pb(entity.kind)?;
    let view_only = pb::Scope::try_from(grant.scope).ok()? != pb::Scope::Control;
    Some(TicketGrant {
        entity: (kind, entity.id),
        view_only,
    })
}
