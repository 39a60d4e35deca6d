//! User activity reporting: input forwarded upstream marks its browser session; a flush task
//! sends the marked sessions to verification `RecordActivity` in one batch per interval, so
//! each session is reported at most once per `--activity-interval` (default 30 s).

use std::collections::HashSet;
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
    pending: Arc<Mutex<HashSet<(String, String)>>>,
}

impl ActivityReporter {
    /// Marks (organization, browser session) as active. Never blocks.
    pub fn touch(&self, organization_id: &str, browser_session_id: &str) {
        let mut pending = lock(&self.pending);
        if pending.len() < MAX_BATCH {
            pending.insert((organization_id.to_owned(), browser_session_id.to_owned()));
        }
    }

    fn drain(&self) -> Vec<(String, String)> {
        std::mem::take(&mut *lock(&self.pending))
            .into_iter()
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
