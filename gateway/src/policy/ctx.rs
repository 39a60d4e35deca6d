//! Per-socket state the policy reads and updates: control, the client's platform, the modifiers
//! the viewer holds, the keys and buttons held upstream (so a change of control releases exactly
//! those), the key-downs that were dropped (so their key-ups are dropped too), and the time of
//! the last forwarded ClientCutText. Pure data; no I/O.

use std::time::Instant;

use bytes::Bytes;

use crate::rfb::{encode, keysym};

/// Most keys held down upstream at once; further key-downs are dropped. No keyboard holds this
/// many, and the bound keeps a hostile client from growing the state.
pub const MAX_HELD_KEYS: usize = 64;
/// Most dropped key-downs remembered; the oldest is forgotten first (its key-up would then pass,
/// which is harmless: an up for a key the server never saw down).
pub const MAX_DROPPED_KEYS: usize = 64;

/// The viewer's operating system, which decides what "Cmd" means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Platform {
    /// macOS: noVNC sends Alt_L for the left Cmd key, so Alt_L counts as Cmd.
    Mac,
    /// Windows.
    Windows,
    /// Linux.
    Linux,
    /// Anything else, or unknown.
    #[default]
    Other,
}

impl Platform {
    /// The `platform` of a `client-info` message (`mac`, `windows`, `linux`, `other`).
    pub fn parse(value: &str) -> Option<Platform> {
        match value {
            "mac" => Some(Platform::Mac),
            "windows" => Some(Platform::Windows),
            "linux" => Some(Platform::Linux),
            "other" => Some(Platform::Other),
            _ => None,
        }
    }

    /// The wire name ([`Platform::parse`] reads it back).
    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Mac => "mac",
            Platform::Windows => "windows",
            Platform::Linux => "linux",
            Platform::Other => "other",
        }
    }

    /// A guess from the WebSocket upgrade's User-Agent, used until `client-info` says otherwise.
    pub fn from_user_agent(user_agent: &str) -> Platform {
        if user_agent.contains("Macintosh") {
            Platform::Mac
        } else if user_agent.contains("Windows") {
            Platform::Windows
        } else if user_agent.contains("Linux") || user_agent.contains("X11") {
            Platform::Linux
        } else {
            Platform::Other
        }
    }
}

/// How a key is identified across its down and up: letters case-folded; a QEMU event without a
/// keysym by its keycode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum KeyId {
    Keysym(u32),
    Keycode(u32),
}

/// A key held down upstream, with what it takes to release it in the form it was pressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct HeldKey {
    pub(super) id: KeyId,
    pub(super) keysym: u32,
    pub(super) qemu_keycode: Option<u32>,
}

/// The last pointer state forwarded upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) struct PointerState {
    pub(super) buttons: u16,
    pub(super) x: u16,
    pub(super) y: u16,
}

/// The policy's state for one VNC socket.
#[derive(Debug, Clone, Default)]
pub struct SessionCtx {
    control: bool,
    view_only: bool,
    platform: Platform,
    /// Modifiers the viewer holds (bit i = `keysym::MODIFIERS[i]`), whether or not forwarded.
    modifiers: u16,
    held: Vec<HeldKey>,
    dropped: Vec<KeyId>,
    pub(super) pointer: PointerState,
    pub(super) last_cut_text: Option<Instant>,
}

// === impl SessionCtx ===

impl SessionCtx {
    /// A socket without control (every new socket starts so; control arrives from pairing).
    pub fn new(platform: Platform) -> Self {
        SessionCtx {
            platform,
            ..SessionCtx::default()
        }
    }

    /// Whether this socket's client holds control now.
    pub fn has_control(&self) -> bool {
        self.control && !self.view_only
    }

    /// Records who holds control. On losing it, returns the messages that release every key
    /// and button this client still holds upstream: send them before anything else.
    pub fn set_control(&mut self, holds: bool) -> Vec<Bytes> {
        let had = self.has_control();
        self.control = holds;
        if had && !self.has_control() {
            self.release_all()
        } else {
            Vec::new()
        }
    }

    /// Marks the socket view-only (a `view` ticket): it never gets control, whatever
    /// [`SessionCtx::set_control`] says. Returns release messages as `set_control` does.
    pub fn set_view_only(&mut self, view_only: bool) -> Vec<Bytes> {
        let had = self.has_control();
        self.view_only = view_only;
        if had && !self.has_control() {
            self.release_all()
        } else {
            Vec::new()
        }
    }

    /// Whether the socket is view-only.
    pub fn is_view_only(&self) -> bool {
        self.view_only
    }

    /// The client's platform.
    pub fn platform(&self) -> Platform {
        self.platform
    }

    /// Updates the platform (from `client-info`).
    pub fn set_platform(&mut self, platform: Platform) {
        self.platform = platform;
    }

    /// Key-up messages for every key held upstream, and a pointer event with no button if any
    /// is held; forgets them. Also for when the socket ends while the viewer holds keys.
    pub fn release_all(&mut self) -> Vec<Bytes> {
        let mut out: Vec<Bytes> = self
            .held
            .drain(..)
            .rev()
            .map(|key| match key.qemu_keycode {
                Some(keycode) => encode::qemu_key_event(false, key.keysym, keycode),
                None => encode::key_event(false, key.keysym),
            })
            .collect();
        if self.pointer.buttons != 0 {
            // The 6-byte form without the 0x80 marker means "every button up" in both the plain
            // and the extended-buttons protocol.
            out.push(encode::pointer_event(0, self.pointer.x, self.pointer.y));
            self.pointer.buttons = 0;
        }
        out
    }

    /// Whether a Control key is down.
    pub(super) fn control_down(&self) -> bool {
        self.any_down(&[keysym::CONTROL_L, keysym::CONTROL_R])
    }

    /// Whether a Shift key is down.
    pub(super) fn shift_down(&self) -> bool {
        self.any_down(&[keysym::SHIFT_L, keysym::SHIFT_R])
    }

    /// Whether Cmd is down: Super/Meta anywhere, Alt_L too on a mac client.
    pub(super) fn cmd_down(&self) -> bool {
        self.any_down(&[
            keysym::SUPER_L,
            keysym::SUPER_R,
            keysym::META_L,
            keysym::META_R,
        ]) || (self.platform == Platform::Mac && self.any_down(&[keysym::ALT_L]))
    }

    fn any_down(&self, keysyms: &[u32]) -> bool {
        keysyms
            .iter()
            .any(|k| self.modifiers & modifier_bit(*k) != 0)
    }

    /// Tracks the viewer's modifiers, from every key event whatever happens to it.
    pub(super) fn note_modifier(&mut self, keysym: u32, down: bool) {
        let bit = modifier_bit(keysym);
        if down {
            self.modifiers |= bit;
        } else {
            self.modifiers &= !bit;
        }
    }

    pub(super) fn is_held(&self, id: KeyId) -> bool {
        self.held.iter().any(|k| k.id == id)
    }

    /// Records a forwarded key-down; false (nothing recorded) when [`MAX_HELD_KEYS`] are held.
    pub(super) fn hold(&mut self, key: HeldKey) -> bool {
        if self.is_held(key.id) {
            return true;
        }
        if self.held.len() >= MAX_HELD_KEYS {
            return false;
        }
        self.held.push(key);
        true
    }

    pub(super) fn take_held(&mut self, id: KeyId) -> bool {
        let before = self.held.len();
        self.held.retain(|k| k.id != id);
        self.held.len() != before
    }

    pub(super) fn is_dropped(&self, id: KeyId) -> bool {
        self.dropped.contains(&id)
    }

    pub(super) fn mark_dropped(&mut self, id: KeyId) {
        if self.is_dropped(id) {
            return;
        }
        if self.dropped.len() >= MAX_DROPPED_KEYS {
            self.dropped.remove(0);
        }
        self.dropped.push(id);
    }

    pub(super) fn take_dropped(&mut self, id: KeyId) -> bool {
        let before = self.dropped.len();
        self.dropped.retain(|k| *k != id);
        self.dropped.len() != before
    }
}

fn modifier_bit(keysym: u32) -> u16 {
    keysym::MODIFIERS
        .iter()
        .position(|m| *m == keysym)
        .map_or(0, |i| 1 << i)
}
