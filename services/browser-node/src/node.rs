//! The browser node: Xvfb, a windowed Chromium on it (DevTools on loopback) and x11vnc showing
//! it, started in that order and watched together; the first to exit is reported. A headless
//! node is Chromium alone (no display, no VNC server): viewers see it through the gateway's
//! CDP screencast (PROTOCOL §10).

use std::net::SocketAddr;
use std::process::ExitStatus;
use std::time::Duration;

use serde::Serialize;

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
    /// Run Chromium headless, without Xvfb and x11vnc (the node then has no VNC address).
    pub headless: bool,
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
            headless: false,
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

/// The process ids of a node's parts (each the id of its process group too); a headless node
/// has neither Xvfb nor x11vnc.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct Pids {
    /// Xvfb.
    pub xvfb: Option<u32>,
    /// Chromium's browser process.
    pub chromium: u32,
    /// x11vnc.
    pub x11vnc: Option<u32>,
}

/// A running browser node. Dropping it stops every part.
pub struct BrowserNode {
    // Drop order: the clients of the display go before the display. Both are `None` on a
    // headless node.
    vnc: Option<X11Vnc>,
    chromium: Chromium,
    xvfb: Option<Xvfb>,
}

impl BrowserNode {
    /// Starts Xvfb, then Chromium on its display, then x11vnc on it (headless: Chromium
    /// only). A part that fails to start stops the ones already started.
    pub async fn start(options: NodeOptions) -> Result<Self, NodeError> {
        let xvfb = if options.headless {
            None
        } else {
            Some(Xvfb::start_with_timeout(options.window_size, options.startup_timeout).await?)
        };
        let chromium = Chromium::launch(ChromiumOptions {
            headless: options.headless,
            display: xvfb.as_ref().map(Xvfb::display),
            window_size: options.window_size,
            start_url: options.start_url.clone(),
            extra_args: options.chromium_args.clone(),
            startup_timeout: options.startup_timeout,
            remote_debugging_port: options.remote_debugging_port,
            kiosk: options.kiosk,
            executable: None,
        })
        .await?;
        let vnc = match &xvfb {
            Some(xvfb) => Some(
                X11Vnc::start_with(xvfb.display(), options.vnc_port, options.startup_timeout)
                    .await?,
            ),
            None => None,
        };
        Ok(Self {
            vnc,
            chromium,
            xvfb,
        })
    }

    /// Whether this node runs Chromium headless (no display, no VNC server).
    pub fn is_headless(&self) -> bool {
        self.xvfb.is_none()
    }

    /// Where the RFB server listens (loopback), or `None` on a headless node.
    pub fn vnc(&self) -> Option<SocketAddr> {
        self.vnc.as_ref().map(X11Vnc::addr)
    }

    /// Where the RFB server listens (loopback).
    ///
    /// # Panics
    /// On a headless node, which has none (see [`Self::vnc`]).
    pub fn vnc_addr(&self) -> SocketAddr {
        self.vnc()
            .expect("a headless browser node has no VNC server")
    }

    /// The session's `vnc_url`: `tcp://127.0.0.1:PORT`, or `None` on a headless node.
    pub fn vnc_url_if_any(&self) -> Option<String> {
        self.vnc().map(|addr| format!("tcp://{addr}"))
    }

    /// The session's `vnc_url`: `tcp://127.0.0.1:PORT`.
    ///
    /// # Panics
    /// On a headless node (see [`Self::vnc_url_if_any`]).
    pub fn vnc_url(&self) -> String {
        format!("tcp://{}", self.vnc_addr())
    }

    /// The session's `cdp_url`: `http://127.0.0.1:PORT`.
    pub fn cdp_url(&self) -> String {
        self.chromium.cdp_http_url()
    }

    /// The X display number, or `None` on a headless node.
    pub fn x_display(&self) -> Option<u32> {
        self.xvfb.as_ref().map(Xvfb::display)
    }

    /// The X display number.
    ///
    /// # Panics
    /// On a headless node (see [`Self::x_display`]).
    pub fn display(&self) -> u32 {
        self.x_display()
            .expect("a headless browser node has no X display")
    }

    /// The process ids of the parts this node runs.
    pub fn part_pids(&self) -> Pids {
        Pids {
            xvfb: self.xvfb.as_ref().map(Xvfb::pid),
            chromium: self.chromium.pid(),
            x11vnc: self.vnc.as_ref().map(X11Vnc::pid),
        }
    }

    /// The process ids of (Xvfb, Chromium, x11vnc).
    ///
    /// # Panics
    /// On a headless node (see [`Self::part_pids`]).
    pub fn pids(&self) -> (u32, u32, u32) {
        let pids = self.part_pids();
        match (pids.xvfb, pids.x11vnc) {
            (Some(xvfb), Some(x11vnc)) => (xvfb, pids.chromium, x11vnc),
            _ => panic!("a headless browser node runs Chromium only"),
        }
    }

    /// The Chromium of this node (e.g. to kill it in a test).
    pub fn chromium_mut(&mut self) -> &mut Chromium {
        &mut self.chromium
    }

    /// Waits until any part exits and tells which. Cancel-safe.
    pub async fn wait_any_exit(&mut self) -> ExitReport {
        // A part the node does not run never exits.
        let xvfb = async {
            match &mut self.xvfb {
                Some(xvfb) => xvfb.wait().await,
                None => std::future::pending().await,
            }
        };
        let vnc = async {
            match &mut self.vnc {
                Some(vnc) => vnc.wait().await,
                None => std::future::pending().await,
            }
        };
        let (component, status) = tokio::select! {
            status = xvfb => (Component::Xvfb, status),
            status = self.chromium.wait() => (Component::Chromium, status),
            status = vnc => (Component::X11Vnc, status),
        };
        ExitReport { component, status }
    }

    /// Stops every part (x11vnc, Chromium, then Xvfb) and waits for them.
    pub async fn shutdown(mut self) {
        if let Some(vnc) = &mut self.vnc {
            vnc.kill().await;
        }
        self.chromium.kill().await;
        if let Some(xvfb) = &mut self.xvfb {
            xvfb.kill().await;
        }
    }
}
