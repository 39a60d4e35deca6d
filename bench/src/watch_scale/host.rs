//! The two processes whose cost is measured, each this binary re-executed as `relay-bench
//! host-watch --role …` on the benchmark's database, so each one's CPU is its own:
//!
//! - `verification`: the real verification service (`Application`, production settings but
//!   the poll interval, metrics on 127.0.0.1:0). It prints `bench-watch <grpc addr> <metrics
//!   addr>`, then after every poll cycle `bench-cycle <cycles> <statements> <statement µs>
//!   <polled cycles> <cycle µs>` (cumulative): the poller's `PollStats`, and how long its
//!   cycles took, timed by a tracing layer on the store's `poll` span (see [`PollTimer`]).
//! - `incumbent`: the incumbent's per-socket loops ([`super::incumbent`]); it prints
//!   `bench-watch - -` and answers commands.
//!
//! Both stop at stdin EOF.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use service_kit::sync::lock;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tracing_subscriber::layer::{Context as LayerContext, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

/// Bound on a host's start-up and on each answer to a command.
pub const ANSWER_WAIT: Duration = Duration::from_secs(60);

/// Which process to host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Role {
    /// The verification service (ours).
    Verification,
    /// The incumbent's per-socket verification loops.
    Incumbent,
}

impl Role {
    fn as_arg(self) -> &'static str {
        match self {
            Role::Verification => "verification",
            Role::Incumbent => "incumbent",
        }
    }
}

/// Child side: serves `role` on `database_url` until stdin closes.
pub async fn serve(role: Role, database_url: String, interval: Duration) -> anyhow::Result<()> {
    match role {
        Role::Verification => serve_verification(&database_url, interval).await,
        Role::Incumbent => super::incumbent::serve(&database_url, interval).await,
    }
}

async fn serve_verification(database_url: &str, interval: Duration) -> anyhow::Result<()> {
    let timer = PollTimer::default();
    install_tracing(timer.clone())?;
    let mut config = verification::Config::for_database(database_url);
    config.poll_interval = interval;
    config.metrics_listen = Some(SocketAddr::from(([127, 0, 0, 1], 0)));
    let app = verification::Application::build(config).await?;
    let addr = app.local_addr();
    let metrics = app.metrics_addr().context("no metrics listener")?;
    let mut stats = app.poll_stats();
    let stop = CancellationToken::new();
    let server = tokio::spawn(app.run(stop.clone().cancelled_owned()));
    println!("bench-watch {addr} {metrics}");
    let reporter = tokio::spawn({
        let stop = stop.clone();
        async move {
            loop {
                tokio::select! {
                    () = stop.cancelled() => return,
                    changed = stats.changed() => if changed.is_err() { return },
                }
                let now = *stats.borrow_and_update();
                let t = timer.cycle_done();
                println!(
                    "bench-cycle {} {} {} {} {}",
                    now.cycles, now.queries, t.statement_us, t.polled, t.cycle_us
                );
            }
        }
    });
    let mut commands = crate::host::stdin_lines();
    while commands.recv().await.is_some() {}
    stop.cancel();
    let _ = tokio::time::timeout(ANSWER_WAIT, reporter).await;
    match tokio::time::timeout(ANSWER_WAIT, server).await {
        Ok(Ok(result)) => result,
        Ok(Err(error)) => Err(error.into()),
        Err(_) => bail!("verification did not stop in time"),
    }
}

/// The store's `poll` span only (timed), and warnings on stderr.
fn install_tracing(timer: PollTimer) -> anyhow::Result<()> {
    let poll_span = tracing_subscriber::filter::filter_fn(|meta| {
        meta.is_span() && meta.name() == "poll" && meta.target() == "verification::store::entities"
    });
    let subscriber = tracing_subscriber::registry()
        .with(timer.with_filter(poll_span))
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_filter(tracing_subscriber::filter::LevelFilter::WARN),
        );
    tracing::subscriber::set_global_default(subscriber).context("a tracing subscriber is set")
}

// === impl PollTimer ===

/// Times the watch poller from inside the service: the store's `poll` span (one per cycle
/// with watched entities: pool acquire, the statement(s), rows decoded) is the statement
/// time; from that span's start to the cycle's `PollStats` being published (judging each
/// entity and notifying included) is the cycle time.
#[derive(Clone, Default)]
pub struct PollTimer {
    inner: Arc<Mutex<Timing>>,
}

/// Cumulative timings.
#[derive(Debug, Clone, Copy, Default)]
struct Timing {
    /// µs spent in `poll` spans.
    statement_us: u64,
    /// Cycles that ran a `poll`.
    polled: u64,
    /// µs from each `poll` start to its cycle's end.
    cycle_us: u64,
    /// When the current cycle's `poll` started.
    started: Option<Instant>,
}

struct SpanStart(Instant);

impl PollTimer {
    /// A cycle ended: closes its cycle time (when it polled) and returns the totals.
    fn cycle_done(&self) -> Timing {
        let mut t = lock(&self.inner);
        if let Some(started) = t.started.take() {
            t.polled += 1;
            t.cycle_us += micros(started.elapsed());
        }
        *t
    }
}

impl<S> Layer<S> for PollTimer
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(
        &self,
        _attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: LayerContext<'_, S>,
    ) {
        let now = Instant::now();
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(SpanStart(now));
        }
        lock(&self.inner).started = Some(now);
    }

    fn on_close(&self, id: tracing::span::Id, ctx: LayerContext<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let started = span.extensions().get::<SpanStart>().map(|s| s.0);
        if let Some(started) = started {
            lock(&self.inner).statement_us += micros(started.elapsed());
        }
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

// === impl Host ===

/// One `bench-cycle` line of the verification host.
#[derive(Debug, Clone, Copy, Default)]
pub struct Cycle {
    /// Poll cycles completed.
    pub cycles: u64,
    /// Statements the poller ran.
    pub statements: u64,
    /// µs in the store's `poll` spans.
    pub statement_us: u64,
    /// Cycles that polled (had watched entities).
    pub polled: u64,
    /// µs of those cycles.
    pub cycle_us: u64,
}

/// Parent side: a running host.
pub struct Host {
    child: Child,
    stdin: ChildStdin,
    answers: mpsc::Receiver<String>,
    /// The latest poll cycle (verification only).
    pub cycles: watch::Receiver<Cycle>,
    /// gRPC and metrics addresses (verification only).
    pub addrs: Option<(SocketAddr, SocketAddr)>,
}

impl Host {
    /// Starts `role` on `database_url`.
    pub async fn spawn(role: Role, database_url: &str, interval: Duration) -> anyhow::Result<Self> {
        let interval = format!("{}ms", interval.as_millis());
        let mut child = crate::host::spawn_self(&[
            "host-watch",
            "--role",
            role.as_arg(),
            "--database-url",
            database_url,
            "--poll-interval",
            &interval,
        ])?;
        let stdin = child.stdin.take().context("child stdin")?;
        let stdout = child.stdout.take().context("child stdout")?;
        let (cycle_tx, cycles) = watch::channel(Cycle::default());
        let (answer_tx, answers) = mpsc::channel(64);
        tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(rest) = line.strip_prefix("bench-cycle ") {
                    if let Some(cycle) = parse_cycle(rest) {
                        cycle_tx.send_replace(cycle);
                    }
                } else if answer_tx.send(line).await.is_err() {
                    return;
                }
            }
        });
        let mut host = Self {
            child,
            stdin,
            answers,
            cycles,
            addrs: None,
        };
        let ready = host
            .answer("bench-watch ")
            .await
            .with_context(|| format!("the {} host did not start", role.as_arg()))?;
        if role == Role::Verification {
            let mut fields = ready.split_whitespace().map(str::parse::<SocketAddr>);
            match (fields.next(), fields.next()) {
                (Some(Ok(grpc)), Some(Ok(metrics))) => host.addrs = Some((grpc, metrics)),
                _ => bail!("malformed host line {ready:?}"),
            }
        }
        Ok(host)
    }

    /// Writes `command` and returns the rest of the answer line that starts with `prefix`.
    pub async fn request(&mut self, command: &str, prefix: &str) -> anyhow::Result<String> {
        self.stdin.write_all(command.as_bytes()).await?;
        self.stdin.write_all(b"\n").await?;
        self.stdin.flush().await?;
        self.answer(prefix).await
    }

    async fn answer(&mut self, prefix: &str) -> anyhow::Result<String> {
        let wait = async {
            while let Some(line) = self.answers.recv().await {
                if let Some(rest) = line.strip_prefix(prefix) {
                    return Ok(rest.to_owned());
                }
            }
            bail!("the host exited before answering {prefix:?}")
        };
        tokio::time::timeout(ANSWER_WAIT, wait)
            .await
            .with_context(|| format!("no {prefix:?} answer in time"))?
    }

    /// The host's process id.
    pub fn pid(&self) -> anyhow::Result<u32> {
        self.child.id().context("the host exited")
    }

    /// Closes its stdin and waits for it to exit (killed past the bound).
    pub async fn stop(self) {
        crate::host::stop_child(self.stdin, self.child, ANSWER_WAIT).await;
    }
}

fn parse_cycle(rest: &str) -> Option<Cycle> {
    let n: Vec<u64> = rest
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    let [cycles, statements, statement_us, polled, cycle_us] = n[..] else {
        return None;
    };
    Some(Cycle {
        cycles,
        statements,
        statement_us,
        polled,
        cycle_us,
    })
}
