//! Typed configuration of the gateway: clap flags, each with a `GATEWAY_*` env var and a
//! default that works on one machine. Loaded once at startup; tests build it with
//! [`Config::for_tests`] or `Cli::try_parse_from`, never through the process environment.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser};
use ipnet::IpNet;
use secrecy::SecretString;
use service_kit::ca_file::{parse_ca_file, CaFile};
use service_kit::cli::{parse_duration_or_zero, ServeByDefault};
use service_kit::org_tokens::{parse_org_tokens, OrgTokens};
use service_kit::upstream::AllowList;

/// The `gateway` command line.
#[derive(Debug, Parser)]
#[command(
    name = "gateway",
    version,
    about = "browser-stream gateway: WebSocket edge between viewers and remote browsers"
)]
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

/// Everything `gateway serve` needs.
#[derive(Debug, Clone, Args)]
pub struct Config {
    /// HTTP/WebSocket listen address (port 0 picks a free port).
    #[arg(long, env = "GATEWAY_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// gRPC listen address of the control service (`browserstream.control.v1`).
    #[arg(long, env = "GATEWAY_GRPC_LISTEN", default_value = "127.0.0.1:8081")]
    pub grpc_listen: SocketAddr,
    /// URL of the verification service (`http://host:port`, or `https://` for TLS).
    #[arg(
        long,
        env = "GATEWAY_VERIFICATION_URL",
        default_value = "http://127.0.0.1:50051"
    )]
    pub verification_url: String,
    /// URL of the cdp-executor (`http://host:port`, or `https://` for TLS); without it
    /// copy/paste through the browser answer with an error.
    #[arg(long, env = "GATEWAY_CDP_EXECUTOR_URL")]
    pub cdp_executor_url: Option<String>,
    /// Shared pairing and control bus for several replicas (`redis://host:6379/`;
    /// `redis://:password@…` or `redis://user:password@…` to authenticate, `rediss://` for
    /// TLS; optionally `?prefix=…` for the key prefix, default `browser-stream:`). Without it, pairing and
    /// control live in this process's memory: run one replica.
    #[arg(long, env = "GATEWAY_BUS")]
    pub bus: Option<String>,
    /// PEM file of the root certificates trusted for a `rediss://` bus, instead of the
    /// system's (read at startup; a bad file stops the gateway).
    #[arg(long, env = "GATEWAY_BUS_CA", value_parser = parse_ca_file)]
    pub bus_ca: Option<CaFile>,
    /// Comma-separated Origins allowed to open stream sockets; empty means any Origin.
    #[arg(long, env = "GATEWAY_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Vec<String>,
    /// Comma-separated origins whose pages may frame the viewer page (CSP frame-ancestors);
    /// empty: it may not be framed at all (`X-Frame-Options: DENY`).
    #[arg(long, env = "GATEWAY_FRAME_ANCESTORS", value_delimiter = ',', value_parser = parse_frame_ancestor)]
    pub frame_ancestors: Vec<String>,
    /// CIDRs that VNC upstreams must resolve into (default loopback only).
    #[arg(long, env = "GATEWAY_UPSTREAM_ALLOW", default_value = "127.0.0.0/8,::1/128", value_parser = parse_allow_list)]
    pub upstream_allow: AllowList,
    /// How long an API-key authentication result may be reused.
    #[arg(long, env = "GATEWAY_AUTH_CACHE_TTL", default_value = "10s", value_parser = parse_duration_or_zero)]
    pub auth_cache_ttl: Duration,
    /// WebSocket ping interval towards the frontend.
    #[arg(long, env = "GATEWAY_PING_INTERVAL", default_value = "10s", value_parser = parse_duration_or_zero)]
    pub ping_interval: Duration,
    /// No pong for this long closes the socket with `timeout`.
    #[arg(long, env = "GATEWAY_PONG_TIMEOUT", default_value = "30s", value_parser = parse_duration_or_zero)]
    pub pong_timeout: Duration,
    /// Upstream (VNC) connect timeout; also the deadline of every Redis bus call, and (halved,
    /// within 250 ms–5 s) the interval of the bus's subscription heartbeat.
    #[arg(long, env = "GATEWAY_CONNECT_TIMEOUT", default_value = "10s", value_parser = parse_duration_or_zero)]
    pub connect_timeout: Duration,
    /// RFB handshake timeout (ProtocolVersion to ServerInit).
    #[arg(long, env = "GATEWAY_HANDSHAKE_TIMEOUT", default_value = "10s", value_parser = parse_duration_or_zero)]
    pub handshake_timeout: Duration,
    /// How long control outlives its holder's last socket before returning to the agent.
    #[arg(long, env = "GATEWAY_CONTROL_GRACE", default_value = "10s", value_parser = parse_duration_or_zero)]
    pub control_grace: Duration,
    /// How long shutdown waits for sockets to close before exiting.
    #[arg(long, env = "GATEWAY_DRAIN_GRACE", default_value = "10s", value_parser = parse_duration_or_zero)]
    pub drain_grace: Duration,
    /// How long streams go on while verification is unreachable (nobody could tell them their
    /// entity ended); past it they close with `verification-unavailable` (0: never).
    #[arg(long, env = "GATEWAY_VERIFICATION_OUTAGE_GRACE", default_value = "60s", value_parser = parse_duration_or_zero)]
    pub verification_outage_grace: Duration,
    /// How often open sockets' API keys and links are checked for revocation (0: never).
    #[arg(long, env = "GATEWAY_REVOCATION_POLL", default_value = "1s", value_parser = parse_duration_or_zero)]
    pub revocation_poll: Duration,
    /// Deadline of every call to verification.
    #[arg(long, env = "GATEWAY_VERIFICATION_TIMEOUT", default_value = "5s", value_parser = parse_duration_or_zero)]
    pub verification_timeout: Duration,
    /// Deadline of every cdp-executor call (Message-channel operations, the VNC copy effect,
    /// opening the user-event stream); a navigation waits for the page to load within it.
    #[arg(long, env = "GATEWAY_EXECUTOR_TIMEOUT", default_value = "30s", value_parser = parse_duration_or_zero)]
    pub executor_timeout: Duration,
    /// PEM file of extra root certificates trusted for `wss://` VNC upstreams, besides the
    /// system's (read at startup; a bad file stops the gateway from starting).
    #[arg(long, env = "GATEWAY_UPSTREAM_CA", value_parser = parse_ca_file)]
    pub upstream_ca: Option<CaFile>,
    /// PEM file of extra root certificates trusted for `https://` verification and executor
    /// URLs, besides the system's (read at startup; a bad file stops the gateway).
    #[arg(long, env = "GATEWAY_GRPC_CA", value_parser = parse_ca_file)]
    pub grpc_ca: Option<CaFile>,
    /// Minimum interval between two activity reports of one browser session.
    #[arg(long, env = "GATEWAY_ACTIVITY_INTERVAL", default_value = "30s", value_parser = parse_duration_or_zero)]
    pub activity_interval: Duration,
    /// Bound of a Message socket's outbound queue, in messages; a frontend that lets it fill is
    /// closed with `slow-consumer` (PROTOCOL §4).
    #[arg(long, env = "GATEWAY_OUTBOUND_QUEUE", default_value_t = 256)]
    pub outbound_queue: usize,
    /// Bound of each socket's outbound queue in bytes: a Message socket's JSON text (a message
    /// larger than this still goes, alone), a VNC socket's queued RFB chunks (the memory they
    /// hold, each counted as at least 1 KiB). A VNC frontend that lets it fill is closed with
    /// `slow-consumer`.
    #[arg(long, env = "GATEWAY_OUTBOUND_QUEUE_BYTES", default_value_t = 16 * 1024 * 1024)]
    pub outbound_queue_bytes: usize,
    /// Largest WebSocket message accepted from a frontend, in bytes.
    #[arg(long, env = "GATEWAY_MAX_FRAME", default_value_t = 4 * 1024 * 1024)]
    pub max_frame: usize,
    /// Most concurrent stream sockets on this replica (20,000: 10,000 viewers' VNC+Message
    /// pairs; the open-files limit must allow about 1.5 descriptors per socket).
    #[arg(long, env = "GATEWAY_MAX_SOCKETS", default_value_t = 20_000)]
    pub max_sockets: usize,
    /// Most concurrent stream sockets of one organization on this replica, so one tenant
    /// cannot take every `--max-sockets` permit (0: no cap).
    #[arg(long, env = "GATEWAY_MAX_SOCKETS_PER_ORG", default_value_t = 5_000)]
    pub max_sockets_per_org: usize,
    /// Message channel frames one organization may send per second on this replica, over all
    /// its sockets; a frame over it is answered with an `error` (`rate-limited`) and not acted
    /// on (0: no limit).
    #[arg(
        long,
        env = "GATEWAY_MESSAGE_FRAMES_PER_SECOND_PER_ORG",
        default_value_t = 1_000
    )]
    pub message_frames_per_second_per_org: u32,
    /// VNC input events (keys, pointer moves and clicks, cut text) one organization may send
    /// per second on this replica, over all its sockets; over it the socket closes with
    /// `rate-limited` (0: no limit).
    #[arg(
        long,
        env = "GATEWAY_INPUT_EVENTS_PER_SECOND_PER_ORG",
        default_value_t = 20_000
    )]
    pub input_events_per_second_per_org: u32,
    /// Most stream sockets being authenticated at once (a socket holds a stream permit of
    /// `--max-sockets` only once authorized, so unauthenticated upgrades never starve tenants).
    #[arg(long, env = "GATEWAY_MAX_AUTHENTICATING", default_value_t = 512)]
    pub max_authenticating: usize,
    /// Failed authentications (stream sockets and ticket requests) one client address may
    /// make per minute; beyond, its sockets close with `rate-limited` and its ticket requests
    /// get 429 before verification is asked (0: unlimited).
    #[arg(long, env = "GATEWAY_AUTH_FAILURES_PER_MINUTE", default_value_t = 30)]
    pub auth_failures_per_minute: u32,
    /// Stream tickets one client address may mint per minute (429 beyond; 0: unlimited).
    #[arg(long, env = "GATEWAY_TICKETS_PER_MINUTE", default_value_t = 120)]
    pub tickets_per_minute: u32,
    /// Comma-separated CIDRs of reverse proxies in front of the gateway: a request from one
    /// of them counts against the client its `X-Forwarded-For` names (default none: the peer
    /// address counts).
    #[arg(long, env = "GATEWAY_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<IpNet>,
    /// The viewer page's public URL, the base of the links `POST /v1/stream/links` mints
    /// (default: `http://<the request's Host>`).
    #[arg(long, env = "GATEWAY_VIEWER_URL")]
    pub viewer_url: Option<String>,
    /// Clear the right button from CDP input pointer events too (the CDP transport lets it
    /// through by default, as the incumbent does; the VNC channel always clears it).
    #[arg(long, env = "GATEWAY_CDP_BLOCK_RIGHT_BUTTON")]
    pub cdp_block_right_button: bool,
    /// Directory served at `/` (the viewer page) when it exists.
    #[arg(long, env = "GATEWAY_WEB_ROOT", default_value = "web")]
    pub web_root: PathBuf,
    /// Service token attached to calls to verification and the executor, and required on the
    /// gRPC control service.
    #[arg(long, env = "GATEWAY_SERVICE_TOKEN")]
    pub service_token: Option<SecretString>,
    /// File of organization-scoped caller tokens for the gRPC control service
    /// (`<token> <org_id>[,<org_id>…]` per line): a backend presenting one may name only its
    /// organizations (PERMISSION_DENIED else).
    #[arg(long, env = "GATEWAY_ORG_TOKENS", value_parser = parse_org_tokens)]
    pub org_tokens: Option<OrgTokens>,
}

fn parse_frame_ancestor(s: &str) -> Result<String, String> {
    crate::embedding::parse_origin(s)
}

fn parse_allow_list(s: &str) -> Result<AllowList, String> {
    AllowList::parse(s).map_err(|e| format!("invalid CIDR list: {e}"))
}

impl Config {
    /// A configuration for tests: port 0 everywhere, short timeouts.
    pub fn for_tests(verification_url: String) -> Self {
        let ms = Duration::from_millis;
        Self {
            listen: "127.0.0.1:0".parse().expect("static address"),
            grpc_listen: "127.0.0.1:0".parse().expect("static address"),
            verification_url,
            cdp_executor_url: None,
            bus: None,
            allowed_origins: Vec::new(),
            frame_ancestors: Vec::new(),
            upstream_allow: AllowList::loopback(),
            auth_cache_ttl: ms(500),
            ping_interval: ms(500),
            pong_timeout: ms(5_000),
            connect_timeout: ms(5_000),
            handshake_timeout: ms(5_000),
            // Long enough that a test's socket always connects before control lapses; tests
            // of the grace period itself shorten it.
            control_grace: ms(5_000),
            drain_grace: ms(3_000),
            verification_timeout: ms(3_000),
            verification_outage_grace: ms(60_000),
            revocation_poll: ms(200),
            executor_timeout: ms(15_000),
            upstream_ca: None,
            grpc_ca: None,
            bus_ca: None,
            activity_interval: ms(200),
            outbound_queue: 64,
            outbound_queue_bytes: 16 * 1024 * 1024,
            max_frame: 4 * 1024 * 1024,
            max_sockets: 1_000,
            max_sockets_per_org: 5_000,
            message_frames_per_second_per_org: 1_000,
            input_events_per_second_per_org: 20_000,
            max_authenticating: 512,
            auth_failures_per_minute: 30,
            tickets_per_minute: 120,
            trusted_proxies: Vec::new(),
            web_root: PathBuf::from("web"),
            viewer_url: None,
            cdp_block_right_button: false,
            service_token: None,
            org_tokens: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duration_flags_take_units_fractions_and_zero_for_off() {
        let parse = |flag: &str, value: &str| {
            Cli::try_parse_from(["gateway", flag, value]).map(Cli::into_config)
        };
        let config = parse("--auth-cache-ttl", "0").unwrap();
        assert_eq!(config.auth_cache_ttl, Duration::ZERO);
        let config = parse("--ping-interval", "1.5s").unwrap();
        assert_eq!(config.ping_interval, Duration::from_millis(1500));
        let config = parse("--control-grace", "2m").unwrap();
        assert_eq!(config.control_grace, Duration::from_secs(120));
        assert!(parse("--pong-timeout", "ten").is_err());
        assert!(parse("--pong-timeout", "5h").is_err());
    }

    #[test]
    fn serve_is_the_default_subcommand_and_flags_parse() {
        let cli = Cli::try_parse_from([
            "gateway",
            "--listen",
            "127.0.0.1:0",
            "--allowed-origins",
            "https://a.example,https://b.example",
            "--ping-interval",
            "2s",
        ])
        .unwrap();
        let config = cli.into_config();
        assert_eq!(config.listen.port(), 0);
        assert_eq!(
            config.allowed_origins,
            vec!["https://a.example", "https://b.example"]
        );
        assert_eq!(config.ping_interval, Duration::from_secs(2));
        assert_eq!(config.executor_timeout, Duration::from_secs(30));
        let flagged = Cli::try_parse_from(["gateway", "--executor-timeout", "750ms"]).unwrap();
        assert_eq!(
            flagged.into_config().executor_timeout,
            Duration::from_millis(750)
        );
        let explicit =
            Cli::try_parse_from(["gateway", "serve", "--upstream-allow", "10.0.0.0/8"]).unwrap();
        let config = explicit.into_config();
        assert!(config.upstream_allow.allows("10.1.2.3".parse().unwrap()));
        assert!(!config.upstream_allow.allows("127.0.0.1".parse().unwrap()));
    }
}
