//! X11 keysyms the gateway's input policy cares about, and the QEMU (XT) keycodes that stand for
//! them when a QEMU extended key event arrives without a keysym.
//!
//! Pure constants and lookups; no state.

/// `Control_L`.
pub const CONTROL_L: u32 = 0xFFE3;
/// `Control_R`.
pub const CONTROL_R: u32 = 0xFFE4;
/// `Shift_L`.
pub const SHIFT_L: u32 = 0xFFE1;
/// `Shift_R`.
pub const SHIFT_R: u32 = 0xFFE2;
/// `Meta_L`.
pub const META_L: u32 = 0xFFE7;
/// `Meta_R`.
pub const META_R: u32 = 0xFFE8;
/// `Alt_L` (noVNC sends it for the left Cmd key of a mac).
pub const ALT_L: u32 = 0xFFE9;
/// `Alt_R`.
pub const ALT_R: u32 = 0xFFEA;
/// `Super_L` (noVNC sends it for the right Cmd key of a mac).
pub const SUPER_L: u32 = 0xFFEB;
/// `Super_R`.
pub const SUPER_R: u32 = 0xFFEC;
/// `Mode_switch` (noVNC sends it for the left Option key of a mac).
pub const MODE_SWITCH: u32 = 0xFF7E;
/// `Menu` (the keyboard context-menu key).
pub const MENU: u32 = 0xFF67;
/// `F10` (Shift+F10 opens a context menu).
pub const F10: u32 = 0xFFC7;
/// `c`.
pub const C_LOWER: u32 = 0x63;
/// `C`.
pub const C_UPPER: u32 = 0x43;
/// `o`.
pub const O_LOWER: u32 = 0x6F;
/// `O`.
pub const O_UPPER: u32 = 0x4F;
/// `v`.
pub const V_LOWER: u32 = 0x76;
/// `V`.
pub const V_UPPER: u32 = 0x56;

/// Every modifier keysym the policy tracks (PROTOCOL §3).
pub const MODIFIERS: [u32; 11] = [
    CONTROL_L,
    CONTROL_R,
    SHIFT_L,
    SHIFT_R,
    ALT_L,
    ALT_R,
    META_L,
    META_R,
    SUPER_L,
    SUPER_R,
    MODE_SWITCH,
];

/// Whether `keysym` is one of the tracked modifiers.
pub fn is_modifier(keysym: u32) -> bool {
    MODIFIERS.contains(&keysym)
}

/// The lower-case form of an ASCII letter keysym, every other keysym unchanged.
///
/// Shift or Caps Lock turn `o` into `O`, and a client may release a key under another case than
/// it pressed it, so the policy compares letters case-insensitively.
pub fn fold_case(keysym: u32) -> u32 {
    match keysym {
        0x41..=0x5A => keysym + 0x20,
        _ => keysym,
    }
}

/// The keysym a QEMU extended key event stands for when it carries keysym 0 (QEMU allows a
/// keycode alone), for the keys some policy rule names; `None` for every other keycode.
///
/// Keycodes are XT scancodes as noVNC sends them (an `E0`-prefixed scancode `E0xx` becomes
/// `0x80 | xx`). Without this table a keysym-less event could slip Ctrl+O past the filter.
pub fn from_qemu_keycode(keycode: u32) -> Option<u32> {
    let keysym = match keycode {
        0x1D => CONTROL_L,
        0x9D => CONTROL_R,
        0x2A => SHIFT_L,
        0x36 => SHIFT_R,
        0x38 => ALT_L,
        0xB8 => ALT_R,
        0xDB => SUPER_L,
        0xDC => SUPER_R,
        0xDD => MENU,
        0x44 => F10,
        0x18 => O_LOWER,
        0x2E => C_LOWER,
        0x2F => V_LOWER,
        _ => return None,
    };
    Some(keysym)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fold_case_lowers_only_ascii_capitals() {
        assert_eq!(fold_case(O_UPPER), O_LOWER);
        assert_eq!(fold_case(O_LOWER), O_LOWER);
        assert_eq!(fold_case(0x40), 0x40);
        assert_eq!(fold_case(0x5B), 0x5B);
        assert_eq!(fold_case(CONTROL_L), CONTROL_L);
    }

    #[test]
    fn keysymless_qemu_keycodes_of_policy_keys_are_known() {
        assert_eq!(from_qemu_keycode(0x18), Some(O_LOWER));
        assert_eq!(from_qemu_keycode(0x9D), Some(CONTROL_R));
        assert_eq!(from_qemu_keycode(0x10), None);
    }
}
