//! browser-stream gateway: the WebSocket edge between viewers and remote browsers.
//!
//! # Layout
//! - [`rfb`]: pure RFB framing (handshake and client→server messages); no I/O, no tokio.
//! - [`policy`]: the pure input policy: (control, key state, platform, message) → verdict.

pub mod policy;
pub mod rfb;
