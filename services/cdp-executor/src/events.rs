//! `StreamUserEvents`: one task per stream attaches its own session to every page (new ones
//! included), injects `events/capture.js` (which redacts sensitive values in the page) through
//! a stream-unique binding, turns binding calls and main-frame navigations into numbered,
//! deduplicated events, and removes everything it injected when the stream ends.
//!
//! Slow consumers: the stream's buffer is bounded; when it is full the stream ends with
//! RESOURCE_EXHAUSTED ("consumer too slow") rather than dropping events silently.

mod capture;

use std::sync::Arc;

use proto::cdp::v1::UserEvent;
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tonic::Status;

use crate::browser::BrowserConn;
use crate::cdp::CdpEvent;
use crate::metrics::Metrics;
use crate::pool::Lease;

pub use capture::{capture_script, parse_binding_payload, Dedup, PagePayload};

/// CDP events buffered between the connection and one stream task.
const CDP_EVENT_BUFFER: usize = 4096;

/// One page the stream has instrumented.
struct Installed {
    session: String,
    target_id: String,
    script_id: Option<String>,
}

/// Runs one stream until the consumer leaves, `token` fires or the browser goes away, then
/// removes what it injected.
pub async fn run(
    browser: Arc<BrowserConn>,
    _lease: Lease,
    tx: mpsc::Sender<Result<UserEvent, Status>>,
    token: CancellationToken,
    metrics: Arc<Metrics>,
) {
    metrics.streams.inc();
    let binding = format!("__bsUserEvents_{}", uuid::Uuid::new_v4().simple());
    let mut stream = Stream {
        browser,
        binding,
        installed: Vec::new(),
        sequence: 0,
        dedup: Dedup::new(4096),
        tx,
        metrics,
    };
    let outcome = stream.pump(&token).await;
    stream.teardown().await;
    if let Err(status) = outcome {
        // The buffer always keeps one slot for this final error.
        let _ = stream.tx.try_send(Err(status));
    }
    stream.metrics.streams.dec();
}

struct Stream {
    browser: Arc<BrowserConn>,
    binding: String,
    installed: Vec<Installed>,
    sequence: u64,
    dedup: Dedup,
    tx: mpsc::Sender<Result<UserEvent, Status>>,
    metrics: Arc<Metrics>,
}

impl Stream {
    async fn pump(&mut self, token: &CancellationToken) -> Result<(), Status> {
        let unavailable = |_| Status::unavailable("browser unavailable");
        let mut events = self
            .browser
            .cdp()
            .subscribe(CDP_EVENT_BUFFER)
            .await
            .map_err(unavailable)?;
        self.browser
            .cdp()
            .call(
                "Target.setDiscoverTargets",
                None,
                json!({ "discover": true }),
            )
            .await
            .map_err(unavailable)?;
        let pages = self
            .browser
            .pages()
            .await
            .map_err(|_| Status::unavailable("browser unavailable"))?;
        for page in pages {
            self.install(&page.target_id).await;
        }
        loop {
            tokio::select! {
                () = token.cancelled() => return Ok(()),
                () = self.tx.closed() => return Ok(()),
                event = events.recv() => match event {
                    Some(event) => self.handle(&event).await?,
                    None if self.browser.cdp().is_closed() => return Err(Status::unavailable("browser unavailable")),
                    None => return Err(Status::resource_exhausted("event stream overflowed")),
                },
            }
        }
    }

    async fn install(&mut self, target_id: &str) {
        if self.installed.iter().any(|i| i.target_id == target_id) {
            return;
        }
        match self.try_install(target_id).await {
            Ok(installed) => self.installed.push(installed),
            // A tab that closed while we attached is not an error of the stream.
            Err(error) => tracing::debug!(error = ?error, "page not instrumented"),
        }
    }

    async fn try_install(&self, target_id: &str) -> Result<Installed, crate::error::ExecutorError> {
        let cdp = self.browser.cdp();
        let session = self.browser.attach(target_id).await?;
        let mut installed = Installed {
            session: session.clone(),
            target_id: target_id.to_string(),
            script_id: None,
        };
        let s = Some(session.as_str());
        cdp.call("Page.enable", s, json!({})).await?;
        cdp.call("Runtime.enable", s, json!({})).await?;
        cdp.call("Runtime.addBinding", s, json!({ "name": self.binding }))
            .await?;
        let script = capture_script(&self.binding);
        let added = cdp
            .call(
                "Page.addScriptToEvaluateOnNewDocument",
                s,
                json!({ "source": script }),
            )
            .await?;
        installed.script_id = added
            .get("identifier")
            .and_then(Value::as_str)
            .map(str::to_string);
        cdp.call("Runtime.evaluate", s, json!({ "expression": script }))
            .await?;
        Ok(installed)
    }

    async fn handle(&mut self, event: &CdpEvent) -> Result<(), Status> {
        let on = |s: &Option<String>| {
            self.installed
                .iter()
                .position(|i| s.as_deref() == Some(i.session.as_str()))
        };
        match event.method.as_str() {
            "Target.targetCreated" if event.session_id.is_none() => {
                let info = &event.params["targetInfo"];
                if info["type"] == "page" {
                    if let Some(id) = info["targetId"].as_str() {
                        self.install(id).await;
                    }
                }
            }
            "Target.targetDestroyed" => {
                let id = event.params["targetId"].as_str().unwrap_or_default();
                self.installed.retain(|i| i.target_id != id);
            }
            "Target.detachedFromTarget" => {
                let id = event.params["sessionId"].as_str().unwrap_or_default();
                self.installed.retain(|i| i.session != id);
            }
            "Runtime.bindingCalled" if event.params["name"] == self.binding.as_str() => {
                if let Some(index) = on(&event.session_id) {
                    let payload = event.params["payload"].as_str().unwrap_or_default();
                    if let Some(page) = parse_binding_payload(payload) {
                        if self.dedup.first_time(&page.doc_id, page.seq) {
                            let tab = self.installed[index].target_id.clone();
                            self.emit(&page.event_name, page.detail, "page", tab, page.url)?;
                        }
                    }
                }
            }
            "Page.frameNavigated" if event.params["frame"].get("parentId").is_none() => {
                if let Some(index) = on(&event.session_id) {
                    let url = event.params["frame"]["url"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string();
                    let tab = self.installed[index].target_id.clone();
                    self.emit("navigation", json!({ "url": url }), "cdp", tab, url)?;
                }
            }
            "Page.navigatedWithinDocument" => {
                if let Some(index) = on(&event.session_id) {
                    let tab = self.installed[index].target_id.clone();
                    if event.params["frameId"].as_str() == Some(tab.as_str()) {
                        let url = event.params["url"].as_str().unwrap_or_default().to_string();
                        self.emit(
                            "navigation",
                            json!({ "url": url, "sameDocument": true }),
                            "cdp",
                            tab,
                            url,
                        )?;
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn emit(
        &mut self,
        name: &str,
        params: Value,
        source: &str,
        tab_id: String,
        url: String,
    ) -> Result<(), Status> {
        // Keep one slot free for the closing error.
        if self.tx.capacity() <= 1 {
            return Err(Status::resource_exhausted("consumer too slow"));
        }
        self.sequence += 1;
        let event = UserEvent {
            sequence: self.sequence,
            event_name: name.to_string(),
            params_json: params.to_string(),
            source: source.to_string(),
            tab_id,
            url,
            timestamp: Some(prost_types::Timestamp::from(std::time::SystemTime::now())),
        };
        self.tx
            .try_send(Ok(event))
            .map_err(|_| Status::resource_exhausted("consumer too slow"))?;
        self.metrics.events_sent.inc();
        Ok(())
    }

    /// Removes the listeners, the init script and the binding from every page, then detaches.
    async fn teardown(&mut self) {
        let cdp = self.browser.cdp().clone();
        // Runtime.removeBinding does not delete the page's function: the teardown does.
        let teardown_js = format!(
            "(() => {{ const b = '{0}'; if (window[b + '_installed']) window[b + '_installed'].teardown(); delete window[b]; }})()",
            self.binding
        );
        for installed in self.installed.drain(..) {
            let s = Some(installed.session.as_str());
            let _ = cdp
                .call("Runtime.evaluate", s, json!({ "expression": teardown_js }))
                .await;
            if let Some(id) = &installed.script_id {
                let _ = cdp
                    .call(
                        "Page.removeScriptToEvaluateOnNewDocument",
                        s,
                        json!({ "identifier": id }),
                    )
                    .await;
            }
            let _ = cdp
                .call("Runtime.removeBinding", s, json!({ "name": self.binding }))
                .await;
            let _ = cdp
                .call(
                    "Target.detachFromTarget",
                    None,
                    json!({ "sessionId": installed.session }),
                )
                .await;
        }
    }
}
