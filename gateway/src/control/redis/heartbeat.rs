//! The subscription's liveness probe. A pub/sub connection that stops delivering without
//! closing (a partition, a dropped NAT entry, a half-dead proxy) raises no error, so the
//! subscriber would wait on it forever with stale control states and lost pair events. The
//! probe publishes a heartbeat on this replica's own channel through the command connection
//! and expects it back on the subscription, which checks the whole path.

use std::sync::atomic::Ordering;

use tokio::sync::watch;

use super::wire::{self, ReplicaMessage};
use super::Shared;

/// Resolves when the subscription is judged dead: a heartbeat Redis accepted did not come
/// back within `call_timeout`, or Redis handed it to no subscriber at all. `heard` carries
/// the highest heartbeat the subscription delivered. A heartbeat that cannot be published
/// says nothing about the subscription (the command connection replaces itself), so the
/// probe tries again at the next tick.
pub(super) async fn silenced(shared: &Shared, mut heard: watch::Receiver<u64>) {
    let period = shared.options.heartbeat_interval;
    let mut tick = service_kit::ticks::every(period);
    let channel = wire::replica_channel(&shared.options.prefix, &shared.replica);
    loop {
        tick.tick().await;
        let n = shared.heartbeats.fetch_add(1, Ordering::Relaxed) + 1;
        let payload = ReplicaMessage::Heartbeat { n }.encode();
        match shared.publish(channel.clone(), payload).await {
            Ok(0) => {
                tracing::warn!("redis bus heartbeat reached no subscriber");
                return;
            }
            Ok(_) => {}
            Err(_) => continue,
        }
        let back = heard.wait_for(|last| *last >= n);
        if !matches!(
            tokio::time::timeout(shared.options.call_timeout, back).await,
            Ok(Ok(_))
        ) {
            tracing::warn!("redis bus heartbeat did not come back on the subscription");
            return;
        }
    }
}
