//! Test kit: the whole browser-stream stack in-process — verification (SQLite in a fresh
//! directory), the cdp-executor, and the gateway serving the repository's `web/` viewer — plus a
//! browser node (Xvfb + Chromium + x11vnc, or headless Chromium alone for the CDP transport)
//! registered as a live browser session showing a test page, and a headless Chromium driving the
//! viewer page ([`ViewerDriver`]).
//!
//! # Layout
//! - this file: [`Stack`] (the services) and [`LiveSession`] (a node registered as a session).
//! - [`remote`]: the remote test page and a DevTools probe that reads it ([`RemotePage`]).
//! - [`driver`]: the viewer-driving headless Chromium ([`ViewerDriver`]).
//! - [`run`]: all of it together with the viewer open ([`ViewerRun`]), and the page probes.

pub mod driver;
pub mod remote;
pub mod run;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use browser_node::{BrowserNode, NodeOptions};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use verification::domain::EntityKind;
use verification::{Admin, NewBrowserSession};

pub use driver::ViewerDriver;
pub use remote::{RemotePage, TestPage, BAND_COLOURS};
pub use run::{ViewerRun, BAND_SHARES, CDP_SCREEN_LIVE, PAGE_STATE, SCREEN_LIVE};

use crate::gateway::TestGateway;
use crate::node::{chromium_or_skip, skip, vnc_tools_or_skip};

/// Generous bound on one end-to-end wait (only bounds a hang; the machine is slow and shared).
pub const E2E_WAIT: Duration = Duration::from_secs(45);
/// How often verification re-reads watched entities (so `entity-finished` is quick).
const POLL_INTERVAL: Duration = Duration::from_millis(200);
/// The remote screen: smaller than the viewer, so it is scaled to fit.
const REMOTE_SCREEN: (u32, u32) = (1024, 640);

/// The checkout the tests run from. cargo and nextest set `CARGO_MANIFEST_DIR` when they run
/// a test, so this follows the checkout even when a shared target directory holds binaries
/// compiled in another one (cargo does not rebuild a crate just because its folder moved);
/// the compile-time value is the fallback for a binary started by hand.
fn repo_root() -> PathBuf {
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    manifest_dir.join("..")
}

/// The repository's viewer page directory (`web/`).
pub fn web_root() -> PathBuf {
    repo_root().join("web")
}

/// Where test runs leave files for people to look at (`artifacts/`, gitignored).
pub fn artifacts_dir() -> PathBuf {
    repo_root().join("artifacts")
}

/// True when Chromium, Xvfb, x11vnc and the viewer's npm dependencies are present; otherwise
/// applies the skip rule.
pub fn parts_or_skip() -> bool {
    if !vnc_tools_or_skip() {
        return false;
    }
    viewer_deps_or_skip()
}

/// True when Chromium and the viewer's npm dependencies are present (all a headless session
/// and its viewer need); otherwise applies the skip rule.
pub fn headless_parts_or_skip() -> bool {
    chromium_or_skip() && viewer_deps_or_skip()
}

fn viewer_deps_or_skip() -> bool {
    let rfb = web_root().join("node_modules/@novnc/novnc/core/rfb.js");
    if !rfb.is_file() {
        skip("the viewer's npm dependencies are missing: run `npm ci` in web/ (scripts/install-deps does)");
        return false;
    }
    true
}

/// verification, cdp-executor and gateway, in-process on 127.0.0.1:0, with one organization
/// and one API key.
pub struct Stack {
    /// Seeds and changes the verification database.
    pub admin: Admin,
    /// The organization every session belongs to.
    pub org_id: String,
    /// An API key of that organization.
    pub api_key: String,
    /// The gateway (serving `web/` at `/`).
    pub gateway: TestGateway,
    /// The cdp-executor's gRPC address.
    pub executor_addr: SocketAddr,
    shutdown: CancellationToken,
    services: Vec<JoinHandle<anyhow::Result<()>>>,
    _db_dir: TempDir,
}

impl Stack {
    /// Starts the three services, wired together.
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_with(|_| {}).await
    }

    /// As [`Self::start`], with the gateway's configuration adjusted by `tweak`.
    pub async fn start_with(
        tweak: impl FnOnce(&mut gateway::config::Config),
    ) -> anyhow::Result<Self> {
        let db_dir = std::env::temp_dir().join(format!(
            "browser-stream-e2e-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&db_dir)?;
        let db_dir = TempDir(db_dir);
        let database_url = format!("sqlite://{}", db_dir.0.join("verification.db").display());
        let shutdown = CancellationToken::new();

        let mut config = verification::Config::for_database(&database_url);
        config.poll_interval = POLL_INTERVAL;
        let app = verification::Application::build(config)
            .await
            .context("verification builds")?;
        let verification_url = format!("http://{}", app.local_addr());
        let mut services = vec![tokio::spawn(app.run(shutdown.clone().cancelled_owned()))];

        let executor_addr = start_executor(&verification_url, &shutdown, &mut services).await?;

        let mut config = gateway::config::Config::for_tests(verification_url);
        config.cdp_executor_url = Some(format!("http://{executor_addr}"));
        config.web_root = web_root();
        tweak(&mut config);
        let gateway = TestGateway::spawn_with(config).await;

        let admin = Admin::connect(&database_url).await?;
        let org_id = admin.create_org("e2e").await?;
        let api_key = admin.create_api_key(&org_id).await?;
        Ok(Self {
            admin,
            org_id,
            api_key,
            gateway,
            executor_addr,
            shutdown,
            services,
            _db_dir: db_dir,
        })
    }

    /// The viewer page's URL for a browser session (the key travels in the fragment).
    pub fn viewer_url(&self, session_id: &str) -> String {
        self.gateway
            .http_url(&format!("/#session={session_id}&apikey={}", self.api_key))
    }

    /// The gateway's origin (`http://127.0.0.1:P`), for browser permissions.
    pub fn origin(&self) -> String {
        format!("http://{}", self.gateway.addr)
    }

    /// Starts a browser node on a test page and registers it as a running browser session.
    pub async fn live_session(&self) -> anyhow::Result<LiveSession> {
        self.live_session_with(true).await
    }

    /// As [`Self::live_session`]; with `register_vnc` false the session's addresses are left
    /// unset (a browser that is still starting) until [`Self::register_vnc`]. Both of them: a
    /// session with a `cdp_url` and no `vnc_url` is a headless one (PROTOCOL §10), which the
    /// viewer would watch over the CDP screencast instead of waiting for VNC.
    pub async fn live_session_with(&self, register_vnc: bool) -> anyhow::Result<LiveSession> {
        self.start_session(false, register_vnc).await
    }

    /// Starts a headless browser node (Chromium alone: no Xvfb, no x11vnc) on a test page and
    /// registers it as a running browser session with its `cdp_url` only, so viewers watch it
    /// over the CDP screencast (PROTOCOL §10).
    pub async fn live_headless_session(&self) -> anyhow::Result<LiveSession> {
        self.start_session(true, true).await
    }

    async fn start_session(&self, headless: bool, register: bool) -> anyhow::Result<LiveSession> {
        let page = TestPage::start().await?;
        let options = NodeOptions {
            window_size: REMOTE_SCREEN,
            start_url: page.url(),
            headless,
            ..NodeOptions::default()
        };
        let node = BrowserNode::start(options)
            .await
            .context("browser node starts")?;
        let mut session = NewBrowserSession::new(&self.org_id);
        if register {
            session.vnc_url = node.vnc_url_if_any();
            session.cdp_url = Some(node.cdp_url());
        }
        let id = self.admin.create_browser_session(session).await?;
        let devtools: SocketAddr = node.cdp_url().trim_start_matches("http://").parse()?;
        let remote = RemotePage {
            devtools,
            url_prefix: page.url(),
        };
        remote.wait_for_load(E2E_WAIT).await?;
        Ok(LiveSession {
            id,
            remote,
            vnc_url: node.vnc_url_if_any(),
            cdp_url: node.cdp_url(),
            node: Some(node),
            page,
        })
    }

    /// Registers the node's addresses on its session (the browser finished starting).
    pub async fn register_vnc(&self, session: &LiveSession) -> anyhow::Result<()> {
        self.admin
            .update_browser_session(
                &session.id,
                session.vnc_url.as_deref(),
                Some(&session.cdp_url),
                None,
            )
            .await?;
        Ok(())
    }

    /// Marks a browser session finished (as the platform does when its run ends).
    pub async fn finish(&self, session_id: &str) -> anyhow::Result<()> {
        self.admin
            .set_status(EntityKind::BrowserSession, session_id, "completed")
            .await?;
        Ok(())
    }

    /// Stops every service and removes the database directory.
    pub async fn shutdown(self) {
        let _ = self.gateway.shutdown().await;
        self.shutdown.cancel();
        for service in self.services {
            let _ = tokio::time::timeout(E2E_WAIT, service).await;
        }
    }
}

/// A directory removed when dropped (also when a test panics).
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn start_executor(
    verification_url: &str,
    shutdown: &CancellationToken,
    services: &mut Vec<JoinHandle<anyhow::Result<()>>>,
) -> anyhow::Result<SocketAddr> {
    use clap::Parser;
    // The test page is on loopback, which the navigation guard refuses unless allowed.
    let args = [
        "cdp-executor",
        "--listen",
        "127.0.0.1:0",
        "--verification-url",
        verification_url,
        "--navigate-allow-hosts",
        "127.0.0.1",
    ];
    let cli = cdp_executor::Cli::try_parse_from(args)?;
    let settings = cli.into_config().validate()?;
    let app = cdp_executor::Application::build(settings)
        .await
        .context("cdp-executor builds")?;
    let addr = app.local_addr();
    services.push(tokio::spawn(app.run(shutdown.clone().cancelled_owned())));
    Ok(addr)
}

/// A browser node registered as a live browser session.
pub struct LiveSession {
    /// The browser session id (`pbs_…`).
    pub id: String,
    /// Reads the remote page through the node's DevTools.
    pub remote: RemotePage,
    /// The node's RFB address (`tcp://…`); `None` for a headless node.
    pub vnc_url: Option<String>,
    /// The node's DevTools address (`http://…`).
    pub cdp_url: String,
    /// The server of the remote page.
    pub page: TestPage,
    node: Option<BrowserNode>,
}

impl LiveSession {
    /// Stops the node's processes.
    pub async fn stop(mut self) {
        if let Some(node) = self.node.take() {
            node.shutdown().await;
        }
    }
}

impl RemotePage {
    /// Polls `condition` (a JavaScript expression) in the remote page until it is `true`.
    pub async fn wait_until(&self, condition: &str, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            let value = self.evaluate(condition).await;
            if matches!(value, Ok(serde_json::Value::Bool(true))) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                anyhow::bail!("remote page: {condition} still not true ({value:?})");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the remote page has loaded (its `#field` exists).
    pub async fn wait_for_load(&self, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            match self
                .evaluate(
                    "document.readyState === 'complete' && !!document.getElementById('field')",
                )
                .await
            {
                Ok(serde_json::Value::Bool(true)) => return Ok(()),
                result if Instant::now() >= deadline => {
                    anyhow::bail!("remote page did not load: {result:?}")
                }
                _ => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }
}
