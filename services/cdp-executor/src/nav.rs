//! Guarded navigation of the active tab: `Navigate`, `Reload`, `GoBack`, `GoForward`. While one
//! runs, top-level document requests are intercepted (`Fetch`), every hop is checked by the
//! guard, and a refused hop is answered `204 No Content`, so nothing commits and the tab stays
//! where it was. A cancelled navigation stops loading and removes the interception. A
//! navigation that fails or runs out of time resets the tab to `about:blank` before answering,
//! so a late commit cannot land after the answer (incumbent spec §9.6 step 4).

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::browser::{ActiveTab, BrowserConn};
use crate::cdp::CdpEvent;
use crate::error::ExecutorError;
use crate::guard::{Guard, Refusal};
use crate::plan;

/// Events buffered while a navigation runs.
const NAV_EVENT_BUFFER: usize = 1024;

/// Time limits of one navigation.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// When the navigation gives up (the operation's deadline).
    pub deadline: Instant,
    /// How long resetting the tab to `about:blank` may take after that.
    pub reset: Duration,
}

/// How a navigation command reports completion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Completion {
    /// `Page.navigate`: its answer says whether a new document loads (`loaderId`).
    NavigateAnswer,
    /// `Page.reload` / `Page.navigateToHistoryEntry`: answered at once; wait for the page.
    PageEvents,
}

/// Undoes the interception even when the call is dropped half-way (cancelled or timed out).
struct InterceptionGuard<'a> {
    browser: &'a BrowserConn,
    session: String,
    done: bool,
}

impl Drop for InterceptionGuard<'_> {
    fn drop(&mut self) {
        if !self.done {
            // Stop first, so a request still paused cannot continue unchecked.
            self.browser
                .cdp()
                .fire("Page.stopLoading", Some(&self.session), json!({}));
        }
        self.browser
            .cdp()
            .fire("Fetch.disable", Some(&self.session), json!({}));
    }
}

fn refusal(r: Refusal) -> ExecutorError {
    match r {
        Refusal::Invalid => ExecutorError::InvalidArgument("the URL is malformed"),
        Refusal::Scheme => {
            ExecutorError::PermissionDenied("only http and https URLs may be opened")
        }
        Refusal::Destination => ExecutorError::PermissionDenied("the destination is not allowed"),
    }
}

/// `Navigate`: the URL is normalised and checked, then opened with every hop checked.
pub async fn navigate(
    browser: &BrowserConn,
    guard: &Guard,
    input: &str,
    limits: Limits,
) -> Result<String, ExecutorError> {
    let url = crate::guard::normalize(input).map_err(refusal)?;
    guard.check(url.as_str()).await.map_err(refusal)?;
    let tab = browser.active_tab().await?;
    run(
        browser,
        guard,
        &tab,
        "Page.navigate",
        json!({ "url": url.as_str() }),
        Completion::NavigateAnswer,
        limits,
    )
    .await?;
    current_url(browser, &tab).await
}

/// `Reload {hard}`: the current entry is checked, the cache cleared first when hard.
pub async fn reload(
    browser: &BrowserConn,
    guard: &Guard,
    hard: bool,
    limits: Limits,
) -> Result<String, ExecutorError> {
    let tab = browser.active_tab().await?;
    checked_history_entry(browser, guard, &tab, 0).await?;
    if hard {
        browser
            .call("Network.clearBrowserCache", Some(&tab.session), json!({}))
            .await?;
    }
    run(
        browser,
        guard,
        &tab,
        "Page.reload",
        json!({ "ignoreCache": hard }),
        Completion::PageEvents,
        limits,
    )
    .await?;
    current_url(browser, &tab).await
}

/// `GoBack` (-1) / `GoForward` (+1): out of range is a no-op; the entry is checked first.
pub async fn history(
    browser: &BrowserConn,
    guard: &Guard,
    offset: i64,
    limits: Limits,
) -> Result<String, ExecutorError> {
    let tab = browser.active_tab().await?;
    if let Some(entry) = checked_history_entry(browser, guard, &tab, offset).await? {
        let params = json!({ "entryId": entry.id });
        run(
            browser,
            guard,
            &tab,
            "Page.navigateToHistoryEntry",
            params,
            Completion::PageEvents,
            limits,
        )
        .await?;
    }
    current_url(browser, &tab).await
}

/// The history entry `offset` away from the current one (0: the current one), its URL checked
/// by the guard; `None` when there is no such entry.
async fn checked_history_entry(
    browser: &BrowserConn,
    guard: &Guard,
    tab: &ActiveTab,
    offset: i64,
) -> Result<Option<plan::HistoryEntry>, ExecutorError> {
    let history = browser
        .call("Page.getNavigationHistory", Some(&tab.session), json!({}))
        .await?;
    let entry = plan::history_target(&history, offset);
    if let Some(entry) = &entry {
        guard.check(&entry.url).await.map_err(refusal)?;
    }
    Ok(entry)
}

async fn current_url(browser: &BrowserConn, tab: &ActiveTab) -> Result<String, ExecutorError> {
    let value = browser.evaluate(&tab.session, "location.href").await?;
    Ok(value.as_str().unwrap_or_default().to_string())
}

/// Runs one navigation command under interception until the page has loaded (DOMContentLoaded,
/// a same-document navigation, or a back/forward-cache restore). When it fails to load or
/// the deadline passes, the tab is reset to `about:blank` before the error is returned.
async fn run(
    browser: &BrowserConn,
    guard: &Guard,
    tab: &ActiveTab,
    method: &'static str,
    params: Value,
    completion: Completion,
    limits: Limits,
) -> Result<(), ExecutorError> {
    let (mut events, mut cleanup) = intercept(browser, tab).await?;
    let command = browser.call(method, Some(&tab.session), params);
    let driven = tokio::time::timeout_at(
        limits.deadline,
        drive(browser, guard, tab, command, &mut events, completion),
    )
    .await
    .unwrap_or(Err(ExecutorError::DeadlineExceeded));
    let outcome = match driven {
        Ok(progress) if progress.blocked => Err(ExecutorError::PermissionDenied(
            "the destination is not allowed",
        )),
        Ok(_) => Ok(()),
        Err(ExecutorError::DeadlineExceeded) => {
            reset_to_blank(browser, tab, limits.reset).await?;
            Err(ExecutorError::DeadlineExceeded)
        }
        // The load ended with an error page, so nothing can commit late; the reset is best
        // effort (during the error page's process swap the session may refuse commands).
        Err(error @ ExecutorError::FailedPrecondition(_)) => {
            if let Err(reset) = reset_to_blank(browser, tab, limits.reset).await {
                tracing::debug!(error = %reset, "reset after a failed navigation");
            }
            Err(error)
        }
        Err(error) => return Err(error),
    };
    cleanup.done = true;
    outcome
}

/// Subscribes to events, then turns on interception of top-level document requests; the
/// returned guard undoes it however the navigation ends.
async fn intercept<'a>(
    browser: &'a BrowserConn,
    tab: &ActiveTab,
) -> Result<(mpsc::Receiver<Arc<CdpEvent>>, InterceptionGuard<'a>), ExecutorError> {
    let events = browser.cdp().subscribe(NAV_EVENT_BUFFER).await?;
    let interception = plan::guard_interception();
    browser
        .call(interception.method, Some(&tab.session), interception.params)
        .await?;
    let cleanup = InterceptionGuard {
        browser,
        session: tab.session.clone(),
        done: false,
    };
    Ok((events, cleanup))
}

/// Where a running navigation stands.
#[derive(Debug, Clone, Copy)]
struct Progress {
    answered: bool,
    loaded: bool,
    needs_load: bool,
    blocked: bool,
}

impl Progress {
    fn finished(&self) -> bool {
        self.answered && (self.loaded || !self.needs_load)
    }
}

/// Whether to keep waiting after a step.
#[derive(Debug, PartialEq, Eq)]
enum Flow {
    Continue,
    Stop,
}

/// Waits for the command's answer and the page events until the navigation is finished,
/// answering every paused request on the way.
async fn drive(
    browser: &BrowserConn,
    guard: &Guard,
    tab: &ActiveTab,
    command: impl std::future::Future<Output = Result<Value, ExecutorError>>,
    events: &mut mpsc::Receiver<Arc<CdpEvent>>,
    completion: Completion,
) -> Result<Progress, ExecutorError> {
    tokio::pin!(command);
    let mut progress = Progress {
        answered: false,
        loaded: false,
        needs_load: true,
        blocked: false,
    };
    while !progress.finished() {
        let flow = tokio::select! {
            answer = &mut command, if !progress.answered => {
                on_answer(&mut progress, answer?, completion)?
            }
            event = events.recv() => {
                let event = event.ok_or(ExecutorError::Unavailable(None))?;
                on_event(browser, guard, tab, &mut progress, &event, completion).await?
            }
        };
        if flow == Flow::Stop {
            break;
        }
    }
    Ok(progress)
}

/// The navigation command answered: `Page.navigate` says whether a new document loads.
fn on_answer(
    progress: &mut Progress,
    answer: Value,
    completion: Completion,
) -> Result<Flow, ExecutorError> {
    progress.answered = true;
    if completion != Completion::NavigateAnswer {
        return Ok(Flow::Continue);
    }
    if progress.blocked {
        return Ok(Flow::Stop);
    }
    let error = answer.get("errorText").and_then(Value::as_str);
    if error.is_some_and(|t| !t.is_empty()) {
        return Err(ExecutorError::FailedPrecondition(
            "the page could not be loaded",
        ));
    }
    // No loaderId: a same-document navigation, complete already.
    let loader = answer.get("loaderId").and_then(Value::as_str);
    progress.needs_load = loader.is_some_and(|l| !l.is_empty());
    Ok(Flow::Continue)
}

/// One page event of the tab: a paused request is checked and answered; load events finish.
async fn on_event(
    browser: &BrowserConn,
    guard: &Guard,
    tab: &ActiveTab,
    progress: &mut Progress,
    event: &CdpEvent,
    completion: Completion,
) -> Result<Flow, ExecutorError> {
    if event.session_id.as_deref() != Some(tab.session.as_str()) {
        return Ok(Flow::Continue);
    }
    match event.method.as_str() {
        "Fetch.requestPaused" => {
            let allowed = decide(guard, tab, &event.params).await;
            progress.blocked |= !allowed;
            let request_id = event.params.get("requestId").and_then(Value::as_str);
            let verdict = plan::guard_verdict(request_id.unwrap_or_default(), allowed);
            browser
                .call(verdict.method, Some(&tab.session), verdict.params)
                .await?;
            if progress.blocked && completion == Completion::PageEvents {
                return Ok(Flow::Stop);
            }
        }
        "Page.domContentEventFired" | "Page.navigatedWithinDocument" => progress.loaded = true,
        "Page.frameNavigated" => {
            let kind = event.params.pointer("/type").and_then(Value::as_str);
            let main = event.params.pointer("/frame/parentId").is_none();
            progress.loaded |= main && kind == Some("BackForwardCacheRestore");
        }
        _ => {}
    }
    Ok(Flow::Continue)
}

/// Stops the pending load and opens `about:blank`, within `limit`, so the abandoned
/// navigation cannot commit later. A reset that fails is an error of its own (INTERNAL for a
/// CDP error, UNAVAILABLE when it times out).
async fn reset_to_blank(
    browser: &BrowserConn,
    tab: &ActiveTab,
    limit: Duration,
) -> Result<(), ExecutorError> {
    let session = Some(tab.session.as_str());
    let reset = async {
        // Stopping may fail when nothing loads any more; the navigation below is what counts.
        let _ = browser.call("Page.stopLoading", session, json!({})).await;
        browser
            .call("Page.navigate", session, json!({ "url": "about:blank" }))
            .await?;
        browser.call("Fetch.disable", session, json!({})).await
    };
    tokio::time::timeout(limit, reset)
        .await
        .map_err(|_| ExecutorError::Unavailable(None))?
        .map(|_| ())
}

/// Checks one paused document request: main-frame hops go through the guard, subframes pass.
async fn decide(guard: &Guard, tab: &ActiveTab, params: &Value) -> bool {
    let frame = params
        .get("frameId")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if frame != tab.target_id {
        return true;
    }
    let url = params
        .pointer("/request/url")
        .and_then(Value::as_str)
        .unwrap_or_default();
    guard.check(url).await.is_ok()
}
