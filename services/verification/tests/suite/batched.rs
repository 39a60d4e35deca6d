//! The store's batched reads and writes: a list of any length is one statement.

use std::sync::atomic::{AtomicU64, Ordering};

use sqlx::AnyPool;
use verification::store::entities::{self, IdsByKind};
use verification::store::{self, links, PoolSettings};

use super::{live_session, live_session_task_and_run};
use crate::common::{TestApp, TestDb};

/// `count` ids of `prefix` that no row has (one with a quote, which the JSON must escape).
fn missing(prefix: &str, count: usize) -> Vec<String> {
    let mut ids: Vec<String> = (0..count).map(|i| format!("{prefix}_missing{i}")).collect();
    ids[0] = format!("{prefix}_\"quoted");
    ids
}

/// A service on `db` (it migrates the database) and a pool of the store's own.
async fn app_and_pool(db: &TestDb) -> (TestApp, AnyPool) {
    let app = TestApp::spawn(db).await;
    let pool = store::connect(&db.url, &PoolSettings::default())
        .await
        .expect("pool");
    (app, pool)
}

pub async fn one_poll_statement_reads_twelve_thousand_watched_ids_of_three_kinds(db: TestDb) {
    let (app, pool) = app_and_pool(&db).await;
    let org = app.admin.create_org("acme").await.unwrap();
    let (session, task, run) = live_session_task_and_run(&app, &org).await;
    let mut ids = IdsByKind {
        sessions: missing("pbs", 4_000),
        tasks: missing("tsk", 4_000),
        runs: missing("wr", 4_000),
    };
    ids.sessions.push(session.clone());
    ids.tasks.insert(2_000, task.clone());
    ids.runs.insert(0, run.clone());
    let statements = AtomicU64::new(0);
    let rows = entities::poll(&pool, &ids, &statements).await.unwrap();
    assert_eq!(statements.load(Ordering::Relaxed), 1, "one statement");
    let mut found: Vec<(String, Option<String>)> = rows
        .into_iter()
        .map(|row| (row.id, row.session.map(|s| s.id)))
        .collect();
    found.sort();
    let mut expected = vec![
        (session.clone(), Some(session.clone())),
        (task, Some(session.clone())),
        (run, Some(session)),
    ];
    expected.sort();
    assert_eq!(found, expected, "exactly the three rows that exist");
}

pub async fn activity_and_revocation_lists_of_ten_thousand_are_answered_exactly(db: TestDb) {
    let (app, pool) = app_and_pool(&db).await;
    let org = app.admin.create_org("acme").await.unwrap();
    let other = app.admin.create_org("other").await.unwrap();
    let session = live_session(&app, &org).await;
    let mut pairs: Vec<(String, String)> = missing("pbs", 9_998)
        .into_iter()
        .map(|id| (org.clone(), id))
        .collect();
    pairs.push((other, session.clone()));
    pairs.push((org, session));
    let updated = entities::record_activity(&pool, &pairs, store::now_ms())
        .await
        .unwrap();
    assert_eq!(updated, 1, "only the caller's own session moves");

    let ids = missing("lnk", 10_000);
    let revoked = links::revoked_links(&pool, &ids).await.unwrap();
    assert_eq!(revoked, ids, "links that do not exist are all named");
}
