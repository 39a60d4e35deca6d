//! The per-address limits of the public edge: which address a request comes from (the peer,
//! or behind `--trusted-proxies` the client their `X-Forwarded-For` names), and its budgets of
//! failed authentications and ticket mints ([`Budget`] per minute). IPv6 addresses count per
//! /64: one host owns one.

use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

use axum::http::HeaderMap;
use ipnet::IpNet;
use service_kit::sync::lock;

use crate::budget::{Budget, MAX_TRACKED};

/// Most `X-Forwarded-For` entries looked at (a longer chain is a forged one).
const MAX_FORWARDED_HOPS: usize = 16;

/// The client address of a request from `peer`: the peer itself unless it is a trusted
/// proxy; then the last `X-Forwarded-For` address that is not a trusted proxy (each proxy
/// appends the address it saw, so entries left of the first untrusted one are the client's
/// own claims). A malformed entry stops the walk at the last trusted hop.
pub fn client_address(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .collect();
    let mut client = peer;
    for hop in hops.iter().rev().take(MAX_FORWARDED_HOPS) {
        let Ok(ip) = hop.trim().parse::<IpAddr>() else {
            break;
        };
        client = ip;
        if !is_trusted(&ip) {
            break;
        }
    }
    client
}

/// The failed-authentication and ticket-mint budgets of every client address.
#[derive(Debug)]
pub struct EdgeLimits {
    failed_auth: Mutex<Budget<IpAddr>>,
    tickets: Mutex<Budget<IpAddr>>,
}

impl EdgeLimits {
    /// Budgets of `failures_per_minute` failed authentications and `tickets_per_minute`
    /// ticket mints per address (0: unlimited).
    pub fn new(failures_per_minute: u32, tickets_per_minute: u32) -> Self {
        let now = Instant::now();
        Self {
            failed_auth: Mutex::new(Budget::per_minute(failures_per_minute, MAX_TRACKED, now)),
            tickets: Mutex::new(Budget::per_minute(tickets_per_minute, MAX_TRACKED, now)),
        }
    }

    /// Whether `address` may try to authenticate (it has failures left to spend).
    pub fn may_authenticate(&self, address: IpAddr) -> bool {
        lock(&self.failed_auth).allows(owner(address), Instant::now())
    }

    /// Records a failed authentication of `address`.
    pub fn failed_authentication(&self, address: IpAddr) {
        lock(&self.failed_auth).spend(owner(address), Instant::now());
    }

    /// Spends one ticket mint of `address`: `Err(seconds to wait)` when none is left.
    pub fn mint_ticket(&self, address: IpAddr) -> Result<(), u64> {
        let now = Instant::now();
        let mut tickets = lock(&self.tickets);
        if tickets.spend(owner(address), now) {
            Ok(())
        } else {
            Err(tickets.retry_after(owner(address), now).max(1))
        }
    }

    /// Seconds until `address` may authenticate again (at least 1).
    pub fn auth_retry_after(&self, address: IpAddr) -> u64 {
        lock(&self.failed_auth)
            .retry_after(owner(address), Instant::now())
            .max(1)
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
    use super::*;

    fn headers(forwarded: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for value in forwarded {
            map.append("x-forwarded-for", value.parse().unwrap());
        }
        map
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarded_for_counts_only_behind_a_trusted_proxy() {
        // Arrange
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let forged = headers(&["198.51.100.1"]);
        // Act, Assert: a direct client cannot pick its address.
        assert_eq!(
            client_address(ip("203.0.113.5"), &forged, &trusted),
            ip("203.0.113.5")
        );
        assert_eq!(client_address(ip("10.1.2.3"), &forged, &[]), ip("10.1.2.3"));
        // Behind the proxy chain, the first untrusted hop from the right is the client.
        let chain = headers(&["1.1.1.1, 203.0.113.9", "10.0.0.7"]);
        assert_eq!(
            client_address(ip("10.0.0.2"), &chain, &trusted),
            ip("203.0.113.9")
        );
        // No header: the proxy itself; a malformed hop stops at the last trusted one.
        assert_eq!(
            client_address(ip("10.0.0.2"), &HeaderMap::new(), &trusted),
            ip("10.0.0.2")
        );
        let broken = headers(&["203.0.113.9, junk, 10.0.0.7"]);
        assert_eq!(
            client_address(ip("10.0.0.2"), &broken, &trusted),
            ip("10.0.0.7")
        );
    }

    #[test]
    fn failures_and_mints_are_separate_budgets() {
        // Arrange
        let limits = EdgeLimits::new(2, 1);
        let a = ip("192.0.2.1");
        // Act
        limits.failed_authentication(a);
        limits.failed_authentication(a);
        let minted = limits.mint_ticket(a);
        let minted_again = limits.mint_ticket(a);
        // Assert
        assert!(!limits.may_authenticate(a));
        assert!(limits.may_authenticate(ip("192.0.2.2")));
        assert_eq!(limits.auth_retry_after(a), 30);
        assert_eq!(minted, Ok(()));
        assert_eq!(minted_again, Err(60));
    }

    /// Records a failure of `address`; whether it still had one to spend.
    fn spend(limits: &EdgeLimits, address: &str) -> bool {
        let allowed = limits.may_authenticate(ip(address));
        limits.failed_authentication(ip(address));
        allowed
    }

    #[test]
    fn ipv6_addresses_of_one_slash_64_share_a_budget_and_mapped_ipv4_is_ipv4() {
        // Arrange
        let limits = EdgeLimits::new(1, 0);
        // Act
        let first = spend(&limits, "2001:db8:1:2::1");
        let same_host = spend(&limits, "2001:db8:1:2:ffff::9");
        let other_host = spend(&limits, "2001:db8:1:3::1");
        spend(&limits, "198.51.100.1");
        let mapped = spend(&limits, "::ffff:198.51.100.1");
        // Assert
        assert!(first && other_host);
        assert!(!same_host, "one /64 is one client");
        assert!(!mapped, "::ffff:198.51.100.1 is 198.51.100.1");
    }
}
