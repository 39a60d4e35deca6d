//! Operator writes: organizations, API keys, browser sessions, tasks, workflow runs, statuses
//! and addresses. Used by `verification admin …` and by other crates' tests.

use sqlx::AnyPool;
use tracing::instrument;

/// A browser session to insert.
#[derive(Debug, Clone)]
pub struct SessionInsert {
    /// `pbs_…`.
    pub id: String,
    /// Owner.
    pub organization_id: String,
    /// Initial status.
    pub status: String,
    /// Start, epoch ms.
    pub started_at: i64,
    /// Lifetime minutes, if limited.
    pub timeout_minutes: Option<i64>,
    /// RFB address.
    pub vnc_url: Option<String>,
    /// DevTools address.
    pub cdp_url: Option<String>,
    /// The incumbent's routed address.
    pub browser_address: Option<String>,
    /// The task or run occupying it.
    pub runnable_id: Option<String>,
}

/// Inserts an organization.
#[instrument(skip(pool))]
pub async fn insert_org(pool: &AnyPool, id: &str, name: &str, now: i64) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO organizations (id, name, created_at) VALUES ($1, $2, $3)")
        .bind(id)
        .bind(name)
        .bind(now)
        .execute(pool)
        .await?;
    Ok(())
}

/// Inserts an API key by its hash.
#[instrument(skip(pool, key_hash))]
pub async fn insert_api_key(
    pool: &AnyPool,
    key_hash: &str,
    organization_id: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO api_keys (key_hash, organization_id, created_at) VALUES ($1, $2, $3)")
        .bind(key_hash)
        .bind(organization_id)
        .bind(now)
        .execute(pool)
        .await?;
    Ok(())
}

/// Revokes an API key by its hash; whether a live key was found.
#[instrument(skip(pool, key_hash))]
pub async fn revoke_api_key(pool: &AnyPool, key_hash: &str, now: i64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE api_keys SET revoked_at = $1 WHERE key_hash = $2 AND revoked_at IS NULL",
    )
    .bind(now)
    .bind(key_hash)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Inserts a browser session.
#[instrument(skip(pool))]
pub async fn insert_session(
    pool: &AnyPool,
    s: &SessionInsert,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO browser_sessions (id, organization_id, status, started_at, timeout_minutes, \
         vnc_url, cdp_url, browser_address, runnable_id, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(&s.id)
    .bind(&s.organization_id)
    .bind(&s.status)
    .bind(s.started_at)
    .bind(s.timeout_minutes)
    .bind(&s.vnc_url)
    .bind(&s.cdp_url)
    .bind(&s.browser_address)
    .bind(&s.runnable_id)
    .bind(now)
    .execute(pool)
    .await?;
    Ok(())
}

/// Inserts a task.
#[instrument(skip(pool))]
pub async fn insert_task(
    pool: &AnyPool,
    id: &str,
    organization_id: &str,
    status: &str,
    browser_session_id: Option<&str>,
    workflow_run_id: Option<&str>,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO tasks (id, organization_id, status, browser_session_id, workflow_run_id, \
         created_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id)
    .bind(organization_id)
    .bind(status)
    .bind(browser_session_id)
    .bind(workflow_run_id)
    .bind(now)
    .execute(pool)
    .await?;
    Ok(())
}

/// Inserts a workflow run.
#[instrument(skip(pool))]
pub async fn insert_run(
    pool: &AnyPool,
    id: &str,
    organization_id: &str,
    status: &str,
    browser_session_id: Option<&str>,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO workflow_runs (id, organization_id, status, browser_session_id, created_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(id)
    .bind(organization_id)
    .bind(status)
    .bind(browser_session_id)
    .bind(now)
    .execute(pool)
    .await?;
    Ok(())
}

/// The organization of an entity row in `table`, if it exists.
#[instrument(skip(pool))]
pub async fn owner_of(
    pool: &AnyPool,
    table: Table,
    id: &str,
) -> Result<Option<String>, sqlx::Error> {
    use sqlx::Row;
    let sql = format!("SELECT organization_id FROM {} WHERE id = $1", table.name());
    let row = sqlx::query(&sql).bind(id).fetch_optional(pool).await?;
    row.map(|r| r.try_get(0)).transpose()
}

/// Sets an entity's status; a final session status also sets `completed_at` (once).
#[instrument(skip(pool))]
pub async fn set_status(
    pool: &AnyPool,
    table: Table,
    id: &str,
    status: &str,
    completes: bool,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let done = if completes {
        let sql = format!(
            "UPDATE {} SET status = $1, completed_at = COALESCE(completed_at, $3) WHERE id = $2",
            table.name()
        );
        sqlx::query(&sql)
            .bind(status)
            .bind(id)
            .bind(now)
            .execute(pool)
            .await?
    } else {
        let sql = format!("UPDATE {} SET status = $1 WHERE id = $2", table.name());
        sqlx::query(&sql)
            .bind(status)
            .bind(id)
            .execute(pool)
            .await?
    };
    Ok(done.rows_affected() == 1)
}

/// Sets a browser session's addresses (each only when given) — the browser node registers them
/// after start.
#[instrument(skip(pool))]
pub async fn update_session_addresses(
    pool: &AnyPool,
    id: &str,
    vnc_url: Option<&str>,
    cdp_url: Option<&str>,
    browser_address: Option<&str>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE browser_sessions SET vnc_url = COALESCE($1, vnc_url), \
         cdp_url = COALESCE($2, cdp_url), browser_address = COALESCE($3, browser_address) \
         WHERE id = $4",
    )
    .bind(vnc_url)
    .bind(cdp_url)
    .bind(browser_address)
    .bind(id)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Marks a browser session deleted.
#[instrument(skip(pool))]
pub async fn delete_session(pool: &AnyPool, id: &str, now: i64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE browser_sessions SET deleted_at = COALESCE(deleted_at, $1) WHERE id = $2",
    )
    .bind(now)
    .bind(id)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Overwrites a browser session's lifetime inputs (tests move time this way).
#[instrument(skip(pool))]
pub async fn set_session_times(
    pool: &AnyPool,
    id: &str,
    started_at: i64,
    last_activity_at: Option<i64>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE browser_sessions SET started_at = $1, last_activity_at = $2 WHERE id = $3",
    )
    .bind(started_at)
    .bind(last_activity_at)
    .bind(id)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The entity tables (a closed set, so table names never come from input).
#[derive(Debug, Clone, Copy)]
pub enum Table {
    /// `browser_sessions`.
    BrowserSessions,
    /// `tasks`.
    Tasks,
    /// `workflow_runs`.
    WorkflowRuns,
}

impl Table {
    fn name(self) -> &'static str {
        match self {
            Self::BrowserSessions => "browser_sessions",
            Self::Tasks => "tasks",
            Self::WorkflowRuns => "workflow_runs",
        }
    }
}
