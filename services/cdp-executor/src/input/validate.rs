//! The input rules, pure: a requested mouse, key or wheel event becomes one `Input.*` command
//! with its values clamped as the incumbent's CDP input channel does (incumbent spec §9.5), or
//! is refused. Clamping rather than refusing keeps a client with a slightly-off coordinate
//! mapping working; refusing is kept for values that have no sensible nearest value.

use proto::cdp::v1::dispatch_input_request::Event;
use proto::cdp::v1::{KeyInput, MouseInput, WheelInput};
use serde_json::{json, Map, Value};

/// Coordinates are clamped to 0..=this.
pub const MAX_COORDINATE: i32 = 10_000;
/// Wheel deltas are clamped to ±this.
pub const MAX_DELTA: i32 = 10_000;
/// Longest DOM `key` or `code`, in characters.
pub const MAX_KEY_CHARS: usize = 32;
/// Modifier bits kept: Alt 1, Ctrl 2, Meta 4, Shift 8.
pub const MODIFIER_MASK: i32 = 0xF;

/// One CDP command for the active tab.
#[derive(Debug, Clone, PartialEq)]
pub struct Command {
    /// `Input.dispatchMouseEvent` or `Input.dispatchKeyEvent`.
    pub method: &'static str,
    /// Its parameters.
    pub params: Value,
}

/// Why an event was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    /// A mouse type other than `mousePressed`, `mouseReleased`, `mouseMoved`.
    #[error("unknown mouse event type")]
    MouseType,
    /// A key type other than `keyDown`, `keyUp`, `rawKeyDown`.
    #[error("unknown key event type")]
    KeyType,
    /// A `key` or `code` over 32 characters.
    #[error("key or code too long")]
    KeyTooLong,
}

/// The command for `event`, or why it is refused.
pub fn command(event: &Event) -> Result<Command, Invalid> {
    match event {
        Event::Mouse(mouse) => self::mouse(mouse),
        Event::Key(key) => self::key(key),
        Event::Wheel(wheel) => Ok(self::wheel(wheel)),
    }
}

fn coordinate(value: i32) -> i32 {
    value.clamp(0, MAX_COORDINATE)
}

fn modifiers(value: i32) -> i32 {
    value & MODIFIER_MASK
}

fn mouse(mouse: &MouseInput) -> Result<Command, Invalid> {
    if !matches!(
        mouse.r#type.as_str(),
        "mousePressed" | "mouseReleased" | "mouseMoved"
    ) {
        return Err(Invalid::MouseType);
    }
    let button = match mouse.button.as_str() {
        b @ ("left" | "middle" | "right" | "none") => b,
        _ => "none",
    };
    Ok(Command {
        method: "Input.dispatchMouseEvent",
        params: json!({
            "type": mouse.r#type,
            "x": coordinate(mouse.x),
            "y": coordinate(mouse.y),
            "button": button,
            "clickCount": mouse.click_count.clamp(0, 3),
            "modifiers": modifiers(mouse.modifiers),
        }),
    })
}

fn key(key: &KeyInput) -> Result<Command, Invalid> {
    let kind = key.r#type.as_str();
    if !matches!(kind, "keyDown" | "keyUp" | "rawKeyDown") {
        return Err(Invalid::KeyType);
    }
    if key.key.chars().count() > MAX_KEY_CHARS || key.code.chars().count() > MAX_KEY_CHARS {
        return Err(Invalid::KeyTooLong);
    }
    let mut params = Map::new();
    params.insert("type".into(), json!(kind));
    params.insert("modifiers".into(), json!(modifiers(key.modifiers)));
    if !key.key.is_empty() {
        params.insert("key".into(), json!(key.key));
    }
    if !key.code.is_empty() {
        params.insert("code".into(), json!(key.code));
    }
    if kind == "keyDown" && is_one_printable(&key.text) {
        params.insert("text".into(), json!(key.text));
    }
    if let Some(code) = key
        .windows_virtual_key_code
        .filter(|c| (0..=254).contains(c))
    {
        params.insert("windowsVirtualKeyCode".into(), json!(code));
        params.insert("nativeVirtualKeyCode".into(), json!(code));
    }
    Ok(Command {
        method: "Input.dispatchKeyEvent",
        params: Value::Object(params),
    })
}

/// Exactly one character, and not a control character.
fn is_one_printable(text: &str) -> bool {
    let mut chars = text.chars();
    matches!((chars.next(), chars.next()), (Some(c), None) if !c.is_control())
}

fn wheel(wheel: &WheelInput) -> Command {
    Command {
        method: "Input.dispatchMouseEvent",
        params: json!({
            "type": "mouseWheel",
            "x": coordinate(wheel.x),
            "y": coordinate(wheel.y),
            "deltaX": wheel.delta_x.clamp(-MAX_DELTA, MAX_DELTA),
            "deltaY": wheel.delta_y.clamp(-MAX_DELTA, MAX_DELTA),
            "modifiers": modifiers(wheel.modifiers),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mouse_event(kind: &str, x: i32, y: i32, button: &str, clicks: i32, mods: i32) -> Event {
        Event::Mouse(MouseInput {
            r#type: kind.into(),
            x,
            y,
            button: button.into(),
            click_count: clicks,
            modifiers: mods,
        })
    }

    fn key_event(kind: &str, key: &str, text: &str, vk: Option<i32>) -> Event {
        Event::Key(KeyInput {
            r#type: kind.into(),
            key: key.into(),
            code: String::new(),
            text: text.into(),
            windows_virtual_key_code: vk,
            modifiers: 0,
        })
    }

    #[test]
    fn mouse_values_are_clamped_and_unknown_buttons_become_none() {
        let c = command(&mouse_event("mousePressed", -5, 20_000, "right", 9, 0x1F)).unwrap();
        assert_eq!(c.method, "Input.dispatchMouseEvent");
        assert_eq!(
            c.params,
            json!({ "type": "mousePressed", "x": 0, "y": 10_000, "button": "right", "clickCount": 3, "modifiers": 0xF })
        );
        let c = command(&mouse_event("mouseMoved", 10, 20, "back", -1, -1)).unwrap();
        assert_eq!(c.params["button"], "none");
        assert_eq!(c.params["clickCount"], 0);
        assert_eq!(c.params["modifiers"], 0xF);
        assert_eq!(c.params["x"], 10);
        for button in ["left", "middle", "none"] {
            let c = command(&mouse_event("mouseReleased", 1, 1, button, 1, 8)).unwrap();
            assert_eq!(c.params["button"], button);
            assert_eq!(c.params["modifiers"], 8);
        }
    }

    #[test]
    fn unknown_types_are_refused() {
        assert_eq!(
            command(&mouse_event("mouseWheel", 1, 1, "left", 1, 0)),
            Err(Invalid::MouseType)
        );
        assert_eq!(
            command(&mouse_event("", 1, 1, "left", 1, 0)),
            Err(Invalid::MouseType)
        );
        assert_eq!(
            command(&key_event("char", "a", "a", None)),
            Err(Invalid::KeyType)
        );
    }

    #[test]
    fn key_and_code_are_at_most_32_characters() {
        let at_limit = "é".repeat(32);
        assert!(command(&key_event("keyDown", &at_limit, "", None)).is_ok());
        let over = "k".repeat(33);
        assert_eq!(
            command(&key_event("keyUp", &over, "", None)),
            Err(Invalid::KeyTooLong)
        );
        let mut long_code = KeyInput {
            r#type: "keyUp".into(),
            code: "c".repeat(40),
            ..Default::default()
        };
        assert_eq!(
            command(&Event::Key(long_code.clone())),
            Err(Invalid::KeyTooLong)
        );
        long_code.code = "KeyA".into();
        let c = command(&Event::Key(long_code)).unwrap();
        assert_eq!(
            c.params,
            json!({ "type": "keyUp", "code": "KeyA", "modifiers": 0 })
        );
    }

    #[test]
    fn text_goes_only_with_key_down_and_one_printable_character() {
        let text = |kind: &str, text: &str| {
            command(&key_event(kind, "a", text, None)).unwrap().params["text"].clone()
        };
        assert_eq!(text("keyDown", "a"), json!("a"));
        assert_eq!(text("keyDown", "é"), json!("é"));
        assert_eq!(text("keyDown", " "), json!(" "));
        assert_eq!(text("keyDown", "ab"), Value::Null);
        assert_eq!(text("keyDown", ""), Value::Null);
        assert_eq!(text("keyDown", "\r"), Value::Null);
        assert_eq!(text("keyDown", "\u{7f}"), Value::Null);
        assert_eq!(text("rawKeyDown", "a"), Value::Null);
        assert_eq!(text("keyUp", "a"), Value::Null);
    }

    #[test]
    fn virtual_key_codes_are_sent_only_in_range_and_as_native_codes_too() {
        let params = |vk| {
            command(&key_event("rawKeyDown", "Enter", "", vk))
                .unwrap()
                .params
        };
        let enter = params(Some(13));
        assert_eq!(enter["windowsVirtualKeyCode"], 13);
        assert_eq!(enter["nativeVirtualKeyCode"], 13);
        assert_eq!(params(Some(0))["windowsVirtualKeyCode"], 0);
        assert_eq!(params(Some(254))["windowsVirtualKeyCode"], 254);
        for out in [Some(255), Some(-1), None] {
            let p = params(out);
            assert!(p.get("windowsVirtualKeyCode").is_none(), "{out:?}");
            assert!(p.get("nativeVirtualKeyCode").is_none(), "{out:?}");
        }
    }

    #[test]
    fn key_modifiers_are_masked() {
        let c = command(&Event::Key(KeyInput {
            r#type: "keyDown".into(),
            key: "A".into(),
            modifiers: 0x18,
            ..Default::default()
        }))
        .unwrap();
        assert_eq!(c.params["modifiers"], 8);
    }

    #[test]
    fn wheel_events_are_mouse_wheel_with_clamped_deltas() {
        let c = command(&Event::Wheel(WheelInput {
            x: 50,
            y: -3,
            delta_x: -20_000,
            delta_y: 400,
            modifiers: 0x12,
        }))
        .unwrap();
        assert_eq!(c.method, "Input.dispatchMouseEvent");
        assert_eq!(
            c.params,
            json!({ "type": "mouseWheel", "x": 50, "y": 0, "deltaX": -10_000, "deltaY": 400, "modifiers": 2 })
        );
    }
}
