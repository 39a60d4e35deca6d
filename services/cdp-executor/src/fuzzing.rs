//! The `cdp_message` fuzz target's entry point (the cargo-fuzz crate in `fuzz/` calls it),
//! kept in the crate so the test suite replays its committed corpus on stable
//! (`tests/tests/fuzz_seeds.rs`).

use crate::cdp::wire::{self, Incoming};
use crate::events::parse_binding_payload;

/// One text frame from a browser through the CDP decoder, and the same text as a page's
/// binding payload (what `Runtime.bindingCalled` carries from the capture script): never a
/// panic, and what a payload yields stays within its caps.
pub fn cdp_message(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(Incoming::Response {
        result: Err((_, message)),
        ..
    }) = wire::decode(text)
    {
        // The browser's error text is kept for logs only; it is what the browser sent.
        assert!(message.len() <= text.len());
    }
    if let Some(payload) = parse_binding_payload(text) {
        assert!(payload.doc_id.chars().count() <= 64);
        assert!(payload.url.chars().count() <= 2083);
        assert!(text.len() <= 64 * 1024);
    }
}
