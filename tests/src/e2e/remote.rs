//! The remote side of an end-to-end test: the page the browser node's Chromium shows (served by
//! the test on loopback), and a DevTools probe that reads that page's state directly, so a test
//! can check what really arrived in the remote browser.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;

/// The page shown in the remote browser: three coloured bands (so the viewer's canvas has known
/// colours), a sentence to select, and a focused text field.
pub const TEST_PAGE_HTML: &str = r#"<!doctype html>
<html><head><meta charset="utf-8"><title>browser-stream e2e page</title></head>
<body style="margin:0;font:28px sans-serif;background:#fafafa">
<div style="display:flex;height:45vh">
  <div style="flex:1;background:#d32f2f"></div>
  <div style="flex:1;background:#388e3c"></div>
  <div style="flex:1;background:#1976d2"></div>
</div>
<p id="sentence" style="margin:24px">The remote page of the browser-stream end-to-end test.</p>
<input id="field" autofocus autocomplete="off" style="margin:0 24px;font-size:32px;width:70%">
</body></html>"#;

/// The red, green and blue of the page's bands (RGB).
pub const BAND_COLOURS: [[u8; 3]; 3] = [[0xd3, 0x2f, 0x2f], [0x38, 0x8e, 0x3c], [0x19, 0x76, 0xd2]];

/// Longest HTTP request head the page server reads.
const MAX_REQUEST_HEAD: usize = 16 * 1024;
/// Bound on every DevTools exchange of the probe.
const PROBE_TIMEOUT: Duration = Duration::from_secs(15);

/// A one-page HTTP server on 127.0.0.1:0 serving [`TEST_PAGE_HTML`] at every path.
pub struct TestPage {
    /// Where it listens.
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl TestPage {
    /// Starts the server of the test page.
    pub async fn start() -> anyhow::Result<Self> {
        Self::serving(TEST_PAGE_HTML).await
    }

    /// Starts a server answering every request with `html` (e.g. a page that frames the
    /// viewer, on an origin of its own).
    pub async fn serving(html: &'static str) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n")
                        && head.len() < MAX_REQUEST_HEAD
                    {
                        match stream.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    let response = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{html}",
                        html.len()
                    );
                    let _ = stream.write_all(response.as_bytes()).await;
                });
            }
        });
        Ok(Self { addr, task })
    }

    /// `http://127.0.0.1:P/`.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }
}

impl Drop for TestPage {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Reads the remote page's state over DevTools (a page-level WebSocket, opened per call, so it
/// never disturbs the executor's own connection).
#[derive(Clone)]
pub struct RemotePage {
    /// The remote Chromium's DevTools HTTP address.
    pub devtools: SocketAddr,
    /// A prefix of the URL of the page to probe.
    pub url_prefix: String,
}

impl RemotePage {
    /// Evaluates `expression` in the page and returns its value (JSON).
    pub async fn evaluate(&self, expression: &str) -> anyhow::Result<serde_json::Value> {
        tokio::time::timeout(PROBE_TIMEOUT, self.evaluate_now(expression))
            .await
            .context("DevTools probe timed out")?
    }

    /// The value of the page's `#field`.
    pub async fn field_value(&self) -> anyhow::Result<String> {
        let value = self
            .evaluate("document.getElementById('field').value")
            .await?;
        value
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| anyhow!("#field has no string value: {value}"))
    }

    async fn evaluate_now(&self, expression: &str) -> anyhow::Result<serde_json::Value> {
        let ws_url = self.page_ws_url().await?;
        let (mut ws, _) = tokio_tungstenite::connect_async(ws_url.as_str()).await?;
        let request = serde_json::json!({
            "id": 1,
            "method": "Runtime.evaluate",
            "params": { "expression": expression, "returnByValue": true, "awaitPromise": true },
        });
        ws.send(Message::Text(request.to_string().into())).await?;
        while let Some(frame) = ws.next().await {
            let Message::Text(text) = frame? else {
                continue;
            };
            let reply: serde_json::Value = serde_json::from_str(&text)?;
            if reply["id"] != 1 {
                continue;
            }
            if let Some(exception) = reply["result"].get("exceptionDetails") {
                bail!("remote page threw: {exception}");
            }
            let _ = ws.close(None).await;
            return Ok(reply["result"]["result"]["value"].clone());
        }
        bail!("DevTools closed before answering")
    }

    async fn page_ws_url(&self) -> anyhow::Result<String> {
        let body = get_json_list(self.devtools).await?;
        let targets: Vec<serde_json::Value> = serde_json::from_slice(&body)?;
        targets
            .iter()
            .find(|t| {
                t["type"] == "page"
                    && t["url"]
                        .as_str()
                        .is_some_and(|u| u.starts_with(&self.url_prefix))
            })
            .and_then(|t| t["webSocketDebuggerUrl"].as_str())
            .map(str::to_owned)
            .ok_or_else(|| {
                anyhow!(
                    "no page at {} among {} targets",
                    self.url_prefix,
                    targets.len()
                )
            })
    }
}

/// Largest `/json/list` answer read.
const MAX_LIST_BYTES: usize = 1024 * 1024;

/// `GET /json/list`. DevTools keeps the connection open whatever the request says, so the body
/// is read by its `content-length`, not to the end of the stream.
async fn get_json_list(devtools: SocketAddr) -> anyhow::Result<Vec<u8>> {
    let mut stream = tokio::net::TcpStream::connect(devtools).await?;
    stream
        .write_all(format!("GET /json/list HTTP/1.1\r\nhost: {devtools}\r\n\r\n").as_bytes())
        .await?;
    let mut data = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&data[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|line| line.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .ok_or_else(|| anyhow!("/json/list answered without content-length: {head}"))?;
            if length > MAX_LIST_BYTES {
                bail!("/json/list is {length} bytes");
            }
            if data.len() >= end + 4 + length {
                return Ok(data[end + 4..end + 4 + length].to_vec());
            }
        }
        if data.len() > MAX_LIST_BYTES + MAX_REQUEST_HEAD {
            bail!("/json/list answer too large");
        }
        match stream.read(&mut buf).await? {
            0 => bail!("DevTools closed the connection mid-answer"),
            n => data.extend_from_slice(&buf[..n]),
        }
    }
}
