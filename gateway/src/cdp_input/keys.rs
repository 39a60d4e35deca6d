//! The input rules of the CDP transport, pure: the blocked keys of PROTOCOL §3 applied to DOM
//! key events (the same [`Policy`] combos the VNC channel applies to keysyms), the clipboard
//! shortcuts the gateway handles itself, and what is held down, so that everything held can
//! be released when control moves away.

use std::collections::BTreeSet;

use proto::cdp::v1 as cdp;

use super::events::modifiers::{CTRL, META, SHIFT};
use crate::policy::{Held, Policy};
use crate::rfb::keysym;

/// Most keys remembered as held (a client cannot grow the set without bound).
pub const MAX_HELD_KEYS: usize = 32;

/// The keysym a DOM key event stands for, where a blocked combo could name it: one character
/// (letters in lower case), `ContextMenu`, F1–F12.
fn keysym_of(key: &cdp::KeyInput) -> Option<u32> {
    let mut chars = key.key.chars();
    if let (Some(c), None) = (chars.next(), chars.next()) {
        return Some(u32::from(c.to_ascii_lowercase()));
    }
    if key.key == "ContextMenu" || key.code == "ContextMenu" {
        return Some(keysym::MENU);
    }
    let function = key.key.strip_prefix('F')?.parse::<u32>().ok()?;
    (1..=12).contains(&function).then(|| 0xFFBE + function - 1)
}

fn holds(with: Held, modifiers: i32) -> bool {
    match with {
        Held::Nothing => true,
        Held::Control => modifiers & CTRL != 0,
        Held::Shift => modifiers & SHIFT != 0,
        Held::Cmd => modifiers & META != 0,
        Held::ControlOrCmd => modifiers & (CTRL | META) != 0,
    }
}

/// Whether `key` is one of the policy's blocked combinations (any event type: a blocked
/// key's key-up goes with it).
pub fn is_blocked(policy: &Policy, key: &cdp::KeyInput) -> bool {
    let Some(sym) = keysym_of(key) else {
        return false;
    };
    policy.blocked.iter().any(|combo| {
        holds(combo.with, key.modifiers)
            && combo
                .keysyms
                .iter()
                .any(|&k| k == sym || (k < 0x80 && (k as u8).to_ascii_lowercase() as u32 == sym))
    })
}

/// A clipboard shortcut the gateway handles itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shortcut {
    /// Ctrl/Cmd+C: dispatched, then the selection goes to the viewer as `copied-text`.
    Copy,
    /// Ctrl/Cmd+V: held back; the viewer is asked for its clipboard (`ask-for-clipboard`),
    /// which is inserted as a paste.
    Paste,
}

/// The shortcut a key press is, if any.
pub fn shortcut(key: &cdp::KeyInput) -> Option<Shortcut> {
    let pressed = key.r#type == "keyDown" || key.r#type == "rawKeyDown";
    if !pressed || key.modifiers & (CTRL | META) == 0 {
        return None;
    }
    match (key.key.to_ascii_lowercase().as_str(), key.code.as_str()) {
        ("c", _) | (_, "KeyC") => Some(Shortcut::Copy),
        ("v", _) | (_, "KeyV") => Some(Shortcut::Paste),
        _ => None,
    }
}

/// Keys and buttons a client holds down through this socket.
#[derive(Debug, Default)]
pub struct HeldInput {
    keys: BTreeSet<(String, String)>,
    buttons: BTreeSet<String>,
    last_pointer: (i32, i32),
}

impl HeldInput {
    /// Whether `key` may be dispatched, remembering presses: a key-up of a key not held (never
    /// dispatched down, or blocked) is dropped; a press beyond [`MAX_HELD_KEYS`] held is too.
    pub fn key(&mut self, key: &cdp::KeyInput) -> bool {
        let id = (key.key.clone(), key.code.clone());
        if key.r#type == "keyUp" {
            return self.keys.remove(&id);
        }
        if self.keys.contains(&id) {
            return true; // auto-repeat
        }
        if self.keys.len() >= MAX_HELD_KEYS {
            return false;
        }
        self.keys.insert(id);
        true
    }

    /// Remembers a pointer event's buttons and position.
    pub fn mouse(&mut self, mouse: &cdp::MouseInput) {
        self.last_pointer = (mouse.x, mouse.y);
        match mouse.r#type.as_str() {
            "mousePressed" if mouse.button != "none" => {
                self.buttons.insert(mouse.button.clone());
            }
            "mouseReleased" => {
                self.buttons.remove(&mouse.button);
            }
            _ => {}
        }
    }

    /// The events that release everything held (and forgets it): key-ups, then button
    /// releases at the last pointer position.
    pub fn release_all(&mut self) -> (Vec<cdp::KeyInput>, Vec<cdp::MouseInput>) {
        let keys = std::mem::take(&mut self.keys)
            .into_iter()
            .map(|(key, code)| cdp::KeyInput {
                r#type: "keyUp".into(),
                key,
                code,
                ..Default::default()
            })
            .collect();
        let (x, y) = self.last_pointer;
        let buttons = std::mem::take(&mut self.buttons)
            .into_iter()
            .map(|button| cdp::MouseInput {
                r#type: "mouseReleased".into(),
                x,
                y,
                button,
                click_count: 1,
                modifiers: 0,
            })
            .collect();
        (keys, buttons)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(kind: &str, key: &str, code: &str, modifiers: i32) -> cdp::KeyInput {
        cdp::KeyInput {
            r#type: kind.into(),
            key: key.into(),
            code: code.into(),
            modifiers,
            ..Default::default()
        }
    }

    #[test]
    fn the_protocol_blocked_keys_are_blocked_and_others_pass() {
        let policy = Policy::default();
        assert!(is_blocked(&policy, &key("keyDown", "o", "KeyO", CTRL)));
        assert!(is_blocked(
            &policy,
            &key("rawKeyDown", "O", "KeyO", META | SHIFT)
        ));
        assert!(is_blocked(&policy, &key("keyUp", "o", "KeyO", CTRL)));
        assert!(is_blocked(
            &policy,
            &key("rawKeyDown", "ContextMenu", "ContextMenu", 0)
        ));
        assert!(is_blocked(&policy, &key("rawKeyDown", "F10", "F10", SHIFT)));
        assert!(!is_blocked(&policy, &key("rawKeyDown", "F10", "F10", 0)));
        assert!(!is_blocked(&policy, &key("keyDown", "o", "KeyO", 0)));
        assert!(!is_blocked(&policy, &key("keyDown", "p", "KeyP", CTRL)));
    }

    #[test]
    fn copy_and_paste_shortcuts_are_recognised_on_press_only() {
        assert_eq!(
            shortcut(&key("keyDown", "c", "KeyC", CTRL)),
            Some(Shortcut::Copy)
        );
        assert_eq!(
            shortcut(&key("rawKeyDown", "V", "KeyV", META)),
            Some(Shortcut::Paste)
        );
        assert_eq!(shortcut(&key("keyUp", "v", "KeyV", CTRL)), None);
        assert_eq!(shortcut(&key("keyDown", "v", "KeyV", SHIFT)), None);
    }

    #[test]
    fn held_keys_and_buttons_are_released_and_stray_key_ups_dropped() {
        let mut held = HeldInput::default();
        assert!(!held.key(&key("keyUp", "a", "KeyA", 0)), "never pressed");
        assert!(held.key(&key("keyDown", "a", "KeyA", 0)));
        assert!(held.key(&key("keyDown", "a", "KeyA", 0)), "auto-repeat");
        held.mouse(&cdp::MouseInput {
            r#type: "mousePressed".into(),
            x: 10,
            y: 20,
            button: "left".into(),
            click_count: 1,
            modifiers: 0,
        });
        let (keys, buttons) = held.release_all();
        assert_eq!(keys.len(), 1);
        assert_eq!(
            (keys[0].r#type.as_str(), keys[0].key.as_str()),
            ("keyUp", "a")
        );
        assert_eq!(buttons.len(), 1);
        assert_eq!(
            (buttons[0].x, buttons[0].y, buttons[0].button.as_str()),
            (10, 20, "left")
        );
        assert_eq!(held.release_all(), (vec![], vec![]));
        for i in 0..MAX_HELD_KEYS {
            assert!(held.key(&key("keyDown", &format!("k{i}"), "", 0)));
        }
        assert!(!held.key(&key("keyDown", "one-more", "", 0)));
    }
}
