//! One supervised child process: started in its own process group, its output drained line by
//! line (so it can never block on a full pipe), its ready line awaited with a timeout, and the
//! whole group stopped on `stop()` or Drop (SIGTERM, a grace period, then SIGKILL).

use std::collections::VecDeque;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::oneshot;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::NodeError;

/// The longest output line kept; a longer line is cut (the rest is still drained).
const MAX_LINE: usize = 16 * 1024;
/// How many of the last output lines are kept to explain a failure.
const TAIL_LINES: usize = 20;
/// How long a stopped process gets to exit after SIGTERM before its group gets SIGKILL.
pub(crate) const STOP_GRACE: Duration = Duration::from_secs(5);
/// How long `stop` waits for the pipe readers to see the end of the pipes.
const DRAIN_WAIT: Duration = Duration::from_millis(500);

/// The last lines a process printed, shared with the task that drains its output.
#[derive(Clone, Default)]
pub(crate) struct Tail(Arc<Mutex<VecDeque<String>>>);

impl Tail {
    fn push(&self, line: String) {
        let mut lines = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if lines.len() == TAIL_LINES {
            lines.pop_front();
        }
        lines.push_back(line);
    }

    /// The kept lines joined with ` | `, for an error message.
    pub(crate) fn text(&self) -> String {
        let lines = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        lines.iter().cloned().collect::<Vec<_>>().join(" | ")
    }
}

/// Finds an executable by name on `PATH`, or checks an explicit path.
pub fn find_executable(name: &str) -> Option<PathBuf> {
    if name.contains('/') {
        let path = PathBuf::from(name);
        return path.is_file().then_some(path);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// A child process in its own process group, stopped with its whole group.
pub(crate) struct Supervised {
    part: &'static str,
    child: Child,
    pid: u32,
    status: Option<ExitStatus>,
    /// The readers of the child's pipes ([`Supervised::drain_output`]); `stop` waits for them
    /// so the last lines reach the log and the tail.
    drains: TaskTracker,
}

impl Supervised {
    /// Spawns `command` as the leader of a new process group, stdin closed.
    pub(crate) fn spawn(part: &'static str, mut command: Command) -> Result<Self, NodeError> {
        command
            .process_group(0)
            .stdin(std::process::Stdio::null())
            .kill_on_drop(false);
        let child = command.spawn().map_err(|source| match source.kind() {
            std::io::ErrorKind::NotFound => NodeError::NotInstalled {
                part,
                detail: source.to_string(),
            },
            _ => NodeError::Io { part, source },
        })?;
        let pid = child.id().ok_or_else(|| NodeError::Io {
            part,
            source: std::io::Error::other("process exited at once"),
        })?;
        Ok(Self {
            part,
            child,
            pid,
            status: None,
            drains: TaskTracker::new(),
        })
    }

    /// The process id (also the process group id).
    pub(crate) fn pid(&self) -> u32 {
        self.pid
    }

    /// Takes the child's stdout/stderr pipes to drain them.
    pub(crate) fn child_mut(&mut self) -> &mut Child {
        &mut self.child
    }

    /// Waits for the process to exit. Cancel-safe; after an exit, returns the same status.
    pub(crate) async fn wait(&mut self) -> std::io::Result<ExitStatus> {
        if let Some(status) = self.status {
            return Ok(status);
        }
        let status = self.child.wait().await?;
        self.record_exit(status);
        Ok(status)
    }

    /// Returns the exit status if the process has exited, without waiting.
    pub(crate) fn try_status(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            if let Some(status) = self.child.try_wait().ok().flatten() {
                self.record_exit(status);
            }
        }
        self.status
    }

    /// Notes the leader's exit and kills the children it left behind in its group. This
    /// happens right after the leader is reaped: later, with no member left, the group id
    /// could be reused by an unrelated process.
    fn record_exit(&mut self, status: ExitStatus) {
        self.status = Some(status);
        self.signal_group(Signal::SIGKILL);
    }

    /// Stops the whole process group: SIGTERM, up to `grace` to exit, then SIGKILL.
    pub(crate) async fn stop(&mut self, grace: Duration) -> Option<ExitStatus> {
        if self.try_status().is_none() {
            self.signal_group(Signal::SIGTERM);
            if tokio::time::timeout(grace, self.wait()).await.is_err() {
                tracing::warn!(
                    part = self.part,
                    pid = self.pid,
                    "no exit after SIGTERM, killing"
                );
                self.signal_group(Signal::SIGKILL);
                let _ = self.wait().await;
            }
        }
        self.drains.close();
        if tokio::time::timeout(DRAIN_WAIT, self.drains.wait())
            .await
            .is_err()
        {
            tracing::debug!(part = self.part, "a pipe stayed open after the exit");
        }
        self.status
    }

    /// The blocking form of `stop`, for Drop: polls for the exit instead of awaiting it.
    fn stop_blocking(&mut self, grace: Duration) {
        if self.try_status().is_none() {
            self.signal_group(Signal::SIGTERM);
            if !self.poll_exit(grace) {
                self.signal_group(Signal::SIGKILL);
                self.poll_exit(Duration::from_secs(5));
            }
        }
    }

    fn poll_exit(&mut self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if self.try_status().is_some() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        self.try_status().is_some()
    }

    /// Signals the process group, only while its leader has not been reaped (or right at the
    /// reaping, from `record_exit`), so the id still names our group.
    fn signal_group(&self, signal: Signal) {
        let Ok(raw) = i32::try_from(self.pid) else {
            return;
        };
        // ESRCH (the group is already gone) is the expected outcome after an exit.
        let _ = killpg(Pid::from_raw(raw), signal);
    }
}

impl Drop for Supervised {
    fn drop(&mut self) {
        self.stop_blocking(STOP_GRACE);
    }
}

impl Supervised {
    /// Drains `pipe` (one of this child's) line by line into the log and `tail`; the first
    /// line for which `ready` returns `Some` is sent on the returned channel.
    pub(crate) fn drain_output<R, F>(
        &self,
        pipe: R,
        tail: Tail,
        mut ready: F,
    ) -> oneshot::Receiver<String>
    where
        R: AsyncRead + Unpin + Send + 'static,
        F: FnMut(&str) -> Option<String> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        // The task ends when the pipe closes, i.e. when the process group is gone.
        let span = tracing::debug_span!("output", part = self.part);
        self.drains.spawn(
            async move {
                let mut tx = Some(tx);
                let mut reader = BufReader::new(pipe);
                let mut line = Vec::new();
                while let Ok(1..) = read_capped_line(&mut reader, &mut line).await {
                    let text = String::from_utf8_lossy(&line).trim_end().to_owned();
                    line.clear();
                    tracing::debug!(line = %text, "output");
                    if let Some(found) = tx.as_ref().and_then(|_| ready(&text)) {
                        if let Some(tx) = tx.take() {
                            let _ = tx.send(found);
                        }
                    }
                    tail.push(text);
                }
            }
            .instrument(span),
        );
        rx
    }
}

/// Reads one line (through `\n`), keeping at most `MAX_LINE` bytes of it; returns the number
/// of bytes consumed (0 at end of stream).
async fn read_capped_line<R: AsyncRead + Unpin>(
    reader: &mut BufReader<R>,
    line: &mut Vec<u8>,
) -> std::io::Result<usize> {
    let mut consumed = 0;
    loop {
        let buf = reader.fill_buf().await?;
        if buf.is_empty() {
            return Ok(consumed);
        }
        let (chunk, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (&buf[..=i], true),
            None => (buf, false),
        };
        let room = MAX_LINE.saturating_sub(line.len());
        line.extend_from_slice(&chunk[..chunk.len().min(room)]);
        let used = chunk.len();
        reader.consume(used);
        consumed += used;
        if done {
            return Ok(consumed);
        }
    }
}

/// Waits for a ready line, the process's exit, or the timeout, whichever comes first.
pub(crate) async fn await_ready(
    process: &mut Supervised,
    ready: oneshot::Receiver<String>,
    tail: &Tail,
    timeout: Duration,
) -> Result<String, NodeError> {
    let part = process.part;
    let first = tokio::time::timeout(timeout, async {
        tokio::select! {
            line = ready => line.ok(),
            _ = process.wait() => None,
        }
    })
    .await;
    match first {
        Ok(Some(line)) => Ok(line),
        // No line: the process exited, or closed its pipe because it is exiting.
        Ok(None) => {
            let status = tokio::time::timeout(timeout, process.wait()).await;
            // Give the drain task a moment to record the last words.
            tokio::time::sleep(Duration::from_millis(50)).await;
            Err(NodeError::ExitedEarly {
                part,
                status: match status {
                    Ok(Ok(status)) => status.to_string(),
                    Ok(Err(error)) => error.to_string(),
                    Err(_) => "pipe closed, still running".to_owned(),
                },
                last_output: tail.text(),
            })
        }
        Err(_) => Err(NodeError::StartupTimeout {
            part,
            timeout,
            last_output: tail.text(),
        }),
    }
}
