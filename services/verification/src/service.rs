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
    /// The revocable credential behind it (`key:<hash>`, `link:<id>`), for CheckRevoked.
    pub revocable: Option<String>,
}

/// A freshly minted link.
#[derive(Debug, Clone)]
pub struct NewLink {
    /// `lnk_…`.
    pub id: String,
    /// The secret (shown once).
    pub secret: String,
    /// Expiry, epoch ms.
    pub expires_at: i64,
}

/// A ticket minted from a link, with what it opens.
#[derive(Debug, Clone)]
pub struct LinkTicket {
    /// The ticket.
    pub ticket: String,
    /// Its expiry, epoch ms.
    pub expires_at: i64,
    /// The link's organization.
    pub organization_id: String,
    /// The link's entity and scope.
    pub grant: (EntityRef, Scope),
}

/// Longest link lifetime.
pub const MAX_LINK_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
/// Most ids one CheckRevoked call may name.
pub const MAX_REVOCATION_BATCH: usize = 10_000;
/// Prefix of link secrets.
const LINK_SECRET_PREFIX: &str = "bsl_";

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
                let hash = hash_secret(&key);
                let org = store::auth::api_key_org(&self.pool, &hash).await?;
                let organization_id = org.ok_or(VerificationError::Unauthenticated)?;
                Ok(Authenticated {
                    organization_id,
                    grant: None,
                    expires_at: None,
                    revocable: Some(format!("key:{hash}")),
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
            revocable: None,
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
            revocable: row.origin,
        })
    }

    /// Mints a one-use ticket for an entity of the organization; returns it and its expiry.
    /// `origin` is the revocable credential it was minted with.
    pub async fn create_ticket(
        &self,
        org: &OrgId,
        entity: &EntityRef,
        scope: Scope,
        origin: Option<String>,
    ) -> Result<(String, i64), VerificationError> {
        if origin.as_ref().is_some_and(|o| !valid_revocable(o)) {
            return Err(VerificationError::InvalidInput(
                "revocable must be key:<hash> or link:<id>".into(),
            ));
        }
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
            origin,
        };
        store::auth::insert_ticket(&self.pool, &hash_secret(&ticket), &row, now).await?;
        Ok((ticket, row.expires_at))
    }

    /// Mints a link to an entity of the organization, working for `ttl`.
    pub async fn create_link(
        &self,
        org: &OrgId,
        entity: &EntityRef,
        scope: Scope,
        ttl: Duration,
    ) -> Result<NewLink, VerificationError> {
        if ttl.is_zero() || ttl > MAX_LINK_TTL {
            return Err(VerificationError::InvalidInput(
                "ttl must be 1 s to 7 days".into(),
            ));
        }
        self.find(org, entity).await?;
        let now = now_ms();
        let id = format!("lnk_{}", uuid::Uuid::new_v4().simple());
        let secret = credentials::generate_secret(LINK_SECRET_PREFIX);
        let row = store::links::LinkRow {
            id: id.clone(),
            organization_id: org.to_string(),
            entity_kind: entity.kind.as_str().into(),
            entity_id: entity.id.to_string(),
            scope: scope.as_str().into(),
            expires_at: now.saturating_add(ttl.as_millis() as i64),
        };
        store::links::insert_link(&self.pool, &hash_secret(&secret), &row, now).await?;
        Ok(NewLink {
            id,
            secret,
            expires_at: row.expires_at,
        })
    }

    /// Revokes a link of the organization.
    pub async fn revoke_link(&self, org: &OrgId, link_id: &str) -> Result<(), VerificationError> {
        if link_id.is_empty() || link_id.len() > 128 {
            return Err(VerificationError::InvalidInput(
                "link_id is 1 to 128 characters".into(),
            ));
        }
        if store::links::revoke_link(&self.pool, org.as_ref(), link_id, now_ms()).await? {
            Ok(())
        } else {
            Err(VerificationError::NotFound("link"))
        }
    }

    /// Mints a ticket from a working link's secret.
    pub async fn ticket_from_link(&self, secret: &str) -> Result<LinkTicket, VerificationError> {
        if secret.is_empty() || secret.len() > MAX_CREDENTIAL_LEN {
            return Err(VerificationError::InvalidInput(
                "secret is empty or too long".into(),
            ));
        }
        let link = store::links::working_link(&self.pool, &hash_secret(secret), now_ms())
            .await?
            .ok_or(VerificationError::Unauthenticated)?;
        let kind = EntityKind::parse(&link.entity_kind).map_err(internal)?;
        let entity = EntityRef::parse(kind, &link.entity_id).map_err(internal)?;
        let scope = Scope::parse(&link.scope).map_err(internal)?;
        let org = OrgId::parse(&link.organization_id).map_err(internal)?;
        let origin = Some(format!("link:{}", link.id));
        let (ticket, expires_at) = self.create_ticket(&org, &entity, scope, origin).await?;
        Ok(LinkTicket {
            ticket,
            expires_at,
            organization_id: link.organization_id,
            grant: (entity, scope),
        })
    }

    /// Of `ids` (`key:<hash>`, `link:<id>`), those revoked or gone; malformed ones count as
    /// revoked (nothing valid has that id).
    pub async fn check_revoked(&self, ids: Vec<String>) -> Result<Vec<String>, VerificationError> {
        if ids.len() > MAX_REVOCATION_BATCH {
            return Err(VerificationError::InvalidInput(format!(
                "at most {MAX_REVOCATION_BATCH} ids per call"
            )));
        }
        let (mut keys, mut links, mut revoked) = (Vec::new(), Vec::new(), Vec::new());
        for id in ids {
            match id.split_once(':') {
                Some(("key", hash)) if valid_revocable(&id) => keys.push(hash.to_owned()),
                Some(("link", link)) if valid_revocable(&id) => links.push(link.to_owned()),
                _ => revoked.push(id),
            }
        }
        for hash in store::links::revoked_keys(&self.pool, &keys).await? {
            revoked.push(format!("key:{hash}"));
        }
        for link in store::links::revoked_links(&self.pool, &links).await? {
            revoked.push(format!("link:{link}"));
        }
        Ok(revoked)
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

/// A well-formed revocable id: `key:` and 64 hex digits, or `link:` and a short id.
fn valid_revocable(id: &str) -> bool {
    match id.split_once(':') {
        Some(("key", hash)) => hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()),
        Some(("link", link)) => {
            !link.is_empty()
                && link.len() <= 128
                && link.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        }
        _ => false,
    }
}

fn internal(error: crate::domain::ids::IdError) -> VerificationError {
    VerificationError::Internal(anyhow::anyhow!("stored ticket is malformed: {error}"))
}
