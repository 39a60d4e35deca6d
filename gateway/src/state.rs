//! What every request handler shares: configuration, verification client, control bus,
//! liveness watcher, activity reporter, metrics, and the shutdown token and task tracker.

use std::sync::Arc;

use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::activity::ActivityReporter;
use crate::config::Config;
use crate::control::ControlBus;
use crate::edge_limits::EdgeLimits;
use crate::executor::Executor;
use crate::liveness::Liveness;
use crate::metrics::Metrics;
use crate::org_limits::OrgLimits;
use crate::org_sockets::OrgSockets;
use crate::policy::Policy;
use crate::verify::Verifier;

/// Shared state of one gateway, behind one pointer: every socket's task holds a clone in each
/// of its async layers for its whole life, and the parts inline are about 800 bytes.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    /// Wraps the parts.
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The parts of [`AppState`].
pub struct Shared {
    /// Configuration.
    pub config: Arc<Config>,
    /// Verification client.
    pub verifier: Verifier,
    /// Control state and pairing.
    pub bus: Arc<dyn ControlBus>,
    /// The one Watch stream.
    pub liveness: Liveness,
    /// Activity batching.
    pub activity: ActivityReporter,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// The input policy.
    pub policy: Arc<Policy>,
    /// The cdp-executor client (answers `Unavailable` when none is configured).
    pub executor: Executor,
    /// Cancelled when the gateway starts draining.
    pub shutdown: CancellationToken,
    /// Every socket task, so shutdown can wait for them.
    pub tracker: TaskTracker,
    /// Caps concurrent authorized stream sockets.
    pub sockets: Arc<Semaphore>,
    /// Caps stream sockets in authentication (before they may take a `sockets` permit).
    pub authenticating: Arc<Semaphore>,
    /// Per-address budgets of failed authentications and ticket mints.
    pub edge_limits: EdgeLimits,
    /// Open stream sockets per organization, capped.
    pub org_sockets: Arc<OrgSockets>,
    /// Message frames and input events per second per organization.
    pub org_limits: Arc<OrgLimits>,
    /// One screencast per watched browser session, fanned out to its viewers.
    pub screencasts: crate::screencasts::Screencasts,
    /// The revocable credentials of open sockets.
    pub revocations: crate::revocations::Revocations,
}
