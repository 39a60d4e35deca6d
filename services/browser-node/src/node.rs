//! The browser node: Xvfb, a windowed Chromium on it (DevTools on loopback) and x11vnc showing
//! it, started in that order and watched together; the first to exit is reported.

use std::net::SocketAddr;
use std::process::ExitStatus;
use std::time::Duration;

use crate::{Chromium, ChromiumOptions, NodeError, X11Vnc, Xvfb};

/// How to start a browser node.
#[derive(Debug, Clone)]
pub struct NodeOptions {
    /// Screen and window size in pixels (width, height).
    pub window_size: (u32, u32),
    /// The page opened at start.
    pub start_url: String,
    /// Extra Chromium flags.
    pub chromium_args: Vec<String>,
    /// How long each part may take to start.
    pub startup_timeout: Duration,
    /// The DevTools port (0: any free port).
    pub remote_debugging_port: u16,
    /// The VNC port (`None`: any free port).
    pub vnc_port: Option<u16>,
    /// Fill the screen with the page, no browser UI.
    pub kiosk: bool,
}

impl Default for NodeOptions {
    fn default() -> Self {
        Self {
            window_size: (1280, 800),
            start_url: "about:blank".to_owned(),
            chromium_args: Vec::new(),
            startup_timeout: Duration::from_secs(20),
            remote_debugging_port: 0,
            vnc_port: None,
            kiosk: true,
        }
    }
}

/// A part of the browser node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Component {
    /// The virtual display.
    Xvfb,
    /// The browser.
    Chromium,
    /// The VNC server.
    X11Vnc,
}

impl std::fmt::Display for Component {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Xvfb => "Xvfb",
            Self::Chromium => "chromium",
            Self::X11Vnc => "x11vnc",
        })
    }
}

/// Which part of a node exited first, and how.
#[derive(Debug)]
pub struct ExitReport {
    /// The part that exited.
    pub component: Component,
    /// Its exit status (an error if it could not be read).
    pub status: std::io::Result<ExitStatus>,
}

/// A running browser node. Dropping it stops every part.
pub struct BrowserNode {
    // Drop order: the clients of the display go before the display.
    vnc: X11Vnc,
    chromium: Chromium,
    xvfb: Xvfb,
}

impl BrowserNode {
    /// Starts Xvfb, then Chromium on its display, then x11vnc on it. A part that fails to
    /// start stops the ones already started.
    pub async fn start(options: NodeOptions) -> Result<Self, NodeError> {
        let xvfb = Xvfb::start_with_timeout(options.window_size, options.startup_timeout).await?;
        let chromium = Chromium::launch(ChromiumOptions {
            headless: false,
            display: Some(xvfb.display()),
            window_size: options.window_size,
            start_url: options.start_url.clone(),
            extra_args: options.chromium_args.clone(),
            startup_timeout: options.startup_timeout,
            remote_debugging_port: options.remote_debugging_port,
            kiosk: options.kiosk,
            executable: None,
        })
        .await?;
        let vnc =
            X11Vnc::start_with(xvfb.display(), options.vnc_port, options.startup_timeout).await?;
        Ok(Self {
            vnc,
            chromium,
            xvfb,
        })
    }

    /// Where the RFB server listens (loopback).
    pub fn vnc_addr(&self) -> SocketAddr {
        self.vnc.addr()
    }

    /// The session's `vnc_url`: `tcp://127.0.0.1:PORT`.
    pub fn vnc_url(&self) -> String {
        format!("tcp://{}", self.vnc.addr())
    }

    /// The session's `cdp_url`: `http://127.0.0.1:PORT`.
    pub fn cdp_url(&self) -> String {
        self.chromium.cdp_http_url()
    }

    /// The X display number.
    pub fn display(&self) -> u32 {
        self.xvfb.display()
    }

    /// The process ids of (Xvfb, Chromium, x11vnc).
    pub fn pids(&self) -> (u32, u32, u32) {
        (self.xvfb.pid(), self.chromium.pid(), self.vnc.pid())
    }

    /// The Chromium of this node (e.g. to kill it in a test).
    pub fn chromium_mut(&mut self) -> &mut Chromium {
        &mut self.chromium
    }

    /// Waits until any part exits and tells which. Cancel-safe.
    pub async fn wait_any_exit(&mut self) -> ExitReport {
        let (component, status) = tokio::select! {
            status = self.xvfb.wait() => (Component::Xvfb, status),
            status = self.chromium.wait() => (Component::Chromium, status),
            status = self.vnc.wait() => (Component::X11Vnc, status),
        };
        ExitReport { component, status }
    }

    /// Stops every part (x11vnc, Chromium, then Xvfb) and waits for them.
    pub async fn shutdown(mut self) {
        self.vnc.kill().await;
        self.chromium.kill().await;
        self.xvfb.kill().await;
    }
}
