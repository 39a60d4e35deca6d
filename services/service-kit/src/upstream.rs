//! The upstream allow list (`--upstream-allow`): VNC and CDP upstreams are dialled only when
//! every address their host resolves to lies inside one of these CIDRs. The default is
//! loopback only, so a fresh install cannot be turned into a proxy into the cluster.
//!
//! Callers dial the addresses [`AllowList::resolve`] returned, never the name again, so a DNS
//! answer that changes between check and dial cannot slip past the list.

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use ipnet::IpNet;

/// CIDRs that upstream addresses must fall in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllowList {
    nets: Vec<IpNet>,
}

/// Why an upstream may not be dialled.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UpstreamError {
    /// The URL has no host, or it cannot be parsed.
    #[error("the upstream address is malformed")]
    Malformed,
    /// The host did not resolve (or resolved to nothing).
    #[error("the upstream host does not resolve")]
    Unresolvable,
    /// An address of the host is outside the allow list.
    #[error("the upstream address is outside the allow list")]
    NotAllowed,
}

impl AllowList {
    /// Loopback only: `127.0.0.0/8` and `::1/128`.
    pub fn loopback() -> Self {
        Self::parse("127.0.0.0/8,::1/128").expect("static CIDRs parse")
    }

    /// A comma-separated list of CIDRs (a bare address means a single host).
    pub fn parse(list: &str) -> Result<Self, ipnet::AddrParseError> {
        let nets = list
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| match IpNet::from_str(s) {
                Ok(net) => Ok(net),
                Err(e) => IpAddr::from_str(s).map(IpNet::from).map_err(|_| e),
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { nets })
    }

    /// Whether one address is inside the list.
    pub fn allows(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.nets.iter().any(|net| net.contains(&ip))
    }

    /// Resolves `host:port` and returns its addresses when every one of them is allowed.
    pub async fn resolve(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, UpstreamError> {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(UpstreamError::Malformed);
        }
        let addrs: Vec<SocketAddr> = match host.parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, port)],
            Err(_) => tokio::net::lookup_host((host, port))
                .await
                .map_err(|_| UpstreamError::Unresolvable)?
                .collect(),
        };
        if addrs.is_empty() {
            return Err(UpstreamError::Unresolvable);
        }
        if addrs.iter().all(|a| self.allows(a.ip())) {
            Ok(addrs)
        } else {
            Err(UpstreamError::NotAllowed)
        }
    }

    /// Resolves the host and port of a URL (default ports by scheme: ws/http 80, wss/https 443).
    pub async fn resolve_url(&self, url: &url::Url) -> Result<Vec<SocketAddr>, UpstreamError> {
        let host = url.host_str().ok_or(UpstreamError::Malformed)?;
        let port = url
            .port_or_known_default()
            .ok_or(UpstreamError::Malformed)?;
        self.resolve(host, port).await
    }
}

/// An IPv4-mapped IPv6 address is checked as the IPv4 address it carries.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_list_allows_loopback_only() {
        let list = AllowList::loopback();
        assert!(list.allows("127.0.0.1".parse().unwrap()));
        assert!(list.allows("127.9.9.9".parse().unwrap()));
        assert!(list.allows("::1".parse().unwrap()));
        assert!(list.allows("::ffff:127.0.0.1".parse().unwrap()));
        assert!(!list.allows("10.0.0.7".parse().unwrap()));
        assert!(!list.allows("169.254.169.254".parse().unwrap()));
    }

    #[test]
    fn bare_addresses_and_cidrs_parse() {
        let list = AllowList::parse("10.1.0.0/16, 192.0.2.5").unwrap();
        assert!(list.allows("10.1.200.3".parse().unwrap()));
        assert!(list.allows("192.0.2.5".parse().unwrap()));
        assert!(!list.allows("192.0.2.6".parse().unwrap()));
        assert!(AllowList::parse("not-a-cidr").is_err());
    }

    #[tokio::test]
    async fn resolving_refuses_addresses_outside_the_list() {
        let list = AllowList::loopback();
        assert_eq!(
            list.resolve("127.0.0.1", 5900).await.unwrap(),
            vec!["127.0.0.1:5900".parse().unwrap()]
        );
        assert_eq!(
            list.resolve("[::1]", 1).await.unwrap(),
            vec!["[::1]:1".parse().unwrap()]
        );
        assert_eq!(
            list.resolve("10.0.0.7", 5900).await,
            Err(UpstreamError::NotAllowed)
        );
        assert_eq!(list.resolve("", 5900).await, Err(UpstreamError::Malformed));
    }
}
