//! The fuzz targets' entry points (the cargo-fuzz crate in `fuzz/` calls them), kept in the
//! crate so the test suite replays every committed corpus on stable through the very same
//! checks (`tests/tests/fuzz_seeds.rs`). Each takes arbitrary bytes and panics only when a
//! property of the code under test breaks.

mod client_stream;

pub use client_stream::client_stream;

use crate::control::redis::wire::{self, ReplicaMessage};
use crate::message::kinds::{self, Outbound};

/// Longest `error` reply to any frame: the reply names at most a short kind, never the frame.
const MAX_ERROR_REPLY: usize = 256;

/// One Message channel text frame through the decoder. A frame that parses must survive a
/// round trip (what we would send as that kind parses back to the same message); one that
/// does not gets an `error` reply that is short and echoes nothing but a short kind.
pub fn message_json(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        // A WebSocket text frame is UTF-8; binary frames get a fixed reply.
        let reply = kinds::binary_rejected().reply();
        assert!(serde_json::to_string(&reply).is_ok());
        return;
    };
    match kinds::parse(text) {
        Ok(message) => {
            assert!(!message.name().is_empty());
            let again = serde_json::to_string(&message).expect("an inbound message serialises");
            assert_eq!(
                kinds::parse(&again).as_ref().ok(),
                Some(&message),
                "{again}"
            );
        }
        Err(rejected) => {
            let reply = serde_json::to_string(&rejected.reply()).expect("a reply serialises");
            assert!(reply.len() <= MAX_ERROR_REPLY, "{reply}");
            if let Some(kind) = &rejected.failed_kind {
                assert!(kind.len() <= 64, "{kind}");
            }
            assert!(matches!(rejected.reply(), Outbound::Error { .. }));
        }
    }
}

/// One Redis bus payload through every decoder a replica runs on what it receives: replica
/// messages round-trip, session and socket ids round-trip, state payloads never panic.
pub fn bus_wire(data: &[u8]) {
    if let Some(message) = ReplicaMessage::decode(data) {
        let encoded = message.encode();
        assert_eq!(
            ReplicaMessage::decode(encoded.as_bytes()),
            Some(message.clone())
        );
        if let ReplicaMessage::Event { e, .. } = message {
            if let Some(event) = e.clone().into_event() {
                assert_eq!(wire::WireEvent::from(event), e);
            }
        }
    }
    let _ = wire::decode_state(data);
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(session) = wire::parse_session_id(text) {
        assert_eq!(
            wire::parse_session_id(&wire::session_id(&session)),
            Some(session)
        );
    }
    if let Some((replica, nonce)) = wire::parse_socket_id(text) {
        let id = wire::socket_id(replica, nonce);
        assert_eq!(wire::parse_socket_id(&id), Some((replica, nonce)));
    }
    let _ = wire::split_prefix(text, "browser-stream:");
}
