//! Chromium for these tests and the benchmark: browser-node's launcher (headless, fresh
//! profile, DevTools on loopback, the whole process group stopped on drop), with the skip rule.

#![allow(dead_code)]
use std::path::PathBuf;

use browser_node::{availability, ChromiumOptions};

/// The executable (`CHROMIUM`, else `/usr/bin/chromium`, else on `PATH`).
pub fn executable() -> Option<PathBuf> {
    browser_node::chromium_executable()
}

/// Applies the skip rule; true when Chromium can be used.
pub fn available() -> bool {
    test_kit::skip::unless_missing(availability::chromium_missing())
}

/// A running headless Chromium; stopped on drop.
pub struct Chromium(browser_node::Chromium);

impl Chromium {
    /// Starts Chromium on `port` (0: any free port) and waits for its DevTools endpoint.
    pub async fn launch(port: u16) -> Self {
        let options = ChromiumOptions {
            remote_debugging_port: port,
            ..ChromiumOptions::default()
        };
        Self(
            browser_node::Chromium::launch(options)
                .await
                .expect("chromium starts"),
        )
    }

    /// `http://127.0.0.1:PORT`.
    pub fn cdp_http_url(&self) -> String {
        self.0.cdp_http_url()
    }

    /// The browser WebSocket URL Chromium printed.
    pub fn cdp_ws_url(&self) -> &str {
        self.0.cdp_ws_url()
    }

    /// The DevTools port.
    pub fn port(&self) -> u16 {
        self.0.port()
    }

    /// Stops Chromium and waits for it to exit.
    pub async fn kill(&mut self) {
        self.0.kill().await;
    }
}
