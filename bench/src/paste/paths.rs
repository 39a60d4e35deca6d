//! The three ways a paste reaches the tab, each opened once and then asked to paste
//! [`PASTE_TEXT`] once per sample: a viewer in control on the gateway's Message socket, the
//! executor's `InsertText` called directly, and the incumbent's per-paste Playwright helper.
//! Each `paste` returns when its path has done all it does for one paste; when the text
//! arrives is the observer's business.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, Context};
use futures::stream::SplitSink;
use futures::{SinkExt, StreamExt};
use proto::cdp::v1::cdp_executor_client::CdpExecutorClient;
use proto::cdp::v1::{BrowserTarget, InsertTextRequest};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::net::TcpStream;
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::sync::mpsc;
use tokio::time::{timeout, timeout_at, Instant};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tonic::transport::Channel;

use super::Path;
use crate::screencast::Host;

/// What every path pastes (the incumbent helper's fixed text).
pub const PASTE_TEXT: &str = "x";
/// Bound on a connect, a send, a reply and taking control.
const WAIT: Duration = Duration::from_secs(20);
/// Bound on one incumbent paste, driver start and stop included (the helper bounds each at
/// 60 s itself).
const INCUMBENT_WAIT: Duration = Duration::from_secs(90);
/// The incumbent helper, in the executor's benchmarks.
const SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../services/cdp-executor/benches/incumbent_per_op.py"
);
/// What creates the helper's Python environment.
const SETUP: &str = "services/cdp-executor/benches/setup-incumbent.sh";

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Every path, open.
pub struct Paths {
    viewer: Viewer,
    direct: Direct,
    /// `None` when the Python environment is missing or the helper failed.
    incumbent: Option<Incumbent>,
}

impl Paths {
    /// Opens the viewer (in control) and the executor channel; the incumbent helper when its
    /// environment is there, else the sentence that says why not.
    pub async fn open(host: &Host) -> anyhow::Result<(Self, Result<String, String>)> {
        let viewer = Viewer::connect(host).await?;
        let direct = Direct::connect(host).await?;
        let (incumbent, version) = match Incumbent::spawn().await {
            Ok((incumbent, version)) => (Some(incumbent), Ok(version)),
            Err(reason) => (None, Err(reason)),
        };
        let paths = Self {
            viewer,
            direct,
            incumbent,
        };
        Ok((paths, version))
    }

    /// One paste by `path`, to the browser at `cdp` (the incumbent connects itself).
    pub async fn paste(&mut self, path: Path, cdp: &str) -> anyhow::Result<()> {
        match path {
            Path::Ours => self.viewer.paste().await,
            Path::Direct => self.direct.paste().await,
            Path::Incumbent => match &mut self.incumbent {
                Some(incumbent) => incumbent.paste(cdp).await,
                None => bail!("the incumbent helper is not running"),
            },
        }
    }

    /// Whether the incumbent helper is running.
    pub fn has_incumbent(&self) -> bool {
        self.incumbent.is_some()
    }

    /// Stops the incumbent helper (after it failed); its path is left out from then on.
    pub fn drop_incumbent(&mut self) {
        self.incumbent = None;
    }

    /// Why the last pastes failed, as far as a path can tell (the gateway's `error` replies).
    pub fn failure(&mut self, path: Path) -> Option<String> {
        match path {
            Path::Ours => self.viewer.failure(),
            Path::Direct | Path::Incumbent => None,
        }
    }

    /// Closes the viewer and asks the helper to exit.
    pub async fn close(self) {
        drop(self.viewer);
        if let Some(incumbent) = self.incumbent {
            incumbent.quit().await;
        }
    }
}

// === impl Viewer ===

/// A Message socket in control; a task reads it (which answers the gateway's pings) and
/// keeps the `error` replies.
struct Viewer {
    sink: SplitSink<Ws, Message>,
    errors: mpsc::Receiver<String>,
    reader: tokio::task::JoinHandle<()>,
}

impl Viewer {
    async fn connect(host: &Host) -> anyhow::Result<Self> {
        let url = host.url("/v1/stream/messages/browser_session", "bench-paste");
        let (mut ws, _) = timeout(WAIT, tokio_tungstenite::connect_async(url))
            .await
            .context("Message socket upgrade in time")??;
        next_control_state(&mut ws).await?;
        let take = json!({ "kind": "take-control" }).to_string();
        timeout(WAIT, ws.send(Message::Text(take.into())))
            .await
            .context("take-control sent in time")??;
        while next_control_state(&mut ws).await?["interactor"] != "user" {}
        let (sink, mut stream) = ws.split();
        let (errors_in, errors) = mpsc::channel(16);
        let reader = tokio::spawn(async move {
            while let Some(Ok(message)) = stream.next().await {
                let Message::Text(text) = message else {
                    continue;
                };
                let is_error =
                    serde_json::from_str::<Value>(&text).is_ok_and(|v| v["kind"] == "error");
                if is_error {
                    let _ = errors_in.try_send(text.to_string());
                }
            }
        });
        Ok(Self {
            sink,
            errors,
            reader,
        })
    }

    /// Sends `clipboard-paste` (the gateway answers only a failure).
    async fn paste(&mut self) -> anyhow::Result<()> {
        let paste = json!({ "kind": "clipboard-paste", "text": PASTE_TEXT }).to_string();
        timeout(WAIT, self.sink.send(Message::Text(paste.into())))
            .await
            .context("clipboard-paste sent in time")??;
        match self.failure() {
            Some(error) => bail!("the gateway answered {error}"),
            None => Ok(()),
        }
    }

    fn failure(&mut self) -> Option<String> {
        self.errors.try_recv().ok()
    }
}

impl Drop for Viewer {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// Reads the Message socket until a `control-state`.
async fn next_control_state(ws: &mut Ws) -> anyhow::Result<Value> {
    let deadline = Instant::now() + WAIT;
    loop {
        let next = timeout_at(deadline, ws.next())
            .await
            .context("no control-state in time")?;
        match next {
            Some(Ok(Message::Text(text))) => {
                if let Ok(value) = serde_json::from_str::<Value>(&text) {
                    if value["kind"] == "control-state" {
                        return Ok(value);
                    }
                }
            }
            Some(Ok(_)) => {}
            other => bail!("the Message socket ended before control-state: {other:?}"),
        }
    }
}

// === impl Direct ===

/// The executor's `InsertText` on one pooled channel, as the gateway calls it.
struct Direct {
    client: CdpExecutorClient<Channel>,
    target: BrowserTarget,
}

impl Direct {
    async fn connect(host: &Host) -> anyhow::Result<Self> {
        let client = timeout(WAIT, CdpExecutorClient::connect(host.executor.clone()))
            .await
            .context("executor connect in time")??;
        Ok(Self {
            client,
            target: host.target(),
        })
    }

    async fn paste(&mut self) -> anyhow::Result<()> {
        let request = InsertTextRequest {
            target: Some(self.target.clone()),
            text: PASTE_TEXT.into(),
        };
        timeout(WAIT, self.client.insert_text(request))
            .await
            .context("InsertText answered in time")??;
        Ok(())
    }
}

// === impl Incumbent ===

/// The incumbent's per-paste channel: `incumbent_per_op.py`, started once; each `paste`
/// starts a Playwright driver, `connect_over_cdp`, sets the download behaviour, inserts the
/// text on the first page, disconnects and stops the driver. Killed on drop.
struct Incumbent {
    child: Child,
    stdin: ChildStdin,
    answers: Lines<BufReader<ChildStdout>>,
}

impl Incumbent {
    /// Starts the helper and tells Playwright's version; or the sentence that says why it
    /// cannot run.
    async fn spawn() -> Result<(Self, String), String> {
        let python = pyenv().join("bin/python");
        let version = Command::new(&python)
            .args([
                "-c",
                "import playwright.async_api, importlib.metadata as m; print(m.version('playwright'))",
            ])
            .stderr(Stdio::null())
            .output()
            .await
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
        let Some(version) = version else {
            return Err(format!(
                "there is no Playwright for Python at {} (create it with `bash {SETUP}`)",
                python.display()
            ));
        };
        let mut child = Command::new(&python)
            .arg(SCRIPT)
            // The helper only connects; Playwright must never fetch a browser.
            .env("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("the incumbent helper {SCRIPT} did not start: {e}"))?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err("the incumbent helper has no pipes".into());
        };
        let incumbent = Self {
            child,
            stdin,
            answers: BufReader::new(stdout).lines(),
        };
        Ok((incumbent, version))
    }

    /// One paste on a fresh driver and connection; returns once the helper said `ok`.
    async fn paste(&mut self, cdp: &str) -> anyhow::Result<()> {
        self.stdin
            .write_all(format!("paste {cdp}\n").as_bytes())
            .await?;
        self.stdin.flush().await?;
        let answer = timeout(INCUMBENT_WAIT, self.answers.next_line())
            .await
            .context("the incumbent helper answers in time")??
            .context("the incumbent helper exited")?;
        if answer != "ok" {
            bail!("the incumbent helper answered {answer:?}");
        }
        Ok(())
    }

    /// Asks the helper to exit (dropping it kills it otherwise).
    async fn quit(mut self) {
        let _ = self.stdin.write_all(b"quit\n").await;
        let _ = self.stdin.flush().await;
        let _ = timeout(Duration::from_secs(10), self.child.wait()).await;
    }
}

/// `BROWSER_STREAM_BENCH_PYENV`, else `~/.cache/browser-stream/bench-pyenv` (where
/// `setup-incumbent.sh` puts it).
fn pyenv() -> PathBuf {
    if let Some(path) = std::env::var_os("BROWSER_STREAM_BENCH_PYENV") {
        return path.into();
    }
    let home = std::env::var_os("HOME").unwrap_or_default();
    PathBuf::from(home).join(".cache/browser-stream/bench-pyenv")
}
