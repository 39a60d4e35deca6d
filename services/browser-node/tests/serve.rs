//! `browser-node serve`: registration in verification's database, the ready report, and the
//! session's final status when the node stops or a part dies.

mod common;

use std::time::Duration;

use browser_node::availability::{chromium_missing, vnc_parts_missing};
use browser_node::config::{Cli, ServeArgs};
use browser_node::serve::{run, NodeInfo, Outcome};
use browser_node::Component;
use clap::Parser;
use common::{http_get, is_alive, rfb_greeting, wait_group_gone};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use test_kit::skip::unless_missing;
use tokio::sync::oneshot;
use verification::Admin;

/// Bounds the whole serve run in a test (only to stop a hang).
const RUN_TIMEOUT: Duration = Duration::from_secs(60);

fn serve_args(database_url: &str, org: &str, extra: &[&str]) -> ServeArgs {
    let flags = [
        "browser-node",
        "serve",
        "--database-url",
        database_url,
        "--org",
        org,
        "--width",
        "800",
        "--height",
        "600",
    ];
    Cli::try_parse_from(flags.iter().chain(extra))
        .expect("flags")
        .into_serve_args()
}

async fn session_row(admin: &Admin, id: &str) -> (String, Option<String>, Option<String>) {
    sqlx::query_as("SELECT status, vnc_url, cdp_url FROM browser_sessions WHERE id = $1")
        .bind(id)
        .fetch_one(admin.pool())
        .await
        .expect("session row")
}

struct Started {
    info: NodeInfo,
    stop: oneshot::Sender<()>,
    done: tokio::task::JoinHandle<anyhow::Result<Outcome>>,
    admin: Admin,
    _dir: tempfile::TempDir,
}

async fn start_serving(extra: &[&str]) -> Started {
    let dir = tempfile::tempdir().expect("tempdir");
    let database_url = format!("sqlite://{}", dir.path().join("verification.db").display());
    let admin = Admin::connect(&database_url).await.expect("database");
    let org = admin.create_org("acme").await.expect("org");
    let (stop, stopped) = oneshot::channel::<()>();
    let (ready_tx, ready_rx) = oneshot::channel();
    let args = serve_args(&database_url, &org, extra);
    let done = tokio::spawn(async move {
        let shutdown = async {
            let _ = stopped.await;
        };
        run(args, shutdown, |info| {
            let _ = ready_tx.send(info.clone());
        })
        .await
    });
    let info = tokio::time::timeout(RUN_TIMEOUT, ready_rx)
        .await
        .expect("ready in time")
        .expect("ready report");
    Started {
        info,
        stop,
        done,
        admin,
        _dir: dir,
    }
}

#[tokio::test]
async fn serve_registers_a_running_session_and_completes_it_on_a_clean_stop() {
    if !unless_missing(vnc_parts_missing()) {
        return;
    }
    // Arrange
    let started = start_serving(&[]).await;
    let id = started.info.browser_session_id.clone().expect("registered");
    let (status, vnc_url, cdp_url) = session_row(&started.admin, &id).await;
    assert_eq!(status, "running");
    assert_eq!(vnc_url, started.info.vnc_url);
    assert_eq!(cdp_url.as_deref(), Some(started.info.cdp_url.as_str()));
    let vnc_addr = started
        .info
        .vnc_url
        .as_deref()
        .expect("a VNC node has a vnc_url")
        .trim_start_matches("tcp://")
        .parse()
        .expect("addr");
    assert_eq!(rfb_greeting(vnc_addr).await, b"RFB 003.008\n");

    // Act
    started.stop.send(()).expect("stop");
    let outcome = tokio::time::timeout(RUN_TIMEOUT, started.done)
        .await
        .expect("stopped in time");

    // Assert
    assert_eq!(outcome.expect("join").expect("run"), Outcome::Stopped);
    assert_eq!(session_row(&started.admin, &id).await.0, "completed");
    let pids = started.info.pids;
    for pid in [pids.xvfb, Some(pids.chromium), pids.x11vnc] {
        let pid = pid.expect("a VNC node runs all three parts");
        assert!(!is_alive(pid), "{pid} still running");
        assert_eq!(wait_group_gone(pid), Vec::<u32>::new());
    }
}

#[tokio::test]
async fn a_headless_node_registers_its_cdp_url_only_and_runs_chromium_alone() {
    if !unless_missing(chromium_missing()) {
        return;
    }
    // Arrange
    let started = start_serving(&["--headless"]).await;
    let id = started.info.browser_session_id.clone().expect("registered");

    // Act
    let (status, vnc_url, cdp_url) = session_row(&started.admin, &id).await;

    // Assert
    assert_eq!(status, "running");
    assert_eq!(vnc_url, None, "no VNC address for a headless node");
    assert_eq!(cdp_url.as_deref(), Some(started.info.cdp_url.as_str()));
    let info = &started.info;
    assert_eq!((info.vnc_url.as_deref(), info.display), (None, None));
    assert_eq!((info.pids.xvfb, info.pids.x11vnc), (None, None));
    let line = serde_json::to_value(info).expect("json");
    assert_eq!(line["vnc_url"], serde_json::Value::Null, "{line}");
    let cdp = info
        .cdp_url
        .trim_start_matches("http://")
        .parse()
        .expect("addr");
    assert!(http_get(cdp, "/json/version")
        .await
        .contains("webSocketDebuggerUrl"));

    started.stop.send(()).expect("stop");
    let outcome = tokio::time::timeout(RUN_TIMEOUT, started.done)
        .await
        .expect("stopped in time");
    assert_eq!(outcome.expect("join").expect("run"), Outcome::Stopped);
    assert_eq!(session_row(&started.admin, &id).await.0, "completed");
    assert_eq!(wait_group_gone(info.pids.chromium), Vec::<u32>::new());
}

#[tokio::test]
async fn a_dead_chromium_marks_the_session_failed_and_stops_the_node() {
    if !unless_missing(vnc_parts_missing()) {
        return;
    }
    // Arrange
    let started = start_serving(&[]).await;
    let id = started.info.browser_session_id.clone().expect("registered");

    // Act: Chromium crashes.
    let chromium = i32::try_from(started.info.pids.chromium).expect("pid");
    kill(Pid::from_raw(chromium), Signal::SIGKILL).expect("kill chromium");
    let outcome = tokio::time::timeout(RUN_TIMEOUT, started.done)
        .await
        .expect("ended in time");

    // Assert
    assert_eq!(
        outcome.expect("join").expect("run"),
        Outcome::PartExited(Component::Chromium)
    );
    assert_eq!(session_row(&started.admin, &id).await.0, "failed");
    for pid in [started.info.pids.xvfb, started.info.pids.x11vnc] {
        let pid = pid.expect("a VNC node runs Xvfb and x11vnc");
        assert!(!is_alive(pid), "{pid} still running");
    }
    drop(started.stop);
}
