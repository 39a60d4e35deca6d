//! Copy (Ctrl/Cmd+C) and paste (Ctrl/Cmd+V with the 2-second ClientCutText grace): who may
//! trigger them, what counts as Cmd, and "never both".

use super::*;
use crate::rfb::keysym::*;

fn copy_verdict(viewer: &mut Viewer, modifier: u32, key: u32) -> Verdict {
    viewer.down(modifier);
    viewer.down(key)
}

fn is_copy(verdict: &Verdict) -> bool {
    verdict.effects == [Effect::Copy] && verdict.action == Action::Forward
}

#[test]
fn ctrl_c_triggers_copy_and_is_still_forwarded() {
    let verdict = copy_verdict(&mut Viewer::with_control(), CONTROL_L, C_LOWER);
    assert!(is_copy(&verdict));
    assert_eq!(verdict.rule, Rule::Copy);
}

#[test]
fn uppercase_c_with_shift_triggers_copy() {
    let mut viewer = Viewer::with_control();
    viewer.down(SHIFT_L);
    assert!(is_copy(&copy_verdict(&mut viewer, CONTROL_L, C_UPPER)));
}

#[test]
fn right_control_c_triggers_copy() {
    assert!(is_copy(&copy_verdict(
        &mut Viewer::with_control(),
        CONTROL_R,
        C_LOWER
    )));
}

#[test]
fn cmd_c_on_a_mac_client_triggers_copy() {
    for cmd in [ALT_L, SUPER_L, SUPER_R, META_L, META_R] {
        let mut viewer = Viewer::controlling_on(Platform::Mac);
        assert!(
            is_copy(&copy_verdict(&mut viewer, cmd, C_LOWER)),
            "{cmd:#x}"
        );
    }
}

#[test]
fn alt_c_on_linux_is_not_copy() {
    let verdict = copy_verdict(&mut Viewer::controlling_on(Platform::Linux), ALT_L, C_LOWER);
    assert_eq!((verdict.action, verdict.effects), (Action::Forward, vec![]));
}

#[test]
fn alt_c_and_alt_v_on_windows_are_not_copy_or_paste() {
    let mut viewer = Viewer::controlling_on(Platform::Windows);
    assert!(copy_verdict(&mut viewer, ALT_L, C_LOWER).effects.is_empty());
    let verdict = viewer.down(V_LOWER);
    assert_eq!((verdict.action, verdict.effects), (Action::Forward, vec![]));
}

#[test]
fn mode_switch_is_not_cmd_on_a_mac() {
    // noVNC sends Mode_switch for the mac's left Option key.
    let verdict = copy_verdict(
        &mut Viewer::controlling_on(Platform::Mac),
        MODE_SWITCH,
        C_LOWER,
    );
    assert!(verdict.effects.is_empty());
}

#[test]
fn copy_from_viewer_without_control_is_not_triggered() {
    let verdict = copy_verdict(&mut Viewer::without_control(), CONTROL_L, C_LOWER);
    assert!(dropped(&verdict) && verdict.effects.is_empty());
}

#[test]
fn auto_repeated_c_triggers_copy_once() {
    let mut viewer = Viewer::with_control();
    assert!(is_copy(&copy_verdict(&mut viewer, CONTROL_L, C_LOWER)));
    let repeat = viewer.down(C_LOWER);
    assert_eq!((repeat.action, repeat.effects), (Action::Forward, vec![]));
    viewer.up(C_LOWER);
    assert!(is_copy(&viewer.down(C_LOWER)), "a new press copies again");
}

#[test]
fn qemu_extended_ctrl_c_triggers_copy() {
    let mut viewer = Viewer::with_control();
    viewer.send(encode::qemu_key_event(true, CONTROL_L, 0x1D));
    assert!(is_copy(
        &viewer.send(encode::qemu_key_event(true, C_LOWER, 0x2E))
    ));
}

fn paste(viewer: &mut Viewer) -> Verdict {
    viewer.down(CONTROL_L);
    viewer.down(V_LOWER)
}

#[test]
fn paste_right_after_cut_text_is_forwarded() {
    let mut viewer = Viewer::with_control();
    viewer.send(encode::client_cut_text(b"hello"));
    viewer.at(0.05);
    let verdict = paste(&mut viewer);
    assert_eq!(
        (verdict.action, verdict.rule),
        (Action::Forward, Rule::PasteForwarded)
    );
    assert!(verdict.effects.is_empty());
}

#[test]
fn paste_without_recent_cut_text_is_held_back_and_asks() {
    let verdict = paste(&mut Viewer::with_control());
    assert_eq!(verdict.action, Action::HoldBack);
    assert_eq!(verdict.effects, [Effect::AskForClipboard]);
    assert_eq!(verdict.rule, Rule::PasteHeldBack);
}

#[test]
fn paste_grace_is_inclusive_at_exactly_two_seconds() {
    let mut viewer = Viewer::with_control();
    viewer.at(1.0);
    viewer.send(encode::client_cut_text(b"x"));
    viewer.at(3.0);
    assert_eq!(paste(&mut viewer).action, Action::Forward);
}

#[test]
fn paste_just_after_the_grace_asks_for_the_clipboard() {
    let mut viewer = Viewer::with_control();
    viewer.send(encode::client_cut_text(b"x"));
    viewer.now += Duration::from_secs(2) + Duration::from_nanos(1);
    assert_eq!(paste(&mut viewer).action, Action::HoldBack);
}

#[test]
fn paste_grace_is_configuration() {
    let policy = Policy {
        paste_grace: Duration::from_millis(100),
        ..Policy::default()
    };
    let mut viewer = Viewer::on(Platform::Linux, policy);
    viewer.ctx.set_control(true);
    viewer.send(encode::client_cut_text(b"x"));
    viewer.at(0.5);
    assert_eq!(paste(&mut viewer).action, Action::HoldBack);
}

#[test]
fn paste_never_both_forwards_and_asks() {
    for (cut_at, paste_at) in [
        (None, 0.0),
        (Some(0.0), 0.0),
        (Some(0.0), 2.0),
        (Some(0.0), 2.5),
    ] {
        let mut viewer = Viewer::with_control();
        if let Some(at) = cut_at {
            viewer.at(at);
            viewer.send(encode::client_cut_text(b"x"));
        }
        viewer.at(paste_at);
        let verdict = paste(&mut viewer);
        let asks = verdict.effects.contains(&Effect::AskForClipboard);
        assert!(
            forwarded(&verdict) != asks,
            "exactly one of forward and ask: {verdict:?}"
        );
    }
}

#[test]
fn held_back_v_key_up_and_auto_repeat_are_dropped_and_ask_once() {
    let mut viewer = Viewer::with_control();
    assert_eq!(paste(&mut viewer).action, Action::HoldBack);
    let repeat = viewer.down(V_LOWER);
    assert!(dropped(&repeat) && repeat.effects.is_empty());
    assert!(dropped(&viewer.up(V_LOWER)));
    assert!(forwarded(&viewer.up(CONTROL_L)));
}

#[test]
fn cmd_v_on_a_mac_client_is_paste() {
    let mut viewer = Viewer::controlling_on(Platform::Mac);
    viewer.down(ALT_L);
    assert_eq!(viewer.down(V_UPPER).effects, [Effect::AskForClipboard]);
}

#[test]
fn paste_from_viewer_without_control_neither_forwards_nor_asks() {
    let mut viewer = Viewer::without_control();
    viewer.send(encode::client_cut_text(b"x"));
    let verdict = paste(&mut viewer);
    assert!(dropped(&verdict) && verdict.effects.is_empty());
}

#[test]
fn cut_text_dropped_without_control_does_not_open_the_grace() {
    let mut viewer = Viewer::without_control();
    viewer.send(encode::client_cut_text(b"x"));
    viewer.ctx.set_control(true);
    assert_eq!(paste(&mut viewer).action, Action::HoldBack);
}

#[test]
fn extended_clipboard_message_opens_the_grace_too() {
    let mut viewer = Viewer::with_control();
    viewer.send(encode::extended_client_cut_text(0x0800_0001, b"")); // notify: text available
    assert_eq!(paste(&mut viewer).action, Action::Forward);
}
