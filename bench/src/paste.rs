//! `relay-bench paste`: how long a viewer's paste takes to reach the page, ours against the
//! incumbent's way, side by side in one run. (a) ours: `clipboard-paste` on the gateway's
//! Message socket by a viewer in control → the executor's pooled `InsertText` → CDP
//! `Input.insertText` on the active tab; (b) that `InsertText` called directly (no gateway),
//! to show what the gateway hop adds; (c) the incumbent's: per paste a fresh Playwright
//! driver, `connect_over_cdp`, `Browser.setDownloadBehavior`, `insert_text`, disconnect.
//!
//! Each sample runs from the paste sent (t0) to the page's `input` event seen by the
//! [`observer`] (its own DevTools connection, with the awaiting evaluation sent before t0), so
//! the observer's cost is in every row alike. The stack is the `host-cdp` child of
//! [`crate::screencast`]; the paths rotate every round and ratios are taken round by round.

mod observer;
mod paths;

use std::time::Duration;

use tokio::time::Instant;

use crate::report::{median, quantile};
use crate::screencast::Host;
use observer::Observer;
use paths::{Paths, PASTE_TEXT};

/// The page pasted into: one field, focused.
const PAGE: &str = "data:text/html,<title>paste</title><input id=i autocomplete=off autofocus>";
/// Bound on one sample: the text must be in the page by then.
const SAMPLE_WAIT: Duration = Duration::from_secs(30);
/// At most this many unmeasured incumbent pastes (each one costs about as much as hundreds
/// of ours).
const INCUMBENT_WARMUP: usize = 3;

/// What to run.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Measured pastes of (a) and of (b), each.
    pub samples: usize,
    /// Unmeasured pastes per path before the first round ((c): at most three).
    pub warmup: usize,
    /// Rounds the samples are split into (the order of the paths rotates every round).
    pub rounds: usize,
    /// Measured pastes of (c), spread evenly over the rounds.
    pub incumbent_samples: usize,
}

impl Plan {
    fn samples_of(&self, path: Path) -> usize {
        match path {
            Path::Ours | Path::Direct => self.samples,
            Path::Incumbent => self.incumbent_samples,
        }
    }

    fn warmup_of(&self, path: Path) -> usize {
        match path {
            Path::Ours | Path::Direct => self.warmup,
            Path::Incumbent => self.warmup.min(INCUMBENT_WARMUP),
        }
    }
}

/// One way a paste reaches the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Path {
    /// (a) the Message channel → cdp-executor → Chromium.
    Ours,
    /// (b) the executor's `InsertText`, called directly.
    Direct,
    /// (c) the incumbent's per-paste Playwright connection.
    Incumbent,
}

/// Every path, in the order of round 0.
pub const PATHS: [Path; 3] = [Path::Ours, Path::Direct, Path::Incumbent];

impl Path {
    fn index(self) -> usize {
        PATHS.iter().position(|p| *p == self).unwrap_or(0)
    }

    fn tag(self) -> &'static str {
        ["(a)", "(b)", "(c)"][self.index()]
    }

    fn label(self) -> &'static str {
        match self {
            Path::Ours => "(a) ours: `clipboard-paste` on the Message socket → gateway → pooled `InsertText` → `Input.insertText`",
            Path::Direct => "(b) pooled `InsertText` gRPC to the executor directly (no gateway)",
            Path::Incumbent => "(c) the incumbent's way: per paste a new Playwright driver, `connect_over_cdp`, `Browser.setDownloadBehavior`, `insert_text`, disconnect, driver stopped",
        }
    }
}

/// What the run measured.
#[derive(Debug, Clone)]
pub struct Report {
    /// The browser's product and version.
    pub browser: String,
    /// Playwright's version, or why the incumbent's row is left out.
    pub incumbent: Result<String, String>,
    /// `ms[path index][round]`: paste → text in the page, ms.
    pub ms: Vec<Vec<Vec<f64>>>,
}

impl Report {
    fn all(&self, path: Path) -> Vec<f64> {
        self.ms[path.index()].concat()
    }

    fn round_median(&self, path: Path, round: usize) -> f64 {
        median(&self.ms[path.index()][round])
    }
}

// === the run ===

/// Runs the whole benchmark: the stack in its child, the three paths, the rounds.
pub async fn run(plan: &Plan) -> anyhow::Result<Report> {
    eprintln!("paste: starting Chromium, verification, executor and gateway…");
    let host = Host::spawn().await?;
    let result = measure(&host, plan).await;
    host.stop().await;
    result
}

async fn measure(host: &Host, plan: &Plan) -> anyhow::Result<Report> {
    let rounds = plan.rounds.max(1);
    let mut observer = Observer::connect(&host.cdp).await?;
    let browser = observer.browser().await?;
    observer.show(PAGE).await?;
    let (mut paths, incumbent) = Paths::open(host).await?;
    if let Err(reason) = &incumbent {
        eprintln!("paste: the incumbent's row is left out: {reason}");
    }
    let mut report = Report {
        browser,
        incumbent,
        ms: vec![vec![Vec::new(); rounds]; PATHS.len()],
    };
    let result = measure_rounds(&mut observer, &mut paths, host, plan, &mut report).await;
    paths.close().await;
    result.map(|()| report)
}

async fn measure_rounds(
    observer: &mut Observer,
    paths: &mut Paths,
    host: &Host,
    plan: &Plan,
    report: &mut Report,
) -> anyhow::Result<()> {
    let rounds = plan.rounds.max(1);
    for path in PATHS {
        let count = plan.warmup_of(path);
        if count == 0 || (path == Path::Incumbent && !paths.has_incumbent()) {
            continue;
        }
        eprintln!("paste: warm-up {} × {count}", path.tag());
        for i in 0..count {
            if let Err(e) = sample(observer, paths, path, &host.cdp).await {
                give_up(path, paths, report, "warm-up", e)?;
                break;
            }
            pause(i).await;
        }
    }
    for round in 0..rounds {
        for k in 0..PATHS.len() {
            let path = PATHS[(round + k) % PATHS.len()];
            let count = share(plan.samples_of(path), rounds, round);
            if count == 0 || (path == Path::Incumbent && !paths.has_incumbent()) {
                continue;
            }
            eprintln!(
                "paste: round {}/{rounds} {} × {count}",
                round + 1,
                path.tag()
            );
            for i in 0..count {
                match sample(observer, paths, path, &host.cdp).await {
                    Ok(ms) => report.ms[path.index()][round].push(ms),
                    Err(e) => {
                        give_up(path, paths, report, &format!("round {}", round + 1), e)?;
                        break;
                    }
                }
                pause(i).await;
            }
        }
    }
    Ok(())
}

/// A failed paste ends the run, except the incumbent's: its row is then left out.
fn give_up(
    path: Path,
    paths: &mut Paths,
    report: &mut Report,
    when: &str,
    error: anyhow::Error,
) -> anyhow::Result<()> {
    if path != Path::Incumbent {
        return Err(error.context(format!("{} failed in {when}", path.tag())));
    }
    let reason = format!("the incumbent's paste failed in {when}: {error:#}");
    eprintln!("paste: {reason}; its row is left out");
    paths.drop_incumbent();
    report.ms[path.index()].iter_mut().for_each(Vec::clear);
    report.incumbent = Err(reason);
    Ok(())
}

/// One paste by `path`: the field cleared and armed, the observer's awaiting evaluation sent,
/// then t0, the paste, and t1 when the observer answers; the path must succeed too. Ms.
async fn sample(
    observer: &mut Observer,
    paths: &mut Paths,
    path: Path,
    cdp: &str,
) -> anyhow::Result<f64> {
    observer.arm().await?;
    let watch = observer.watch().await?;
    let sent = Instant::now();
    let seen = async {
        let value = observer.seen(watch, SAMPLE_WAIT).await?;
        anyhow::Ok((value, Instant::now()))
    };
    let outcome = tokio::try_join!(seen, paths.paste(path, cdp));
    let ((value, at), ()) = match outcome {
        Ok(done) => done,
        Err(e) => {
            let said = paths.failure(path);
            return Err(match said {
                Some(said) => e.context(format!("the gateway said {said}")),
                None => e,
            });
        }
    };
    anyhow::ensure!(
        value == PASTE_TEXT,
        "the field holds {value} after the paste, not {PASTE_TEXT:?}"
    );
    Ok(at.duration_since(sent).as_secs_f64() * 1e3)
}

/// A short varying pause between samples, so they do not fall in step with the page's frame
/// clock.
async fn pause(i: usize) {
    tokio::time::sleep(Duration::from_millis(10 + (i as u64 * 7) % 31)).await;
}

/// Samples of round `round` when `total` are spread evenly over `rounds`.
fn share(total: usize, rounds: usize, round: usize) -> usize {
    total / rounds + usize::from(round < total % rounds)
}

// === the report ===

/// The median of the finite values (rounds without samples are NaN).
fn finite_median(values: &[f64]) -> f64 {
    let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    median(&finite)
}

fn ms(value: f64) -> String {
    match value {
        v if !v.is_finite() => "—".into(),
        v if v >= 100.0 => format!("{v:.0}"),
        v if v >= 10.0 => format!("{v:.1}"),
        v => format!("{v:.2}"),
    }
}

fn times(value: f64) -> String {
    match value {
        v if !v.is_finite() => "—".into(),
        v if v < 0.01 => format!("{v:.4}×"),
        v if v < 1.0 => format!("{v:.3}×"),
        v => format!("{v:.2}×"),
    }
}

/// The `### Paste …` Markdown section.
pub fn render(plan: &Plan, report: &Report) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let rounds = report.ms.first().map_or(0, Vec::len);
    let with_incumbent = report.incumbent.is_ok();
    let shown: Vec<Path> = PATHS
        .into_iter()
        .filter(|p| *p != Path::Incumbent || with_incumbent)
        .collect();
    let _ = writeln!(
        out,
        "### Paste: viewer → page, ours against the incumbent's per-paste connection\n"
    );
    let (incumbent, t0, after, schedule) = match &report.incumbent {
        Ok(version) => (
            format!(", for (c) the helper `services/cdp-executor/benches/incumbent_per_op.py` (Playwright for Python {version}, a child of the benchmark process; its Playwright driver the helper's child)"),
            ", the command written to the helper's stdin",
            "; (c) must also answer `ok`, after it has disconnected and stopped its driver, before the next sample",
            format!(
                "round r runs the paths in the order (a)(b)(c) rotated by r; {} pastes each of (a) and (b) and {} of (c) spread evenly over the rounds, after {} unmeasured ones each ((c): {})",
                plan.samples,
                plan.incumbent_samples,
                plan.warmup,
                plan.warmup.min(INCUMBENT_WARMUP)
            ),
        ),
        Err(_) => (
            String::new(),
            "",
            "",
            format!(
                "round r runs (a) and (b) in an order rotated by r; {} pastes each spread evenly over the rounds, after {} unmeasured ones each",
                plan.samples, plan.warmup
            ),
        ),
    };
    let _ = writeln!(
        out,
        "{}, headless; the stack (verification, cdp-executor, gateway, Chromium) in one child process, the viewer and the observer in the benchmark process{incumbent}. Each sample pastes {PASTE_TEXT:?} into a focused `<input>` (cleared before each sample) and runs from the paste sent (t0: the `clipboard-paste` frame written, the `InsertText` call made{t0}) to the page's `input` event (t1: the answer to a `Runtime.evaluate` with `awaitPromise` that the observer, on its own DevTools connection to the tab, sent before t0). The same observer times every path, so its cost is in every row alike. (b) calls the executor from the benchmark process, so it crosses a process boundary as (a)'s WebSocket does; in (a) the gateway reaches the executor inside the child. (a) and (b) need nothing after the text (the gateway answers only a failure){after}.\n",
        report.browser
    );
    let _ = writeln!(out, "{rounds} rounds; {schedule}, 10–40 ms apart.\n");
    let _ = writeln!(
        out,
        "| path | samples | p50 ms | p90 ms | p99 ms | max ms |\n|---|---:|---:|---:|---:|---:|"
    );
    for &path in &shown {
        let all = report.all(path);
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            path.label(),
            all.len(),
            ms(quantile(&all, 0.5)),
            ms(quantile(&all, 0.9)),
            ms(quantile(&all, 0.99)),
            ms(quantile(&all, 1.0))
        );
    }
    render_rounds(&mut out, report, &shown, rounds);
    if let Err(reason) = &report.incumbent {
        let _ = writeln!(out, "\nThe incumbent's row is left out: {reason}.");
    } else {
        let _ = writeln!(
            out,
            "\nThe incumbent's own WebSocket hop (viewer → its server, which then runs (c)) is not in (c): that is in its favour. Its Python helper process is started once, not per paste; the driver, the connection and the rest are per paste, as the incumbent pays them."
        );
    }
    out
}

/// The per-round medians and their ratios, and the median over rounds of each column.
fn render_rounds(out: &mut String, report: &Report, shown: &[Path], rounds: usize) {
    use std::fmt::Write as _;
    let with_incumbent = shown.contains(&Path::Incumbent);
    let pairs: Vec<(Path, Path)> = if with_incumbent {
        vec![
            (Path::Ours, Path::Incumbent),
            (Path::Direct, Path::Incumbent),
            (Path::Ours, Path::Direct),
        ]
    } else {
        vec![(Path::Ours, Path::Direct)]
    };
    let _ = writeln!(
        out,
        "\n#### Round by round\n\nMedians of each round, and their ratios within the round (the paths ran back to back); the last row is the median over rounds of each column (the lower middle one when the rounds are even).\n"
    );
    let mut head = String::from("| round |");
    let mut rule = String::from("|---:|");
    for path in shown {
        let _ = write!(head, " {} p50 ms |", path.tag());
        rule.push_str("---:|");
    }
    for (top, bottom) in &pairs {
        let _ = write!(head, " {} ÷ {} |", top.tag(), bottom.tag());
        rule.push_str("---:|");
    }
    head.push_str(" (a) − (b) ms |");
    rule.push_str("---:|");
    let _ = writeln!(out, "{head}\n{rule}");
    let row = |round: usize| -> Vec<f64> {
        let m = |p: Path| report.round_median(p, round);
        let mut cells: Vec<f64> = shown.iter().map(|&p| m(p)).collect();
        cells.extend(pairs.iter().map(|&(top, bottom)| m(top) / m(bottom)));
        cells.push(m(Path::Ours) - m(Path::Direct));
        cells
    };
    let rows: Vec<Vec<f64>> = (0..rounds).map(row).collect();
    let ratio_from = shown.len();
    let cell = |i: usize, v: f64| {
        if (ratio_from..ratio_from + pairs.len()).contains(&i) {
            times(v)
        } else {
            ms(v)
        }
    };
    for (round, cells) in rows.iter().enumerate() {
        let cells: Vec<String> = cells.iter().enumerate().map(|(i, &v)| cell(i, v)).collect();
        let _ = writeln!(out, "| {} | {} |", round + 1, cells.join(" | "));
    }
    let columns = rows.first().map_or(0, Vec::len);
    let medians: Vec<String> = (0..columns)
        .map(|i| {
            let column: Vec<f64> = rows.iter().map(|r| r[i]).collect();
            cell(i, finite_median(&column))
        })
        .collect();
    let _ = writeln!(out, "| **median** | {} |", medians.join(" | "));
    if with_incumbent {
        let ratios: Vec<f64> = (0..rounds)
            .map(|r| report.round_median(Path::Ours, r) / report.round_median(Path::Incumbent, r))
            .collect();
        let ratio = finite_median(&ratios);
        let _ = writeln!(
            out,
            "\nA paste through the Message channel takes {} of the incumbent's time (median over rounds of the per-round ratio; the incumbent's is {:.0}× ours).",
            times(ratio),
            1.0 / ratio
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_are_spread_evenly_over_rounds() {
        let spread: Vec<usize> = (0..4).map(|r| share(10, 4, r)).collect();
        assert_eq!(spread, [3, 3, 2, 2]);
        assert_eq!((0..4).map(|r| share(2, 4, r)).sum::<usize>(), 2);
    }

    #[test]
    fn a_report_without_the_incumbent_says_why_and_has_no_incumbent_ratio() {
        // Arrange
        let plan = Plan {
            samples: 2,
            warmup: 0,
            rounds: 2,
            incumbent_samples: 0,
        };
        let report = Report {
            browser: "HeadlessChrome/1".into(),
            incumbent: Err("there is no Python".into()),
            ms: vec![
                vec![vec![2.0], vec![4.0]],
                vec![vec![1.0], vec![1.0]],
                vec![vec![], vec![]],
            ],
        };
        // Act
        let out = render(&plan, &report);
        // Assert
        assert!(out.contains("left out: there is no Python"), "{out}");
        assert!(!out.contains("(a) ÷ (c)"), "{out}");
        assert!(
            out.contains("| **median** | 2.00 | 1.00 | 2.00× | 1.00 |"),
            "{out}"
        );
    }

    #[test]
    fn rounds_without_incumbent_samples_are_left_out_of_the_medians() {
        assert_eq!(finite_median(&[f64::NAN, 2.0, 4.0, 3.0]), 3.0);
        assert_eq!(ms(f64::NAN), "—");
        assert_eq!(times(0.002), "0.0020×");
    }
}
