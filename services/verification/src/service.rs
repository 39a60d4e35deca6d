//! The operations behind the RPCs, on domain types: authenticate a credential, mint a ticket,
//! verify an entity, record activity. The gRPC layer only converts to and from these.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use sqlx::AnyPool;

use crate::domain::credentials::{self, hash_secret, MAX_CREDENTIAL_LEN, TICKET_PREFIX};
use crate::domain::liveness::{judge_runnable, judge_session};
use crate::domain::{EntityKind, EntityRef, OrgId, Scope, SessionSnapshot, Verdict};
use crate::error::VerificationError;
use crate::store::{self, auth::TicketRow, entities::IdsByKind, now_ms};

/// Most sessions one RecordActivity call may name.
pub const MAX_ACTIVITY_BATCH: usize = 10_000;

/// A credential as presented.
#[derive(Debug)]
pub enum Credential {
    /// An API key.
    ApiKey(String),
    /// A bearer JWT (with or without `Bearer `).
    Bearer(String),
    /// A stream ticket (consumed by authenticating).
    Ticket(String),
}

/// Who the credential belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticated {
    /// The organization.
    pub organization_id: String,
    /// For a ticket: the entity and scope it opens.
    pub grant: Option<(EntityRef, Scope)>,
    /// Ticket or JWT expiry (epoch ms).
    pub expires_at: Option<i64>,
}

/// The answer of a Verify call.
#[derive(Debug, Clone)]
pub struct Verification {
    /// Live, not live, not ready.
    pub verdict: Verdict,
    /// The browser session it streams from, when one was found.
    pub session: Option<SessionSnapshot>,
    /// The entity's own status.
    pub entity_status: String,
}

/// The verification operations, over a pool.
#[derive(Clone)]
pub struct Verifier {
    pool: AnyPool,
    jwt_secret: Option<SecretString>,
    ticket_ttl: Duration,
}

impl Verifier {
    /// Builds the operations over a migrated pool.
    pub fn new(pool: AnyPool, jwt_secret: Option<SecretString>, ticket_ttl: Duration) -> Self {
        Self {
            pool,
            jwt_secret,
            ticket_ttl,
        }
    }

    /// The pool (shared with the watch poller).
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Resolves a credential to its organization; a ticket is consumed.
    pub async fn authenticate(
        &self,
        credential: Credential,
    ) -> Result<Authenticated, VerificationError> {
        let raw = match &credential {
            Credential::ApiKey(s) | Credential::Bearer(s) | Credential::Ticket(s) => s,
        };
        if raw.is_empty() || raw.len() > MAX_CREDENTIAL_LEN {
            return Err(VerificationError::InvalidInput(
                "credential is empty or too long".into(),
            ));
        }
        match credential {
            Credential::ApiKey(key) => {
                let org = store::auth::api_key_org(&self.pool, &hash_secret(&key)).await?;
                let organization_id = org.ok_or(VerificationError::Unauthenticated)?;
                Ok(Authenticated {
                    organization_id,
                    grant: None,
                    expires_at: None,
                })
            }
            Credential::Bearer(token) => self.authenticate_bearer(&token).await,
            Credential::Ticket(ticket) => self.consume_ticket(&ticket).await,
        }
    }

    async fn authenticate_bearer(&self, token: &str) -> Result<Authenticated, VerificationError> {
        let secret = self
            .jwt_secret
            .as_ref()
            .map(|s| s.expose_secret().as_bytes());
        let claims = credentials::check_bearer(token, secret).map_err(|error| {
            tracing::info!(error.message = %error, "bearer token refused");
            VerificationError::Unauthenticated
        })?;
        let org = OrgId::parse(&claims.sub).map_err(|_| VerificationError::Unauthenticated)?;
        if !store::auth::org_exists(&self.pool, org.as_ref()).await? {
            return Err(VerificationError::Unauthenticated);
        }
        Ok(Authenticated {
            organization_id: org.to_string(),
            grant: None,
            expires_at: Some(claims.exp.saturating_mul(1000)),
        })
    }

    async fn consume_ticket(&self, ticket: &str) -> Result<Authenticated, VerificationError> {
        let row = store::auth::consume_ticket(&self.pool, &hash_secret(ticket), now_ms())
            .await?
            .ok_or(VerificationError::Unauthenticated)?;
        let kind = EntityKind::parse(&row.entity_kind).map_err(internal)?;
        let entity = EntityRef::parse(kind, &row.entity_id).map_err(internal)?;
        let scope = Scope::parse(&row.scope).map_err(internal)?;
        Ok(Authenticated {
            organization_id: row.organization_id,
            grant: Some((entity, scope)),
            expires_at: Some(row.expires_at),
        })
    }

    /// Mints a one-use ticket for an entity of the organization; returns it and its expiry.
    pub async fn create_ticket(
        &self,
        org: &OrgId,
        entity: &EntityRef,
        scope: Scope,
    ) -> Result<(String, i64), VerificationError> {
        self.find(org, entity).await?;
        let now = now_ms();
        let ttl = i64::try_from(self.ticket_ttl.as_millis()).unwrap_or(i64::MAX);
        let ticket = credentials::generate_secret(TICKET_PREFIX);
        let row = TicketRow {
            organization_id: org.to_string(),
            entity_kind: entity.kind.as_str().into(),
            entity_id: entity.id.to_string(),
            scope: scope.as_str().into(),
            expires_at: now.saturating_add(ttl),
        };
        store::auth::insert_ticket(&self.pool, &hash_secret(&ticket), &row, now).await?;
        Ok((ticket, row.expires_at))
    }

    /// Liveness and readiness of an entity of the organization.
    pub async fn verify(
        &self,
        org: &OrgId,
        entity: &EntityRef,
        require_vnc: bool,
    ) -> Result<Verification, VerificationError> {
        let row = self.find(org, entity).await?;
        let verdict = judge(
            entity.kind,
            &row.status,
            row.session.as_ref(),
            now_ms(),
            require_vnc,
        );
        Ok(Verification {
            verdict,
            session: row.session,
            entity_status: row.status,
        })
    }

    /// Moves `last_activity_at` to now for each (organization, session); returns how many.
    pub async fn record_activity(
        &self,
        pairs: Vec<(OrgId, EntityRef)>,
    ) -> Result<u64, VerificationError> {
        if pairs.len() > MAX_ACTIVITY_BATCH {
            return Err(VerificationError::InvalidInput(format!(
                "at most {MAX_ACTIVITY_BATCH} sessions per call"
            )));
        }
        let mut pairs: Vec<(String, String)> = pairs
            .into_iter()
            .map(|(org, e)| (org.to_string(), e.id.to_string()))
            .collect();
        pairs.sort();
        pairs.dedup();
        Ok(store::entities::record_activity(&self.pool, &pairs, now_ms()).await?)
    }

    /// The row of an entity of the organization; another organization's is NOT_FOUND too.
    async fn find(
        &self,
        org: &OrgId,
        entity: &EntityRef,
    ) -> Result<store::entities::EntityRow, VerificationError> {
        let mut ids = IdsByKind::default();
        ids.of_mut(entity.kind).push(entity.id.to_string());
        let rows = store::entities::snapshots(&self.pool, &ids).await?;
        rows.into_iter()
            .find(|r| r.kind == entity.kind && r.organization_id == org.as_ref())
            .ok_or(VerificationError::NotFound(entity.kind.as_str()))
    }
}

/// The verdict for any kind.
pub fn judge(
    kind: EntityKind,
    status: &str,
    session: Option<&SessionSnapshot>,
    now: i64,
    require_vnc: bool,
) -> Verdict {
    match (kind, session) {
        (EntityKind::BrowserSession, Some(session)) => judge_session(session, now, require_vnc),
        (EntityKind::BrowserSession, None) => Verdict::NotLive(crate::domain::Reason::NotFound),
        (kind, session) => judge_runnable(kind, status, session, now, require_vnc),
    }
}

fn internal(error: crate::domain::ids::IdError) -> VerificationError {
    VerificationError::Internal(anyhow::anyhow!("stored ticket is malformed: {error}"))
}
