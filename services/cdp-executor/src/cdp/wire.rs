//! CDP messages on the WebSocket, as text: commands out, responses and events in. Pure (no
//! I/O), so every shape a browser may send is tested here.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Largest message read from a browser. The biggest legitimate one is a screenshot: the
/// 5 MiB PNG cap is about 6.7 MiB as base64, so the cap leaves room for a PNG that is then
/// refused cleanly by the operation. Anything larger ends the connection (it reconnects on the
/// next call) instead of growing the executor's memory for a page that sends, say, a huge
/// binding payload.
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;

/// One command as sent.
#[derive(Debug, Serialize)]
pub struct Call<'a> {
    /// Matches the response.
    pub id: u64,
    /// `Domain.command`.
    pub method: &'a str,
    /// The flattened session it goes to (none: the browser).
    #[serde(rename = "sessionId", skip_serializing_if = "Option::is_none")]
    pub session_id: Option<&'a str>,
    /// Its parameters.
    pub params: &'a Value,
}

impl Call<'_> {
    /// The text frame.
    pub fn encode(&self) -> String {
        // A struct of strings, a number and a `Value` always serialises.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// What the browser sent.
#[derive(Debug, PartialEq)]
pub enum Incoming {
    /// The answer to command `id`.
    Response {
        /// The command's id.
        id: u64,
        /// Its result, or the browser's error code and text.
        result: Result<Value, (i64, String)>,
    },
    /// An event.
    Event {
        /// `Domain.event`.
        method: String,
        /// The flattened session it belongs to (none: the browser session).
        session_id: Option<String>,
        /// Its parameters.
        params: Value,
    },
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Raw {
    id: Option<u64>,
    method: Option<String>,
    session_id: Option<String>,
    #[serde(default)]
    params: Value,
    result: Option<Value>,
    error: Option<RawError>,
}

#[derive(Deserialize)]
struct RawError {
    #[serde(default)]
    code: i64,
    #[serde(default)]
    message: String,
}

/// Why a frame was not understood (the connection goes on: it is skipped).
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// Not JSON, or not an object of the expected shape.
    #[error("not a CDP message: {0}")]
    Json(#[from] serde_json::Error),
    /// Neither an `id` nor a `method`.
    #[error("a CDP message with neither id nor method")]
    Neither,
}

/// Parses one text frame.
pub fn decode(text: &str) -> Result<Incoming, DecodeError> {
    let raw: Raw = serde_json::from_str(text)?;
    if let Some(id) = raw.id {
        let result = match (raw.error, raw.result) {
            (Some(error), _) => Err((error.code, error.message)),
            (None, result) => Ok(result.unwrap_or(Value::Null)),
        };
        return Ok(Incoming::Response { id, result });
    }
    match raw.method {
        Some(method) => Ok(Incoming::Event {
            method,
            session_id: raw.session_id,
            params: raw.params,
        }),
        None => Err(DecodeError::Neither),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_call_names_its_session_only_when_it_has_one() {
        let params = json!({ "text": "ü" });
        let on_page = Call {
            id: 7,
            method: "Input.insertText",
            session_id: Some("S1"),
            params: &params,
        };
        assert_eq!(
            on_page.encode(),
            r#"{"id":7,"method":"Input.insertText","sessionId":"S1","params":{"text":"ü"}}"#
        );
        let on_browser = Call {
            id: 8,
            method: "Browser.getVersion",
            session_id: None,
            params: &json!({}),
        };
        assert_eq!(
            on_browser.encode(),
            r#"{"id":8,"method":"Browser.getVersion","params":{}}"#
        );
    }

    #[test]
    fn responses_carry_their_result_or_the_browsers_error() {
        assert_eq!(
            decode(r#"{"id":3,"result":{"a":1}}"#).unwrap(),
            Incoming::Response {
                id: 3,
                result: Ok(json!({ "a": 1 }))
            }
        );
        assert_eq!(
            decode(r#"{"id":4,"error":{"code":-32001,"message":"Session with given id not found."},"sessionId":"S"}"#)
                .unwrap(),
            Incoming::Response {
                id: 4,
                result: Err((-32001, "Session with given id not found.".into()))
            }
        );
        assert_eq!(
            decode(r#"{"id":5}"#).unwrap(),
            Incoming::Response {
                id: 5,
                result: Ok(Value::Null)
            }
        );
    }

    #[test]
    fn events_keep_their_flattened_session() {
        assert_eq!(
            decode(r#"{"method":"Page.frameNavigated","params":{"frame":{}},"sessionId":"S9"}"#)
                .unwrap(),
            Incoming::Event {
                method: "Page.frameNavigated".into(),
                session_id: Some("S9".into()),
                params: json!({ "frame": {} }),
            }
        );
        assert_eq!(
            decode(r#"{"method":"Target.targetCreated"}"#).unwrap(),
            Incoming::Event {
                method: "Target.targetCreated".into(),
                session_id: None,
                params: Value::Null,
            }
        );
    }

    #[test]
    fn frames_that_are_not_cdp_messages_are_errors_not_panics() {
        for text in [
            "",
            "null",
            "[]",
            "{",
            r#"{"params":{}}"#,
            r#"{"id":-1}"#,
            r#"{"id":"x"}"#,
        ] {
            assert!(decode(text).is_err(), "{text}");
        }
    }
}
