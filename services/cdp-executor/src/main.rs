//! `cdp-executor serve`: telemetry → config (exit 64 on a usage error or an invalid value) →
//! build → run until SIGINT/SIGTERM.

use std::process::ExitCode;

use cdp_executor::Cli;

#[tokio::main]
async fn main() -> ExitCode {
    service_kit::telemetry::init("cdp-executor");
    let cli: Cli = match service_kit::cli::parse_or_exit() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    let settings = match cli.into_config().validate() {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(service_kit::cli::EX_USAGE);
        }
    };
    let app = match cdp_executor::Application::build(settings).await {
        Ok(app) => app,
        Err(error) => {
            tracing::error!(error.message = %error, error.cause_chain = %format!("{error:#}"), "cannot start");
            return ExitCode::FAILURE;
        }
    };
    match app.run(service_kit::shutdown::signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error.message = %error, error.cause_chain = %format!("{error:#}"), "server failed");
            ExitCode::FAILURE
        }
    }
}
