//! The six paths and the four measurements, run in rotation: round r runs the paths in the
//! order ABCDEF rotated by r (ABCDEF, BCDEFA, CDEFAB, …), so that machine noise lands on every
//! path alike.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use futures::stream::{self, StreamExt, TryStreamExt};

use crate::client::{Answered, RfbClient};
use crate::host::GatewayHost;
use crate::procfs::{tree_cpu, tree_memory, Cpu, Memory};
use crate::server::SyntheticServer;
use crate::socat::Socat;
use crate::websockify::Websockify;

/// One MiB.
pub const MIB: f64 = 1024.0 * 1024.0;
/// How many idle sockets are opened at once.
const CONNECT_CONCURRENCY: usize = 8;
/// Pause between opening idle sockets and reading memory, so that buffers settle.
const SETTLE: Duration = Duration::from_millis(500);

/// A way from the viewer to the RFB server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Path {
    /// (a) raw TCP, no WebSocket.
    Direct,
    /// (b) the server's own WebSocket, no proxy: the floor for a WebSocket viewer.
    OwnWebSocket,
    /// (c) raw TCP → socat → TCP: the kernel's floor for one relay hop.
    Socat,
    /// (d) WebSocket → websockify → TCP.
    Websockify,
    /// (e) WebSocket → gateway (`ws://` upstream) → the server's own WebSocket.
    GatewayWs,
    /// (f) WebSocket → gateway (`tcp://` upstream) → TCP.
    Ours,
}

impl Path {
    /// Every path, in table order.
    pub const ALL: [Path; 6] = [
        Path::Direct,
        Path::OwnWebSocket,
        Path::Socat,
        Path::Websockify,
        Path::GatewayWs,
        Path::Ours,
    ];

    /// The row label.
    pub fn label(self) -> &'static str {
        match self {
            Path::Direct => "(a) direct TCP",
            Path::OwnWebSocket => "(b) upstream's own WebSocket",
            Path::Socat => "(c) socat TCP relay",
            Path::Websockify => "(d) websockify",
            Path::GatewayWs => "(e) gateway ws:// upstream",
            Path::Ours => "(f) gateway tcp:// upstream",
        }
    }

    /// Its place in [`Path::ALL`] (and in the results).
    pub fn index(self) -> usize {
        Path::ALL.iter().position(|p| *p == self).unwrap_or(0)
    }

    /// Whether a relay process stands between the client and the server.
    pub fn relayed(self) -> bool {
        !matches!(self, Path::Direct | Path::OwnWebSocket)
    }
}

/// The paths in round `round`'s order.
pub fn rotation(round: usize) -> [Path; 6] {
    let mut order = Path::ALL;
    order.rotate_left(round % Path::ALL.len());
    order
}

/// What to run.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Measured pointer round trips per path.
    pub samples: usize,
    /// Unmeasured pointer round trips per path first.
    pub warmup: usize,
    /// Rounds the latency and throughput runs are split into.
    pub rounds: usize,
    /// MiB of framebuffer updates per path.
    pub throughput_mib: usize,
    /// Outstanding update requests.
    pub window: usize,
    /// Idle sockets opened per path and memory round.
    pub idle: usize,
    /// Memory rounds (sockets accumulate: each round adds `idle` more).
    pub memory_rounds: usize,
    /// Measured connects (through to the first update) per path.
    pub connects: usize,
    /// The websockify program.
    pub websockify: String,
    /// The socat program.
    pub socat: String,
    /// Viewers streaming at once per path ([`crate::many_viewers`]; 0: not measured).
    pub viewers: usize,
    /// MiB those viewers fetch together per path, over all rounds.
    pub viewers_mib: usize,
}

/// What one throughput round cost the relay, per GB (10^9 bytes) relayed.
#[derive(Debug, Clone, Copy)]
pub struct RelayCost {
    /// User CPU seconds per GB.
    pub user: f64,
    /// System CPU seconds per GB.
    pub sys: f64,
    /// Minor page faults per MiB.
    pub faults_per_mib: f64,
}

impl RelayCost {
    /// Total CPU seconds per GB.
    pub fn cpu(&self) -> f64 {
        self.user + self.sys
    }

    pub(crate) fn of(cpu: Cpu, bytes: usize) -> Self {
        let gb = bytes.max(1) as f64 / 1e9;
        Self {
            user: cpu.user.as_secs_f64() / gb,
            sys: cpu.sys.as_secs_f64() / gb,
            faults_per_mib: cpu.minor_faults as f64 / (bytes.max(1) as f64 / MIB),
        }
    }
}

/// Everything measured on one path.
#[derive(Debug, Default)]
pub struct PathResult {
    /// Pointer→update round trips.
    pub latencies: Vec<Duration>,
    /// Connect (and upgrade, authentication, verification) through the RFB handshake to the
    /// first update.
    pub connects: Vec<Duration>,
    /// MiB/s of each throughput round.
    pub throughput: Vec<f64>,
    /// The relay's cost of each throughput round (empty without a relay).
    pub cost: Vec<RelayCost>,
    /// Relay memory growth per idle socket of each memory round, KiB (RSS, PSS).
    pub per_socket: Vec<(f64, f64)>,
    /// Relay processes counted after the last memory round.
    pub processes: usize,
    /// Each round of many viewers streaming at once.
    pub crowd: Vec<CrowdRound>,
}

/// What one many-viewers round measured on one path.
#[derive(Debug, Clone, Copy)]
pub struct CrowdRound {
    /// Bytes every viewer received, together, per second, in MiB/s.
    pub mib_s: f64,
    /// The slowest viewer's MiB/s ÷ the fastest's: how evenly the relay shares.
    pub fairness: f64,
    /// The relay's cost (absent without a relay).
    pub cost: Option<RelayCost>,
}

/// Where a new viewer connects.
pub enum Target {
    /// Raw TCP (direct or through socat).
    Tcp(SocketAddr),
    /// A WebSocket URL.
    Ws(String),
}

impl Target {
    /// A client past the handshake.
    pub async fn connect(self) -> anyhow::Result<RfbClient> {
        let mut client = match self {
            Target::Tcp(addr) => RfbClient::tcp(addr).await?,
            Target::Ws(url) => RfbClient::ws(&url).await?,
        };
        client.handshake().await?;
        Ok(client)
    }
}

/// The running parts: the server (raw TCP and its own WebSocket), a socat relay, websockify,
/// and two gateways.
pub struct Fixture {
    /// The synthetic RFB server.
    pub server: SyntheticServer,
    socat: Socat,
    websockify: Websockify,
    gateway_ws: GatewayHost,
    gateway_tcp: GatewayHost,
    next_client: usize,
}

impl Fixture {
    /// Starts every part.
    pub async fn start(update_bytes: usize, plan: &Plan) -> anyhow::Result<Self> {
        let server = SyntheticServer::spawn(update_bytes).await?;
        let socat = Socat::spawn(&plan.socat, server.addr).await?;
        let websockify = Websockify::spawn(&plan.websockify, server.addr).await?;
        let gateway_ws = GatewayHost::spawn(&format!("ws://{}", server.ws_addr)).await?;
        let gateway_tcp = GatewayHost::spawn(&format!("tcp://{}", server.addr)).await?;
        Ok(Self {
            server,
            socat,
            websockify,
            gateway_ws,
            gateway_tcp,
            next_client: 0,
        })
    }

    /// The gateway of a gateway path.
    fn gateway(&mut self, path: Path) -> Option<&mut GatewayHost> {
        match path {
            Path::GatewayWs => Some(&mut self.gateway_ws),
            Path::Ours => Some(&mut self.gateway_tcp),
            _ => None,
        }
    }

    /// The viewer URL of a WebSocket path and the client id it carries (`None` for the TCP
    /// paths).
    fn url(&mut self, path: Path) -> Option<(String, String)> {
        self.next_client += 1;
        let client_id = format!("bench{}", self.next_client);
        let url = match path {
            Path::Direct | Path::Socat => return None,
            Path::OwnWebSocket => format!("ws://{}", self.server.ws_addr),
            Path::Websockify => self.websockify.url(),
            Path::GatewayWs | Path::Ours => self.gateway(path)?.vnc_url(&client_id),
        };
        Some((url, client_id))
    }

    /// Where a new viewer of `path` connects (a gateway viewer gets a fresh client id).
    pub fn target(&mut self, path: Path) -> Target {
        match (self.url(path), path) {
            (Some((url, _)), _) => Target::Ws(url),
            (None, Path::Socat) => Target::Tcp(self.socat.addr),
            (None, _) => Target::Tcp(self.server.addr),
        }
    }

    /// A connected client past the handshake; `control` gives it control on gateway paths.
    pub async fn connect(&mut self, path: Path, control: bool) -> anyhow::Result<RfbClient> {
        let Some((url, client_id)) = self.url(path) else {
            return self.target(path).connect().await;
        };
        let mut client = RfbClient::ws(&url).await?;
        if control {
            if let Some(gateway) = self.gateway(path) {
                gateway.give_control(&client_id).await?;
            }
        }
        client.handshake().await?;
        Ok(client)
    }

    /// The roots of the relay's process trees on `path` (none without a relay).
    fn relay_roots(&self, path: Path) -> anyhow::Result<Vec<u32>> {
        Ok(match path {
            Path::Direct | Path::OwnWebSocket => Vec::new(),
            Path::Socat => vec![self.socat.pid()?],
            Path::Websockify => vec![self.websockify.pid()?],
            Path::GatewayWs => vec![self.gateway_ws.pid()?],
            Path::Ours => vec![self.gateway_tcp.pid()?],
        })
    }

    /// The relay's memory on `path` (`None` for the direct path: there is no relay).
    pub fn relay_memory(&self, path: Path) -> anyhow::Result<Option<Memory>> {
        let roots = self.relay_roots(path)?;
        Ok((!roots.is_empty()).then(|| {
            roots
                .into_iter()
                .map(tree_memory)
                .fold(Memory::default(), |a, b| a + b)
        }))
    }

    /// The relay's CPU time so far on `path` (`None` for the direct path).
    pub fn relay_cpu(&self, path: Path) -> anyhow::Result<Option<Cpu>> {
        let roots = self.relay_roots(path)?;
        Ok((!roots.is_empty()).then(|| {
            roots
                .into_iter()
                .map(tree_cpu)
                .fold(Cpu::default(), |a, b| a + b)
        }))
    }

    /// Stops the gateways (socat and websockify are killed on drop; their children end with
    /// their sockets) and hands back the server, which runs until it is dropped.
    pub async fn stop(self) -> SyntheticServer {
        self.gateway_ws.stop().await;
        self.gateway_tcp.stop().await;
        self.server
    }
}

/// Runs the whole plan; returns one result per path, in [`Path::ALL`] order.
pub async fn run(fixture: &mut Fixture, plan: &Plan) -> anyhow::Result<Vec<PathResult>> {
    let mut results: Vec<PathResult> = Path::ALL.iter().map(|_| PathResult::default()).collect();
    let mut clients = Vec::new();
    for path in Path::ALL {
        clients.push(fixture.connect(path, true).await?);
    }
    // Memory first, on gateways that have relayed nothing yet: heap freed by the throughput
    // rounds would otherwise be reused by the idle sockets and hide their cost.
    let idle = measure_memory(fixture, plan, &mut results).await?;
    for client in idle {
        client.close().await;
    }
    eprintln!("warming up ({} round trips per path)…", plan.warmup);
    for client in &mut clients {
        for _ in 0..plan.warmup {
            client.pointer_round_trip().await?;
        }
        client.fetch_updates(16, plan.window).await?;
    }
    measure_latency(&mut clients, plan, &mut results).await?;
    measure_connects(fixture, plan, &mut results).await?;
    let clients = measure_throughput(fixture, clients, plan, &mut results).await?;
    for client in clients {
        client.close().await;
    }
    Ok(results)
}

/// Pointer round trips on every path's client, in rotation.
async fn measure_latency(
    clients: &mut [RfbClient],
    plan: &Plan,
    results: &mut [PathResult],
) -> anyhow::Result<()> {
    let rounds = plan.rounds.max(1);
    eprintln!(
        "latency: {} round trips per path in {rounds} rounds…",
        plan.samples
    );
    let per_round = plan.samples.div_ceil(rounds);
    for round in 0..rounds {
        for path in rotation(round) {
            let client = &mut clients[path.index()];
            for _ in 0..per_round {
                let rtt = client.pointer_round_trip().await?;
                results[path.index()].latencies.push(rtt);
            }
        }
    }
    Ok(())
}

/// New viewers on every path, in rotation: from the TCP connect to the first (small,
/// incremental) update; each is closed before the next opens.
async fn measure_connects(
    fixture: &mut Fixture,
    plan: &Plan,
    results: &mut [PathResult],
) -> anyhow::Result<()> {
    let rounds = plan.rounds.max(1);
    eprintln!(
        "connect to first update: {} per path in {rounds} rounds…",
        plan.connects
    );
    let per_round = plan.connects.div_ceil(rounds);
    for round in 0..rounds {
        for path in rotation(round) {
            for _ in 0..per_round {
                let start = std::time::Instant::now();
                let mut client = fixture.connect(path, false).await?;
                client.incremental_update().await?;
                results[path.index()].connects.push(start.elapsed());
                client.close().await;
            }
        }
    }
    Ok(())
}

/// Full-screen updates on every path's client, in rotation; MiB/s per round, and the relay's
/// CPU time over the rounds. The clients not in their turn are kept answered in tasks of their
/// own, so however long the other turns take, the gateways see their pings answered.
async fn measure_throughput(
    fixture: &Fixture,
    clients: Vec<RfbClient>,
    plan: &Plan,
    results: &mut [PathResult],
) -> anyhow::Result<Vec<RfbClient>> {
    let update_len = fixture.server.full_update_len;
    let rounds = plan.rounds.max(1);
    eprintln!(
        "throughput: {} MiB per path in {rounds} rounds…",
        plan.throughput_mib
    );
    let round_bytes = plan.throughput_mib as f64 * MIB / rounds as f64;
    let updates = ((round_bytes / update_len as f64).ceil() as usize).max(1);
    let mut kept: Vec<Option<Answered>> = clients
        .into_iter()
        .map(|client| Some(client.keep_answered()))
        .collect();
    for round in 0..rounds {
        for path in rotation(round) {
            let held = kept[path.index()]
                .take()
                .expect("every path's client is kept");
            let mut client = held
                .take()
                .await
                .with_context(|| format!("{}: idle between throughput turns", path.label()))?;
            let before = fixture.relay_cpu(path)?;
            let (bytes, elapsed) = client
                .fetch_updates(updates, plan.window)
                .await
                .with_context(|| format!("throughput round {round}, {}", path.label()))?;
            let after = fixture.relay_cpu(path)?;
            kept[path.index()] = Some(client.keep_answered());
            let result = &mut results[path.index()];
            result
                .throughput
                .push(bytes as f64 / MIB / elapsed.as_secs_f64());
            if let (Some(before), Some(after)) = (before, after) {
                result.cost.push(RelayCost::of(after.since(before), bytes));
            }
        }
    }
    let mut clients = Vec::with_capacity(kept.len());
    for held in kept.into_iter().flatten() {
        clients.push(held.take().await?);
    }
    Ok(clients)
}

/// Opens `plan.idle` more idle sockets per path each round and records the relay's growth.
async fn measure_memory(
    fixture: &mut Fixture,
    plan: &Plan,
    results: &mut [PathResult],
) -> anyhow::Result<Vec<RfbClient>> {
    let mut held = Vec::new();
    for round in 0..plan.memory_rounds {
        eprintln!(
            "memory round {}: {} idle sockets per path…",
            round + 1,
            plan.idle
        );
        for path in rotation(round) {
            let Some(before) = fixture.relay_memory(path)? else {
                continue;
            };
            let targets: Vec<_> = (0..plan.idle).map(|_| fixture.target(path)).collect();
            let opened: Vec<RfbClient> = stream::iter(targets)
                .map(Target::connect)
                .buffer_unordered(CONNECT_CONCURRENCY)
                .try_collect()
                .await
                .with_context(|| format!("{}: opening idle sockets", path.label()))?;
            tokio::time::sleep(SETTLE).await;
            let after = fixture.relay_memory(path)?.unwrap_or_default();
            let n = opened.len().max(1) as f64;
            let result = &mut results[path.index()];
            result.per_socket.push((
                (after.rss_kib as f64 - before.rss_kib as f64) / n,
                (after.pss_kib as f64 - before.pss_kib as f64) / n,
            ));
            result.processes = after.processes;
            held.extend(opened);
        }
    }
    Ok(held)
}
