//! Watch: every Watch stream registers the entities it watches in one shared [`Registry`]; ONE
//! poller per service instance reads the union of all watched entities with one batched query
//! per poll interval, and sends one [`Ended`] to every stream watching an entity that stopped
//! being live, then forgets it. Per-stream channels are bounded: a stream that falls a whole
//! buffer behind is ended (RESOURCE_EXHAUSTED) rather than blocking the poller.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::AnyPool;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::domain::{EntityKind, EntityRef, OrgId, Reason, Verdict};
use crate::error::VerificationError;
use crate::store::{self, entities::IdsByKind, now_ms};
use service_kit::sync::lock;

/// One watched entity of one organization.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WatchKey {
    /// The organization.
    pub org: OrgId,
    /// The entity.
    pub entity: EntityRef,
}

/// Sent once when a watched entity stops being live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ended {
    /// The entity.
    pub key: WatchKey,
    /// NOT_LIVE or NOT_READY.
    pub verdict: Verdict,
}

/// Why the service ended a stream (taken once, when the stream's events run out).
pub type StreamEnd = Arc<Mutex<Option<VerificationError>>>;

/// What the poller has done so far (published after every cycle).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PollStats {
    /// Poll cycles completed.
    pub cycles: u64,
    /// Statements the poll ran in total.
    pub queries: u64,
}

struct StreamEntry {
    tx: mpsc::Sender<Ended>,
    keys: HashSet<WatchKey>,
    cancel: CancellationToken,
    end: StreamEnd,
}

#[derive(Default)]
struct Inner {
    next_id: u64,
    streams: HashMap<u64, StreamEntry>,
    watchers: HashMap<WatchKey, HashSet<u64>>,
}

/// The shared set of watched entities, across all streams of this instance.
#[derive(Clone, Default)]
pub struct Registry {
    inner: Arc<Mutex<Inner>>,
}

/// A stream's handle on the registry.
pub struct StreamHandle {
    /// Its id in the registry.
    pub id: u64,
    /// Cancelled when the service ends the stream (see `end`).
    pub cancel: CancellationToken,
    /// Why the service ended it, if it did.
    pub end: StreamEnd,
}

impl Registry {
    /// Registers a stream whose events go to `tx`.
    pub fn open(&self, tx: mpsc::Sender<Ended>) -> StreamHandle {
        let mut inner = self.lock();
        inner.next_id += 1;
        let id = inner.next_id;
        let cancel = CancellationToken::new();
        let end: StreamEnd = Arc::new(Mutex::new(None));
        let entry = StreamEntry {
            tx,
            keys: HashSet::new(),
            cancel: cancel.clone(),
            end: end.clone(),
        };
        inner.streams.insert(id, entry);
        StreamHandle { id, cancel, end }
    }

    /// Adds an entity to a stream's set (idempotent), bounded by `max_per_stream`.
    pub fn add(
        &self,
        stream: u64,
        key: WatchKey,
        max_per_stream: usize,
    ) -> Result<(), VerificationError> {
        let mut inner = self.lock();
        let Some(entry) = inner.streams.get_mut(&stream) else {
            return Ok(());
        };
        if !entry.keys.contains(&key) && entry.keys.len() >= max_per_stream {
            return Err(VerificationError::ResourceExhausted(format!(
                "at most {max_per_stream} entities per watch stream"
            )));
        }
        entry.keys.insert(key.clone());
        inner.watchers.entry(key).or_default().insert(stream);
        Ok(())
    }

    /// Removes an entity from a stream's set (idempotent).
    pub fn remove(&self, stream: u64, key: &WatchKey) {
        let mut inner = self.lock();
        if let Some(entry) = inner.streams.get_mut(&stream) {
            entry.keys.remove(key);
        }
        detach(&mut inner, stream, key);
    }

    /// Forgets a stream and everything it watched.
    pub fn close(&self, stream: u64) {
        let mut inner = self.lock();
        if let Some(entry) = inner.streams.remove(&stream) {
            for key in &entry.keys {
                detach(&mut inner, stream, key);
            }
        }
    }

    /// The union of every stream's watched entities.
    pub fn watched(&self) -> Vec<WatchKey> {
        self.lock().watchers.keys().cloned().collect()
    }

    /// How many distinct entities are watched.
    pub fn len(&self) -> usize {
        self.lock().watchers.len()
    }

    /// Whether nothing is watched.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Sends one event per stream watching each ended entity and forgets those entities.
    pub fn notify(&self, ended: Vec<Ended>) {
        let mut inner = self.lock();
        let mut overflowed = Vec::new();
        for event in ended {
            let Some(streams) = inner.watchers.remove(&event.key) else {
                continue;
            };
            for stream in streams {
                let Some(entry) = inner.streams.get_mut(&stream) else {
                    continue;
                };
                entry.keys.remove(&event.key);
                if entry.tx.try_send(event.clone()).is_err() {
                    overflowed.push(stream);
                }
            }
        }
        for stream in overflowed {
            if let Some(entry) = inner.streams.get(&stream) {
                let error = VerificationError::ResourceExhausted("watch stream fell behind".into());
                *lock(&entry.end) = Some(error);
                entry.cancel.cancel();
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        lock(&self.inner)
    }
}

fn detach(inner: &mut Inner, stream: u64, key: &WatchKey) {
    if let Some(set) = inner.watchers.get_mut(key) {
        set.remove(&stream);
        if set.is_empty() {
            inner.watchers.remove(key);
        }
    }
}

/// The one poller of an instance.
pub struct Poller {
    /// Shared with the Watch streams.
    pub registry: Registry,
    /// Where the rows come from.
    pub pool: AnyPool,
    /// Time between polls.
    pub interval: Duration,
    /// Statements run by the poll (exposed as a metric and to tests).
    pub queries: Arc<AtomicU64>,
    /// Publishes [`PollStats`] after each cycle.
    pub stats: watch::Sender<PollStats>,
    /// Polls that failed.
    pub errors: Arc<AtomicU64>,
}

impl Poller {
    /// Polls every `interval` until `shutdown` fires.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut ticker = tokio::time::interval(self.interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut cycles = 0;
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = ticker.tick() => {}
            }
            self.poll_once().await;
            cycles += 1;
            let queries = self.queries.load(Ordering::Relaxed);
            self.stats.send_replace(PollStats { cycles, queries });
        }
    }

    /// One cycle: one batched read of every watched entity, then the events.
    pub async fn poll_once(&self) {
        let watched = self.registry.watched();
        if watched.is_empty() {
            return;
        }
        let mut ids = IdsByKind::default();
        let unique: HashSet<&EntityRef> = watched.iter().map(|k| &k.entity).collect();
        for entity in unique {
            ids.of_mut(entity.kind).push(entity.id.to_string());
        }
        let rows = match store::entities::poll(&self.pool, &ids, &self.queries).await {
            Ok(rows) => rows,
            Err(error) => {
                self.errors.fetch_add(1, Ordering::Relaxed);
                // A database outage must not end anyone's stream: try again next interval.
                tracing::warn!(error.message = %error, "watch poll failed");
                return;
            }
        };
        let by_id: HashMap<(EntityKind, &str), &store::entities::EntityRow> =
            rows.iter().map(|r| ((r.kind, r.id.as_str()), r)).collect();
        let now = now_ms();
        let ended = watched
            .into_iter()
            .filter_map(|key| {
                let verdict = match by_id.get(&(key.entity.kind, key.entity.id.as_ref())) {
                    Some(row) if row.organization_id == key.org.as_ref() => crate::service::judge(
                        key.entity.kind,
                        &row.status,
                        row.session.as_ref(),
                        now,
                        false,
                    ),
                    _ => Verdict::NotLive(Reason::NotFound),
                };
                (verdict != Verdict::Live).then_some(Ended { key, verdict })
            })
            .collect::<Vec<_>>();
        if !ended.is_empty() {
            tracing::debug!(ended = ended.len(), "watched entities ended");
            self.registry.notify(ended);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(org: &str, id: &str) -> WatchKey {
        WatchKey {
            org: OrgId::parse(org).unwrap(),
            entity: EntityRef::parse(EntityKind::BrowserSession, id).unwrap(),
        }
    }

    #[test]
    fn the_union_holds_each_entity_once_across_streams() {
        let registry = Registry::default();
        let (tx, _rx) = mpsc::channel(4);
        let a = registry.open(tx.clone());
        let b = registry.open(tx);
        registry.add(a.id, key("o", "pbs_1"), 10).unwrap();
        registry.add(b.id, key("o", "pbs_1"), 10).unwrap();
        registry.add(b.id, key("o", "pbs_2"), 10).unwrap();
        assert_eq!(registry.len(), 2);
        registry.close(b.id);
        assert_eq!(registry.watched(), vec![key("o", "pbs_1")]);
        registry.remove(a.id, &key("o", "pbs_1"));
        assert!(registry.is_empty());
    }

    #[test]
    fn every_watching_stream_gets_one_event_and_forgets_the_entity() {
        let registry = Registry::default();
        let (tx_a, mut rx_a) = mpsc::channel(4);
        let (tx_b, mut rx_b) = mpsc::channel(4);
        let a = registry.open(tx_a);
        let b = registry.open(tx_b);
        registry.add(a.id, key("o", "pbs_1"), 10).unwrap();
        registry.add(b.id, key("o", "pbs_1"), 10).unwrap();
        let event = Ended {
            key: key("o", "pbs_1"),
            verdict: Verdict::NotLive(Reason::FinalStatus),
        };
        registry.notify(vec![event.clone()]);
        assert_eq!(rx_a.try_recv().unwrap(), event);
        assert_eq!(rx_b.try_recv().unwrap(), event);
        assert!(registry.is_empty());
        registry.notify(vec![event]);
        assert!(rx_a.try_recv().is_err());
    }

    #[test]
    fn a_stream_a_whole_buffer_behind_is_ended_not_waited_for() {
        let registry = Registry::default();
        let (tx, _rx) = mpsc::channel(1);
        let handle = registry.open(tx);
        for id in ["pbs_1", "pbs_2"] {
            registry.add(handle.id, key("o", id), 10).unwrap();
        }
        let ended = ["pbs_1", "pbs_2"].map(|id| Ended {
            key: key("o", id),
            verdict: Verdict::NotLive(Reason::Expired),
        });
        registry.notify(ended.to_vec());
        assert!(handle.cancel.is_cancelled());
        assert!(matches!(
            *handle.end.lock().unwrap(),
            Some(VerificationError::ResourceExhausted(_))
        ));
    }

    #[test]
    fn a_stream_cannot_watch_more_than_its_bound() {
        let registry = Registry::default();
        let (tx, _rx) = mpsc::channel(1);
        let handle = registry.open(tx);
        registry.add(handle.id, key("o", "pbs_1"), 1).unwrap();
        registry.add(handle.id, key("o", "pbs_1"), 1).unwrap();
        assert!(registry.add(handle.id, key("o", "pbs_2"), 1).is_err());
    }
}
