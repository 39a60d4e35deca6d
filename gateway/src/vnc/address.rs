//! Where a session's RFB server is: its `vnc_url`, or (when empty) the incumbent's derivation
//! from `browser_address` (spec §5.2), which never yields a pod's own address. Pure: no I/O.

use url::Url;

/// The websockify port of the incumbent's derivation.
pub const DERIVED_VNC_PORT: u16 = 6080;

/// An upstream to dial.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Upstream {
    /// A raw RFB server: the gateway bridges WebSocket ⇄ TCP itself.
    Tcp {
        /// Host name or address (no brackets).
        host: String,
        /// Port.
        port: u16,
    },
    /// A websockify (`ws://` or `wss://`).
    WebSocket(Url),
}

/// Parses a session's `vnc_url` (`tcp://host:port`, `ws://…`, `wss://…`).
pub fn parse_vnc_url(raw: &str) -> Option<Upstream> {
    let url = Url::parse(raw).ok()?;
    match url.scheme() {
        "tcp" => {
            let host = url
                .host_str()?
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned();
            Some(Upstream::Tcp {
                host,
                port: url.port()?,
            })
        }
        "ws" | "wss" if url.host_str().is_some() => Some(Upstream::WebSocket(url)),
        _ => None,
    }
}

/// The incumbent's routed VNC URL for a `browser_address`, or `None` (never dial the pod).
pub fn derive_vnc_url(browser_address: &str) -> Option<String> {
    let url = Url::parse(browser_address).ok()?;
    let scheme = match url.scheme() {
        "ws" => "ws",
        "wss" => "wss",
        _ => return None,
    };
    let host = url.host_str()?;
    if matches!(host, "127.0.0.1" | "localhost" | "[::1]" | "::1") {
        // Single-host development case. `::1` keeps its brackets (the incumbent dropped them
        // and produced an invalid URL).
        return Some(format!("ws://{host}:{DERIVED_VNC_PORT}"));
    }
    let netloc = match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    };
    let segments: Vec<&str> = url
        .path_segments()
        .map(|s| s.filter(|s| !s.is_empty()).collect())
        .unwrap_or_default();
    let has_token = url
        .query_pairs()
        .any(|(k, v)| k == "token" && !v.is_empty());
    if segments.len() == 1 && has_token {
        let query = url.query().unwrap_or_default();
        return Some(format!("{scheme}://{netloc}/vnc/{}?{query}", segments[0]));
    }
    if segments.len() >= 4 && segments[2] == "devtools" {
        return Some(format!(
            "{scheme}://{netloc}/vnc/{}/{}",
            segments[0], segments[1]
        ));
    }
    None
}

/// The upstream of a session: its `vnc_url` when set, else the derived one.
pub fn resolve_upstream(vnc_url: &str, browser_address: &str) -> Option<Upstream> {
    if !vnc_url.is_empty() {
        return parse_vnc_url(vnc_url);
    }
    parse_vnc_url(&derive_vnc_url(browser_address)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn router_shape_with_a_token_routes_through_vnc_and_keeps_the_query() {
        assert_eq!(
            derive_vnc_url("wss://session-router.skyvern.com/pbs_live?token=T").as_deref(),
            Some("wss://session-router.skyvern.com/vnc/pbs_live?token=T")
        );
    }

    #[test]
    fn legacy_devtools_shape_routes_through_vnc_and_drops_the_query() {
        assert_eq!(
            derive_vnc_url(
                "wss://sessions.skyvern.com/pbs_live/payload.signature/devtools/browser/b-1?x=1"
            )
            .as_deref(),
            Some("wss://sessions.skyvern.com/vnc/pbs_live/payload.signature")
        );
    }

    #[test]
    fn loopback_hosts_use_the_websockify_port_and_ipv6_stays_valid() {
        assert_eq!(
            derive_vnc_url("ws://127.0.0.1:9222/devtools/browser/x").as_deref(),
            Some("ws://127.0.0.1:6080")
        );
        assert_eq!(
            derive_vnc_url("wss://localhost/x").as_deref(),
            Some("ws://localhost:6080")
        );
        let v6 = derive_vnc_url("ws://[::1]:9222/devtools/browser/x").unwrap();
        assert_eq!(v6, "ws://[::1]:6080");
        assert!(Url::parse(&v6).is_ok());
    }

    #[test]
    fn the_incumbents_refused_examples_are_refused() {
        for refused in [
            "ws://10.0.0.7:9223/devtools/browser/b-1",
            "ws://10.0.0.7:6080",
            "wss://session-router.skyvern.com/pbs_live",
            "wss://session-router.skyvern.com/pbs_live?other=1",
            "wss://session-router.skyvern.com/pbs_live?token=",
            "https://session-router.skyvern.com/pbs_live?token=T",
            "",
            "not a url",
        ] {
            assert_eq!(derive_vnc_url(refused), None, "{refused}");
        }
    }

    #[test]
    fn vnc_urls_parse_by_scheme() {
        assert_eq!(
            parse_vnc_url("tcp://127.0.0.1:5901"),
            Some(Upstream::Tcp {
                host: "127.0.0.1".into(),
                port: 5901
            })
        );
        assert_eq!(
            parse_vnc_url("tcp://[::1]:5901"),
            Some(Upstream::Tcp {
                host: "::1".into(),
                port: 5901
            })
        );
        assert!(matches!(
            parse_vnc_url("ws://127.0.0.1:6080/websockify"),
            Some(Upstream::WebSocket(_))
        ));
        assert_eq!(parse_vnc_url("tcp://127.0.0.1"), None);
        assert_eq!(parse_vnc_url("http://127.0.0.1:80"), None);
        assert_eq!(resolve_upstream("", "ws://10.0.0.7:6080"), None);
        assert!(resolve_upstream("", "ws://127.0.0.1:9222").is_some());
    }
}
