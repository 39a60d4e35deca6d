//! Command line and environment: `verification serve` (default) and `verification admin …`.
//! Every flag has an env var `VERIFICATION_<FLAG>`. Tests build [`Config`] with
//! [`Config::for_database`] or `Cli::try_parse_from`, never through the process environment.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use secrecy::SecretString;
use service_kit::cli::{ServeByDefault, ServeOr};

/// The duration flag syntax (`250ms`, `20s`, `2m`, bare seconds; never zero).
pub use service_kit::cli::parse_duration;

/// The verification binary.
#[derive(Debug, Parser)]
#[command(
    name = "verification",
    version,
    about = "browser-stream verification service"
)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Cli {
    /// `serve` (the default) and its flags, or `admin`.
    #[command(flatten)]
    pub args: ServeByDefault<Config, Command>,
}

/// Subcommands besides `serve`.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Operator commands; each prints only the new id or key on stdout.
    Admin(crate::admin::cli::AdminArgs),
}

impl Cli {
    /// What was asked: serve (with or without the subcommand) or an admin command.
    pub fn into_command(self) -> ServeOr<Config, Command> {
        self.args.into_command()
    }
}

/// Everything `serve` needs.
#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, env = "VERIFICATION_LISTEN", default_value = "127.0.0.1:50051")]
    pub listen: SocketAddr,
    /// Address for Prometheus metrics (`GET /metrics`); unset: no metrics listener.
    #[arg(long, env = "VERIFICATION_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
    /// Database URL: `sqlite://file.db` (created if missing) or `postgres://…`.
    #[arg(
        long,
        env = "VERIFICATION_DATABASE_URL",
        default_value = "sqlite://verification.db"
    )]
    pub database_url: String,
    /// HS256 secret for bearer JWTs (`sub` = organization id). Unset: bearer tokens refused.
    #[arg(long, env = "VERIFICATION_JWT_SECRET", value_parser = parse_secret, hide_env_values = true)]
    pub jwt_secret: Option<SecretString>,
    /// How often the watch poller reads every watched entity (e.g. `1s`, `100ms`).
    #[arg(long, env = "VERIFICATION_POLL_INTERVAL", value_parser = parse_duration, default_value = "1s")]
    pub poll_interval: Duration,
    /// How long a stream ticket stays valid.
    #[arg(long, env = "VERIFICATION_TICKET_TTL", value_parser = parse_duration, default_value = "60s")]
    pub ticket_ttl: Duration,
    /// Longest wait for a database connection before a call answers UNAVAILABLE.
    #[arg(long, env = "VERIFICATION_DB_ACQUIRE_TIMEOUT", value_parser = parse_duration, default_value = "3s")]
    pub db_acquire_timeout: Duration,
    /// Most database connections.
    #[arg(long, env = "VERIFICATION_DB_MAX_CONNECTIONS", default_value_t = 10)]
    pub db_max_connections: u32,
    /// Events buffered per Watch stream; a stream that falls this far behind is ended.
    #[arg(long, env = "VERIFICATION_WATCH_BUFFER", default_value_t = 1024)]
    pub watch_buffer: usize,
    /// Most entities one Watch stream may watch at once.
    #[arg(
        long,
        env = "VERIFICATION_MAX_WATCHED_PER_STREAM",
        default_value_t = 100_000
    )]
    pub max_watched_per_stream: usize,
    /// Token internal callers must send (`x-service-token`); unset: no check.
    #[arg(long, env = "VERIFICATION_SERVICE_TOKEN", value_parser = parse_secret, hide_env_values = true)]
    pub service_token: Option<SecretString>,
    /// PEM certificate chain for TLS (with --tls-key).
    #[arg(long, env = "VERIFICATION_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for TLS (with --tls-cert).
    #[arg(long, env = "VERIFICATION_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}

impl Config {
    /// Defaults with the given database, on 127.0.0.1:0 (for tests and embedding).
    pub fn for_database(database_url: &str) -> Self {
        let cli = Cli::try_parse_from([
            "verification",
            "--listen",
            "127.0.0.1:0",
            "--database-url",
            database_url,
        ])
        .expect("static arguments parse");
        match cli.into_command() {
            ServeOr::Serve(config) => config,
            ServeOr::Other(_) => unreachable!("no subcommand was given"),
        }
    }
}

/// `SecretString` from a flag.
fn parse_secret(raw: &str) -> Result<SecretString, String> {
    if raw.is_empty() {
        return Err("must not be empty".into());
    }
    Ok(SecretString::from(raw.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("100ms").unwrap(), Duration::from_millis(100));
        assert_eq!(parse_duration("2").unwrap(), Duration::from_secs(2));
        assert_eq!(parse_duration("1m").unwrap(), Duration::from_secs(60));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("1h").is_err());
    }

    #[test]
    fn serve_is_the_default_and_flags_parse() {
        let cli = Cli::try_parse_from([
            "verification",
            "--listen",
            "127.0.0.1:0",
            "--poll-interval",
            "100ms",
        ])
        .unwrap();
        let ServeOr::Serve(config) = cli.into_command() else {
            panic!("serve is the default");
        };
        assert_eq!(config.poll_interval, Duration::from_millis(100));
        assert_eq!(config.ticket_ttl, Duration::from_secs(60));
        let cli = Cli::try_parse_from(["verification", "serve", "--database-url", "sqlite://x.db"])
            .unwrap();
        assert!(
            matches!(cli.into_command(), ServeOr::Serve(c) if c.database_url == "sqlite://x.db")
        );
    }

    #[test]
    fn tls_needs_both_files() {
        assert!(Cli::try_parse_from(["verification", "--tls-cert", "c.pem"]).is_err());
    }
}
