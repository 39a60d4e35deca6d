//! The errors of the browser node: a part could not be found, started, or did not become
//! ready in time. Each variant names the part so an operator knows which one to look at.

use std::time::Duration;

/// Why a part of the browser node (Chromium, Xvfb, x11vnc) could not be started.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The executable was not found (not installed, or not on `PATH`).
    #[error("{part}: executable not found ({detail})")]
    NotInstalled {
        /// Which part: `chromium`, `Xvfb`, `x11vnc`.
        part: &'static str,
        /// What was looked for.
        detail: String,
    },
    /// The process could not be spawned or its pipes could not be read.
    #[error("{part}: {source}")]
    Io {
        /// Which part.
        part: &'static str,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The process exited before it said it was ready.
    #[error("{part} exited before it was ready ({status}); last output: {last_output}")]
    ExitedEarly {
        /// Which part.
        part: &'static str,
        /// The exit status, as text.
        status: String,
        /// The last lines it printed, to tell why.
        last_output: String,
    },
    /// The process did not say it was ready within the startup timeout.
    #[error("{part} was not ready within {timeout:?}; last output: {last_output}")]
    StartupTimeout {
        /// Which part.
        part: &'static str,
        /// The timeout that expired.
        timeout: Duration,
        /// The last lines it printed.
        last_output: String,
    },
    /// The ready line could not be understood.
    #[error("{part}: unexpected ready line {line:?}")]
    BadReadyLine {
        /// Which part.
        part: &'static str,
        /// The line as printed.
        line: String,
    },
}
