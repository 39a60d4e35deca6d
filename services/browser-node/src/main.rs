//! `browser-node`: starts Xvfb, Chromium and x11vnc (with `--headless`, Chromium alone),
//! registers them as a live browser session, prints one JSON line with the session's
//! addresses, and supervises them until SIGINT/SIGTERM (exit 0) or until one of them dies
//! (exit 1). Logs go to stderr.

use std::future::Future;
use std::io::Write;
use std::process::ExitCode;

use browser_node::config::Cli;
use browser_node::serve::{self, Outcome};

#[tokio::main]
async fn main() -> ExitCode {
    service_kit::telemetry::init("browser-node");
    let cli: Cli = match service_kit::cli::parse_or_exit() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    let args = cli.into_serve_args();
    let outcome = serve::run(args, shutdown_signal(), |info| {
        let line = serde_json::to_string(info).unwrap_or_default();
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "{line}");
        let _ = stdout.flush();
    })
    .await;
    match outcome {
        Ok(Outcome::Stopped) => ExitCode::SUCCESS,
        Ok(Outcome::PartExited(part)) => {
            eprintln!("error: {part} exited; the node stopped");
            ExitCode::FAILURE
        }
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// SIGINT or SIGTERM. The handlers are installed now, before any part starts, so a stop
/// request that arrives during startup is seen (and never kills the supervisor outright,
/// which would leave its parts running).
fn shutdown_signal() -> impl Future<Output = ()> {
    use tokio::signal::unix::{signal, SignalKind};
    let streams = signal(SignalKind::terminate())
        .and_then(|term| signal(SignalKind::interrupt()).map(|int| (term, int)));
    async move {
        match streams {
            Ok((mut term, mut int)) => {
                tokio::select! {
                    _ = term.recv() => tracing::info!("SIGTERM received, shutting down"),
                    _ = int.recv() => tracing::info!("SIGINT received, shutting down"),
                }
            }
            Err(error) => {
                tracing::warn!(error.message = %error, "cannot install signal handlers early");
                service_kit::shutdown::signal().await;
            }
        }
    }
}
