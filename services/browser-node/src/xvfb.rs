//! Xvfb, the virtual X display Chromium draws on. Xvfb chooses a free display number itself
//! (`-displayfd`), so parallel nodes never race for one; it is stopped on `kill()` or Drop.

use std::process::ExitStatus;
use std::time::Duration;

use tokio::process::Command;

use crate::process::{await_ready, Supervised, Tail, STOP_GRACE};
use crate::NodeError;

/// How long Xvfb may take to open its display.
pub const XVFB_STARTUP_TIMEOUT: Duration = Duration::from_secs(15);

/// A running Xvfb server.
pub struct Xvfb {
    process: Supervised,
    display: u32,
}

impl Xvfb {
    /// Starts Xvfb with one screen of `size` (width, height) at 24-bit depth on a free display
    /// and waits until it accepts clients.
    pub async fn start(size: (u32, u32)) -> Result<Self, NodeError> {
        Self::start_with_timeout(size, XVFB_STARTUP_TIMEOUT).await
    }

    /// [`Xvfb::start`] with an explicit startup timeout.
    pub async fn start_with_timeout(
        size: (u32, u32),
        timeout: Duration,
    ) -> Result<Self, NodeError> {
        let (width, height) = size;
        let mut command = Command::new("Xvfb");
        command
            // Xvfb writes the display number it chose to fd 1 once it accepts clients.
            .args(["-displayfd", "1", "-screen", "0"])
            .arg(format!("{width}x{height}x24"))
            // No TCP listener; -noreset keeps the server up when its last client leaves.
            .args(["-nolisten", "tcp", "-noreset"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut process = Supervised::spawn("Xvfb", command)?;
        let tail = Tail::default();
        let child = process.child_mut();
        let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
        let (Some(stdout), Some(stderr)) = (stdout, stderr) else {
            return Err(NodeError::Io {
                part: "Xvfb",
                source: std::io::Error::other("pipes not set up"),
            });
        };
        drop(process.drain_output(stderr, tail.clone(), |_| None));
        let ready = process.drain_output(stdout, tail.clone(), |line| {
            line.trim().parse::<u32>().ok().map(|n| n.to_string())
        });
        let line = await_ready(&mut process, ready, &tail, timeout).await?;
        let number: u32 = line
            .parse()
            .map_err(|_| NodeError::BadReadyLine { part: "Xvfb", line })?;
        tracing::info!(pid = process.pid(), display = number, "Xvfb ready");
        Ok(Self {
            process,
            display: number,
        })
    }

    /// The display number N (clients use `DISPLAY=:N`).
    pub fn display(&self) -> u32 {
        self.display
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// Waits until Xvfb exits. Cancel-safe.
    pub async fn wait(&mut self) -> std::io::Result<ExitStatus> {
        self.process.wait().await
    }

    /// Stops Xvfb and waits for it.
    pub async fn kill(&mut self) {
        self.process.stop(STOP_GRACE).await;
    }
}
