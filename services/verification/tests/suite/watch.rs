//! Watch: one event per ended entity to every watching stream, within about one poll interval,
//! and one batched query per interval whatever the number of watched entities.

use pb::watch_request::Change;
use proto::verification::v1 as pb;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Code, Streaming};
use verification::domain::EntityKind;

use super::{entity, live_session};
use crate::common::{eventually, TestApp, TestDb};

/// A Watch stream: the request sender and the event stream.
struct Watcher {
    requests: mpsc::Sender<pb::WatchRequest>,
    events: Streaming<pb::WatchEvent>,
}

impl Watcher {
    async fn open(app: &TestApp) -> Self {
        let (requests, rx) = mpsc::channel(2048);
        let events = app
            .client()
            .watch(ReceiverStream::new(rx))
            .await
            .unwrap()
            .into_inner();
        Self { requests, events }
    }

    async fn send(&self, change: Change) {
        self.requests
            .send(pb::WatchRequest {
                change: Some(change),
            })
            .await
            .unwrap();
    }

    async fn next(&mut self) -> Result<Option<pb::WatchEvent>, tonic::Status> {
        tokio::time::timeout(std::time::Duration::from_secs(30), self.events.message())
            .await
            .expect("an event within 30 s")
    }
}

fn watched(org: &str, kind: pb::EntityKind, id: &str) -> pb::WatchedEntity {
    pb::WatchedEntity {
        organization_id: org.into(),
        entity: Some(entity(kind, id)),
    }
}

pub async fn an_ended_entity_is_reported_once_to_every_watching_stream(db: TestDb) {
    // Arrange: two streams watch one session; one also watches a task on it.
    let mut app = TestApp::spawn(&db).await;
    let org = app.admin.create_org("acme").await.unwrap();
    let session = live_session(&app, &org).await;
    let task = app
        .admin
        .create_task(&org, Some(&session), None, "running")
        .await
        .unwrap();
    let mut a = Watcher::open(&app).await;
    let mut b = Watcher::open(&app).await;
    a.send(Change::Add(watched(
        &org,
        pb::EntityKind::BrowserSession,
        &session,
    )))
    .await;
    b.send(Change::Add(watched(
        &org,
        pb::EntityKind::BrowserSession,
        &session,
    )))
    .await;
    b.send(Change::Add(watched(&org, pb::EntityKind::Task, &task)))
        .await;
    let registry = app.registry.clone();
    eventually("both entities watched", || registry.len() == 2).await;
    app.wait_cycles(2).await;
    // Act: the operator ends the session.
    app.admin
        .set_status(EntityKind::BrowserSession, &session, "completed")
        .await
        .unwrap();
    let before = *app.stats.borrow();
    // Assert: each stream hears about it once, within about one poll interval.
    let event = a.next().await.unwrap().unwrap();
    let after = *app.stats.borrow();
    assert!(
        after.cycles - before.cycles <= 2,
        "reported within ~1 interval: {before:?} → {after:?}"
    );
    assert_eq!(
        event.entity.clone().unwrap(),
        watched(&org, pb::EntityKind::BrowserSession, &session)
    );
    assert_eq!(
        (event.verdict(), event.reason.as_str()),
        (pb::Verdict::NotLive, "final-status")
    );
    let mut reasons = vec![];
    for _ in 0..2 {
        let event = b.next().await.unwrap().unwrap();
        reasons.push((event.entity.unwrap().entity.unwrap().kind(), event.reason));
    }
    reasons.sort();
    assert_eq!(
        reasons,
        vec![
            (pb::EntityKind::BrowserSession, "final-status".to_owned()),
            (pb::EntityKind::Task, "browser-session-not-live".to_owned()),
        ]
    );
    assert!(app.registry.is_empty(), "ended entities are forgotten");
    app.wait_cycles(3).await;
    let quiet =
        tokio::time::timeout(std::time::Duration::from_millis(300), a.events.message()).await;
    assert!(quiet.is_err(), "no second event: {quiet:?}");
}

pub async fn a_removed_entity_is_not_reported(db: TestDb) {
    let mut app = TestApp::spawn(&db).await;
    let org = app.admin.create_org("acme").await.unwrap();
    let kept = live_session(&app, &org).await;
    let removed = live_session(&app, &org).await;
    let mut w = Watcher::open(&app).await;
    w.send(Change::Add(watched(
        &org,
        pb::EntityKind::BrowserSession,
        &removed,
    )))
    .await;
    w.send(Change::Add(watched(
        &org,
        pb::EntityKind::BrowserSession,
        &kept,
    )))
    .await;
    w.send(Change::Remove(watched(
        &org,
        pb::EntityKind::BrowserSession,
        &removed,
    )))
    .await;
    let registry = app.registry.clone();
    eventually("one entity watched", || registry.len() == 1).await;
    app.admin
        .set_status(EntityKind::BrowserSession, &removed, "failed")
        .await
        .unwrap();
    app.wait_cycles(3).await;
    app.admin
        .set_status(EntityKind::BrowserSession, &kept, "timeout")
        .await
        .unwrap();
    let event = w.next().await.unwrap().unwrap();
    assert_eq!(event.entity.unwrap().entity.unwrap().id, kept);
}

pub async fn watching_another_organizations_entity_reports_not_found(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let acme = app.admin.create_org("acme").await.unwrap();
    let other = app.admin.create_org("other").await.unwrap();
    let session = live_session(&app, &acme).await;
    let mut w = Watcher::open(&app).await;
    w.send(Change::Add(watched(
        &other,
        pb::EntityKind::BrowserSession,
        &session,
    )))
    .await;
    let event = w.next().await.unwrap().unwrap();
    assert_eq!(
        (event.verdict(), event.reason.as_str()),
        (pb::Verdict::NotLive, "not-found")
    );
}

pub async fn a_malformed_add_ends_the_stream_with_invalid_argument(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let org = app.admin.create_org("acme").await.unwrap();
    let mut w = Watcher::open(&app).await;
    w.send(Change::Add(watched(
        &org,
        pb::EntityKind::BrowserSession,
        "tsk_wrong",
    )))
    .await;
    let status = w.next().await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
}

/// Watches `n` live sessions and counts poll statements over 10 poll cycles.
async fn queries_over_ten_cycles(db: &TestDb, n: usize) -> (u64, u64) {
    let mut app = TestApp::spawn_with(db, |c| {
        c.poll_interval = std::time::Duration::from_millis(50)
    })
    .await;
    let org = app.admin.create_org("acme").await.unwrap();
    let w = Watcher::open(&app).await;
    for _ in 0..n {
        let id = live_session(&app, &org).await;
        w.send(Change::Add(watched(
            &org,
            pb::EntityKind::BrowserSession,
            &id,
        )))
        .await;
    }
    let registry = app.registry.clone();
    eventually("all entities watched", || registry.len() == n).await;
    app.wait_cycles(1).await;
    let start = *app.stats.borrow();
    let end = app.wait_cycles(10).await;
    assert_eq!(
        app.registry.len(),
        n,
        "every session stayed live (no event dropped one)"
    );
    (end.cycles - start.cycles, end.queries - start.queries)
}

pub async fn the_poller_runs_one_query_per_interval_for_1_and_1000_entities(db: TestDb) {
    let (cycles_1, queries_1) = queries_over_ten_cycles(&db, 1).await;
    let (cycles_1000, queries_1000) = queries_over_ten_cycles(&db, 1000).await;
    println!("watch poll: 1 entity: {queries_1} queries / {cycles_1} intervals; 1000 entities: {queries_1000} queries / {cycles_1000} intervals");
    assert_eq!(queries_1, cycles_1);
    assert_eq!(queries_1000, cycles_1000);
    // Normalised to the same number of intervals, the counts are identical.
    assert_eq!(queries_1 * cycles_1000, queries_1000 * cycles_1);
}

pub async fn watch_streams_end_unavailable_when_the_service_shuts_down(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let org = app.admin.create_org("acme").await.unwrap();
    let session = live_session(&app, &org).await;
    let mut w = Watcher::open(&app).await;
    w.send(Change::Add(watched(
        &org,
        pb::EntityKind::BrowserSession,
        &session,
    )))
    .await;
    let registry = app.registry.clone();
    eventually("entity watched", || registry.len() == 1).await;
    let stopping = tokio::spawn(app.stop());
    let status = w.next().await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    tokio::time::timeout(std::time::Duration::from_secs(30), stopping)
        .await
        .unwrap()
        .unwrap();
}
