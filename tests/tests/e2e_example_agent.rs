//! The example agent (`examples/agent/handoff_agent.py`, Python grpcio with stubs generated
//! from `proto/`) against the whole stack and a real browser node: it navigates the browser
//! through the cdp-executor, asks for help with `RequestHandoff`, and continues once a person
//! (here a Message-channel client, as the viewer page is) took control and pressed Done.
//! Without the Python environment or the browser parts the test skips, or fails under
//! `BROWSER_STREAM_REQUIRE_ALL=1`.

use std::path::Path;

use integration_tests::e2e::{parts_or_skip, Stack, E2E_WAIT};
use integration_tests::message::{path, MessageClient};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_agent_asks_for_help_and_continues_after_done() {
    if !parts_or_skip() {
        return;
    }
    let stack = Stack::start().await.expect("stack starts");
    let session = stack.live_session().await.expect("browser node");
    let destination = format!("{}?step=checkout", session.page.url());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/agent/handoff_agent.py");
    let args: Vec<String> = vec![
        "--gateway".into(),
        stack.gateway.grpc_addr.to_string(),
        "--executor".into(),
        stack.executor_addr.to_string(),
        "--organization".into(),
        stack.org_id.clone(),
        "--session".into(),
        session.id.clone(),
        "--url".into(),
        destination.clone(),
        "--instructions".into(),
        "Confirm the purchase".into(),
        "--timeout".into(),
        "60".into(),
    ];
    let agent = tokio::task::spawn_blocking(move || {
        let args: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_ref()).collect();
        test_kit::standard_client::run_script_expecting(script, &args, "outcome: DONE")
    });

    // The person, on the Message channel.
    let url = stack.gateway.ws_url(
        &path("browser_session", &session.id),
        &format!("client_id=person&apikey={}", stack.api_key),
    );
    let mut person = MessageClient::connect(&url).await;
    let requested = person
        .next_of_kind_within("handoff-requested", E2E_WAIT)
        .await
        .expect("the agent asked for help");
    assert_eq!(requested["instructions"], "Confirm the purchase");
    person.send(json!({"kind": "take-control"})).await;
    loop {
        if person.next_of_kind("control-state").await["interactor"] == "user" {
            break;
        }
    }
    person
        .send(json!({"kind": "handoff-complete", "handoff_id": requested["handoff_id"], "success": true, "note": "purchase confirmed"}))
        .await;

    let Some(stdout) = agent.await.expect("agent thread") else {
        // No Python environment: skipped (or failed under BROWSER_STREAM_REQUIRE_ALL).
        return;
    };
    assert!(
        stdout.contains(&format!("navigated to {destination}")),
        "{stdout}"
    );
    assert!(stdout.contains("resolved by viewer person"), "{stdout}");
    assert!(
        stdout.contains("note from the person: purchase confirmed"),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "control is with the agent; continuing on {destination}"
        )),
        "{stdout}"
    );
    session.stop().await;
    stack.shutdown().await;
}
