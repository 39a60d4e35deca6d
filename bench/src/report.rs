//! The printed report: Markdown tables of medians and percentiles per path (latency,
//! throughput with the relay's CPU, memory per idle socket), the ratios of each path to the
//! direct baseline (a) and of the gateway (f) to the other floors, each taken pair by pair over
//! rounds, the targets with what the run measured, and the idle-pairs table.

use std::fmt::Write as _;
use std::time::Duration;

use crate::measure::{Path, PathResult, Plan, RelayCost};
use crate::pairs::PairsRow;

/// The `q`-quantile (0..=1) of `values`, nearest rank; `NaN` when empty.
pub fn quantile(values: &[f64], q: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// The median of `values`.
pub fn median(values: &[f64]) -> f64 {
    quantile(values, 0.5)
}

/// Summary numbers of one path.
struct Summary {
    p50: f64,
    p90: f64,
    p99: f64,
    connect_p50: f64,
    connect_p90: f64,
    mib_s: f64,
    user: Option<f64>,
    sys: Option<f64>,
    cpu: Option<f64>,
    faults: Option<f64>,
    rss: Option<f64>,
    pss: Option<f64>,
}

pub(crate) fn median_of<T>(items: &[T], f: impl Fn(&T) -> f64) -> Option<f64> {
    let values: Vec<f64> = items.iter().map(f).collect();
    (!values.is_empty()).then(|| median(&values))
}

fn summarize(result: &PathResult) -> Summary {
    let round_trips = micros(&result.latencies);
    let connects = micros(&result.connects);
    Summary {
        p50: quantile(&round_trips, 0.5),
        p90: quantile(&round_trips, 0.9),
        p99: quantile(&round_trips, 0.99),
        connect_p50: quantile(&connects, 0.5) / 1000.0,
        connect_p90: quantile(&connects, 0.9) / 1000.0,
        mib_s: median(&result.throughput),
        user: median_of(&result.cost, |c| c.user),
        sys: median_of(&result.cost, |c| c.sys),
        cpu: median_of(&result.cost, RelayCost::cpu),
        faults: median_of(&result.cost, |c| c.faults_per_mib),
        rss: median_of(&result.per_socket, |(rss, _)| *rss),
        pss: median_of(&result.per_socket, |(_, pss)| *pss),
    }
}

pub(crate) fn number(value: Option<f64>, decimals: usize) -> String {
    match value {
        Some(v) if v.is_finite() => format!("{v:.decimals$}"),
        _ => "—".to_owned(),
    }
}

/// A ratio as `1.23×`; "—" when there is none or it means nothing (a zero or negative
/// denominator or numerator, as an RSS growth below the page-accounting noise is).
pub(crate) fn ratio(value: Option<f64>) -> String {
    match value {
        Some(v) if v.is_finite() && v >= 0.01 => format!("{v:.2}×"),
        Some(v) if v.is_finite() && v > 0.0 => format!("{v:.4}×"),
        _ => "—".to_owned(),
    }
}

/// The median over rounds of `a`'s value ÷ `b`'s in the same round: the two ran back to back,
/// so each ratio sees the same machine noise.
pub(crate) fn paired<T>(a: &[T], b: &[T], f: impl Fn(&T) -> f64) -> Option<f64> {
    let ratios: Vec<f64> = a
        .iter()
        .zip(b)
        .map(|(x, y)| f(x) / f(y))
        .filter(|r| r.is_finite() && *r > 0.0)
        .collect();
    (!ratios.is_empty()).then(|| median(&ratios))
}

/// The `q`-quantile of each round's samples (samples are stored round after round, the same
/// number per round).
fn per_round(samples: &[Duration], rounds: usize, q: f64) -> Vec<f64> {
    let size = samples.len().div_ceil(rounds.max(1)).max(1);
    samples
        .chunks(size)
        .map(|chunk| quantile(&micros(chunk), q))
        .collect()
}

/// The ratios between two paths, each paired by round where the rounds allow it.
struct Ratios {
    p50: Option<f64>,
    p99: Option<f64>,
    connect_p50: Option<f64>,
    throughput: Option<f64>,
    cpu: Option<f64>,
    sys: Option<f64>,
    rss: Option<f64>,
}

fn ratios(plan: &Plan, results: &[PathResult], sums: &[Summary], a: Path, b: Path) -> Ratios {
    let (x, y) = (&results[a.index()], &results[b.index()]);
    let (sx, sy) = (&sums[a.index()], &sums[b.index()]);
    let rounds = plan.rounds;
    Ratios {
        p50: paired(
            &per_round(&x.latencies, rounds, 0.5),
            &per_round(&y.latencies, rounds, 0.5),
            |v| *v,
        ),
        p99: Some(sx.p99 / sy.p99),
        connect_p50: paired(
            &per_round(&x.connects, rounds, 0.5),
            &per_round(&y.connects, rounds, 0.5),
            |v| *v,
        ),
        throughput: paired(&x.throughput, &y.throughput, |v| *v),
        cpu: paired(&x.cost, &y.cost, RelayCost::cpu),
        sys: paired(&x.cost, &y.cost, |c| c.sys),
        rss: sx.rss.zip(sy.rss).map(|(a, b)| a / b),
    }
}

/// Renders the report; `header` lines (date, machine, parameters) come first.
///
/// `after_throughput` is a section printed after the throughput table (the many viewers').
pub fn render(
    header: &[String],
    plan: &Plan,
    results: &[PathResult],
    after_throughput: &str,
) -> String {
    let sums: Vec<Summary> = results.iter().map(summarize).collect();
    let mut out = String::new();
    for line in header {
        let _ = writeln!(out, "- {line}");
    }
    let _ = writeln!(
        out,
        "\nPaths run in rotation (round r runs ABCDEF rotated by r: ABCDEF, BCDEFA, CDEFAB, …) so machine noise hits them equally.\n"
    );
    let _ = writeln!(out, "### Latency\n");
    let _ = writeln!(
        out,
        "| path | input→update p50 µs | p90 µs | p99 µs | connect→first update p50 ms | p90 ms |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|");
    for (path, s) in Path::ALL.iter().zip(&sums) {
        let _ = writeln!(
            out,
            "| {} | {:.0} | {:.0} | {:.0} | {:.2} | {:.2} |",
            path.label(),
            s.p50,
            s.p90,
            s.p99,
            s.connect_p50,
            s.connect_p90
        );
    }
    let _ = writeln!(out, "\nConnect→first update: TCP connect, WebSocket upgrade (and on the gateway paths API-key authentication, which the gateway caches, and the session's verification), the RFB handshake, one incremental FramebufferUpdateRequest and its 16×16 update.\n");
    let _ = writeln!(out, "### Full-frame throughput and what the relay spends\n");
    let _ = writeln!(out, "| path | MiB/s (median of {} rounds) | relay CPU-s/GB | user | sys | relay page faults/MiB |", plan.rounds);
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|");
    for (path, s) in Path::ALL.iter().zip(&sums) {
        let _ = writeln!(
            out,
            "| {} | {:.0} | {} | {} | {} | {} |",
            path.label(),
            s.mib_s,
            number(s.cpu, 2),
            number(s.user, 2),
            number(s.sys, 2),
            number(s.faults, 1),
        );
    }
    let _ = writeln!(out, "\nCPU is the relay's process tree only (user + sys from `/proc/<pid>/stat`, 10 ms ticks), per 10^9 bytes relayed, median of the rounds; (a) and (b) have no relay.\n");
    out.push_str(after_throughput);
    let _ = writeln!(out, "### Memory per idle VNC socket\n");
    let _ = writeln!(
        out,
        "| path | relay RSS KiB/socket | relay PSS KiB/socket | relay processes |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|");
    for path in Path::ALL.iter().filter(|p| p.relayed()) {
        let s = &sums[path.index()];
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            path.label(),
            number(s.rss, 1),
            number(s.pss, 1),
            results[path.index()].processes
        );
    }
    let _ = writeln!(out, "\nPSS splits pages shared by forked children (websockify forks one per connection) fairly instead of counting them once per process; socat forks one process per connection as websockify does, but a small one.\n");
    let _ = writeln!(out, "### Ratios\n");
    let _ = writeln!(out, "Each the median over rounds of the pair measured back to back, except p99 (all samples); latency, CPU and memory: lower is better, throughput: higher is better.\n");
    let _ = writeln!(
        out,
        "| comparison | round trip p50 | p99 | connect p50 | throughput | CPU-s/GB | sys-s/GB | RSS/socket |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|");
    let mut pairs: Vec<(Path, Path)> = Path::ALL[1..].iter().map(|p| (*p, Path::Direct)).collect();
    pairs.extend([
        (Path::GatewayWs, Path::OwnWebSocket),
        (Path::Ours, Path::OwnWebSocket),
        (Path::Ours, Path::Socat),
        (Path::Ours, Path::Websockify),
        (Path::Ours, Path::GatewayWs),
    ]);
    for (a, b) in pairs {
        let r = ratios(plan, results, &sums, a, b);
        let _ = writeln!(
            out,
            "| {} ÷ {} | {} | {} | {} | {} | {} | {} | {} |",
            a.label(),
            b.label(),
            ratio(r.p50),
            ratio(r.p99),
            ratio(r.connect_p50),
            ratio(r.throughput),
            ratio(r.cpu),
            ratio(r.sys),
            ratio(r.rss),
        );
    }
    render_targets(&mut out, plan, results, &sums);
    out
}

/// The relay targets, each with what this run measured.
fn render_targets(out: &mut String, plan: &Plan, results: &[PathResult], sums: &[Summary]) {
    let socat = ratios(plan, results, sums, Path::Ours, Path::Socat);
    let websockify = ratios(plan, results, sums, Path::Ours, Path::Websockify);
    let own = ratios(plan, results, sums, Path::Ours, Path::OwnWebSocket);
    let connect = sums[Path::Ours.index()].connect_p50;
    let at_most = |label: &'static str, v: Option<f64>, limit: f64| {
        (label, ratio(v), v.is_some_and(|v| v <= limit))
    };
    let at_least = |label: &'static str, v: Option<f64>, limit: f64| {
        (label, ratio(v), v.is_some_and(|v| v >= limit))
    };
    let rows = [
        at_most("CPU-s/GB (f) ÷ socat (c) ≤ 1.15×", socat.cpu, 1.15),
        at_most("CPU-s/GB (f) ÷ websockify (d) ≤ 0.8×", websockify.cpu, 0.8),
        at_least("throughput (f) ÷ socat (c) ≥ 0.95×", socat.throughput, 0.95),
        at_least(
            "throughput (f) ÷ websockify (d) ≥ 1.1×",
            websockify.throughput,
            1.1,
        ),
        at_most(
            "round trip p50 (f) ÷ no-proxy WebSocket (b) ≤ 1.25×",
            own.p50,
            1.25,
        ),
        (
            "connect→first update p50 (f) ≤ 2.5 ms",
            format!("{connect:.2} ms"),
            connect <= 2.5,
        ),
    ];
    let _ = writeln!(out, "\n### Targets\n");
    let _ = writeln!(out, "| target | this run | met |");
    let _ = writeln!(out, "|---|---:|---|");
    for (target, measured, met) in rows {
        let _ = writeln!(
            out,
            "| {target} | {measured} | {} |",
            if met { "yes" } else { "no" }
        );
    }
    render_hop(out, plan, results);
}

/// What one relay hop adds to the round trip, ours against socat's: the measured reason when
/// the round-trip target is missed (1.25× of (b) leaves a hop a quarter of (b)).
fn render_hop(out: &mut String, plan: &Plan, results: &[PathResult]) {
    let p50s = |path: Path| per_round(&results[path.index()].latencies, plan.rounds, 0.5);
    let added = |a: Path, b: Path| {
        let diffs: Vec<f64> = p50s(a).iter().zip(p50s(b)).map(|(x, y)| x - y).collect();
        median(&diffs)
    };
    let ours = added(Path::Ours, Path::OwnWebSocket);
    let socat = added(Path::Socat, Path::Direct);
    let budget = 0.25 * median(&p50s(Path::OwnWebSocket));
    let _ = writeln!(
        out,
        "\nRound trip added by one relay hop (median over rounds of the per-round p50 difference): the gateway (f) − (b) {ours:.0} µs; socat (c) − (a) {socat:.0} µs, the kernel's cost of a hop with no WebSocket and no parsing; the 1.25× target leaves a hop {budget:.0} µs."
    );
}

/// The idle-pairs table.
pub fn render_pairs(rows: &[PairsRow], hold: Duration) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "### Idle VNC+Message pairs on one gateway\n");
    let _ = writeln!(out, "Each pair is a viewer's two sockets (VNC through the RFB handshake, Message through its first `control-state`); sizes accumulate on one fresh gateway (`tcp://` upstream); each size is held {} s, then every pair must answer on both sockets (an incremental update, a ping). Target: ≤ 48 KiB per pair at 10,000 pairs, all alive.\n", hold.as_secs());
    let _ = writeln!(out, "| pairs | gateway RSS KiB/pair | gateway RSS MiB | threads | time to open s | failed to open | alive after hold |");
    let _ = writeln!(out, "|---:|---:|---:|---:|---:|---:|---:|");
    let mut notes = Vec::new();
    for row in rows {
        match row {
            PairsRow::Measured {
                pairs,
                rss_kib_per_pair,
                rss_mib,
                threads,
                open_secs,
                failed_to_open,
                alive,
                first_error,
            } => {
                let _ = writeln!(out, "| {pairs} | {rss_kib_per_pair:.1} | {rss_mib:.0} | {threads} | {open_secs:.1} | {failed_to_open} | {alive} of {pairs} |");
                if let Some(error) = first_error {
                    notes.push(format!("{pairs} pairs: first failure: {error}"));
                }
            }
            PairsRow::NotRun { pairs, reason } => {
                let _ = writeln!(out, "| {pairs} | not run | | | | | |");
                notes.push(format!("{pairs} pairs not run: {reason}."));
            }
        }
    }
    for note in notes {
        let _ = writeln!(out, "\n- {note}");
    }
    out
}

fn micros(samples: &[Duration]) -> Vec<f64> {
    samples.iter().map(|d| d.as_secs_f64() * 1e6).collect()
}
