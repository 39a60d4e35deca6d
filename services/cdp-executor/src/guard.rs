//! The navigation guard (PROTOCOL §4, spec §9.6): URL normalisation and the destination
//! decision are pure functions; [`Guard::check`] adds the DNS lookup. Every hop of a
//! navigation (redirects and history entries included) goes through [`Guard::check`].

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use url::{Host, Url};

/// The longest URL a navigation accepts.
pub const MAX_URL_CHARS: usize = 2083;

/// Host names that are never reachable, whatever they resolve to.
const BLOCKED_NAMES: &[&str] = &[
    "localhost",
    "metadata.google.internal",
    "kubernetes.default.svc",
];
/// Host name suffixes that are never reachable.
const BLOCKED_SUFFIXES: &[&str] = &[
    ".local",
    ".localhost",
    ".internal",
    ".cluster.local",
    ".svc",
];

/// Why a URL is not navigable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Empty, too long, or not a URL.
    Invalid,
    /// A scheme other than http(s).
    Scheme,
    /// A private, internal or block-listed destination.
    Destination,
}

/// A list of host names; an entry also covers its subdomains.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostList {
    hosts: Vec<String>,
}

impl HostList {
    /// Comma-separated host names or addresses (case-insensitive, `[v6]` brackets optional).
    pub fn parse(list: &str) -> Self {
        let hosts = list
            .split(',')
            .map(|h| {
                h.trim()
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_ascii_lowercase()
            })
            .filter(|h| !h.is_empty())
            .collect();
        Self { hosts }
    }

    /// Whether `host` is listed, or is a subdomain of a listed name.
    pub fn matches(&self, host: &str) -> bool {
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        self.hosts
            .iter()
            .any(|entry| host == *entry || host.ends_with(&format!(".{entry}")))
    }
}

/// Normalises what a user typed into a navigable URL: trim, refuse empty or over-long input,
/// add `https://` when there is no scheme, refuse schemes other than http(s), collapse a
/// duplicated `www.`.
pub fn normalize(input: &str) -> Result<Url, Refusal> {
    let trimmed = input.trim();
    if trimmed.is_empty() || trimmed.chars().count() > MAX_URL_CHARS || trimmed.starts_with("//") {
        return Err(Refusal::Invalid);
    }
    let with_scheme = match scheme_of(trimmed) {
        Some(scheme)
            if scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https") =>
        {
            trimmed.to_string()
        }
        Some(_) => return Err(Refusal::Scheme),
        None => format!("https://{trimmed}"),
    };
    let mut url = Url::parse(&with_scheme).map_err(|_| Refusal::Invalid)?;
    if let Some(host) = url.host_str().map(str::to_string) {
        let mut collapsed = host.as_str();
        while collapsed.starts_with("www.www.") {
            collapsed = &collapsed[4..];
        }
        if collapsed != host {
            url.set_host(Some(collapsed))
                .map_err(|_| Refusal::Invalid)?;
        }
    }
    if url.host().is_none() {
        return Err(Refusal::Invalid);
    }
    Ok(url)
}

/// The scheme of `input` when it has one (`mailto:x`, `javascript:…`), not counting `host:port`.
fn scheme_of(input: &str) -> Option<&str> {
    let (scheme, rest) = input.split_once(':')?;
    let is_scheme = !scheme.is_empty()
        && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    // `example.com:8080/x` is a host and port, not a scheme.
    let looks_like_port = rest
        .split('/')
        .next()
        .is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    (is_scheme && !looks_like_port).then_some(scheme)
}

/// What the guard needs to know about a destination before any DNS lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Precheck {
    /// Allowed without looking further (`about:blank`, allow-listed host).
    Allow,
    /// Refused.
    Refuse(Refusal),
    /// An IP literal: decided by [`is_blocked_ip`].
    Ip(IpAddr),
    /// A name: resolve it and check every address.
    Resolve(String, u16),
}

/// The DNS-free part of the decision for one hop (an already normalised or browser-given URL).
pub fn precheck(url: &str, allow: &HostList, block: &HostList) -> Precheck {
    if url.is_empty() || url == "about:blank" {
        return Precheck::Allow;
    }
    let Ok(parsed) = Url::parse(url) else {
        return Precheck::Refuse(Refusal::Invalid);
    };
    if !matches!(parsed.scheme(), "http" | "https") {
        return Precheck::Refuse(Refusal::Scheme);
    }
    let Some(host) = parsed.host() else {
        return Precheck::Refuse(Refusal::Invalid);
    };
    let name = match &host {
        Host::Domain(d) => d.to_ascii_lowercase(),
        Host::Ipv4(ip) => ip.to_string(),
        Host::Ipv6(ip) => ip.to_string(),
    };
    if allow.matches(&name) {
        return Precheck::Allow;
    }
    if block.matches(&name) {
        return Precheck::Refuse(Refusal::Destination);
    }
    match host {
        Host::Ipv4(ip) => Precheck::Ip(IpAddr::V4(ip)),
        Host::Ipv6(ip) => Precheck::Ip(IpAddr::V6(ip)),
        Host::Domain(_) => {
            let name = name.trim_end_matches('.').to_string();
            if BLOCKED_NAMES.contains(&name.as_str())
                || BLOCKED_SUFFIXES.iter().any(|s| name.ends_with(s))
            {
                Precheck::Refuse(Refusal::Destination)
            } else {
                Precheck::Resolve(name, parsed.port_or_known_default().unwrap_or(443))
            }
        }
    }
}

/// Private, loopback, link-local, CGNAT, ULA, metadata, multicast, reserved and unspecified
/// addresses (IPv4-mapped IPv6 addresses are checked as IPv4).
pub fn is_blocked_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_blocked_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_blocked_v4(v4),
            None => is_blocked_v6(v6),
        },
    }
}

fn is_blocked_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local() // includes 169.254.169.254, the cloud metadata address
        || ip.is_multicast()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // CGNAT 100.64.0.0/10
        || (a == 192 && b == 0 && ip.octets()[2] == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240 // reserved
}

fn is_blocked_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // ULA fc00::/7
        || (first & 0xffc0) == 0xfe80 // link-local fe80::/10
        || (first & 0xffc0) == 0xfec0 // site-local (deprecated)
        || ip == Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254) // AWS metadata over IPv6
        || (first == 0x0064 && ip.segments()[1] == 0xff9b) // NAT64 can reach private IPv4
        || first == 0x2001 && ip.segments()[1] == 0x0db8 // documentation
}

/// The full guard: the pure rules plus DNS. Unresolvable names are allowed (the browser
/// cannot reach them either); a name with any blocked address is refused.
#[derive(Debug, Clone, Default)]
pub struct Guard {
    /// Hosts allowed even when private.
    pub allow: HostList,
    /// Hosts always refused.
    pub block: HostList,
}

impl Guard {
    /// Decides one hop.
    pub async fn check(&self, url: &str) -> Result<(), Refusal> {
        match precheck(url, &self.allow, &self.block) {
            Precheck::Allow => Ok(()),
            Precheck::Refuse(r) => Err(r),
            Precheck::Ip(ip) => refuse_if(is_blocked_ip(ip)),
            Precheck::Resolve(name, port) => {
                match tokio::net::lookup_host((name.as_str(), port)).await {
                    Ok(addrs) => refuse_if(addrs.into_iter().any(|a| is_blocked_ip(a.ip()))),
                    Err(_) => Ok(()),
                }
            }
        }
    }
}

fn refuse_if(blocked: bool) -> Result<(), Refusal> {
    if blocked {
        Err(Refusal::Destination)
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lists() -> (HostList, HostList) {
        (
            HostList::parse("127.0.0.1, intranet.example"),
            HostList::parse("evil.example"),
        )
    }

    #[test]
    fn normalisation_trims_adds_https_and_refuses_other_schemes() {
        assert_eq!(
            normalize("  example.com/a ").unwrap().as_str(),
            "https://example.com/a"
        );
        assert_eq!(
            normalize("example.com:8080/x").unwrap().as_str(),
            "https://example.com:8080/x"
        );
        assert_eq!(
            normalize("HTTP://Example.com").unwrap().as_str(),
            "http://example.com/"
        );
        assert_eq!(
            normalize("www.www.example.com").unwrap().host_str(),
            Some("www.example.com")
        );
        assert_eq!(normalize("   "), Err(Refusal::Invalid));
        assert_eq!(normalize("//example.com"), Err(Refusal::Invalid));
        assert_eq!(normalize("javascript:alert(1)"), Err(Refusal::Scheme));
        assert_eq!(normalize("file:///etc/passwd"), Err(Refusal::Scheme));
        assert_eq!(normalize("chrome://settings"), Err(Refusal::Scheme));
        assert_eq!(
            normalize(&"a".repeat(MAX_URL_CHARS + 1)),
            Err(Refusal::Invalid)
        );
    }

    #[test]
    fn internal_names_and_suffixes_are_refused_before_dns() {
        let (allow, block) = lists();
        for url in [
            "http://localhost/",
            "http://metadata.google.internal/",
            "http://kubernetes.default.svc/",
            "http://printer.local/",
            "http://app.localhost/",
            "http://db.cluster.local/",
            "http://evil.example/",
            "http://a.evil.example/",
        ] {
            assert_eq!(
                precheck(url, &allow, &block),
                Precheck::Refuse(Refusal::Destination),
                "{url}"
            );
        }
        assert_eq!(
            precheck("ftp://example.com/", &allow, &block),
            Precheck::Refuse(Refusal::Scheme)
        );
        assert_eq!(precheck("about:blank", &allow, &block), Precheck::Allow);
        assert_eq!(
            precheck("http://127.0.0.1:9/", &allow, &block),
            Precheck::Allow
        );
        assert_eq!(
            precheck("http://a.intranet.example/", &allow, &block),
            Precheck::Allow
        );
        assert_eq!(
            precheck("https://example.com/", &allow, &block),
            Precheck::Resolve("example.com".into(), 443)
        );
    }

    #[test]
    fn private_and_special_addresses_are_blocked() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fc00::1",
            "fd00:ec2::254",
            "fe80::1",
            "ff02::1",
            "::ffff:10.0.0.1",
            "240.0.0.1",
        ] {
            assert!(is_blocked_ip(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.216.34", "8.8.8.8", "2606:4700::1111", "100.128.0.1"] {
            assert!(!is_blocked_ip(ip.parse().unwrap()), "{ip}");
        }
    }

    #[tokio::test]
    async fn guard_refuses_loopback_unless_allow_listed() {
        let guard = Guard::default();
        assert_eq!(
            guard.check("http://127.0.0.1:8080/").await,
            Err(Refusal::Destination)
        );
        assert_eq!(
            guard.check("http://[::1]/").await,
            Err(Refusal::Destination)
        );
        let (allow, block) = lists();
        let guard = Guard { allow, block };
        assert_eq!(guard.check("http://127.0.0.1:8080/").await, Ok(()));
        assert_eq!(
            guard.check("http://10.0.0.1/").await,
            Err(Refusal::Destination)
        );
    }
}
