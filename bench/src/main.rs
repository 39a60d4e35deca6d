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
    Run(RunArgs),
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
        Some(Command::HostServer { update_bytes }) => bench::server::host(update_bytes).await,
        Some(Command::Run(args)) => run(args).await,
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
    };
    // Idle pairs need three descriptors each in this process and in the gateway child (which
    // inherits the limit); the hard limit is the ceiling.
    let open_files = service_kit::limits::raise_open_files()
        .map(|limit| limit.soft)
        .unwrap_or(1024);
    let mut fixture = Fixture::start(args.update_kib * 1024, &plan).await?;
    let header = header(&plan, fixture.server.full_update_len);
    let results = measure::run(&mut fixture, &plan).await;
    let server = fixture.stop().await;
    let results = results?;
    let mut sizes = args.pairs.clone();
    sizes.sort_unstable();
    let pairs = bench::pairs::measure(server.addr, &sizes, args.hold, open_files).await?;
    println!("{}", report::render(&header, &plan, &results));
    println!("{}", report::render_pairs(&pairs, args.hold));
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
    let args: Vec<String> = std::env::args().skip(1).collect();
    let header = vec![
        format!("relay-bench screencast, {} UTC", chrono::Utc::now().format("%Y-%m-%d %H:%M")),
        machine(),
        format!("command: `relay-bench {}`", args.join(" ")),
        format!("{chromium}, headless (no X server, no VNC), 1280×800 window, screencast JPEG quality 60 at most 1280×720; verification, cdp-executor and gateway in one child process (Chromium its child), the viewers in the benchmark process"),
    ];
    println!("{}", bench::screencast::render(&header, &plan, &report));
    Ok(())
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
    ]
}
