//! The Redis bus's tasks: the subscriber (control changes and this replica's messages, with
//! a heartbeat, reconnect, backoff and resync) and the maintenance tick (grace sweep, socket liveness
//! refresh, dropping unwatched sessions).

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::wire::{self, ReplicaMessage};
use super::{call, heartbeat, Shared};
use crate::control::BusError;

/// First and longest wait between two subscription attempts.
const BACKOFF: (Duration, Duration) = (Duration::from_millis(50), Duration::from_secs(2));

/// Keeps this replica subscribed until `shutdown`.
pub(super) async fn subscribe(shared: Arc<Shared>, shutdown: CancellationToken) {
    let mut backoff = BACKOFF.0;
    while !shutdown.is_cancelled() {
        match connect(&shared).await {
            Ok(pubsub) => {
                backoff = BACKOFF.0;
                shared.subscribed.send_replace(true);
                tracing::info!(replica = %shared.replica, "redis bus subscribed");
                let resync = shared.tracker.spawn(resync(shared.clone()));
                listen(&shared, pubsub, &shutdown).await;
                resync.abort();
                shared.subscribed.send_replace(false);
                tracing::warn!("redis bus subscription lost");
            }
            Err(error) => tracing::warn!(error.message = %error, "redis bus not subscribed"),
        }
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            () = shutdown.cancelled() => {}
        }
        backoff = (backoff * 2).min(BACKOFF.1);
    }
}

async fn connect(shared: &Shared) -> anyhow::Result<redis::aio::PubSub> {
    let prefix = &shared.options.prefix;
    let channels = [
        wire::control_channel(prefix),
        wire::replica_channel(prefix, &shared.replica),
    ];
    let setup = async {
        let mut pubsub = shared.client.get_async_pubsub().await?;
        pubsub.subscribe(&channels).await?;
        anyhow::Ok(pubsub)
    };
    tokio::time::timeout(shared.options.call_timeout, setup)
        .await
        .map_err(|_| anyhow::anyhow!("subscribing timed out"))?
}

/// Hands every message to its receiver until the subscription closes, errs, or goes silent
/// (dropping it then closes its connection).
async fn listen(shared: &Shared, pubsub: redis::aio::PubSub, shutdown: &CancellationToken) {
    let control = wire::control_channel(&shared.options.prefix);
    let mut messages = pubsub.into_on_message();
    let (heard, heard_rx) = watch::channel(0);
    let silenced = heartbeat::silenced(shared, heard_rx);
    tokio::pin!(silenced);
    loop {
        let message = tokio::select! {
            message = messages.next() => message,
            () = &mut silenced => return,
            () = shutdown.cancelled() => return,
        };
        let Some(message) = message else {
            return;
        };
        let payload = message.get_payload_bytes();
        if message.get_channel_name() == control {
            shared.apply_payload(payload, false);
            continue;
        }
        match ReplicaMessage::decode(payload) {
            Some(ReplicaMessage::Heartbeat { n }) => {
                heard.send_if_modified(|last| std::mem::replace(last, n.max(*last)) < n);
            }
            Some(message) => {
                shared.deliver(message);
            }
            None => tracing::warn!("malformed replica message ignored"),
        }
    }
}

/// After (re)subscribing: changes may have been missed and Redis may have lost our sockets
/// (a restart without persistence), so re-read every watched session and re-assert sockets.
async fn resync(shared: Arc<Shared>) {
    let sessions: Vec<_> = shared.lock().sessions.keys().cloned().collect();
    for session in sessions {
        if shared.read_state(&session, true).await.is_err() {
            return;
        }
    }
    let _ = refresh(&shared, true).await;
}

/// Refreshes the liveness of this replica's sockets (`reclaim`: re-create what Redis lost).
async fn refresh(shared: &Shared, reclaim: bool) -> Result<(), BusError> {
    let sockets: Vec<_> = {
        let local = shared.lock();
        local
            .sockets
            .iter()
            .filter(|(_, s)| !s.superseded.is_cancelled())
            .map(|(nonce, s)| {
                let id = wire::session_id(&s.session);
                let me = wire::socket_id(&shared.replica, *nonce);
                (
                    id,
                    [s.slot.clone(), me, s.client_id.to_string(), flag(reclaim)],
                )
            })
            .collect()
    };
    for (id, args) in sockets {
        let _: i64 = shared.invoke(call("refresh", &id, args)).await?;
    }
    Ok(())
}

fn flag(on: bool) -> String {
    if on { "1" } else { "0" }.to_owned()
}

/// Every `sweep_interval`: expire due grace deadlines and forget unwatched sessions; every
/// third of the socket TTL: refresh this replica's sockets.
pub(super) async fn maintain(shared: Arc<Shared>, shutdown: CancellationToken) {
    let mut sweep = tokio::time::interval(shared.options.sweep_interval);
    let mut refresh_tick = tokio::time::interval(shared.options.socket_ttl / 3);
    for tick in [&mut sweep, &mut refresh_tick] {
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    }
    loop {
        tokio::select! {
            _ = sweep.tick() => {
                let _: Result<i64, _> = shared.invoke(call("sweep", "", [])).await;
                shared.lock().sessions.retain(|_, sender| sender.receiver_count() > 0);
            }
            _ = refresh_tick.tick() => {
                let _ = refresh(&shared, false).await;
            }
            () = shutdown.cancelled() => return,
        }
    }
}
