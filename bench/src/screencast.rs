//! `relay-bench screencast`: the CDP transport on a headless Chromium (no VNC), in one run:
//! frames/s to one viewer of a busy page, key→frame latency through the CDP input socket, and
//! the browser's CPU for one viewer, for several viewers sharing the gateway's one screencast,
//! and for the incumbent's way (one screencast per viewer: here as many direct
//! `StreamScreencast` streams to the executor, each with a JPEG quality of its own so that
//! each gets its own CDP session and `Page.startScreencast`).
//!
//! The stack (verification, cdp-executor, gateway, a page server and Chromium: the test kit's
//! [`CdpWorld`]) runs in a child process (this binary re-executed as `host-cdp`), so its CPU is
//! its own: Chromium is that child's child, and the child's own CPU is its tree's minus
//! Chromium's tree's.
//!
//! Parent ⇄ child, one line each: the child prints `bench-cdp <gateway addr> <executor url>
//! <organization> <api key> <session> <chromium pid> <chromium DevTools http url>`; the parent
//! writes `busy` (300 random rectangles redrawn every animation frame) or `keys` (a still page
//! whose colour follows the last key pressed) and the child answers `bench-ok` once the tab
//! shows it; stdin EOF stops the child.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use futures::{SinkExt, Stream, StreamExt};
use integration_tests::cdp::{near, pixel, CdpWorld};
use proto::cdp::v1::cdp_executor_client::CdpExecutorClient;
use proto::cdp::v1::{BrowserTarget, StreamScreencastRequest};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout};
use tokio::sync::mpsc;
use tokio::time::{timeout, timeout_at, Instant};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

use crate::procfs::{tree_cpu, Cpu};
use crate::report::{median, quantile};

/// Bound on the child's start-up (Chromium, every service) and on each page change.
const START_WAIT: Duration = Duration::from_secs(90);
/// Bound on a connect, a send, a reply, and the first frame of a new viewer.
const WAIT: Duration = Duration::from_secs(20);
/// A viewer that gets nothing for this long stops reading (the stream counts as ended).
const READ_WAIT: Duration = Duration::from_secs(30);
/// After viewers open (screencasts start) and after they close (screencasts stop).
const SETTLE: Duration = Duration::from_secs(2);
/// Bound on one key→frame sample; a sample without its frame by then is a miss.
const SAMPLE_WAIT: Duration = Duration::from_secs(5);

/// The keys sent and the background each one gives the `keys` page (far apart on some
/// channel, so a lossy JPEG of one is never near another).
const KEYS: [(&str, [u8; 3]); 8] = [
    ("a", [220, 20, 60]),
    ("b", [20, 160, 40]),
    ("c", [250, 220, 20]),
    ("d", [20, 60, 220]),
    ("e", [250, 130, 10]),
    ("f", [140, 20, 180]),
    ("g", [20, 220, 220]),
    ("h", [240, 240, 240]),
];

/// What to run.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Rounds of the CPU setups (their order rotates every round).
    pub rounds: usize,
    /// How long each setup is measured per round.
    pub window: Duration,
    /// Viewers of (b) and screencasts of (c).
    pub viewers: usize,
    /// Measured key→frame samples.
    pub samples: usize,
    /// Unmeasured samples before them.
    pub warmup: usize,
}

/// Who watches the animating page while the CPU is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setup {
    /// Nobody: what the animation costs the browser without any screencast.
    Idle,
    /// (a) one viewer through the gateway.
    OneViewer,
    /// (b) `viewers` viewers through the gateway: one shared screencast.
    Viewers,
    /// (c) `viewers` direct `StreamScreencast` streams: one screencast each.
    Screencasts,
}

/// Every setup, in the order of round 0.
pub const SETUPS: [Setup; 4] = [
    Setup::OneViewer,
    Setup::Viewers,
    Setup::Screencasts,
    Setup::Idle,
];

impl Setup {
    fn index(self) -> usize {
        SETUPS.iter().position(|s| *s == self).unwrap_or(0)
    }

    fn label(self, viewers: usize) -> String {
        match self {
            Setup::Idle => "(0) no viewer".into(),
            Setup::OneViewer => "(a) 1 viewer via the gateway".into(),
            Setup::Viewers => format!("(b) {viewers} viewers via the gateway (1 screencast)"),
            Setup::Screencasts => {
                format!("(c) {viewers} direct StreamScreencast streams ({viewers} screencasts)")
            }
        }
    }
}

/// One setup in one round.
#[derive(Debug, Clone)]
pub struct Sample {
    /// Chromium's whole process tree.
    pub browser: Cpu,
    /// The child without Chromium: gateway, executor, verification, the page server.
    pub host: Cpu,
    /// Wall time of the window.
    pub secs: f64,
    /// Frames/s each viewer got.
    pub fps: Vec<f64>,
    /// Mean bytes of the frames the viewers got (JSON text through the gateway, JPEG direct).
    pub frame_bytes: f64,
}

/// What the run measured.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// `cpu[setup index]`: one sample per round.
    pub cpu: Vec<Vec<Sample>>,
    /// Key→frame latencies, ms.
    pub latency_ms: Vec<f64>,
    /// Measured samples whose frame never came.
    pub misses: usize,
}

// === the child ===

/// Child side: hosts the world until stdin closes.
pub async fn host() -> anyhow::Result<()> {
    let world = CdpWorld::start_with("/busy", None, |config| {
        // The production cadences where a test's would cost CPU of their own.
        config.auth_cache_ttl = Duration::from_secs(10);
        config.ping_interval = Duration::from_secs(10);
        config.pong_timeout = Duration::from_secs(30);
        config.revocation_poll = Duration::from_secs(1);
        config.activity_interval = Duration::from_secs(30);
    })
    .await;
    println!(
        "bench-cdp {} {} {} {} {} {} {}",
        world.gateways[0].addr,
        world.executor.url,
        world.org,
        world.key,
        world.session,
        world.chromium.pid(),
        world.chromium.cdp_http_url()
    );
    let colours: serde_json::Map<String, Value> = KEYS
        .iter()
        .map(|(key, [r, g, b])| (key.to_string(), json!(format!("rgb({r},{g},{b})"))))
        .collect();
    let listener = format!(
        "const C={};addEventListener('keydown',e=>{{if(C[e.key])document.body.style.background=C[e.key]}},true);true",
        Value::Object(colours)
    );
    let mut commands = crate::host::stdin_lines();
    while let Some(line) = commands.recv().await {
        match line.trim() {
            "busy" => world.goto("/busy").await,
            "keys" => {
                world.goto("/blue").await;
                world.eval(&listener).await;
            }
            other => bail!("unknown command {other:?}"),
        }
        println!("bench-ok");
    }
    Ok(())
}

/// Parent side: the running child (also the stack of [`crate::paste`]).
pub(crate) struct Host {
    child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
    gateway: String,
    /// The executor's gRPC URL.
    pub(crate) executor: String,
    /// Chromium's DevTools HTTP endpoint, `http://127.0.0.1:PORT`.
    pub(crate) cdp: String,
    org: String,
    key: String,
    session: String,
    chromium: u32,
    pid: u32,
}

impl Host {
    pub(crate) async fn spawn() -> anyhow::Result<Self> {
        let mut child = crate::host::spawn_self(&["host-cdp"])?;
        let pid = child.id().context("host exited at once")?;
        let stdin = child.stdin.take().context("child stdin")?;
        let mut lines = BufReader::new(child.stdout.take().context("child stdout")?).lines();
        let ready = timeout(
            START_WAIT,
            crate::host::expect_line(&mut lines, "bench-cdp "),
        )
        .await
        .context("the CDP host did not start in time")??;
        let fields: Vec<&str> = ready.split_whitespace().collect();
        let [gateway, executor, org, key, session, chromium, cdp] = fields[..] else {
            bail!("malformed host line {ready:?}");
        };
        Ok(Self {
            gateway: gateway.into(),
            executor: executor.into(),
            cdp: cdp.into(),
            org: org.into(),
            key: key.into(),
            session: session.into(),
            chromium: chromium.parse()?,
            pid,
            child,
            stdin,
            lines,
        })
    }

    /// Shows page `name` (`busy` or `keys`) in the tab.
    async fn page(&mut self, name: &str) -> anyhow::Result<()> {
        self.stdin.write_all(format!("{name}\n").as_bytes()).await?;
        timeout(
            START_WAIT,
            crate::host::expect_line(&mut self.lines, "bench-ok"),
        )
        .await
        .with_context(|| format!("page {name} not shown in time"))??;
        Ok(())
    }

    pub(crate) fn url(&self, path: &str, client_id: &str) -> String {
        format!(
            "ws://{}{path}/{}?client_id={client_id}&apikey={}",
            self.gateway, self.session, self.key
        )
    }

    pub(crate) fn target(&self) -> BrowserTarget {
        BrowserTarget {
            organization_id: self.org.clone(),
            browser_session_id: self.session.clone(),
            cdp_url: String::new(),
        }
    }

    /// Closes stdin (the child stops Chromium and its services) and waits for it.
    pub(crate) async fn stop(self) {
        crate::host::stop_child(self.stdin, self.child, START_WAIT).await;
    }
}

// === viewers ===

/// A stream read on its own task, which counts its frames and their bytes (and forwards each
/// with its arrival time when asked); it stops when told, when the stream ends, or after
/// [`READ_WAIT`] of silence.
struct Viewer {
    frames: Arc<AtomicU64>,
    bytes: Arc<AtomicU64>,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

type Arrivals<T> = mpsc::Sender<(Instant, T)>;

impl Viewer {
    /// `size` tells a frame's bytes, or that an item is no frame.
    fn spawn<S, T, E>(
        stream: S,
        size: fn(&T) -> Option<usize>,
        forward: Option<Arrivals<T>>,
    ) -> Self
    where
        S: Stream<Item = Result<T, E>> + Send + 'static,
        T: Send + 'static,
    {
        let (frames, bytes) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let stop = CancellationToken::new();
        let (count, total, stopped) = (frames.clone(), bytes.clone(), stop.clone());
        let task = tokio::spawn(async move {
            let mut stream = std::pin::pin!(stream);
            loop {
                let next = tokio::select! {
                    () = stopped.cancelled() => break,
                    next = timeout(READ_WAIT, stream.next()) => next,
                };
                let Ok(Some(Ok(item))) = next else { break };
                if let Some(size) = size(&item) {
                    count.fetch_add(1, Ordering::Relaxed);
                    total.fetch_add(size as u64, Ordering::Relaxed);
                    if let Some(forward) = &forward {
                        let _ = forward.try_send((Instant::now(), item));
                    }
                }
            }
        });
        Self {
            frames,
            bytes,
            stop,
            task,
        }
    }

    fn frames(&self) -> u64 {
        self.frames.load(Ordering::Relaxed)
    }

    fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    async fn stop(mut self) {
        self.stop.cancel();
        let _ = timeout(WAIT, &mut self.task).await;
    }
}

impl Drop for Viewer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A screencast socket's frames are its text messages (JSON with base64 JPEG).
fn text_size(message: &Message) -> Option<usize> {
    match message {
        Message::Text(text) => Some(text.len()),
        _ => None,
    }
}

async fn connect(
    url: &str,
) -> anyhow::Result<
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
> {
    let config = WebSocketConfig::default()
        .max_message_size(Some(16 << 20))
        .max_frame_size(Some(16 << 20));
    let connect = tokio_tungstenite::connect_async_with_config(url, Some(config), false);
    let (ws, _) = timeout(WAIT, connect).await.context("upgrade in time")??;
    Ok(ws)
}

/// A screencast socket of the gateway.
async fn gateway_viewer(
    host: &Host,
    client_id: &str,
    forward: Option<Arrivals<Message>>,
) -> anyhow::Result<Viewer> {
    let ws = connect(&host.url("/v1/stream/browser_sessions", client_id)).await?;
    Ok(Viewer::spawn(ws, text_size, forward))
}

/// A `StreamScreencast` stream of the executor, on its own connection, at JPEG quality
/// 60 + `n`. The executor shares one CDP screencast among the streams of one session and
/// frame limits; a quality of its own gives each stream its own `Page.startScreencast`, which
/// is the incumbent's way (one per socket).
async fn executor_viewer(host: &Host, n: usize) -> anyhow::Result<Viewer> {
    let mut client = timeout(WAIT, CdpExecutorClient::connect(host.executor.clone()))
        .await
        .context("executor connect in time")??;
    let request = StreamScreencastRequest {
        target: Some(host.target()),
        quality: 60 + n as u32,
        ..Default::default()
    };
    let stream = timeout(WAIT, client.stream_screencast(request))
        .await
        .context("StreamScreencast in time")??
        .into_inner();
    Ok(Viewer::spawn(stream, |frame| Some(frame.data.len()), None))
}

// === the run ===

/// Runs the whole benchmark.
pub async fn run(plan: &Plan) -> anyhow::Result<Report> {
    eprintln!("screencast: starting Chromium, verification, executor and gateway…");
    let mut host = Host::spawn().await?;
    let result = measure(&mut host, plan).await;
    host.stop().await;
    result
}

async fn measure(host: &mut Host, plan: &Plan) -> anyhow::Result<Report> {
    let mut report = Report {
        cpu: vec![Vec::new(); SETUPS.len()],
        ..Report::default()
    };
    host.page("busy").await?;
    for round in 0..plan.rounds {
        for k in 0..SETUPS.len() {
            let setup = SETUPS[(round + k) % SETUPS.len()];
            eprintln!(
                "screencast: round {} {}",
                round + 1,
                setup.label(plan.viewers)
            );
            let sample = cpu_window(host, setup, plan).await?;
            report.cpu[setup.index()].push(sample);
        }
    }
    host.page("keys").await?;
    eprintln!(
        "screencast: {} key→frame samples after {} warm-up",
        plan.samples, plan.warmup
    );
    (report.latency_ms, report.misses) = latency(host, plan).await?;
    Ok(report)
}

/// Opens the setup's viewers, waits for a frame on each and a settle, then measures CPU and
/// frames over the window.
async fn cpu_window(host: &Host, setup: Setup, plan: &Plan) -> anyhow::Result<Sample> {
    let mut viewers = Vec::new();
    match setup {
        Setup::Idle => {}
        Setup::OneViewer => viewers.push(gateway_viewer(host, "bench-v0", None).await?),
        Setup::Viewers => {
            for i in 0..plan.viewers {
                viewers.push(gateway_viewer(host, &format!("bench-v{i}"), None).await?);
            }
        }
        Setup::Screencasts => {
            for i in 0..plan.viewers {
                viewers.push(executor_viewer(host, i).await?);
            }
        }
    }
    let deadline = Instant::now() + WAIT;
    while viewers.iter().any(|v| v.frames() == 0) {
        if Instant::now() > deadline {
            bail!(
                "{}: a viewer got no frame in time",
                setup.label(plan.viewers)
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(SETTLE).await;
    let (started, browser, tree) = (Instant::now(), tree_cpu(host.chromium), tree_cpu(host.pid));
    let frames: Vec<u64> = viewers.iter().map(Viewer::frames).collect();
    let bytes: u64 = viewers.iter().map(Viewer::bytes).sum();
    tokio::time::sleep(plan.window).await;
    let (browser_after, tree_after) = (tree_cpu(host.chromium), tree_cpu(host.pid));
    let secs = started.elapsed().as_secs_f64();
    let fps: Vec<f64> = viewers
        .iter()
        .zip(frames)
        .map(|(v, before)| (v.frames() - before) as f64 / secs)
        .collect();
    let got = fps.iter().sum::<f64>() * secs;
    let frame_bytes = (viewers.iter().map(Viewer::bytes).sum::<u64>() - bytes) as f64 / got;
    for viewer in viewers {
        viewer.stop().await;
    }
    tokio::time::sleep(SETTLE).await;
    let browser = browser_after.since(browser);
    Ok(Sample {
        browser,
        host: tree_after.since(tree).since(browser),
        secs,
        fps,
        frame_bytes,
    })
}

/// Key→frame samples: one viewer watches, another client holds control on a CDP input socket
/// and sends a keyDown+keyUp; each sample is the time from sending the keyDown to the arrival
/// of the first frame whose centre has that key's colour. Returns the measured latencies (ms)
/// and how many never came.
async fn latency(host: &Host, plan: &Plan) -> anyhow::Result<(Vec<f64>, usize)> {
    let (arrivals, mut frames) = mpsc::channel(64);
    let viewer = gateway_viewer(host, "bench-watch", Some(arrivals)).await?;
    let ws = connect(&host.url("/v1/stream/cdp_input/browser_session", "bench-driver")).await?;
    let (mut input, mut replies) = ws.split();
    reply_of_kind(&mut replies, "ready").await?;
    let mut send = async |value: Value| {
        timeout(WAIT, input.send(Message::Text(value.to_string().into())))
            .await
            .context("send in time")?
            .context("send")
    };
    send(json!({ "kind": "take-control" })).await?;
    // Answered only after everything before it was handled.
    send(json!({ "kind": "navigateEvent", "url": " " })).await?;
    reply_of_kind(&mut replies, "navigate-error").await?;
    // The gateway pings; reading answers them.
    let drain = Viewer::spawn(replies, |_| None, None);

    let (mut latencies, mut misses) = (Vec::with_capacity(plan.samples), 0);
    for i in 0..plan.warmup + plan.samples {
        let (key, colour) = KEYS[i % KEYS.len()];
        while frames.try_recv().is_ok() {}
        let sent = Instant::now();
        send(json!({ "kind": "keyEvent", "eventType": "keyDown", "key": key, "text": key }))
            .await?;
        send(json!({ "kind": "keyEvent", "eventType": "keyUp", "key": key })).await?;
        let arrived = frame_of_colour(&mut frames, colour, sent + SAMPLE_WAIT).await;
        match (i >= plan.warmup, arrived) {
            (false, _) => {}
            (true, Some(at)) => latencies.push(at.duration_since(sent).as_secs_f64() * 1e3),
            (true, None) => misses += 1,
        }
        // A varying pause, so samples fall at every phase of the browser's frame clock.
        tokio::time::sleep(Duration::from_millis(20 + (i as u64 * 7) % 31)).await;
    }
    drain.stop().await;
    viewer.stop().await;
    Ok((latencies, misses))
}

/// The arrival time of the first frame whose centre is near `colour`, if one comes by
/// `deadline`.
async fn frame_of_colour(
    frames: &mut mpsc::Receiver<(Instant, Message)>,
    colour: [u8; 3],
    deadline: Instant,
) -> Option<Instant> {
    loop {
        let (at, message) = timeout_at(deadline, frames.recv()).await.ok()??;
        let Message::Text(text) = message else {
            continue;
        };
        let Ok(frame) = serde_json::from_str::<Value>(&text) else {
            continue;
        };
        if frame["status"] == "running" && near(pixel(&frame, 0.5, 0.5), colour) {
            return Some(at);
        }
    }
}

/// Reads the input socket until a reply of `kind`.
async fn reply_of_kind<S, E>(replies: &mut S, kind: &str) -> anyhow::Result<()>
where
    S: Stream<Item = Result<Message, E>> + Unpin,
    E: std::fmt::Debug,
{
    let deadline = Instant::now() + WAIT;
    loop {
        let next = timeout_at(deadline, replies.next())
            .await
            .with_context(|| format!("no {kind} in time"))?;
        match next {
            Some(Ok(Message::Text(text))) => {
                if serde_json::from_str::<Value>(&text).is_ok_and(|v| v["kind"] == kind) {
                    return Ok(());
                }
            }
            Some(Ok(_)) => {}
            other => bail!("the input socket ended before {kind}: {other:?}"),
        }
    }
}

// === the report ===

/// CPU ms per second of wall time.
fn per_sec(time: Duration, secs: f64) -> f64 {
    time.as_secs_f64() * 1e3 / secs
}

/// The columns of one sample: browser user, sys, total; host user, sys, total (ms/s).
fn columns(s: &Sample) -> [f64; 6] {
    let (bu, bs) = (
        per_sec(s.browser.user, s.secs),
        per_sec(s.browser.sys, s.secs),
    );
    let (hu, hs) = (per_sec(s.host.user, s.secs), per_sec(s.host.sys, s.secs));
    [bu, bs, bu + bs, hu, hs, hu + hs]
}

fn fps_median(s: &Sample) -> f64 {
    median(&s.fps)
}

/// Frames/s the browser captured: one screencast's (its fastest viewer's) through the
/// gateway, every stream's in (c).
fn captured(setup: Setup, s: &Sample) -> f64 {
    match setup {
        Setup::Screencasts => s.fps.iter().sum(),
        _ => s.fps.iter().copied().fold(0.0, f64::max),
    }
}

fn fps_min(s: &Sample) -> f64 {
    s.fps.iter().copied().fold(f64::NAN, f64::min)
}

/// The Markdown section.
pub fn render(header: &[String], plan: &Plan, report: &Report) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let samples = |setup: Setup| &report.cpu[setup.index()];
    let med = |setup: Setup, f: &dyn Fn(&Sample) -> f64| {
        median(&samples(setup).iter().map(f).collect::<Vec<_>>())
    };
    for line in header {
        let _ = writeln!(out, "- {line}");
    }
    let _ = writeln!(
        out,
        "\nThe CPU setups run in rotation (round r runs (a)(b)(c)(0) rotated by r), {} rounds of {:.0} s each, after every viewer had its first frame and {} s more; the busy page redraws 300 random rectangles on a full-viewport canvas on every `requestAnimationFrame`.",
        plan.rounds,
        plan.window.as_secs_f64(),
        SETTLE.as_secs()
    );

    let one: Vec<f64> = samples(Setup::OneViewer).iter().map(fps_median).collect();
    let _ = writeln!(out, "\n### Frames/s to one viewer\n");
    let _ = writeln!(
        out,
        "| | median | lowest round | highest round |\n|---|---:|---:|---:|"
    );
    let _ = writeln!(
        out,
        "| frames/s, one viewer via the gateway, busy page ((a) below) | {:.1} | {:.1} | {:.1} |",
        median(&one),
        quantile(&one, 0.0),
        quantile(&one, 1.0)
    );

    let l = &report.latency_ms;
    let _ = writeln!(out, "\n### Input → frame latency\n");
    let _ = writeln!(
        out,
        "A client holding control on the CDP input socket sends `keyDown`+`keyUp`; the page sets its background to that key's colour; the time until a screencast frame (through the gateway) whose centre pixel has that colour arrives at another viewer, JPEG decoded. {} samples after {} warm-up, paced 20–50 ms apart.\n",
        plan.samples, plan.warmup
    );
    let _ = writeln!(
        out,
        "| samples | p50 ms | p90 ms | p99 ms | max ms | no frame within {} s |\n|---:|---:|---:|---:|---:|---:|",
        SAMPLE_WAIT.as_secs()
    );
    let _ = writeln!(
        out,
        "| {} | {:.1} | {:.1} | {:.1} | {:.1} | {} |",
        l.len(),
        quantile(l, 0.5),
        quantile(l, 0.9),
        quantile(l, 0.99),
        quantile(l, 1.0),
        report.misses
    );

    let _ = writeln!(out, "\n### CPU per second of a busy page (300 random rectangles redrawn every animation frame)\n");
    let _ = writeln!(
        out,
        "Browser: Chromium's whole process tree (every process whose parent chain leads to the one launched), utime and stime from `/proc/<pid>/stat` (10 ms ticks). Gateway+executor: the host process (gateway, executor, verification and the page server in one process) without Chromium's tree; the viewers' own reading (in the benchmark process) is not counted. ms of CPU per s of wall time (1000 = one core), medians over rounds.\n"
    );
    let _ = writeln!(
        out,
        "| setup | frames/s per viewer | slowest viewer | frames captured/s | KiB/frame | browser user | browser sys | browser total | browser ms per captured frame | gateway+executor user | sys | total |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for setup in [
        Setup::Idle,
        Setup::OneViewer,
        Setup::Viewers,
        Setup::Screencasts,
    ] {
        let c: Vec<f64> = (0..6).map(|i| med(setup, &|s| columns(s)[i])).collect();
        let frames = match setup {
            Setup::Idle => "— | — | — | —".to_owned(),
            _ => format!(
                "{:.1} | {:.1} | {:.1} | {:.1}",
                med(setup, &fps_median),
                med(setup, &fps_min),
                med(setup, &|s| captured(setup, s)),
                med(setup, &|s| s.frame_bytes / 1024.0),
            ),
        };
        let per_frame = match setup {
            Setup::Idle => "—".to_owned(),
            _ => format!("{:.1}", med(setup, &|s| columns(s)[2] / captured(setup, s))),
        };
        let _ = writeln!(
            out,
            "| {} | {frames} | {:.0} | {:.0} | {:.0} | {per_frame} | {:.0} | {:.0} | {:.0} |",
            setup.label(plan.viewers),
            c[0],
            c[1],
            c[2],
            c[3],
            c[4],
            c[5]
        );
    }
    let rounds: Vec<String> = SETUPS
        .iter()
        .map(|&setup| {
            let each: Vec<String> = samples(setup)
                .iter()
                .map(|s| format!("{:.0}", columns(s)[2]))
                .collect();
            format!("{} {}", &setup.label(plan.viewers)[..3], each.join(", "))
        })
        .collect();
    let _ = writeln!(
        out,
        "\nBrowser total ms/s in each round: {}.",
        rounds.join("; ")
    );
    let _ = writeln!(
        out,
        "\nFrames captured/s: frames the browser encoded for screencasts, i.e. the one shared screencast's (its fastest viewer's frames/s) in (a) and (b), the sum over the streams in (c). KiB/frame: what a viewer receives per frame (JSON with the base64 JPEG through the gateway; the JPEG bytes on a direct stream). In (c) each stream asks for its own JPEG quality (60, 61, …): the executor shares one CDP screencast per session and frame limits, so distinct limits give each stream its own `Page.startScreencast`, as the incumbent starts one per socket."
    );

    let _ = writeln!(out, "\n### Ratios\n");
    let _ = writeln!(
        out,
        "Each the median over rounds of the two setups measured in the same round. \"Above (0)\" subtracts that round's no-viewer CPU from both: the screencasts' own cost.\n"
    );
    let _ = writeln!(
        out,
        "| comparison | browser total | user | sys | browser total above (0) | browser ms per captured frame | gateway+executor total |\n|---|---:|---:|---:|---:|---:|---:|"
    );
    for (top, bottom) in [
        (Setup::Viewers, Setup::OneViewer),
        (Setup::Screencasts, Setup::Viewers),
        (Setup::Screencasts, Setup::OneViewer),
    ] {
        let ratio = |f: &dyn Fn(usize) -> f64| {
            let per_round: Vec<f64> = (0..plan.rounds).map(f).collect();
            format!("{:.2}×", median(&per_round))
        };
        let col = |setup: Setup, r: usize, i: usize| columns(&samples(setup)[r])[i];
        let of = |i: usize| ratio(&|r| col(top, r, i) / col(bottom, r, i));
        let above = ratio(&|r| {
            (col(top, r, 2) - col(Setup::Idle, r, 2)) / (col(bottom, r, 2) - col(Setup::Idle, r, 2))
        });
        let per_frame = ratio(&|r| {
            let cost = |setup: Setup| col(setup, r, 2) / captured(setup, &samples(setup)[r]);
            cost(top) / cost(bottom)
        });
        let _ = writeln!(
            out,
            "| {} ÷ {} | {} | {} | {} | {above} | {per_frame} | {} |",
            &top.label(plan.viewers)[..3],
            &bottom.label(plan.viewers)[..3],
            of(2),
            of(0),
            of(1),
            of(5)
        );
    }
    out
}
