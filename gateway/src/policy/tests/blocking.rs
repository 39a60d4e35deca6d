//! Blocked keys and buttons (Ctrl/Cmd+O, Menu, Shift+F10, the right button), whatever the
//! framing, and the blocked set as configuration.

use super::*;
use crate::policy::{Combo, Held};
use crate::rfb::keysym::{self, *};

/// Presses `modifiers` then `key`; returns the key-down's verdict.
fn chord(viewer: &mut Viewer, modifiers: &[u32], key: u32) -> Verdict {
    for m in modifiers {
        assert!(forwarded(&viewer.down(*m)), "modifier {m:#x} passes");
    }
    viewer.down(key)
}

fn assert_blocked(verdict: &Verdict) {
    assert_eq!(
        (&verdict.action, verdict.rule),
        (&Action::Drop, Rule::BlockedKey)
    );
    assert!(verdict.effects.is_empty());
}

#[test]
fn ctrl_o_is_blocked() {
    assert_blocked(&chord(&mut Viewer::with_control(), &[CONTROL_L], O_LOWER));
}

#[test]
fn ctrl_shift_o_is_blocked() {
    assert_blocked(&chord(
        &mut Viewer::with_control(),
        &[CONTROL_L, SHIFT_L],
        O_UPPER,
    ));
}

#[test]
fn right_control_o_is_blocked() {
    assert_blocked(&chord(&mut Viewer::with_control(), &[CONTROL_R], O_LOWER));
}

#[test]
fn ctrl_o_is_blocked_with_caps_lock_uppercase_o() {
    assert_blocked(&chord(&mut Viewer::with_control(), &[CONTROL_L], O_UPPER));
}

#[test]
fn cmd_o_on_a_mac_client_is_blocked() {
    // noVNC sends Alt_L for the left Cmd key and Super_L for the right one on a mac.
    for cmd in [ALT_L, SUPER_L, SUPER_R, META_L, META_R] {
        assert_blocked(&chord(
            &mut Viewer::controlling_on(Platform::Mac),
            &[cmd],
            O_LOWER,
        ));
    }
}

#[test]
fn alt_o_on_linux_and_windows_is_not_blocked() {
    for platform in [Platform::Linux, Platform::Windows] {
        let verdict = chord(&mut Viewer::controlling_on(platform), &[ALT_L], O_LOWER);
        assert_eq!(verdict.action, Action::Forward);
    }
}

#[test]
fn o_alone_and_after_ctrl_is_released_passes() {
    let mut viewer = Viewer::with_control();
    assert!(forwarded(&viewer.down(O_LOWER)));
    viewer.up(O_LOWER);
    viewer.down(CONTROL_L);
    viewer.up(CONTROL_L);
    assert!(forwarded(&viewer.down(O_LOWER)));
}

#[test]
fn ctrl_o_key_up_is_dropped_with_its_key_down() {
    let mut viewer = Viewer::with_control();
    chord(&mut viewer, &[CONTROL_L], O_LOWER);
    // Ctrl released first, then O: the O key-up still belongs to the dropped down.
    assert!(forwarded(&viewer.up(CONTROL_L)));
    let verdict = viewer.up(O_LOWER);
    assert_eq!(
        (verdict.action, verdict.rule),
        (Action::Drop, Rule::DroppedKey)
    );
    // A later plain o passes again.
    assert!(forwarded(&viewer.down(O_LOWER)));
}

#[test]
fn ctrl_o_key_up_under_the_other_case_is_dropped_too() {
    let mut viewer = Viewer::with_control();
    chord(&mut viewer, &[CONTROL_L, SHIFT_L], O_UPPER);
    viewer.up(SHIFT_L);
    assert!(dropped(&viewer.up(O_LOWER)));
}

#[test]
fn held_o_auto_repeating_under_ctrl_is_dropped_but_still_released() {
    let mut viewer = Viewer::with_control();
    assert!(forwarded(&viewer.down(O_LOWER)));
    viewer.down(CONTROL_L);
    assert_blocked(&viewer.down(O_LOWER)); // auto-repeat with Ctrl now held
    assert!(
        forwarded(&viewer.up(O_LOWER)),
        "the o the server saw go down goes up"
    );
}

#[test]
fn menu_key_and_shift_f10_are_blocked() {
    assert_blocked(&Viewer::with_control().down(MENU));
    assert_blocked(&chord(&mut Viewer::with_control(), &[SHIFT_R], F10));
    assert!(
        forwarded(&Viewer::with_control().down(F10)),
        "F10 alone passes"
    );
}

#[test]
fn qemu_extended_ctrl_o_is_blocked() {
    let mut viewer = Viewer::with_control();
    viewer.send(encode::qemu_key_event(true, CONTROL_R, 0x9D));
    assert_blocked(&viewer.send(encode::qemu_key_event(true, O_LOWER, 0x18)));
    assert!(dropped(
        &viewer.send(encode::qemu_key_event(false, O_LOWER, 0x18))
    ));
}

#[test]
fn qemu_key_event_without_keysym_is_matched_by_keycode() {
    let mut viewer = Viewer::with_control();
    viewer.send(encode::qemu_key_event(true, 0, 0x1D)); // Control_L by keycode
    assert_blocked(&viewer.send(encode::qemu_key_event(true, 0, 0x18))); // o by keycode
    assert_blocked(&Viewer::with_control().send(encode::qemu_key_event(true, 0, 0xDD)));
    // Menu
}

#[test]
fn blocked_set_is_configuration() {
    let policy = Policy {
        blocked: vec![Combo::new(Held::Control, [keysym::F10 - 1])],
        ..Policy::default()
    };
    let mut viewer = Viewer::on(Platform::Linux, policy);
    viewer.ctx.set_control(true);
    assert!(
        forwarded(&chord(&mut viewer, &[CONTROL_L], O_LOWER)),
        "Ctrl+O no longer listed"
    );
    assert!(forwarded(&viewer.down(MENU)));
    assert_blocked(&viewer.down(keysym::F10 - 1)); // Ctrl+F9
}

#[test]
fn right_click_is_cleared_from_the_mask() {
    let verdict = Viewer::with_control().pointer(0x04);
    assert_eq!(
        verdict.action,
        Action::ForwardRewritten(encode::pointer_event(0x00, 10, 20))
    );
    assert_eq!(verdict.rule, Rule::BlockedButton);
}

#[test]
fn right_click_with_left_held_clears_only_the_right_button() {
    let verdict = Viewer::with_control().pointer(0x05);
    assert_eq!(
        verdict.action,
        Action::ForwardRewritten(encode::pointer_event(0x01, 10, 20))
    );
    let verdict = Viewer::with_control().pointer(0x06);
    assert_eq!(
        verdict.action,
        Action::ForwardRewritten(encode::pointer_event(0x02, 10, 20))
    );
}

#[test]
fn right_button_drag_still_moves_the_pointer() {
    let mut viewer = Viewer::with_control();
    for x in [10u16, 11, 12] {
        let verdict = viewer.send(encode::pointer_event(0x04, x, 5));
        assert_eq!(
            verdict.action,
            Action::ForwardRewritten(encode::pointer_event(0, x, 5))
        );
    }
    assert!(
        viewer.ctx.set_control(false).is_empty(),
        "no button was held upstream"
    );
}

#[test]
fn extended_pointer_keeps_its_marker_and_extra_buttons() {
    let mut viewer = Viewer::with_control();
    let verdict = viewer.send(encode::extended_pointer_event(0x185, 1, 2)); // left, right, 8
    assert_eq!(
        verdict.action,
        Action::ForwardRewritten(encode::extended_pointer_event(0x181, 1, 2))
    );
    assert_eq!(
        viewer.ctx.set_control(false),
        vec![encode::pointer_event(0, 1, 2)]
    );
}

#[test]
fn left_click_passes_unchanged() {
    assert_eq!(Viewer::with_control().pointer(0x01).action, Action::Forward);
}

#[test]
fn message_split_across_frames_is_still_filtered() {
    // Ctrl down, O down and a pointer event with the right button, cut at awkward offsets.
    let mut stream = encode::key_event(true, CONTROL_L).to_vec();
    stream.extend_from_slice(&encode::key_event(true, O_LOWER));
    stream.extend_from_slice(&encode::pointer_event(0x04, 1, 1));
    for (a, b) in [(3, 11), (8, 9), (1, 15), (7, 19)] {
        let mut viewer = Viewer::with_control();
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for piece in [&stream[..a], &stream[a..b], &stream[b..]] {
            buf.extend_from_slice(piece);
            while let Some(msg) = viewer.decoder.decode(&mut buf).unwrap() {
                let verdict = decide(&viewer.policy, &mut viewer.ctx, &msg, viewer.now);
                out.extend(verdict.outgoing(&msg).map(|b| b.to_vec()));
            }
        }
        let expected = [
            encode::key_event(true, CONTROL_L),
            encode::pointer_event(0, 1, 1),
        ];
        assert_eq!(out, expected.map(|b| b.to_vec()), "split at {a}, {b}");
    }
}

#[test]
fn keys_coalesced_in_one_frame_are_each_filtered() {
    let mut viewer = Viewer::with_control();
    let mut buf = BytesMut::new();
    for (down, key) in [
        (true, CONTROL_L),
        (true, O_LOWER),
        (false, O_LOWER),
        (false, CONTROL_L),
    ] {
        buf.extend_from_slice(&encode::key_event(down, key));
    }
    let mut actions = Vec::new();
    while let Some(msg) = viewer.decoder.decode(&mut buf).unwrap() {
        actions.push(decide(&viewer.policy, &mut viewer.ctx, &msg, viewer.now).action);
    }
    assert_eq!(
        actions,
        [Action::Forward, Action::Drop, Action::Drop, Action::Forward]
    );
}
