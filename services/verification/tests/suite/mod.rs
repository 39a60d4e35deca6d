//! The integration suite, written once and generic over the database: each `pub async fn`
//! takes a fresh [`TestDb`]; `suite!(maker)` instantiates every one as a `#[tokio::test]`.
#![allow(dead_code)]

pub mod activity;
pub mod auth;
pub mod batched;
pub mod links;
pub mod verify;
pub mod watch;

use proto::verification::v1 as pb;
use tonic::Code;

use crate::common::TestApp;

/// Instantiates every suite test for one database maker (`async fn() -> Option<TestDb>`).
#[macro_export]
macro_rules! suite {
    ($maker:path; $($module:ident :: $test:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $test() {
                let Some(db) = $maker().await else { return };
                $crate::suite::$module::$test(db).await;
            }
        )*
    };
}

/// Every suite test, for both instantiations.
#[macro_export]
macro_rules! all_suite_tests {
    ($maker:path) => {
        $crate::suite!($maker;
            auth::api_keys_authenticate_until_revoked,
            auth::bearer_tokens_need_the_secret_and_an_unexpired_exp,
            auth::authenticate_without_a_credential_is_invalid_argument,
            auth::a_ticket_opens_exactly_once_and_names_its_entity_and_scope,
            auth::an_expired_ticket_is_refused,
            auth::tickets_are_minted_only_for_entities_of_the_organization,
            auth::the_service_token_is_required_when_configured,
            auth::concurrent_uses_of_one_ticket_let_exactly_one_through,
            links::a_link_mints_tickets_of_its_scope_until_revoked_and_check_revoked_names_it,
            links::tickets_minted_with_an_api_key_are_revoked_with_it,
            links::links_are_bounded_and_scoped_to_their_organization,
            verify::a_provisioned_running_session_is_live_with_its_addresses,
            verify::an_unprovisioned_session_is_not_ready_at_once,
            verify::final_deleted_and_expired_sessions_are_not_live,
            activity::activity_extends_a_session_lifetime,
            verify::another_organizations_entity_is_not_found_like_a_missing_one,
            verify::malformed_ids_are_invalid_argument,
            verify::a_task_finds_its_session_directly_by_runnable_or_through_its_run,
            verify::a_task_or_run_is_not_live_when_its_session_is_not,
            verify::workflow_runs_follow_their_live_statuses,
            activity::record_activity_touches_only_the_callers_sessions,
            activity::health_and_reflection_are_served,
            watch::an_ended_entity_is_reported_once_to_every_watching_stream,
            watch::a_removed_entity_is_not_reported,
            watch::watching_another_organizations_entity_reports_not_found,
            watch::a_malformed_add_ends_the_stream_with_invalid_argument,
            watch::the_poller_runs_one_query_per_interval_for_1_and_1000_entities,
            watch::watch_streams_end_unavailable_when_the_service_shuts_down,
            batched::one_poll_statement_reads_twelve_thousand_watched_ids_of_three_kinds,
            batched::activity_and_revocation_lists_of_ten_thousand_are_answered_exactly,
        );
    };
}

/// Asserts a gRPC call failed with `code`, and returns its message.
pub fn expect_code<T: std::fmt::Debug>(result: Result<T, tonic::Status>, code: Code) -> String {
    match result {
        Ok(value) => panic!("expected {code:?}, got Ok({value:?})"),
        Err(status) => {
            assert_eq!(status.code(), code, "message: {}", status.message());
            status.message().to_owned()
        }
    }
}

/// An entity reference on the wire.
pub fn entity(kind: pb::EntityKind, id: &str) -> pb::EntityRef {
    pb::EntityRef {
        kind: kind as i32,
        id: id.into(),
    }
}

/// A running, fully provisioned session of `org`.
pub async fn live_session(app: &TestApp, org: &str) -> String {
    let mut new = verification::NewBrowserSession::new(org);
    new.cdp_url = Some("http://127.0.0.1:9222".into());
    new.vnc_url = Some("tcp://127.0.0.1:5900".into());
    app.admin
        .create_browser_session(new)
        .await
        .expect("session")
}

/// A live session of `org`, a running task on it and a running workflow run on it.
pub async fn live_session_task_and_run(app: &TestApp, org: &str) -> (String, String, String) {
    let session = live_session(app, org).await;
    let task = app
        .admin
        .create_task(org, Some(&session), None, "running")
        .await
        .expect("task");
    let run = app
        .admin
        .create_workflow_run(org, Some(&session), "running")
        .await
        .expect("run");
    (session, task, run)
}

/// VerifyBrowserSession.
pub async fn verify_session(
    app: &TestApp,
    org: &str,
    id: &str,
    require_vnc: bool,
) -> Result<pb::VerifyResponse, tonic::Status> {
    let request = pb::VerifyBrowserSessionRequest {
        organization_id: org.into(),
        browser_session_id: id.into(),
        require_vnc,
    };
    app.client()
        .verify_browser_session(request)
        .await
        .map(|r| r.into_inner())
}

/// VerifyTask.
pub async fn verify_task(
    app: &TestApp,
    org: &str,
    id: &str,
) -> Result<pb::VerifyResponse, tonic::Status> {
    let request = pb::VerifyTaskRequest {
        organization_id: org.into(),
        task_id: id.into(),
        require_vnc: true,
    };
    app.client()
        .verify_task(request)
        .await
        .map(|r| r.into_inner())
}

/// VerifyWorkflowRun.
pub async fn verify_run(
    app: &TestApp,
    org: &str,
    id: &str,
) -> Result<pb::VerifyResponse, tonic::Status> {
    let request = pb::VerifyWorkflowRunRequest {
        organization_id: org.into(),
        workflow_run_id: id.into(),
        require_vnc: true,
    };
    app.client()
        .verify_workflow_run(request)
        .await
        .map(|r| r.into_inner())
}

/// The verdict and reason of an answer.
pub fn verdict_of(response: &pb::VerifyResponse) -> (pb::Verdict, &str) {
    (response.verdict(), response.reason.as_str())
}
