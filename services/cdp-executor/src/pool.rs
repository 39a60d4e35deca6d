//! The connection pool: one persistent CDP connection per browser session, opened on first
//! use, redialled with exponential backoff after a failure, closed when idle or when the
//! session stops being live, and bounded in number.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use service_kit::upstream::AllowList;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::browser::BrowserConn;
use crate::cdp;
use crate::config::PoolSettings;
use crate::endpoint::{self, EndpointError};
use crate::error::ExecutorError;
use crate::metrics::Metrics;
use crate::resolve::{Resolved, Resolver, SessionKey};
use service_kit::sync::lock;

/// The pool.
#[derive(Debug)]
pub struct Pool {
    settings: PoolSettings,
    allow: AllowList,
    entries: Mutex<HashMap<SessionKey, Arc<Entry>>>,
    tracker: TaskTracker,
    token: CancellationToken,
    metrics: Arc<Metrics>,
}

#[derive(Debug)]
struct Entry {
    slot: tokio::sync::Mutex<Slot>,
    last_used: Mutex<Instant>,
    /// Calls and user-event streams in progress: a session with one is never idle.
    busy: AtomicUsize,
    trusted: bool,
}

#[derive(Debug, Default)]
struct Slot {
    browser: Option<Arc<BrowserConn>>,
    cdp_url: String,
    failures: u32,
    retry_at: Option<Instant>,
    /// Whether this session was dialled before (a further dial is a reconnect).
    dialled: bool,
}

/// Keeps a session busy (never closed as idle) while a call or a user-event stream runs.
#[derive(Debug)]
pub struct Lease(Arc<Entry>);

impl Drop for Lease {
    fn drop(&mut self) {
        self.0.busy.fetch_sub(1, Ordering::SeqCst);
        *lock(&self.0.last_used) = Instant::now();
    }
}

impl Pool {
    /// An empty pool whose connections run on `tracker` and end with `token`.
    pub fn new(
        settings: PoolSettings,
        allow: AllowList,
        tracker: TaskTracker,
        token: CancellationToken,
    ) -> Self {
        Self {
            settings,
            allow,
            entries: Mutex::new(HashMap::new()),
            tracker,
            token,
            metrics: Arc::new(Metrics::default()),
        }
    }

    /// Reports connections and reconnects to `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = metrics;
        self
    }

    /// Open connections (for tests and metrics).
    pub fn len(&self) -> usize {
        lock(&self.entries).len()
    }

    /// Whether the pool holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn entry(&self, resolved: &Resolved) -> Result<Arc<Entry>, ExecutorError> {
        let mut entries = lock(&self.entries);
        if let Some(entry) = entries.get(&resolved.key) {
            return Ok(entry.clone());
        }
        if entries.len() >= self.settings.max_connections {
            return Err(ExecutorError::ResourceExhausted(
                "too many browser connections",
            ));
        }
        let entry = Arc::new(Entry {
            slot: tokio::sync::Mutex::new(Slot::default()),
            last_used: Mutex::new(Instant::now()),
            busy: AtomicUsize::new(0),
            trusted: resolved.trusted,
        });
        entries.insert(resolved.key.clone(), entry.clone());
        Ok(entry)
    }

    /// The session's connection, dialled when there is none (or it died), and a lease that
    /// keeps it from being closed as idle until dropped. During the backoff after a failed
    /// dial, calls fail at once with UNAVAILABLE.
    pub async fn get(
        &self,
        resolved: &Resolved,
    ) -> Result<(Arc<BrowserConn>, Lease), ExecutorError> {
        let entry = self.entry(resolved)?;
        entry.busy.fetch_add(1, Ordering::SeqCst);
        let lease = Lease(entry.clone());
        *lock(&entry.last_used) = Instant::now();
        self.connection(&entry, resolved)
            .await
            .map(|browser| (browser, lease))
    }

    async fn connection(
        &self,
        entry: &Entry,
        resolved: &Resolved,
    ) -> Result<Arc<BrowserConn>, ExecutorError> {
        let mut slot = entry.slot.lock().await;
        if let Some(browser) = &slot.browser {
            if !browser.cdp().is_closed() && slot.cdp_url == resolved.cdp_url {
                return Ok(browser.clone());
            }
            browser.cdp().close();
            slot.browser = None;
        }
        if slot.retry_at.is_some_and(|at| Instant::now() < at) && slot.cdp_url == resolved.cdp_url {
            return Err(ExecutorError::Unavailable(None));
        }
        slot.cdp_url = resolved.cdp_url.clone();
        if std::mem::replace(&mut slot.dialled, true) {
            self.metrics.reconnects.inc();
        }
        match self.dial(&resolved.cdp_url).await {
            Ok(browser) => {
                slot.failures = 0;
                slot.retry_at = None;
                slot.browser = Some(browser.clone());
                Ok(browser)
            }
            Err(error) => {
                slot.failures = slot.failures.saturating_add(1);
                slot.retry_at = Some(Instant::now() + backoff(&self.settings, slot.failures));
                Err(error)
            }
        }
    }

    async fn dial(&self, cdp_url: &str) -> Result<Arc<BrowserConn>, ExecutorError> {
        let timeout = self.settings.connect_timeout;
        let attempt = async {
            let ws = endpoint::websocket_url(cdp_url, &self.allow, timeout)
                .await
                .map_err(|e| match e {
                    EndpointError::NotAllowed(_) | EndpointError::Malformed => {
                        ExecutorError::FailedPrecondition("the browser endpoint is not allowed")
                    }
                    EndpointError::Discovery(e) => ExecutorError::Unavailable(Some(e)),
                })?;
            let handle = cdp::connect(
                &ws,
                self.settings.health_interval,
                &self.tracker,
                &self.token,
            )
            .await
            .map_err(|e| ExecutorError::Unavailable(Some(e.into())))?;
            let (gauge, closed) = (self.metrics.connections.clone(), handle.clone());
            gauge.inc();
            self.tracker.spawn(async move {
                closed.closed().await;
                gauge.dec();
            });
            Ok(Arc::new(BrowserConn::new(handle)))
        };
        tokio::time::timeout(timeout, attempt)
            .await
            .map_err(|_| ExecutorError::Unavailable(None))?
    }

    /// Closes and forgets one session's connection.
    pub async fn close(&self, key: &SessionKey) {
        let entry = lock(&self.entries).remove(key);
        if let Some(entry) = entry {
            if let Some(browser) = entry.slot.lock().await.browser.take() {
                browser.cdp().close();
            }
        }
    }

    /// One sweep: closes connections idle for longer than the idle timeout, and those whose
    /// session verification no longer answers live.
    pub async fn sweep(&self, resolver: &Resolver) {
        let entries: Vec<(SessionKey, Arc<Entry>)> = lock(&self.entries)
            .iter()
            .map(|(k, e)| (k.clone(), e.clone()))
            .collect();
        for (key, entry) in entries {
            let ended = !entry.trusted
                && matches!(
                    resolver.verify(&key).await,
                    Err(ExecutorError::NotFound | ExecutorError::FailedPrecondition(_))
                );
            // Decided under the map lock, on this very entry: a call that started meanwhile
            // (or a new entry under the same key) keeps its connection.
            let removed = {
                let mut entries = lock(&self.entries);
                let same = entries
                    .get(&key)
                    .is_some_and(|current| Arc::ptr_eq(current, &entry));
                let idle = lock(&entry.last_used).elapsed() >= self.settings.idle_timeout;
                let busy = entry.busy.load(Ordering::SeqCst) > 0;
                (same && (ended || (idle && !busy)))
                    .then(|| entries.remove(&key))
                    .flatten()
            };
            if let Some(entry) = removed {
                tracing::debug!(session.id = %key.browser_session_id, ended, "closing browser connection");
                if let Some(browser) = entry.slot.lock().await.browser.take() {
                    browser.cdp().close();
                }
            }
        }
    }

    /// Sweeps every sweep interval (at most a quarter of the idle timeout) until the pool's
    /// token is cancelled.
    pub fn spawn_sweeper(self: &Arc<Self>, resolver: Arc<Resolver>) {
        let pool = self.clone();
        let interval = (self.settings.idle_timeout / 4)
            .min(self.settings.sweep_interval)
            .max(Duration::from_millis(10));
        let token = self.token.clone();
        self.tracker.spawn(
            async move {
                let mut ticks = tokio::time::interval(interval);
                loop {
                    tokio::select! {
                        () = token.cancelled() => break,
                        _ = ticks.tick() => pool.sweep(&resolver).await,
                    }
                }
            }
            .instrument(tracing::debug_span!("cdp.pool.sweeper")),
        );
    }
}

/// The wait after `failures` failed dials: doubling from the first wait, capped.
fn backoff(settings: &PoolSettings, failures: u32) -> Duration {
    let factor = 2u32.saturating_pow(failures.saturating_sub(1).min(16));
    settings
        .backoff
        .saturating_mul(factor)
        .min(settings.backoff_max)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> PoolSettings {
        PoolSettings {
            connect_timeout: Duration::from_secs(1),
            idle_timeout: Duration::from_secs(60),
            health_interval: Duration::from_secs(10),
            backoff: Duration::from_millis(100),
            backoff_max: Duration::from_millis(1000),
            verify_cache: Duration::ZERO,
            sweep_interval: Duration::from_secs(1),
            max_connections: 1,
        }
    }

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        let s = settings();
        assert_eq!(backoff(&s, 1), Duration::from_millis(100));
        assert_eq!(backoff(&s, 3), Duration::from_millis(400));
        assert_eq!(backoff(&s, 30), Duration::from_millis(1000));
    }

    fn resolved(id: &str, url: &str) -> Resolved {
        Resolved {
            key: SessionKey {
                organization_id: "o".into(),
                browser_session_id: id.into(),
            },
            cdp_url: url.into(),
            trusted: true,
        }
    }

    #[tokio::test]
    async fn unreachable_browsers_fail_fast_and_the_pool_is_bounded() {
        let pool = Pool::new(
            settings(),
            AllowList::loopback(),
            TaskTracker::new(),
            CancellationToken::new(),
        );
        // Port 1 on loopback refuses connections at once.
        let first = pool.get(&resolved("pbs_1", "http://127.0.0.1:1")).await;
        assert!(matches!(first, Err(ExecutorError::Unavailable(_))));
        // Inside the backoff the pool does not even dial.
        let second = pool.get(&resolved("pbs_1", "http://127.0.0.1:1")).await;
        assert!(matches!(second, Err(ExecutorError::Unavailable(None))));
        let full = pool.get(&resolved("pbs_2", "http://127.0.0.1:1")).await;
        assert!(matches!(full, Err(ExecutorError::ResourceExhausted(_))));
        let outside = Pool::new(
            settings(),
            AllowList::loopback(),
            TaskTracker::new(),
            CancellationToken::new(),
        );
        let refused = outside
            .get(&resolved("pbs_3", "http://10.9.9.9:9222"))
            .await;
        assert!(matches!(refused, Err(ExecutorError::FailedPrecondition(_))));
    }
}
