//! Pure RFB framing for the VNC channel (PROTOCOL.md §3): the handshake tracker and the
//! client→server message decoder. No I/O, no tokio: bytes in, messages out.
//!
//! # Layout
//! - [`Handshake`]: ProtocolVersion → security → ClientInit/ServerInit, tracked in both
//!   directions (3.3, 3.7, 3.8; security None and VNC auth). Client handshake bytes are released
//!   upstream unchanged, one validated field at a time.
//! - [`Decoder`]: frames every client→server message with its exact length, however the
//!   WebSocket split or joined them, keeping each message's original bytes.
//! - [`encode`]: builders for client messages (release messages, tests, fake viewers).
//! - [`keysym`]: the keysyms and QEMU keycodes the policy names.
//!
//! After ServerInit, server→client bytes are never parsed: forward them untouched.
//! Every error is fatal for the socket ([`RfbError::side`] says whose fault).
//!
//! # How the relay uses this
//!
//! ```
//! use bytes::BytesMut;
//! use gateway::rfb::{encode, Handshake, Limits, Status};
//!
//! # fn main() -> Result<(), gateway::rfb::RfbError> {
//! let mut handshake = Handshake::new(Limits::default());
//! // Handshake phase (one task, both directions, under the handshake timeout). Server bytes
//! // go to the viewer unchanged; `to_server` of EITHER call goes upstream.
//! let step = handshake.on_server_bytes(b"RFB 003.008\n")?;
//! assert!(step.to_server.is_empty());
//! let step = handshake.on_client_bytes(b"RFB 003.008\n")?;
//! assert_eq!(&step.to_server[..], b"RFB 003.008\n");
//! handshake.on_server_bytes(&[1, 1])?; // one security type offered: None
//! handshake.on_client_bytes(&[1])?; // the viewer picks None
//! handshake.on_server_bytes(&[0, 0, 0, 0])?; // SecurityResult OK
//! handshake.on_client_bytes(&[1])?; // ClientInit, shared
//! let mut server_init = vec![0, 4, 0, 3]; // 4×3 framebuffer
//! server_init.extend_from_slice(&[0; 16]); // pixel format
//! server_init.extend_from_slice(&[0, 0, 0, 0]); // empty desktop name
//! let step = handshake.on_server_bytes(&server_init)?;
//! assert_eq!(step.status, Status::Done);
//!
//! // Normal phase: append every viewer frame to one buffer, take out whole messages, let the
//! // policy decide, and forward `msg.bytes()` (or the rewritten bytes) upstream.
//! let (mut decoder, mut buf) = handshake.into_decoder();
//! buf.extend_from_slice(&encode::key_event(true, 0x61)[..5]); // half a KeyEvent…
//! assert!(decoder.decode(&mut buf)?.is_none()); // …is Incomplete: read more
//! buf.extend_from_slice(&encode::key_event(true, 0x61)[5..]);
//! let msg = decoder.decode(&mut buf)?.expect("a whole KeyEvent");
//! assert_eq!(msg.name(), "key-event");
//! // let decision = policy::decide(&policy, &mut ctx, &msg, Instant::now());
//! # let _ = BytesMut::new();
//! # Ok(())
//! # }
//! ```

mod client_msg;
mod decoder;
pub mod encode;
mod error;
mod handshake;
pub mod keysym;

pub use self::client_msg::{
    ClientMessage, CutText, KeyEvent, MessageKind, PointerEvent, QemuKeyEvent,
};
pub use self::decoder::{Decoder, EXTENDED_CLIPBOARD, EXTENDED_MOUSE_BUTTONS, MAX_FENCE_PAYLOAD};
pub use self::error::{CappedField, RfbError, Side};
pub use self::handshake::{Handshake, SecurityType, ServerInit, State, Status, Step, Version};

/// Caps on the lengths a peer chooses, checked before anything is buffered to that length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest Latin-1 ClientCutText (default 1 MiB, the clipboard cap of PROTOCOL §4).
    pub max_cut_text: usize,
    /// Largest extended-clipboard ClientCutText payload (flags + zlib data; default 1 MiB +
    /// 64 KiB, room for 1 MiB of text that does not compress).
    pub max_extended_cut_text: usize,
    /// Most encodings in one SetEncodings (default 1024; noVNC sends about 30).
    pub max_encodings: usize,
    /// Longest handshake string: failure reasons and the desktop name (default 64 KiB).
    pub max_handshake_string: usize,
    /// Most handshake bytes held for a peer that speaks ahead of its turn (default 64 KiB).
    pub max_handshake_pending: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_cut_text: 1 << 20,
            max_extended_cut_text: (1 << 20) + (64 << 10),
            max_encodings: 1024,
            max_handshake_string: 64 << 10,
            max_handshake_pending: 64 << 10,
        }
    }
}

#[cfg(test)]
mod tests;
