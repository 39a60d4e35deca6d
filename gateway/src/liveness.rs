//! Entity liveness: ONE `Watch` stream per gateway to verification. A socket holds a
//! [`LivenessGuard`] for its entity (refcounted: the entity is added on the first socket and
//! removed after the last); when verification says the entity ended, every guard's `ended`
//! token fires at once. A broken stream is re-opened with backoff and everything re-added.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

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
}

impl Drop for LivenessGuard {
    fn drop(&mut self) {
        self.liveness.release(&self.entity, self.generation);
    }
}

impl Liveness {
    /// Starts the stream task on `tracker` (ends with `shutdown`).
    pub fn start(client: Client, tracker: &TaskTracker, shutdown: CancellationToken) -> Self {
        let (commands, rx) = mpsc::channel(COMMAND_QUEUE);
        let liveness = Self {
            entries: Arc::default(),
            commands,
            resync: Arc::new(Mutex::new(CancellationToken::new())),
        };
        let task = liveness.clone();
        tracker.spawn(async move { task.run(client, rx, shutdown).await });
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
    ) {
        let mut backoff = Duration::from_millis(100);
        while !shutdown.is_cancelled() {
            let resync = {
                let mut slot = lock(&self.resync);
                *slot = CancellationToken::new();
                slot.clone()
            };
            match self
                .session(client.clone(), &mut commands, &shutdown, &resync)
                .await
            {
                Ok(()) => backoff = Duration::from_millis(100),
                Err(status) => {
                    tracing::warn!(grpc.code = ?status.code(), "watch stream broke; reconnecting")
                }
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(backoff) => {}
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
