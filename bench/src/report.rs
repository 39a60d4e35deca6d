//! The printed report: a Markdown table of medians and percentiles per path, then the ratios
//! of each path to the direct baseline (a), and of ours (d) to websockify (b) and to the
//! incumbent's topology (c).

use std::fmt::Write as _;
use std::time::Duration;

use crate::measure::{Path, PathResult, Plan};

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
    mib_s: f64,
    rss: Option<f64>,
    pss: Option<f64>,
}

fn summarize(result: &PathResult) -> Summary {
    let micros: Vec<f64> = result
        .latencies
        .iter()
        .map(|d: &Duration| d.as_secs_f64() * 1e6)
        .collect();
    let rss: Vec<f64> = result.per_socket.iter().map(|(rss, _)| *rss).collect();
    let pss: Vec<f64> = result.per_socket.iter().map(|(_, pss)| *pss).collect();
    Summary {
        p50: quantile(&micros, 0.5),
        p90: quantile(&micros, 0.9),
        p99: quantile(&micros, 0.99),
        mib_s: median(&result.throughput),
        rss: (!rss.is_empty()).then(|| median(&rss)),
        pss: (!pss.is_empty()).then(|| median(&pss)),
    }
}

fn kib(value: Option<f64>) -> String {
    value.map_or_else(|| "—".to_owned(), |v| format!("{v:.1}"))
}

fn ratio(ours: Option<f64>, theirs: Option<f64>) -> String {
    match (ours, theirs) {
        (Some(a), Some(b)) if b.abs() > f64::EPSILON => format!("{:.2}×", a / b),
        _ => "—".to_owned(),
    }
}

/// Renders the report; `header` lines (date, machine, parameters) come first.
pub fn render(header: &[String], plan: &Plan, results: &[PathResult]) -> String {
    let sums: Vec<Summary> = results.iter().map(summarize).collect();
    let mut out = String::new();
    for line in header {
        let _ = writeln!(out, "- {line}");
    }
    let _ = writeln!(
        out,
        "\nPaths run in rotation (round r runs ABCD rotated by r: ABCD, BCDA, CDAB, DABC, …) so machine noise hits them equally.\n"
    );
    let _ = writeln!(out, "| path | input→update p50 µs | p90 µs | p99 µs | throughput MiB/s (median of {} rounds) | relay RSS KiB/socket | relay PSS KiB/socket |", plan.rounds);
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|");
    for (path, s) in Path::ALL.iter().zip(&sums) {
        let _ = writeln!(
            out,
            "| {} | {:.0} | {:.0} | {:.0} | {:.0} | {} | {} |",
            path.label(),
            s.p50,
            s.p90,
            s.p99,
            s.mib_s,
            kib(s.rss),
            kib(s.pss)
        );
    }
    let _ = writeln!(out, "\nRatios (latency: lower is better; throughput: higher is better; memory: lower is better):\n");
    let _ = writeln!(
        out,
        "| comparison | p50 | p99 | throughput | RSS/socket | PSS/socket |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|");
    let row = |out: &mut String, name: String, a: &Summary, b: &Summary| {
        let _ = writeln!(
            out,
            "| {name} | {} | {} | {} | {} | {} |",
            ratio(Some(a.p50), Some(b.p50)),
            ratio(Some(a.p99), Some(b.p99)),
            ratio(Some(a.mib_s), Some(b.mib_s)),
            ratio(a.rss, b.rss),
            ratio(a.pss, b.pss),
        );
    };
    for path in &Path::ALL[1..] {
        let name = format!("{} ÷ (a)", path.label());
        row(&mut out, name, &sums[path_index(*path)], &sums[0]);
    }
    row(&mut out, "(d) ÷ (b) websockify".into(), &sums[3], &sums[1]);
    row(
        &mut out,
        "(d) ÷ (c) incumbent's topology".into(),
        &sums[3],
        &sums[2],
    );
    let processes: Vec<String> = Path::ALL[1..]
        .iter()
        .map(|p| format!("{} {}", p.label(), results[path_index(*p)].processes))
        .collect();
    let _ = writeln!(
        out,
        "\nRelay processes counted at the end of the memory rounds: {}.",
        processes.join(", ")
    );
    out
}

fn path_index(path: Path) -> usize {
    Path::ALL.iter().position(|p| *p == path).unwrap_or(0)
}
