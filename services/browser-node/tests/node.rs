//! The whole browser node: Xvfb + windowed Chromium + x11vnc, watched together (or, headless,
//! Chromium alone).

mod common;

use std::net::SocketAddr;

use browser_node::availability::{chromium_missing, vnc_parts_missing};
use browser_node::{BrowserNode, Component, NodeOptions, Xvfb};
use common::{http_get, is_alive, rfb_greeting, wait_group_gone};
use test_kit::skip::unless_missing;

#[tokio::test]
async fn the_node_serves_rfb_and_devtools_on_loopback() {
    if !unless_missing(vnc_parts_missing()) {
        return;
    }
    // Act
    let node = BrowserNode::start(NodeOptions::default())
        .await
        .expect("start");

    // Assert
    assert!(node.vnc_addr().ip().is_loopback());
    assert_eq!(node.vnc_url(), format!("tcp://{}", node.vnc_addr()));
    assert_eq!(rfb_greeting(node.vnc_addr()).await, b"RFB 003.008\n");
    let cdp: SocketAddr = node
        .cdp_url()
        .strip_prefix("http://")
        .expect("http url")
        .parse()
        .expect("addr");
    let response = http_get(cdp, "/json/version").await;
    assert!(response.contains("webSocketDebuggerUrl"), "{response}");
    node.shutdown().await;
}

#[tokio::test]
async fn a_headless_node_runs_chromium_alone_with_devtools_on_loopback() {
    if !unless_missing(chromium_missing()) {
        return;
    }
    // Act
    let options = NodeOptions {
        headless: true,
        ..NodeOptions::default()
    };
    let node = BrowserNode::start(options).await.expect("start");

    // Assert
    assert!(node.is_headless());
    assert_eq!(
        (node.vnc(), node.vnc_url_if_any(), node.x_display()),
        (None, None, None)
    );
    let pids = node.part_pids();
    assert_eq!((pids.xvfb, pids.x11vnc), (None, None));
    let cdp: SocketAddr = node
        .cdp_url()
        .strip_prefix("http://")
        .expect("http url")
        .parse()
        .expect("addr");
    let response = http_get(cdp, "/json/version").await;
    assert!(response.contains("webSocketDebuggerUrl"), "{response}");
    drop(node);
    assert!(!is_alive(pids.chromium), "chromium still running");
    assert_eq!(wait_group_gone(pids.chromium), Vec::<u32>::new());
}

#[tokio::test]
async fn killing_chromium_is_reported_as_the_first_exit() {
    if !unless_missing(vnc_parts_missing()) {
        return;
    }
    // Arrange
    let mut node = BrowserNode::start(NodeOptions::default())
        .await
        .expect("start");

    // Act
    node.chromium_mut().kill().await;
    let report = node.wait_any_exit().await;

    // Assert
    assert_eq!(report.component, Component::Chromium);
    node.shutdown().await;
}

#[tokio::test]
async fn dropping_the_node_leaves_no_process_behind() {
    if !unless_missing(vnc_parts_missing()) {
        return;
    }
    // Arrange
    let node = BrowserNode::start(NodeOptions::default())
        .await
        .expect("start");
    let (xvfb, chromium, vnc) = node.pids();
    let display = node.display();

    // Act
    drop(node);

    // Assert
    for pid in [xvfb, chromium, vnc] {
        assert!(!is_alive(pid), "process {pid} still running");
        assert_eq!(wait_group_gone(pid), Vec::<u32>::new(), "group {pid}");
    }
    let lock = format!("/tmp/.X{display}-lock");
    assert!(!std::path::Path::new(&lock).exists(), "{lock} left behind");
}

#[tokio::test]
async fn two_displays_started_together_get_different_numbers() {
    if !unless_missing(vnc_parts_missing()) {
        return;
    }
    // Act
    let (first, second) = tokio::join!(Xvfb::start((640, 480)), Xvfb::start((640, 480)));
    let (first, second) = (first.expect("first"), second.expect("second"));

    // Assert
    assert_ne!(first.display(), second.display());
    let socket = format!("/tmp/.X11-unix/X{}", first.display());
    assert!(std::path::Path::new(&socket).exists(), "{socket} missing");
}
