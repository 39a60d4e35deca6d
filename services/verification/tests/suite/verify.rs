//! VerifyBrowserSession, VerifyTask, VerifyWorkflowRun.

use pb::Verdict::{Live, NotLive, NotReady};
use proto::verification::v1 as pb;
use tonic::Code;
use verification::domain::EntityKind;
use verification::NewBrowserSession;

use super::{
    expect_code, live_session, live_session_task_and_run, verdict_of, verify_run, verify_session,
    verify_task,
};
use crate::common::{TestApp, TestDb};

const MIN: i64 = 60_000;

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

pub async fn a_provisioned_running_session_is_live_with_its_addresses(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let org = app.admin.create_org("acme").await.unwrap();
    let id = live_session(&app, &org).await;
    let answer = verify_session(&app, &org, &id, true).await.unwrap();
    assert_eq!(verdict_of(&answer), (Live, ""));
    assert_eq!(answer.entity_status, "running");
    let session = answer.browser_session.unwrap();
    assert_eq!(
        (session.id.as_str(), session.organization_id.as_str()),
        (id.as_str(), org.as_str())
    );
    assert_eq!(session.cdp_url, "http://127.0.0.1:9222");
    assert_eq!(session.vnc_url, "tcp://127.0.0.1:5900");
    assert!(session.started_at.is_some());
}

pub async fn an_unprovisioned_session_is_not_ready_at_once(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let org = app.admin.create_org("acme").await.unwrap();
    let id = app
        .admin
        .create_browser_session(NewBrowserSession::new(&org))
        .await
        .unwrap();
    let answer = verify_session(&app, &org, &id, false).await.unwrap();
    assert_eq!(verdict_of(&answer), (NotReady, "no-cdp-address"));
    assert_eq!(answer.browser_session.unwrap().id, id);
    app.admin
        .update_browser_session(&id, None, Some("http://127.0.0.1:9222"), None)
        .await
        .unwrap();
    assert_eq!(
        verdict_of(&verify_session(&app, &org, &id, false).await.unwrap()),
        (Live, "")
    );
    let vnc = verify_session(&app, &org, &id, true).await.unwrap();
    assert_eq!(verdict_of(&vnc), (NotReady, "no-vnc-address"));
    app.admin
        .update_browser_session(&id, None, None, Some("10.0.0.7:9222"))
        .await
        .unwrap();
    assert_eq!(
        verdict_of(&verify_session(&app, &org, &id, true).await.unwrap()),
        (Live, "")
    );
}

pub async fn final_deleted_and_expired_sessions_are_not_live(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let org = app.admin.create_org("acme").await.unwrap();
    for status in ["completed", "failed", "timeout"] {
        let id = live_session(&app, &org).await;
        app.admin
            .set_status(EntityKind::BrowserSession, &id, status)
            .await
            .unwrap();
        let answer = verify_session(&app, &org, &id, false).await.unwrap();
        assert_eq!(verdict_of(&answer), (NotLive, "final-status"), "{status}");
        assert_eq!(answer.entity_status, status);
    }
    let deleted = live_session(&app, &org).await;
    app.admin.delete_browser_session(&deleted).await.unwrap();
    assert_eq!(
        verdict_of(&verify_session(&app, &org, &deleted, false).await.unwrap()),
        (NotLive, "deleted")
    );

    let mut new = NewBrowserSession::new(&org);
    new.cdp_url = Some("http://127.0.0.1:9222".into());
    new.timeout_minutes = Some(10);
    let timed = app.admin.create_browser_session(new).await.unwrap();
    app.admin
        .set_session_times(&timed, now_ms() - 11 * MIN, None)
        .await
        .unwrap();
    assert_eq!(
        verdict_of(&verify_session(&app, &org, &timed, false).await.unwrap()),
        (NotLive, "expired")
    );
    let capped = live_session(&app, &org).await;
    app.admin
        .set_session_times(&capped, now_ms() - 241 * MIN, Some(now_ms()))
        .await
        .unwrap();
    assert_eq!(
        verdict_of(&verify_session(&app, &org, &capped, false).await.unwrap()),
        (NotLive, "expired")
    );
}

pub async fn another_organizations_entity_is_not_found_like_a_missing_one(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let acme = app.admin.create_org("acme").await.unwrap();
    let other = app.admin.create_org("other").await.unwrap();
    let (session, task, run) = live_session_task_and_run(&app, &acme).await;
    let theirs = expect_code(
        verify_session(&app, &other, &session, false).await,
        Code::NotFound,
    );
    let missing = expect_code(
        verify_session(&app, &other, "pbs_missing", false).await,
        Code::NotFound,
    );
    assert_eq!(theirs, missing);
    assert_eq!(
        expect_code(verify_task(&app, &other, &task).await, Code::NotFound),
        expect_code(
            verify_task(&app, &other, "tsk_missing").await,
            Code::NotFound
        )
    );
    expect_code(verify_run(&app, &other, &run).await, Code::NotFound);
    assert_eq!(
        verify_run(&app, &acme, &run).await.unwrap().verdict(),
        pb::Verdict::Live
    );
}

pub async fn malformed_ids_are_invalid_argument(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let org = app.admin.create_org("acme").await.unwrap();
    let long = format!("pbs_{}", "a".repeat(200));
    for bad in ["", "tsk_1", "pbs_a b", "pbs_x'--", long.as_str()] {
        let message = expect_code(
            verify_session(&app, &org, bad, false).await,
            Code::InvalidArgument,
        );
        assert!(
            message.len() < 100 && !message.contains("SELECT"),
            "{message}"
        );
    }
    expect_code(verify_task(&app, &org, "wr_1").await, Code::InvalidArgument);
    expect_code(verify_run(&app, &org, "tsk_1").await, Code::InvalidArgument);
    expect_code(
        verify_session(&app, "", "pbs_1", false).await,
        Code::InvalidArgument,
    );
}

pub async fn a_task_finds_its_session_directly_by_runnable_or_through_its_run(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let org = app.admin.create_org("acme").await.unwrap();
    // Directly.
    let direct = live_session(&app, &org).await;
    let task = app
        .admin
        .create_task(&org, Some(&direct), None, "running")
        .await
        .unwrap();
    let answer = verify_task(&app, &org, &task).await.unwrap();
    assert_eq!(
        (
            verdict_of(&answer),
            answer.browser_session.clone().unwrap().id
        ),
        ((Live, ""), direct)
    );
    // By the session's runnable_id.
    let task = app
        .admin
        .create_task(&org, None, None, "queued")
        .await
        .unwrap();
    assert_eq!(
        verdict_of(&verify_task(&app, &org, &task).await.unwrap()),
        (NotReady, "no-browser-session")
    );
    let mut new = NewBrowserSession::new(&org);
    new.cdp_url = Some("http://127.0.0.1:9222".into());
    new.vnc_url = Some("ws://127.0.0.1:6080".into());
    new.runnable_id = Some(task.clone());
    let occupied = app.admin.create_browser_session(new).await.unwrap();
    let answer = verify_task(&app, &org, &task).await.unwrap();
    assert_eq!(
        (
            verdict_of(&answer),
            answer.browser_session.clone().unwrap().id
        ),
        ((Live, ""), occupied.clone())
    );
    // Through the workflow run it belongs to: the run's session, or the one the run occupies.
    let run_session = live_session(&app, &org).await;
    let run = app
        .admin
        .create_workflow_run(&org, Some(&run_session), "running")
        .await
        .unwrap();
    let task = app
        .admin
        .create_task(&org, None, Some(&run), "running")
        .await
        .unwrap();
    let answer = verify_task(&app, &org, &task).await.unwrap();
    assert_eq!(
        (
            verdict_of(&answer),
            answer.browser_session.clone().unwrap().id
        ),
        ((Live, ""), run_session)
    );
    let run = app
        .admin
        .create_workflow_run(&org, None, "running")
        .await
        .unwrap();
    let mut new = NewBrowserSession::new(&org);
    new.cdp_url = Some("http://127.0.0.1:9222".into());
    new.vnc_url = Some("tcp://127.0.0.1:5901".into());
    new.runnable_id = Some(run.clone());
    let by_run = app.admin.create_browser_session(new).await.unwrap();
    let task = app
        .admin
        .create_task(&org, None, Some(&run), "running")
        .await
        .unwrap();
    let answer = verify_task(&app, &org, &task).await.unwrap();
    assert_eq!(
        (
            verdict_of(&answer),
            answer.browser_session.clone().unwrap().id
        ),
        ((Live, ""), by_run)
    );
}

pub async fn a_task_or_run_is_not_live_when_its_session_is_not(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let org = app.admin.create_org("acme").await.unwrap();
    let session = live_session(&app, &org).await;
    let task = app
        .admin
        .create_task(&org, Some(&session), None, "running")
        .await
        .unwrap();
    let run = app
        .admin
        .create_workflow_run(&org, Some(&session), "running")
        .await
        .unwrap();
    app.admin
        .set_status(EntityKind::BrowserSession, &session, "completed")
        .await
        .unwrap();
    let answer = verify_task(&app, &org, &task).await.unwrap();
    assert_eq!(verdict_of(&answer), (NotLive, "browser-session-not-live"));
    assert_eq!(answer.entity_status, "running");
    assert_eq!(
        verdict_of(&verify_run(&app, &org, &run).await.unwrap()),
        (NotLive, "browser-session-not-live")
    );
    let done = app
        .admin
        .create_task(&org, None, None, "completed")
        .await
        .unwrap();
    assert_eq!(
        verdict_of(&verify_task(&app, &org, &done).await.unwrap()),
        (NotLive, "final-status")
    );
}

pub async fn workflow_runs_follow_their_live_statuses(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let org = app.admin.create_org("acme").await.unwrap();
    let session = live_session(&app, &org).await;
    let run = app
        .admin
        .create_workflow_run(&org, Some(&session), "paused")
        .await
        .unwrap();
    assert_eq!(
        verdict_of(&verify_run(&app, &org, &run).await.unwrap()),
        (Live, "")
    );
    for status in ["failed", "terminated", "canceled", "timed_out", "completed"] {
        app.admin
            .set_status(EntityKind::WorkflowRun, &run, status)
            .await
            .unwrap();
        let answer = verify_run(&app, &org, &run).await.unwrap();
        assert_eq!(
            (verdict_of(&answer), answer.entity_status.as_str()),
            ((NotLive, "final-status"), status)
        );
    }
    let unprovisioned = app
        .admin
        .create_workflow_run(&org, None, "created")
        .await
        .unwrap();
    assert_eq!(
        verdict_of(&verify_run(&app, &org, &unprovisioned).await.unwrap()),
        (NotReady, "no-browser-session")
    );
}
