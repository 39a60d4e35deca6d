//! Wire shapes and robust parsing of the Message channel's kinds.

use serde_json::json;

use super::*;

fn rejected(text: &str) -> Rejected {
    parse(text).expect_err("rejected")
}

#[test]
fn the_incumbent_frontend_frames_parse_into_their_kinds() {
    assert_eq!(
        parse(r#"{"kind":"take-control"}"#),
        Ok(Inbound::TakeControl)
    );
    assert_eq!(
        parse(r#"{"kind":"cede-control"}"#),
        Ok(Inbound::CedeControl)
    );
    assert_eq!(
        parse(r#"{"kind":"ask-for-clipboard-response","text":"héllo"}"#),
        Ok(Inbound::AskForClipboardResponse {
            text: "héllo".into()
        })
    );
    let begin = r#"{"kind":"begin-exfiltration","workflow_permanent_id":null,"live_interpretation_enabled":false,"supports_interpretation_deltas":true}"#;
    assert!(matches!(
        parse(begin),
        Ok(Inbound::BeginExfiltration {
            supports_interpretation_deltas: Some(true),
            ..
        })
    ));
    assert_eq!(
        parse(r#"{"kind":"recording-capture-pause"}"#),
        Ok(Inbound::RecordingCapturePause)
    );
    assert_eq!(
        parse(r#"{"kind":"reload"}"#),
        Ok(Inbound::Reload { hard: None })
    );
    assert_eq!(
        parse(r#"{"kind":"reload","hard":true}"#),
        Ok(Inbound::Reload { hard: Some(true) })
    );
    assert_eq!(
        parse(r#"{"kind":"client-info","platform":"mac"}"#),
        Ok(Inbound::ClientInfo {
            platform: "mac".into()
        })
    );
}

#[test]
fn extra_fields_on_a_known_kind_are_ignored() {
    assert_eq!(
        parse(r#"{"kind":"take-control","extra":1}"#),
        Ok(Inbound::TakeControl)
    );
    assert_eq!(
        parse(r#"{"kind":"navigate","url":"https://a.example","x":[1]}"#),
        Ok(Inbound::Navigate {
            url: "https://a.example".into()
        })
    );
}

#[test]
fn invalid_json_is_rejected_without_a_kind() {
    assert_eq!(
        rejected("{not json"),
        Rejected {
            failed_kind: None,
            message: "Invalid JSON."
        }
    );
}

#[test]
fn a_json_value_that_is_not_an_object_is_rejected() {
    for text in ["[1,2]", "\"take-control\"", "42", "null"] {
        assert_eq!(
            rejected(text).message,
            "A message must be a JSON object.",
            "{text}"
        );
    }
}

#[test]
fn an_unknown_or_missing_kind_is_rejected_and_named_when_short() {
    assert_eq!(
        rejected(r#"{"kind":"format-disk"}"#),
        Rejected {
            failed_kind: Some("format-disk".into()),
            message: "Unknown kind."
        }
    );
    assert_eq!(rejected(r#"{"text":"x"}"#).message, "Missing kind.");
    assert_eq!(rejected(r#"{"kind":7}"#).message, "Missing kind.");
    let long = format!(r#"{{"kind":"{}"}}"#, "k".repeat(200));
    assert_eq!(rejected(&long).failed_kind, None);
}

#[test]
fn a_wrong_typed_or_missing_field_names_the_kind_that_failed() {
    // Spec §15 item 22: a non-string text/url killed the incumbent's channel.
    for (text, kind) in [
        (r#"{"kind":"navigate","url":5}"#, "navigate"),
        (r#"{"kind":"navigate"}"#, "navigate"),
        (
            r#"{"kind":"clipboard-paste","text":{"a":1}}"#,
            "clipboard-paste",
        ),
        (
            r#"{"kind":"ask-for-clipboard-response","text":null}"#,
            "ask-for-clipboard-response",
        ),
        (r#"{"kind":"reload","hard":"yes"}"#, "reload"),
        (r#"{"kind":"client-info"}"#, "client-info"),
    ] {
        let rejected = rejected(text);
        assert_eq!(rejected.failed_kind.as_deref(), Some(kind), "{text}");
        assert_eq!(rejected.message, "Missing or invalid field.", "{text}");
    }
}

#[test]
fn frames_over_two_mebibytes_are_rejected_before_parsing() {
    let text = format!(
        r#"{{"kind":"clipboard-paste","text":"{}"}}"#,
        "a".repeat(MAX_TEXT_FRAME)
    );
    assert_eq!(
        rejected(&text),
        Rejected {
            failed_kind: None,
            message: "Message too large."
        }
    );
}

#[test]
fn error_replies_never_echo_the_frame() {
    let reply =
        serde_json::to_value(rejected(r#"{"kind":"navigate","url":["secret"]}"#).reply()).unwrap();
    assert_eq!(
        reply,
        json!({"kind": "error", "failed_kind": "navigate", "message": "Missing or invalid field."})
    );
    assert!(!reply.to_string().contains("secret"));
}

#[test]
fn outbound_kinds_keep_the_incumbent_shapes() {
    let cases = [
        (
            Outbound::AskForClipboard,
            json!({"kind": "ask-for-clipboard"}),
        ),
        (
            Outbound::CopiedText { text: "t".into() },
            json!({"kind": "copied-text", "text": "t"}),
        ),
        (
            Outbound::BrowserUrl { url: "u".into() },
            json!({"kind": "browser-url", "url": "u"}),
        ),
        (
            Outbound::Screenshot {
                data: "AA==".into(),
                mime_type: "image/png".into(),
            },
            json!({"kind": "screenshot", "data": "AA==", "mime_type": "image/png"}),
        ),
        (
            Outbound::ExfiltratedEvent {
                event_name: "click".into(),
                params: json!({"x": 1}),
                source: "console".into(),
                timestamp: 1.5,
            },
            json!({"kind": "exfiltrated-event", "event_name": "click", "params": {"x": 1}, "source": "console", "timestamp": 1.5}),
        ),
        (
            Outbound::error(None, "m"),
            json!({"kind": "error", "failed_kind": null, "message": "m"}),
        ),
        (
            Outbound::ControlState {
                interactor: Interactor::Agent,
                reason: Some("view-only".into()),
            },
            json!({"kind": "control-state", "interactor": "agent", "reason": "view-only"}),
        ),
        (
            Outbound::ControlState {
                interactor: Interactor::User,
                reason: None,
            },
            json!({"kind": "control-state", "interactor": "user", "reason": null}),
        ),
    ];
    for (message, expected) in cases {
        assert_eq!(serde_json::to_value(&message).unwrap(), expected);
    }
}

#[test]
fn browser_tabs_use_the_incumbent_tab_shape() {
    let tab = TabInfo {
        id: "T".into(),
        title: "t".into(),
        url: "u".into(),
        active: true,
        favicon: None,
        is_ready: true,
        page_number: None,
    };
    let value = serde_json::to_value(Outbound::BrowserTabs { tabs: vec![tab] }).unwrap();
    assert_eq!(
        value,
        json!({"kind": "browser-tabs", "tabs": [{"id": "T", "title": "t", "url": "u", "active": true, "favicon": null, "isReady": true, "pageNumber": null}]})
    );
}

#[test]
fn every_inbound_kind_name_round_trips_and_only_browser_changes_and_reads_need_control() {
    for name in INBOUND_KINDS {
        let text = match name {
            "client-info" => json!({"kind": name, "platform": "linux"}),
            "ask-for-clipboard-response" | "clipboard-paste" => json!({"kind": name, "text": ""}),
            "navigate" => json!({"kind": name, "url": "https://a.example"}),
            "handoff-complete" => json!({"kind": name, "handoff_id": "h", "success": true}),
            _ => json!({"kind": name}),
        };
        let parsed = parse(&text.to_string()).unwrap_or_else(|e| panic!("{name}: {e:?}"));
        assert_eq!(parsed.name(), name);
        let gated = [
            "ask-for-clipboard-response",
            "clipboard-paste",
            "navigate",
            "reload",
            "go-back",
            "go-forward",
            "clear-cookies",
            "clear-history",
            "clear-all-data",
            "clipboard-copy",
            "begin-exfiltration",
            "handoff-complete",
        ];
        assert_eq!(parsed.needs_control(), gated.contains(&name), "{name}");
        let watching = ["client-info", "get-browser-url", "take-screenshot"];
        assert_eq!(
            parsed.allowed_for_view(),
            watching.contains(&name),
            "{name}"
        );
    }
}
