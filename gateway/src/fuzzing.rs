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

/// One CDP input text frame through the decoder and the key rules: what parses has every value
/// within the contract's caps (spec §9.5–9.7), and the key rules and held-input bookkeeping
/// take it without panicking or growing past their bound.
pub fn cdp_input_json(data: &[u8]) {
    use crate::cdp_input::events::{self, Inbound, MAX_KEY_CHARS, MAX_URL_CHARS};
    use crate::cdp_input::keys::{self, HeldInput, MAX_HELD_KEYS};
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(message) = events::parse(text) else {
        return;
    };
    let coordinate = |v: i32| (0..=10_000).contains(&v);
    let mut held = HeldInput::default();
    match &message {
        Inbound::Mouse(mouse) => {
            assert!(coordinate(mouse.x) && coordinate(mouse.y), "{mouse:?}");
            assert!((0..=3).contains(&mouse.click_count) && (0..=15).contains(&mouse.modifiers));
            assert!(
                ["mousePressed", "mouseReleased", "mouseMoved"].contains(&mouse.r#type.as_str())
            );
            assert!(["left", "middle", "right", "none"].contains(&mouse.button.as_str()));
            held.mouse(mouse);
        }
        Inbound::Key(key) => {
            assert!(
                key.key.chars().count() <= MAX_KEY_CHARS
                    && key.code.chars().count() <= MAX_KEY_CHARS
            );
            assert!(
                key.text.chars().count() <= 1 && (key.text.is_empty() || key.r#type == "keyDown")
            );
            assert!(key
                .windows_virtual_key_code
                .is_none_or(|vk| (0..=254).contains(&vk)));
            assert!((0..=15).contains(&key.modifiers));
            let _ = keys::is_blocked(&crate::policy::Policy::default(), key);
            let _ = keys::shortcut(key);
            for _ in 0..=MAX_HELD_KEYS {
                held.key(key);
            }
        }
        Inbound::Wheel(wheel) => {
            assert!(coordinate(wheel.x) && coordinate(wheel.y), "{wheel:?}");
            assert!(wheel.delta_x.abs() <= 10_000 && wheel.delta_y.abs() <= 10_000);
        }
        Inbound::Navigate(Some(url)) => {
            assert!(!url.trim().is_empty() && url.chars().count() <= MAX_URL_CHARS);
        }
        _ => {}
    }
    let (keys_up, buttons_up) = held.release_all();
    assert!(keys_up.len() <= 1 && buttons_up.len() <= 1);
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
