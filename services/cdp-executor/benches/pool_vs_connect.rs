//! Pooled operations (through the real gRPC server, in-process) against two
//! connect-per-operation baselines, all interleaved in one process and one run (the order of
//! the paths rotates every round, so noise hits each path alike):
//! - minimal: a fresh CDP connection per call with this crate's own actor (`/json/version`,
//!   WebSocket, find the active tab, run, close) — the cheapest connect-per-op possible;
//! - chromiumoxide: what a straightforward implementation with the same library does per call
//!   (`Browser::connect(ws_url)`, spawn its handler, `fetch_targets`, wait for the page, drop)
//!   — like the incumbent's `connect_over_cdp` per paste, minus its Playwright driver start,
//!   and minus the paste itself (see [`oxide_insert`]), so a lower bound.
//!
//! Not a timed test: it prints p50/p90 and the ratios. Run with
//! `cargo bench -p cdp-executor --bench pool_vs_connect` (needs Chromium; `BENCH_ROUNDS`
//! overrides the number of rounds).

#[path = "../tests/support/chromium.rs"]
mod chromium;

use std::time::{Duration, Instant};

use cdp_executor::browser::BrowserConn;
use cdp_executor::{cdp, endpoint, ops, plan, Cli};
use clap::Parser;
use futures::StreamExt;
use proto::cdp::v1::cdp_executor_client::CdpExecutorClient;
use proto::cdp::v1::{BrowserTarget, GetSelectedTextRequest, InsertTextRequest};
use serde_json::json;
use service_kit::upstream::AllowList;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tonic::transport::Channel;

const ROUNDS: usize = 100;
const PAGE: &str = "data:text/html,<input id=i value='selected words here' autofocus>";

/// The measured paths, in the order of the first round.
const PATHS: [&str; 6] = [
    "InsertText pooled",
    "InsertText pooled, no gRPC",
    "InsertText connect-per-op (minimal)",
    "connect-per-op (chromiumoxide, to page)",
    "GetSelectedText pooled",
    "GetSelectedText connect-per-op (minimal)",
];

struct Bench {
    client: CdpExecutorClient<Channel>,
    direct: BrowserConn,
    cdp_url: String,
    ws_url: String,
}

impl Bench {
    fn target(&self) -> Option<BrowserTarget> {
        Some(BrowserTarget {
            organization_id: "org_bench".into(),
            browser_session_id: "pbs_bench".into(),
            cdp_url: self.cdp_url.clone(),
        })
    }

    /// Runs one path once and returns how long it took.
    async fn run(&mut self, path: usize) -> Duration {
        let started = Instant::now();
        match path {
            0 => {
                let request = InsertTextRequest {
                    target: self.target(),
                    text: "x".into(),
                };
                self.client.insert_text(request).await.unwrap();
            }
            1 => ops::insert_text(&self.direct, "x").await.unwrap(),
            2 => {
                let conn = connect(&self.cdp_url).await;
                let tab = conn.find_active().await.unwrap();
                conn.run(&tab, plan::insert_text("x")).await.unwrap();
                conn.cdp().close();
            }
            3 => oxide_insert(&self.ws_url).await,
            4 => {
                let request = GetSelectedTextRequest {
                    target: self.target(),
                };
                self.client.get_selected_text(request).await.unwrap();
            }
            _ => {
                let conn = connect(&self.cdp_url).await;
                let tab = conn.find_active().await.unwrap();
                conn.evaluate(&tab.session, &plan::selected_text_js())
                    .await
                    .unwrap();
                conn.cdp().close();
            }
        }
        started.elapsed()
    }
}

#[tokio::main]
async fn main() {
    if !chromium::available() {
        return;
    }
    let rounds = std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(ROUNDS);
    let browser = chromium::Chromium::launch(0).await;
    let cdp_url = browser.cdp_http_url();
    prepare_page(browser.cdp_ws_url()).await;

    let settings = Cli::try_parse_from([
        "cdp-executor",
        "--listen",
        "127.0.0.1:0",
        "--trust-request-cdp-url",
    ])
    .unwrap()
    .into_config()
    .validate()
    .unwrap();
    let app = cdp_executor::Application::build(settings).await.unwrap();
    let addr = app.local_addr();
    let stop = CancellationToken::new();
    let token = stop.clone();
    let server = tokio::spawn(app.run(async move { token.cancelled().await }));
    let client = CdpExecutorClient::connect(format!("http://{addr}"))
        .await
        .unwrap();
    let mut bench = Bench {
        client,
        direct: connect(&cdp_url).await,
        cdp_url,
        ws_url: browser.cdp_ws_url().to_string(),
    };
    // Warm up every path once (the pool dials, the cached tab is armed and verified).
    for _ in 0..2 {
        for path in 0..PATHS.len() {
            bench.run(path).await;
        }
    }

    let mut samples: Vec<Vec<Duration>> = vec![Vec::with_capacity(rounds); PATHS.len()];
    for round in 0..rounds {
        for i in 0..PATHS.len() {
            let path = (round + i) % PATHS.len();
            samples[path].push(bench.run(path).await);
        }
    }
    bench.direct.cdp().close();

    println!(
        "build: {}, rounds: {rounds}, order rotated every round",
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }
    );
    let p50: Vec<Duration> = PATHS
        .iter()
        .zip(samples.iter_mut())
        .map(|(name, s)| report(name, s))
        .collect();
    let ratio = |a: usize, b: usize| p50[a].as_secs_f64() / p50[b].as_secs_f64();
    println!(
        "ratio InsertText p50 connect-per-op (minimal)/pooled: {:.1}x",
        ratio(2, 0)
    );
    println!(
        "ratio p50 connect-per-op (chromiumoxide, to page, lower bound)/InsertText pooled: {:.1}x",
        ratio(3, 0)
    );
    println!(
        "ratio GetSelectedText p50 connect-per-op (minimal)/pooled: {:.1}x",
        ratio(5, 4)
    );
    stop.cancel();
    let _ = server.await;
}

/// The chromiumoxide path up to the point where it would send `Input.insertText`: connect,
/// run the handler, discover the targets, wait until the handler has attached the page, drop
/// everything (not `Browser::close`: that would close the user's browser). With chromiumoxide
/// 0.9 against this Chromium every command on that page answers "Session with given id not
/// found" (its event type drops the flattened `sessionId`), so the paste itself cannot be
/// sent through it: this is a lower bound of a chromiumoxide connect-per-operation paste.
async fn oxide_insert(ws_url: &str) {
    let (mut browser, mut handler) = chromiumoxide::Browser::connect(ws_url).await.unwrap();
    let events = tokio::spawn(async move { while handler.next().await.is_some() {} });
    let targets = browser.fetch_targets().await.unwrap();
    let target = targets
        .into_iter()
        .find(|t| t.r#type == "page")
        .expect("a page target")
        .target_id;
    let deadline = Instant::now() + Duration::from_secs(5);
    while browser.get_page(target.clone()).await.is_err() {
        assert!(
            Instant::now() < deadline,
            "chromiumoxide never attached the page"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    drop(browser);
    events.abort();
}

/// Opens the benchmark page in the first tab with the input focused.
async fn prepare_page(ws_url: &str) {
    let handle = cdp::connect(
        ws_url,
        Duration::from_secs(10),
        &TaskTracker::new(),
        &CancellationToken::new(),
    )
    .await
    .unwrap();
    let conn = BrowserConn::new(handle);
    // Chromium announces its endpoint before its first tab exists.
    let mut tab = conn.active_tab().await;
    for _ in 0..500 {
        if tab.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        tab = conn.active_tab().await;
    }
    let tab = tab.unwrap();
    conn.call("Page.navigate", Some(&tab.session), json!({ "url": PAGE }))
        .await
        .unwrap();
    for _ in 0..200 {
        let ready = conn
            .evaluate(
                &tab.session,
                "document.readyState === 'complete' && !!document.getElementById('i')",
            )
            .await;
        if matches!(ready, Ok(serde_json::Value::Bool(true))) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    conn.evaluate(&tab.session, "(() => { const i = document.getElementById('i'); i.focus(); i.setSelectionRange(0, 8); })()")
        .await
        .unwrap();
    conn.cdp().close();
}

/// A fresh connection the way connect-per-operation does it.
async fn connect(cdp_url: &str) -> BrowserConn {
    let ws = endpoint::websocket_url(cdp_url, &AllowList::loopback(), Duration::from_secs(5))
        .await
        .unwrap();
    let handle = cdp::connect(
        &ws,
        Duration::from_secs(10),
        &TaskTracker::new(),
        &CancellationToken::new(),
    )
    .await
    .unwrap();
    BrowserConn::new(handle)
}

/// Prints p50/p90 and returns p50.
fn report(name: &str, samples: &mut [Duration]) -> Duration {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
    let (p50, p90) = (at(0.5), at(0.9));
    println!(
        "{name:<42} n={:<4} p50={:>8.3} ms  p90={:>8.3} ms",
        samples.len(),
        ms(p50),
        ms(p90)
    );
    p50
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
