//! The incumbent's own per-operation path, measured through `incumbent_per_op.py`: a
//! long-running Python helper that, for every request, starts a Playwright driver,
//! `connect_over_cdp`, sets the download behaviour, runs the operation on the first page,
//! disconnects and stops the driver — what the incumbent does for every copy and paste. The
//! helper process itself is started once; the time of one request→`ok` round includes the
//! driver start, as the incumbent pays it.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/incumbent_per_op.py");
const SETUP: &str = "services/cdp-executor/benches/setup-incumbent.sh";
/// A failure bound for one round (the helper bounds each operation at 60 s itself).
const ROUND_TIMEOUT: Duration = Duration::from_secs(90);

/// The operation one incumbent round runs.
#[derive(Clone, Copy)]
pub enum Op {
    Paste,
    SelectedText,
}

/// The running helper; killed on drop.
pub struct Incumbent {
    child: Child,
    stdin: ChildStdin,
    answers: Lines<BufReader<ChildStdout>>,
}

impl Incumbent {
    /// Starts the helper from the benchmark's Python environment, or says how to create that
    /// environment and returns `None` (the benchmark then runs without the incumbent rows).
    pub async fn spawn() -> Option<Self> {
        let python = pyenv().join("bin/python");
        let usable = python.exists()
            && Command::new(&python)
                .args(["-c", "import playwright.async_api"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .await
                .is_ok_and(|s| s.success());
        if !usable {
            println!(
                "incumbent rows skipped: no Playwright for Python at {} (create it with `bash {SETUP}`)",
                python.display()
            );
            return None;
        }
        let mut child = Command::new(&python)
            .arg(SCRIPT)
            // The helper only connects; Playwright must never fetch a browser.
            .env("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("the incumbent helper starts");
        let stdin = child.stdin.take().unwrap();
        let answers = BufReader::new(child.stdout.take().unwrap()).lines();
        Some(Self {
            child,
            stdin,
            answers,
        })
    }

    /// Runs one operation on a fresh driver and connection; returns when the helper said `ok`.
    pub async fn run(&mut self, op: Op, cdp_url: &str) {
        let command = match op {
            Op::Paste => "paste",
            Op::SelectedText => "selected",
        };
        self.stdin
            .write_all(format!("{command} {cdp_url}\n").as_bytes())
            .await
            .unwrap();
        self.stdin.flush().await.unwrap();
        let answer = tokio::time::timeout(ROUND_TIMEOUT, self.answers.next_line())
            .await
            .expect("the incumbent helper answers within the round bound")
            .unwrap()
            .expect("the incumbent helper is running");
        assert_eq!(answer, "ok", "incumbent {command} failed");
    }

    /// Asks the helper to exit (dropping it kills it otherwise).
    pub async fn quit(mut self) {
        let _ = self.stdin.write_all(b"quit\n").await;
        let _ = self.stdin.flush().await;
        let _ = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await;
    }
}

/// `BROWSER_STREAM_BENCH_PYENV`, else `~/.cache/browser-stream/bench-pyenv`.
fn pyenv() -> PathBuf {
    if let Some(path) = std::env::var_os("BROWSER_STREAM_BENCH_PYENV") {
        return path.into();
    }
    let home = std::env::var_os("HOME").unwrap_or_default();
    PathBuf::from(home).join(".cache/browser-stream/bench-pyenv")
}
