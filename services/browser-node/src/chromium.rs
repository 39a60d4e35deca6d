//! Chromium with its DevTools endpoint on loopback: headless for tests, or windowed on an X
//! display for a live view. Owns the process group and the fresh profile directory; both are
//! gone after `kill()` or Drop.

use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::Duration;

use tokio::process::Command;

use crate::process::{await_ready, find_executable, Supervised, Tail, STOP_GRACE};
use crate::NodeError;

/// The flags this sandbox (and a container) needs, whatever the mode.
const BASE_FLAGS: &[&str] = &[
    "--remote-debugging-address=127.0.0.1",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--password-store=basic",
];

/// The line Chromium prints on stderr once its DevTools endpoint listens.
const READY_PREFIX: &str = "DevTools listening on ";

/// How to start Chromium.
#[derive(Debug, Clone)]
pub struct ChromiumOptions {
    /// Run without a window (`--headless=new`); otherwise draw on `display`.
    pub headless: bool,
    /// The X display number (`DISPLAY=:N`) for a windowed Chromium; `None` keeps the
    /// inherited `DISPLAY`.
    pub display: Option<u32>,
    /// The window size in pixels (width, height).
    pub window_size: (u32, u32),
    /// The page opened at start.
    pub start_url: String,
    /// Extra command-line flags, appended after ours.
    pub extra_args: Vec<String>,
    /// How long Chromium may take to open its DevTools endpoint.
    pub startup_timeout: Duration,
    /// The DevTools port; 0 lets the system choose a free one. A fixed port lets a test kill
    /// Chromium and start it again where its clients expect it.
    pub remote_debugging_port: u16,
    /// Windowed only: fill the screen with the page, no browser UI (`--kiosk`); otherwise the
    /// window is maximised with its toolbar.
    pub kiosk: bool,
    /// The executable; `None` uses [`chromium_executable`].
    pub executable: Option<PathBuf>,
}

impl Default for ChromiumOptions {
    fn default() -> Self {
        Self {
            headless: true,
            display: None,
            window_size: (1280, 800),
            start_url: "about:blank".to_owned(),
            extra_args: Vec::new(),
            startup_timeout: Duration::from_secs(20),
            remote_debugging_port: 0,
            kiosk: true,
            executable: None,
        }
    }
}

/// Finds Chromium: the `CHROMIUM` environment variable, then `/usr/bin/chromium`, then
/// `chromium`, `chromium-browser` or `google-chrome` on `PATH`.
pub fn chromium_executable() -> Option<PathBuf> {
    if let Some(explicit) = std::env::var_os("CHROMIUM") {
        return find_executable(&explicit.to_string_lossy());
    }
    [
        "/usr/bin/chromium",
        "chromium",
        "chromium-browser",
        "google-chrome",
    ]
    .into_iter()
    .find_map(find_executable)
}

/// A running Chromium. Dropping it stops Chromium and removes its profile directory.
pub struct Chromium {
    // Declared first so the process stops before its profile directory is removed.
    process: Supervised,
    profile: Option<tempfile::TempDir>,
    ws_url: String,
    port: u16,
}

impl Chromium {
    /// Starts Chromium and waits until its DevTools endpoint listens.
    pub async fn launch(options: ChromiumOptions) -> Result<Self, NodeError> {
        let executable = match &options.executable {
            Some(path) => path.clone(),
            None => chromium_executable().ok_or_else(|| NodeError::NotInstalled {
                part: "chromium",
                detail: "set CHROMIUM or install the chromium package".to_owned(),
            })?,
        };
        let profile = tempfile::Builder::new()
            .prefix("browser-stream-chromium-")
            .tempdir()
            .map_err(|source| NodeError::Io {
                part: "chromium",
                source,
            })?;
        let mut command = Command::new(&executable);
        command
            .args(chromium_args(
                &options,
                &profile.path().display().to_string(),
            ))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        if let (false, Some(display)) = (options.headless, options.display) {
            command.env("DISPLAY", format!(":{display}"));
        }
        let mut process = Supervised::spawn("chromium", command)?;
        let tail = Tail::default();
        let stderr = process
            .child_mut()
            .stderr
            .take()
            .ok_or_else(|| NodeError::Io {
                part: "chromium",
                source: std::io::Error::other("stderr not piped"),
            })?;
        let ready = process.drain_output(stderr, tail.clone(), |line| {
            line.find(READY_PREFIX)
                .map(|at| line[at + READY_PREFIX.len()..].trim().to_owned())
        });
        let ws_url = await_ready(&mut process, ready, &tail, options.startup_timeout).await?;
        let port = parse_ws_port(&ws_url).ok_or_else(|| NodeError::BadReadyLine {
            part: "chromium",
            line: ws_url.clone(),
        })?;
        tracing::info!(pid = process.pid(), port, "chromium ready");
        Ok(Self {
            process,
            profile: Some(profile),
            ws_url,
            port,
        })
    }

    /// The DevTools HTTP endpoint, `http://127.0.0.1:PORT` (serves `/json/version`).
    pub fn cdp_http_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The browser's DevTools WebSocket URL, as Chromium printed it.
    pub fn cdp_ws_url(&self) -> &str {
        &self.ws_url
    }

    /// The DevTools port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The profile directory (`--user-data-dir`), removed when Chromium is stopped.
    pub fn profile_dir(&self) -> Option<&std::path::Path> {
        self.profile.as_ref().map(tempfile::TempDir::path)
    }

    /// The process id of Chromium's browser process (its process group id too).
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// Waits until Chromium exits. Cancel-safe.
    pub async fn wait(&mut self) -> std::io::Result<ExitStatus> {
        self.process.wait().await
    }

    /// Stops Chromium and its child processes, waits for them, and removes the profile.
    pub async fn kill(&mut self) {
        self.process.stop(STOP_GRACE).await;
        if let Some(profile) = self.profile.take() {
            let _ = profile.close();
        }
    }
}

/// The full command line (after the executable) for these options.
fn chromium_args(options: &ChromiumOptions, profile: &str) -> Vec<String> {
    let mut args: Vec<String> = BASE_FLAGS.iter().map(|flag| (*flag).to_owned()).collect();
    args.push(format!(
        "--remote-debugging-port={}",
        options.remote_debugging_port
    ));
    args.push(format!("--user-data-dir={profile}"));
    let (width, height) = options.window_size;
    args.push(format!("--window-size={width},{height}"));
    if options.headless {
        args.push("--headless=new".to_owned());
    } else {
        args.push("--window-position=0,0".to_owned());
        // Hides the "unsupported command-line flag" bar that --no-sandbox would show.
        args.push("--test-type".to_owned());
        args.push(
            if options.kiosk {
                "--kiosk"
            } else {
                "--start-maximized"
            }
            .to_owned(),
        );
    }
    args.extend(options.extra_args.iter().cloned());
    args.push(options.start_url.clone());
    args
}

/// The port of `ws://127.0.0.1:PORT/devtools/browser/…`.
fn parse_ws_port(ws_url: &str) -> Option<u16> {
    let rest = ws_url.strip_prefix("ws://")?;
    let host_port = rest.split('/').next()?;
    host_port.rsplit_once(':')?.1.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_port_is_read_from_the_devtools_line() {
        assert_eq!(
            parse_ws_port("ws://127.0.0.1:37215/devtools/browser/4f1c"),
            Some(37215)
        );
        assert_eq!(parse_ws_port("http://127.0.0.1:1/"), None);
        assert_eq!(parse_ws_port("ws://127.0.0.1/devtools"), None);
    }

    #[test]
    fn a_windowed_chromium_is_placed_at_the_origin_and_fills_the_screen() {
        let options = ChromiumOptions {
            headless: false,
            display: Some(91),
            window_size: (1024, 768),
            ..ChromiumOptions::default()
        };
        let args = chromium_args(&options, "/tmp/p");
        for expected in ["--window-position=0,0", "--window-size=1024,768", "--kiosk"] {
            assert!(args.iter().any(|a| a == expected), "{expected} missing");
        }
        assert!(!args.iter().any(|a| a.starts_with("--headless")));
        assert_eq!(args.last().map(String::as_str), Some("about:blank"));
    }

    #[test]
    fn a_headless_chromium_listens_on_loopback_with_a_fresh_profile() {
        let args = chromium_args(&ChromiumOptions::default(), "/tmp/p");
        for expected in [
            "--headless=new",
            "--remote-debugging-address=127.0.0.1",
            "--remote-debugging-port=0",
            "--user-data-dir=/tmp/p",
            "--no-sandbox",
        ] {
            assert!(args.iter().any(|a| a == expected), "{expected} missing");
        }
    }
}
