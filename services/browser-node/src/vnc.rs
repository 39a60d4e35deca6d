//! x11vnc, the RFB server that shows an X display: started on a free port, ready when it
//! prints `PORT=N`, stopped on `kill()` or Drop.

use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitStatus;
use std::time::Duration;

use tokio::process::Command;

use crate::process::{await_ready, Supervised, Tail, STOP_GRACE};
use crate::NodeError;

/// How long x11vnc may take to listen.
pub const X11VNC_STARTUP_TIMEOUT: Duration = Duration::from_secs(15);
/// Tries on a port another process took between x11vnc's probe and its bind.
const START_ATTEMPTS: usize = 3;

/// A running x11vnc server.
pub struct X11Vnc {
    process: Supervised,
    addr: SocketAddr,
}

impl X11Vnc {
    /// Starts x11vnc on display `:display`, listening on loopback only, on a free port.
    pub async fn start(display: u32) -> Result<Self, NodeError> {
        Self::start_with(display, None, X11VNC_STARTUP_TIMEOUT).await
    }

    /// Starts x11vnc on `port` (`None`: a free port), with an explicit startup timeout.
    pub async fn start_with(
        display: u32,
        port: Option<u16>,
        timeout: Duration,
    ) -> Result<Self, NodeError> {
        let mut last_error = None;
        for _ in 0..START_ATTEMPTS {
            match Self::start_once(display, port, timeout).await {
                Ok(vnc) => return Ok(vnc),
                // A port race ends x11vnc early; another probe start usually succeeds.
                Err(error @ NodeError::ExitedEarly { .. }) if port.is_none() => {
                    tracing::debug!(error.message = %error, "x11vnc exited early, retrying");
                    last_error = Some(error);
                }
                Err(error) => return Err(error),
            }
        }
        Err(last_error.unwrap_or(NodeError::Io {
            part: "x11vnc",
            source: std::io::Error::other("no attempt made"),
        }))
    }

    async fn start_once(
        display: u32,
        port: Option<u16>,
        timeout: Duration,
    ) -> Result<Self, NodeError> {
        let mut command = Command::new("x11vnc");
        command
            .arg("-display")
            .arg(format!(":{display}"))
            .args(["-localhost", "-nopw", "-forever", "-shared", "-noxdamage"])
            .args(["-quiet", "-noipv6"]);
        match port {
            Some(port) => command.arg("-rfbport").arg(port.to_string()),
            // Probe upward from a random base, so parallel servers rarely probe the same port.
            None => command.arg("-autoport").arg(probe_base().to_string()),
        };
        command
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut process = Supervised::spawn("x11vnc", command)?;
        let tail = Tail::default();
        let child = process.child_mut();
        let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
            return Err(NodeError::Io {
                part: "x11vnc",
                source: std::io::Error::other("pipes not set up"),
            });
        };
        drop(process.drain_output(stderr, tail.clone(), |_| None));
        let ready = process.drain_output(stdout, tail.clone(), |line| {
            line.trim().strip_prefix("PORT=").map(str::to_owned)
        });
        let line = await_ready(&mut process, ready, &tail, timeout).await?;
        let port: u16 = line.parse().map_err(|_| NodeError::BadReadyLine {
            part: "x11vnc",
            line,
        })?;
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        tracing::info!(pid = process.pid(), %addr, "x11vnc ready");
        Ok(Self { process, addr })
    }

    /// Where the RFB server listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// Waits until x11vnc exits. Cancel-safe.
    pub async fn wait(&mut self) -> std::io::Result<ExitStatus> {
        self.process.wait().await
    }

    /// Stops x11vnc and waits for it.
    pub async fn kill(&mut self) {
        self.process.stop(STOP_GRACE).await;
    }
}

/// A port to start probing from, in 20000..40000, varied by process id and clock.
fn probe_base() -> u16 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let spread = (nanos ^ std::process::id().wrapping_mul(2_654_435_761)) % 20_000;
    20_000 + u16::try_from(spread).unwrap_or(0)
}
