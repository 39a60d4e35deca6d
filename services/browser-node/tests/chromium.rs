//! Chromium as the browser node starts it: launch, DevTools endpoint, restart on a fixed
//! port, failures reported, and nothing left behind.

mod common;

use std::net::SocketAddr;

use browser_node::availability::chromium_missing;
use browser_node::{Chromium, ChromiumOptions, NodeError};
use common::{http_get, is_alive, wait_group_gone};
use test_kit::skip::unless_missing;

fn cdp_addr(chromium: &Chromium) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], chromium.port()))
}

#[tokio::test]
async fn headless_chromium_answers_json_version_on_its_devtools_port() {
    if !unless_missing(chromium_missing()) {
        return;
    }
    // Act
    let chromium = Chromium::launch(ChromiumOptions::default())
        .await
        .expect("launch");

    // Assert
    assert_eq!(
        chromium.cdp_http_url(),
        format!("http://127.0.0.1:{}", chromium.port())
    );
    assert!(chromium.cdp_ws_url().starts_with("ws://127.0.0.1:"));
    let response = http_get(cdp_addr(&chromium), "/json/version").await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("webSocketDebuggerUrl"), "{response}");
}

#[tokio::test]
async fn dropping_chromium_stops_its_processes_and_removes_its_profile() {
    if !unless_missing(chromium_missing()) {
        return;
    }
    // Arrange
    let chromium = Chromium::launch(ChromiumOptions::default())
        .await
        .expect("launch");
    let pid = chromium.pid();
    let profile = chromium.profile_dir().expect("profile").to_path_buf();
    assert!(profile.is_dir());

    // Act
    drop(chromium);

    // Assert
    assert!(!is_alive(pid), "chromium {pid} still running");
    assert_eq!(wait_group_gone(pid), Vec::<u32>::new());
    assert!(!profile.exists(), "profile {profile:?} left behind");
}

#[tokio::test]
async fn a_killed_chromium_restarts_on_the_same_fixed_port() {
    if !unless_missing(chromium_missing()) {
        return;
    }
    // Arrange: learn a free port from a first launch, then pin it.
    let mut first = Chromium::launch(ChromiumOptions::default())
        .await
        .expect("launch");
    let port = first.port();
    first.kill().await;
    let exit = first.wait().await.expect("exit status");
    assert!(!exit.success() || exit.code().is_some());

    // Act
    let second = Chromium::launch(ChromiumOptions {
        remote_debugging_port: port,
        ..ChromiumOptions::default()
    })
    .await
    .expect("relaunch");

    // Assert
    assert_eq!(second.port(), port);
    let response = http_get(cdp_addr(&second), "/json/version").await;
    assert!(response.contains("webSocketDebuggerUrl"), "{response}");
}

#[tokio::test]
async fn a_browser_that_exits_at_once_is_reported_as_exited_early() {
    // Arrange: /bin/false stands in for a Chromium that crashes at start.
    let options = ChromiumOptions {
        executable: Some("/bin/false".into()),
        ..ChromiumOptions::default()
    };

    // Act
    let result = Chromium::launch(options).await;

    // Assert
    assert!(
        matches!(
            result,
            Err(NodeError::ExitedEarly {
                part: "chromium",
                ..
            })
        ),
        "{:?}",
        result.err()
    );
}

#[tokio::test]
async fn a_missing_browser_executable_is_reported_as_not_installed() {
    let options = ChromiumOptions {
        executable: Some("/nonexistent/chromium".into()),
        ..ChromiumOptions::default()
    };

    let result = Chromium::launch(options).await;

    assert!(
        matches!(
            result,
            Err(NodeError::NotInstalled {
                part: "chromium",
                ..
            })
        ),
        "{:?}",
        result.err()
    );
}
