//! Measuring each side at one N: one interval of warm-up, then `intervals` intervals with the
//! host's CPU (its process tree, from `/proc`) read at both ends. Ours is measured from the end
//! of one poll cycle to the end of the `intervals`-th after it; the incumbent's loops, which
//! have no common cycle, over `intervals` intervals of wall time.

use std::time::Duration;

use anyhow::Context;
use tokio::time::Instant;
use verification::domain::EntityKind;

use super::host::{Cycle, Host, ANSWER_WAIT};
use super::stream::{self, WatchStream};
use super::{Ended, Plan, Side};
use crate::procfs;

/// Ours at `sessions.len()` watched: returns the side and the stream, still open.
pub async fn ours(
    host: &mut Host,
    org: &str,
    sessions: &[String],
    plan: &Plan,
) -> anyhow::Result<(Side, WatchStream)> {
    let (_, metrics) = host.addrs.context("not a verification host")?;
    let pid = host.pid()?;
    let stream = open_ours(host, org, sessions).await?;
    // A whole cycle with every entity (warm-up), then the window starts as one ends.
    let now = host.cycles.borrow().cycles;
    let start = next_cycle(host, now + 2, plan).await?;
    let cpu0 = procfs::tree_cpu(pid);
    let m0 = stream::scrape(metrics).await?;
    let end = next_cycle(host, start.cycles + plan.intervals as u64, plan).await?;
    let cpu = procfs::tree_cpu(pid).since(cpu0);
    let m1 = stream::scrape(metrics).await?;
    let cycles = end.cycles.saturating_sub(start.cycles).max(1) as f64;
    let polled = end.polled.saturating_sub(start.polled).max(1) as f64;
    let metric_cycles = m1.cycles.saturating_sub(m0.cycles).max(1) as f64;
    let side = Side {
        statements: m1.queries.saturating_sub(m0.queries) as f64 / metric_cycles,
        statement_ms: end.statement_us.saturating_sub(start.statement_us) as f64 / 1000.0 / polled,
        cycle_ms: Some(end.cycle_us.saturating_sub(start.cycle_us) as f64 / 1000.0 / polled),
        user_ms: cpu.user.as_secs_f64() * 1000.0 / cycles,
        sys_ms: cpu.sys.as_secs_f64() * 1000.0 / cycles,
        intervals: cycles,
        errors: 0,
    };
    Ok((side, stream))
}

/// Opens ours' stream on `sessions` and waits until verification watches all of them.
pub async fn open_ours(host: &Host, org: &str, sessions: &[String]) -> anyhow::Result<WatchStream> {
    let (grpc, metrics) = host.addrs.context("not a verification host")?;
    let stream = WatchStream::open(grpc, org, sessions).await?;
    stream::wait_watched(metrics, sessions.len()).await?;
    Ok(stream)
}

/// Closes ours' stream and waits until verification watches nothing.
pub async fn close_ours(host: &Host, stream: WatchStream) -> anyhow::Result<()> {
    drop(stream);
    let (_, metrics) = host.addrs.context("not a verification host")?;
    stream::wait_watched(metrics, 0).await
}

/// The end of the poll cycle numbered `target` (bounded).
async fn next_cycle(host: &mut Host, target: u64, plan: &Plan) -> anyhow::Result<Cycle> {
    let wait = plan.poll_interval * (plan.intervals as u32 + 3) + ANSWER_WAIT;
    let cycle = tokio::time::timeout(wait, host.cycles.wait_for(|c| c.cycles >= target))
        .await
        .with_context(|| format!("poll cycle {target} did not come in time"))?
        .context("the verification host exited")?;
    Ok(*cycle)
}

/// The incumbent's loops for `sessions`.
pub async fn incumbent(
    host: &mut Host,
    org: &str,
    sessions: &[String],
    plan: &Plan,
) -> anyhow::Result<Side> {
    let pid = host.pid()?;
    let command = format!("start {org} {}", sessions.join(","));
    host.request(&command, "bench-started ").await?;
    // Every loop has run once by the end of the first interval.
    tokio::time::sleep(plan.poll_interval.mul_f64(1.25)).await;
    let s0 = stats(host).await?;
    let cpu0 = procfs::tree_cpu(pid);
    let t0 = Instant::now();
    tokio::time::sleep(plan.poll_interval * plan.intervals as u32).await;
    let s1 = stats(host).await?;
    let cpu = procfs::tree_cpu(pid).since(cpu0);
    let intervals = t0.elapsed().as_secs_f64() / plan.poll_interval.as_secs_f64();
    host.request("stop", "bench-stopped").await?;
    Ok(Side {
        statements: s1[0].saturating_sub(s0[0]) as f64 / intervals,
        statement_ms: s1[1].saturating_sub(s0[1]) as f64 / 1000.0 / intervals,
        cycle_ms: None,
        user_ms: cpu.user.as_secs_f64() * 1000.0 / intervals,
        sys_ms: cpu.sys.as_secs_f64() * 1000.0 / intervals,
        intervals,
        errors: s1[2].saturating_sub(s0[2]),
    })
}

/// The incumbent host's cumulative statements, statement µs and errors.
async fn stats(host: &mut Host) -> anyhow::Result<[u64; 3]> {
    let line = host.request("stats", "bench-stats ").await?;
    let n: Vec<u64> = line
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<_, _>>()
        .with_context(|| format!("malformed stats {line:?}"))?;
    let [statements, micros, errors] = n[..] else {
        anyhow::bail!("malformed stats {line:?}");
    };
    Ok([statements, micros, errors])
}

/// Ends the last `samples` of `sessions` one at a time (status `completed`, committed by the
/// benchmark), each at another phase of the poll interval, and times each commit → its
/// `WatchEvent` on the stream.
pub async fn ended(
    stream: &mut WatchStream,
    admin: &verification::Admin,
    sessions: &[String],
    plan: &Plan,
) -> anyhow::Result<Ended> {
    let mut ended = Ended {
        watched: sessions.len(),
        ms: Vec::new(),
        update_ms: Vec::new(),
    };
    let wait = plan.poll_interval * 3 + Duration::from_secs(10);
    for (k, id) in sessions.iter().rev().take(plan.ended_samples).enumerate() {
        // Golden-ratio phases: spread over the interval whatever the number of samples.
        let phase = (k as f64 * 0.618_034).fract();
        tokio::time::sleep(plan.poll_interval.mul_f64(phase)).await;
        let sent = Instant::now();
        admin
            .set_status(EntityKind::BrowserSession, id, "completed")
            .await?;
        let committed = Instant::now();
        stream.ended(id, committed + wait).await?;
        ended.ms.push(committed.elapsed().as_secs_f64() * 1000.0);
        ended
            .update_ms
            .push((committed - sent).as_secs_f64() * 1000.0);
    }
    Ok(ended)
}
