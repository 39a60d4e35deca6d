//! Keyed token buckets, the pure core of the edge's rate limits: per client address
//! (failed authentications, ticket mints per minute: [`crate::edge_limits`]) and per
//! organization (Message frames and input events per second: [`crate::org_limits`]).
//!
//! Pure: the caller passes the clock. A bucket per key holds `capacity` events and refills at
//! the rate. The table is bounded: when it is full of keys still paying back, new keys share
//! one overflow bucket, so spraying keys cannot grow memory nor escape the limit.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::Instant;

/// Keys tracked at once per budget.
pub const MAX_TRACKED: usize = 65_536;

/// One budget (failed authentications, ticket mints, frames…) of every key.
#[derive(Debug)]
pub struct Budget<K> {
    /// Events a bucket holds (0: unlimited).
    capacity: u32,
    /// Events a bucket gets back per second.
    per_second: f64,
    max_tracked: usize,
    buckets: HashMap<K, Bucket>,
    overflow: Bucket,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn full(capacity: u32, now: Instant) -> Self {
        Self {
            tokens: f64::from(capacity),
            at: now,
        }
    }

    /// Refills for the time since the last look (at most to `capacity`).
    fn refill(&mut self, capacity: u32, per_second: f64, now: Instant) {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * per_second).min(f64::from(capacity));
        self.at = now;
    }
}

impl<K: Hash + Eq> Budget<K> {
    /// `n` events per minute per key, a minute's worth at once (0: unlimited), tracking at
    /// most `max_tracked` keys before they share the overflow bucket.
    pub fn per_minute(n: u32, max_tracked: usize, now: Instant) -> Self {
        Self::new(n, f64::from(n) / 60.0, max_tracked, now)
    }

    /// `n` events per second per key, a second's worth at once (0: unlimited).
    pub fn per_second(n: u32, max_tracked: usize, now: Instant) -> Self {
        Self::new(n, f64::from(n), max_tracked, now)
    }

    fn new(capacity: u32, per_second: f64, max_tracked: usize, now: Instant) -> Self {
        Self {
            capacity,
            per_second,
            max_tracked: max_tracked.max(1),
            buckets: HashMap::new(),
            overflow: Bucket::full(capacity, now),
        }
    }

    /// Whether `key` has at least one event left, without spending it.
    pub fn allows(&mut self, key: K, now: Instant) -> bool {
        if self.capacity == 0 {
            return true;
        }
        self.bucket(key, now).tokens >= 1.0
    }

    /// Spends one event of `key`; false (and nothing spent) when none is left.
    pub fn spend(&mut self, key: K, now: Instant) -> bool {
        if self.capacity == 0 {
            return true;
        }
        let bucket = self.bucket(key, now);
        if bucket.tokens < 1.0 {
            return false;
        }
        bucket.tokens -= 1.0;
        true
    }

    /// Whole seconds until `key` has one event again (0 when it has one now).
    pub fn retry_after(&mut self, key: K, now: Instant) -> u64 {
        if self.capacity == 0 {
            return 0;
        }
        let missing = (1.0 - self.bucket(key, now).tokens).max(0.0);
        (missing / self.per_second).ceil() as u64
    }

    /// Keys with their own bucket (the rest share the overflow bucket).
    pub fn tracked(&self) -> usize {
        self.buckets.len()
    }

    fn bucket(&mut self, key: K, now: Instant) -> &mut Bucket {
        let (capacity, per_second) = (self.capacity, self.per_second);
        if !self.buckets.contains_key(&key) && self.buckets.len() >= self.max_tracked {
            // A bucket that refilled is the same as none: forget those first.
            self.buckets.retain(|_, bucket| {
                bucket.refill(capacity, per_second, now);
                bucket.tokens < f64::from(capacity)
            });
        }
        let bucket = if self.buckets.contains_key(&key) || self.buckets.len() < self.max_tracked {
            self.buckets
                .entry(key)
                .or_insert_with(|| Bucket::full(capacity, now))
        } else {
            &mut self.overflow
        };
        bucket.refill(capacity, per_second, now);
        bucket
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn ip(s: &str) -> std::net::IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn an_address_spends_its_minute_then_refills_at_the_rate() {
        // Arrange
        let t0 = Instant::now();
        let mut budget = Budget::per_minute(3, 16, t0);
        let a = ip("203.0.113.7");
        // Act
        let spent: Vec<bool> = (0..4).map(|_| budget.spend(a, t0)).collect();
        let waited = budget.retry_after(a, t0);
        let after_20s = budget.spend(a, t0 + Duration::from_secs(20));
        let again = budget.spend(a, t0 + Duration::from_secs(20));
        // Assert
        assert_eq!(spent, [true, true, true, false]);
        assert_eq!(waited, 20, "one event every 20 s at 3 per minute");
        assert!(after_20s);
        assert!(!again);
        assert!(
            budget.allows(ip("203.0.113.8"), t0),
            "another address is untouched"
        );
    }

    #[test]
    fn a_full_table_forgets_refilled_addresses_then_shares_one_overflow_bucket() {
        // Arrange: two tracked addresses, both still paying back.
        let t0 = Instant::now();
        let mut budget = Budget::per_minute(2, 2, t0);
        budget.spend(ip("192.0.2.1"), t0);
        budget.spend(ip("192.0.2.2"), t0);
        // Act: sprayed addresses land in the shared overflow bucket.
        let sprayed: Vec<bool> = (10..14)
            .map(|n| budget.spend(ip(&format!("192.0.2.{n}")), t0))
            .collect();
        let later = t0 + Duration::from_secs(60);
        let fresh = budget.spend(ip("192.0.2.99"), later);
        // Assert
        assert_eq!(
            sprayed,
            [true, true, false, false],
            "spraying shares one budget"
        );
        assert_eq!(
            budget.tracked(),
            1,
            "refilled buckets were forgotten for the new one"
        );
        assert!(fresh);
    }

    #[test]
    fn a_per_second_budget_holds_one_seconds_worth() {
        // Arrange
        let t0 = Instant::now();
        let mut budget = Budget::per_second(10, 16, t0);
        // Act
        let burst = (0..11).filter(|_| budget.spend("org_a", t0)).count();
        let later = budget.spend("org_a", t0 + Duration::from_millis(100));
        // Assert
        assert_eq!(burst, 10);
        assert!(later, "one event back every 100 ms at 10 per second");
        assert_eq!(budget.retry_after("org_a", t0), 1);
    }

    #[test]
    fn zero_means_unlimited() {
        let t0 = Instant::now();
        let mut budget = Budget::per_minute(0, 1, t0);
        assert!((0..1000).all(|_| budget.spend(ip("192.0.2.1"), t0)));
        assert_eq!(budget.tracked(), 0);
    }
}
