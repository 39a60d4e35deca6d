//! Periodic ticks whose first tick is one period away: the keepalive pings and health checks
//! of long-lived sockets and connections.
//!
//! Why not `tokio::time::interval` with its first tick awaited and thrown away: that first
//! tick is due "now", but tokio's timer rounds every deadline up to its next millisecond, so
//! it completes only when the timer next fires, up to about a millisecond later. Until then
//! the loop serves nothing. A viewer's first RFB bytes waited for it on every connect
//! (`strace` on the gateway: the upstream's ProtocolVersion read, then an `epoll_wait` that
//! ran out its 1 ms timeout, then the write to the viewer).

use std::time::Duration;

use tokio::time::{interval_at, Instant, Interval, MissedTickBehavior};

/// Ticks every `period`, the first one `period` from now. A tick that was missed (the task
/// busy or its thread held) is taken late and the next one is a whole period after it, never
/// a burst. `period` must not be zero.
pub fn every(period: Duration) -> Interval {
    let mut ticks = interval_at(Instant::now() + period, period);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    ticks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_first_tick_is_one_period_away_and_then_one_each_period() {
        let start = Instant::now();
        let mut ticks = every(Duration::from_secs(5));
        ticks.tick().await;
        assert_eq!(start.elapsed(), Duration::from_secs(5));
        ticks.tick().await;
        assert_eq!(start.elapsed(), Duration::from_secs(10));
    }

    #[tokio::test(start_paused = true)]
    async fn a_missed_tick_is_taken_late_once_not_in_a_burst() {
        let start = Instant::now();
        let mut ticks = every(Duration::from_secs(1));
        tokio::time::advance(Duration::from_millis(3500)).await;
        ticks.tick().await;
        assert_eq!(start.elapsed(), Duration::from_millis(3500));
        ticks.tick().await;
        assert_eq!(start.elapsed(), Duration::from_millis(4500));
    }
}
