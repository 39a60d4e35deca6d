//! The four paths and the three measurements, run in rotation: round r runs the paths in the
//! order ABCD rotated by r (ABCD, BCDA, CDAB, DABC, …), so that machine noise lands on every
//! path alike.

use std::time::Duration;

use anyhow::Context;
use futures::stream::{self, StreamExt, TryStreamExt};

use crate::client::RfbClient;
use crate::host::GatewayHost;
use crate::server::SyntheticServer;
use crate::websockify::{tree_memory, Memory, Websockify};

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
    /// (b) WebSocket → websockify → TCP.
    Websockify,
    /// (c) WebSocket → gateway (`ws://` upstream) → websockify → TCP.
    Incumbent,
    /// (d) WebSocket → gateway (`tcp://` upstream) → TCP.
    Ours,
}

impl Path {
    /// Every path, in table order.
    pub const ALL: [Path; 4] = [Path::Direct, Path::Websockify, Path::Incumbent, Path::Ours];

    /// The row label.
    pub fn label(self) -> &'static str {
        match self {
            Path::Direct => "(a) direct TCP",
            Path::Websockify => "(b) websockify",
            Path::Incumbent => "(c) gateway ws:// → websockify",
            Path::Ours => "(d) gateway tcp:// (ours)",
        }
    }

    fn index(self) -> usize {
        Path::ALL.iter().position(|p| *p == self).unwrap_or(0)
    }
}

/// The paths in round `round`'s order.
fn rotation(round: usize) -> [Path; 4] {
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
    /// The websockify program.
    pub websockify: String,
}

/// Everything measured on one path.
#[derive(Debug, Default)]
pub struct PathResult {
    /// Pointer→update round trips.
    pub latencies: Vec<Duration>,
    /// MiB/s of each throughput round.
    pub throughput: Vec<f64>,
    /// Relay memory growth per idle socket of each memory round, KiB (RSS, PSS).
    pub per_socket: Vec<(f64, f64)>,
    /// Relay processes counted after the last memory round.
    pub processes: usize,
}

/// The running parts: the server, two websockify (one per path that uses one, so each
/// path's memory is its own), and two gateways.
pub struct Fixture {
    /// The synthetic RFB server.
    pub server: SyntheticServer,
    websockify_b: Websockify,
    websockify_c: Websockify,
    gateway_c: GatewayHost,
    gateway_d: GatewayHost,
    next_client: usize,
}

impl Fixture {
    /// Starts every part.
    pub async fn start(update_bytes: usize, websockify: &str) -> anyhow::Result<Self> {
        let server = SyntheticServer::start(update_bytes).await?;
        let websockify_b = Websockify::spawn(websockify, server.addr).await?;
        let websockify_c = Websockify::spawn(websockify, server.addr).await?;
        let gateway_c = GatewayHost::spawn(&websockify_c.url()).await?;
        let gateway_d = GatewayHost::spawn(&format!("tcp://{}", server.addr)).await?;
        Ok(Self {
            server,
            websockify_b,
            websockify_c,
            gateway_c,
            gateway_d,
            next_client: 0,
        })
    }

    /// The viewer URL of a WebSocket path (`None` for the direct path).
    fn url(&mut self, path: Path) -> Option<(String, String)> {
        self.next_client += 1;
        let client_id = format!("bench{}", self.next_client);
        let url = match path {
            Path::Direct => return None,
            Path::Websockify => self.websockify_b.url(),
            Path::Incumbent => self.gateway_c.vnc_url(&client_id),
            Path::Ours => self.gateway_d.vnc_url(&client_id),
        };
        Some((url, client_id))
    }

    /// A connected client past the handshake; `control` gives it control on gateway paths.
    pub async fn connect(&mut self, path: Path, control: bool) -> anyhow::Result<RfbClient> {
        let mut client = match self.url(path) {
            None => RfbClient::tcp(self.server.addr).await?,
            Some((url, client_id)) => {
                let client = RfbClient::ws(&url).await?;
                if control {
                    match path {
                        Path::Incumbent => self.gateway_c.give_control(&client_id).await?,
                        Path::Ours => self.gateway_d.give_control(&client_id).await?,
                        _ => {}
                    }
                }
                client
            }
        };
        client.handshake().await?;
        Ok(client)
    }

    /// The relay's memory on `path` (`None` for the direct path: there is no relay).
    pub fn relay_memory(&self, path: Path) -> anyhow::Result<Option<Memory>> {
        Ok(match path {
            Path::Direct => None,
            Path::Websockify => Some(tree_memory(self.websockify_b.pid()?)),
            Path::Incumbent => {
                Some(tree_memory(self.gateway_c.pid()?) + tree_memory(self.websockify_c.pid()?))
            }
            Path::Ours => Some(tree_memory(self.gateway_d.pid()?)),
        })
    }

    /// Stops the gateways (websockify is killed on drop; its children end with their sockets).
    pub async fn stop(self) {
        self.gateway_c.stop().await;
        self.gateway_d.stop().await;
    }
}

/// Runs the whole plan; returns one result per path, in [`Path::ALL`] order.
pub async fn run(fixture: &mut Fixture, plan: &Plan) -> anyhow::Result<Vec<PathResult>> {
    let mut results: Vec<PathResult> = Path::ALL.iter().map(|_| PathResult::default()).collect();
    let mut clients = Vec::new();
    for path in Path::ALL {
        clients.push(fixture.connect(path, true).await?);
    }
    eprintln!("warming up ({} round trips per path)…", plan.warmup);
    for client in &mut clients {
        for _ in 0..plan.warmup {
            client.pointer_round_trip().await?;
        }
        client.fetch_updates(16, plan.window).await?;
    }
    measure_latency(&mut clients, plan, &mut results).await?;
    let update_len = fixture.server.full_update_len;
    measure_throughput(&mut clients, plan, update_len, &mut results).await?;
    let idle = measure_memory(fixture, plan, &mut results).await?;
    for client in clients.into_iter().chain(idle) {
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

/// Full-screen updates on every path's client, in rotation; MiB/s per round.
async fn measure_throughput(
    clients: &mut [RfbClient],
    plan: &Plan,
    update_len: usize,
    results: &mut [PathResult],
) -> anyhow::Result<()> {
    let rounds = plan.rounds.max(1);
    eprintln!(
        "throughput: {} MiB per path in {rounds} rounds…",
        plan.throughput_mib
    );
    let round_bytes = plan.throughput_mib as f64 * MIB / rounds as f64;
    let updates = ((round_bytes / update_len as f64).ceil() as usize).max(1);
    for round in 0..rounds {
        for path in rotation(round) {
            let client = &mut clients[path.index()];
            let (bytes, elapsed) = client.fetch_updates(updates, plan.window).await?;
            results[path.index()]
                .throughput
                .push(bytes as f64 / MIB / elapsed.as_secs_f64());
        }
    }
    Ok(())
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
            let urls: Vec<_> = (0..plan.idle).filter_map(|_| fixture.url(path)).collect();
            let opened: Vec<RfbClient> = stream::iter(urls)
                .map(|(url, _)| async move {
                    let mut client = RfbClient::ws(&url).await?;
                    client.handshake().await?;
                    anyhow::Ok(client)
                })
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
