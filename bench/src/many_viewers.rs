//! Many viewers streaming at once: `viewers` clients per path, each asking for full-screen
//! updates one at a time (as noVNC does), all at the same moment; the aggregate MiB/s and the
//! relay's CPU per GB. Where a single viewer measures one relay loop, this measures how the
//! relay holds up when a replica serves a crowd: scheduling, wake-ups and buffer memory across
//! many sockets. Paths rotate by round as in [`crate::measure`].

use std::fmt::Write as _;
use std::time::Instant;

use anyhow::Context;
use futures::stream::{self, StreamExt, TryStreamExt};

use crate::client::RfbClient;
use crate::measure::{rotation, CrowdRound, Fixture, Path, PathResult, Plan, RelayCost, MIB};
use crate::report::{median, median_of, number, paired, ratio};

/// How many viewers are opened at once (websockify forks one process per connection).
const CONNECT_CONCURRENCY: usize = 8;

/// Opens `plan.viewers` viewers on every path, then in each round lets every viewer of one
/// path fetch its share of `plan.viewers_mib` at once, the paths in rotation.
pub async fn measure(
    fixture: &mut Fixture,
    plan: &Plan,
    results: &mut [PathResult],
) -> anyhow::Result<()> {
    if plan.viewers == 0 {
        return Ok(());
    }
    let rounds = plan.rounds.max(1);
    let update_len = fixture.server.full_update_len;
    let round_bytes = plan.viewers_mib as f64 * MIB / rounds as f64;
    let updates = ((round_bytes / plan.viewers as f64 / update_len as f64).ceil() as usize).max(1);
    eprintln!(
        "{} viewers at once: opening them on every path…",
        plan.viewers
    );
    let mut crowds = Vec::with_capacity(Path::ALL.len());
    for path in Path::ALL {
        crowds.push(open(fixture, path, plan.viewers).await?);
    }
    eprintln!(
        "{} viewers at once: {updates} full update(s) each per round, {rounds} rounds…",
        plan.viewers
    );
    for round in 0..rounds {
        for path in rotation(round) {
            let viewers = std::mem::take(&mut crowds[path.index()]);
            let before = fixture.relay_cpu(path)?;
            let (viewers, measured) = stream_all(viewers, updates)
                .await
                .with_context(|| format!("{}: {} viewers at once", path.label(), plan.viewers))?;
            let after = fixture.relay_cpu(path)?;
            let cost = before
                .zip(after)
                .map(|(before, after)| RelayCost::of(after.since(before), measured.bytes));
            results[path.index()].crowd.push(CrowdRound {
                mib_s: measured.bytes as f64 / MIB / measured.elapsed,
                fairness: measured.slowest / measured.fastest,
                cost,
            });
            crowds[path.index()] = viewers;
        }
    }
    for viewer in crowds.into_iter().flatten() {
        viewer.close().await;
    }
    Ok(())
}

/// `n` viewers on `path`, past the handshake (without control: update requests need none).
async fn open(fixture: &mut Fixture, path: Path, n: usize) -> anyhow::Result<Vec<RfbClient>> {
    let targets: Vec<_> = (0..n).map(|_| fixture.target(path)).collect();
    stream::iter(targets)
        .map(|target| async move { target.connect().await })
        .buffer_unordered(CONNECT_CONCURRENCY)
        .try_collect()
        .await
        .with_context(|| format!("{}: opening {n} viewers", path.label()))
}

/// What a crowd received in one round.
struct Measured {
    bytes: usize,
    elapsed: f64,
    slowest: f64,
    fastest: f64,
}

/// Every viewer fetches `updates` full updates (one request outstanding each), all at once on
/// their own tasks; the wall time runs from the first request to the last byte.
async fn stream_all(
    viewers: Vec<RfbClient>,
    updates: usize,
) -> anyhow::Result<(Vec<RfbClient>, Measured)> {
    let start = Instant::now();
    let tasks: Vec<_> = viewers
        .into_iter()
        .map(|mut viewer| {
            tokio::spawn(async move {
                let fetched = viewer.fetch_updates(updates, 1).await;
                (viewer, fetched)
            })
        })
        .collect();
    let mut back = Vec::with_capacity(tasks.len());
    let (mut bytes, mut slowest, mut fastest) = (0, f64::INFINITY, 0.0_f64);
    let mut first_error = None;
    for task in tasks {
        let (viewer, fetched) = task.await.context("a viewer's task failed")?;
        match fetched {
            Ok((received, elapsed)) => {
                bytes += received;
                let rate = received as f64 / elapsed.as_secs_f64();
                slowest = slowest.min(rate);
                fastest = fastest.max(rate);
            }
            Err(error) => {
                first_error.get_or_insert(error);
            }
        }
        back.push(viewer);
    }
    let elapsed = start.elapsed().as_secs_f64();
    if let Some(error) = first_error {
        return Err(error);
    }
    Ok((
        back,
        Measured {
            bytes,
            elapsed,
            slowest,
            fastest,
        },
    ))
}

/// The many-viewers table and its ratios (empty when not measured).
pub fn render(plan: &Plan, results: &[PathResult]) -> String {
    let mut out = String::new();
    if plan.viewers == 0 || results.iter().all(|r| r.crowd.is_empty()) {
        return out;
    }
    let _ = writeln!(out, "### {} viewers streaming at once\n", plan.viewers);
    let _ = writeln!(out, "Every viewer of one path asks for full-screen updates one at a time (as noVNC does), all at once; {} MiB per path in all, over {} rounds, the paths in rotation.\n", plan.viewers_mib, plan.rounds);
    let _ = writeln!(
        out,
        "| path | aggregate MiB/s (median) | relay CPU-s/GB | user | sys | slowest ÷ fastest viewer |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|");
    for path in Path::ALL {
        let crowd = &results[path.index()].crowd;
        let costs: Vec<RelayCost> = crowd.iter().filter_map(|r| r.cost).collect();
        let _ = writeln!(
            out,
            "| {} | {:.0} | {} | {} | {} | {:.2} |",
            path.label(),
            median(&crowd.iter().map(|r| r.mib_s).collect::<Vec<_>>()),
            number(median_of(&costs, RelayCost::cpu), 2),
            number(median_of(&costs, |c| c.user), 2),
            number(median_of(&costs, |c| c.sys), 2),
            median(&crowd.iter().map(|r| r.fairness).collect::<Vec<_>>()),
        );
    }
    let _ = writeln!(
        out,
        "\n| comparison | aggregate MiB/s | CPU-s/GB | sys-s/GB |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|");
    for other in [Path::Socat, Path::Websockify, Path::GatewayWs] {
        let (ours, theirs) = (
            &results[Path::Ours.index()].crowd,
            &results[other.index()].crowd,
        );
        let cost = |r: &CrowdRound, f: fn(&RelayCost) -> f64| r.cost.as_ref().map_or(f64::NAN, f);
        let _ = writeln!(
            out,
            "| {} ÷ {} | {} | {} | {} |",
            Path::Ours.label(),
            other.label(),
            ratio(paired(ours, theirs, |r| r.mib_s)),
            ratio(paired(ours, theirs, |r| cost(r, RelayCost::cpu))),
            ratio(paired(ours, theirs, |r| cost(r, |c| c.sys))),
        );
    }
    let _ = writeln!(out);
    out
}
