//! The rules of PROTOCOL.md §3 as one pure function, [`decide`], over a decoded message and the
//! socket's [`SessionCtx`]. Order matters: control first, then dropped keys, blocked combos,
//! copy and paste.

use std::time::Instant;

use bytes::{Bytes, BytesMut};

use super::ctx::{HeldKey, KeyId, PointerState, SessionCtx};
use super::{Action, Effect, Held, Policy, Rule, Verdict};
use crate::rfb::{keysym, ClientMessage, MessageKind, PointerEvent};

/// Decides what happens to `msg` from this socket, updating `ctx`. `now` is the caller's
/// monotonic clock (only the paste grace reads it).
pub fn decide(policy: &Policy, ctx: &mut SessionCtx, msg: &ClientMessage, now: Instant) -> Verdict {
    match msg.kind() {
        MessageKind::Key(key) => decide_key(policy, ctx, Key::plain(key.down, key.keysym), now),
        MessageKind::QemuKey(key) => decide_key(
            policy,
            ctx,
            Key::qemu(key.down, key.keysym, key.keycode),
            now,
        ),
        MessageKind::Pointer(pointer) => decide_pointer(policy, ctx, pointer, msg.bytes()),
        MessageKind::ClientCutText(_) if ctx.has_control() => {
            ctx.last_cut_text = Some(now);
            verdict(Action::Forward, Rule::Input)
        }
        MessageKind::ClientCutText(_) => verdict(Action::Drop, Rule::NoControl),
        MessageKind::SetDesktopSize { .. } if ctx.has_control() => {
            verdict(Action::Forward, Rule::Input)
        }
        MessageKind::SetDesktopSize { .. } => verdict(Action::Drop, Rule::NoControl),
        MessageKind::Xvp { .. } => verdict(Action::Drop, Rule::Xvp),
        MessageKind::SetPixelFormat
        | MessageKind::SetEncodings(_)
        | MessageKind::FramebufferUpdateRequest { .. }
        | MessageKind::EnableContinuousUpdates { .. }
        | MessageKind::ClientFence { .. } => verdict(Action::Forward, Rule::Passthrough),
    }
}

/// A key event, plain or QEMU, as every rule sees it.
#[derive(Debug, Clone, Copy)]
struct Key {
    down: bool,
    /// The keysym rules match (for a keysym-less QEMU event, derived from its keycode).
    keysym: u32,
    held: HeldKey,
}

impl Key {
    fn plain(down: bool, keysym: u32) -> Key {
        Key {
            down,
            keysym,
            held: HeldKey {
                id: KeyId::Keysym(keysym::fold_case(keysym)),
                keysym,
                qemu_keycode: None,
            },
        }
    }

    fn qemu(down: bool, sent: u32, keycode: u32) -> Key {
        let (keysym, id) = if sent == 0 {
            let keysym = keysym::from_qemu_keycode(keycode).unwrap_or(0);
            (keysym, KeyId::Keycode(keycode))
        } else {
            (sent, KeyId::Keysym(keysym::fold_case(sent)))
        };
        Key {
            down,
            keysym,
            held: HeldKey {
                id,
                keysym: sent,
                qemu_keycode: Some(keycode),
            },
        }
    }

    fn is(&self, letter: u32) -> bool {
        keysym::fold_case(self.keysym) == letter
    }
}

fn decide_key(policy: &Policy, ctx: &mut SessionCtx, key: Key, now: Instant) -> Verdict {
    ctx.note_modifier(key.keysym, key.down);
    if key.down {
        key_down(policy, ctx, key, now)
    } else {
        key_up(ctx, key)
    }
}

fn key_down(policy: &Policy, ctx: &mut SessionCtx, key: Key, now: Instant) -> Verdict {
    let id = key.held.id;
    if !ctx.has_control() {
        ctx.mark_dropped(id);
        return verdict(Action::Drop, Rule::NoControl);
    }
    // Auto-repeat of a key whose first down was dropped or held back.
    if ctx.is_dropped(id) {
        return verdict(Action::Drop, Rule::DroppedKey);
    }
    if is_blocked(policy, ctx, key.keysym) {
        ctx.mark_dropped(id);
        return verdict(Action::Drop, Rule::BlockedKey);
    }
    let repeat = ctx.is_held(id);
    let shortcut = ctx.control_down() || ctx.cmd_down();
    let (rule, effects) = if shortcut && key.is(keysym::C_LOWER) && !repeat {
        (Rule::Copy, vec![Effect::Copy])
    } else if shortcut && key.is(keysym::V_LOWER) && !repeat {
        let recent = ctx
            .last_cut_text
            .is_some_and(|at| now.saturating_duration_since(at) <= policy.paste_grace);
        if !recent {
            // Never both: the text arrives through the clipboard, so the V never reaches the
            // VNC server (which would paste its own clipboard as well).
            ctx.mark_dropped(id);
            let mut held_back = verdict(Action::HoldBack, Rule::PasteHeldBack);
            held_back.effects.push(Effect::AskForClipboard);
            return held_back;
        }
        (Rule::PasteForwarded, Vec::new())
    } else {
        (Rule::Input, Vec::new())
    };
    if !ctx.hold(key.held) {
        ctx.mark_dropped(id);
        return verdict(Action::Drop, Rule::TooManyKeys);
    }
    Verdict {
        action: Action::Forward,
        effects,
        rule,
        activity: true,
    }
}

fn key_up(ctx: &mut SessionCtx, key: Key) -> Verdict {
    let id = key.held.id;
    // A key this socket pressed upstream is always released, even if a later auto-repeat of
    // it was dropped.
    if ctx.take_held(id) {
        ctx.take_dropped(id);
        return input(Action::Forward);
    }
    if ctx.take_dropped(id) {
        return verdict(Action::Drop, Rule::DroppedKey);
    }
    if !ctx.has_control() {
        return verdict(Action::Drop, Rule::NoControl);
    }
    // An up for a key never seen down (pressed before this socket existed): harmless.
    input(Action::Forward)
}

fn is_blocked(policy: &Policy, ctx: &SessionCtx, keysym: u32) -> bool {
    let folded = keysym::fold_case(keysym);
    policy.blocked.iter().any(|combo| {
        let held = match combo.with {
            Held::Nothing => true,
            Held::Control => ctx.control_down(),
            Held::Shift => ctx.shift_down(),
            Held::Cmd => ctx.cmd_down(),
            Held::ControlOrCmd => ctx.control_down() || ctx.cmd_down(),
        };
        held && combo
            .keysyms
            .iter()
            .any(|k| keysym::fold_case(*k) == folded)
    })
}

fn decide_pointer(
    policy: &Policy,
    ctx: &mut SessionCtx,
    pointer: &PointerEvent,
    bytes: &Bytes,
) -> Verdict {
    if !ctx.has_control() {
        return verdict(Action::Drop, Rule::NoControl);
    }
    // In the 7-byte form bit 0x80 of byte 1 is the extended-buttons marker, never a button.
    let blockable = if pointer.extra.is_some() { 0x7F } else { 0xFF };
    let blocked = pointer.mask & policy.blocked_buttons & blockable;
    let (action, rule, sent) = if blocked == 0 {
        (Action::Forward, Rule::Input, *pointer)
    } else {
        let mut rewritten = BytesMut::from(&bytes[..]);
        rewritten[1] &= !blocked;
        let sent = PointerEvent {
            mask: pointer.mask & !blocked,
            ..*pointer
        };
        let action = Action::ForwardRewritten(rewritten.freeze());
        (action, Rule::BlockedButton, sent)
    };
    ctx.pointer = PointerState {
        buttons: sent.buttons(),
        x: sent.x,
        y: sent.y,
    };
    Verdict {
        action,
        effects: Vec::new(),
        rule,
        activity: true,
    }
}

fn input(action: Action) -> Verdict {
    Verdict {
        action,
        effects: Vec::new(),
        rule: Rule::Input,
        activity: true,
    }
}

fn verdict(action: Action, rule: Rule) -> Verdict {
    let activity = matches!(action, Action::Forward) && rule == Rule::Input;
    Verdict {
        action,
        effects: Vec::new(),
        rule,
        activity,
    }
}
