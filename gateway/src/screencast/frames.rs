//! The screencast socket's JSON frames (PROTOCOL §10, spec §10.4), pure: a running frame
//! `{<id_key>, status: "running", screenshot, format, viewport_width, viewport_height, url}`
//! and a bare status frame `{<id_key>, status}`.

use crate::entity::EntityKind;
use crate::screencasts::Frame;

/// The id field of a stream of `kind` (`browser_session_id`, `task_id`, `workflow_run_id`).
pub fn id_key(kind: EntityKind) -> &'static str {
    match kind {
        EntityKind::BrowserSession => "browser_session_id",
        EntityKind::Task => "task_id",
        EntityKind::WorkflowRun => "workflow_run_id",
    }
}

/// The text of a running frame for the stream of (`kind`, `id`). The screenshot is copied in
/// as is (base64 needs no JSON escaping); the rest goes through serde.
pub fn running(kind: EntityKind, id: &str, frame: &Frame) -> String {
    let head = serde_json::json!({
        id_key(kind): id,
        "status": "running",
        "format": "jpeg",
        "viewport_width": frame.viewport_width,
        "viewport_height": frame.viewport_height,
        "url": frame.url,
    })
    .to_string();
    let mut text = String::with_capacity(head.len() + frame.screenshot.len() + 20);
    // `head` is a non-empty object: replace its closing brace with the screenshot field.
    text.push_str(&head[..head.len() - 1]);
    text.push_str(",\"screenshot\":\"");
    text.push_str(&frame.screenshot);
    text.push_str("\"}");
    text
}

/// The text of a bare status frame.
pub fn status(kind: EntityKind, id: &str, status: &str) -> String {
    serde_json::json!({ id_key(kind): id, "status": status }).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    #[test]
    fn a_running_frame_has_the_incumbent_fields() {
        let frame = Frame {
            screenshot: "AAEC/w==".into(),
            viewport_width: 1280,
            viewport_height: 720,
            url: "https://example.com/\"q\"".into(),
        };
        let text = running(EntityKind::Task, "tsk_1", &frame);
        let value: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            value,
            json!({
                "task_id": "tsk_1",
                "status": "running",
                "screenshot": "AAEC/w==",
                "format": "jpeg",
                "viewport_width": 1280,
                "viewport_height": 720,
                "url": "https://example.com/\"q\"",
            })
        );
    }

    #[test]
    fn a_status_frame_is_the_id_and_the_status_only() {
        let value: Value =
            serde_json::from_str(&status(EntityKind::WorkflowRun, "wr_1", "completed")).unwrap();
        assert_eq!(
            value,
            json!({ "workflow_run_id": "wr_1", "status": "completed" })
        );
    }
}
