use super::*;
use serde_json::json;

fn parsed(value: serde_json::Value) -> Result<Inbound, Skip> {
    parse(&value.to_string())
}

#[test]
fn non_objects_and_unknown_kinds_are_skipped() {
    assert_eq!(parse("not json"), Err(Skip::NotJson));
    assert_eq!(parse("[1,2]"), Err(Skip::NotObject));
    assert_eq!(parse("\"mouseEvent\""), Err(Skip::NotObject));
    assert_eq!(parse("null"), Err(Skip::NotObject));
    assert_eq!(parsed(json!({ "kind": "launch" })), Err(Skip::UnknownKind));
    assert_eq!(parsed(json!({ "kind": 5 })), Err(Skip::UnknownKind));
    assert_eq!(parsed(json!({})), Err(Skip::UnknownKind));
    assert_eq!(
        parsed(json!({ "type": "take-control" })),
        Ok(Inbound::TakeControl)
    );
}

#[test]
fn mouse_events_are_clamped_and_defaulted() {
    let event = parsed(json!({
        "kind": "mouseEvent", "eventType": "mousePressed", "x": 12.9, "y": 99999,
        "button": "right", "clickCount": 7, "modifiers": 0x1F
    }));
    assert_eq!(
        event,
        Ok(Inbound::Mouse(cdp::MouseInput {
            r#type: "mousePressed".into(),
            x: 12,
            y: 10_000,
            button: "right".into(),
            click_count: 3,
            modifiers: 0xF,
        }))
    );
    let Ok(Inbound::Mouse(moved)) = parsed(json!({
        "kind": "mouseEvent", "eventType": "mouseMoved", "x": -5, "y": 3,
        "button": "back", "clickCount": 1.5, "modifiers": "ctrl"
    })) else {
        panic!("a move parses");
    };
    assert_eq!(
        (
            moved.x,
            moved.button.as_str(),
            moved.click_count,
            moved.modifiers
        ),
        (0, "none", 0, 0)
    );
    for bad in [
        json!({ "kind": "mouseEvent", "eventType": "mouseWheel", "x": 1, "y": 1 }),
        json!({ "kind": "mouseEvent", "eventType": "mousePressed", "y": 1 }),
        json!({ "kind": "mouseEvent", "eventType": "mousePressed", "x": "1", "y": 1 }),
    ] {
        assert_eq!(parsed(bad), Err(Skip::Invalid("mouseEvent")));
    }
}

#[test]
fn key_events_keep_text_only_for_one_printable_character_on_key_down() {
    let Ok(Inbound::Key(down)) = parsed(json!({
        "kind": "keyEvent", "eventType": "keyDown", "key": "a", "code": "KeyA", "text": "a",
        "windowsVirtualKeyCode": 65, "modifiers": 8
    })) else {
        panic!("a key parses");
    };
    assert_eq!(
        (
            down.text.as_str(),
            down.windows_virtual_key_code,
            down.modifiers
        ),
        ("a", Some(65), 8)
    );
    let Ok(Inbound::Key(raw)) = parsed(json!({
        "kind": "keyEvent", "eventType": "rawKeyDown", "key": "Enter", "text": "\r",
        "windowsVirtualKeyCode": 255
    })) else {
        panic!("a raw key parses");
    };
    assert_eq!(
        (raw.text.as_str(), raw.windows_virtual_key_code),
        ("", None)
    );
    let Ok(Inbound::Key(two)) = parsed(json!({
        "kind": "keyEvent", "eventType": "keyDown", "key": "ab", "text": "ab"
    })) else {
        panic!("parses");
    };
    assert_eq!(two.text, "");
    let long = "k".repeat(MAX_KEY_CHARS + 1);
    assert_eq!(
        parsed(json!({ "kind": "keyEvent", "eventType": "keyDown", "key": long })),
        Err(Skip::Invalid("keyEvent"))
    );
    assert_eq!(
        parsed(json!({ "kind": "keyEvent", "eventType": "keyDown", "code": 5 })),
        Err(Skip::Invalid("keyEvent"))
    );
    assert_eq!(
        parsed(json!({ "kind": "keyEvent", "eventType": "char", "key": "a" })),
        Err(Skip::Invalid("keyEvent"))
    );
    assert!(
        parsed(json!({ "kind": "keyEvent", "eventType": "keyUp", "key": "é".repeat(32) })).is_ok()
    );
}

#[test]
fn wheel_events_need_coordinates_and_clamp_deltas() {
    assert_eq!(
        parsed(json!({ "kind": "wheelEvent", "x": 5, "y": 6, "deltaY": -123456.7, "deltaX": "x" })),
        Ok(Inbound::Wheel(cdp::WheelInput {
            x: 5,
            y: 6,
            delta_x: 0,
            delta_y: -10_000,
            modifiers: 0,
        }))
    );
    assert_eq!(
        parsed(json!({ "kind": "wheelEvent", "x": 5 })),
        Err(Skip::Invalid("wheelEvent"))
    );
}

#[test]
fn navigation_urls_must_be_non_blank_and_at_most_2083_characters() {
    assert_eq!(
        parsed(json!({ "kind": "navigateEvent", "url": " example.com " })),
        Ok(Inbound::Navigate(Some("example.com".into())))
    );
    for bad in [json!("   "), json!(5), json!("x".repeat(MAX_URL_CHARS + 1))] {
        assert_eq!(
            parsed(json!({ "kind": "navigateEvent", "url": bad })),
            Ok(Inbound::Navigate(None))
        );
    }
    assert_eq!(
        parsed(json!({ "kind": "navigateEvent" })),
        Ok(Inbound::Navigate(None))
    );
    assert_eq!(
        parsed(json!({ "kind": "reloadEvent" })).map(|e| e.kind()),
        Ok("reloadEvent")
    );
}
