//! The `### Verification watch at scale` Markdown section.

use std::fmt::Write as _;

use super::{DatabaseRun, Ended, Plan, Report, Side};
use crate::report::{median, quantile};

/// The clock tick of `/proc` CPU times, ms.
const TICK_MS: f64 = 10.0;

/// The section: how it was measured, a table per database, the end-to-end check.
pub fn render(plan: &Plan, report: &Report) -> String {
    let mut out = String::new();
    let interval = format_interval(plan);
    let largest = thousands(plan.entities.iter().copied().max().unwrap_or(0));
    let _ = writeln!(out, "### Verification watch at scale\n");
    let _ = writeln!(
        out,
        "Statements that keep N watched browser sessions verified, ours against the incumbent's way, on the same database in one run. \
         **Ours**: the verification service (this binary as `relay-bench host-watch --role verification`, its own process, production settings but the poll interval) and one `Watch` gRPC stream from the benchmark process carrying all N sessions, as the gateway opens one per replica (`gateway/src/liveness.rs`); its one poller reads the union of the watched sessions with one batched statement per interval whatever N (each kind's ids travel as one JSON array parameter, `services/verification/src/store/entities.rs`). \
         **The incumbent's way** (its spec §3.8, weakness 7): every socket runs its own loop (load its session row with `SELECT id, organization_id, status, … FROM browser_sessions WHERE id = $1 AND deleted_at IS NULL AND organization_id = $2`, judge it, sleep), N loops for N sessions in a process of its own (`--role incumbent`: this binary, Rust and sqlx, a pool of 10 connections as verification's, the loops' first statements spread over one interval). \
         Poll interval {interval} for both (verification's default `--poll-interval` is 1 s; the incumbent's loops sleep 5 s, so in production they run N statements per 5 s where ours runs five). \
         The table holds {largest} live sessions of one organization and the first N are watched; for each N, both sides ran back to back (their order alternating), each after one interval of warm-up over {} intervals: ours from the end of one poll cycle to the end of the cycle {} later, the incumbent's over that much wall time.\n",
        plan.intervals,
        plan.intervals
    );
    let resolution = TICK_MS / plan.intervals.max(1) as f64;
    let _ = writeln!(
        out,
        "- **statements/interval**: ours the deltas of `verification_watch_poll_queries_total` over `verification_watch_poll_cycles_total` on verification's metrics endpoint; the incumbent's statements counted as they complete, per interval of wall time.\n\
         - **DB ms/interval**: the time the statements took, summed over an interval: ours the store's `poll` span in the service (pool acquire, the statement, the rows decoded; timed by a tracing layer in the host), the incumbent's each statement timed on its connection once acquired.\n\
         - **poll cycle ms**: ours only, from that span's start to the cycle's `PollStats` being published (judging every session and notifying included).\n\
         - **CPU ms/interval**: user + sys of the side's process (`/proc/<pid>/stat`, all its threads) over the window, per interval: 10 ms clock ticks, so ±{resolution:.1} ms per interval; a ratio is shown when both sides are above one tick.\n\
         - **×**: the incumbent's ÷ ours.\n"
    );
    for database in &report.databases {
        match &database.outcome {
            Ok(run) => render_run(&mut out, database.name, run, resolution, plan),
            Err(reason) => {
                let _ = writeln!(out, "#### {}\n\nNot run: {reason}.\n", database.name);
            }
        }
    }
    out
}

fn render_run(out: &mut String, name: &str, run: &DatabaseRun, resolution: f64, plan: &Plan) {
    let _ = writeln!(out, "#### {name}\n\n{}.\n", run.version);
    let _ = writeln!(
        out,
        "| watched | statements/interval ours | incumbent | × | DB ms/interval ours | incumbent | × | CPU ms/interval ours (user + sys) | incumbent (user + sys) | × | ours' poll cycle ms |"
    );
    let _ = writeln!(
        out,
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    let mut notes = Vec::new();
    for row in &run.rows {
        let (o, i) = (&row.ours, &row.incumbent);
        let cpu_ratio = if o.cpu_ms() > resolution * 1.5 && i.cpu_ms() > resolution * 1.5 {
            ratio(i.cpu_ms(), o.cpu_ms())
        } else {
            "—".to_owned()
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            thousands(row.watched),
            number(o.statements),
            number(i.statements),
            ratio(i.statements, o.statements),
            number(o.statement_ms),
            number(i.statement_ms),
            ratio(i.statement_ms, o.statement_ms),
            cpu(o),
            cpu(i),
            cpu_ratio,
            o.cycle_ms.map_or_else(|| "—".into(), number),
        );
        if i.errors > 0 {
            notes.push(format!(
                "{} of the incumbent's statements failed at {} watched",
                i.errors,
                thousands(row.watched)
            ));
        }
    }
    let _ = writeln!(out);
    for note in notes {
        let _ = writeln!(out, "Note: {note}.\n");
    }
    match &run.ended {
        Ok(ended) => render_ended(out, ended, plan),
        Err(reason) => {
            let _ = writeln!(out, "End to end: not measured ({reason}).\n");
        }
    }
}

fn render_ended(out: &mut String, ended: &Ended, plan: &Plan) {
    if ended.ms.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "End to end, ours at {} watched: a session's `UPDATE … SET status = 'completed'` committed by the benchmark → its `WatchEvent` read from the stream: p50 {:.0} ms, min {:.0}, max {:.0} over {} sessions ended one at a time at phases spread over the interval (the `UPDATE` itself p50 {:.1} ms). With a {} poll interval the event is due between 0 and one interval plus one poll cycle after the commit. The incumbent's loop would see the change within its 5 s sleep and then only stop looping: nothing closes the socket (its spec §3.8, weakness 5).\n",
        thousands(ended.watched),
        median(&ended.ms),
        quantile(&ended.ms, 0.0),
        quantile(&ended.ms, 1.0),
        ended.ms.len(),
        median(&ended.update_ms),
        format_interval(plan),
    );
}

fn cpu(side: &Side) -> String {
    format!(
        "{} ({} + {})",
        number(side.cpu_ms()),
        number(side.user_ms),
        number(side.sys_ms)
    )
}

/// Two decimals below 10, one below 1,000, then whole with separators.
fn number(v: f64) -> String {
    if !v.is_finite() {
        "—".to_owned()
    } else if v >= 1000.0 {
        thousands(v.round() as usize)
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn ratio(theirs: f64, ours: f64) -> String {
    if ours > 0.0 && theirs.is_finite() {
        let r = theirs / ours;
        if r >= 100.0 {
            format!("{}×", thousands(r.round() as usize))
        } else {
            format!("{r:.1}×")
        }
    } else {
        "—".to_owned()
    }
}

fn format_interval(plan: &Plan) -> String {
    let ms = plan.poll_interval.as_millis();
    if ms.is_multiple_of(1000) {
        format!("{} s", ms / 1000)
    } else {
        format!("{ms} ms")
    }
}

/// `10000` → `10,000`.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_are_separated() {
        assert_eq!(thousands(1), "1");
        assert_eq!(thousands(100), "100");
        assert_eq!(thousands(10_000), "10,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn numbers_keep_about_three_digits() {
        assert_eq!(number(0.284), "0.28");
        assert_eq!(number(99.94), "99.9");
        assert_eq!(number(9982.1), "9,982");
    }

    #[test]
    fn ratios_need_a_measured_ours() {
        assert_eq!(ratio(10.0, 0.0), "—");
        assert_eq!(ratio(3.0, 2.0), "1.5×");
        assert_eq!(ratio(10_000.0, 1.0), "10,000×");
    }
}
