//! Test kit: the real browser parts (Chromium, Xvfb, x11vnc) and PostgreSQL, with the skip
//! rule: when a part is missing a test prints `skipped: <reason>` and returns, unless
//! `BROWSER_STREAM_REQUIRE_ALL=1` (set by `scripts/test`), in which case it fails.

use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use browser_node::availability::{chromium_missing, vnc_parts_missing};
pub use test_kit::skip::{require_all, skip, unless_missing};

/// True when Chromium can be used; otherwise applies the skip rule and returns false.
pub fn chromium_or_skip() -> bool {
    unless_missing(chromium_missing())
}

/// True when Chromium, Xvfb and x11vnc can be used; otherwise applies the skip rule.
pub fn vnc_tools_or_skip() -> bool {
    unless_missing(vnc_parts_missing())
}

pub use browser_node::{
    chromium_executable, BrowserNode, Chromium, ChromiumOptions, Component, ExitReport, NodeError,
    NodeOptions, X11Vnc, Xvfb,
};

/// The PostgreSQL server used when `BROWSER_STREAM_TEST_PG_URL` is not set.
pub const DEFAULT_PG_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// How long to wait for PostgreSQL to accept a TCP connection before calling it missing.
const PG_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// The PostgreSQL URL for tests (`BROWSER_STREAM_TEST_PG_URL`, else [`DEFAULT_PG_URL`]) when
/// its server accepts connections; otherwise applies the skip rule and returns `None`.
pub fn pg_url_or_skip() -> Option<String> {
    let url =
        std::env::var("BROWSER_STREAM_TEST_PG_URL").unwrap_or_else(|_| DEFAULT_PG_URL.to_owned());
    match pg_reachable(&url) {
        Ok(()) => Some(url),
        Err(reason) => {
            skip(&format!("PostgreSQL is not reachable: {reason}"));
            None
        }
    }
}

/// Checks that the URL's host accepts a TCP connection (the server is up).
fn pg_reachable(url: &str) -> Result<(), String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("bad URL: {e}"))?;
    let host = parsed.host_str().unwrap_or("127.0.0.1").to_owned();
    let port = parsed.port().unwrap_or(5432);
    let addrs: Vec<SocketAddr> = (host.as_str(), port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {host}: {e}"))?
        .collect();
    addrs
        .iter()
        .find_map(|addr| TcpStream::connect_timeout(addr, PG_CONNECT_TIMEOUT).ok())
        .map(drop)
        .ok_or_else(|| format!("nothing listens on {host}:{port}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_that_is_not_listening_is_unreachable() {
        // Port 1 on loopback has no listener here.
        assert!(pg_reachable("postgres://postgres@127.0.0.1:1/test").is_err());
        assert!(pg_reachable("not a url").is_err());
    }
}
