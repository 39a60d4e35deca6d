//! The browser node: what turns one machine into a live browser session. It starts Xvfb (a
//! virtual display), Chromium on it with its DevTools endpoint on loopback, and x11vnc to show
//! the display over RFB; each part runs in its own process group and is stopped with it. A
//! headless node runs Chromium alone (its session has a `cdp_url` and no `vnc_url`).
//!
//! # Layout
//! - [`chromium`]: Chromium, headless (tests) or windowed (a live view).
//! - [`xvfb`]: the virtual display.
//! - [`vnc`]: the x11vnc RFB server.
//! - [`node`]: the three together (or headless Chromium alone), watched as one ([`BrowserNode`]).
//! - [`availability`]: whether the parts are installed, and if not, why.
//! - `process`: one supervised child process (process group, output draining, stop).
//! - [`config`]: the command line of the `browser-node` binary.
//! - [`serve`]: the `browser-node serve` supervisor (registration, JSON line, exit report).

pub mod availability;
pub mod chromium;
pub mod config;
mod error;
pub mod node;
mod process;
pub mod serve;
pub mod vnc;
pub mod xvfb;

pub use chromium::{chromium_executable, Chromium, ChromiumOptions};
pub use error::NodeError;
pub use node::{BrowserNode, Component, ExitReport, NodeOptions, Pids};
pub use process::find_executable;
pub use vnc::X11Vnc;
pub use xvfb::Xvfb;
