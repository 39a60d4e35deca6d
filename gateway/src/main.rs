//! `gateway serve`: telemetry → config (exit 64 on error) → build → announce → run until
//! SIGINT/SIGTERM, then drain.

use gateway::config::Cli;
use gateway::startup::Application;
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    service_kit::telemetry::init("gateway");
    let config = match service_kit::cli::parse_or_exit::<Cli>() {
        Ok(cli) => cli.into_config(),
        Err(code) => return code,
    };
    let app = match Application::build(config).await {
        Ok(app) => app,
        Err(error) => {
            tracing::error!(error.message = %error, error.cause_chain = %format!("{error:#}"), "gateway failed to start");
            return std::process::ExitCode::FAILURE;
        }
    };
    service_kit::ready::announce(app.local_addr());
    service_kit::ready::announce_labelled("grpc", app.grpc_addr());
    let shutdown = CancellationToken::new();
    tokio::spawn({
        let shutdown = shutdown.clone();
        async move {
            service_kit::shutdown::signal().await;
            shutdown.cancel();
        }
    });
    match app.run(shutdown).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error.message = %error, error.cause_chain = %format!("{error:#}"), "gateway stopped with an error");
            std::process::ExitCode::FAILURE
        }
    }
}
