//! Browser operations of the Message channel, each one executor call on the session's active
//! tab (PROTOCOL §7), with a deadline. Failures become the incumbent's short `error` texts
//! (spec §6.2); executor status messages are logged, never sent to the viewer.

use std::time::Instant;

use base64::Engine;
use proto::cdp::v1 as cdp;
use tonic::Code;

use super::handle::audit;
use super::kinds::{Inbound, Outbound, TabInfo, MAX_CLIPBOARD, MAX_SCREENSHOT};
use super::socket::Ctx;
use crate::state::ExecutorClient;

/// What the viewer is told when no executor is configured.
pub const UNAVAILABLE: &str = "browser operations unavailable";

/// Why an operation failed: the executor's status code, or our own deadline.
enum Failure {
    Status(Code),
    Timeout,
}

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
    let Some(executor) = ctx.state.executor.clone() else {
        return Some(Outbound::error(Some(kind), UNAVAILABLE));
    };
    match dispatch(ctx, executor, operation).await {
        Ok(reply) => reply,
        Err(failure) => {
            match &failure {
                Failure::Status(code) => {
                    tracing::warn!(message.kind = kind, grpc.code = ?code, "browser operation failed")
                }
                Failure::Timeout => {
                    tracing::warn!(message.kind = kind, "browser operation timed out")
                }
            }
            Some(Outbound::error(Some(kind), failure_text(kind, &failure)))
        }
    }
}

fn target(ctx: &Ctx) -> Option<cdp::BrowserTarget> {
    Some(cdp::BrowserTarget {
        organization_id: ctx.auth.key.entity.organization_id.clone(),
        browser_session_id: ctx.auth.session.browser_session_id.clone(),
        cdp_url: String::new(),
    })
}

/// One executor call (`op`, the RPC name) under `--executor-timeout`, timed into the metrics.
async fn call<T>(
    ctx: &Ctx,
    op: &'static str,
    future: impl std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
) -> Result<T, Failure> {
    let started = Instant::now();
    let result = tokio::time::timeout(ctx.state.config.executor_timeout, future).await;
    ctx.state
        .metrics
        .executor_call(op, started.elapsed().as_secs_f64());
    match result {
        Ok(Ok(response)) => Ok(response.into_inner()),
        Ok(Err(status)) => Err(Failure::Status(status.code())),
        Err(_) => Err(Failure::Timeout),
    }
}

fn url(url: String) -> Option<Outbound> {
    Some(Outbound::BrowserUrl { url })
}

async fn dispatch(
    ctx: &Ctx,
    mut executor: ExecutorClient,
    operation: Inbound,
) -> Result<Option<Outbound>, Failure> {
    let target = target(ctx);
    let history = || cdp::HistoryRequest {
        target: target.clone(),
    };
    let clear = || cdp::ClearRequest {
        target: target.clone(),
    };
    match operation {
        Inbound::AskForClipboardResponse { text } | Inbound::ClipboardPaste { text } => {
            let len = text.len();
            call(
                ctx,
                "InsertText",
                executor.insert_text(cdp::InsertTextRequest {
                    target: target.clone(),
                    text,
                }),
            )
            .await?;
            ctx.state
                .metrics
                .clipboard("paste", Some("to_browser"), len);
            audit(ctx, "paste");
            Ok(None)
        }
        Inbound::ClipboardCopy => {
            let text = call(
                ctx,
                "GetSelectedText",
                executor.get_selected_text(cdp::GetSelectedTextRequest {
                    target: target.clone(),
                }),
            )
            .await?
            .text;
            ctx.state
                .metrics
                .clipboard("copy", Some("to_viewer"), text.len());
            audit(ctx, "copy");
            Ok(Some(Outbound::CopiedText { text }))
        }
        Inbound::GetBrowserUrl => Ok(url(call(
            ctx,
            "GetUrl",
            executor.get_url(cdp::GetUrlRequest {
                target: target.clone(),
            }),
        )
        .await?
        .url)),
        Inbound::Navigate { url: destination } => {
            audit(ctx, "navigate");
            Ok(url(call(
                ctx,
                "Navigate",
                executor.navigate(cdp::NavigateRequest {
                    target: target.clone(),
                    url: destination,
                }),
            )
            .await?
            .url))
        }
        Inbound::Reload { hard } => {
            audit(ctx, "reload");
            let request = cdp::ReloadRequest {
                target: target.clone(),
                hard: hard.unwrap_or(false),
            };
            Ok(url(call(ctx, "Reload", executor.reload(request))
                .await?
                .url))
        }
        Inbound::GoBack => {
            audit(ctx, "go-back");
            Ok(url(call(ctx, "GoBack", executor.go_back(history()))
                .await?
                .url))
        }
        Inbound::GoForward => {
            audit(ctx, "go-forward");
            Ok(url(call(ctx, "GoForward", executor.go_forward(history()))
                .await?
                .url))
        }
        Inbound::TakeScreenshot => screenshot(
            call(
                ctx,
                "Screenshot",
                executor.screenshot(cdp::ScreenshotRequest {
                    target: target.clone(),
                }),
            )
            .await?,
        ),
        Inbound::ClearCookies => {
            call(ctx, "ClearCookies", executor.clear_cookies(clear())).await?;
            audit(ctx, "clear-cookies");
            Ok(None)
        }
        Inbound::ClearHistory => {
            call(ctx, "ClearHistory", executor.clear_history(clear())).await?;
            audit(ctx, "clear-history");
            Ok(None)
        }
        Inbound::ClearAllData => {
            call(ctx, "ClearAllData", executor.clear_all_data(clear())).await?;
            audit(ctx, "clear-all-data");
            Ok(None)
        }
        Inbound::GetBrowserTabs => {
            let tabs = call(
                ctx,
                "ListTabs",
                executor.list_tabs(cdp::ListTabsRequest {
                    target: target.clone(),
                }),
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

fn screenshot(response: cdp::ScreenshotResponse) -> Result<Option<Outbound>, Failure> {
    if response.data.len() > MAX_SCREENSHOT {
        return Err(Failure::Status(Code::ResourceExhausted));
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
fn failure_text(kind: &str, failure: &Failure) -> &'static str {
    let code = match failure {
        Failure::Status(code) => Some(*code),
        Failure::Timeout => None,
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
        let text = failure_text("navigate", &Failure::Status(Code::PermissionDenied));
        assert_eq!(text, "Navigation to this destination is not allowed.");
        assert_eq!(
            failure_text("navigate", &Failure::Status(Code::Internal)),
            "Navigation failed."
        );
        assert_eq!(
            failure_text("navigate", &Failure::Timeout),
            "Navigation failed."
        );
    }

    #[test]
    fn paste_and_copy_failures_keep_the_incumbent_texts() {
        assert_eq!(
            failure_text("clipboard-paste", &Failure::Status(Code::Unavailable)),
            "Failed to paste into browser."
        );
        assert_eq!(
            failure_text("ask-for-clipboard-response", &Failure::Timeout),
            "Failed to paste into browser."
        );
        assert_eq!(
            failure_text("clipboard-copy", &Failure::Status(Code::Internal)),
            "Failed to copy selected text."
        );
        assert_eq!(
            failure_text("take-screenshot", &Failure::Status(Code::ResourceExhausted)),
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
            Err(Failure::Status(Code::ResourceExhausted))
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
