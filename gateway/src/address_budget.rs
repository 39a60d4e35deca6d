//! Per-address budgets of the public edge: how many failed authentications, and how many
//! ticket mints, one client address may make per minute (`--auth-failures-per-minute`,
//! `--tickets-per-minute`). Over budget, a stream socket closes with 1008 `rate-limited` and
//! `POST /v1/stream/tickets` answers 429, before verification is asked, so a flood from one
//! address costs verification nothing and other tenants keep their share.
//!
//! Pure: the caller passes the clock. A token bucket per address that refills at the rate and
//! holds at most one minute's worth. IPv6 addresses count per /64 (one host owns one), and
//! the table is bounded: when it is full of addresses still paying back, new ones share one
//! overflow bucket, so spraying addresses cannot grow memory nor escape the limit.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Instant;

/// Addresses tracked at once per budget.
pub const MAX_TRACKED: usize = 65_536;

/// One budget (failed authentications, or ticket mints) of every client address.
#[derive(Debug)]
pub struct AddressBudget {
    per_minute: u32,
    max_tracked: usize,
    buckets: HashMap<IpAddr, Bucket>,
    overflow: Bucket,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn full(per_minute: u32, now: Instant) -> Self {
        Self {
            tokens: f64::from(per_minute),
            at: now,
        }
    }

    /// Refills for the time since the last look (at most to one minute's worth).
    fn refill(&mut self, per_minute: u32, now: Instant) {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        let cap = f64::from(per_minute);
        self.tokens = (self.tokens + elapsed * cap / 60.0).min(cap);
        self.at = now;
    }
}

impl AddressBudget {
    /// `per_minute` events per address (0: unlimited), tracking at most `max_tracked`
    /// addresses before they share the overflow bucket.
    pub fn new(per_minute: u32, max_tracked: usize, now: Instant) -> Self {
        Self {
            per_minute,
            max_tracked: max_tracked.max(1),
            buckets: HashMap::new(),
            overflow: Bucket::full(per_minute, now),
        }
    }

    /// Whether `address` has at least one event left, without spending it.
    pub fn allows(&mut self, address: IpAddr, now: Instant) -> bool {
        if self.per_minute == 0 {
            return true;
        }
        self.bucket(address, now).tokens >= 1.0
    }

    /// Spends one event of `address`; false (and nothing spent) when none is left.
    pub fn spend(&mut self, address: IpAddr, now: Instant) -> bool {
        if self.per_minute == 0 {
            return true;
        }
        let bucket = self.bucket(address, now);
        if bucket.tokens < 1.0 {
            return false;
        }
        bucket.tokens -= 1.0;
        true
    }

    /// Whole seconds until `address` has one event again (0 when it has one now).
    pub fn retry_after(&mut self, address: IpAddr, now: Instant) -> u64 {
        if self.per_minute == 0 {
            return 0;
        }
        let missing = (1.0 - self.bucket(address, now).tokens).max(0.0);
        (missing * 60.0 / f64::from(self.per_minute)).ceil() as u64
    }

    /// Addresses with their own bucket (the rest share the overflow bucket).
    pub fn tracked(&self) -> usize {
        self.buckets.len()
    }

    fn bucket(&mut self, address: IpAddr, now: Instant) -> &mut Bucket {
        let key = owner(address);
        let per_minute = self.per_minute;
        if !self.buckets.contains_key(&key) && self.buckets.len() >= self.max_tracked {
            // A bucket that refilled is the same as none: forget those first.
            self.buckets.retain(|_, bucket| {
                bucket.refill(per_minute, now);
                bucket.tokens < f64::from(per_minute)
            });
        }
        let bucket = if self.buckets.contains_key(&key) || self.buckets.len() < self.max_tracked {
            self.buckets
                .entry(key)
                .or_insert_with(|| Bucket::full(per_minute, now))
        } else {
            &mut self.overflow
        };
        bucket.refill(per_minute, now);
        bucket
    }
}

/// The address that stands for one client: IPv4 as is, IPv6 by its /64 (an IPv4-mapped
/// IPv6 address is its IPv4 address).
fn owner(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(_) => address,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let bits = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(bits.into())
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn an_address_spends_its_minute_then_refills_at_the_rate() {
        // Arrange
        let t0 = Instant::now();
        let mut budget = AddressBudget::new(3, 16, t0);
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
    fn ipv6_addresses_of_one_slash_64_share_a_budget_and_mapped_ipv4_is_ipv4() {
        // Arrange
        let t0 = Instant::now();
        let mut budget = AddressBudget::new(1, 16, t0);
        // Act
        let first = budget.spend(ip("2001:db8:1:2::1"), t0);
        let same_host = budget.spend(ip("2001:db8:1:2:ffff::9"), t0);
        let other_host = budget.spend(ip("2001:db8:1:3::1"), t0);
        budget.spend(ip("198.51.100.1"), t0);
        let mapped = budget.spend(ip("::ffff:198.51.100.1"), t0);
        // Assert
        assert!(first && other_host);
        assert!(!same_host, "one /64 is one client");
        assert!(!mapped, "::ffff:198.51.100.1 is 198.51.100.1");
    }

    #[test]
    fn a_full_table_forgets_refilled_addresses_then_shares_one_overflow_bucket() {
        // Arrange: two tracked addresses, both still paying back.
        let t0 = Instant::now();
        let mut budget = AddressBudget::new(2, 2, t0);
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
    fn zero_means_unlimited() {
        let t0 = Instant::now();
        let mut budget = AddressBudget::new(0, 1, t0);
        assert!((0..1000).all(|_| budget.spend(ip("192.0.2.1"), t0)));
        assert_eq!(budget.tracked(), 0);
    }
}
