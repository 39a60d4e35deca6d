//! Control gating, pass-through of non-input messages, xvp, view-only sockets, and the release
//! of held keys and buttons on a change of control.

use super::*;
use crate::rfb::keysym;

#[test]
fn key_event_from_viewer_without_control_is_dropped() {
    let mut viewer = Viewer::without_control();
    let verdict = viewer.down(0x61);
    assert!(dropped(&verdict));
    assert_eq!(verdict.rule, Rule::NoControl);
    assert!(!verdict.activity);
    assert!(dropped(&viewer.up(0x61)));
}

#[test]
fn key_event_from_viewer_with_control_is_forwarded_unchanged() {
    let mut viewer = Viewer::with_control();
    let key = encode::key_event(true, 0x61);
    let msg = viewer.decode(&key);
    let verdict = decide(&viewer.policy, &mut viewer.ctx, &msg, viewer.now);
    assert_eq!(verdict.outgoing(&msg), Some(&key));
    assert_eq!(verdict.rule, Rule::Input);
    assert!(verdict.activity);
}

#[test]
fn pointer_event_from_viewer_without_control_is_dropped() {
    let mut viewer = Viewer::without_control();
    assert!(dropped(&viewer.pointer(0x01)));
    assert!(dropped(&viewer.pointer(0x00)));
    assert!(forwarded(&Viewer::with_control().pointer(0x01)));
}

#[test]
fn qemu_key_event_is_gated_by_control() {
    let qemu_a = encode::qemu_key_event(true, 0x61, 0x1E);
    let verdict = Viewer::without_control().send(qemu_a.clone());
    assert!(dropped(&verdict));
    assert_eq!(verdict.rule, Rule::NoControl);
    assert_eq!(Viewer::with_control().send(qemu_a).action, Action::Forward);
}

#[test]
fn client_cut_text_from_viewer_without_control_is_dropped() {
    let text = encode::client_cut_text(b"secret");
    assert!(dropped(&Viewer::without_control().send(text.clone())));
    assert!(dropped(
        &Viewer::without_control().send(encode::extended_client_cut_text(1, b""))
    ));
    assert_eq!(Viewer::with_control().send(text).action, Action::Forward);
}

#[test]
fn set_desktop_size_needs_control() {
    let resize = encode::set_desktop_size(1024, 768, &[[0; 16]]);
    assert!(dropped(&Viewer::without_control().send(resize.clone())));
    assert_eq!(Viewer::with_control().send(resize).action, Action::Forward);
}

#[test]
fn non_input_messages_always_pass_without_control() {
    let mut viewer = Viewer::without_control();
    for msg in [
        encode::set_pixel_format([0; 16]),
        encode::set_encodings(&[0, 1]),
        encode::framebuffer_update_request(true, 0, 0, 10, 10),
        encode::enable_continuous_updates(true, 0, 0, 10, 10),
        encode::client_fence(1, b"x"),
    ] {
        let verdict = viewer.send(msg);
        assert_eq!(verdict.action, Action::Forward);
        assert_eq!(verdict.rule, Rule::Passthrough);
        assert!(!verdict.activity, "update traffic is not user activity");
    }
}

#[test]
fn xvp_is_always_dropped_even_with_control() {
    for mut viewer in [Viewer::with_control(), Viewer::without_control()] {
        let verdict = viewer.send(encode::xvp(1, 2)); // shutdown
        assert!(dropped(&verdict));
        assert_eq!(verdict.rule, Rule::Xvp);
    }
}

#[test]
fn view_only_socket_never_gets_control() {
    let mut viewer = Viewer::without_control();
    viewer.ctx.set_view_only(true);
    viewer.ctx.set_control(true);
    assert!(!viewer.ctx.has_control());
    assert!(dropped(&viewer.down(0x61)));
}

#[test]
fn becoming_view_only_while_holding_control_releases_held_keys() {
    let mut viewer = Viewer::with_control();
    viewer.down(0x61);
    assert_eq!(
        viewer.ctx.set_view_only(true),
        vec![encode::key_event(false, 0x61)]
    );
}

#[test]
fn losing_control_releases_exactly_the_keys_and_buttons_held_upstream() {
    // Arrange: Ctrl and x held upstream, y pressed and released, left button held at (10, 20).
    let mut viewer = Viewer::with_control();
    viewer.down(keysym::CONTROL_L);
    viewer.down(0x78);
    viewer.down(0x79);
    viewer.up(0x79);
    viewer.pointer(0x01);

    // Act
    let releases = viewer.ctx.set_control(false);

    // Assert
    assert_eq!(
        releases,
        vec![
            encode::key_event(false, 0x78),
            encode::key_event(false, keysym::CONTROL_L),
            encode::pointer_event(0, 10, 20),
        ]
    );
    assert!(
        viewer.ctx.release_all().is_empty(),
        "nothing is released twice"
    );
}

#[test]
fn key_up_after_losing_control_is_dropped() {
    let mut viewer = Viewer::with_control();
    viewer.down(0x61);
    viewer.ctx.set_control(false);
    assert!(dropped(&viewer.up(0x61)));
}

#[test]
fn released_qemu_keys_are_released_in_their_qemu_form() {
    let mut viewer = Viewer::with_control();
    viewer.send(encode::qemu_key_event(true, 0x61, 0x1E));
    assert_eq!(
        viewer.ctx.set_control(false),
        vec![encode::qemu_key_event(false, 0x61, 0x1E)]
    );
}

#[test]
fn gaining_control_releases_nothing() {
    let mut viewer = Viewer::without_control();
    viewer.down(0x61);
    assert!(viewer.ctx.set_control(true).is_empty());
}

#[test]
fn key_up_of_a_key_pressed_without_control_is_dropped_after_taking_control() {
    let mut viewer = Viewer::without_control();
    viewer.down(0x61);
    viewer.ctx.set_control(true);
    let verdict = viewer.up(0x61);
    assert!(dropped(&verdict));
    assert_eq!(verdict.rule, Rule::DroppedKey);
    // Its auto-repeat is dropped too, until it is released.
    let mut viewer = Viewer::without_control();
    viewer.down(0x62);
    viewer.ctx.set_control(true);
    assert!(dropped(&viewer.down(0x62)));
    viewer.up(0x62);
    assert!(forwarded(&viewer.down(0x62)));
}

#[test]
fn pointer_release_is_sent_only_when_a_button_is_held() {
    let mut viewer = Viewer::with_control();
    viewer.pointer(0x01);
    viewer.pointer(0x00);
    assert!(viewer.ctx.set_control(false).is_empty());
}

#[test]
fn held_keys_are_bounded() {
    let mut viewer = Viewer::with_control();
    for k in 0..super::super::MAX_HELD_KEYS as u32 {
        assert!(forwarded(&viewer.down(0x1000 + k)));
    }
    let verdict = viewer.down(0x2000);
    assert_eq!(
        (verdict.action, verdict.rule),
        (Action::Drop, Rule::TooManyKeys)
    );
    assert!(
        dropped(&viewer.up(0x2000)),
        "its key-up follows its key-down"
    );
}

#[test]
fn platform_comes_from_client_info_or_the_user_agent() {
    assert_eq!(Platform::parse("mac"), Some(Platform::Mac));
    assert_eq!(Platform::parse("beos"), None);
    for platform in [
        Platform::Mac,
        Platform::Windows,
        Platform::Linux,
        Platform::Other,
    ] {
        assert_eq!(Platform::parse(platform.as_str()), Some(platform));
    }
    let safari = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15";
    assert_eq!(Platform::from_user_agent(safari), Platform::Mac);
    assert_eq!(
        Platform::from_user_agent("Mozilla/5.0 (Windows NT 10.0; Win64; x64)"),
        Platform::Windows
    );
    assert_eq!(
        Platform::from_user_agent("Mozilla/5.0 (X11; Linux x86_64)"),
        Platform::Linux
    );
    assert_eq!(Platform::from_user_agent("curl/8"), Platform::Other);
}
