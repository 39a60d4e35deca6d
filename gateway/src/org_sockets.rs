//! The per-organization cap on concurrent stream sockets of one replica
//! (`--max-sockets-per-org`): one tenant's flood of viewers cannot take every `--max-sockets`
//! permit. A socket over its organization's cap closes with 1008 `rate-limited`, like one over
//! the replica's cap.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use service_kit::sync::lock;

/// Open stream sockets per organization on this replica.
#[derive(Debug)]
pub struct OrgSockets {
    max: usize,
    open: Mutex<HashMap<String, usize>>,
}

/// One socket's place in its organization's count, given back on drop.
#[derive(Debug)]
pub struct OrgSocket {
    sockets: Arc<OrgSockets>,
    organization_id: String,
}

impl OrgSockets {
    /// At most `max` sockets per organization (0: no cap).
    pub fn new(max: usize) -> Arc<Self> {
        Arc::new(Self {
            max,
            open: Mutex::default(),
        })
    }

    /// A place for one more socket of `organization_id`, or `None` at the cap.
    pub fn acquire(self: &Arc<Self>, organization_id: &str) -> Option<OrgSocket> {
        let mut open = lock(&self.open);
        let count = open.entry(organization_id.to_owned()).or_insert(0);
        if self.max != 0 && *count >= self.max {
            return None;
        }
        *count += 1;
        Some(OrgSocket {
            sockets: self.clone(),
            organization_id: organization_id.to_owned(),
        })
    }

    /// Open sockets of `organization_id`.
    pub fn open(&self, organization_id: &str) -> usize {
        lock(&self.open).get(organization_id).copied().unwrap_or(0)
    }
}

impl Drop for OrgSocket {
    fn drop(&mut self) {
        let mut open = lock(&self.sockets.open);
        if let Some(count) = open.get_mut(&self.organization_id) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.organization_id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_organization_at_its_cap_waits_for_a_socket_to_close_others_do_not() {
        // Arrange
        let sockets = OrgSockets::new(2);
        let first = sockets.acquire("org_a").unwrap();
        let _second = sockets.acquire("org_a").unwrap();
        // Act
        let third = sockets.acquire("org_a");
        let other = sockets.acquire("org_b");
        drop(first);
        let after_close = sockets.acquire("org_a");
        // Assert
        assert!(third.is_none());
        assert!(other.is_some());
        assert!(after_close.is_some());
        assert_eq!(sockets.open("org_a"), 2);
        drop((other, after_close, _second));
        assert_eq!(sockets.open("org_a"), 0);
        assert!(
            lock(&sockets.open).is_empty(),
            "no entry outlives its sockets"
        );
    }

    #[test]
    fn zero_means_no_cap() {
        let sockets = OrgSockets::new(0);
        let held: Vec<_> = (0..100)
            .map(|_| sockets.acquire("org_a").unwrap())
            .collect();
        assert_eq!(sockets.open("org_a"), held.len());
    }
}
