//! The executor's configuration: clap flags, each with an `CDP_EXECUTOR_*` env var, validated
//! into [`Settings`] (domain types) before serving. No I/O here.

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Args, Parser};
use secrecy::SecretString;
use service_kit::ca_file::{parse_ca_file, CaFile};
use service_kit::cli::ServeByDefault;
use service_kit::grpc::TlsFiles;
use service_kit::org_tokens::{parse_org_tokens, OrgTokens};
use service_kit::upstream::AllowList;

use crate::guard::HostList;

/// `cdp-executor`: browser operations over persistent CDP connections.
#[derive(Debug, Parser)]
#[command(name = "cdp-executor", version, about)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Cli {
    /// `serve` (the default) and its flags.
    #[command(flatten)]
    pub args: ServeByDefault<Config>,
}

impl Cli {
    /// The serve configuration, whichever way it was given.
    pub fn into_config(self) -> Config {
        self.args.into_serve()
    }
}

/// Flags of `cdp-executor serve`.
#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Address the gRPC server listens on (port 0 picks a free port).
    #[arg(long, env = "CDP_EXECUTOR_LISTEN", default_value = "127.0.0.1:50052")]
    pub listen: SocketAddr,
    /// The verification service (`http://host:port`, or `https://` for TLS), which checks
    /// ownership and knows CDP URLs.
    #[arg(
        long,
        env = "CDP_EXECUTOR_VERIFICATION_URL",
        default_value = "http://127.0.0.1:50051"
    )]
    pub verification_url: String,
    /// PEM file of extra root certificates trusted for an `https://` verification URL, besides
    /// the system's (read at startup; a bad file stops the executor).
    #[arg(long, env = "CDP_EXECUTOR_GRPC_CA", value_parser = parse_ca_file)]
    pub grpc_ca: Option<CaFile>,
    /// CIDRs CDP endpoints must resolve into (comma-separated); default loopback only.
    #[arg(
        long,
        env = "CDP_EXECUTOR_UPSTREAM_ALLOW",
        default_value = "127.0.0.0/8,::1/128"
    )]
    pub upstream_allow: String,
    /// Take `BrowserTarget.cdp_url` from callers instead of asking verification (the caller is
    /// trusted: only enable behind the gateway or in tests).
    #[arg(long, env = "CDP_EXECUTOR_TRUST_REQUEST_CDP_URL")]
    pub trust_request_cdp_url: bool,
    /// Token callers must present (`x-service-token`); also sent to verification.
    #[arg(long, env = "CDP_EXECUTOR_SERVICE_TOKEN")]
    pub service_token: Option<SecretString>,
    /// File of organization-scoped caller tokens (`<token> <org_id>[,<org_id>…]` per line):
    /// a backend presenting one may name only its organizations (PERMISSION_DENIED else).
    #[arg(long, env = "CDP_EXECUTOR_ORG_TOKENS", value_parser = parse_org_tokens)]
    pub org_tokens: Option<OrgTokens>,
    /// Deadline of one operation, in milliseconds.
    #[arg(
        long,
        env = "CDP_EXECUTOR_OPERATION_TIMEOUT_MS",
        default_value_t = 5000
    )]
    pub operation_timeout_ms: u64,
    /// How long resetting a tab to `about:blank` after a failed or timed-out navigation may
    /// take (on top of the operation deadline), in milliseconds.
    #[arg(
        long,
        env = "CDP_EXECUTOR_NAVIGATION_RESET_TIMEOUT_MS",
        default_value_t = 5000
    )]
    pub navigation_reset_timeout_ms: u64,
    /// Deadline of one CDP connection attempt (including `/json/version`), in milliseconds.
    #[arg(long, env = "CDP_EXECUTOR_CONNECT_TIMEOUT_MS", default_value_t = 3000)]
    pub connect_timeout_ms: u64,
    /// A connection unused this long is closed, in milliseconds.
    #[arg(long, env = "CDP_EXECUTOR_IDLE_TIMEOUT_MS", default_value_t = 300_000)]
    pub idle_timeout_ms: u64,
    /// Interval of the health check (`Browser.getVersion`) on each connection, in milliseconds.
    #[arg(
        long,
        env = "CDP_EXECUTOR_HEALTH_INTERVAL_MS",
        default_value_t = 10_000
    )]
    pub health_interval_ms: u64,
    /// First wait before redialling a browser that failed, in milliseconds (doubles per failure).
    #[arg(long, env = "CDP_EXECUTOR_RECONNECT_BACKOFF_MS", default_value_t = 200)]
    pub reconnect_backoff_ms: u64,
    /// Longest wait between redials, in milliseconds.
    #[arg(
        long,
        env = "CDP_EXECUTOR_RECONNECT_BACKOFF_MAX_MS",
        default_value_t = 5000
    )]
    pub reconnect_backoff_max_ms: u64,
    /// How often every pooled session is re-verified (an ended session's connection closes)
    /// and checked for idleness, in milliseconds (at most a quarter of the idle timeout).
    #[arg(long, env = "CDP_EXECUTOR_SWEEP_INTERVAL_MS", default_value_t = 10_000)]
    pub sweep_interval_ms: u64,
    /// How long a verification answer is reused for one session, in milliseconds.
    #[arg(long, env = "CDP_EXECUTOR_VERIFY_CACHE_MS", default_value_t = 2000)]
    pub verify_cache_ms: u64,
    /// Most browser connections held at once; further sessions get RESOURCE_EXHAUSTED.
    #[arg(long, env = "CDP_EXECUTOR_MAX_CONNECTIONS", default_value_t = 256)]
    pub max_connections: usize,
    /// Most events buffered per user-event stream; a slower consumer gets its stream closed.
    #[arg(long, env = "CDP_EXECUTOR_EVENT_BUFFER", default_value_t = 1024)]
    pub event_buffer: usize,
    /// CDP events buffered between a browser connection and each screencast it runs; a
    /// screencast that falls further behind restarts on the same tab.
    #[arg(
        long,
        env = "CDP_EXECUTOR_SCREENCAST_EVENT_BUFFER",
        default_value_t = 256
    )]
    pub screencast_event_buffer: usize,
    /// Hosts navigation may reach even when they resolve to private addresses (comma-separated;
    /// `example.com` also covers its subdomains).
    #[arg(long, env = "CDP_EXECUTOR_NAVIGATE_ALLOW_HOSTS", default_value = "")]
    pub navigate_allow_hosts: String,
    /// Hosts navigation must never reach (comma-separated; subdomains included).
    #[arg(long, env = "CDP_EXECUTOR_NAVIGATE_BLOCK_HOSTS", default_value = "")]
    pub navigate_block_hosts: String,
    /// PEM certificate chain: serve TLS (rustls) when given with `--tls-key`.
    #[arg(long, env = "CDP_EXECUTOR_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<std::path::PathBuf>,
    /// PEM private key of `--tls-cert`.
    #[arg(long, env = "CDP_EXECUTOR_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<std::path::PathBuf>,
    /// Address of the Prometheus `/metrics` endpoint (off when not given; port 0 works).
    #[arg(long, env = "CDP_EXECUTOR_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
    /// Grace period for in-flight calls at shutdown, in milliseconds.
    #[arg(long, env = "CDP_EXECUTOR_SHUTDOWN_GRACE_MS", default_value_t = 10_000)]
    pub shutdown_grace_ms: u64,
}

/// The configuration, validated.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Bind address.
    pub listen: SocketAddr,
    /// Verification URL.
    pub verification_url: String,
    /// Extra roots for an `https://` verification URL.
    pub grpc_ca: Option<CaFile>,
    /// Where CDP endpoints may be.
    pub upstream_allow: AllowList,
    /// Trust `cdp_url` in requests.
    pub trust_request_cdp_url: bool,
    /// Service token.
    pub service_token: Option<SecretString>,
    /// Organization-scoped caller tokens.
    pub org_tokens: OrgTokens,
    /// Timeouts and bounds of the pool.
    pub pool: PoolSettings,
    /// Navigation guard lists.
    pub navigate_allow: HostList,
    /// Navigation guard lists.
    pub navigate_block: HostList,
    /// Per-operation deadline.
    pub operation_timeout: Duration,
    /// Extra time a failed navigation has to reset its tab.
    pub navigation_reset_timeout: Duration,
    /// User-event buffer.
    pub event_buffer: usize,
    /// CDP events buffered per screencast.
    pub screencast_event_buffer: usize,
    /// Shutdown grace.
    pub shutdown_grace: Duration,
    /// Where `/metrics` is served, if anywhere.
    pub metrics_listen: Option<SocketAddr>,
    /// TLS certificate and key files, when serving TLS.
    pub tls: Option<TlsFiles>,
}

/// Timeouts and bounds of the connection pool.
#[derive(Debug, Clone)]
pub struct PoolSettings {
    /// One connection attempt.
    pub connect_timeout: Duration,
    /// Idle close.
    pub idle_timeout: Duration,
    /// Health-check interval.
    pub health_interval: Duration,
    /// First redial wait.
    pub backoff: Duration,
    /// Longest redial wait.
    pub backoff_max: Duration,
    /// Verification answer reuse.
    pub verify_cache: Duration,
    /// Re-verification and idle check interval.
    pub sweep_interval: Duration,
    /// Most connections.
    pub max_connections: usize,
}

/// A flag value that does not make sense.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(String);

impl Config {
    /// Validates the flags into settings.
    pub fn validate(self) -> Result<Settings, ConfigError> {
        let upstream_allow = AllowList::parse(&self.upstream_allow)
            .map_err(|_| ConfigError("--upstream-allow is not a list of CIDRs".into()))?;
        if self.operation_timeout_ms == 0 || self.connect_timeout_ms == 0 {
            return Err(ConfigError("timeouts must be positive".into()));
        }
        if self.max_connections == 0 || self.event_buffer == 0 || self.screencast_event_buffer == 0
        {
            return Err(ConfigError(
                "--max-connections, --event-buffer and --screencast-event-buffer must be positive"
                    .into(),
            ));
        }
        let ms = Duration::from_millis;
        Ok(Settings {
            listen: self.listen,
            verification_url: self.verification_url,
            grpc_ca: self.grpc_ca,
            upstream_allow,
            trust_request_cdp_url: self.trust_request_cdp_url,
            service_token: self.service_token,
            org_tokens: self.org_tokens.unwrap_or_default(),
            pool: PoolSettings {
                connect_timeout: ms(self.connect_timeout_ms),
                idle_timeout: ms(self.idle_timeout_ms.max(1)),
                health_interval: ms(self.health_interval_ms.max(1)),
                backoff: ms(self.reconnect_backoff_ms),
                backoff_max: ms(self.reconnect_backoff_max_ms.max(self.reconnect_backoff_ms)),
                verify_cache: ms(self.verify_cache_ms),
                sweep_interval: ms(self.sweep_interval_ms.max(10)),
                max_connections: self.max_connections,
            },
            navigate_allow: HostList::parse(&self.navigate_allow_hosts),
            navigate_block: HostList::parse(&self.navigate_block_hosts),
            operation_timeout: ms(self.operation_timeout_ms),
            navigation_reset_timeout: ms(self.navigation_reset_timeout_ms.max(1)),
            event_buffer: self.event_buffer,
            screencast_event_buffer: self.screencast_event_buffer,
            shutdown_grace: ms(self.shutdown_grace_ms),
            metrics_listen: self.metrics_listen,
            tls: TlsFiles::from_flags(self.tls_cert, self.tls_key),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serve_is_the_default_subcommand_and_flags_parse() {
        let cli = Cli::try_parse_from([
            "cdp-executor",
            "--listen",
            "127.0.0.1:0",
            "--trust-request-cdp-url",
            "--navigate-allow-hosts",
            "127.0.0.1",
        ])
        .unwrap();
        let settings = cli.into_config().validate().unwrap();
        assert_eq!(settings.listen.port(), 0);
        assert!(settings.trust_request_cdp_url);
        assert!(settings.navigate_allow.matches("127.0.0.1"));
        assert_eq!(settings.operation_timeout, Duration::from_secs(5));
        assert_eq!(settings.screencast_event_buffer, 256);
    }

    #[test]
    fn a_screencast_event_buffer_of_zero_is_refused() {
        let cli = Cli::try_parse_from(["cdp-executor", "--screencast-event-buffer", "0"]).unwrap();
        let error = cli.into_config().validate().unwrap_err();
        assert!(
            error.to_string().contains("--screencast-event-buffer"),
            "{error}"
        );
    }

    #[test]
    fn explicit_serve_subcommand_parses_and_bad_cidrs_are_refused() {
        let cli =
            Cli::try_parse_from(["cdp-executor", "serve", "--upstream-allow", "nope"]).unwrap();
        assert!(cli.into_config().validate().is_err());
    }
}
