//! The observer: a DevTools connection of its own to the tab (the page target's WebSocket,
//! found through `/json/list`), which shows the paste page, clears and arms its field before
//! each sample, and answers when text has arrived in it. Every path is timed through it, so
//! its own cost is in every row alike. It never pastes.

use std::time::Duration;

use anyhow::{bail, Context};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{timeout, timeout_at, Instant};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Bound on the DevTools HTTP request, the WebSocket upgrade and each reply.
const WAIT: Duration = Duration::from_secs(20);
/// Largest `/json/list` answer read.
const MAX_LIST: usize = 1 << 20;

/// Clears the field, focuses it, and leaves a promise of its value at the next `input` event.
const ARM: &str = "(() => { const i = document.getElementById('i'); i.value = ''; \
    if (document.activeElement !== i) i.focus(); \
    window.__paste = new Promise(r => i.addEventListener('input', () => r(i.value), { once: true })); \
    return document.activeElement === i; })()";

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A DevTools connection to the tab.
pub struct Observer {
    ws: Ws,
    next_id: u64,
}

impl Observer {
    /// Connects to the first page target of the browser at `cdp_http` (`http://host:port`).
    pub async fn connect(cdp_http: &str) -> anyhow::Result<Self> {
        let authority = cdp_http
            .strip_prefix("http://")
            .with_context(|| format!("not an http DevTools URL: {cdp_http:?}"))?
            .trim_end_matches('/');
        let list = timeout(WAIT, http_get(authority, "/json/list"))
            .await
            .context("/json/list in time")??;
        let targets: Vec<Value> = serde_json::from_str(&list).context("/json/list is JSON")?;
        let page = targets
            .iter()
            .find(|t| t["type"] == "page")
            .and_then(|t| t["webSocketDebuggerUrl"].as_str())
            .context("the browser has no page target")?;
        let (ws, _) = timeout(WAIT, tokio_tungstenite::connect_async(page))
            .await
            .context("DevTools upgrade in time")??;
        Ok(Self { ws, next_id: 1 })
    }

    /// The browser's product and version (`HeadlessChrome/…`).
    pub async fn browser(&mut self) -> anyhow::Result<String> {
        let version = self.call("Browser.getVersion", json!({})).await?;
        Ok(version["product"].as_str().unwrap_or("unknown").to_owned())
    }

    /// Opens `url` in the tab and waits until it has loaded and its field has focus.
    pub async fn show(&mut self, url: &str) -> anyhow::Result<()> {
        self.call("Page.navigate", json!({ "url": url })).await?;
        let deadline = Instant::now() + WAIT;
        loop {
            let ready = self
                .eval("document.readyState === 'complete' && !!document.getElementById('i')")
                .await
                .unwrap_or(Value::Null);
            if ready == Value::Bool(true) {
                break;
            }
            if Instant::now() > deadline {
                bail!("the paste page did not load in time");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.arm().await
    }

    /// Clears the field and arms the promise that [`Observer::watch`] awaits.
    pub async fn arm(&mut self) -> anyhow::Result<()> {
        if self.eval(ARM).await? != Value::Bool(true) {
            bail!("the paste page's field does not take focus");
        }
        Ok(())
    }

    /// Sends the evaluation that answers with the field's value at its next `input` event;
    /// its id, for [`Observer::seen`].
    pub async fn watch(&mut self) -> anyhow::Result<u64> {
        let params = json!({
            "expression": "window.__paste",
            "awaitPromise": true,
            "returnByValue": true,
        });
        self.send("Runtime.evaluate", params).await
    }

    /// Waits (up to `within`) for the answer to [`Observer::watch`]: the field's value.
    pub async fn seen(&mut self, id: u64, within: Duration) -> anyhow::Result<Value> {
        let result = self.answer(id, within).await?;
        value_of(result)
    }

    async fn eval(&mut self, expression: &str) -> anyhow::Result<Value> {
        let params = json!({ "expression": expression, "returnByValue": true });
        let result = self.call("Runtime.evaluate", params).await?;
        value_of(result)
    }

    async fn call(&mut self, method: &str, params: Value) -> anyhow::Result<Value> {
        let id = self.send(method, params).await?;
        self.answer(id, WAIT)
            .await
            .with_context(|| method.to_owned())
    }

    async fn send(&mut self, method: &str, params: Value) -> anyhow::Result<u64> {
        let id = self.next_id;
        self.next_id += 1;
        let command = json!({ "id": id, "method": method, "params": params }).to_string();
        timeout(WAIT, self.ws.send(Message::Text(command.into())))
            .await
            .context("DevTools send in time")??;
        Ok(id)
    }

    /// Reads until the reply to `id` (earlier replies and events are dropped).
    async fn answer(&mut self, id: u64, within: Duration) -> anyhow::Result<Value> {
        let deadline = Instant::now() + within;
        loop {
            let next = timeout_at(deadline, self.ws.next())
                .await
                .with_context(|| format!("no DevTools reply within {} s", within.as_secs()))?;
            let text = match next {
                Some(Ok(Message::Text(text))) => text,
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Err(e).context("DevTools socket"),
                None => bail!("the DevTools socket closed"),
            };
            let Ok(mut reply) = serde_json::from_str::<Value>(&text) else {
                continue;
            };
            if reply["id"] != id {
                continue;
            }
            if let Some(error) = reply.get("error") {
                bail!("DevTools error {error}");
            }
            return Ok(reply["result"].take());
        }
    }
}

/// The value of a `Runtime.evaluate` result, or its exception.
fn value_of(mut result: Value) -> anyhow::Result<Value> {
    if let Some(exception) = result.get("exceptionDetails") {
        bail!("the page threw: {}", exception["text"]);
    }
    Ok(result["result"]["value"].take())
}

/// A plain HTTP/1.1 GET of `path` on `authority`; the body.
async fn http_get(authority: &str, path: &str) -> anyhow::Result<String> {
    let mut stream = TcpStream::connect(authority).await?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut received = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let n = stream.read(&mut chunk).await?;
        received.extend_from_slice(&chunk[..n]);
        if let Some(body) = complete_body(&received)? {
            return Ok(body);
        }
        if n == 0 {
            bail!("the DevTools server closed before the whole answer");
        }
        if received.len() > MAX_LIST {
            bail!("the DevTools answer is over {MAX_LIST} bytes");
        }
    }
}

/// The body once `received` holds the whole response (by its `Content-Length`).
fn complete_body(received: &[u8]) -> anyhow::Result<Option<String>> {
    let Some(end) = received.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Ok(None);
    };
    let head = String::from_utf8_lossy(&received[..end]);
    if !head.starts_with("HTTP/1.1 200") && !head.starts_with("HTTP/1.0 200") {
        bail!(
            "DevTools answered {:?}",
            head.lines().next().unwrap_or_default()
        );
    }
    let length = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().ok())?
        })
        .context("no Content-Length in the DevTools answer")?;
    let body = &received[end + 4..];
    if body.len() < length {
        return Ok(None);
    }
    Ok(Some(String::from_utf8_lossy(&body[..length]).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_is_complete_once_its_content_length_has_arrived() {
        let head = b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n";
        let partial = [&head[..], b"[]"].concat();
        let whole = [&head[..], b"[{}]"].concat();
        assert_eq!(complete_body(&partial).unwrap(), None);
        assert_eq!(complete_body(&whole).unwrap().as_deref(), Some("[{}]"));
        assert_eq!(complete_body(&head[..10]).unwrap(), None);
    }

    #[test]
    fn an_error_status_is_an_error() {
        assert!(complete_body(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n").is_err());
    }
}
