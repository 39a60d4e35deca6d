//! Entity snapshots: a browser session, task or workflow run together with the browser
//! session it streams from, read by ONE statement (a UNION ALL of one branch per kind) for any
//! number of ids. `Verify*` reads one id with it; the watch poller reads every watched id.
//! Each kind's ids are one parameter (the id itself when there is one, else a JSON array), so
//! the statement is one of a few texts whatever the number of ids.

use std::sync::atomic::{AtomicU64, Ordering};

use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row};
use tracing::instrument;

use super::{json_array, list_parameter, Dialect};
use crate::domain::{EntityKind, SessionSnapshot};

/// One entity row and the browser session it resolves to.
#[derive(Debug, Clone)]
pub struct EntityRow {
    /// Its kind.
    pub kind: EntityKind,
    /// Its id.
    pub id: String,
    /// Its owner.
    pub organization_id: String,
    /// Its status.
    pub status: String,
    /// The session itself (for a session) or the one it occupies (task, run).
    pub session: Option<SessionSnapshot>,
}

/// Ids to read, by kind.
#[derive(Debug, Clone, Default)]
pub struct IdsByKind {
    /// `pbs_…` ids.
    pub sessions: Vec<String>,
    /// `tsk_…` ids.
    pub tasks: Vec<String>,
    /// `wr_…` ids.
    pub runs: Vec<String>,
}

impl IdsByKind {
    /// Total number of ids.
    pub fn len(&self) -> usize {
        self.sessions.len() + self.tasks.len() + self.runs.len()
    }

    /// Whether there is nothing to read.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The list for a kind.
    pub fn of_mut(&mut self, kind: EntityKind) -> &mut Vec<String> {
        match kind {
            EntityKind::BrowserSession => &mut self.sessions,
            EntityKind::Task => &mut self.tasks,
            EntityKind::WorkflowRun => &mut self.runs,
        }
    }
}

const SESSION_COLUMNS: &str = "s.id AS s_id, s.organization_id AS s_org, s.status AS s_status, \
    s.started_at AS s_started_at, s.timeout_minutes AS s_timeout_minutes, \
    s.last_activity_at AS s_last_activity_at, s.completed_at AS s_completed_at, \
    s.deleted_at AS s_deleted_at, s.runnable_id AS s_runnable_id, s.vnc_url AS s_vnc_url, \
    s.cdp_url AS s_cdp_url, s.browser_address AS s_browser_address";

/// The session occupied by runnable `{owner}.id`: prefer one not deleted nor completed, then
/// the newest.
fn by_runnable(owner: &str) -> String {
    format!(
        "(SELECT x.id FROM browser_sessions x \
         WHERE x.runnable_id = {owner}.id AND x.organization_id = {owner}.organization_id \
         ORDER BY CASE WHEN x.deleted_at IS NULL AND x.completed_at IS NULL THEN 0 ELSE 1 END, \
         COALESCE(x.started_at, 0) DESC, x.id DESC LIMIT 1)"
    )
}

/// Builds the single UNION ALL statement for the kinds present; each kind's ids are the
/// next parameter ([`list_parameter`]), in the order sessions, tasks, runs.
fn snapshot_sql(dialect: Dialect, ids: &IdsByKind) -> String {
    let mut branches = Vec::new();
    let mut next = 1;
    if !ids.sessions.is_empty() {
        branches.push(format!(
            "SELECT 'browser_session' AS kind, s.id AS e_id, s.organization_id AS e_org, \
             s.status AS e_status, {SESSION_COLUMNS} FROM browser_sessions s \
             WHERE {}",
            dialect.in_list("s.id", next, &ids.sessions)
        ));
        next += 1;
    }
    if !ids.tasks.is_empty() {
        // A task streams from its own session, else the one it occupies, else its workflow
        // run's (the run's own session, else the one the run occupies): spec §15 item 7.
        branches.push(format!(
            "SELECT 'task' AS kind, t.id AS e_id, t.organization_id AS e_org, \
             t.status AS e_status, {SESSION_COLUMNS} FROM tasks t \
             LEFT JOIN workflow_runs r ON r.id = t.workflow_run_id \
               AND r.organization_id = t.organization_id \
             LEFT JOIN browser_sessions s ON s.organization_id = t.organization_id AND s.id = \
               COALESCE(t.browser_session_id, {}, r.browser_session_id, {}) \
             WHERE {}",
            by_runnable("t"),
            by_runnable("r"),
            dialect.in_list("t.id", next, &ids.tasks)
        ));
        next += 1;
    }
    if !ids.runs.is_empty() {
        branches.push(format!(
            "SELECT 'workflow_run' AS kind, r.id AS e_id, r.organization_id AS e_org, \
             r.status AS e_status, {SESSION_COLUMNS} FROM workflow_runs r \
             LEFT JOIN browser_sessions s ON s.organization_id = r.organization_id AND s.id = \
               COALESCE(r.browser_session_id, {}) \
             WHERE {}",
            by_runnable("r"),
            dialect.in_list("r.id", next, &ids.runs)
        ));
    }
    branches.join(" UNION ALL ")
}

/// Reads the snapshots of the given ids in one statement, however many. Ids that do not exist
/// are simply absent from the answer.
#[instrument(skip(pool, ids), fields(ids = ids.len()))]
pub async fn snapshots(pool: &AnyPool, ids: &IdsByKind) -> Result<Vec<EntityRow>, sqlx::Error> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = snapshot_sql(Dialect::of(pool), ids);
    let mut query = sqlx::query(&sql);
    for list in [&ids.sessions, &ids.tasks, &ids.runs] {
        if !list.is_empty() {
            query = query.bind(list_parameter(list));
        }
    }
    let rows = query.fetch_all(pool).await?;
    rows.iter().map(entity_from_row).collect()
}

/// The watch poller's read: every watched id in one statement per poll. Each statement
/// executed increments `counter`.
#[instrument(skip(pool, ids, counter), fields(ids = ids.len()))]
pub async fn poll(
    pool: &AnyPool,
    ids: &IdsByKind,
    counter: &AtomicU64,
) -> Result<Vec<EntityRow>, sqlx::Error> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    counter.fetch_add(1, Ordering::Relaxed);
    snapshots(pool, ids).await
}

/// Moves `last_activity_at` to `now` for the given (organization, session) pairs, in one
/// statement; sessions of another organization or deleted ones are not touched.
#[instrument(skip(pool, pairs), fields(sessions = pairs.len()))]
pub async fn record_activity(
    pool: &AnyPool,
    pairs: &[(String, String)],
    now: i64,
) -> Result<u64, sqlx::Error> {
    if pairs.is_empty() {
        return Ok(0);
    }
    // Row-value IN over the (organization, id) pairs of one JSON parameter.
    let sql = format!(
        "UPDATE browser_sessions SET last_activity_at = $1 \
         WHERE deleted_at IS NULL AND (organization_id, id) IN ({})",
        Dialect::of(pool).pairs_of(2)
    );
    let query = sqlx::query(&sql).bind(now).bind(json_array(pairs));
    Ok(query.execute(pool).await?.rows_affected())
}

fn entity_from_row(row: &AnyRow) -> Result<EntityRow, sqlx::Error> {
    let kind: String = row.try_get("kind")?;
    let kind = EntityKind::parse(&kind).map_err(|e| sqlx::Error::Decode(e.0.into()))?;
    let session = match row.try_get::<Option<String>, _>("s_id")? {
        None => None,
        Some(id) => Some(SessionSnapshot {
            id,
            organization_id: row.try_get("s_org")?,
            status: row.try_get("s_status")?,
            started_at: row.try_get("s_started_at")?,
            timeout_minutes: row.try_get("s_timeout_minutes")?,
            last_activity_at: row.try_get("s_last_activity_at")?,
            completed_at: row.try_get("s_completed_at")?,
            deleted_at: row.try_get("s_deleted_at")?,
            runnable_id: row.try_get("s_runnable_id")?,
            vnc_url: row.try_get("s_vnc_url")?,
            cdp_url: row.try_get("s_cdp_url")?,
            browser_address: row.try_get("s_browser_address")?,
        }),
    };
    Ok(EntityRow {
        kind,
        id: row.try_get("e_id")?,
        organization_id: row.try_get("e_org")?,
        status: row.try_get("e_status")?,
        session,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_snapshot_statement_takes_one_parameter_per_kind_present() {
        let two = vec!["x".to_owned(); 2];
        let ids = IdsByKind {
            sessions: two.clone(),
            tasks: vec!["tsk_1".into()],
            runs: two.clone(),
        };
        let sql = snapshot_sql(Dialect::Sqlite, &ids);
        assert_eq!(sql.matches("UNION ALL").count(), 2);
        assert!(sql.contains("s.id IN (SELECT value FROM json_each($1))"));
        assert!(sql.contains("WHERE t.id = $2"));
        assert!(sql.contains("r.id IN (SELECT value FROM json_each($3))"));
        let runs = IdsByKind {
            runs: two,
            ..IdsByKind::default()
        };
        let sql = snapshot_sql(Dialect::Postgres, &runs);
        assert!(!sql.contains("UNION ALL"));
        assert!(sql.contains("r.id IN (SELECT json_array_elements_text($1::json))"));
    }
}
