//! End-to-end: the agent requests a handoff through the gateway's control gRPC and a person
//! answers it in the viewer page (real headless Chromium, the whole stack and a browser node):
//! the banner shows the instructions and the time left, "Take control" accepts, "Done" with a
//! note ends it, and the agent gets `DONE` with the note and the page's client id. Leaves
//! `artifacts/handoff.png` (the banner, in control, before Done).

use std::time::Duration;

use integration_tests::e2e::{artifacts_dir, parts_or_skip, ViewerRun, E2E_WAIT, PAGE_STATE};
use proto::control::v1 as pb;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_answers_the_agents_request_for_help_in_the_viewer() {
    if !parts_or_skip() {
        return;
    }
    let run = ViewerRun::start(true)
        .await
        .expect("stack and viewer start");
    let text = |id: &str| format!("document.getElementById('{id}').textContent");
    assert_eq!(
        run.viewer.eval(&text("control-text")).await.unwrap(),
        "The agent is operating"
    );
    let mut agent = pb::control_client::ControlClient::connect(format!(
        "http://{}",
        run.stack.gateway.grpc_addr
    ))
    .await
    .expect("control listener");
    let request = pb::RequestHandoffRequest {
        organization_id: run.stack.org_id.clone(),
        browser_session_id: run.session.id.clone(),
        instructions: "Please accept the cookie banner".into(),
        timeout: Some(Duration::from_secs(120).try_into().unwrap()),
        handoff_id: String::new(),
    };
    let call = tokio::spawn(async move { agent.request_handoff(request).await });

    run.viewer
        .wait_until(
            "document.body.dataset.handoff === 'open'",
            "the handoff banner",
            E2E_WAIT,
            PAGE_STATE,
        )
        .await
        .expect("banner shown");
    assert_eq!(
        run.viewer
            .eval(&text("handoff-instructions"))
            .await
            .unwrap(),
        "Please accept the cookie banner"
    );
    let left = run.viewer.eval(&text("handoff-time-left")).await.unwrap();
    assert!(
        ["2:00", "1:59", "1:58"].contains(&left.as_str().unwrap()),
        "time left {left}"
    );
    assert_eq!(
        run.viewer.eval(&text("control-text")).await.unwrap(),
        "The agent is waiting for your help"
    );
    // Done needs control first.
    assert_eq!(
        run.viewer
            .eval("document.getElementById('handoff-done').disabled")
            .await
            .unwrap(),
        true
    );
    run.viewer.click("#handoff-take").await.expect("take");
    run.viewer
        .wait_until(
            "document.body.dataset.control === 'user' && !document.getElementById('handoff-done').disabled",
            "control, with Done enabled",
            E2E_WAIT,
            PAGE_STATE,
        )
        .await
        .expect("control taken from the banner");
    run.viewer
        .eval("(() => { document.getElementById('handoff-note').value = 'banner accepted'; return true; })()")
        .await
        .unwrap();
    run.viewer
        .screenshot(&artifacts_dir().join("handoff.png"))
        .await
        .expect("screenshot");
    run.viewer.click("#handoff-done").await.expect("done");

    let result = tokio::time::timeout(E2E_WAIT, call)
        .await
        .expect("the agent's call answers")
        .unwrap()
        .expect("RequestHandoff")
        .into_inner();
    assert_eq!(result.outcome, pb::HandoffOutcome::Done as i32);
    assert_eq!(result.note, "banner accepted");
    let client_id = run.viewer.eval(&text("client-id")).await.unwrap();
    assert_eq!(result.resolved_by, client_id.as_str().unwrap());
    run.viewer
        .wait_until(
            "document.body.dataset.handoff === 'none' && document.body.dataset.control === 'agent'",
            "the banner gone and control back with the agent",
            E2E_WAIT,
            PAGE_STATE,
        )
        .await
        .expect("ended in the page");
    run.stop().await;
}
