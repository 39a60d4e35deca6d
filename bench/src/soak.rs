//! Soak: N live sessions on one gateway for minutes. Each session is its own browser session
//! (on the synthetic RFB server) with one viewer: a VNC socket and a Message socket of one
//! client, which takes control (`take-control`), then sends a PointerEvent every
//! `input_interval` and reads the update it causes, while both sockets answer the gateway's
//! pings. The gateway's RSS, threads and tracked tasks are read once every session is live
//! (start), before they close (end), and after they closed (drained); every failure is
//! counted and the first one kept.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use futures::{SinkExt, StreamExt};
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::Message;

use crate::client::{RfbClient, WAIT};
use crate::host::GatewayHost;
use crate::pairs::{idle_message, MessageSocket};
use crate::procfs::{threads, tree_memory};
use crate::server::SyntheticServer;

/// Sessions being opened at once.
const OPEN_CONCURRENCY: usize = 64;
/// Descriptors one session costs the gateway (two sockets, one upstream) and this process
/// (two sockets, and the server child's end is its own process).
const DESCRIPTORS_PER_SESSION: u64 = 3;
/// Pause after opening before the start reading, so buffers settle.
const SETTLE: Duration = Duration::from_secs(2);
/// Full update size of the synthetic server (the soak sends pointer events, whose updates are
/// 16×16 whatever this is).
const UPDATE_BYTES: usize = 64 * 1024;

/// What to run.
#[derive(Debug, Clone)]
pub struct SoakPlan {
    /// Live sessions.
    pub sessions: usize,
    /// How long they are held.
    pub duration: Duration,
    /// Input cadence per session.
    pub input_interval: Duration,
    /// This process's open-files limit.
    pub open_files: u64,
}

/// The gateway at one moment.
#[derive(Debug, Clone, Copy)]
pub struct Reading {
    /// RSS of the gateway's process tree, MiB.
    pub rss_mib: f64,
    /// Its threads.
    pub threads: u64,
    /// Its tracked tasks (every socket and its helpers).
    pub tasks: usize,
    /// Sessions still live.
    pub live: u64,
    /// Failures so far.
    pub errors: u64,
    /// Pointer round trips so far.
    pub inputs: u64,
}

/// What the soak measured.
#[derive(Debug, Clone)]
pub struct SoakReport {
    /// Sessions that went live.
    pub opened: usize,
    /// Seconds to open them.
    pub open_secs: f64,
    /// Before any session (the gateway idle).
    pub idle: Reading,
    /// Every session live.
    pub start: Reading,
    /// At the end of the hold.
    pub end: Reading,
    /// After every session closed.
    pub drained: Reading,
    /// The first failure, if any.
    pub first_error: Option<String>,
}

#[derive(Default)]
struct Counters {
    live: AtomicU64,
    errors: AtomicU64,
    inputs: AtomicU64,
    first_error: std::sync::Mutex<Option<String>>,
}

impl Counters {
    fn fail(&self, error: String) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        let mut first = self.first_error.lock().unwrap_or_else(|e| e.into_inner());
        first.get_or_insert(error);
    }
}

/// Runs the soak.
pub async fn run(plan: &SoakPlan) -> anyhow::Result<SoakReport> {
    let most = (plan.open_files.saturating_sub(512) / DESCRIPTORS_PER_SESSION) as usize;
    if plan.sessions > most {
        bail!(
            "{} sessions need more than the open-files limit {} allows ({most})",
            plan.sessions,
            plan.open_files
        );
    }
    let server = SyntheticServer::spawn(UPDATE_BYTES).await?;
    let mut gateway =
        GatewayHost::spawn_with_sessions(&format!("tcp://{}", server.addr), plan.sessions).await?;
    tokio::time::sleep(SETTLE).await;
    let counters = Arc::new(Counters::default());
    let idle = reading(&mut gateway, &counters).await?;
    eprintln!("soak: opening {} live sessions…", plan.sessions);
    let started = Instant::now();
    let gate = Arc::new(Semaphore::new(OPEN_CONCURRENCY));
    let (opened_tx, mut opened_rx) = tokio::sync::mpsc::channel(plan.sessions.max(1));
    let stop = tokio_util::sync::CancellationToken::new();
    let mut tasks = Vec::with_capacity(plan.sessions);
    for (n, session) in gateway.sessions.iter().enumerate() {
        let client = format!("soak{n}");
        tasks.push(tokio::spawn(session_task(
            gateway.url_of("vnc", session, &client),
            gateway.url_of("messages", session, &client),
            Cadence {
                interval: plan.input_interval,
                // Session n starts at n/N of the interval: spread evenly, not all at once.
                offset: plan
                    .input_interval
                    .mul_f64(n as f64 / plan.sessions.max(1) as f64),
            },
            gate.clone(),
            counters.clone(),
            opened_tx.clone(),
            stop.clone(),
        )));
    }
    drop(opened_tx);
    let mut opened = 0;
    while opened_rx.recv().await.is_some() {
        opened += 1;
    }
    let open_secs = started.elapsed().as_secs_f64();
    tokio::time::sleep(SETTLE).await;
    let start = reading(&mut gateway, &counters).await?;
    eprintln!(
        "soak: {opened} live in {open_secs:.1} s; holding {} s…",
        plan.duration.as_secs()
    );
    tokio::time::sleep(plan.duration).await;
    let end = reading(&mut gateway, &counters).await?;
    stop.cancel();
    for task in tasks {
        let _ = task.await;
    }
    // The gateway closes its side within a ping period at most; give it the drain it needs.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut drained = reading(&mut gateway, &counters).await?;
    while drained.tasks > idle.tasks && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
        drained = reading(&mut gateway, &counters).await?;
    }
    gateway.stop().await;
    drop(server);
    let first_error = counters
        .first_error
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    Ok(SoakReport {
        opened,
        open_secs,
        idle,
        start,
        end,
        drained,
        first_error,
    })
}

async fn reading(gateway: &mut GatewayHost, counters: &Counters) -> anyhow::Result<Reading> {
    let pid = gateway.pid()?;
    Ok(Reading {
        rss_mib: tree_memory(pid).rss_kib as f64 / 1024.0,
        threads: threads(pid),
        tasks: gateway.tasks().await?,
        live: counters.live.load(Ordering::Relaxed),
        errors: counters.errors.load(Ordering::Relaxed),
        inputs: counters.inputs.load(Ordering::Relaxed),
    })
}

/// When a session sends its inputs: every `interval`, the first `offset` after it is live.
#[derive(Debug, Clone, Copy)]
struct Cadence {
    interval: Duration,
    offset: Duration,
}

/// One live session: open, take control, then input at its cadence until `stop`.
async fn session_task(
    vnc_url: String,
    message_url: String,
    cadence: Cadence,
    gate: Arc<Semaphore>,
    counters: Arc<Counters>,
    opened: tokio::sync::mpsc::Sender<()>,
    stop: tokio_util::sync::CancellationToken,
) {
    let sockets = {
        let _permit = gate.acquire().await;
        open(&vnc_url, &message_url).await
    };
    let (mut vnc, mut message) = match sockets {
        Ok(sockets) => sockets,
        Err(error) => {
            counters.fail(format!("open: {error:#}"));
            drop(opened);
            return;
        }
    };
    counters.live.fetch_add(1, Ordering::Relaxed);
    let _ = opened.send(()).await;
    drop(opened);
    let result = drive(&mut vnc, &mut message, cadence, &counters, &stop).await;
    counters.live.fetch_sub(1, Ordering::Relaxed);
    if let Err(error) = result {
        counters.fail(format!("{error:#}"));
    }
    vnc.close().await;
    let _ = tokio::time::timeout(WAIT, message.close(None)).await;
}

async fn drive(
    vnc: &mut RfbClient,
    message: &mut MessageSocket,
    Cadence { interval, offset }: Cadence,
    counters: &Counters,
    stop: &tokio_util::sync::CancellationToken,
) -> anyhow::Result<()> {
    let mut next = tokio::time::Instant::now() + offset;
    loop {
        let wait = tokio::time::sleep_until(next);
        tokio::select! {
            () = stop.cancelled() => return Ok(()),
            idled = vnc.idle_until(wait) => idled.context("VNC socket while idle")?,
            error = idle_message(message) => return Err(error.context("Message socket while idle")),
        }
        vnc.pointer_round_trip()
            .await
            .context("pointer round trip")?;
        counters.inputs.fetch_add(1, Ordering::Relaxed);
        next += interval;
    }
}

/// Opens both sockets and takes control (the `control-state` that says `user`).
async fn open(vnc_url: &str, message_url: &str) -> anyhow::Result<(RfbClient, MessageSocket)> {
    let mut vnc = RfbClient::ws(vnc_url).await.context("VNC upgrade")?;
    vnc.handshake().await.context("RFB handshake")?;
    let (mut message, _) =
        tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(message_url))
            .await
            .context("Message upgrade timed out")?
            .context("Message upgrade")?;
    message
        .send(Message::Text(r#"{"kind":"take-control"}"#.into()))
        .await?;
    let controlled = async {
        loop {
            match message.next().await {
                Some(Ok(Message::Text(text))) if text.contains(r#""interactor":"user""#) => {
                    return anyhow::Ok(())
                }
                Some(Ok(_)) => continue,
                other => bail!("no control: {other:?}"),
            }
        }
    };
    tokio::time::timeout(WAIT, controlled)
        .await
        .context("take-control timed out")??;
    Ok((vnc, message))
}

/// The Markdown report.
pub fn render(plan: &SoakPlan, report: &SoakReport) -> String {
    let row = |name: &str, r: &Reading| {
        format!(
            "| {name} | {:.1} | {} | {} | {} | {} | {} |",
            r.rss_mib, r.threads, r.tasks, r.live, r.inputs, r.errors
        )
    };
    let held = plan.duration.as_secs_f64();
    let rate = (report.end.inputs - report.start.inputs) as f64 / held.max(1.0);
    let mut out = vec![
        format!(
            "## Soak: {} live sessions for {} s (input every {} ms per session)",
            plan.sessions,
            plan.duration.as_secs(),
            plan.input_interval.as_millis()
        ),
        String::new(),
        format!(
            "{} sessions went live in {:.1} s; {rate:.0} pointer round trips per second during the hold.",
            report.opened, report.open_secs
        ),
        String::new(),
        "| moment | gateway RSS MiB | threads | tracked tasks | live sessions | pointer round trips | errors |".into(),
        "|---|---|---|---|---|---|---|".into(),
        row("idle (before)", &report.idle),
        row("start (all live)", &report.start),
        row("end of the hold", &report.end),
        row("after closing", &report.drained),
    ];
    if let Some(error) = &report.first_error {
        out.push(String::new());
        out.push(format!("First error: {error}"));
    }
    out.join("\n")
}
