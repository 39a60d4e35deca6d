//! One browser as the operations see it: a connection actor handle plus the page sessions it
//! has attached (flattened `Target.attachToTarget`, reused across calls) and the last known
//! active tab. Everything goes through the actor; this type only keeps bookkeeping.
//!
//! The active tab is re-checked only when something may have changed it: a watcher inside the
//! actor bumps an epoch on target events (`Target.setDiscoverTargets`), on main-frame commits
//! and on the cached tab's own visibility/focus listeners (a binding, see
//! `plan::activity_listener_js`). While the epoch is the one the cache was verified at, an
//! operation costs no extra round trip. The race left is the one any check has: focus moving
//! while the command is already on its way.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use futures::future::join_all;
use serde_json::{json, Value};

use crate::cdp::{CallError, CdpHandle};
use crate::error::ExecutorError;
use crate::plan::{self, Step};
use service_kit::sync::lock;

/// A page target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageInfo {
    /// CDP target id (also the id of its main frame).
    pub target_id: String,
    /// Title.
    pub title: String,
    /// URL.
    pub url: String,
}

/// The tab operations act on, with its attached session.
#[derive(Debug, Clone)]
pub struct ActiveTab {
    /// CDP target id.
    pub target_id: String,
    /// The flattened session on it.
    pub session: String,
}

/// A connected browser.
#[derive(Debug)]
pub struct BrowserConn {
    cdp: CdpHandle,
    sessions: Mutex<HashMap<String, String>>,
    active: Mutex<Option<Cached>>,
    /// Bumped by the actor's watcher on every event that may change the active tab.
    epoch: Arc<AtomicU64>,
    watching: AtomicBool,
    /// Sessions whose documents carry the activity listeners.
    armed: Mutex<HashSet<String>>,
}

/// The last active tab and the epoch it was verified at (`None`: verify on next use).
#[derive(Debug, Clone)]
struct Cached {
    tab: ActiveTab,
    verified_at: Option<u64>,
}

impl From<CallError> for ExecutorError {
    fn from(error: CallError) -> Self {
        match error {
            CallError::Closed => ExecutorError::Unavailable(Some(error.into())),
            CallError::Protocol { .. } => ExecutorError::Cdp(error.into()),
        }
    }
}

impl BrowserConn {
    /// Wraps a connected actor.
    pub fn new(cdp: CdpHandle) -> Self {
        Self {
            cdp,
            sessions: Mutex::new(HashMap::new()),
            active: Mutex::new(None),
            epoch: Arc::new(AtomicU64::new(0)),
            watching: AtomicBool::new(false),
            armed: Mutex::new(HashSet::new()),
        }
    }

    /// The actor handle.
    pub fn cdp(&self) -> &CdpHandle {
        &self.cdp
    }

    /// Sends one command on `session` (or the browser).
    pub async fn call(
        &self,
        method: &'static str,
        session: Option<&str>,
        params: Value,
    ) -> Result<Value, ExecutorError> {
        Ok(self.cdp.call(method, session, params).await?)
    }

    /// Runs a plan on the tab, in order.
    pub async fn run(
        &self,
        tab: &ActiveTab,
        steps: Vec<Step>,
    ) -> Result<Vec<Value>, ExecutorError> {
        let mut results = Vec::with_capacity(steps.len());
        for step in steps {
            let session = (!step.browser).then_some(tab.session.as_str());
            results.push(self.call(step.method, session, step.params).await?);
        }
        Ok(results)
    }

    /// Evaluates `expression` in the page's main world and returns its value.
    pub async fn evaluate(&self, session: &str, expression: &str) -> Result<Value, ExecutorError> {
        let answer = self
            .call(
                "Runtime.evaluate",
                Some(session),
                json!({ "expression": expression, "returnByValue": true }),
            )
            .await?;
        if answer.get("exceptionDetails").is_some() {
            return Err(ExecutorError::Cdp(anyhow::anyhow!("page script threw")));
        }
        Ok(answer
            .pointer("/result/value")
            .cloned()
            .unwrap_or(Value::Null))
    }

    /// Every page target, in the browser's order (DevTools pages excluded).
    pub async fn pages(&self) -> Result<Vec<PageInfo>, ExecutorError> {
        let answer = self.call("Target.getTargets", None, json!({})).await?;
        let infos = answer
            .get("targetInfos")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let text = |v: &Value, k: &str| {
            v.get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        Ok(infos
            .iter()
            .filter(|t| text(t, "type") == "page" && !text(t, "url").starts_with("devtools://"))
            .map(|t| PageInfo {
                target_id: text(t, "targetId"),
                title: text(t, "title"),
                url: text(t, "url"),
            })
            .collect())
    }

    /// The session attached to `target_id`, attaching (and enabling page events) once.
    pub async fn session_for(&self, target_id: &str) -> Result<String, ExecutorError> {
        if let Some(session) = lock(&self.sessions).get(target_id) {
            return Ok(session.clone());
        }
        let session = self.attach(target_id).await?;
        self.call("Page.enable", Some(&session), json!({})).await?;
        lock(&self.sessions).insert(target_id.to_string(), session.clone());
        Ok(session)
    }

    /// A new flattened session on `target_id`, not shared: whoever attaches it detaches it.
    pub async fn attach(&self, target_id: &str) -> Result<String, ExecutorError> {
        let answer = self
            .call(
                "Target.attachToTarget",
                None,
                json!({ "targetId": target_id, "flatten": true }),
            )
            .await?;
        answer
            .get("sessionId")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| ExecutorError::Internal(anyhow::anyhow!("attach without a session id")))
    }

    fn forget(&self, target_id: &str) {
        let session = lock(&self.sessions).remove(target_id);
        if let Some(session) = session {
            lock(&self.armed).remove(&session);
        }
    }

    async fn probe(&self, session: &str) -> u8 {
        match self.evaluate(session, plan::ACTIVE_PROBE_JS).await {
            Ok(value) => plan::activity_score(&value),
            Err(_) => 0,
        }
    }

    /// The focused, visible page. The cached answer is used as is while nothing that could
    /// change it has happened since it was verified (no round trip); otherwise the cached tab
    /// is probed (one round trip) and, when it lost focus, every page is probed at once.
    pub async fn active_tab(&self) -> Result<ActiveTab, ExecutorError> {
        self.watch().await?;
        let epoch = self.epoch.load(Ordering::SeqCst);
        let cached = lock(&self.active).clone();
        if let Some(cached) = cached {
            if cached.verified_at == Some(epoch) {
                return Ok(cached.tab);
            }
            if self.probe(&cached.tab.session).await == 3 {
                self.remember(&cached.tab, Some(epoch));
                return Ok(cached.tab);
            }
        }
        let tab = self.find_active().await?;
        // A tab armed just now may have lost focus before its listeners existed: verify it
        // once more on the next call.
        let verified_at = self.arm(&tab.session).await.then_some(epoch);
        self.remember(&tab, verified_at);
        Ok(tab)
    }

    fn remember(&self, tab: &ActiveTab, verified_at: Option<u64>) {
        *lock(&self.active) = Some(Cached {
            tab: tab.clone(),
            verified_at,
        });
    }

    /// Probes every page at once and picks the active one, without caching it or installing
    /// listeners (what a one-shot connection does).
    pub async fn find_active(&self) -> Result<ActiveTab, ExecutorError> {
        let pages = self.pages().await?;
        let sessions = join_all(pages.iter().map(|p| self.fresh_session(&p.target_id))).await;
        let scores = join_all(sessions.iter().map(|s| async {
            match s {
                Ok(session) => self.probe(session).await,
                Err(_) => 0,
            }
        }))
        .await;
        let index = plan::choose_active(&scores)
            .ok_or(ExecutorError::FailedPrecondition("the browser has no page"))?;
        let session = sessions[index]
            .as_ref()
            .map_err(|_| ExecutorError::FailedPrecondition("the browser has no page"))?;
        Ok(ActiveTab {
            target_id: pages[index].target_id.clone(),
            session: session.clone(),
        })
    }

    /// Once per connection: the epoch watcher and target discovery.
    async fn watch(&self) -> Result<(), ExecutorError> {
        if self.watching.load(Ordering::SeqCst) {
            return Ok(());
        }
        let epoch = self.epoch.clone();
        self.cdp
            .watch(Box::new(move |event| {
                if plan::may_change_active_tab(&event.method, &event.params) {
                    epoch.fetch_add(1, Ordering::SeqCst);
                }
            }))
            .await?;
        self.call(
            "Target.setDiscoverTargets",
            None,
            json!({ "discover": true }),
        )
        .await?;
        self.watching.store(true, Ordering::SeqCst);
        Ok(())
    }

    /// Installs the activity listeners on `session`'s current and future documents. True
    /// when they were already there; a failure leaves the tab to be verified on every use.
    async fn arm(&self, session: &str) -> bool {
        if lock(&self.armed).contains(session) {
            return true;
        }
        let script = plan::activity_listener_js();
        let installed = async {
            self.call("Runtime.enable", Some(session), json!({}))
                .await?;
            self.call(
                "Runtime.addBinding",
                Some(session),
                json!({ "name": plan::ACTIVITY_BINDING }),
            )
            .await?;
            self.call(
                "Page.addScriptToEvaluateOnNewDocument",
                Some(session),
                json!({ "source": script }),
            )
            .await?;
            self.evaluate(session, &script).await
        }
        .await;
        if installed.is_ok() {
            lock(&self.armed).insert(session.to_string());
        }
        false
    }

    /// Evaluates `expression` on the active tab. While the last active tab still has focus this
    /// is one round trip: the activity probe runs in the same evaluation.
    pub async fn evaluate_on_active(&self, expression: &str) -> Result<Value, ExecutorError> {
        let cached = lock(&self.active).clone();
        if let Some(Cached { tab, .. }) = cached {
            let guarded = plan::guarded_by_probe(expression);
            if let Ok(answer) = self.evaluate(&tab.session, &guarded).await {
                if answer.get("active") == Some(&Value::Bool(true)) {
                    return Ok(answer.get("value").cloned().unwrap_or(Value::Null));
                }
            }
        }
        let tab = self.active_tab().await?;
        self.evaluate(&tab.session, expression).await
    }

    /// A session that answers: a cached one is checked, and replaced when it has gone stale.
    async fn fresh_session(&self, target_id: &str) -> Result<String, ExecutorError> {
        let session = self.session_for(target_id).await?;
        match self
            .cdp
            .call(
                "Runtime.evaluate",
                Some(&session),
                json!({ "expression": "1" }),
            )
            .await
        {
            Err(CallError::Protocol { .. }) => {
                self.forget(target_id);
                self.session_for(target_id).await
            }
            Err(CallError::Closed) => Err(CallError::Closed.into()),
            Ok(_) => Ok(session),
        }
    }

    /// The active tab's page info (URL and title).
    pub async fn active_info(&self, tab: &ActiveTab) -> Result<PageInfo, ExecutorError> {
        self.pages()
            .await?
            .into_iter()
            .find(|p| p.target_id == tab.target_id)
            .ok_or(ExecutorError::FailedPrecondition("the active tab closed"))
    }
}
