//! Entity liveness: ONE `Watch` stream per gateway to verification. A socket holds a
//! [`LivenessGuard`] for its entity (refcounted: the entity is added on the first socket and
//! removed after the last); when verification says the entity ended, every guard's `ended`
//! token fires at once. A broken stream is re-opened with backoff and everything re-added.
//! Streams go on while verification is unreachable, for at most `--verification-outage-grace`:
//! past it, every guard's `unverifiable` token fires (the sockets close with
//! `verification-unavailable`), since nobody could tell them that their entity ended.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;

use proto::verification::v1 as pb;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::entity::EntityKey;
use crate::verify::Client;
use service_kit::sync::lock;

/// Bound of the add/remove queue towards the stream task; when full the stream is re-opened
/// (which re-adds every entity), so a change is never lost.
const COMMAND_QUEUE: usize = 4096;
/// Longest pause between two reconnect attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Watches entities for the whole replica.
#[derive(Clone)]
pub struct Liveness {
    entries: Arc<Mutex<Entries>>,
    commands: mpsc::Sender<pb::WatchRequest>,
    /// Cancelled to force the stream task to re-open (after a lost command).
    resync: Arc<Mutex<CancellationToken>>,
    /// Cancelled when verification has been unreachable for longer than the grace, then
    /// replaced for the sockets admitted after.
    outage: Arc<Mutex<CancellationToken>>,
}

#[derive(Default)]
struct Entries {
    by_entity: HashMap<EntityKey, Entry>,
    /// Numbers each entry, so a guard of an ended entry never releases its successor's.
    next_generation: u64,
}

struct Entry {
    generation: u64,
    sockets: usize,
    ended: CancellationToken,
}

/// One socket's interest in an entity. Dropping it releases the interest.
pub struct LivenessGuard {
    liveness: Liveness,
    entity: EntityKey,
    /// The entry it counts in: after the entity ended and a new socket watched it again, the
    /// entry is a new one, which this guard must leave alone.
    generation: u64,
    /// Fires when the entity stops being live.
    pub ended: CancellationToken,
    /// Fires when verification stayed unreachable past the outage grace.
    pub unverifiable: CancellationToken,
}

impl Drop for LivenessGuard {
    fn drop(&mut self) {
        self.liveness.release(&self.entity, self.generation);
    }
}

impl Liveness {
    /// Starts the stream task on `tracker` (ends with `shutdown`); sockets are told when
    /// verification stayed unreachable for `outage_grace` (zero: never).
    pub fn start(
        client: Client,
        tracker: &TaskTracker,
        shutdown: CancellationToken,
        outage_grace: Duration,
    ) -> Self {
        let (commands, rx) = mpsc::channel(COMMAND_QUEUE);
        let liveness = Self {
            entries: Arc::default(),
            commands,
            resync: Arc::new(Mutex::new(CancellationToken::new())),
            outage: Arc::new(Mutex::new(CancellationToken::new())),
        };
        let task = liveness.clone();
        tracker.spawn(async move { task.run(client, rx, shutdown, outage_grace).await });
        liveness
    }

    fn lock(&self) -> MutexGuard<'_, Entries> {
        lock(&self.entries)
    }

    /// Registers a socket's interest in `entity`.
    pub fn watch(&self, entity: EntityKey) -> LivenessGuard {
        let mut entries = self.lock();
        let entries = &mut *entries;
        let entry = entries.by_entity.entry(entity.clone()).or_insert_with(|| {
            entries.next_generation += 1;
            Entry {
                generation: entries.next_generation,
                sockets: 0,
                ended: CancellationToken::new(),
            }
        });
        entry.sockets += 1;
        let (generation, ended) = (entry.generation, entry.ended.clone());
        if entry.sockets == 1 {
            // Queued under the lock, so an Add and a Remove of one entity reach verification
            // in the order the map saw them.
            self.command(pb::watch_request::Change::Add(entity.to_watched()));
        }
        LivenessGuard {
            liveness: self.clone(),
            entity,
            generation,
            ended,
            unverifiable: lock(&self.outage).clone(),
        }
    }

    fn release(&self, entity: &EntityKey, generation: u64) {
        let mut entries = self.lock();
        let Some(entry) = entries.by_entity.get_mut(entity) else {
            return;
        };
        if entry.generation != generation {
            // This guard's entry ended (and was removed); a later socket's entry is not ours.
            return;
        }
        entry.sockets -= 1;
        if entry.sockets > 0 {
            return;
        }
        entries.by_entity.remove(entity);
        self.command(pb::watch_request::Change::Remove(entity.to_watched()));
    }

    fn command(&self, change: pb::watch_request::Change) {
        if self
            .commands
            .try_send(pb::WatchRequest {
                change: Some(change),
            })
            .is_err()
        {
            tracing::warn!("watch command queue full; re-opening the watch stream");
            lock(&self.resync).cancel();
        }
    }

    fn ended(&self, event: &pb::WatchEvent) {
        let Some(entity) = event.entity.as_ref().and_then(EntityKey::from_watched) else {
            return;
        };
        if let Some(entry) = self.lock().by_entity.remove(&entity) {
            tracing::info!(entity.kind = entity.kind.as_str(), entity.id = %entity.id, reason = %event.reason, "entity ended; closing its sockets");
            entry.ended.cancel();
        }
    }

    async fn run(
        self,
        client: Client,
        mut commands: mpsc::Receiver<pb::WatchRequest>,
        shutdown: CancellationToken,
        outage_grace: Duration,
    ) {
        let mut backoff = Duration::from_millis(100);
        // Since when no Watch stream has been open (None: one is, or the outage was told).
        let mut down_since: Option<Instant> = None;
        while !shutdown.is_cancelled() {
            let resync = {
                let mut slot = lock(&self.resync);
                *slot = CancellationToken::new();
                slot.clone()
            };
            let mut opened = false;
            let result = self
                .session(
                    client.clone(),
                    &mut commands,
                    &shutdown,
                    &resync,
                    &mut opened,
                )
                .await;
            if opened {
                down_since = None;
            }
            match result {
                Ok(()) => backoff = Duration::from_millis(100),
                Err(status) => {
                    tracing::warn!(grpc.code = ?status.code(), "watch stream broke; reconnecting");
                    down_since.get_or_insert_with(Instant::now);
                }
            }
            let wake = Instant::now() + backoff;
            let told = down_since
                .filter(|_| !outage_grace.is_zero())
                .map(|since| since + outage_grace);
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep_until(wake) => {}
                () = tokio::time::sleep_until(told.unwrap_or(wake)), if told.is_some_and(|t| t < wake) => {}
            }
            if told.is_some_and(|t| t <= Instant::now()) {
                tracing::warn!(
                    grace = ?outage_grace,
                    "verification unreachable past the outage grace; closing the sockets it watched"
                );
                let old = std::mem::take(&mut *lock(&self.outage));
                old.cancel();
                down_since = None;
                continue;
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// One Watch stream: re-adds every entity, then forwards commands and events.
    async fn session(
        &self,
        mut client: Client,
        commands: &mut mpsc::Receiver<pb::WatchRequest>,
        shutdown: &CancellationToken,
        resync: &CancellationToken,
        opened: &mut bool,
    ) -> Result<(), tonic::Status> {
        // Commands queued before this stream are covered by the snapshot below.
        while commands.try_recv().is_ok() {}
        let snapshot: Vec<_> = self
            .lock()
            .by_entity
            .keys()
            .map(EntityKey::to_watched)
            .collect();
        let (tx, rx) = mpsc::channel(COMMAND_QUEUE + snapshot.len());
        for entity in snapshot {
            let _ = tx.try_send(pb::WatchRequest {
                change: Some(pb::watch_request::Change::Add(entity)),
            });
        }
        let mut events = client.watch(ReceiverStream::new(rx)).await?.into_inner();
        *opened = true;
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return Ok(()),
                () = resync.cancelled() => return Ok(()),
                command = commands.recv() => {
                    let Some(command) = command else { return Ok(()) };
                    if tx.send(command).await.is_err() {
                        return Err(tonic::Status::unavailable("watch request stream closed"));
                    }
                }
                event = events.message() => match event? {
                    Some(event) => self.ended(&event),
                    None => return Err(tonic::Status::unavailable("watch stream ended")),
                },
            }
        }
    }
}

#[cfg(test)]
mod tests;
