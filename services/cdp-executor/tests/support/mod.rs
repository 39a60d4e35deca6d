//! Shared test harness: a real headless Chromium (browser-node's launcher), a tiny page server
//! on 127.0.0.1, an in-process executor on port 0, a gRPC client, and a direct CDP driver for
//! setting pages up and reading them back.

#![allow(dead_code)]

pub mod chromium;
pub mod pages;

use std::sync::Arc;
use std::time::Duration;

use cdp_executor::browser::{ActiveTab, BrowserConn};
use cdp_executor::Cli;
pub use chromium::Chromium;
use clap::Parser;
use proto::cdp::v1::cdp_executor_client::CdpExecutorClient;
use proto::cdp::v1::BrowserTarget;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tonic::transport::Channel;

/// A generous bound for event-driven waits (they only bound a hang).
pub const WAIT: Duration = Duration::from_secs(15);

/// Applies the skip rule; true when Chromium can be used.
pub fn chromium_available() -> bool {
    chromium::available()
}

/// Starts headless Chromium (fixed port when `port` is non-zero).
pub async fn chromium(port: u16) -> Chromium {
    Chromium::launch(port).await
}

/// An executor running in-process on 127.0.0.1:0.
pub struct Executor {
    pub client: CdpExecutorClient<Channel>,
    pub addr: std::net::SocketAddr,
    /// The `/metrics` address, when `--metrics-listen` was given.
    pub metrics: Option<std::net::SocketAddr>,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Executor {
    /// `extra` flags after the test defaults (trusted cdp_url, short timeouts).
    pub async fn spawn(extra: &[&str]) -> Self {
        let mut args = vec![
            "--verification-url",
            "http://127.0.0.1:1",
            "--trust-request-cdp-url",
        ];
        args.extend_from_slice(extra);
        Self::spawn_with(&args).await
    }

    /// `extra` flags after the listen address and short timeouts only (no trusted cdp_url); a
    /// default given again in `extra` is replaced.
    pub async fn spawn_with(extra: &[&str]) -> Self {
        let defaults = [
            ("--operation-timeout-ms", "5000"),
            ("--connect-timeout-ms", "2000"),
            ("--reconnect-backoff-ms", "50"),
            ("--reconnect-backoff-max-ms", "200"),
            ("--health-interval-ms", "1000"),
        ];
        let mut args = vec!["cdp-executor", "--listen", "127.0.0.1:0"];
        for (flag, value) in defaults {
            if !extra.contains(&flag) {
                args.extend([flag, value]);
            }
        }
        args.extend_from_slice(extra);
        let settings = Cli::try_parse_from(args)
            .unwrap()
            .into_config()
            .validate()
            .unwrap();
        let app = cdp_executor::Application::build(settings).await.unwrap();
        let addr = app.local_addr();
        let metrics = app.metrics_addr();
        let stop = CancellationToken::new();
        let token = stop.clone();
        let task = tokio::spawn(app.run(async move { token.cancelled().await }));
        let client = CdpExecutorClient::connect(format!("http://{addr}"))
            .await
            .unwrap();
        Self {
            client,
            addr,
            metrics,
            stop,
            task,
        }
    }

    /// The default test executor: navigation to 127.0.0.1 allowed.
    pub async fn with_local_pages() -> Self {
        Self::spawn(&["--navigate-allow-hosts", "127.0.0.1"]).await
    }

    /// As [`Self::with_local_pages`], with its `/metrics` endpoint on a free port.
    pub async fn with_metrics() -> Self {
        Self::with_metrics_and(&[]).await
    }

    /// As [`Self::with_metrics`], with `extra` flags after.
    pub async fn with_metrics_and(extra: &[&str]) -> Self {
        let mut args = vec![
            "--navigate-allow-hosts",
            "127.0.0.1",
            "--metrics-listen",
            "127.0.0.1:0",
        ];
        args.extend_from_slice(extra);
        Self::spawn(&args).await
    }

    /// Stops the server and waits for it.
    pub async fn shutdown(self) {
        self.stop.cancel();
        let _ = tokio::time::timeout(WAIT, self.task).await;
    }
}

/// The target of a trusted caller.
pub fn target(cdp_url: &str) -> Option<BrowserTarget> {
    Some(BrowserTarget {
        organization_id: "org_test".into(),
        browser_session_id: "pbs_test".into(),
        cdp_url: cdp_url.into(),
    })
}

/// A direct CDP connection for arranging pages and reading them back.
pub struct Driver {
    pub browser: Arc<BrowserConn>,
    tracker: TaskTracker,
    token: CancellationToken,
}

impl Driver {
    pub async fn connect(chromium: &Chromium) -> Self {
        let tracker = TaskTracker::new();
        let token = CancellationToken::new();
        let handle = cdp_executor::cdp::connect(
            chromium.cdp_ws_url(),
            Duration::from_secs(5),
            &tracker,
            &token,
        )
        .await
        .unwrap();
        Self {
            browser: Arc::new(BrowserConn::new(handle)),
            tracker,
            token,
        }
    }

    /// The first page target's session (the tab Chromium opened at start).
    pub async fn first_tab(&self) -> ActiveTab {
        // Chromium announces its endpoint before its first tab exists.
        let deadline = tokio::time::Instant::now() + WAIT;
        let pages = loop {
            let pages = self.browser.pages().await.unwrap();
            if !pages.is_empty() {
                break pages;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "chromium opened no tab"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let target_id = pages[0].target_id.clone();
        let session = self.browser.session_for(&target_id).await.unwrap();
        ActiveTab { target_id, session }
    }

    /// Opens a new tab at `url` and returns it (Chromium makes the newest tab the visible one).
    pub async fn new_tab(&self, url: &str) -> ActiveTab {
        let created = self
            .browser
            .call("Target.createTarget", None, json!({ "url": url }))
            .await
            .unwrap();
        let target_id = created["targetId"].as_str().unwrap().to_string();
        let session = self.browser.session_for(&target_id).await.unwrap();
        self.wait_for(&session, "document.readyState === 'complete'")
            .await;
        ActiveTab { target_id, session }
    }

    /// Navigates a tab and waits for the document to be complete.
    pub async fn goto(&self, tab: &ActiveTab, url: &str) {
        self.browser
            .call("Page.navigate", Some(&tab.session), json!({ "url": url }))
            .await
            .unwrap();
        let check = format!(
            "location.href === {} && document.readyState === 'complete'",
            json!(url)
        );
        self.wait_for(&tab.session, &check).await;
    }

    /// Brings a tab to the front (visible and focused).
    pub async fn front(&self, tab: &ActiveTab) {
        self.browser
            .call("Page.bringToFront", Some(&tab.session), json!({}))
            .await
            .unwrap();
        self.wait_for(
            &tab.session,
            "document.visibilityState === 'visible' && document.hasFocus()",
        )
        .await;
        // Each tab runs in its own renderer: the one that was in front learns it lost focus
        // a moment later, and only then reports it. A switch is done when every other tab
        // knows, as it is by the time a person who clicked a tab acts on it.
        for page in self.browser.pages().await.unwrap() {
            if page.target_id == tab.target_id {
                continue;
            }
            let session = self.browser.session_for(&page.target_id).await.unwrap();
            self.wait_for(
                &session,
                "!(document.visibilityState === 'visible' && document.hasFocus())",
            )
            .await;
        }
    }

    pub async fn eval(&self, tab: &ActiveTab, expression: &str) -> Value {
        self.browser
            .evaluate(&tab.session, expression)
            .await
            .unwrap()
    }

    /// Waits until `expression` is true in the tab (re-evaluated as the page changes; bounded).
    pub async fn wait_for(&self, session: &str, expression: &str) {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if let Ok(Value::Bool(true)) = self.browser.evaluate(session, expression).await {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for `{expression}`"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn close(&self) {
        self.token.cancel();
    }
}
