//! The pure half of the screencast: the request's limits and the commands they become, the
//! browser's answers (`Page.screencastFrame`, `Page.captureScreenshot`, `Page.getLayoutMetrics`)
//! turned into JPEG bytes and a viewport, and which events move the followed tab's URL. Kept
//! apart so the rules are unit tested without a browser.

use base64::Engine;
use serde_json::{json, Value};

/// Most JPEG bytes of one frame (5 MiB); a bigger frame is skipped.
pub const MAX_FRAME_BYTES: usize = 5 * 1024 * 1024;
/// The viewport assumed until the browser says otherwise.
pub const DEFAULT_VIEWPORT: Viewport = Viewport {
    width: 1280,
    height: 720,
};

/// Largest frame size a request may ask for.
const MAX_WIDTH: u32 = 3840;
const MAX_HEIGHT: u32 = 2160;
const DEFAULT_QUALITY: u32 = 60;

/// What the browser is asked to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Limits {
    /// Largest frame width, in device pixels.
    pub max_width: u32,
    /// Largest frame height.
    pub max_height: u32,
    /// JPEG quality, 1..=100.
    pub quality: u32,
}

impl Limits {
    /// The request's values: 0 takes the default (1280 × 720, quality 60), larger ones are
    /// clamped to 3840 × 2160 and quality to 1..=100.
    pub fn from_request(max_width: u32, max_height: u32, quality: u32) -> Self {
        let or = |value: u32, default: u32, max: u32| match value {
            0 => default,
            v => v.min(max),
        };
        Self {
            max_width: or(max_width, DEFAULT_VIEWPORT.width, MAX_WIDTH),
            max_height: or(max_height, DEFAULT_VIEWPORT.height, MAX_HEIGHT),
            quality: or(quality, DEFAULT_QUALITY, 100),
        }
    }

    /// `Page.startScreencast` parameters.
    pub fn start_params(&self) -> Value {
        json!({
            "format": "jpeg",
            "quality": self.quality,
            "maxWidth": self.max_width,
            "maxHeight": self.max_height,
            "everyNthFrame": 1,
        })
    }

    /// `Page.captureScreenshot` parameters of the primer frame.
    pub fn capture_params(&self) -> Value {
        json!({ "format": "jpeg", "quality": self.quality, "captureBeyondViewport": false })
    }
}

/// A page viewport in CSS pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Viewport {
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
}

/// The JPEG bytes of a base64 `data` field; `None` when it is not base64 or over the cap
/// (checked on the encoded length first, so an oversized frame is never decoded).
pub fn decode_jpeg(data: &str) -> Option<Vec<u8>> {
    if data.len() / 4 * 3 > MAX_FRAME_BYTES + 3 {
        return None;
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(data)
        .ok()?;
    (!bytes.is_empty() && bytes.len() <= MAX_FRAME_BYTES).then_some(bytes)
}

/// The viewport of a `Page.screencastFrame` (`metadata.deviceWidth/deviceHeight`), or
/// `fallback` when the browser left it out.
pub fn frame_viewport(params: &Value, fallback: Viewport) -> Viewport {
    let metadata = &params["metadata"];
    viewport_of(
        &metadata["deviceWidth"],
        &metadata["deviceHeight"],
        fallback,
    )
}

/// The viewport of a `Page.getLayoutMetrics` answer (`cssLayoutViewport`), or `fallback`.
pub fn layout_viewport(metrics: &Value, fallback: Viewport) -> Viewport {
    let layout = &metrics["cssLayoutViewport"];
    viewport_of(&layout["clientWidth"], &layout["clientHeight"], fallback)
}

fn viewport_of(width: &Value, height: &Value, fallback: Viewport) -> Viewport {
    let pixels = |v: &Value| {
        v.as_f64()
            .filter(|p| p.is_finite() && *p >= 1.0 && *p <= f64::from(u16::MAX))
            .map(|p| p.round() as u32)
    };
    match (pixels(width), pixels(height)) {
        (Some(width), Some(height)) => Viewport { width, height },
        _ => fallback,
    }
}

/// The followed tab's new URL, when `method` reports one: a main-frame navigation or a
/// same-document one on the stream's own `session`, or a target info change of `target_id`.
pub fn url_update(
    method: &str,
    event_session: Option<&str>,
    params: &Value,
    session: &str,
    target_id: &str,
) -> Option<String> {
    let own = event_session == Some(session);
    let text = |v: &Value| v.as_str().map(str::to_string);
    match method {
        "Page.frameNavigated" if own && params["frame"].get("parentId").is_none() => {
            text(&params["frame"]["url"])
        }
        "Page.navigatedWithinDocument" if own && params["frameId"] == target_id => {
            text(&params["url"])
        }
        "Target.targetInfoChanged" if params["targetInfo"]["targetId"] == target_id => {
            text(&params["targetInfo"]["url"])
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_take_defaults_for_zero_and_are_clamped() {
        assert_eq!(
            Limits::from_request(0, 0, 0),
            Limits {
                max_width: 1280,
                max_height: 720,
                quality: 60
            }
        );
        assert_eq!(
            Limits::from_request(10_000, 5_000, 101),
            Limits {
                max_width: 3840,
                max_height: 2160,
                quality: 100
            }
        );
        let small = Limits::from_request(640, 360, 1);
        assert_eq!(
            (small.max_width, small.max_height, small.quality),
            (640, 360, 1)
        );
        let start = small.start_params();
        assert_eq!(start["format"], "jpeg");
        assert_eq!(start["maxWidth"], 640);
        assert_eq!(start["everyNthFrame"], 1);
        assert_eq!(small.capture_params()["captureBeyondViewport"], false);
    }

    #[test]
    fn frames_are_decoded_and_capped() {
        assert_eq!(decode_jpeg("/9j/4A=="), Some(vec![0xff, 0xd8, 0xff, 0xe0]));
        assert_eq!(decode_jpeg("not base64!"), None);
        assert_eq!(decode_jpeg(""), None);
        let big = "A".repeat((MAX_FRAME_BYTES + 8) / 3 * 4);
        assert_eq!(decode_jpeg(&big), None);
    }

    #[test]
    fn viewports_come_from_metadata_else_the_fallback() {
        let params = json!({ "metadata": { "deviceWidth": 800.4, "deviceHeight": 600 } });
        assert_eq!(
            frame_viewport(&params, DEFAULT_VIEWPORT),
            Viewport {
                width: 800,
                height: 600
            }
        );
        assert_eq!(
            frame_viewport(&json!({}), DEFAULT_VIEWPORT),
            DEFAULT_VIEWPORT
        );
        let nonsense = json!({ "metadata": { "deviceWidth": -5, "deviceHeight": 1e12 } });
        assert_eq!(
            frame_viewport(&nonsense, DEFAULT_VIEWPORT),
            DEFAULT_VIEWPORT
        );
        let layout = json!({ "cssLayoutViewport": { "clientWidth": 1024, "clientHeight": 768 } });
        assert_eq!(
            layout_viewport(&layout, DEFAULT_VIEWPORT),
            Viewport {
                width: 1024,
                height: 768
            }
        );
    }

    #[test]
    fn only_the_followed_tab_moves_the_url() {
        let main = json!({ "frame": { "id": "T", "url": "http://a/" } });
        let child = json!({ "frame": { "id": "F", "parentId": "T", "url": "http://ad/" } });
        let update = |m, s, p: &Value| url_update(m, s, p, "S", "T");
        assert_eq!(
            update("Page.frameNavigated", Some("S"), &main).as_deref(),
            Some("http://a/")
        );
        assert_eq!(update("Page.frameNavigated", Some("S"), &child), None);
        assert_eq!(update("Page.frameNavigated", Some("other"), &main), None);
        let within = json!({ "frameId": "T", "url": "http://a/#x" });
        assert_eq!(
            update("Page.navigatedWithinDocument", Some("S"), &within).as_deref(),
            Some("http://a/#x")
        );
        let info = json!({ "targetInfo": { "targetId": "T", "url": "http://b/" } });
        assert_eq!(
            update("Target.targetInfoChanged", None, &info).as_deref(),
            Some("http://b/")
        );
        let other = json!({ "targetInfo": { "targetId": "U", "url": "http://c/" } });
        assert_eq!(update("Target.targetInfoChanged", None, &other), None);
    }
}
