//! RecordActivity, and the standard services: health and reflection.

use pb::Verdict::{Live, NotLive};
use proto::verification::v1 as pb;
use tonic::Code;
use verification::NewBrowserSession;

use super::{expect_code, live_session, verdict_of, verify_session};
use crate::common::{TestApp, TestDb};

const MIN: i64 = 60_000;

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

pub async fn activity_extends_a_session_lifetime(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let org = app.admin.create_org("acme").await.unwrap();
    let mut new = NewBrowserSession::new(&org);
    new.cdp_url = Some("http://127.0.0.1:9222".into());
    new.timeout_minutes = Some(10);
    let id = app.admin.create_browser_session(new).await.unwrap();
    app.admin
        .set_session_times(&id, now_ms() - 11 * MIN, None)
        .await
        .unwrap();
    assert_eq!(
        verdict_of(&verify_session(&app, &org, &id, false).await.unwrap()),
        (NotLive, "expired")
    );
    let request = pb::RecordActivityRequest {
        sessions: vec![pb::SessionActivity {
            organization_id: org.clone(),
            browser_session_id: id.clone(),
        }],
    };
    assert_eq!(
        app.client()
            .record_activity(request)
            .await
            .unwrap()
            .into_inner()
            .updated,
        1
    );
    let answer = verify_session(&app, &org, &id, false).await.unwrap();
    assert_eq!(verdict_of(&answer), (Live, ""));
    assert!(answer.browser_session.unwrap().last_activity_at.is_some());
}

pub async fn record_activity_touches_only_the_callers_sessions(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let acme = app.admin.create_org("acme").await.unwrap();
    let other = app.admin.create_org("other").await.unwrap();
    let mine = live_session(&app, &acme).await;
    let theirs = live_session(&app, &other).await;
    let activity = |org: &str, id: &str| pb::SessionActivity {
        organization_id: org.into(),
        browser_session_id: id.into(),
    };
    let request = pb::RecordActivityRequest {
        sessions: vec![
            activity(&acme, &mine),
            activity(&acme, &theirs),
            activity(&acme, "pbs_unknown"),
            activity(&acme, &mine),
        ],
    };
    assert_eq!(
        app.client()
            .record_activity(request)
            .await
            .unwrap()
            .into_inner()
            .updated,
        1
    );
    let untouched = verify_session(&app, &other, &theirs, false).await.unwrap();
    assert!(untouched
        .browser_session
        .unwrap()
        .last_activity_at
        .is_none());
    let bad = pb::RecordActivityRequest {
        sessions: vec![activity(&acme, "tsk_1")],
    };
    expect_code(
        app.client().record_activity(bad).await,
        Code::InvalidArgument,
    );
    let too_many = pb::RecordActivityRequest {
        sessions: vec![activity(&acme, &mine); 10_001],
    };
    expect_code(
        app.client().record_activity(too_many).await,
        Code::InvalidArgument,
    );
}

pub async fn health_and_reflection_are_served(db: TestDb) {
    use tonic_health::pb::{health_client::HealthClient, HealthCheckRequest};
    let app = TestApp::spawn(&db).await;
    let channel = crate::common::channel(app.addr).await;
    let mut health = HealthClient::new(channel);
    let service = "browserstream.verification.v1.Verification".to_owned();
    let answer = health
        .check(HealthCheckRequest { service })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        answer.status(),
        tonic_health::pb::health_check_response::ServingStatus::Serving
    );
    crate::reflection::assert_lists_verification(app.addr).await;
}
