//! Entity snapshots: a browser session, task or workflow run together with the browser
//! session it streams from, read by ONE statement (a UNION ALL of one branch per kind) for any
//! number of ids. `Verify*` reads one id with it; the watch poller reads every watched id.

use std::sync::atomic::{AtomicU64, Ordering};

use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row};
use tracing::instrument;

use super::placeholders;
use crate::domain::{EntityKind, SessionSnapshot};

/// Most ids one poll statement carries; past this the poll is split into several statements
/// (SQLite allows 32,766 parameters per statement, PostgreSQL 65,535).
pub const MAX_IDS_PER_STATEMENT: usize = 10_000;

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

/// Builds the single UNION ALL statement for the given id counts.
fn snapshot_sql(sessions: usize, tasks: usize, runs: usize) -> String {
    let mut branches = Vec::new();
    let mut next = 1;
    if sessions > 0 {
        branches.push(format!(
            "SELECT 'browser_session' AS kind, s.id AS e_id, s.organization_id AS e_org, \
             s.status AS e_status, {SESSION_COLUMNS} FROM browser_sessions s \
             WHERE s.id IN ({})",
            placeholders(next, sessions)
        ));
        next += sessions;
    }
    if tasks > 0 {
        // A task streams from its own session, else the one it occupies, else its workflow
        // run's (the run's own session, else the one the run occupies): spec §15 item 7.
        branches.push(format!(
            "SELECT 'task' AS kind, t.id AS e_id, t.organization_id AS e_org, \
             t.status AS e_status, {SESSION_COLUMNS} FROM tasks t \
             LEFT JOIN workflow_runs r ON r.id = t.workflow_run_id \
               AND r.organization_id = t.organization_id \
             LEFT JOIN browser_sessions s ON s.organization_id = t.organization_id AND s.id = \
               COALESCE(t.browser_session_id, {}, r.browser_session_id, {}) \
             WHERE t.id IN ({})",
            by_runnable("t"),
            by_runnable("r"),
            placeholders(next, tasks)
        ));
        next += tasks;
    }
    if runs > 0 {
        branches.push(format!(
            "SELECT 'workflow_run' AS kind, r.id AS e_id, r.organization_id AS e_org, \
             r.status AS e_status, {SESSION_COLUMNS} FROM workflow_runs r \
             LEFT JOIN browser_sessions s ON s.organization_id = r.organization_id AND s.id = \
               COALESCE(r.browser_session_id, {}) \
             WHERE r.id IN ({})",
            by_runnable("r"),
            placeholders(next, runs)
        ));
    }
    branches.join(" UNION ALL ")
}

/// Reads the snapshots of the given ids in one statement (at most
/// [`MAX_IDS_PER_STATEMENT`] ids). Ids that do not exist are simply absent from the answer.
#[instrument(skip(pool, ids), fields(ids = ids.len()))]
pub async fn snapshots(pool: &AnyPool, ids: &IdsByKind) -> Result<Vec<EntityRow>, sqlx::Error> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = snapshot_sql(ids.sessions.len(), ids.tasks.len(), ids.runs.len());
    let mut query = sqlx::query(&sql);
    for id in ids.sessions.iter().chain(&ids.tasks).chain(&ids.runs) {
        query = query.bind(id.as_str());
    }
    // The statement text varies with the id counts: do not fill the prepared-statement cache.
    let rows = query.persistent(false).fetch_all(pool).await?;
    rows.iter().map(entity_from_row).collect()
}

/// The watch poller's read: every watched id, one statement per poll (split only past
/// [`MAX_IDS_PER_STATEMENT`] ids). Each statement executed increments `counter`.
#[instrument(skip(pool, ids, counter), fields(ids = ids.len()))]
pub async fn poll(
    pool: &AnyPool,
    ids: &IdsByKind,
    counter: &AtomicU64,
) -> Result<Vec<EntityRow>, sqlx::Error> {
    let mut out = Vec::new();
    for chunk in chunks(ids, MAX_IDS_PER_STATEMENT) {
        counter.fetch_add(1, Ordering::Relaxed);
        out.extend(snapshots(pool, &chunk).await?);
    }
    Ok(out)
}

/// Splits ids into groups of at most `max` (one group when they fit).
fn chunks(ids: &IdsByKind, max: usize) -> Vec<IdsByKind> {
    let tagged = ids
        .sessions
        .iter()
        .map(|i| (EntityKind::BrowserSession, i))
        .chain(ids.tasks.iter().map(|i| (EntityKind::Task, i)))
        .chain(ids.runs.iter().map(|i| (EntityKind::WorkflowRun, i)))
        .collect::<Vec<_>>();
    tagged
        .chunks(max.max(1))
        .map(|group| {
            let mut chunk = IdsByKind::default();
            for (kind, id) in group {
                chunk.of_mut(*kind).push((*id).clone());
            }
            chunk
        })
        .collect()
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
    let conditions = (0..pairs.len())
        .map(|i| format!("(organization_id = ${} AND id = ${})", 2 + 2 * i, 3 + 2 * i))
        .collect::<Vec<_>>()
        .join(" OR ");
    let sql = format!(
        "UPDATE browser_sessions SET last_activity_at = $1 \
         WHERE deleted_at IS NULL AND ({conditions})"
    );
    let mut query = sqlx::query(&sql).bind(now);
    for (org, id) in pairs {
        query = query.bind(org.as_str()).bind(id.as_str());
    }
    Ok(query.persistent(false).execute(pool).await?.rows_affected())
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
    fn the_snapshot_statement_numbers_placeholders_across_branches() {
        let sql = snapshot_sql(2, 1, 1);
        assert_eq!(sql.matches("UNION ALL").count(), 2);
        assert!(sql.contains("s.id IN ($1, $2)"));
        assert!(sql.contains("t.id IN ($3)"));
        assert!(sql.contains("r.id IN ($4)"));
    }

    #[test]
    fn ids_are_split_only_past_the_bound() {
        let ids = IdsByKind {
            sessions: vec!["pbs_1".into(); 3],
            tasks: vec!["tsk_1".into(); 2],
            runs: vec!["wr_1".into()],
        };
        assert_eq!(chunks(&ids, 10).len(), 1);
        let split = chunks(&ids, 4);
        assert_eq!(split.len(), 2);
        assert_eq!(split.iter().map(IdsByKind::len).sum::<usize>(), 6);
    }
}
