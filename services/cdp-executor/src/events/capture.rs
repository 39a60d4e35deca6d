//! The pure parts of user-event capture: the injected script, the binding payload, and
//! deduplication by (document id, per-document sequence).

use std::collections::{HashSet, VecDeque};

use serde_json::Value;

const SCRIPT: &str = include_str!("capture.js");

/// The capture script bound to one stream's binding name.
pub fn capture_script(binding: &str) -> String {
    SCRIPT.replace("__BINDING__", binding)
}

/// One event as the page reported it.
#[derive(Debug, Clone, PartialEq)]
pub struct PagePayload {
    /// Random id of the document that saw it.
    pub doc_id: String,
    /// Per-document counter.
    pub seq: u64,
    /// `click`, `input`, `keypress` or `focus`.
    pub event_name: String,
    /// The page URL.
    pub url: String,
    /// Details (already redacted by the page).
    pub detail: Value,
}

/// The names the page may report; anything else is ignored.
const PAGE_EVENTS: &[&str] = &["click", "input", "keypress", "focus"];

/// Parses a binding payload; `None` for anything malformed, oversized or unknown.
pub fn parse_binding_payload(payload: &str) -> Option<PagePayload> {
    if payload.len() > 64 * 1024 {
        return None;
    }
    let value: Value = serde_json::from_str(payload).ok()?;
    let event_name = value.get("type")?.as_str()?;
    if !PAGE_EVENTS.contains(&event_name) {
        return None;
    }
    Some(PagePayload {
        doc_id: value.get("docId")?.as_str()?.chars().take(64).collect(),
        seq: value.get("seq")?.as_u64()?,
        event_name: event_name.to_string(),
        url: value
            .get("url")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .chars()
            .take(2083)
            .collect(),
        detail: value.get("detail").cloned().unwrap_or(Value::Null),
    })
}

/// Remembers the last `capacity` (document, sequence) pairs.
#[derive(Debug)]
pub struct Dedup {
    seen: HashSet<(String, u64)>,
    order: VecDeque<(String, u64)>,
    capacity: usize,
}

impl Dedup {
    /// An empty set of `capacity` pairs.
    pub fn new(capacity: usize) -> Self {
        Self {
            seen: HashSet::new(),
            order: VecDeque::new(),
            capacity,
        }
    }

    /// True the first time a pair is seen.
    pub fn first_time(&mut self, doc_id: &str, seq: u64) -> bool {
        let key = (doc_id.to_string(), seq);
        if !self.seen.insert(key.clone()) {
            return false;
        }
        self.order.push_back(key);
        if self.order.len() > self.capacity {
            if let Some(old) = self.order.pop_front() {
                self.seen.remove(&old);
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_script_is_bound_to_the_stream_binding_and_redacts_in_page() {
        let script = capture_script("__bsUserEvents_abc");
        assert!(script.contains("\"__bsUserEvents_abc\""));
        assert!(!script.contains("__BINDING__"));
        assert!(script.contains("[redacted]"));
        assert!(script.contains("password"));
    }

    #[test]
    fn payloads_parse_and_unknown_or_malformed_ones_are_dropped() {
        let ok = parse_binding_payload(
            r#"{"docId":"d1","seq":3,"type":"click","url":"http://a/","detail":{"x":1}}"#,
        );
        assert_eq!(ok.unwrap().seq, 3);
        assert!(parse_binding_payload(r#"{"docId":"d1","seq":3,"type":"mousemove"}"#).is_none());
        assert!(parse_binding_payload("not json").is_none());
        assert!(parse_binding_payload(r#"{"docId":"d1","type":"click"}"#).is_none());
    }

    #[test]
    fn duplicates_are_suppressed_within_capacity() {
        let mut dedup = Dedup::new(2);
        assert!(dedup.first_time("d", 1));
        assert!(!dedup.first_time("d", 1));
        assert!(dedup.first_time("d", 2));
        assert!(dedup.first_time("e", 1));
        // ("d", 1) was evicted.
        assert!(dedup.first_time("d", 1));
    }
}
