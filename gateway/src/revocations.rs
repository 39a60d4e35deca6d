//! Revocation of open sockets (PROTOCOL §5 links): every socket opened with a revocable
//! credential (an API key, a ticket minted with one, or a ticket minted from a link) holds a
//! [`RevocationGuard`] for it (refcounted per credential). One task per replica asks
//! verification every `--revocation-poll` which of the credentials in use were revoked, in one
//! batched call, and fires the guards of those; their sockets close with 1008 `revoked`. Every
//! replica polls the same verification, so a revocation reaches every replica within one
//! interval. A failed poll is retried at the next tick (a verification outage is the liveness
//! watch's business).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use service_kit::sync::lock;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::verify::Verifier;

/// Most ids per call (verification's cap).
const MAX_BATCH: usize = 10_000;

#[derive(Default)]
struct Entry {
    sockets: usize,
    revoked: CancellationToken,
}

/// The revocable credentials of this replica's open sockets.
#[derive(Clone, Default)]
pub struct Revocations {
    entries: Arc<Mutex<HashMap<String, Entry>>>,
}

/// One socket's interest in its credential; fires `revoked` when it is revoked.
pub struct RevocationGuard {
    revocations: Revocations,
    id: Option<String>,
    /// Fires when the credential was revoked (never for a socket without one).
    pub revoked: CancellationToken,
}

impl Drop for RevocationGuard {
    fn drop(&mut self) {
        let Some(id) = self.id.take() else {
            return;
        };
        let mut entries = lock(&self.revocations.entries);
        if let Some(entry) = entries.get_mut(&id) {
            entry.sockets -= 1;
            if entry.sockets == 0 {
                entries.remove(&id);
            }
        }
    }
}

impl Revocations {
    /// Starts the poll task on `tracker` (ends with `shutdown`); `interval` zero: never polls.
    pub fn start(
        verifier: Verifier,
        interval: Duration,
        tracker: &TaskTracker,
        shutdown: CancellationToken,
    ) -> Self {
        let revocations = Self::default();
        if !interval.is_zero() {
            let task = revocations.clone();
            tracker.spawn(async move { task.run(verifier, interval, shutdown).await });
        }
        revocations
    }

    /// Registers a socket opened with `id` (none: a guard that never fires).
    pub fn watch(&self, id: Option<&str>) -> RevocationGuard {
        let Some(id) = id else {
            return RevocationGuard {
                revocations: self.clone(),
                id: None,
                revoked: CancellationToken::new(),
            };
        };
        let mut entries = lock(&self.entries);
        let entry = entries.entry(id.to_owned()).or_default();
        entry.sockets += 1;
        RevocationGuard {
            revocations: self.clone(),
            id: Some(id.to_owned()),
            revoked: entry.revoked.clone(),
        }
    }

    /// The credentials in use now.
    fn in_use(&self) -> Vec<String> {
        lock(&self.entries).keys().cloned().collect()
    }

    /// Fires the guards of `revoked` (a later socket with the same id gets a fresh entry only
    /// after these are gone; a revoked credential cannot open one anyway).
    pub fn revoke(&self, revoked: &[String]) {
        let entries = lock(&self.entries);
        for id in revoked {
            if let Some(entry) = entries.get(id) {
                entry.revoked.cancel();
            }
        }
    }

    async fn run(self, verifier: Verifier, interval: Duration, shutdown: CancellationToken) {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = ticks.tick() => {}
            }
            let ids = self.in_use();
            for batch in ids.chunks(MAX_BATCH) {
                match verifier.check_revoked(batch.to_vec()).await {
                    Ok(revoked) if !revoked.is_empty() => {
                        tracing::info!(
                            credentials = revoked.len(),
                            "revoked credentials: closing their sockets"
                        );
                        self.revoke(&revoked);
                    }
                    Ok(_) => {}
                    Err(error) => {
                        tracing::debug!(error.message = %error, "revocation check failed; retried next tick");
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_revocation_fires_every_socket_of_the_credential_and_no_other() {
        let revocations = Revocations::default();
        let a1 = revocations.watch(Some("link:a"));
        let a2 = revocations.watch(Some("link:a"));
        let b = revocations.watch(Some("key:b"));
        let none = revocations.watch(None);
        assert_eq!(revocations.in_use().len(), 2);
        revocations.revoke(&["link:a".into(), "link:unknown".into()]);
        assert!(a1.revoked.is_cancelled() && a2.revoked.is_cancelled());
        assert!(!b.revoked.is_cancelled() && !none.revoked.is_cancelled());
        drop((a1, a2));
        assert_eq!(revocations.in_use(), ["key:b"]);
        drop(b);
        assert!(revocations.in_use().is_empty());
    }
}
