//! Structured logs to stderr. `RUST_LOG` filters (default `info`); `LOG_FORMAT=json` switches
//! to one JSON object per line for log collectors.

use tracing_subscriber::{fmt, EnvFilter};

/// Installs the global subscriber once; later calls (tests spawning several services in one
/// process) are ignored.
pub fn init(service: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let json = std::env::var("LOG_FORMAT").is_ok_and(|v| v.eq_ignore_ascii_case("json"));
    let builder = fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let result = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
    if result.is_ok() {
        tracing::debug!(service, "telemetry initialised");
    }
}
