//! The operator's library: seeds and changes organizations, API keys, browser sessions, tasks
//! and workflow runs. `verification admin …` is a thin CLI over it ([`cli`]), and other crates'
//! tests call it in-process: `Admin::connect(url).await?.create_org("acme").await?`.

pub mod cli;

use sqlx::AnyPool;

use crate::domain::credentials::{generate_secret, hash_secret, API_KEY_PREFIX};
use crate::domain::{EntityId, EntityKind, OrgId};
use crate::error::VerificationError;
use crate::store::{self, admin::Table, now_ms, PoolSettings};

/// A browser session to create. `Default` gives a running session started now, no timeout,
/// no addresses.
#[derive(Debug, Clone)]
pub struct NewBrowserSession {
    /// Owner.
    pub organization_id: String,
    /// Initial status (default `running`).
    pub status: String,
    /// Lifetime minutes from start or last activity; `None`: only the 14,400 s cap.
    pub timeout_minutes: Option<i64>,
    /// RFB address (`ws://`, `wss://` or `tcp://host:port`).
    pub vnc_url: Option<String>,
    /// DevTools address.
    pub cdp_url: Option<String>,
    /// The incumbent's routed address.
    pub browser_address: Option<String>,
    /// The task or workflow run occupying it.
    pub runnable_id: Option<String>,
}

impl NewBrowserSession {
    /// A running session of `organization_id` with no addresses yet.
    pub fn new(organization_id: impl Into<String>) -> Self {
        Self {
            organization_id: organization_id.into(),
            status: "running".into(),
            timeout_minutes: None,
            vnc_url: None,
            cdp_url: None,
            browser_address: None,
            runnable_id: None,
        }
    }
}

/// Operator access to the verification database.
#[derive(Clone, Debug)]
pub struct Admin {
    pool: AnyPool,
}

impl Admin {
    /// Connects (running the migrations, creating a SQLite file if missing).
    pub async fn connect(database_url: &str) -> Result<Self, VerificationError> {
        let pool = store::connect(database_url, &PoolSettings::default()).await?;
        Ok(Self { pool })
    }

    /// Wraps an existing pool.
    pub fn from_pool(pool: AnyPool) -> Self {
        Self { pool }
    }

    /// Creates an organization; returns its id (`org_…`).
    pub async fn create_org(&self, name: &str) -> Result<String, VerificationError> {
        if name.trim().is_empty() || name.len() > 256 {
            return Err(VerificationError::InvalidInput(
                "name must be 1-256 characters".into(),
            ));
        }
        let id = format!("org_{}", uuid::Uuid::new_v4().simple());
        store::admin::insert_org(&self.pool, &id, name, now_ms()).await?;
        Ok(id)
    }

    /// Creates an API key for an organization; returns the key (shown once, stored hashed).
    pub async fn create_api_key(&self, organization_id: &str) -> Result<String, VerificationError> {
        let org = self.existing_org(organization_id).await?;
        let key = generate_secret(API_KEY_PREFIX);
        store::admin::insert_api_key(&self.pool, &hash_secret(&key), org.as_ref(), now_ms())
            .await?;
        Ok(key)
    }

    /// Revokes an API key; NOT_FOUND when unknown or already revoked.
    pub async fn revoke_api_key(&self, key: &str) -> Result<(), VerificationError> {
        let found = store::admin::revoke_api_key(&self.pool, &hash_secret(key), now_ms()).await?;
        found
            .then_some(())
            .ok_or(VerificationError::NotFound("api key"))
    }

    /// Creates a browser session (started now); returns its id (`pbs_…`).
    pub async fn create_browser_session(
        &self,
        new: NewBrowserSession,
    ) -> Result<String, VerificationError> {
        let org = self.existing_org(&new.organization_id).await?;
        check_status(EntityKind::BrowserSession, &new.status)?;
        if new.timeout_minutes.is_some_and(|m| m < 0) {
            return Err(VerificationError::InvalidInput(
                "timeout_minutes must be >= 0".into(),
            ));
        }
        let id = EntityId::generate(EntityKind::BrowserSession).to_string();
        let insert = store::admin::SessionInsert {
            id: id.clone(),
            organization_id: org.to_string(),
            status: new.status,
            started_at: now_ms(),
            timeout_minutes: new.timeout_minutes,
            vnc_url: new.vnc_url,
            cdp_url: new.cdp_url,
            browser_address: new.browser_address,
            runnable_id: new.runnable_id,
        };
        store::admin::insert_session(&self.pool, &insert, now_ms()).await?;
        Ok(id)
    }

    /// Creates a task; returns its id (`tsk_…`). Referenced session and run must exist in the
    /// same organization.
    pub async fn create_task(
        &self,
        organization_id: &str,
        browser_session_id: Option<&str>,
        workflow_run_id: Option<&str>,
        status: &str,
    ) -> Result<String, VerificationError> {
        let org = self.existing_org(organization_id).await?;
        check_status(EntityKind::Task, status)?;
        if let Some(session) = browser_session_id {
            self.check_owned(EntityKind::BrowserSession, session, &org)
                .await?;
        }
        if let Some(run) = workflow_run_id {
            self.check_owned(EntityKind::WorkflowRun, run, &org).await?;
        }
        let id = EntityId::generate(EntityKind::Task).to_string();
        store::admin::insert_task(
            &self.pool,
            &id,
            org.as_ref(),
            status,
            browser_session_id,
            workflow_run_id,
            now_ms(),
        )
        .await?;
        Ok(id)
    }

    /// Creates a workflow run; returns its id (`wr_…`).
    pub async fn create_workflow_run(
        &self,
        organization_id: &str,
        browser_session_id: Option<&str>,
        status: &str,
    ) -> Result<String, VerificationError> {
        let org = self.existing_org(organization_id).await?;
        check_status(EntityKind::WorkflowRun, status)?;
        if let Some(session) = browser_session_id {
            self.check_owned(EntityKind::BrowserSession, session, &org)
                .await?;
        }
        let id = EntityId::generate(EntityKind::WorkflowRun).to_string();
        store::admin::insert_run(
            &self.pool,
            &id,
            org.as_ref(),
            status,
            browser_session_id,
            now_ms(),
        )
        .await?;
        Ok(id)
    }

    /// Sets the status of an entity; a final browser-session status also sets `completed_at`.
    pub async fn set_status(
        &self,
        kind: EntityKind,
        id: &str,
        status: &str,
    ) -> Result<(), VerificationError> {
        let id = EntityId::parse(kind, id)?;
        check_status(kind, status)?;
        let completes = kind == EntityKind::BrowserSession && !kind.is_live_status(status);
        let found = store::admin::set_status(
            &self.pool,
            table(kind),
            id.as_ref(),
            status,
            completes,
            now_ms(),
        )
        .await?;
        found
            .then_some(())
            .ok_or(VerificationError::NotFound(kind.as_str()))
    }

    /// Registers a browser session's addresses (each only when given).
    pub async fn update_browser_session(
        &self,
        id: &str,
        vnc_url: Option<&str>,
        cdp_url: Option<&str>,
        browser_address: Option<&str>,
    ) -> Result<(), VerificationError> {
        let id = EntityId::parse(EntityKind::BrowserSession, id)?;
        let found = store::admin::update_session_addresses(
            &self.pool,
            id.as_ref(),
            vnc_url,
            cdp_url,
            browser_address,
        )
        .await?;
        found
            .then_some(())
            .ok_or(VerificationError::NotFound("browser_session"))
    }

    /// Marks a browser session deleted.
    pub async fn delete_browser_session(&self, id: &str) -> Result<(), VerificationError> {
        let id = EntityId::parse(EntityKind::BrowserSession, id)?;
        let found = store::admin::delete_session(&self.pool, id.as_ref(), now_ms()).await?;
        found
            .then_some(())
            .ok_or(VerificationError::NotFound("browser_session"))
    }

    /// Rewrites a session's start and last activity (epoch ms), so tests can age a session.
    pub async fn set_session_times(
        &self,
        id: &str,
        started_at: i64,
        last_activity_at: Option<i64>,
    ) -> Result<(), VerificationError> {
        let id = EntityId::parse(EntityKind::BrowserSession, id)?;
        let found =
            store::admin::set_session_times(&self.pool, id.as_ref(), started_at, last_activity_at)
                .await?;
        found
            .then_some(())
            .ok_or(VerificationError::NotFound("browser_session"))
    }

    /// The pool, for tests that read rows directly.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    async fn existing_org(&self, organization_id: &str) -> Result<OrgId, VerificationError> {
        let org = OrgId::parse(organization_id)?;
        if store::auth::org_exists(&self.pool, org.as_ref()).await? {
            Ok(org)
        } else {
            Err(VerificationError::NotFound("organization"))
        }
    }

    async fn check_owned(
        &self,
        kind: EntityKind,
        id: &str,
        org: &OrgId,
    ) -> Result<(), VerificationError> {
        let id = EntityId::parse(kind, id)?;
        match store::admin::owner_of(&self.pool, table(kind), id.as_ref()).await? {
            Some(owner) if owner == org.as_ref() => Ok(()),
            _ => Err(VerificationError::NotFound(kind.as_str())),
        }
    }
}

fn table(kind: EntityKind) -> Table {
    match kind {
        EntityKind::BrowserSession => Table::BrowserSessions,
        EntityKind::Task => Table::Tasks,
        EntityKind::WorkflowRun => Table::WorkflowRuns,
    }
}

fn check_status(kind: EntityKind, status: &str) -> Result<(), VerificationError> {
    if kind.known_statuses().contains(&status) {
        Ok(())
    } else {
        Err(VerificationError::InvalidInput(format!(
            "status must be one of {}",
            kind.known_statuses().join(", ")
        )))
    }
}
