//! The viewer side of an end-to-end test: a headless Chromium (started by the browser node's
//! launcher) driven through chromiumoxide, showing the viewer page, typing into its canvas and
//! reading its DOM. Every wait polls a DOM condition against a deadline.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use browser_node::{Chromium, ChromiumOptions};
use chromiumoxide::cdp::browser_protocol::browser::{
    PermissionDescriptor, PermissionSetting, SetPermissionParams,
};
use chromiumoxide::cdp::browser_protocol::emulation::SetFocusEmulationEnabledParams;
use chromiumoxide::cdp::browser_protocol::input::{DispatchKeyEventParams, DispatchKeyEventType};
use chromiumoxide::cdp::browser_protocol::page::NavigateParams;
use chromiumoxide::handler::viewport::Viewport;
use chromiumoxide::handler::HandlerConfig;
use chromiumoxide::page::ScreenshotParams;
use chromiumoxide::{Browser, Page};
use futures::StreamExt;

/// The viewer's window: the size the page is designed for.
pub const VIEWPORT: (u32, u32) = (1280, 800);
/// How often a wait re-reads the page.
const POLL: Duration = Duration::from_millis(100);
/// CDP modifier bit of Control.
const CONTROL: i64 = 2;

/// A headless Chromium showing the viewer page.
pub struct ViewerDriver {
    /// The viewer's tab.
    pub page: Page,
    browser: Browser,
    handler: tokio::task::JoinHandle<()>,
    _chromium: Chromium,
}

impl ViewerDriver {
    /// Starts the headless Chromium and opens a blank tab.
    pub async fn launch() -> anyhow::Result<Self> {
        let chromium = Chromium::launch(ChromiumOptions {
            headless: true,
            window_size: VIEWPORT,
            ..ChromiumOptions::default()
        })
        .await?;
        let viewport = Viewport {
            width: VIEWPORT.0,
            height: VIEWPORT.1,
            ..Viewport::default()
        };
        let config = HandlerConfig {
            viewport: Some(viewport),
            ..HandlerConfig::default()
        };
        let (browser, mut handler) = Browser::connect_with_config(chromium.cdp_ws_url(), config)
            .await
            .context("connecting to the viewer's Chromium")?;
        // chromiumoxide's handler must be polled for anything to happen; a message it cannot
        // parse is not fatal, so keep going until the connection ends.
        let handler = tokio::spawn(async move { while handler.next().await.is_some() {} });
        let page = browser
            .new_page("about:blank")
            .await
            .context("opening a tab")?;
        // Headless tabs are never "focused"; the Async Clipboard API needs a focused document.
        page.execute(SetFocusEmulationEnabledParams::new(true))
            .await?;
        Ok(Self {
            page,
            browser,
            handler,
            _chromium: chromium,
        })
    }

    /// Grants (or denies) the clipboard permissions to `origin` (`http://127.0.0.1:P`).
    pub async fn set_clipboard_permission(
        &self,
        origin: &str,
        read: bool,
        write: bool,
    ) -> anyhow::Result<()> {
        for (name, granted) in [("clipboard-read", read), ("clipboard-write", write)] {
            let setting = if granted {
                PermissionSetting::Granted
            } else {
                PermissionSetting::Denied
            };
            let mut params = SetPermissionParams::new(PermissionDescriptor::new(name), setting);
            params.origin = Some(origin.to_owned());
            self.browser
                .execute(params)
                .await
                .with_context(|| format!("setting {name}"))?;
        }
        Ok(())
    }

    /// Navigates the tab (without waiting for the load: callers wait for a DOM condition, which
    /// is sturdier than chromiumoxide's lifecycle tracking on a loaded machine).
    pub async fn open(&self, url: &str) -> anyhow::Result<()> {
        self.page
            .execute(NavigateParams::new(url))
            .await
            .context("navigating to the viewer page")?;
        Ok(())
    }

    /// Evaluates a JavaScript expression (promises are awaited) and returns its JSON value.
    pub async fn eval(&self, expression: &str) -> anyhow::Result<serde_json::Value> {
        let result = self
            .page
            .evaluate(expression)
            .await
            .with_context(|| format!("evaluating {expression}"))?;
        Ok(result.value().cloned().unwrap_or(serde_json::Value::Null))
    }

    /// Polls `condition` (a JavaScript expression) until it is truthy; on timeout the error names
    /// `what` and the last value of `describe` (an expression that explains the page's state).
    pub async fn wait_until(
        &self,
        condition: &str,
        what: &str,
        timeout: Duration,
        describe: &str,
    ) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            let value = self
                .eval(&format!("Boolean({condition})"))
                .await
                .unwrap_or(serde_json::Value::Bool(false));
            if value == serde_json::Value::Bool(true) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                let state = self.eval(describe).await.unwrap_or_default();
                bail!("timed out waiting for {what}; page state: {state}");
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Clicks the element matching `selector` (at its centre).
    pub async fn click(&self, selector: &str) -> anyhow::Result<()> {
        self.page
            .find_element(selector)
            .await
            .with_context(|| format!("finding {selector}"))?
            .click()
            .await?;
        Ok(())
    }

    /// Types `text` (ASCII letters, digits, space) as key presses into the focused element.
    pub async fn type_text(&self, text: &str) -> anyhow::Result<()> {
        for c in text.chars() {
            let (key, code, vk) = key_of(c)?;
            self.key(
                DispatchKeyEventType::KeyDown,
                &key,
                &code,
                vk,
                0,
                Some(&key),
            )
            .await?;
            self.key(DispatchKeyEventType::KeyUp, &key, &code, vk, 0, None)
                .await?;
        }
        Ok(())
    }

    /// Presses Ctrl+`letter` (as a person does: Control down, letter down/up, Control up).
    pub async fn ctrl(&self, letter: char) -> anyhow::Result<()> {
        let (key, code, vk) = key_of(letter)?;
        self.key(
            DispatchKeyEventType::RawKeyDown,
            "Control",
            "ControlLeft",
            17,
            CONTROL,
            None,
        )
        .await?;
        self.key(
            DispatchKeyEventType::RawKeyDown,
            &key,
            &code,
            vk,
            CONTROL,
            None,
        )
        .await?;
        self.key(DispatchKeyEventType::KeyUp, &key, &code, vk, CONTROL, None)
            .await?;
        self.key(
            DispatchKeyEventType::KeyUp,
            "Control",
            "ControlLeft",
            17,
            0,
            None,
        )
        .await?;
        Ok(())
    }

    async fn key(
        &self,
        kind: DispatchKeyEventType,
        key: &str,
        code: &str,
        vk: i64,
        modifiers: i64,
        text: Option<&str>,
    ) -> anyhow::Result<()> {
        let mut builder = DispatchKeyEventParams::builder()
            .r#type(kind)
            .key(key)
            .code(code)
            .windows_virtual_key_code(vk)
            .native_virtual_key_code(vk)
            .modifiers(modifiers);
        if let Some(text) = text {
            builder = builder.text(text);
        }
        self.page
            .execute(builder.build().map_err(|e| anyhow!(e))?)
            .await?;
        Ok(())
    }

    /// Writes a PNG screenshot of the viewer's window to `path` (creating its directory).
    pub async fn screenshot(&self, path: &Path) -> anyhow::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        self.page
            .save_screenshot(ScreenshotParams::builder().build(), path)
            .await?;
        Ok(())
    }

    /// Closes the browser.
    pub async fn close(mut self) {
        let _ = self.browser.close().await;
        self.handler.abort();
    }
}

/// The DOM `key`, `code` and Windows virtual key code of a printable ASCII character.
fn key_of(c: char) -> anyhow::Result<(String, String, i64)> {
    match c {
        'a'..='z' => Ok((
            c.to_string(),
            format!("Key{}", c.to_ascii_uppercase()),
            c.to_ascii_uppercase() as i64,
        )),
        '0'..='9' => Ok((c.to_string(), format!("Digit{c}"), c as i64)),
        ' ' => Ok((" ".into(), "Space".into(), 32)),
        _ => bail!("the driver types only a-z, 0-9 and space, not {c:?}"),
    }
}
