//! Per-organization rates of one replica: Message frames per second
//! (`--message-frames-per-second-per-org`) and VNC input events per second
//! (`--input-events-per-second-per-org`), each a [`Budget`] holding one second's worth.
//! Over the frame rate a Message frame is answered with an `error` (`rate-limited`) and not
//! acted on; over the input rate the VNC socket closes with 1008 `rate-limited`, since
//! dropping keys or clicks silently would type something else than the user did.

use std::sync::Mutex;
use std::time::Instant;

use service_kit::sync::lock;

use crate::budget::{Budget, MAX_TRACKED};

/// The per-organization rates.
#[derive(Debug)]
pub struct OrgLimits {
    frames: Mutex<Budget<String>>,
    input: Mutex<Budget<String>>,
}

impl OrgLimits {
    /// `frames` Message frames and `input` input events per second per organization (0: no
    /// limit).
    pub fn new(frames: u32, input: u32) -> Self {
        let now = Instant::now();
        Self {
            frames: Mutex::new(Budget::per_second(frames, MAX_TRACKED, now)),
            input: Mutex::new(Budget::per_second(input, MAX_TRACKED, now)),
        }
    }

    /// Spends one Message frame of `organization_id`; false over the rate.
    pub fn message_frame(&self, organization_id: &str) -> bool {
        lock(&self.frames).spend(organization_id.to_owned(), Instant::now())
    }

    /// Spends one input event of `organization_id`; false over the rate.
    pub fn input_event(&self, organization_id: &str) -> bool {
        lock(&self.input).spend(organization_id.to_owned(), Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_and_input_are_separate_rates_per_organization() {
        let limits = OrgLimits::new(2, 1);
        assert!(limits.message_frame("org_a") && limits.message_frame("org_a"));
        assert!(!limits.message_frame("org_a"));
        assert!(limits.message_frame("org_b"));
        assert!(limits.input_event("org_a"));
        assert!(!limits.input_event("org_a"));
    }
}
