//! The non-navigating operations on a connected browser, each a short sequence of CDP
//! commands from `plan` run on the active tab. Deadlines are applied by the caller.

use base64::Engine;
use serde_json::{json, Value};

use crate::browser::BrowserConn;
use crate::error::ExecutorError;
use crate::plan;

/// One tab of `ListTabs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TabView {
    /// Target id.
    pub id: String,
    /// Title.
    pub title: String,
    /// URL.
    pub url: String,
    /// Whether operations act on it.
    pub active: bool,
}

/// `InsertText`: a paste at the caret of the active tab (at most 1 MiB).
pub async fn insert_text(browser: &BrowserConn, text: &str) -> Result<(), ExecutorError> {
    if text.len() > plan::MAX_TEXT_BYTES {
        return Err(ExecutorError::InvalidArgument("text is longer than 1 MiB"));
    }
    let tab = browser.active_tab().await?;
    browser.run(&tab, plan::insert_text(text)).await?;
    Ok(())
}

/// `GetSelectedText`: the selection of the active tab, capped at 1 MiB (and whether it was cut).
pub async fn selected_text(browser: &BrowserConn) -> Result<(String, bool), ExecutorError> {
    let value = browser
        .evaluate_on_active(&plan::selected_text_js())
        .await?;
    let text = value
        .get(0)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let cut_in_page = value.get(1).and_then(Value::as_bool).unwrap_or(false);
    let (text, cut) = plan::truncate_utf8(text, plan::MAX_TEXT_BYTES);
    Ok((text, cut || cut_in_page))
}

/// `GetUrl`: the active tab's URL.
pub async fn url(browser: &BrowserConn) -> Result<String, ExecutorError> {
    let tab = browser.active_tab().await?;
    Ok(browser.active_info(&tab).await?.url)
}

/// `Screenshot`: a PNG of the viewport, refused over 5 MiB.
pub async fn screenshot(browser: &BrowserConn) -> Result<Vec<u8>, ExecutorError> {
    let tab = browser.active_tab().await?;
    let answer = browser
        .call(
            "Page.captureScreenshot",
            Some(&tab.session),
            json!({ "format": "png" }),
        )
        .await?;
    let data = answer
        .get("data")
        .and_then(Value::as_str)
        .unwrap_or_default();
    // Check the encoded size before decoding: base64 is 4 characters per 3 bytes.
    if data.len() / 4 * 3 > plan::MAX_SCREENSHOT_BYTES + 3 {
        return Err(ExecutorError::ResourceExhausted(
            "the screenshot is larger than 5 MiB",
        ));
    }
    let png = base64::engine::general_purpose::STANDARD
        .decode(data)
        .map_err(|e| ExecutorError::Internal(e.into()))?;
    if png.len() > plan::MAX_SCREENSHOT_BYTES {
        return Err(ExecutorError::ResourceExhausted(
            "the screenshot is larger than 5 MiB",
        ));
    }
    Ok(png)
}

/// `ClearCookies`.
pub async fn clear_cookies(browser: &BrowserConn) -> Result<(), ExecutorError> {
    for step in plan::clear_cookies() {
        browser.call(step.method, None, step.params).await?;
    }
    Ok(())
}

/// `ClearHistory`: cache, the origin's workers and cache storage, the navigation history.
pub async fn clear_history(browser: &BrowserConn) -> Result<(), ExecutorError> {
    let tab = browser.active_tab().await?;
    let origin = plan::origin_of(&browser.active_info(&tab).await?.url);
    browser.run(&tab, plan::clear_history(&origin)).await?;
    Ok(())
}

/// `ClearAllData`: every storage type of the origin, then every cookie.
pub async fn clear_all_data(browser: &BrowserConn) -> Result<(), ExecutorError> {
    let tab = browser.active_tab().await?;
    let origin = plan::origin_of(&browser.active_info(&tab).await?.url);
    browser.run(&tab, plan::clear_all_data(&origin)).await?;
    Ok(())
}

/// `ListTabs`: every page target, the active one marked.
pub async fn list_tabs(browser: &BrowserConn) -> Result<Vec<TabView>, ExecutorError> {
    let active = browser.active_tab().await?;
    let pages = browser.pages().await?;
    Ok(pages
        .into_iter()
        .map(|p| TabView {
            active: p.target_id == active.target_id,
            id: p.target_id,
            title: p.title,
            url: p.url,
        })
        .collect())
}
