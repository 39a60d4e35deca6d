//! A small headless Chromium launcher for these tests (fresh profile, DevTools on loopback,
//! the `DevTools listening on ws://…` line read from stderr). browser-node has a fuller one;
//! this keeps the executor's tests independent of that crate's dependencies.

#![allow(dead_code)]
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const READY: &str = "DevTools listening on ";

/// The executable: `CHROMIUM`, else `/usr/bin/chromium`.
pub fn executable() -> Option<PathBuf> {
    let path = std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| "/usr/bin/chromium".into());
    path.exists().then_some(path)
}

/// Applies the skip rule; true when Chromium can be used.
pub fn available() -> bool {
    if executable().is_some() {
        return true;
    }
    let required = std::env::var("BROWSER_STREAM_REQUIRE_ALL").is_ok_and(|v| v == "1");
    assert!(
        !required,
        "BROWSER_STREAM_REQUIRE_ALL=1 but chromium is not installed"
    );
    println!("skipped: chromium is not installed (set CHROMIUM)");
    false
}

/// A running headless Chromium; killed on drop.
pub struct Chromium {
    child: Child,
    _profile: tempfile::TempDir,
    ws_url: String,
    port: u16,
}

impl Chromium {
    /// Starts Chromium on `port` (0: any free port) and waits for its DevTools endpoint.
    pub async fn launch(port: u16) -> Self {
        let profile = tempfile::tempdir().unwrap();
        let mut child = Command::new(executable().expect("chromium installed"))
            .args([
                "--headless=new",
                "--remote-debugging-address=127.0.0.1",
                &format!("--remote-debugging-port={port}"),
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                &format!("--user-data-dir={}", profile.path().display()),
                "about:blank",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let ws_url = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if let Some(at) = line.find(READY) {
                    return line[at + READY.len()..].trim().to_string();
                }
            }
            panic!("chromium exited before listening");
        })
        .await
        .expect("chromium starts within 30 s");
        // Keep draining stderr so Chromium never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let port = url::Url::parse(&ws_url).unwrap().port().unwrap();
        Self {
            child,
            _profile: profile,
            ws_url,
            port,
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn cdp_http_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The browser WebSocket URL Chromium printed.
    pub fn cdp_ws_url(&self) -> &str {
        &self.ws_url
    }

    /// The DevTools port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills Chromium and waits for it to exit.
    pub async fn kill(&mut self) {
        let _ = self.child.kill().await;
    }
}
