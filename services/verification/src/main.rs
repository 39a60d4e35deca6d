//! `verification`: serve gRPC (default) or run an admin command.

use std::process::ExitCode;

use service_kit::cli::ServeOr;
use verification::config::{Cli, Command};
use verification::Application;

#[tokio::main]
async fn main() -> ExitCode {
    service_kit::telemetry::init("verification");
    let cli: Cli = match service_kit::cli::parse_or_exit() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    match cli.into_command() {
        ServeOr::Other(Command::Admin(args)) => match verification::admin::cli::run(args).await {
            Ok(line) => {
                println!("{line}");
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("error: {error}");
                tracing::debug!(error.cause_chain = ?error, "admin command failed");
                ExitCode::FAILURE
            }
        },
        ServeOr::Serve(config) => serve(config).await,
    }
}

async fn serve(config: verification::Config) -> ExitCode {
    let app = match Application::build(config).await {
        Ok(app) => app,
        Err(error) => {
            tracing::error!(error.message = %error, error.cause_chain = ?error, "cannot start");
            return ExitCode::FAILURE;
        }
    };
    service_kit::ready::announce(app.local_addr());
    if let Some(metrics) = app.metrics_addr() {
        service_kit::ready::announce_labelled("metrics", metrics);
    }
    match app.run(service_kit::shutdown::signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error.message = %error, error.cause_chain = ?error, "server failed");
            ExitCode::FAILURE
        }
    }
}
