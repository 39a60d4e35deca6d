//! The CDP transport (PROTOCOL §10) against a real headless Chromium with no X server and no
//! VNC server: screencast frames that show the page, one screencast shared by every viewer,
//! input that reaches the page only from the controlling client, the blocked keys, bad frames
//! that leave the socket open, the incumbent's paths, id keys and close codes, and control
//! taken in a VNC viewer gating `cdp_input` on another replica (real Redis).

use std::time::{Duration, Instant};

use integration_tests::bus::{bus_url, redis_url_or_skip};
use integration_tests::cdp::{frame_of_colour, near, next_frame, pixel, CdpWorld, BLUE, RED};
use integration_tests::gateway::WAIT;
use integration_tests::message::MessageClient;
use integration_tests::node::chromium_or_skip;
use serde_json::{json, Value};

fn click(x: i32, y: i32, kind: &str, button: &str) -> Value {
    json!({ "kind": "mouseEvent", "eventType": kind, "x": x, "y": y, "button": button, "clickCount": 1 })
}

/// A left click at (`x`, `y`): press and release.
async fn left_click(input: &mut MessageClient, x: i32, y: i32) {
    input.send(click(x, y, "mousePressed", "left")).await;
    input.send(click(x, y, "mouseReleased", "left")).await;
}

/// Types `text` as the incumbent frontend does: `keyDown` with `text`, then `keyUp`.
async fn type_text(input: &mut MessageClient, text: &str) {
    for c in text.chars() {
        let key = c.to_string();
        input
            .send(json!({ "kind": "keyEvent", "eventType": "keyDown", "key": key, "text": key }))
            .await;
        input
            .send(json!({ "kind": "keyEvent", "eventType": "keyUp", "key": key }))
            .await;
    }
}

/// Sends a frame that is answered (`navigate-error` for a blank URL) and waits for the
/// answer: everything sent before it has been handled.
async fn barrier(input: &mut MessageClient) {
    input
        .send(json!({ "kind": "navigateEvent", "url": " " }))
        .await;
    let reply = input.next_of_kind("navigate-error").await;
    assert_eq!(reply["reason"], "invalid_url");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn screencast_frames_show_the_page_with_the_incumbent_fields() {
    if !chromium_or_skip() {
        return;
    }
    let world = CdpWorld::start("/blue").await;
    let mut viewer = world.screencast(0, "v1", "").await;
    let frame = frame_of_colour(&mut viewer, BLUE).await;
    assert_eq!(frame["browser_session_id"], world.session.as_str());
    assert_eq!(frame["format"], "jpeg");
    assert!(
        frame["viewport_width"].as_u64().unwrap() > 0,
        "{}",
        frame["viewport_width"]
    );
    assert!(frame["viewport_height"].as_u64().unwrap() > 0);
    assert_eq!(frame["url"], format!("{}/blue", world.pages).as_str());

    // A change on the page is a new frame.
    world
        .eval("document.body.style.background = '#d32f2f'")
        .await;
    let red = frame_of_colour(&mut viewer, RED).await;
    assert!(near(pixel(&red, 0.1, 0.9), RED));
    let metrics = world.gateways[0].state.metrics.encode();
    assert!(
        metrics.contains("gateway_screencast_frames_sent_total"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_viewers_share_one_screencast_and_the_last_one_out_stops_it() {
    if !chromium_or_skip() {
        return;
    }
    let world = CdpWorld::start("/blue").await;
    let mut first = world.screencast(0, "v1", "").await;
    frame_of_colour(&mut first, BLUE).await;
    // The second viewer joins the open screencast and gets its latest frame at once.
    let mut second = world.screencast(0, "v2", "").await;
    frame_of_colour(&mut second, BLUE).await;
    let screencasts = &world.gateways[0].state.screencasts;
    assert_eq!(screencasts.open(), 1, "one screencast for two viewers");
    world
        .eval("document.body.style.background = '#d32f2f'")
        .await;
    frame_of_colour(&mut first, RED).await;
    frame_of_colour(&mut second, RED).await;
    let metrics = world.gateways[0].state.metrics.encode();
    assert!(
        metrics.contains("gateway_screencast_upstreams 1"),
        "{metrics}"
    );

    first.close().await;
    second.close().await;
    let deadline = Instant::now() + WAIT;
    while screencasts.open() != 0
        || !world.gateways[0]
            .state
            .metrics
            .encode()
            .contains("gateway_screencast_upstreams 0")
    {
        assert!(
            Instant::now() < deadline,
            "the screencast stops after the last viewer"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tab_switch_moves_the_screencast() {
    if !chromium_or_skip() {
        return;
    }
    let world = CdpWorld::start("/blue").await;
    let mut viewer = world.screencast(0, "v1", "").await;
    frame_of_colour(&mut viewer, BLUE).await;
    let url = format!("{}/red", world.pages);
    let created = world
        .conn
        .call(
            "Target.createTarget",
            None,
            json!({ "url": url, "background": true }),
        )
        .await
        .expect("a new tab");
    let target = created["targetId"].as_str().unwrap().to_owned();
    // The new tab loads first, so what is timed is the switch, not the page load.
    let red_tab = world.conn.session_for(&target).await.expect("attached");
    let deadline = Instant::now() + WAIT;
    while world
        .conn
        .evaluate(&red_tab, "document.readyState")
        .await
        .ok()
        != Some(json!("complete"))
    {
        assert!(Instant::now() < deadline, "the new tab loads");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let activate = |id: String| {
        let conn = world.conn.clone();
        async move {
            conn.call("Target.activateTarget", None, json!({ "targetId": id }))
                .await
                .expect("activated");
            Instant::now()
        }
    };
    let started = activate(target).await;
    let frame = frame_of_colour(&mut viewer, RED).await;
    let to_new = started.elapsed();
    assert_eq!(frame["url"], url.as_str());
    let tabs = world.conn.pages().await.unwrap();
    let blue_tab = tabs
        .iter()
        .find(|p| p.url.ends_with("/blue"))
        .expect("the first tab")
        .target_id
        .clone();
    let started = activate(blue_tab).await;
    frame_of_colour(&mut viewer, BLUE).await;
    println!(
        "tab switch to the first frame of the other tab: to the new one {to_new:?}, back {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_with_vnc_is_told_to_use_vnc_unless_cdp_is_forced() {
    if !chromium_or_skip() {
        return;
    }
    let world = CdpWorld::start("/blue").await;
    let vnc_session = world
        .verification
        .create_browser_session(
            &world.org,
            Some("tcp://127.0.0.1:5999"),
            Some(&world.chromium.cdp_http_url()),
        )
        .await;
    let path = format!("/v1/stream/browser_sessions/{vnc_session}");
    let gateway = &world.gateways[0];
    let mut refused = MessageClient::connect(&gateway.ws_url(&path, &world.query("v1"))).await;
    let closed = refused.closed().await;
    assert_eq!(
        (closed.code, closed.reason.as_str()),
        (4001, "use-vnc-streaming")
    );
    let forced = format!("{}&force_cdp=true", world.query("v2"));
    let mut viewer = MessageClient::connect(&gateway.ws_url(&path, &forced)).await;
    let frame = frame_of_colour(&mut viewer, BLUE).await;
    assert_eq!(frame["browser_session_id"], vnc_session.as_str());
    // A task on that session streams by default, and with `prefer_vnc=true` is told to use VNC.
    let task = world
        .verification
        .create_task(&world.org, Some(&vnc_session), None)
        .await;
    let task_path = format!("/api/v1/stream/tasks/{task}");
    let preferring = format!("{}&prefer_vnc=true", world.query("v3"));
    let mut refused = MessageClient::connect(&gateway.ws_url(&task_path, &preferring)).await;
    assert_eq!(refused.closed().await.code, 4001);
    let mut task_viewer =
        MessageClient::connect(&gateway.ws_url(&task_path, &world.query("v3"))).await;
    assert_eq!(next_frame(&mut task_viewer).await["task_id"], task.as_str());
    // Its CDP input socket binds too (a path the incumbent lacks).
    let mut task_input = MessageClient::connect(&gateway.ws_url(
        &format!("/api/v1/stream/cdp_input/task/{task}"),
        &world.query("v3"),
    ))
    .await;
    task_input.next_of_kind("ready").await;

    // The incumbent's screencast clients send no client_id: still served.
    let no_client = format!("apikey={}", world.key);
    let path = format!("/v1/stream/browser_sessions/{}", world.session);
    let mut anonymous = MessageClient::connect(&gateway.ws_url(&path, &no_client)).await;
    next_frame(&mut anonymous).await;
    // A bad credential is a close code, not a text frame (incumbent weakness, spec §15 item 26).
    let mut bad = MessageClient::connect(&gateway.ws_url(&path, "apikey=nope")).await;
    assert_eq!(bad.closed().await.code, 1002);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_and_run_streams_use_their_id_key_and_end_with_the_final_status() {
    if !chromium_or_skip() {
        return;
    }
    let world = CdpWorld::start("/blue").await;
    let run = world
        .verification
        .create_workflow_run(&world.org, Some(&world.session))
        .await;
    let task = world
        .verification
        .create_task(&world.org, Some(&world.session), None)
        .await;
    let gateway = &world.gateways[0];
    let query = format!("apikey={}", world.key);
    let mut task_viewer =
        MessageClient::connect(&gateway.ws_url(&format!("/api/v1/stream/tasks/{task}"), &query))
            .await;
    let frame = next_frame(&mut task_viewer).await;
    assert_eq!(frame["task_id"], task.as_str());
    assert!(frame.get("browser_session_id").is_none());
    let mut run_viewer = MessageClient::connect(
        &gateway.ws_url(&format!("/api/v1/stream/workflow_runs/{run}"), &query),
    )
    .await;
    assert_eq!(
        next_frame(&mut run_viewer).await["workflow_run_id"],
        run.as_str()
    );
    // `prefer_vnc=true` follows the session path's rule: this session has no VNC, so it streams.
    let mut preferring = MessageClient::connect(&gateway.ws_url(
        &format!("/api/v1/stream/workflow_runs/{run}"),
        &format!("{query}&prefer_vnc=true"),
    ))
    .await;
    next_frame(&mut preferring).await;

    world
        .verification
        .set_status("workflow_run", &run, "failed")
        .await;
    let deadline = Instant::now() + WAIT;
    let last = loop {
        let value = run_viewer
            .next_within(WAIT)
            .await
            .expect("frames, then the final status");
        if value["status"] != "running" {
            break value;
        }
        assert!(
            Instant::now() < deadline,
            "the run's end reaches its viewer"
        );
    };
    assert_eq!(last, json!({ "workflow_run_id": run, "status": "failed" }));
    let closed = run_viewer.closed().await;
    assert_eq!(
        (closed.code, closed.reason.as_str()),
        (1000, "entity-finished")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn input_reaches_the_page_only_after_take_control_and_blocked_keys_never() {
    if !chromium_or_skip() {
        return;
    }
    let world = CdpWorld::start("/form").await;
    let mut input = world.input(0, "alice").await;
    // The agent drives: a click and keys from the viewer are dropped.
    left_click(&mut input, 150, 120).await;
    type_text(&mut input, "no").await;
    input.send(json!({ "kind": "take-control" })).await;
    barrier(&mut input).await;
    assert_eq!(world.eval("document.getElementById('f').value").await, "");
    assert_eq!(world.eval("window.keys.length").await, 0);

    // Now the viewer drives: the click focuses the field and the keys land in it.
    left_click(&mut input, 150, 120).await;
    type_text(&mut input, "hi").await;
    world
        .wait_for("document.getElementById('f').value === 'hi'")
        .await;
    left_click(&mut input, 150, 220).await;
    world.wait_for("window.clicks === 1").await;

    // Ctrl+O, the Menu key and Shift+F10 never reach the page; the right button does.
    for (key, modifiers) in [("o", 2), ("O", 4), ("ContextMenu", 0), ("F10", 8)] {
        input
            .send(json!({ "kind": "keyEvent", "eventType": "rawKeyDown", "key": key, "code": key, "modifiers": modifiers }))
            .await;
    }
    input.send(click(150, 220, "mousePressed", "right")).await;
    input.send(click(150, 220, "mouseReleased", "right")).await;
    input
        .send(json!({ "kind": "keyEvent", "eventType": "keyDown", "key": "z", "text": "z" }))
        .await;
    world.wait_for("window.keys.includes('z')").await;
    let keys = world.eval("window.keys").await;
    for blocked in ["C-o", "M-O", "ContextMenu", "S-F10"] {
        assert!(
            !keys.as_array().unwrap().iter().any(|k| k == blocked),
            "{blocked} reached the page: {keys}"
        );
    }
    world.wait_for("window.buttons.includes(2)").await;
    let metrics = world.gateways[0].state.metrics.encode();
    assert!(
        metrics.contains("gateway_cdp_input_dispatch_seconds_count{event_kind=\"keyEvent\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("gateway_cdp_input_wait_seconds_count{event_kind=\"mouseEvent\"}"),
        "{metrics}"
    );

    // Cede: input is dropped again.
    input.send(json!({ "kind": "cede-control" })).await;
    barrier(&mut input).await;
    type_text(&mut input, "x").await;
    barrier(&mut input).await;
    assert_eq!(world.eval("document.getElementById('f').value").await, "hi");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_frames_are_skipped_and_the_socket_goes_on() {
    if !chromium_or_skip() {
        return;
    }
    let world = CdpWorld::start("/form").await;
    let mut input = world.input(0, "alice").await;
    input.send(json!({ "kind": "take-control" })).await;
    for bad in [
        "not json".to_owned(),
        "[1,2,3]".to_owned(),
        "\"mouseEvent\"".to_owned(),
        "null".to_owned(),
        json!({ "kind": "launchMissiles" }).to_string(),
        json!({ "kind": "mouseEvent", "eventType": "mousePressed", "x": "left" }).to_string(),
        json!({ "kind": "mouseEvent", "eventType": "mouseMoved", "x": 1e308, "y": -1e308 }).to_string(),
        json!({ "kind": "keyEvent", "eventType": "keyDown", "key": "k".repeat(40) }).to_string(),
        json!({ "kind": "keyEvent", "eventType": "keyDown", "code": "c".repeat(33) }).to_string(),
        json!({ "kind": "wheelEvent", "x": 5 }).to_string(),
        json!({ "kind": "keyEvent", "eventType": "keyDown", "key": "y", "text": "y".repeat(100_000) }).to_string(),
    ] {
        input.send_text(&bad).await;
    }
    input.send_binary(&[0, 1, 2]).await;
    input
        .send(json!({ "kind": "navigateEvent", "url": "x".repeat(2084) }))
        .await;
    assert_eq!(
        input.next_of_kind("navigate-error").await["reason"],
        "invalid_url"
    );
    input
        .send(json!({ "kind": "navigateEvent", "url": "file:///etc/passwd" }))
        .await;
    let reason = input.next_of_kind("navigate-error").await["reason"].clone();
    assert!(reason == "blocked" || reason == "invalid_url", "{reason}");
    // Still open and dispatching.
    left_click(&mut input, 150, 120).await;
    type_text(&mut input, "ok").await;
    world
        .wait_for("document.getElementById('f').value === 'ok'")
        .await;
    input
        .send(json!({ "kind": "wheelEvent", "x": 10, "y": 10, "deltaY": 50 }))
        .await;
    barrier(&mut input).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn navigation_events_go_through_the_guard() {
    if !chromium_or_skip() {
        return;
    }
    let world = CdpWorld::start("/form").await;
    let mut input = world.input(0, "alice").await;
    input.send(json!({ "kind": "take-control" })).await;
    let url = format!("{}/red", world.pages);
    input
        .send(json!({ "kind": "navigateEvent", "url": url }))
        .await;
    world
        .wait_for(&format!("location.href === {}", json!(url)))
        .await;
    input.send(json!({ "kind": "goBackEvent" })).await;
    world.wait_for("location.pathname === '/form'").await;
    input.send(json!({ "kind": "goForwardEvent" })).await;
    world.wait_for("location.pathname === '/red'").await;
    input
        .send(json!({ "kind": "navigateEvent", "url": "http://169.254.169.254/latest" }))
        .await;
    assert_eq!(
        input.next_of_kind("navigate-error").await["reason"],
        "blocked"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cdp_input_refusals_use_the_incumbent_codes() {
    if !chromium_or_skip() {
        return;
    }
    let world = CdpWorld::start("/blue").await;
    let gateway = &world.gateways[0];
    let connect = |path: String, query: String| async move {
        MessageClient::connect(&gateway.ws_url(&path, &query))
            .await
            .closed()
            .await
    };
    let closed = connect(
        "/v1/stream/cdp_input/browser_session/pbs_missing".into(),
        world.query("c"),
    )
    .await;
    assert_eq!(
        (closed.code, closed.reason.as_str()),
        (4404, "browser_session_not_found")
    );
    let closed = connect(
        "/api/v1/stream/cdp_input/workflow_run/wr_missing".into(),
        world.query("c"),
    )
    .await;
    assert_eq!(
        (closed.code, closed.reason.as_str()),
        (4404, "workflow_run_not_found")
    );
    let closed = connect(
        format!("/v1/stream/cdp_input/browser_session/{}", world.session),
        format!("apikey={}", world.key),
    )
    .await;
    assert_eq!(closed.code, 1002, "no client_id");
    let run = world
        .verification
        .create_workflow_run(&world.org, Some(&world.session))
        .await;
    world
        .verification
        .set_status("workflow_run", &run, "completed")
        .await;
    let closed = connect(
        format!("/api/v1/stream/cdp_input/workflow_run/{run}"),
        world.query("c"),
    )
    .await;
    assert_eq!(
        (closed.code, closed.reason.as_str()),
        (4409, "workflow_run_closing")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_taken_in_a_vnc_viewer_gates_cdp_input_on_another_replica() {
    if !chromium_or_skip() {
        return;
    }
    let Some(redis) = redis_url_or_skip() else {
        return;
    };
    let world = CdpWorld::start_with("/form", Some(&bus_url(&redis)), |_| {}).await;
    // Alice takes control on replica A's Message socket (as her VNC viewer does).
    let mut alice_messages = world.messages(0, "alice").await;
    alice_messages.send(json!({ "kind": "take-control" })).await;
    let state = alice_messages.next_of_kind("control-state").await;
    assert_eq!(state["interactor"], "user");
    // Bob's CDP input on replica B is dropped while Alice holds control.
    let mut bob = world.input(1, "bob").await;
    left_click(&mut bob, 150, 120).await;
    type_text(&mut bob, "bob").await;
    barrier(&mut bob).await;
    // Alice's own CDP input socket, on replica B, drives.
    let mut alice = world.input(1, "alice").await;
    left_click(&mut alice, 150, 120).await;
    type_text(&mut alice, "al").await;
    world
        .wait_for("document.getElementById('f').value === 'al'")
        .await;
    assert!(!world
        .eval("window.keys")
        .await
        .as_array()
        .unwrap()
        .iter()
        .any(|k| k == "b"));

    // Bob takes control through his CDP input socket: Alice's replica A socket learns it, and
    // her input is dropped from then on.
    bob.send(json!({ "kind": "take-control" })).await;
    let state = alice_messages.next_of_kind("control-state").await;
    assert_eq!(state["interactor"], "agent");
    type_text(&mut alice, "zz").await;
    barrier(&mut alice).await;
    type_text(&mut bob, "b").await;
    world
        .wait_for("document.getElementById('f').value === 'alb'")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_killed_under_the_screencast_ends_it_with_a_status_and_it_resumes_when_the_browser_returns(
) {
    if !chromium_or_skip() {
        return;
    }
    let mut world = CdpWorld::start("/blue").await;
    let idle_tasks = world.gateways[0].state.tracker.len();
    let mut viewer = world.screencast(0, "v1", "").await;
    frame_of_colour(&mut viewer, BLUE).await;
    let port = world.chromium.port();
    world.chromium.kill().await;
    let deadline = Instant::now() + WAIT;
    let last = loop {
        let value = viewer
            .next_within(WAIT)
            .await
            .expect("a status frame before the close");
        if value["status"] != "running" {
            break value;
        }
        assert!(Instant::now() < deadline, "the screencast ends");
    };
    assert_eq!(
        last,
        json!({ "browser_session_id": world.session, "status": "browser_unavailable" })
    );
    let closed = viewer.closed().await;
    assert_eq!(
        (closed.code, closed.reason.as_str()),
        (1000, "upstream-closed")
    );

    // The browser returns on the same address: a reconnecting viewer sees it again.
    let options = integration_tests::node::ChromiumOptions {
        remote_debugging_port: port,
        ..Default::default()
    };
    world.chromium = integration_tests::node::Chromium::launch(options)
        .await
        .expect("chromium restarts");
    let deadline = Instant::now() + WAIT;
    loop {
        let mut again = world.screencast(0, "v1", "").await;
        match again.next_within(WAIT).await {
            Ok(frame) if frame["status"] == "running" => break,
            other => {
                assert!(
                    Instant::now() < deadline,
                    "no frame after the browser returned: {other:?}"
                );
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
    // Nothing either stream started is left running once its viewer is gone.
    let deadline = Instant::now() + WAIT;
    while world.gateways[0].state.tracker.len() > idle_tasks {
        assert!(Instant::now() < deadline, "tasks left behind");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn next_handoff_event(
    events: &mut tonic::Streaming<proto::control::v1::HandoffEvent>,
) -> proto::control::v1::HandoffEvent {
    tokio::time::timeout(WAIT, events.message())
        .await
        .expect("an event in time")
        .unwrap()
        .expect("open")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn taking_control_on_cdp_input_accepts_an_open_handoff() {
    use proto::control::v1 as pb;
    if !chromium_or_skip() {
        return;
    }
    let world = CdpWorld::start("/form").await;
    let grpc = format!("http://{}", world.gateways[0].grpc_addr);
    let mut control = pb::control_client::ControlClient::connect(grpc)
        .await
        .expect("control listener");
    let mut events = control
        .watch_handoffs(pb::WatchHandoffsRequest {
            organization_id: world.org.clone(),
            browser_session_id: world.session.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let mut agent = control.clone();
    let request = pb::RequestHandoffRequest {
        organization_id: world.org.clone(),
        browser_session_id: world.session.clone(),
        instructions: "Solve the captcha".into(),
        timeout: Some(Duration::from_secs(30).try_into().unwrap()),
        handoff_id: String::new(),
    };
    let call = tokio::spawn(async move { agent.request_handoff(request).await });
    let mut input = world.input(0, "carol").await;
    let opened = next_handoff_event(&mut events).await;
    assert_eq!(opened.accepted_by, "");
    input.send(json!({ "kind": "take-control" })).await;
    assert_eq!(next_handoff_event(&mut events).await.accepted_by, "carol");
    // The agent cancels (the test's end); its call answers.
    control
        .cancel_handoff(pb::CancelHandoffRequest {
            organization_id: world.org.clone(),
            browser_session_id: world.session.clone(),
            handoff_id: opened.handoff_id,
        })
        .await
        .expect("cancelled");
    let answered = tokio::time::timeout(WAIT, call).await.expect("answered");
    assert!(answered.unwrap().is_ok());
}
