//! `cdp-executor serve`: telemetry, config, build, run until SIGINT/SIGTERM.

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    service_kit::telemetry::init("cdp-executor");
    let settings = cdp_executor::Cli::parse().into_config().validate()?;
    let app = cdp_executor::Application::build(settings).await?;
    app.run(service_kit::shutdown::signal()).await
}
