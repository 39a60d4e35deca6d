//! What a CDP input socket receives (PROTOCOL §10, spec §9.4–9.7), parsed and validated:
//! pure, no I/O. Every value a client controls is checked or clamped here: coordinates
//! 0..=10000, wheel deltas ±10000, `key`/`code` ≤ 32 characters, modifiers & 0xF, click count
//! 0..=3, virtual key codes 0..=254, URLs ≤ 2083 characters. Anything else is a [`Skip`]: the
//! socket logs it and goes on (the incumbent's loop died on a non-object value).

use proto::cdp::v1 as cdp;
use serde_json::{Map, Value};

/// Largest coordinate accepted (larger is clamped).
pub const MAX_COORDINATE: f64 = 10_000.0;
/// Largest wheel delta, either way (larger is clamped).
pub const MAX_DELTA: f64 = 10_000.0;
/// Longest `key` or `code`.
pub const MAX_KEY_CHARS: usize = 32;
/// Longest navigation URL.
pub const MAX_URL_CHARS: usize = 2083;

/// Modifier bits (the frontend's): Alt 1, Ctrl 2, Meta 4, Shift 8.
pub mod modifiers {
    /// Alt.
    pub const ALT: i32 = 1;
    /// Control.
    pub const CTRL: i32 = 2;
    /// Meta (Cmd).
    pub const META: i32 = 4;
    /// Shift.
    pub const SHIFT: i32 = 8;
}

/// One valid inbound message.
#[derive(Debug, Clone, PartialEq)]
pub enum Inbound {
    /// `take-control`.
    TakeControl,
    /// `cede-control`.
    CedeControl,
    /// `mouseEvent`.
    Mouse(cdp::MouseInput),
    /// `keyEvent`.
    Key(cdp::KeyInput),
    /// `wheelEvent`.
    Wheel(cdp::WheelInput),
    /// `navigateEvent`: `None` when the URL is missing, blank or too long (`invalid_url`).
    Navigate(Option<String>),
    /// `goBackEvent`, `goForwardEvent`, `reloadEvent`.
    History(History),
}

/// A history move.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum History {
    /// One entry back.
    Back,
    /// One entry forward.
    Forward,
    /// The current entry again.
    Reload,
}

impl Inbound {
    /// The metrics label (the incumbent's `event_kind`).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::TakeControl => "take-control",
            Self::CedeControl => "cede-control",
            Self::Mouse(_) => "mouseEvent",
            Self::Key(_) => "keyEvent",
            Self::Wheel(_) => "wheelEvent",
            Self::Navigate(_) => "navigateEvent",
            Self::History(History::Back) => "goBackEvent",
            Self::History(History::Forward) => "goForwardEvent",
            Self::History(History::Reload) => "reloadEvent",
        }
    }
}

/// Why a frame was skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// Not JSON.
    NotJson,
    /// JSON, but not an object.
    NotObject,
    /// No `kind`/`type`, or one this channel does not know: ignored silently.
    UnknownKind,
    /// A known kind with a value outside the rules.
    Invalid(&'static str),
}

/// Parses one text frame.
pub fn parse(text: &str) -> Result<Inbound, Skip> {
    let value: Value = serde_json::from_str(text).map_err(|_| Skip::NotJson)?;
    let Value::Object(message) = value else {
        return Err(Skip::NotObject);
    };
    let kind = message
        .get("kind")
        .or_else(|| message.get("type"))
        .and_then(Value::as_str)
        .ok_or(Skip::UnknownKind)?;
    match kind {
        "take-control" => Ok(Inbound::TakeControl),
        "cede-control" => Ok(Inbound::CedeControl),
        "mouseEvent" => mouse(&message).map(Inbound::Mouse),
        "keyEvent" => key(&message).map(Inbound::Key),
        "wheelEvent" => wheel(&message).map(Inbound::Wheel),
        "navigateEvent" => Ok(Inbound::Navigate(url(&message))),
        "goBackEvent" => Ok(Inbound::History(History::Back)),
        "goForwardEvent" => Ok(Inbound::History(History::Forward)),
        "reloadEvent" => Ok(Inbound::History(History::Reload)),
        _ => Err(Skip::UnknownKind),
    }
}

fn one_of(message: &Map<String, Value>, field: &str, allowed: &[&str]) -> Option<String> {
    let value = message.get(field)?.as_str()?;
    allowed.contains(&value).then(|| value.to_owned())
}

/// A required coordinate: a number, truncated, clamped to 0..=10000.
fn coordinate(message: &Map<String, Value>, field: &str) -> Option<i32> {
    let value = message.get(field)?.as_f64()?;
    Some(value.trunc().clamp(0.0, MAX_COORDINATE) as i32)
}

/// An optional integer clamped to `lo..=hi`, else `fallback` (floats and other types too).
fn int_or(message: &Map<String, Value>, field: &str, lo: i64, hi: i64, fallback: i32) -> i32 {
    match message.get(field).and_then(Value::as_i64) {
        Some(v) => v.clamp(lo, hi) as i32,
        None => fallback,
    }
}

fn modifiers(message: &Map<String, Value>) -> i32 {
    message
        .get("modifiers")
        .and_then(Value::as_i64)
        .map_or(0, |m| (m & 0xF) as i32)
}

fn mouse(message: &Map<String, Value>) -> Result<cdp::MouseInput, Skip> {
    let invalid = Skip::Invalid("mouseEvent");
    let kind = one_of(
        message,
        "eventType",
        &["mousePressed", "mouseReleased", "mouseMoved"],
    )
    .ok_or(invalid)?;
    let button = one_of(message, "button", &["left", "middle", "right", "none"])
        .unwrap_or_else(|| "none".into());
    Ok(cdp::MouseInput {
        r#type: kind,
        x: coordinate(message, "x").ok_or(invalid)?,
        y: coordinate(message, "y").ok_or(invalid)?,
        button,
        click_count: int_or(message, "clickCount", 0, 3, 0),
        modifiers: modifiers(message),
    })
}

/// A string field of at most [`MAX_KEY_CHARS`] (absent: empty).
fn short_text(message: &Map<String, Value>, field: &str) -> Result<String, Skip> {
    match message.get(field) {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) if s.chars().count() <= MAX_KEY_CHARS => Ok(s.clone()),
        Some(_) => Err(Skip::Invalid("keyEvent")),
    }
}

fn key(message: &Map<String, Value>) -> Result<cdp::KeyInput, Skip> {
    let kind = one_of(message, "eventType", &["keyDown", "keyUp", "rawKeyDown"])
        .ok_or(Skip::Invalid("keyEvent"))?;
    let printable_char = message.get("text").and_then(Value::as_str).filter(|t| {
        let mut chars = t.chars();
        matches!((chars.next(), chars.next()), (Some(c), None) if !c.is_control())
    });
    let text = match (kind.as_str(), printable_char) {
        ("keyDown", Some(text)) => text.to_owned(),
        _ => String::new(),
    };
    let windows_virtual_key_code = message
        .get("windowsVirtualKeyCode")
        .and_then(Value::as_i64)
        .filter(|code| (0..=254).contains(code))
        .map(|code| code as i32);
    Ok(cdp::KeyInput {
        r#type: kind,
        key: short_text(message, "key")?,
        code: short_text(message, "code")?,
        text,
        windows_virtual_key_code,
        modifiers: modifiers(message),
    })
}

fn delta(message: &Map<String, Value>, field: &str) -> i32 {
    message
        .get(field)
        .and_then(Value::as_f64)
        .map_or(0, |d| d.trunc().clamp(-MAX_DELTA, MAX_DELTA) as i32)
}

fn wheel(message: &Map<String, Value>) -> Result<cdp::WheelInput, Skip> {
    let invalid = Skip::Invalid("wheelEvent");
    Ok(cdp::WheelInput {
        x: coordinate(message, "x").ok_or(invalid)?,
        y: coordinate(message, "y").ok_or(invalid)?,
        delta_x: delta(message, "deltaX"),
        delta_y: delta(message, "deltaY"),
        modifiers: modifiers(message),
    })
}

fn url(message: &Map<String, Value>) -> Option<String> {
    let url = message.get("url")?.as_str()?.trim();
    (!url.is_empty() && url.chars().count() <= MAX_URL_CHARS).then(|| url.to_owned())
}

#[cfg(test)]
mod tests;
