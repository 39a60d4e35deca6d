//! Turning a session's CDP URL into the WebSocket URL to dial, checking the allow list first:
//! `http://host:port` is resolved (allow list) and asked for `/json/version` over a plain TCP
//! request with a size cap; the WebSocket URL it names is checked again and dialled by address.

use std::net::SocketAddr;
use std::time::Duration;

use service_kit::upstream::{AllowList, UpstreamError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use url::Url;

/// The largest `/json/version` answer read.
const MAX_VERSION_BYTES: u64 = 64 * 1024;

/// Why an endpoint cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    /// Not an http(s)/ws(s) URL with a host.
    #[error("malformed CDP URL")]
    Malformed,
    /// Outside `--upstream-allow` (or unresolvable).
    #[error("CDP endpoint not allowed")]
    NotAllowed(#[source] UpstreamError),
    /// `/json/version` could not be fetched or understood.
    #[error("CDP discovery failed")]
    Discovery(#[source] anyhow::Error),
}

/// Resolves `cdp_url` to a WebSocket URL whose host is an allowed address.
pub async fn websocket_url(
    cdp_url: &str,
    allow: &AllowList,
    timeout: Duration,
) -> Result<String, EndpointError> {
    // A `#pbs_…` fragment only makes stored URLs unique; it is not part of the endpoint.
    let url = Url::parse(cdp_url.split('#').next().unwrap_or_default())
        .map_err(|_| EndpointError::Malformed)?;
    match url.scheme() {
        "ws" | "wss" => pin_to_address(url, allow).await,
        "http" | "https" => {
            let addrs = allow
                .resolve_url(&url)
                .await
                .map_err(EndpointError::NotAllowed)?;
            let body = tokio::time::timeout(timeout, fetch_version(addrs[0]))
                .await
                .map_err(|_| EndpointError::Discovery(anyhow::anyhow!("/json/version timed out")))?
                .map_err(EndpointError::Discovery)?;
            let ws = parse_version(&body).map_err(EndpointError::Discovery)?;
            let ws = Url::parse(&ws).map_err(|_| EndpointError::Malformed)?;
            pin_to_address(ws, allow).await
        }
        _ => Err(EndpointError::Malformed),
    }
}

/// Checks the URL's host and, for plain `ws://`, replaces it with the checked address so a DNS
/// answer that changes between check and dial cannot escape the list.
async fn pin_to_address(mut url: Url, allow: &AllowList) -> Result<String, EndpointError> {
    let addrs = allow
        .resolve_url(&url)
        .await
        .map_err(EndpointError::NotAllowed)?;
    if url.scheme() == "ws" {
        let ip = addrs[0].ip();
        let host = match ip {
            std::net::IpAddr::V4(v4) => v4.to_string(),
            std::net::IpAddr::V6(v6) => format!("[{v6}]"),
        };
        url.set_host(Some(&host))
            .map_err(|_| EndpointError::Malformed)?;
    }
    Ok(url.to_string())
}

/// `GET /json/version` on one address; the Host header is the address, which Chromium accepts.
/// Chromium keeps the connection open, so the body is read up to its `Content-Length`.
async fn fetch_version(addr: SocketAddr) -> anyhow::Result<Vec<u8>> {
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    let request =
        format!("GET /json/version HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut response = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let read = stream.read(&mut chunk).await?;
        if read == 0 {
            return Ok(response);
        }
        response.extend_from_slice(&chunk[..read]);
        anyhow::ensure!(
            response.len() as u64 <= MAX_VERSION_BYTES,
            "/json/version answer too large"
        );
        if let Some(expected) = complete_length(&response) {
            if response.len() >= expected {
                return Ok(response);
            }
        }
    }
}

/// The full length of an answer (head + `Content-Length`) once its head has arrived.
fn complete_length(response: &[u8]) -> Option<usize> {
    let head_end = response.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = std::str::from_utf8(&response[..head_end]).ok()?;
    let length = head.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("content-length")
            .then(|| value.trim().parse::<usize>().ok())?
    })?;
    Some(head_end + length)
}

/// The `webSocketDebuggerUrl` of a raw HTTP answer.
fn parse_version(response: &[u8]) -> anyhow::Result<String> {
    let text = std::str::from_utf8(response)?;
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| anyhow::anyhow!("no HTTP body"))?;
    anyhow::ensure!(
        head.starts_with("HTTP/1.1 200") || head.starts_with("HTTP/1.0 200"),
        "status not 200"
    );
    let json: serde_json::Value = serde_json::from_str(body.trim())?;
    json.get("webSocketDebuggerUrl")
        .and_then(|v| v.as_str())
        .map(str::to_string)
        .ok_or_else(|| anyhow::anyhow!("no webSocketDebuggerUrl"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_answers_yield_the_websocket_url() {
        let answer = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{\"Browser\":\"x\",\"webSocketDebuggerUrl\":\"ws://127.0.0.1:9222/devtools/browser/abc\"}";
        assert_eq!(
            parse_version(answer).unwrap(),
            "ws://127.0.0.1:9222/devtools/browser/abc"
        );
        assert!(parse_version(b"HTTP/1.1 404 Not Found\r\n\r\n{}").is_err());
        assert_eq!(
            complete_length(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{"),
            Some(40)
        );
        assert_eq!(complete_length(b"HTTP/1.1 200 OK\r\nContent-Len"), None);
    }

    #[tokio::test]
    async fn endpoints_outside_the_allow_list_are_refused_before_dialling() {
        let allow = AllowList::loopback();
        let refused = websocket_url(
            "ws://10.0.0.7:9222/devtools/browser/x",
            &allow,
            Duration::from_secs(1),
        )
        .await;
        assert!(matches!(refused, Err(EndpointError::NotAllowed(_))));
        let refused = websocket_url("http://10.0.0.7:9222", &allow, Duration::from_secs(1)).await;
        assert!(matches!(refused, Err(EndpointError::NotAllowed(_))));
        assert!(matches!(
            websocket_url("ftp://x", &allow, Duration::from_secs(1)).await,
            Err(EndpointError::Malformed)
        ));
        let pinned = websocket_url(
            "ws://127.0.0.1:9222/devtools/browser/x#pbs_1",
            &allow,
            Duration::from_secs(1),
        )
        .await;
        assert_eq!(pinned.unwrap(), "ws://127.0.0.1:9222/devtools/browser/x");
    }
}
