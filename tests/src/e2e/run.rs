//! One end-to-end run: the stack, a live session and a viewer page open on it, with the
//! JavaScript probes the tests read the page through (its state attributes, the canvas).

use std::time::{Duration, Instant};

use anyhow::Context;

use super::{LiveSession, Stack, ViewerDriver, E2E_WAIT};

/// A JavaScript expression describing the viewer's state, for timeout messages.
pub const PAGE_STATE: &str = "JSON.stringify({ ...document.body.dataset, \
    status: [...document.querySelectorAll('.pill-text')].map((e) => e.textContent), \
    banner: document.getElementById('banner').hidden ? null : document.getElementById('banner-text').textContent, \
    toasts: [...document.querySelectorAll('.toast')].map((e) => e.textContent), \
    received: window.viewer?.recent })";

/// True once both sockets are open and the canvas has a framebuffer.
pub const SCREEN_LIVE: &str =
    "document.body.dataset.vnc === 'open' && document.body.dataset.messages === 'open' \
    && (document.querySelector('#screen canvas')?.width ?? 0) > 0";

/// True once the viewer watches over the CDP screencast (no VNC) with its screen live and its
/// CDP input socket bound to the remote page.
pub const CDP_SCREEN_LIVE: &str = "document.body.dataset.transport === 'cdp' \
    && document.body.dataset.cdpInput === 'ready' && document.body.dataset.vnc === 'open' \
    && document.body.dataset.messages === 'open' \
    && (document.querySelector('#screen canvas')?.width ?? 0) > 0";

/// For each of the remote page's three band colours, the share (0..1) of sampled canvas pixels
/// within a small distance of it.
pub const BAND_SHARES: &str = "(() => { const c = document.querySelector('#screen canvas'); \
    if (!c || !c.width) return null; \
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; \
    const bands = [[211, 47, 47], [56, 142, 60], [25, 118, 210]]; const counts = [0, 0, 0]; let n = 0; \
    for (let i = 0; i < d.length; i += 4 * 13) { n++; bands.forEach((b, k) => { \
      if (Math.abs(d[i] - b[0]) < 24 && Math.abs(d[i + 1] - b[1]) < 24 && Math.abs(d[i + 2] - b[2]) < 24) counts[k]++; }); } \
    return counts.map((x) => x / n); })()";

/// The stack, one live session, and a viewer page open on it with its screen live.
pub struct ViewerRun {
    /// The services.
    pub stack: Stack,
    /// The remote browser.
    pub session: LiveSession,
    /// The viewer's browser.
    pub viewer: ViewerDriver,
}

impl ViewerRun {
    /// Starts everything and waits until the viewer shows the remote screen. `clipboard_read`
    /// grants the viewer page the clipboard-read permission (write is always granted).
    pub async fn start(clipboard_read: bool) -> anyhow::Result<Self> {
        let stack = Stack::start().await?;
        let session = stack.live_session().await?;
        let run = Self::open(stack, session, clipboard_read).await?;
        run.viewer
            .wait_until(SCREEN_LIVE, "the remote screen", E2E_WAIT, PAGE_STATE)
            .await?;
        Ok(run)
    }

    /// As [`Self::start`] on a headless session (a `cdp_url`, no `vnc_url`): waits until the
    /// viewer watches it over the CDP screencast ([`CDP_SCREEN_LIVE`]).
    pub async fn start_headless(clipboard_read: bool) -> anyhow::Result<Self> {
        let stack = Stack::start().await?;
        let session = stack.live_headless_session().await?;
        let run = Self::open(stack, session, clipboard_read).await?;
        run.viewer
            .wait_until(
                CDP_SCREEN_LIVE,
                "the remote screen over the CDP screencast",
                E2E_WAIT,
                PAGE_STATE,
            )
            .await?;
        Ok(run)
    }

    /// Opens a viewer page on `session` without waiting for anything.
    pub async fn open(
        stack: Stack,
        session: LiveSession,
        clipboard_read: bool,
    ) -> anyhow::Result<Self> {
        let viewer = ViewerDriver::launch()
            .await
            .context("viewer browser starts")?;
        viewer
            .set_clipboard_permission(&stack.origin(), clipboard_read, true)
            .await?;
        viewer.open(&stack.viewer_url(&session.id)).await?;
        Ok(Self {
            stack,
            session,
            viewer,
        })
    }

    /// Clicks "Take control" and waits for the indicator to say the viewer holds it.
    pub async fn take_control(&self) -> anyhow::Result<()> {
        self.viewer.click("#take-control").await?;
        self.viewer
            .wait_until(
                "document.body.dataset.control === 'user'",
                "control",
                E2E_WAIT,
                PAGE_STATE,
            )
            .await
    }

    /// Clicks the remote page's `#field` on the viewer's canvas (where the scaled screen shows it).
    pub async fn click_remote_field(&self) -> anyhow::Result<()> {
        let at = self.session.remote.evaluate("(() => { const r = document.getElementById('field').getBoundingClientRect(); return [r.left + 30, r.top + r.height / 2]; })()").await?;
        let (x, y) = (at[0].as_f64().unwrap_or(0.0), at[1].as_f64().unwrap_or(0.0));
        let point = self.viewer.eval(&format!("(() => {{ const c = document.querySelector('#screen canvas'); const r = c.getBoundingClientRect(); \
            return [r.left + {x} * r.width / c.width, r.top + {y} * r.height / c.height]; }})()")).await?;
        let point = chromiumoxide::layout::Point {
            x: point[0].as_f64().unwrap_or(0.0),
            y: point[1].as_f64().unwrap_or(0.0),
        };
        self.viewer.page.click(point).await?;
        Ok(())
    }

    /// Waits until the remote `#field` holds exactly `expected`.
    pub async fn wait_for_field(&self, expected: &str) -> anyhow::Result<()> {
        let deadline = Instant::now() + E2E_WAIT;
        loop {
            let value = self.session.remote.field_value().await?;
            if value == expected {
                return Ok(());
            }
            if Instant::now() >= deadline {
                let state = self.viewer.eval(PAGE_STATE).await.unwrap_or_default();
                anyhow::bail!("remote field holds {value:?}, not {expected:?}; viewer: {state}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the viewer's canvas shows the end of the text in the remote `#field` (dark
    /// pixels just left of where the remote page says its last character ends): the typed keys
    /// went up, and the screen showing all of them came back down.
    pub async fn wait_for_text_on_screen(&self) -> anyhow::Result<()> {
        let last_glyph = self.session.remote.evaluate("(() => { const f = document.getElementById('field'); \
            const s = getComputedStyle(f); const c = document.createElement('canvas').getContext('2d'); c.font = s.font; \
            const r = f.getBoundingClientRect(); \
            const end = r.left + parseFloat(s.borderLeftWidth) + parseFloat(s.paddingLeft) + c.measureText(f.value).width; \
            return [end - 12, r.top + 6, 10, r.height - 12].map(Math.round); })()").await?;
        let dark_pixels = format!("(() => {{ const c = document.querySelector('#screen canvas'); if (!c) return 0; \
            const d = c.getContext('2d').getImageData({}, {}, {}, {}).data; let n = 0; \
            for (let i = 0; i < d.length; i += 4) if (d[i] < 100 && d[i + 1] < 100 && d[i + 2] < 100) n++; return n; }})()", last_glyph[0], last_glyph[1], last_glyph[2], last_glyph[3]);
        self.viewer
            .wait_until(
                &format!("{dark_pixels} > 5"),
                "the typed text's last character on the viewer's screen",
                E2E_WAIT,
                &dark_pixels,
            )
            .await
    }

    /// Stops the viewer, the node and the services.
    pub async fn stop(self) {
        self.viewer.close().await;
        self.session.stop().await;
        self.stack.shutdown().await;
    }
}
