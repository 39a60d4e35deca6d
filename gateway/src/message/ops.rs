//! Browser operations of the Message channel, each one executor call on the session's active
//! tab (PROTOCOL §7), with a deadline. Failures become the incumbent's short `error` texts
//! (spec §6.2); executor status messages are logged, never sent to the viewer.

use base64::Engine;
use proto::cdp::v1 as cdp;
use tonic::Code;

use super::ctx::Ctx;
use super::kinds::{Inbound, Outbound, TabInfo, MAX_CLIPBOARD, MAX_SCREENSHOT};
use crate::executor::{self, CallError, UNAVAILABLE};

/// Runs `operation`; the reply to send, if any.
pub async fn run(ctx: &Ctx, operation: Inbound) -> Option<Outbound> {
    let kind = operation.name();
    if let Inbound::AskForClipboardResponse { text } | Inbound::ClipboardPaste { text } = &operation
    {
        if text.len() > MAX_CLIPBOARD {
            return Some(Outbound::error(Some(kind), "Clipboard payload too large."));
        }
        if text.is_empty() {
            // Nothing to paste (an empty or unreadable viewer clipboard).
            return None;
        }
    }
    if !ctx.state.executor.configured() {
        return Some(Outbound::error(Some(kind), UNAVAILABLE));
    }
    match dispatch(ctx, operation).await {
        Ok(reply) => reply,
        Err(failure) => {
            match &failure {
                CallError::Unavailable => {}
                CallError::Status(code) => {
                    tracing::warn!(message.kind = kind, grpc.code = ?code, "browser operation failed")
                }
                CallError::Timeout => {
                    tracing::warn!(message.kind = kind, "browser operation timed out")
                }
            }
            Some(Outbound::error(Some(kind), failure_text(kind, &failure)))
        }
    }
}

fn url(url: String) -> Option<Outbound> {
    Some(Outbound::BrowserUrl { url })
}

async fn dispatch(ctx: &Ctx, operation: Inbound) -> Result<Option<Outbound>, CallError> {
    let executor = &ctx.state.executor;
    let target = executor::target(ctx.auth.session_key());
    let history = {
        let target = target.clone();
        move || cdp::HistoryRequest { target }
    };
    let clear = {
        let target = target.clone();
        move || cdp::ClearRequest { target }
    };
    match operation {
        Inbound::AskForClipboardResponse { text } | Inbound::ClipboardPaste { text } => {
            let len = text.len();
            let request = cdp::InsertTextRequest { target, text };
            executor
                .call(
                    "InsertText",
                    |mut c| async move { c.insert_text(request).await },
                )
                .await?;
            ctx.state
                .metrics
                .clipboard("paste", Some("to_browser"), len);
            ctx.audit("paste");
            Ok(None)
        }
        Inbound::ClipboardCopy => {
            let request = cdp::GetSelectedTextRequest { target };
            let text = executor
                .call("GetSelectedText", |mut c| async move {
                    c.get_selected_text(request).await
                })
                .await?
                .text;
            ctx.state
                .metrics
                .clipboard("copy", Some("to_viewer"), text.len());
            ctx.audit("copy");
            Ok(Some(Outbound::CopiedText { text }))
        }
        Inbound::GetBrowserUrl => {
            let request = cdp::GetUrlRequest { target };
            let response = executor
                .call("GetUrl", |mut c| async move { c.get_url(request).await })
                .await?;
            Ok(url(response.url))
        }
        Inbound::Navigate { url: destination } => {
            ctx.audit("navigate");
            let request = cdp::NavigateRequest {
                target,
                url: destination,
            };
            let response = executor
                .call("Navigate", |mut c| async move { c.navigate(request).await })
                .await?;
            Ok(url(response.url))
        }
        Inbound::Reload { hard } => {
            ctx.audit("reload");
            let request = cdp::ReloadRequest {
                target,
                hard: hard.unwrap_or(false),
            };
            let response = executor
                .call("Reload", |mut c| async move { c.reload(request).await })
                .await?;
            Ok(url(response.url))
        }
        Inbound::GoBack => {
            ctx.audit("go-back");
            let response = executor
                .call("GoBack", |mut c| async move { c.go_back(history()).await })
                .await?;
            Ok(url(response.url))
        }
        Inbound::GoForward => {
            ctx.audit("go-forward");
            let response = executor
                .call(
                    "GoForward",
                    |mut c| async move { c.go_forward(history()).await },
                )
                .await?;
            Ok(url(response.url))
        }
        Inbound::TakeScreenshot => {
            let request = cdp::ScreenshotRequest { target };
            screenshot(
                executor
                    .call(
                        "Screenshot",
                        |mut c| async move { c.screenshot(request).await },
                    )
                    .await?,
            )
        }
        Inbound::ClearCookies => {
            executor
                .call("ClearCookies", |mut c| async move {
                    c.clear_cookies(clear()).await
                })
                .await?;
            ctx.audit("clear-cookies");
            Ok(None)
        }
        Inbound::ClearHistory => {
            executor
                .call("ClearHistory", |mut c| async move {
                    c.clear_history(clear()).await
                })
                .await?;
            ctx.audit("clear-history");
            Ok(None)
        }
        Inbound::ClearAllData => {
            executor
                .call("ClearAllData", |mut c| async move {
                    c.clear_all_data(clear()).await
                })
                .await?;
            ctx.audit("clear-all-data");
            Ok(None)
        }
        Inbound::GetBrowserTabs => {
            let request = cdp::ListTabsRequest { target };
            let tabs = executor
                .call(
                    "ListTabs",
                    |mut c| async move { c.list_tabs(request).await },
                )
                .await?
                .tabs;
            Ok(Some(Outbound::BrowserTabs {
                tabs: tabs.into_iter().map(tab).collect(),
            }))
        }
        // Handled inline by `handle::inbound`; never spawned.
        _ => Ok(None),
    }
}

fn screenshot(response: cdp::ScreenshotResponse) -> Result<Option<Outbound>, CallError> {
    if response.data.len() > MAX_SCREENSHOT {
        return Err(CallError::Status(Code::ResourceExhausted));
    }
    let data = base64::engine::general_purpose::STANDARD.encode(&response.data);
    let mime_type = if response.mime_type.is_empty() {
        "image/png".to_owned()
    } else {
        response.mime_type
    };
    Ok(Some(Outbound::Screenshot { data, mime_type }))
}

fn tab(tab: cdp::Tab) -> TabInfo {
    TabInfo {
        id: tab.id,
        title: tab.title,
        url: tab.url,
        active: tab.active,
        favicon: None,
        is_ready: true,
        page_number: None,
    }
}

/// The viewer's text for a failed `kind`: fixed strings only, never the destination or the
/// executor's message.
fn failure_text(kind: &str, failure: &CallError) -> &'static str {
    let code = match failure {
        CallError::Unavailable => return UNAVAILABLE,
        CallError::Status(code) => Some(*code),
        CallError::Timeout => None,
    };
    match (kind, code) {
        ("navigate", Some(Code::PermissionDenied)) => {
            "Navigation to this destination is not allowed."
        }
        ("navigate", Some(Code::InvalidArgument)) => "Invalid URL.",
        ("take-screenshot", Some(Code::ResourceExhausted)) => "Screenshot too large.",
        (_, Some(Code::NotFound | Code::FailedPrecondition)) if kind != "navigate" => {
            "The browser is not ready."
        }
        ("ask-for-clipboard-response" | "clipboard-paste", _) => "Failed to paste into browser.",
        ("clipboard-copy", _) => "Failed to copy selected text.",
        ("get-browser-url", _) => "Failed to read browser URL.",
        ("navigate", _) => "Navigation failed.",
        ("reload", _) => "Failed to reload.",
        ("go-back", _) => "Couldn't go back.",
        ("go-forward", _) => "Couldn't go forward.",
        ("take-screenshot", _) => "Failed to capture screenshot.",
        ("clear-cookies", _) => "Failed to clear cookies.",
        ("clear-history", _) => "Failed to clear browsing history.",
        ("clear-all-data", _) => "Failed to clear all browsing data.",
        ("get-browser-tabs", _) => "Failed to list tabs.",
        _ => "Operation failed.",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_navigation_gets_a_fixed_text_that_never_names_the_host() {
        let text = failure_text("navigate", &CallError::Status(Code::PermissionDenied));
        assert_eq!(text, "Navigation to this destination is not allowed.");
        assert_eq!(
            failure_text("navigate", &CallError::Status(Code::Internal)),
            "Navigation failed."
        );
        assert_eq!(
            failure_text("navigate", &CallError::Timeout),
            "Navigation failed."
        );
    }

    #[test]
    fn paste_and_copy_failures_keep_the_incumbent_texts() {
        assert_eq!(
            failure_text("clipboard-paste", &CallError::Status(Code::Unavailable)),
            "Failed to paste into browser."
        );
        assert_eq!(
            failure_text("ask-for-clipboard-response", &CallError::Timeout),
            "Failed to paste into browser."
        );
        assert_eq!(
            failure_text("clipboard-copy", &CallError::Status(Code::Internal)),
            "Failed to copy selected text."
        );
        assert_eq!(
            failure_text(
                "take-screenshot",
                &CallError::Status(Code::ResourceExhausted)
            ),
            "Screenshot too large."
        );
    }

    #[test]
    fn screenshots_over_five_mebibytes_are_refused_and_others_are_base64() {
        let big = cdp::ScreenshotResponse {
            data: vec![0; MAX_SCREENSHOT + 1],
            mime_type: "image/png".into(),
        };
        assert!(matches!(
            screenshot(big),
            Err(CallError::Status(Code::ResourceExhausted))
        ));
        let small = cdp::ScreenshotResponse {
            data: vec![1, 2, 3],
            mime_type: String::new(),
        };
        let Ok(Some(Outbound::Screenshot { data, mime_type })) = screenshot(small) else {
            panic!("a screenshot")
        };
        assert_eq!((data.as_str(), mime_type.as_str()), ("AQID", "image/png"));
    }
}
