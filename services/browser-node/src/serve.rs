//! `browser-node serve`: starts a [`BrowserNode`], registers it as a running browser session
//! in verification's database (when asked), reports its addresses, and watches it. The first
//! part to exit marks the session `failed`; a clean stop (SIGINT/SIGTERM) marks it
//! `completed`. Either way every part is stopped before returning. A headless node is
//! registered with its `cdp_url` only (PROTOCOL §10: viewers then use the CDP screencast).

use std::future::Future;

use serde::Serialize;
use verification::domain::EntityKind;
use verification::{Admin, NewBrowserSession};

use crate::config::ServeArgs;
use crate::{BrowserNode, Component};

pub use crate::node::Pids;

/// What the node reports once it is ready (one JSON line on stdout in the binary). A headless
/// node reports `null` for its VNC address, its display and the pids of Xvfb and x11vnc.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct NodeInfo {
    /// The registered browser session (`pbs_…`), or `None` without `--database-url`.
    pub browser_session_id: Option<String>,
    /// The RFB server: `tcp://127.0.0.1:PORT`, or `--advertise-vnc-url`; `None` when headless.
    pub vnc_url: Option<String>,
    /// The DevTools endpoint: `http://127.0.0.1:PORT`, or `--advertise-cdp-url`.
    pub cdp_url: String,
    /// The X display number; `None` when headless.
    pub display: Option<u32>,
    /// The process ids of the parts, for an operator who must find them.
    pub pids: Pids,
}

/// How `serve` ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Stopped on request (the session is `completed`).
    Stopped,
    /// A part exited by itself (the session is `failed`).
    PartExited(Component),
}

/// The registered session and the database it lives in.
struct Registration {
    admin: Admin,
    id: String,
}

/// Runs the node until `shutdown` resolves or a part exits. `on_ready` gets the node's
/// addresses once it is started and registered.
pub async fn run<S, R>(args: ServeArgs, shutdown: S, on_ready: R) -> anyhow::Result<Outcome>
where
    S: Future<Output = ()>,
    R: FnOnce(&NodeInfo),
{
    tokio::pin!(shutdown);
    // A stop during startup drops the parts already started, which stops them.
    let mut node = tokio::select! {
        node = BrowserNode::start(args.node_options()) => node?,
        () = &mut shutdown => return Ok(Outcome::Stopped),
    };
    let registration = match register(&args, &node).await {
        Ok(registration) => registration,
        Err(error) => {
            node.shutdown().await;
            return Err(error);
        }
    };
    let (vnc_url, cdp_url) = advertised(&args, &node);
    on_ready(&NodeInfo {
        browser_session_id: registration.as_ref().map(|r| r.id.clone()),
        vnc_url,
        cdp_url,
        display: node.x_display(),
        pids: node.part_pids(),
    });
    let outcome = tokio::select! {
        report = node.wait_any_exit() => {
            tracing::warn!(part = %report.component, status = ?report.status, "a part of the node exited");
            Outcome::PartExited(report.component)
        }
        () = &mut shutdown => Outcome::Stopped,
    };
    // Mark the session first, so viewers learn it ended before their upstream closes.
    if let Some(registration) = &registration {
        let status = match outcome {
            Outcome::Stopped => "completed",
            Outcome::PartExited(_) => "failed",
        };
        if let Err(error) = registration
            .admin
            .set_status(EntityKind::BrowserSession, &registration.id, status)
            .await
        {
            tracing::error!(error.message = %error, session.id = %registration.id, "cannot mark the session {status}");
        }
    }
    node.shutdown().await;
    Ok(outcome)
}

/// Registers the node as a running browser session when `--database-url` and `--org` are set.
async fn register(args: &ServeArgs, node: &BrowserNode) -> anyhow::Result<Option<Registration>> {
    let (Some(database_url), Some(org)) = (&args.database_url, &args.org) else {
        return Ok(None);
    };
    let admin = Admin::connect(database_url)
        .await
        .map_err(|e| anyhow::anyhow!("cannot open the verification database: {e}"))?;
    let (vnc_url, cdp_url) = advertised(args, node);
    let mut session = NewBrowserSession::new(org.clone());
    session.vnc_url = vnc_url;
    session.cdp_url = Some(cdp_url);
    session.timeout_minutes = args.timeout_minutes;
    let id = admin
        .create_browser_session(session)
        .await
        .map_err(|e| anyhow::anyhow!("cannot register the browser session: {e}"))?;
    tracing::info!(session.id = %id, "browser session registered");
    Ok(Some(Registration { admin, id }))
}

/// The (vnc_url, cdp_url) to publish: the advertised ones when set, else the local ones. A
/// headless node has no VNC server, so no `vnc_url` (clap refuses `--advertise-vnc-url` with
/// `--headless`; the node is asked too, so the two can never disagree).
fn advertised(args: &ServeArgs, node: &BrowserNode) -> (Option<String>, String) {
    let vnc_url = node
        .vnc_url_if_any()
        .map(|local| args.advertise_vnc_url.clone().unwrap_or(local));
    let cdp_url = args
        .advertise_cdp_url
        .clone()
        .unwrap_or_else(|| node.cdp_url());
    (vnc_url, cdp_url)
}
