//! Pooled operations (through the real gRPC server, in-process) against three
//! connect-per-operation baselines, all interleaved in one process and one run (the order of
//! the paths rotates every round, so noise hits each path alike):
//! - incumbent: the incumbent's own code path, Playwright for Python: per call a new Playwright
//!   driver, `connect_over_cdp`, the download behaviour set, the operation on the first page,
//!   disconnect, driver stopped (see [`incumbent`]; needs the Python environment made by
//!   `benches/setup-incumbent.sh`, else these rows are left out). Each round costs about half
//!   a second, so these paths run `BENCH_INCUMBENT_ROUNDS` times (default 30), spread evenly
//!   over the rounds;
//! - chromiumoxide: the same steps with a Rust CDP library: per call a new connection,
//!   the download behaviour set, the first page attached and initialised by the library, the
//!   operation, disconnect (see [`oxide_per_op`]); no driver process to start;
//! - minimal: a fresh CDP connection per call with this crate's own connection (`/json/version`,
//!   WebSocket, find the active tab, run, close): the cheapest connect-per-op there is, no page
//!   initialisation at all.
//!
//! Two more rows say where the pooled time goes: the same paste without gRPC (one CDP round
//! trip), and a gRPC round trip alone (a health check on the same channel).
//!
//! Not a timed test: it prints p50/p90 and the ratios. Run with
//! `cargo bench -p cdp-executor --bench pool_vs_connect` (needs Chromium; `BENCH_ROUNDS`
//! overrides the number of rounds).

#[path = "../tests/support/chromium.rs"]
mod chromium;
#[path = "pool_vs_connect/incumbent.rs"]
mod incumbent;

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
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

const ROUNDS: usize = 100;
const INCUMBENT_ROUNDS: usize = 30;
const PAGE: &str = "data:text/html,<input id=i value='selected words here' autofocus>";

/// The measured paths, in the order of the first round.
const PATHS: [&str; 10] = [
    "InsertText pooled",
    "InsertText pooled, no gRPC",
    "InsertText connect-per-op (minimal)",
    "InsertText connect-per-op (chromiumoxide)",
    "GetSelectedText pooled",
    "GetSelectedText connect-per-op (minimal)",
    "GetSelectedText connect-per-op (chromiumoxide)",
    "gRPC round trip alone (health Check)",
    "InsertText incumbent per-op (Playwright driver + connect_over_cdp)",
    "GetSelectedText incumbent per-op (Playwright driver + connect_over_cdp)",
];
/// The paths run through the incumbent helper, fewer times than the others.
const INCUMBENT_PATHS: [usize; 2] = [8, 9];

struct Bench {
    client: CdpExecutorClient<Channel>,
    health: HealthClient<Channel>,
    direct: BrowserConn,
    cdp_url: String,
    incumbent: Option<incumbent::Incumbent>,
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
            3 => oxide_per_op(&self.cdp_url, OxideOp::InsertText).await,
            4 => {
                let request = GetSelectedTextRequest {
                    target: self.target(),
                };
                self.client.get_selected_text(request).await.unwrap();
            }
            6 => oxide_per_op(&self.cdp_url, OxideOp::SelectedText).await,
            7 => {
                self.health
                    .check(HealthCheckRequest {
                        service: String::new(),
                    })
                    .await
                    .unwrap();
            }
            5 => {
                let conn = connect(&self.cdp_url).await;
                let tab = conn.find_active().await.unwrap();
                conn.evaluate(&tab.session, &plan::selected_text_js())
                    .await
                    .unwrap();
                conn.cdp().close();
            }
            8 | 9 => {
                let op = if path == 8 {
                    incumbent::Op::Paste
                } else {
                    incumbent::Op::SelectedText
                };
                let helper = self.incumbent.as_mut().expect("incumbent helper running");
                helper.run(op, &self.cdp_url).await;
            }
            _ => unreachable!("no path {path}"),
        }
        started.elapsed()
    }
}

#[tokio::main]
async fn main() {
    service_kit::telemetry::init("bench");
    if !chromium::available() {
        return;
    }
    let rounds = std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(ROUNDS);
    let incumbent_rounds = std::env::var("BENCH_INCUMBENT_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(INCUMBENT_ROUNDS)
        .min(rounds);
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
    // One HTTP/2 connection for both clients, as a gateway keeps one channel.
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let client = CdpExecutorClient::new(channel.clone());
    let mut bench = Bench {
        health: HealthClient::new(channel),
        client,
        direct: connect(&cdp_url).await,
        cdp_url,
        incumbent: incumbent::Incumbent::spawn().await,
    };
    let with_incumbent = bench.incumbent.is_some();
    let skipped = |path: usize| !with_incumbent && INCUMBENT_PATHS.contains(&path);
    // Warm up every path twice (the pool dials, the cached tab is armed and verified; the
    // helper has imported Playwright).
    for _ in 0..2 {
        for path in (0..PATHS.len()).filter(|&p| !skipped(p)) {
            bench.run(path).await;
        }
    }

    let mut samples: Vec<Vec<Duration>> = vec![Vec::with_capacity(rounds); PATHS.len()];
    for round in 0..rounds {
        let incumbent_now = with_incumbent && spread(round, rounds, incumbent_rounds);
        for i in 0..PATHS.len() {
            let path = (round + i) % PATHS.len();
            if INCUMBENT_PATHS.contains(&path) && !incumbent_now {
                continue;
            }
            samples[path].push(bench.run(path).await);
        }
    }
    bench.direct.cdp().close();
    if let Some(helper) = bench.incumbent.take() {
        helper.quit().await;
    }

    println!(
        "build: {}, rounds: {rounds} (incumbent paths: {}), order rotated every round",
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
        if with_incumbent {
            format!("{incumbent_rounds}, spread evenly")
        } else {
            "not run".into()
        }
    );
    let width = PATHS.iter().map(|name| name.len()).max().unwrap_or(0);
    let p50: Vec<Option<Duration>> = PATHS
        .iter()
        .zip(samples.iter_mut())
        .map(|(name, s)| (!s.is_empty()).then(|| report(name, width, s)))
        .collect();
    for (slow, fast) in [(8, 0), (3, 0), (2, 0), (9, 4), (6, 4), (5, 4)] {
        if let (Some(slow_p50), Some(fast_p50)) = (p50[slow], p50[fast]) {
            println!(
                "ratio p50 {} / {}: {:.1}x",
                PATHS[slow],
                PATHS[fast],
                slow_p50.as_secs_f64() / fast_p50.as_secs_f64()
            );
        }
    }
    stop.cancel();
    let _ = server.await;
}

/// True in `k` of `n` rounds, evenly spaced, so a path run fewer times still meets every
/// part of the run (and its noise) instead of running in a block.
fn spread(round: usize, n: usize, k: usize) -> bool {
    (round + 1) * k / n > round * k / n
}

/// One operation the way the incumbent runs each, with chromiumoxide: a new
/// connection per operation (`/json/version` discovery, WebSocket), the download behaviour set
/// on every connect (incumbent §7.1 step 7), the first page taken and initialised by the
/// library (attach, `Page.enable`, frame tree, lifecycle events, `Runtime.enable`, isolated
/// world, `Network.enable`, auto-attach, …), then the operation, then disconnect (not
/// `Browser::close`: that would close the user's browser). No viewport emulation (the library
/// default), so the user's page is not resized.
async fn oxide_per_op(cdp_url: &str, op: OxideOp) {
    use chromiumoxide::cdp::browser_protocol::browser::{
        SetDownloadBehaviorBehavior, SetDownloadBehaviorParams,
    };
    use chromiumoxide::cdp::browser_protocol::input::InsertTextParams;

    let (browser, mut handler) = chromiumoxide::Browser::connect(cdp_url).await.unwrap();
    let events = tokio::spawn(async move { while handler.next().await.is_some() {} });
    let downloads = SetDownloadBehaviorParams::builder()
        .behavior(SetDownloadBehaviorBehavior::Allow)
        .download_path(
            std::env::temp_dir()
                .join("bench-downloads")
                .display()
                .to_string(),
        )
        .events_enabled(true)
        .build()
        .unwrap();
    browser.execute(downloads).await.unwrap();
    // The library discovers and attaches every target by itself (`Target.setDiscoverTargets`,
    // flattened sessions); `pages()` lists those it has initialised. (`fetch_targets` would
    // attach them again without `flatten`, and every command on such a session fails.)
    let deadline = Instant::now() + Duration::from_secs(5);
    let page = loop {
        if let Some(page) = browser.pages().await.unwrap().into_iter().next() {
            break page;
        }
        assert!(
            Instant::now() < deadline,
            "chromiumoxide never initialised the page"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    };
    match op {
        OxideOp::InsertText => {
            page.execute(InsertTextParams::new("x")).await.unwrap();
        }
        OxideOp::SelectedText => {
            page.evaluate(plan::selected_text_js()).await.unwrap();
        }
    }
    drop(page);
    drop(browser);
    events.abort();
}

/// The operation a chromiumoxide connect-per-op round runs.
#[derive(Clone, Copy)]
enum OxideOp {
    InsertText,
    SelectedText,
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
fn report(name: &str, width: usize, samples: &mut [Duration]) -> Duration {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
    let (p50, p90) = (at(0.5), at(0.9));
    println!(
        "{name:<width$} n={:<4} p50={:>8.3} ms  p90={:>8.3} ms",
        samples.len(),
        ms(p50),
        ms(p90)
    );
    p50
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
