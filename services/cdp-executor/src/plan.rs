//! Pure decisions of the operations: which CDP commands an operation sends, the page scripts it
//! evaluates, how results are capped. No I/O: the operations in `ops` feed these with what the
//! browser said and send what they return.

use serde_json::{json, Value};

/// Most UTF-8 bytes of pasted or selected text (1 MiB).
pub const MAX_TEXT_BYTES: usize = 1024 * 1024;
/// Most PNG bytes of a screenshot (5 MiB).
pub const MAX_SCREENSHOT_BYTES: usize = 5 * 1024 * 1024;
/// Every storage type `ClearAllData` clears for the active origin.
pub const ALL_STORAGE_TYPES: &str =
    "cookies,local_storage,session_storage,indexeddb,websql,service_workers,cache_storage,shader_cache,file_systems";

/// One CDP command: method and parameters (sent on the active tab's session unless `browser`).
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// `Domain.method`.
    pub method: &'static str,
    /// Parameters.
    pub params: Value,
    /// Sent to the browser target rather than the page.
    pub browser: bool,
}

fn page(method: &'static str, params: Value) -> Step {
    Step {
        method,
        params,
        browser: false,
    }
}

fn browser(method: &'static str, params: Value) -> Step {
    Step {
        method,
        params,
        browser: true,
    }
}

/// Whether the page is the one the user sees: visible and focused.
pub const ACTIVE_PROBE_JS: &str = "[document.visibilityState === 'visible', document.hasFocus()]";

/// The binding the active tab calls when it may have stopped being active.
pub const ACTIVITY_BINDING: &str = "__browserStreamActivity";

/// Installs (once per document) listeners that report visibility and window focus changes
/// through [`ACTIVITY_BINDING`]. The binding is captured at install time, so a page that
/// later overwrites the global cannot silence it.
pub fn activity_listener_js() -> String {
    format!(
        "(() => {{ const b = window.{ACTIVITY_BINDING}; if (typeof b !== 'function' || window.__browserStreamActivityArmed) return; window.__browserStreamActivityArmed = true; const f = () => {{ try {{ b(''); }} catch (e) {{}} }}; document.addEventListener('visibilitychange', f); window.addEventListener('blur', f); window.addEventListener('focus', f); window.addEventListener('pagehide', f); }})()"
    )
}

/// Whether a CDP event may mean another tab became the active one: a target appeared or went
/// away, a session detached or crashed, an attached tab's main frame committed a new document,
/// or the cached tab reported a visibility or focus change. `Target.targetInfoChanged` is not
/// one: it also fires whenever another client attaches or detaches, and carries no focus.
pub fn may_change_active_tab(method: &str, params: &Value) -> bool {
    match method {
        "Target.targetCreated"
        | "Target.targetDestroyed"
        | "Target.targetCrashed"
        | "Target.detachedFromTarget"
        | "Inspector.detached"
        | "Inspector.targetCrashed" => true,
        "Page.frameNavigated" => params.pointer("/frame/parentId").is_none(),
        "Runtime.bindingCalled" => {
            params.get("name").and_then(Value::as_str) == Some(ACTIVITY_BINDING)
        }
        _ => false,
    }
}

/// `expression`, evaluated only when the page is still the focused, visible one:
/// `{active: true, value}` or `{active: false}`.
pub fn guarded_by_probe(expression: &str) -> String {
    format!(
        "(() => {{ const p = {ACTIVE_PROBE_JS}; if (!(p[0] && p[1])) return {{ active: false }}; return {{ active: true, value: ({expression}) }}; }})()"
    )
}

/// How active a page is, from [`ACTIVE_PROBE_JS`]: focused and visible beats visible.
pub fn activity_score(probe: &Value) -> u8 {
    let flag = |i: usize| probe.get(i).and_then(Value::as_bool).unwrap_or(false);
    u8::from(flag(0)) * 2 + u8::from(flag(0) && flag(1))
}

/// The index of the active page among `scores` (in the browser's order): the best score,
/// the first one on ties; `None` without pages.
pub fn choose_active(scores: &[u8]) -> Option<usize> {
    let best = *scores.iter().max()?;
    scores.iter().position(|s| *s == best)
}

/// The selection of the page: a focused input or textarea (selectionStart/End; never a password
/// field), the document selection, or a same-origin iframe's, truncated at `MAX_TEXT_BYTES`
/// UTF-16 units in the page (Rust trims to bytes afterwards).
pub fn selected_text_js() -> String {
    format!(
        r#"(() => {{
  const LIMIT = {MAX_TEXT_BYTES};
  const fromField = (el) => {{
    if (!el || typeof el.selectionStart !== 'number' || el.selectionStart === null) return null;
    if (el.tagName === 'INPUT' && (el.type || '').toLowerCase() === 'password') return '';
    if (el.tagName !== 'INPUT' && el.tagName !== 'TEXTAREA') return null;
    return el.value.substring(el.selectionStart, el.selectionEnd);
  }};
  const inDoc = (doc, depth) => {{
    if (!doc || depth > 8) return '';
    const active = doc.activeElement;
    const field = fromField(active);
    if (field !== null && field !== '') return field;
    if (active && (active.tagName === 'IFRAME' || active.tagName === 'FRAME')) {{
      try {{ const t = inDoc(active.contentDocument, depth + 1); if (t) return t; }} catch (e) {{}}
    }}
    const sel = doc.getSelection ? doc.getSelection() : null;
    const text = sel ? sel.toString() : '';
    if (text) return text;
    for (const frame of doc.querySelectorAll('iframe, frame')) {{
      try {{ const t = inDoc(frame.contentDocument, depth + 1); if (t) return t; }} catch (e) {{}}
    }}
    return '';
  }};
  const text = inDoc(document, 0);
  return text.length > LIMIT ? [text.slice(0, LIMIT), true] : [text, false];
}})()"#
    )
}

/// Cuts `text` to at most `max` bytes at a character boundary; true when something was cut.
pub fn truncate_utf8(mut text: String, max: usize) -> (String, bool) {
    if text.len() <= max {
        return (text, false);
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    (text, true)
}

/// `scheme://host[:port]` of an http(s) page; empty for `about:blank`, `data:` and the like.
pub fn origin_of(page_url: &str) -> String {
    match url::Url::parse(page_url) {
        Ok(url) if matches!(url.scheme(), "http" | "https") => url.origin().ascii_serialization(),
        _ => String::new(),
    }
}

/// `InsertText`: a real paste at the caret (the page's `beforeinput`/`input` events fire).
pub fn insert_text(text: &str) -> Vec<Step> {
    vec![page("Input.insertText", json!({ "text": text }))]
}

/// `ClearCookies`: every cookie of the browser.
pub fn clear_cookies() -> Vec<Step> {
    vec![browser("Storage.clearCookies", json!({}))]
}

/// `ClearHistory`: cache, the origin's service workers and cache storage, then the history.
pub fn clear_history(origin: &str) -> Vec<Step> {
    let mut steps = vec![page("Network.clearBrowserCache", json!({}))];
    if !origin.is_empty() {
        // Storage.clearDataForOrigin answers only on a page session.
        steps.push(page(
            "Storage.clearDataForOrigin",
            json!({ "origin": origin, "storageTypes": "service_workers,cache_storage" }),
        ));
    }
    steps.push(page("Page.resetNavigationHistory", json!({})));
    steps
}

/// `ClearAllData`: every storage type of the origin, then every cookie.
pub fn clear_all_data(origin: &str) -> Vec<Step> {
    let mut steps = Vec::new();
    if !origin.is_empty() {
        steps.push(page(
            "Storage.clearDataForOrigin",
            json!({ "origin": origin, "storageTypes": ALL_STORAGE_TYPES }),
        ));
        // Chromium ignores `session_storage` there; the page clears its own.
        steps.push(page(
            "Runtime.evaluate",
            json!({ "expression": "try { sessionStorage.clear() } catch (e) {}" }),
        ));
    }
    steps.extend(clear_cookies());
    steps
}

/// One entry of `Page.getNavigationHistory`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    /// Entry id for `Page.navigateToHistoryEntry`.
    pub id: i64,
    /// Its URL (guarded before going there).
    pub url: String,
}

/// The entry `offset` steps from the current one, or `None` (a no-op) out of range.
pub fn history_target(history: &Value, offset: i64) -> Option<HistoryEntry> {
    let current = history.get("currentIndex")?.as_i64()?;
    let entries = history.get("entries")?.as_array()?;
    let index = usize::try_from(current.checked_add(offset)?).ok()?;
    let entry = entries.get(index)?;
    Some(HistoryEntry {
        id: entry.get("id")?.as_i64()?,
        url: entry.get("url")?.as_str()?.to_string(),
    })
}

/// Interception of top-level document requests while a guarded navigation runs, so every
/// redirect hop is checked before the browser follows it.
pub fn guard_interception() -> Step {
    page(
        "Fetch.enable",
        json!({ "patterns": [{ "urlPattern": "*", "resourceType": "Document", "requestStage": "Request" }] }),
    )
}

/// The answer to a paused document request: continue, or a `204 No Content` that cancels the
/// navigation without committing anything (the tab stays where it was).
pub fn guard_verdict(request_id: &str, allowed: bool) -> Step {
    if allowed {
        page("Fetch.continueRequest", json!({ "requestId": request_id }))
    } else {
        page(
            "Fetch.fulfillRequest",
            json!({ "requestId": request_id, "responseCode": 204, "responseHeaders": [] }),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_target_changes_and_the_activity_binding_invalidate_the_active_tab() {
        assert!(may_change_active_tab("Target.targetCreated", &json!({})));
        assert!(may_change_active_tab(
            "Target.detachedFromTarget",
            &json!({})
        ));
        assert!(may_change_active_tab(
            "Runtime.bindingCalled",
            &json!({ "name": ACTIVITY_BINDING, "payload": "" })
        ));
        assert!(!may_change_active_tab(
            "Runtime.bindingCalled",
            &json!({ "name": "someoneElse" })
        ));
        assert!(may_change_active_tab(
            "Page.frameNavigated",
            &json!({ "frame": { "id": "F" } })
        ));
        assert!(!may_change_active_tab(
            "Page.frameNavigated",
            &json!({ "frame": { "id": "C", "parentId": "F" } })
        ));
        assert!(!may_change_active_tab(
            "Target.targetInfoChanged",
            &json!({})
        ));
        assert!(!may_change_active_tab("Page.lifecycleEvent", &json!({})));
        assert!(!may_change_active_tab(
            "Runtime.consoleAPICalled",
            &json!({})
        ));
    }

    #[test]
    fn the_focused_visible_page_wins_and_ties_keep_browser_order() {
        let scores: Vec<u8> = [
            json!([false, false]),
            json!([true, true]),
            json!([true, false]),
        ]
        .iter()
        .map(activity_score)
        .collect();
        assert_eq!(choose_active(&scores), Some(1));
        assert_eq!(choose_active(&[2, 2]), Some(0));
        assert_eq!(choose_active(&[]), None);
        assert_eq!(activity_score(&json!(null)), 0);
    }

    #[test]
    fn truncation_cuts_at_a_character_boundary() {
        assert_eq!(truncate_utf8("héllo".into(), 2), ("h".into(), true));
        assert_eq!(truncate_utf8("héllo".into(), 3), ("hé".into(), true));
        assert_eq!(truncate_utf8("abc".into(), 3), ("abc".into(), false));
    }

    #[test]
    fn origins_are_computed_for_http_pages_only() {
        assert_eq!(
            origin_of("https://example.com:8443/a?b#c"),
            "https://example.com:8443"
        );
        assert_eq!(origin_of("http://127.0.0.1:80/x"), "http://127.0.0.1");
        assert_eq!(origin_of("about:blank"), "");
        assert_eq!(origin_of("data:text/html,hi"), "");
    }

    #[test]
    fn clearing_plans_skip_origin_steps_without_an_origin() {
        assert_eq!(clear_all_data("").len(), 1);
        let steps = clear_all_data("https://a.example");
        assert_eq!(steps[0].params["storageTypes"], ALL_STORAGE_TYPES);
        assert!(!steps[0].browser);
        assert_eq!(steps[2].method, "Storage.clearCookies");
        let methods: Vec<_> = clear_history("https://a.example")
            .iter()
            .map(|s| s.method)
            .collect();
        assert_eq!(
            methods,
            [
                "Network.clearBrowserCache",
                "Storage.clearDataForOrigin",
                "Page.resetNavigationHistory"
            ]
        );
    }

    #[test]
    fn history_steps_out_of_range_are_no_ops() {
        let history = json!({ "currentIndex": 1, "entries": [
            { "id": 5, "url": "http://a/" }, { "id": 6, "url": "http://b/" } ] });
        assert_eq!(
            history_target(&history, -1),
            Some(HistoryEntry {
                id: 5,
                url: "http://a/".into()
            })
        );
        assert_eq!(history_target(&history, 1), None);
        assert_eq!(history_target(&history, -2), None);
    }

    #[test]
    fn blocked_hops_are_answered_with_a_non_committing_204() {
        assert_eq!(guard_verdict("r1", true).method, "Fetch.continueRequest");
        let refused = guard_verdict("r1", false);
        assert_eq!(refused.method, "Fetch.fulfillRequest");
        assert_eq!(refused.params["responseCode"], 204);
    }
}
