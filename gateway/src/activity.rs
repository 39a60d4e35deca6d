//! User activity reporting: input forwarded upstream marks its browser session; a flush task
//! sends the marked sessions to verification `RecordActivity` in one batch per interval, so
//! each session is reported at most once per `--activity-interval` (default 30 s).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::verify::Verifier;
use service_kit::sync::lock;

/// Most sessions per RecordActivity call (the contract's cap).
const MAX_BATCH: usize = 10_000;

/// Collects active sessions between flushes.
#[derive(Clone, Default)]
pub struct ActivityReporter {
    pending: Arc<Mutex<Pending>>,
}

/// The sessions marked since the last flush, by organization: looked up by `&str`, so marking a
/// session already marked (every input event but its first) allocates nothing.
#[derive(Default)]
struct Pending {
    by_org: HashMap<String, HashSet<String>>,
    sessions: usize,
}

impl ActivityReporter {
    /// Marks (organization, browser session) as active. Never blocks.
    pub fn touch(&self, organization_id: &str, browser_session_id: &str) {
        let mut pending = lock(&self.pending);
        let marked = pending
            .by_org
            .get(organization_id)
            .is_some_and(|sessions| sessions.contains(browser_session_id));
        if marked || pending.sessions >= MAX_BATCH {
            return;
        }
        pending
            .by_org
            .entry(organization_id.to_owned())
            .or_default()
            .insert(browser_session_id.to_owned());
        pending.sessions += 1;
    }

    fn drain(&self) -> Vec<(String, String)> {
        let pending = std::mem::take(&mut *lock(&self.pending));
        pending
            .by_org
            .into_iter()
            .flat_map(|(org, sessions)| sessions.into_iter().map(move |id| (org.clone(), id)))
            .collect()
    }

    /// Flushes every `interval` until `shutdown`.
    pub async fn run(self, verifier: Verifier, interval: Duration, shutdown: CancellationToken) {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = ticker.tick() => {}
            }
            let batch = self.drain();
            if batch.is_empty() {
                continue;
            }
            let count = batch.len();
            match verifier.record_activity(batch).await {
                Ok(updated) => tracing::debug!(count, updated, "activity reported"),
                Err(error) => {
                    tracing::warn!(count, error.message = %error, "activity report failed")
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_session_is_reported_once_per_flush_and_the_batch_is_capped() {
        let reporter = ActivityReporter::default();
        reporter.touch("org_a", "pbs_1");
        reporter.touch("org_a", "pbs_1");
        reporter.touch("org_a", "pbs_2");
        reporter.touch("org_b", "pbs_1");
        let mut batch = reporter.drain();
        batch.sort();
        let pair = |o: &str, s: &str| (o.to_owned(), s.to_owned());
        assert_eq!(
            batch,
            [
                pair("org_a", "pbs_1"),
                pair("org_a", "pbs_2"),
                pair("org_b", "pbs_1")
            ]
        );
        assert!(reporter.drain().is_empty(), "a flush empties the marks");

        for i in 0..MAX_BATCH + 5 {
            reporter.touch("org_a", &format!("pbs_{i}"));
        }
        assert_eq!(reporter.drain().len(), MAX_BATCH);
    }
}
