//! Requested handoffs (PROTOCOL §5) through the real gateway: the agent's `RequestHandoff`
//! answered by a person on the Message channel, on one replica (in-memory bus) and across
//! two (real Redis), with every outcome, the scope and control gates, re-awaiting after a
//! reconnect, and `WatchHandoffs`.

use std::net::SocketAddr;
use std::time::Duration;

use integration_tests::bus::{bus_url, cluster, redis_url_or_skip};
use integration_tests::gateway::{http_request, WAIT};
use integration_tests::message::{path, MessageClient, MessageWorld};
use proto::control::v1 as pb;
use serde_json::{json, Value};
use tokio::task::JoinHandle;
use tonic::Code;

type Control = pb::control_client::ControlClient<tonic::transport::Channel>;
type Answer = Result<pb::HandoffResult, tonic::Status>;

async fn control(grpc: SocketAddr) -> Control {
    Control::connect(format!("http://{grpc}"))
        .await
        .expect("control listener")
}

fn request(
    org: &str,
    session: &str,
    instructions: &str,
    timeout: Duration,
) -> pb::RequestHandoffRequest {
    pb::RequestHandoffRequest {
        organization_id: org.into(),
        browser_session_id: session.into(),
        instructions: instructions.into(),
        timeout: Some(timeout.try_into().unwrap()),
        handoff_id: String::new(),
    }
}

/// Starts `RequestHandoff` in the background (it answers only when the handoff ends).
fn spawn_request(mut client: Control, request: pb::RequestHandoffRequest) -> JoinHandle<Answer> {
    tokio::spawn(async move {
        client
            .request_handoff(request)
            .await
            .map(|r| r.into_inner())
    })
}

async fn answer(call: JoinHandle<Answer>) -> pb::HandoffResult {
    tokio::time::timeout(WAIT, call)
        .await
        .expect("the handoff ended in time")
        .unwrap()
        .expect("RequestHandoff answered")
}

fn outcome(result: &pb::HandoffResult) -> pb::HandoffOutcome {
    pb::HandoffOutcome::try_from(result.outcome).unwrap()
}

/// Takes control on `messages` and waits until it is the user.
async fn take_control(messages: &mut MessageClient) {
    messages.send(json!({"kind": "take-control"})).await;
    loop {
        let state = messages.next_of_kind("control-state").await;
        if state["interactor"] == "user" {
            return;
        }
    }
}

fn complete(id: &Value, success: bool, note: &str) -> Value {
    json!({"kind": "handoff-complete", "handoff_id": id, "success": success, "note": note})
}

#[tokio::test]
async fn a_person_takes_control_completes_the_handoff_and_the_agent_gets_done_with_the_note() {
    let w = MessageWorld::start().await;
    let mut viewer = w.messages("alice").await;
    viewer.next_of_kind("control-state").await;
    let client = control(w.gateway.grpc_addr).await;
    let call = spawn_request(
        client.clone(),
        request(
            &w.org,
            &w.session,
            "Log in as the test user",
            Duration::from_secs(30),
        ),
    );
    let requested = viewer.next_of_kind("handoff-requested").await;
    assert_eq!(requested["instructions"], "Log in as the test user");
    assert!(requested["deadline"].as_str().unwrap().ends_with('Z'));
    let id = requested["handoff_id"].clone();

    // A viewer that connects while it is open is shown it too.
    let mut late = w.messages("bob").await;
    assert_eq!(
        late.next_of_kind("handoff-requested").await["handoff_id"],
        id
    );

    take_control(&mut viewer).await;
    viewer.send(complete(&id, true, "logged in")).await;
    let result = answer(call).await;
    assert_eq!(outcome(&result), pb::HandoffOutcome::Done);
    assert_eq!(result.note, "logged in");
    assert_eq!(result.resolved_by, "alice");
    assert_eq!(result.handoff_id, id.as_str().unwrap());
    assert!(result.duration.is_some());
    for socket in [&mut viewer, &mut late] {
        let ended = socket.next_of_kind("handoff-ended").await;
        assert_eq!(
            ended,
            json!({"kind": "handoff-ended", "handoff_id": id, "outcome": "DONE"})
        );
    }
    // Done hands control back to the agent.
    assert_eq!(
        viewer.next_of_kind("control-state").await,
        json!({"kind": "control-state", "interactor": "agent", "reason": "ceded"})
    );
    let state = client
        .clone()
        .get_control(pb::GetControlRequest {
            organization_id: w.org.clone(),
            browser_session_id: w.session.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(state.interactor, pb::Interactor::Agent as i32);
}

#[tokio::test]
async fn i_cant_do_this_is_declined() {
    let w = MessageWorld::start().await;
    let mut viewer = w.messages("alice").await;
    let call = spawn_request(
        control(w.gateway.grpc_addr).await,
        request(
            &w.org,
            &w.session,
            "Solve the captcha",
            Duration::from_secs(30),
        ),
    );
    let id = viewer.next_of_kind("handoff-requested").await["handoff_id"].clone();
    take_control(&mut viewer).await;
    viewer.send(complete(&id, false, "")).await;
    let result = answer(call).await;
    assert_eq!(outcome(&result), pb::HandoffOutcome::Declined);
    assert_eq!(result.resolved_by, "alice");
    assert_eq!(result.note, "");
}

#[tokio::test]
async fn only_the_controlling_client_of_a_control_credential_can_complete() {
    let w = MessageWorld::start().await;
    let mut watcher = w.messages("alice").await;
    let call = spawn_request(
        control(w.gateway.grpc_addr).await,
        request(&w.org, &w.session, "Confirm", Duration::from_secs(30)),
    );
    let id = watcher.next_of_kind("handoff-requested").await["handoff_id"].clone();
    // Not in control.
    watcher.send(complete(&id, true, "")).await;
    assert_eq!(
        watcher.next_of_kind("error").await,
        json!({"kind": "error", "failed_kind": "handoff-complete", "message": "control required"})
    );
    // A view ticket never completes (and never takes control).
    let ticket = view_ticket(&w).await;
    let url = w.gateway.ws_url(
        &path("browser_session", &w.session),
        &format!("client_id=viewer&ticket={ticket}"),
    );
    let mut view = MessageClient::connect(&url).await;
    assert_eq!(
        view.next_of_kind("handoff-requested").await["handoff_id"],
        id
    );
    view.send(complete(&id, true, "")).await;
    assert_eq!(
        view.next_of_kind("error").await,
        json!({"kind": "error", "failed_kind": "handoff-complete", "message": "view only"})
    );
    // The controller with a wrong id, or a note over the cap, gets an error; the handoff
    // stays open.
    take_control(&mut watcher).await;
    watcher.send(complete(&json!("other"), true, "")).await;
    assert_eq!(
        watcher.next_of_kind("error").await["message"],
        "No such open handoff."
    );
    watcher.send(complete(&id, true, &"n".repeat(2_001))).await;
    assert_eq!(
        watcher.next_of_kind("error").await["message"],
        "The note is at most 2000 characters."
    );
    assert!(!call.is_finished());
    watcher.send(complete(&id, true, "")).await;
    assert_eq!(outcome(&answer(call).await), pb::HandoffOutcome::Done);
}

#[tokio::test]
async fn a_deadline_with_a_viewer_is_timed_out_and_without_one_no_viewer() {
    let w = MessageWorld::start().await;
    let client = control(w.gateway.grpc_addr).await;
    let alone = spawn_request(
        client.clone(),
        request(&w.org, &w.session, "Anyone?", Duration::from_millis(500)),
    );
    assert_eq!(outcome(&answer(alone).await), pb::HandoffOutcome::NoViewer);

    let mut viewer = w.messages("alice").await;
    let watched = spawn_request(
        client,
        request(&w.org, &w.session, "Quick", Duration::from_secs(1)),
    );
    let id = viewer.next_of_kind("handoff-requested").await["handoff_id"].clone();
    assert_eq!(
        outcome(&answer(watched).await),
        pb::HandoffOutcome::TimedOut
    );
    assert_eq!(
        viewer.next_of_kind("handoff-ended").await,
        json!({"kind": "handoff-ended", "handoff_id": id, "outcome": "TIMED_OUT"})
    );
}

#[tokio::test]
async fn cancel_ends_it_as_cancelled_and_one_handoff_at_a_time() {
    let w = MessageWorld::start().await;
    let mut viewer = w.messages("alice").await;
    let mut client = control(w.gateway.grpc_addr).await;
    let call = spawn_request(
        client.clone(),
        request(&w.org, &w.session, "First", Duration::from_secs(30)),
    );
    let id = viewer.next_of_kind("handoff-requested").await["handoff_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let second = client
        .request_handoff(request(
            &w.org,
            &w.session,
            "Second",
            Duration::from_secs(30),
        ))
        .await
        .unwrap_err();
    assert_eq!(second.code(), Code::FailedPrecondition);
    let cancel = pb::CancelHandoffRequest {
        organization_id: w.org.clone(),
        browser_session_id: w.session.clone(),
        handoff_id: id.clone(),
    };
    let cancelled = client
        .cancel_handoff(cancel.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(outcome(&cancelled), pb::HandoffOutcome::Cancelled);
    assert_eq!(outcome(&answer(call).await), pb::HandoffOutcome::Cancelled);
    assert_eq!(
        viewer.next_of_kind("handoff-ended").await["outcome"],
        "CANCELLED"
    );
    // Cancelling again answers how it ended; an unknown id is NOT_FOUND.
    let again = client.cancel_handoff(cancel).await.unwrap().into_inner();
    assert_eq!(outcome(&again), pb::HandoffOutcome::Cancelled);
    let unknown = pb::CancelHandoffRequest {
        organization_id: w.org.clone(),
        browser_session_id: w.session.clone(),
        handoff_id: "nope".into(),
    };
    assert_eq!(
        client.cancel_handoff(unknown).await.unwrap_err().code(),
        Code::NotFound
    );
}

#[tokio::test]
async fn the_session_ending_gives_entity_finished_and_bad_requests_are_refused() {
    let w = MessageWorld::start().await;
    let mut client = control(w.gateway.grpc_addr).await;
    let call = spawn_request(
        client.clone(),
        request(&w.org, &w.session, "Wait", Duration::from_secs(30)),
    );
    // Opened once the viewer-less state shows it.
    let mut events = client
        .watch_handoffs(pb::WatchHandoffsRequest {
            organization_id: w.org.clone(),
            browser_session_id: w.session.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let first = tokio::time::timeout(WAIT, events.message())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(first.instructions, "Wait");
    assert_eq!(first.outcome, pb::HandoffOutcome::Unspecified as i32);
    w.verification
        .set_status("browser_session", &w.session, "completed")
        .await;
    assert_eq!(
        outcome(&answer(call).await),
        pb::HandoffOutcome::EntityFinished
    );
    let ended = tokio::time::timeout(WAIT, events.message())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(ended.outcome, pb::HandoffOutcome::EntityFinished as i32);

    // A session that is not live answers ENTITY_FINISHED at once; unknown ones NOT_FOUND.
    let finished = client
        .request_handoff(request(&w.org, &w.session, "Late", Duration::from_secs(30)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(outcome(&finished), pb::HandoffOutcome::EntityFinished);
    let unknown = client
        .request_handoff(request(&w.org, "pbs_unknown", "x", Duration::from_secs(30)))
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
    let long = client
        .request_handoff(request(
            &w.org,
            &w.session,
            &"i".repeat(2_001),
            Duration::from_secs(1),
        ))
        .await
        .unwrap_err();
    assert_eq!(long.code(), Code::InvalidArgument);
    let mut bad_id = request(&w.org, &w.session, "x", Duration::from_secs(1));
    bad_id.handoff_id = "not ok!".into();
    assert_eq!(
        client.request_handoff(bad_id).await.unwrap_err().code(),
        Code::InvalidArgument
    );
}

#[tokio::test]
async fn an_agent_that_reconnects_awaits_its_handoff_again_by_id() {
    let w = MessageWorld::start().await;
    let mut viewer = w.messages("alice").await;
    let mut ask = request(&w.org, &w.session, "Approve", Duration::from_secs(30));
    ask.handoff_id = "agent-42".into();
    let first = spawn_request(control(w.gateway.grpc_addr).await, ask.clone());
    let requested = viewer.next_of_kind("handoff-requested").await;
    assert_eq!(requested["handoff_id"], "agent-42");
    // The agent's connection drops; the handoff stays open and it asks again.
    first.abort();
    let again = spawn_request(control(w.gateway.grpc_addr).await, ask.clone());
    take_control(&mut viewer).await;
    viewer
        .send(complete(&json!("agent-42"), true, "approved"))
        .await;
    let result = answer(again).await;
    assert_eq!(outcome(&result), pb::HandoffOutcome::Done);
    assert_eq!(result.note, "approved");
    // Once ended, the same id still answers its outcome (it is the session's latest).
    let mut client = control(w.gateway.grpc_addr).await;
    let replay = client.request_handoff(ask).await.unwrap().into_inner();
    assert_eq!(outcome(&replay), pb::HandoffOutcome::Done);
    // A viewer was shown it only once.
    assert!(!viewer.has_pending("handoff-requested"));
}

#[tokio::test]
async fn take_control_accepts_it_and_watch_handoffs_shows_each_step() {
    let w = MessageWorld::start().await;
    let mut viewer = w.messages("alice").await;
    let mut client = control(w.gateway.grpc_addr).await;
    let mut events = client
        .watch_handoffs(pb::WatchHandoffsRequest {
            organization_id: w.org.clone(),
            browser_session_id: w.session.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let call = spawn_request(
        client.clone(),
        request(&w.org, &w.session, "Help", Duration::from_secs(30)),
    );
    let id = viewer.next_of_kind("handoff-requested").await["handoff_id"].clone();
    take_control(&mut viewer).await;
    viewer.send(complete(&id, true, "ok")).await;
    assert_eq!(outcome(&answer(call).await), pb::HandoffOutcome::Done);
    let mut seen = Vec::new();
    while seen
        .last()
        .is_none_or(|e: &pb::HandoffEvent| e.outcome == 0)
    {
        let event = tokio::time::timeout(WAIT, events.message())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        seen.push(event);
    }
    let steps: Vec<_> = seen
        .iter()
        .map(|e| (e.accepted_by.as_str(), e.outcome, e.resolved_by.as_str()))
        .collect();
    let done = pb::HandoffOutcome::Done as i32;
    assert_eq!(
        steps,
        [("", 0, ""), ("alice", 0, ""), ("alice", done, "alice")]
    );
    assert_eq!(seen[2].note, "ok");
}

#[tokio::test]
async fn a_handoff_requested_on_one_replica_is_done_by_a_viewer_on_another() {
    let Some(redis) = redis_url_or_skip() else {
        return;
    };
    let c = cluster(&bus_url(&redis)).await;
    let mut viewer = c.messages(&c.b, "alice").await;
    let call = spawn_request(
        control(c.a.grpc_addr).await,
        request(
            &c.org,
            &c.session,
            "Enter the code",
            Duration::from_secs(30),
        ),
    );
    let requested = viewer.next_of_kind("handoff-requested").await;
    assert_eq!(requested["instructions"], "Enter the code");
    let id = requested["handoff_id"].clone();
    take_control(&mut viewer).await;
    viewer.send(complete(&id, true, "code entered")).await;
    let result = answer(call).await;
    assert_eq!(outcome(&result), pb::HandoffOutcome::Done);
    assert_eq!(result.note, "code entered");
    assert_eq!(result.resolved_by, "alice");
    assert_eq!(
        viewer.next_of_kind("handoff-ended").await["outcome"],
        "DONE"
    );
    // One at a time across replicas too; and B's cancel ends what A opened.
    let mut on_b = control(c.b.grpc_addr).await;
    let open = spawn_request(
        control(c.a.grpc_addr).await,
        request(&c.org, &c.session, "Again", Duration::from_secs(30)),
    );
    let id = viewer.next_of_kind("handoff-requested").await["handoff_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let refused = on_b
        .request_handoff(request(&c.org, &c.session, "Mine", Duration::from_secs(30)))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    on_b.cancel_handoff(pb::CancelHandoffRequest {
        organization_id: c.org.clone(),
        browser_session_id: c.session.clone(),
        handoff_id: id,
    })
    .await
    .unwrap();
    assert_eq!(outcome(&answer(open).await), pb::HandoffOutcome::Cancelled);
}

#[tokio::test]
async fn a_handoff_with_no_viewer_on_any_replica_is_no_viewer_and_one_on_another_times_out() {
    let Some(redis) = redis_url_or_skip() else {
        return;
    };
    let c = cluster(&bus_url(&redis)).await;
    let alone = spawn_request(
        control(c.a.grpc_addr).await,
        request(&c.org, &c.session, "x", Duration::from_millis(500)),
    );
    assert_eq!(outcome(&answer(alone).await), pb::HandoffOutcome::NoViewer);
    let mut viewer = c.messages(&c.b, "alice").await;
    let watched = spawn_request(
        control(c.a.grpc_addr).await,
        request(&c.org, &c.session, "y", Duration::from_secs(1)),
    );
    viewer.next_of_kind("handoff-requested").await;
    assert_eq!(
        outcome(&answer(watched).await),
        pb::HandoffOutcome::TimedOut
    );
}

/// A `view` ticket for the world's browser session.
async fn view_ticket(w: &MessageWorld) -> String {
    let body = json!({"entity_kind": "browser_session", "entity_id": w.session, "scope": "view"})
        .to_string();
    let (status, reply) = http_request(
        w.gateway.addr,
        "POST",
        "/v1/stream/tickets",
        &[("x-api-key", &w.key), ("content-type", "application/json")],
        &body,
    )
    .await;
    assert_eq!(status, 201, "{reply}");
    serde_json::from_str::<Value>(&reply).unwrap()["ticket"]
        .as_str()
        .unwrap()
        .to_owned()
}
