//! The pure input policy of the VNC channel (PROTOCOL.md §3): for each decoded client message,
//! given this socket's [`SessionCtx`] (control, key and button state, platform, last cut text),
//! decide what happens to its bytes and which side effects follow. No I/O, no clock: the caller
//! passes `now`.
//!
//! # How the relay uses this
//! ```
//! use std::time::Instant;
//! use bytes::BytesMut;
//! use gateway::policy::{decide, Effect, Platform, Policy, SessionCtx};
//! use gateway::rfb::{encode, keysym, Decoder, Limits};
//!
//! let policy = Policy::default();
//! let mut ctx = SessionCtx::new(Platform::Linux);
//! let mut decoder = Decoder::new(Limits::default());
//! assert!(ctx.set_control(true).is_empty()); // a take-control for this client arrived
//!
//! let mut buf = BytesMut::new();
//! buf.extend_from_slice(&encode::key_event(true, keysym::CONTROL_L));
//! buf.extend_from_slice(&encode::key_event(true, keysym::C_LOWER));
//! let mut upstream = Vec::new();
//! while let Some(msg) = decoder.decode(&mut buf).expect("well-framed") {
//!     let verdict = decide(&policy, &mut ctx, &msg, Instant::now());
//!     if let Some(bytes) = verdict.outgoing(&msg) {
//!         upstream.push(bytes.clone()); // write upstream, unchanged or rewritten
//!     }
//!     for effect in &verdict.effects {
//!         match effect {
//!             Effect::Copy => { /* spawn GetSelectedText → `copied-text` */ }
//!             Effect::AskForClipboard => { /* send `ask-for-clipboard` */ }
//!         }
//!     }
//! }
//! assert_eq!(upstream.len(), 2);
//! // Control moved elsewhere: release what this client still holds, upstream.
//! let releases = ctx.set_control(false);
//! assert_eq!(releases.len(), 2); // key-ups for C and Control_L
//! ```
//!
//! The policy never closes a socket: framing errors come from [`crate::rfb::Decoder`].

mod ctx;
mod rules;

use std::time::Duration;

use bytes::Bytes;

use crate::rfb::{keysym, ClientMessage};

pub use self::ctx::{Platform, SessionCtx, MAX_DROPPED_KEYS, MAX_HELD_KEYS};
pub use self::rules::decide;

/// The configurable part of the policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Key combinations dropped whatever the control (and their key-ups with them).
    pub blocked: Vec<Combo>,
    /// Pointer button bits cleared from every PointerEvent mask (byte 1; bit 0x80 is ignored
    /// in the 7-byte form, where it is a marker). Default 0x04, the right button.
    pub blocked_buttons: u8,
    /// A Ctrl/Cmd+V within this long after a ClientCutText (inclusive) is forwarded as keys;
    /// later, the V is held back and the viewer is asked for its clipboard. Default 2.0 s.
    pub paste_grace: Duration,
}

impl Default for Policy {
    /// PROTOCOL §3: Ctrl/Cmd+O, the Menu key and Shift+F10 blocked; the right button cleared.
    fn default() -> Self {
        Policy {
            blocked: vec![
                Combo::new(Held::ControlOrCmd, [keysym::O_LOWER]),
                Combo::new(Held::Nothing, [keysym::MENU]),
                Combo::new(Held::Shift, [keysym::F10]),
            ],
            blocked_buttons: 0x04,
            paste_grace: Duration::from_secs(2),
        }
    }
}

/// A blocked key combination: any of `keysyms` pressed while `with` holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Combo {
    /// Which modifier must be down.
    pub with: Held,
    /// The keys (letters match in either case).
    pub keysyms: Vec<u32>,
}

impl Combo {
    /// A combo of `keysyms` with `with`.
    pub fn new(with: Held, keysyms: impl IntoIterator<Item = u32>) -> Self {
        Combo {
            with,
            keysyms: keysyms.into_iter().collect(),
        }
    }
}

/// The modifier condition of a [`Combo`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Held {
    /// No condition: the key alone is blocked.
    Nothing,
    /// Control_L or Control_R.
    Control,
    /// Shift_L or Shift_R.
    Shift,
    /// Cmd: Super_L/R or Meta_L/R, and Alt_L on a mac client.
    Cmd,
    /// Either Control key or Cmd.
    ControlOrCmd,
}

/// What happens to one client message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// What happens to its bytes.
    pub action: Action,
    /// Side effects for the relay to start (never awaited in the input pump).
    pub effects: Vec<Effect>,
    /// The rule that decided (for metrics and debug logs).
    pub rule: Rule,
    /// The controlling user's input reached the browser: counts as session activity.
    pub activity: bool,
}

impl Verdict {
    /// The bytes to send upstream, if any: the original bytes or their rewrite.
    pub fn outgoing<'a>(&'a self, msg: &'a ClientMessage) -> Option<&'a Bytes> {
        match &self.action {
            Action::Forward => Some(msg.bytes()),
            Action::ForwardRewritten(bytes) => Some(bytes),
            Action::Drop | Action::HoldBack => None,
        }
    }
}

/// What happens to a message's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send the original bytes upstream.
    Forward,
    /// Send these bytes instead (same length; a PointerEvent with blocked buttons cleared).
    ForwardRewritten(Bytes),
    /// Discard.
    Drop,
    /// Discard for now: the V key-down of a paste, whose text comes through the clipboard
    /// instead ([`Effect::AskForClipboard`]). Its key-up is dropped too.
    HoldBack,
}

/// A side effect of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Ctrl/Cmd+C: ask the executor for the selection and send it to the paired Message socket
    /// as `copied-text`.
    Copy,
    /// Ctrl/Cmd+V without a recent ClientCutText: send `ask-for-clipboard` to the paired
    /// Message socket and insert its answer through the executor.
    AskForClipboard,
}

/// The rule behind a verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// Not input (update requests, encodings, pixel format, fences…): always forwarded.
    Passthrough,
    /// Input (or SetDesktopSize) of the client that holds control: forwarded.
    Input,
    /// Input from a socket whose client does not hold control: dropped.
    NoControl,
    /// xvp (power control): always dropped.
    Xvp,
    /// A blocked key combination: dropped.
    BlockedKey,
    /// The key-up or auto-repeat of a key-down that was dropped or held back: dropped.
    DroppedKey,
    /// Too many keys held at once ([`MAX_HELD_KEYS`]): dropped.
    TooManyKeys,
    /// A PointerEvent with blocked buttons: forwarded with them cleared.
    BlockedButton,
    /// Ctrl/Cmd+C: forwarded, and the selection is copied.
    Copy,
    /// Ctrl/Cmd+V right after a ClientCutText: forwarded (the VNC server pastes).
    PasteForwarded,
    /// Ctrl/Cmd+V without a recent ClientCutText: held back, the viewer is asked.
    PasteHeldBack,
}

impl Rule {
    /// A stable kebab-case label for metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::Passthrough => "passthrough",
            Rule::Input => "input",
            Rule::NoControl => "no-control",
            Rule::Xvp => "xvp",
            Rule::BlockedKey => "blocked-key",
            Rule::DroppedKey => "dropped-key",
            Rule::TooManyKeys => "too-many-keys",
            Rule::BlockedButton => "blocked-button",
            Rule::Copy => "copy",
            Rule::PasteForwarded => "paste-forwarded",
            Rule::PasteHeldBack => "paste-held-back",
        }
    }
}

#[cfg(test)]
mod tests;
