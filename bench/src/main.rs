//! `relay-bench`: measures input→update latency, throughput, the relay's CPU per GB and memory
//! per socket of five ways to reach an RFB server, in one run, and prints a Markdown report on
//! stdout (progress goes to stderr). `relay-bench soak` and `relay-bench screencast` (the CDP
//! transport) are runs of their own.

use bench::measure::{self, Fixture, Plan};
use bench::report;
use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "relay-bench",
    about = "Side-by-side benchmark of the gateway's VNC relay"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the benchmark (the default).
    Run(Box<RunArgs>),
    /// Internal: host the synthetic RFB server for the parent benchmark.
    HostServer {
        /// Bytes of raw pixels per full update.
        #[arg(long)]
        update_bytes: usize,
    },
    /// Internal: host a verification service and a gateway for the parent benchmark.
    HostGateway {
        /// The browser session's `vnc_url`.
        #[arg(long)]
        upstream: String,
        /// How many browser sessions to seed (all on `upstream`).
        #[arg(long, default_value_t = 1)]
        sessions: usize,
    },
    /// Soak: live sessions (VNC + Message pairs in control, with input and updates) held on one
    /// gateway; reports RSS, threads, tracked tasks and errors at start and end.
    Soak(SoakArgs),
    /// The CDP transport on a headless Chromium: frames/s to a viewer, key→frame latency, and
    /// the browser's CPU for 1 viewer, N viewers sharing one screencast, N screencasts.
    Screencast(ScreencastArgs),
    /// Internal: host Chromium, verification, cdp-executor and a gateway for `screencast`.
    HostCdp,
    /// Paste through the Message channel → cdp-executor → Chromium against the incumbent's
    /// per-paste Playwright connection, p50/p90/p99 and per-round ratios.
    Paste(PasteArgs),
    /// Verification statements per poll interval with N watched browser sessions, ours (one
    /// batched poll) against the incumbent's (one query per socket), on SQLite and PostgreSQL.
    Watch(WatchArgs),
    /// Internal: host verification or the incumbent's verification loops for `watch`.
    HostWatch {
        /// Which process.
        #[arg(long, value_enum)]
        role: bench::watch_scale::Role,
        /// The database it reads.
        #[arg(long)]
        database_url: String,
        /// Verification's poll interval, the incumbent's loops' sleep.
        #[arg(long, value_parser = service_kit::cli::parse_duration)]
        poll_interval: std::time::Duration,
    },
}

/// The verification watch part's flags, the same in `run` and `watch`.
#[derive(Debug, Clone, Args)]
struct WatchArgs {
    /// Watched browser sessions, one size after the other (the largest is seeded); in `run`,
    /// 0 alone skips the part.
    #[arg(
        long,
        env = "RELAY_BENCH_WATCH_ENTITIES",
        value_delimiter = ',',
        default_value = "1,100,10000"
    )]
    watch_entities: Vec<usize>,
    /// Poll intervals measured per size and side (after one of warm-up).
    #[arg(long, env = "RELAY_BENCH_WATCH_INTERVALS", default_value_t = 5)]
    watch_intervals: usize,
    /// Verification's `--poll-interval` (its default), also the incumbent's loops' sleep.
    #[arg(long, env = "RELAY_BENCH_WATCH_POLL_INTERVAL", default_value = "1s", value_parser = service_kit::cli::parse_duration)]
    watch_poll_interval: std::time::Duration,
    /// PostgreSQL server to create a fresh database on (`none`: SQLite only).
    #[arg(
        long,
        env = "RELAY_BENCH_WATCH_POSTGRES_URL",
        default_value = bench::watch_scale::DEFAULT_POSTGRES_URL
    )]
    watch_postgres_url: String,
    /// Sessions ended one by one at the largest size, timed to their `WatchEvent`.
    #[arg(long, env = "RELAY_BENCH_WATCH_ENDED_SAMPLES", default_value_t = 5)]
    watch_ended_samples: usize,
}

impl WatchArgs {
    /// The plan: sizes above 0, ascending, each once.
    fn plan(&self) -> bench::watch_scale::Plan {
        let mut entities = self.watch_entities.clone();
        entities.retain(|n| *n > 0);
        entities.sort_unstable();
        entities.dedup();
        let postgres_url =
            Some(self.watch_postgres_url.clone()).filter(|u| !u.is_empty() && u != "none");
        bench::watch_scale::Plan {
            entities,
            intervals: self.watch_intervals.max(1),
            poll_interval: self.watch_poll_interval,
            postgres_url,
            ended_samples: self.watch_ended_samples,
        }
    }
}

/// The paste part's flags, the same in `run` and `paste`.
#[derive(Debug, Clone, Args)]
struct PasteArgs {
    /// Measured pastes through the Message channel, and as many through `InsertText` directly;
    /// in `run`, 0 skips the part.
    #[arg(long, env = "RELAY_BENCH_PASTE_SAMPLES", default_value_t = 200)]
    paste_samples: usize,
    /// Unmeasured pastes per path before the first round (the incumbent's: at most 3).
    #[arg(long, env = "RELAY_BENCH_PASTE_WARMUP", default_value_t = 20)]
    paste_warmup: usize,
    /// Rounds the samples are split into (the order of the paths rotates every round).
    #[arg(long, env = "RELAY_BENCH_PASTE_ROUNDS", default_value_t = 10)]
    paste_rounds: usize,
    /// Measured pastes the incumbent's way (each about half a second or more).
    #[arg(
        long,
        env = "RELAY_BENCH_PASTE_INCUMBENT_SAMPLES",
        default_value_t = 30
    )]
    paste_incumbent_samples: usize,
}

impl PasteArgs {
    fn plan(&self) -> bench::paste::Plan {
        bench::paste::Plan {
            samples: self.paste_samples.max(1),
            warmup: self.paste_warmup,
            rounds: self.paste_rounds.max(1),
            incumbent_samples: self.paste_incumbent_samples,
        }
    }
}

#[derive(Debug, Clone, Args)]
struct ScreencastArgs {
    /// Rounds of the CPU setups (their order rotates every round).
    #[arg(long, env = "RELAY_BENCH_SCREENCAST_ROUNDS", default_value_t = 5)]
    rounds: usize,
    /// How long each setup is measured per round.
    #[arg(long, env = "RELAY_BENCH_SCREENCAST_WINDOW", default_value = "10s", value_parser = service_kit::cli::parse_duration)]
    window: std::time::Duration,
    /// Viewers sharing the gateway's screencast in (b), direct screencasts in (c).
    #[arg(long, env = "RELAY_BENCH_SCREENCAST_VIEWERS", default_value_t = 5)]
    viewers: usize,
    /// Measured key→frame samples.
    #[arg(long, env = "RELAY_BENCH_SCREENCAST_SAMPLES", default_value_t = 300)]
    samples: usize,
    /// Unmeasured key→frame samples before them.
    #[arg(long, env = "RELAY_BENCH_SCREENCAST_WARMUP", default_value_t = 30)]
    warmup: usize,
}

#[derive(Debug, Clone, Args)]
struct SoakArgs {
    /// Live sessions, each its own browser session with one controlling viewer.
    #[arg(long, env = "RELAY_BENCH_SOAK_SESSIONS", default_value_t = 1000)]
    sessions: usize,
    /// How long they are held.
    #[arg(long, env = "RELAY_BENCH_SOAK_DURATION", default_value = "10m", value_parser = service_kit::cli::parse_duration)]
    duration: std::time::Duration,
    /// Each viewer sends a pointer event (and reads the update it causes) this often.
    #[arg(long, env = "RELAY_BENCH_SOAK_INPUT_INTERVAL", default_value = "1s", value_parser = service_kit::cli::parse_duration)]
    input_interval: std::time::Duration,
}

#[derive(Debug, Clone, Args)]
struct RunArgs {
    /// Measured pointer→update round trips per path.
    #[arg(long, env = "RELAY_BENCH_SAMPLES", default_value_t = 2000)]
    samples: usize,
    /// Unmeasured round trips per path before measuring.
    #[arg(long, env = "RELAY_BENCH_WARMUP", default_value_t = 200)]
    warmup: usize,
    /// Rounds the latency and throughput runs are split into (paths rotate every round).
    #[arg(long, env = "RELAY_BENCH_ROUNDS", default_value_t = 10)]
    rounds: usize,
    /// MiB of framebuffer updates fetched per path.
    #[arg(long, env = "RELAY_BENCH_THROUGHPUT_MIB", default_value_t = 3000)]
    throughput_mib: usize,
    /// KiB of raw pixels per full framebuffer update (3600: the whole 1280×720 screen).
    #[arg(long, env = "RELAY_BENCH_UPDATE_KIB", default_value_t = 3600)]
    update_kib: usize,
    /// Update requests kept outstanding (noVNC keeps one; four keep every hop busy).
    #[arg(long, env = "RELAY_BENCH_WINDOW", default_value_t = 4)]
    window: usize,
    /// Idle sockets opened per path in each memory round. One websockify failed new
    /// connections past ~400-600 concurrent ones here, so keep idle × rounds ≤ 400.
    #[arg(long, env = "RELAY_BENCH_IDLE", default_value_t = 100)]
    idle: usize,
    /// Memory rounds (idle sockets accumulate across rounds).
    #[arg(long, env = "RELAY_BENCH_MEMORY_ROUNDS", default_value_t = 4)]
    memory_rounds: usize,
    /// Measured new viewers per path, each timed from connect to its first update.
    #[arg(long, env = "RELAY_BENCH_CONNECTS", default_value_t = 200)]
    connects: usize,
    /// Viewers streaming full-screen updates at once, per path.
    #[arg(long, env = "RELAY_BENCH_VIEWERS", default_value_t = 100)]
    viewers: usize,
    /// MiB those viewers fetch together per path (over all rounds).
    #[arg(long, env = "RELAY_BENCH_VIEWERS_MIB", default_value_t = 6000)]
    viewers_mib: usize,
    #[command(flatten)]
    paste: PasteArgs,
    #[command(flatten)]
    watch: WatchArgs,
    /// Idle VNC+Message pairs held on one gateway, in ascending sizes (they accumulate).
    #[arg(
        long,
        env = "RELAY_BENCH_PAIRS",
        value_delimiter = ',',
        default_value = "1000,5000,10000"
    )]
    pairs: Vec<usize>,
    /// How long each size of idle pairs is held before every pair is checked.
    #[arg(long, env = "RELAY_BENCH_HOLD", default_value = "60s", value_parser = service_kit::cli::parse_duration)]
    hold: std::time::Duration,
    /// The websockify program.
    #[arg(
        long,
        env = "RELAY_BENCH_WEBSOCKIFY",
        default_value = "/usr/bin/websockify"
    )]
    websockify: String,
    /// The socat program (the kernel-floor relay).
    #[arg(long, env = "RELAY_BENCH_SOCAT", default_value = "/usr/bin/socat")]
    socat: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::HostGateway { upstream, sessions }) => {
            bench::host::serve(upstream, sessions).await
        }
        Some(Command::Soak(args)) => soak(args).await,
        Some(Command::Screencast(args)) => screencast(args).await,
        Some(Command::HostCdp) => bench::screencast::host().await,
        Some(Command::Paste(args)) => paste(args).await,
        Some(Command::Watch(args)) => watch(args).await,
        Some(Command::HostWatch {
            role,
            database_url,
            poll_interval,
        }) => bench::watch_scale::host(role, database_url, poll_interval).await,
        Some(Command::HostServer { update_bytes }) => bench::server::host(update_bytes).await,
        Some(Command::Run(args)) => run(*args).await,
        None => run(cli.run).await,
    }
}

async fn run(args: RunArgs) -> anyhow::Result<()> {
    let plan = Plan {
        samples: args.samples,
        warmup: args.warmup,
        rounds: args.rounds.max(1),
        throughput_mib: args.throughput_mib,
        window: args.window.max(1),
        idle: args.idle,
        memory_rounds: args.memory_rounds,
        connects: args.connects,
        websockify: args.websockify,
        socat: args.socat,
        viewers: args.viewers,
        viewers_mib: args.viewers_mib,
    };
    // Idle pairs need three descriptors each in this process and in the gateway child (which
    // inherits the limit); the hard limit is the ceiling.
    let open_files = service_kit::limits::raise_open_files()
        .map(|limit| limit.soft)
        .unwrap_or(1024);
    let mut fixture = Fixture::start(args.update_kib * 1024, &plan).await?;
    let header = header(&plan, fixture.server.full_update_len);
    let mut results = measure::run(&mut fixture, &plan).await;
    if let Ok(results) = &mut results {
        if let Err(error) = bench::many_viewers::measure(&mut fixture, &plan, results).await {
            fixture.stop().await;
            return Err(error);
        }
    }
    let server = fixture.stop().await;
    let results = results?;
    let mut sizes = args.pairs.clone();
    sizes.sort_unstable();
    let pairs = bench::pairs::measure(server.addr, &sizes, args.hold, open_files).await?;
    let crowd = bench::many_viewers::render(&plan, &results);
    println!("{}", report::render(&header, &plan, &results, &crowd));
    println!("{}", report::render_pairs(&pairs, args.hold));
    if args.paste.paste_samples > 0 {
        let plan = args.paste.plan();
        // The relay's numbers are printed already: a paste stack that cannot start is a line
        // of the report, not a lost run.
        match bench::paste::run(&plan).await {
            Ok(report) => println!("{}", bench::paste::render(&plan, &report)),
            Err(error) => println!("### Paste\n\nNot run: {error:#}.\n"),
        }
    }
    let plan = args.watch.plan();
    if !plan.entities.is_empty() {
        match bench::watch_scale::run(&plan).await {
            Ok(report) => println!("{}", bench::watch_scale::render(&plan, &report)),
            Err(error) => println!("### Verification watch at scale\n\nNot run: {error:#}.\n"),
        }
    }
    Ok(())
}

async fn soak(args: SoakArgs) -> anyhow::Result<()> {
    let open_files = service_kit::limits::raise_open_files()
        .map(|limit| limit.soft)
        .unwrap_or(1024);
    let plan = bench::soak::SoakPlan {
        sessions: args.sessions,
        duration: args.duration,
        input_interval: args.input_interval,
        open_files,
    };
    let report = bench::soak::run(&plan).await?;
    println!("{}", bench::soak::render(&plan, &report));
    Ok(())
}

async fn screencast(args: ScreencastArgs) -> anyhow::Result<()> {
    let plan = bench::screencast::Plan {
        rounds: args.rounds.max(1),
        window: args.window,
        viewers: args.viewers.max(1),
        samples: args.samples.max(1),
        warmup: args.warmup,
    };
    let chromium = integration_tests::node::chromium_executable()
        .and_then(|path| {
            std::process::Command::new(path)
                .arg("--version")
                .output()
                .ok()
        })
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map_or_else(|| "unknown".into(), |v| v.trim().to_owned());
    let report = bench::screencast::run(&plan).await?;
    let mut header = heading("screencast");
    header.push(format!("{chromium}, headless (no X server, no VNC), 1280×800 window, screencast JPEG quality 60 at most 1280×720; verification, cdp-executor and gateway in one child process (Chromium its child), the viewers in the benchmark process"));
    println!("{}", bench::screencast::render(&header, &plan, &report));
    Ok(())
}

async fn paste(args: PasteArgs) -> anyhow::Result<()> {
    let plan = args.plan();
    let report = bench::paste::run(&plan).await?;
    for line in heading("paste") {
        println!("- {line}");
    }
    println!();
    println!("{}", bench::paste::render(&plan, &report));
    Ok(())
}

async fn watch(args: WatchArgs) -> anyhow::Result<()> {
    let plan = args.plan();
    anyhow::ensure!(
        !plan.entities.is_empty(),
        "--watch-entities needs a size above 0"
    );
    let report = bench::watch_scale::run(&plan).await?;
    for line in heading("watch") {
        println!("- {line}");
    }
    println!();
    println!("{}", bench::watch_scale::render(&plan, &report));
    Ok(())
}

/// The first lines of a subcommand's report: what ran, when, where, with which flags.
fn heading(subcommand: &str) -> Vec<String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    vec![
        format!(
            "relay-bench {subcommand}, {} UTC",
            chrono::Utc::now().format("%Y-%m-%d %H:%M")
        ),
        machine(),
        format!("command: `relay-bench {}`", args.join(" ")),
    ]
}

/// The machine line of a report.
fn machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, usize::from);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines().find_map(|l| {
                l.strip_prefix("model name")?
                    .split(':')
                    .nth(1)
                    .map(str::trim)
                    .map(str::to_owned)
            })
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!(
        "machine: {cpus} cores ({model}), Linux {}, shared with other work",
        kernel.trim()
    )
}

/// Date, machine and parameters.
fn header(plan: &Plan, update_len: usize) -> Vec<String> {
    let websockify = std::process::Command::new("dpkg-query")
        .args(["-W", "-f", "${Version}", "websockify"])
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "unknown".into());
    vec![
        format!("relay-bench, {} UTC", chrono::Utc::now().format("%Y-%m-%d %H:%M")),
        machine(),
        format!("websockify {websockify} ({}); socat -b 65536 ({}); the synthetic server in its own process; for (e) and (f) a gateway with its verification service in a child process each", plan.websockify, plan.socat),
        format!(
            "latency: {} pointer round trips per path after {} warm-up, {} connects per path; throughput: {} MiB per path of {update_len}-byte updates, {} outstanding request(s); memory: {} idle sockets per path × {} rounds",
            plan.samples, plan.warmup, plan.connects, plan.throughput_mib, plan.window, plan.idle, plan.memory_rounds
        ),
        format!("many viewers: {} per path at once, {} MiB per path", plan.viewers, plan.viewers_mib),
    ]
}
