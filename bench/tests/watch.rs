//! `relay-bench watch` as an operator runs it, on SQLite with a short poll interval: the
//! report's row holds one statement per interval for ours and one per watched session for the
//! incumbent's loops, and sessions ended for the end-to-end timing reach ours' stream.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_relay-bench");

/// The cells of the report's row for `watched` sessions.
fn row(report: &str, watched: usize) -> Vec<String> {
    let prefix = format!("| {watched} |");
    let line = report
        .lines()
        .find(|line| line.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no row for {watched} watched in:\n{report}"));
    line.trim_matches('|')
        .split('|')
        .map(|cell| cell.trim().to_owned())
        .collect()
}

fn number(cell: &str) -> f64 {
    cell.parse()
        .unwrap_or_else(|_| panic!("not a number: {cell:?}"))
}

#[test]
fn both_sides_are_measured_on_live_sessions_and_ended_ones_reach_the_stream() {
    // One size only, so the sessions ended for the timing are among those the incumbent's
    // loops watch: ended too early, a loop stops and its statements go missing from the row.
    let output = Command::new(BIN)
        .args([
            "watch",
            "--watch-entities",
            "2",
            "--watch-intervals",
            "5",
            "--watch-poll-interval",
            "200ms",
            "--watch-postgres-url",
            "none",
            "--watch-ended-samples",
            "1",
        ])
        .output()
        .expect("relay-bench runs");
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "relay-bench watch failed: {}\n{report}",
        String::from_utf8_lossy(&output.stderr)
    );
    let cells = row(&report, 2);
    let (ours, incumbent) = (number(&cells[1]), number(&cells[2]));
    assert_eq!(ours, 1.0, "ours: one statement per interval; row {cells:?}");
    // Each loop sleeps one interval after its statement, so a window of five intervals holds
    // four to six statements of each of the two loops (six when both edges catch one): 1.6 to
    // 2.4 per interval. A loop that stopped would leave 1.2 at most.
    assert!(
        (1.6..=2.4).contains(&incumbent),
        "the incumbent's way: one statement per watched session per interval; row {cells:?}"
    );
    assert!(
        report.contains("End to end, ours at 2 watched"),
        "the ended session's event was timed:\n{report}"
    );
    assert!(
        report.contains("#### PostgreSQL\n\nNot run: no PostgreSQL URL given."),
        "{report}"
    );
}
