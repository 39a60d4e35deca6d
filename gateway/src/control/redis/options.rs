//! How the Redis bus is set up, and how the gateway configuration maps onto it.

use std::time::Duration;

use anyhow::bail;
use service_kit::ca_file::CaFile;

use super::{wire, DEFAULT_PREFIX};
use crate::config::Config;

/// How the Redis bus is set up.
#[derive(Debug, Clone)]
pub struct RedisBusOptions {
    /// `redis://…` or `rediss://…` (TLS), with or without `user:password@`, without the
    /// `prefix` query parameter.
    pub url: String,
    /// Roots trusted for a `rediss://` URL instead of the system's (`--bus-ca`).
    pub ca: Option<CaFile>,
    /// Prefix of every key and channel.
    pub prefix: String,
    /// How long control outlives its holder's last socket.
    pub grace: Duration,
    /// Deadline of every Redis call (and of waiting for the subscription).
    pub call_timeout: Duration,
    /// How long a socket counts as open without a refresh (refreshed every third of it).
    pub socket_ttl: Duration,
    /// How often this replica expires due grace deadlines.
    pub sweep_interval: Duration,
    /// How often this replica checks that its subscription still delivers: it publishes a
    /// heartbeat on its own channel and re-subscribes when the heartbeat is not back within
    /// `call_timeout` of being sent.
    pub heartbeat_interval: Duration,
}

impl RedisBusOptions {
    /// From the gateway configuration: `--bus redis://host:port/db?prefix=…` (the prefix
    /// defaults to [`DEFAULT_PREFIX`]); the grace period is `--control-grace`, the call
    /// deadline `--connect-timeout`; a socket's liveness lasts twice a ping round
    /// (`--ping-interval` + `--pong-timeout`, kept within 2–15 s), after which a socket that
    /// stopped answering is closed anyway; it only matters when a replica dies without
    /// deregistering. The sweep runs every quarter of the grace (20 ms to 1 s). The heartbeat
    /// runs every half call deadline (250 ms to 5 s): a subscription that hangs without
    /// closing is replaced within that plus one call deadline.
    pub fn from_config(config: &Config, url: &str) -> anyhow::Result<Self> {
        let (url, prefix) = wire::split_prefix(url, DEFAULT_PREFIX)?;
        let socket_ttl =
            ((config.ping_interval + config.pong_timeout) * 2).clamp(secs(2), secs(15));
        if config.bus_ca.is_some() && !url.starts_with("rediss://") {
            bail!("--bus-ca is for a rediss:// bus");
        }
        Ok(Self {
            url,
            ca: config.bus_ca.clone(),
            prefix,
            grace: config.control_grace,
            call_timeout: config.connect_timeout,
            socket_ttl,
            sweep_interval: (config.control_grace / 4).clamp(Duration::from_millis(20), secs(1)),
            heartbeat_interval: (config.connect_timeout / 2)
                .clamp(Duration::from_millis(250), secs(5)),
        })
    }
}

/// The client of the bus URL: `rediss://` dials TLS (rustls), checking the server's
/// certificate against `--bus-ca` when given, else against the system's roots; a password in
/// the URL authenticates every connection (`AUTH` on connect and reconnect).
pub(super) fn client(options: &RedisBusOptions) -> redis::RedisResult<redis::Client> {
    match &options.ca {
        Some(ca) => redis::Client::build_with_tls(
            options.url.as_str(),
            redis::TlsCertificates {
                client_tls: None,
                root_cert: Some(ca.pem().to_vec()),
            },
        ),
        None => redis::Client::open(options.url.as_str()),
    }
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}
