//! `relay-bench watch`: the database statements that keep N watched browser sessions
//! verified, ours against the incumbent's way, on the same database in one run.
//!
//! - Ours: the verification service in a child process, one `Watch` gRPC stream from the
//!   benchmark carrying all N entities (as the gateway's one stream per replica); its one
//!   poller reads the union with one batched statement per poll interval.
//! - The incumbent's: one verification loop per socket, one single-row statement per loop per
//!   interval ([`incumbent`]), in a child process of its own.
//!
//! For each database (SQLite; PostgreSQL when reachable) the largest N sessions are seeded
//! once and the first N are watched, for each N in turn, both sides back to back (their order
//! alternating). Then ours watches the largest N again, sessions are ended one by one and the
//! time until ours tells the stream is measured (after both sides, so that no incumbent loop
//! meets a session already ended).
//!
//! # Layout
//! - [`database`]: fresh databases and seeding.
//! - [`host`]: the two child processes and the timing of verification's poll cycles.
//! - [`incumbent`]: the incumbent's per-socket loops.
//! - [`stream`]: the Watch stream and the metrics reader.
//! - [`sides`]: measuring each side at one N.
//! - [`render`]: the Markdown section.

pub mod database;
pub mod host;
pub mod incumbent;
mod render;
pub mod sides;
pub mod stream;

use std::time::Duration;

pub use host::{serve as host, Role};
pub use render::render;

use database::Database;
use host::Host;

/// What to run.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Watched sessions, ascending.
    pub entities: Vec<usize>,
    /// Poll intervals measured per N and side.
    pub intervals: usize,
    /// Verification's `--poll-interval`, and the incumbent's loops' sleep.
    pub poll_interval: Duration,
    /// PostgreSQL server (a fresh database is created on it); `None`: SQLite only.
    pub postgres_url: Option<String>,
    /// Sessions ended one by one at the largest N.
    pub ended_samples: usize,
}

impl Default for Plan {
    /// 1, 100 and 10,000 watched over 5 intervals of verification's default 1 s, on SQLite
    /// and the local PostgreSQL, 5 sessions ended.
    fn default() -> Self {
        Self {
            entities: vec![1, 100, 10_000],
            intervals: 5,
            poll_interval: Duration::from_secs(1),
            postgres_url: Some(DEFAULT_POSTGRES_URL.to_owned()),
            ended_samples: 5,
        }
    }
}

/// The PostgreSQL server the tests use on one machine.
pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// What was measured.
#[derive(Debug, Clone)]
pub struct Report {
    /// SQLite, then PostgreSQL.
    pub databases: Vec<DatabaseReport>,
}

/// One database: its rows, or why it was left out.
#[derive(Debug, Clone)]
pub struct DatabaseReport {
    /// `SQLite` or `PostgreSQL`.
    pub name: &'static str,
    /// The rows, or the reason there are none.
    pub outcome: Result<DatabaseRun, String>,
}

/// The measurements on one database.
#[derive(Debug, Clone)]
pub struct DatabaseRun {
    /// The server and how it was set up.
    pub version: String,
    /// Live sessions in the table.
    pub seeded: usize,
    /// One row per N.
    pub rows: Vec<Row>,
    /// Ended → event at the largest N, or why not measured.
    pub ended: Result<Ended, String>,
}

/// Both sides at one N.
#[derive(Debug, Clone)]
pub struct Row {
    /// Watched sessions.
    pub watched: usize,
    /// Ours.
    pub ours: Side,
    /// The incumbent's way.
    pub incumbent: Side,
}

/// One side at one N, each per poll interval.
#[derive(Debug, Clone, Copy)]
pub struct Side {
    /// Statements per interval.
    pub statements: f64,
    /// Milliseconds the statements took, summed over the interval.
    pub statement_ms: f64,
    /// Ours: milliseconds per poll cycle.
    pub cycle_ms: Option<f64>,
    /// User CPU of the process, ms per interval.
    pub user_ms: f64,
    /// System CPU of the process, ms per interval.
    pub sys_ms: f64,
    /// Intervals in the window.
    pub intervals: f64,
    /// Statements that failed.
    pub errors: u64,
}

impl Side {
    /// User + system CPU, ms per interval.
    pub fn cpu_ms(&self) -> f64 {
        self.user_ms + self.sys_ms
    }
}

/// Commit of a session's end → its `WatchEvent` on ours' stream.
#[derive(Debug, Clone)]
pub struct Ended {
    /// Watched sessions when the first was ended.
    pub watched: usize,
    /// Each sample, ms.
    pub ms: Vec<f64>,
    /// The ending `UPDATE` of each sample, ms.
    pub update_ms: Vec<f64>,
}

/// Runs every database in turn.
pub async fn run(plan: &Plan) -> anyhow::Result<Report> {
    let mut databases = Vec::new();
    eprintln!("watch: SQLite");
    let sqlite = Database::sqlite().await;
    databases.push(DatabaseReport {
        name: "SQLite",
        outcome: on(sqlite, plan).await,
    });
    let postgres = match &plan.postgres_url {
        Some(url) => {
            eprintln!("watch: PostgreSQL");
            on(Database::postgres(url).await, plan).await
        }
        None => Err("no PostgreSQL URL given".into()),
    };
    databases.push(DatabaseReport {
        name: "PostgreSQL",
        outcome: postgres,
    });
    if databases.iter().all(|d| d.outcome.is_err()) {
        let reasons: Vec<String> = databases
            .iter()
            .filter_map(|d| d.outcome.as_ref().err().map(|e| format!("{}: {e}", d.name)))
            .collect();
        anyhow::bail!("no database could be measured ({})", reasons.join("; "));
    }
    Ok(Report { databases })
}

/// Everything on one database; an error becomes the database's reason.
async fn on(database: anyhow::Result<Database>, plan: &Plan) -> Result<DatabaseRun, String> {
    let database = database.map_err(|e| format!("{e:#}"))?;
    let result = measure(&database, plan).await;
    database.remove().await;
    result.map_err(|e| {
        eprintln!("watch: failed: {e:#}");
        format!("{e:#}")
    })
}

async fn measure(database: &Database, plan: &Plan) -> anyhow::Result<DatabaseRun> {
    let largest = plan.entities.iter().copied().max().unwrap_or(1);
    eprintln!("watch: seeding {largest} browser sessions");
    let seeded = database.seed(largest).await?;
    let mut ours = Host::spawn(Role::Verification, &database.url, plan.poll_interval).await?;
    let mut theirs = match Host::spawn(Role::Incumbent, &database.url, plan.poll_interval).await {
        Ok(host) => host,
        Err(error) => {
            ours.stop().await;
            return Err(error);
        }
    };
    let result = sizes(database, &seeded, &mut ours, &mut theirs, plan).await;
    ours.stop().await;
    theirs.stop().await;
    let (rows, ended) = result?;
    Ok(DatabaseRun {
        version: database.version.clone(),
        seeded: largest,
        rows,
        ended,
    })
}

async fn sizes(
    database: &Database,
    seeded: &database::Seeded,
    ours: &mut Host,
    theirs: &mut Host,
    plan: &Plan,
) -> anyhow::Result<(Vec<Row>, Result<Ended, String>)> {
    let largest = plan.entities.iter().copied().max().unwrap_or(1);
    let admin = verification::Admin::from_pool(database.pool.clone());
    let mut rows = Vec::new();
    let mut ended = Err("not measured".to_owned());
    for (i, &n) in plan.entities.iter().enumerate() {
        let watched = &seeded.sessions[..n];
        let mut incumbent = None;
        if i % 2 == 1 {
            eprintln!("watch: {n} watched, the incumbent's loops");
            incumbent = Some(sides::incumbent(theirs, &seeded.org, watched, plan).await?);
        }
        eprintln!("watch: {n} watched, ours");
        let (side, stream) = sides::ours(ours, &seeded.org, watched, plan).await?;
        sides::close_ours(ours, stream).await?;
        let incumbent = match incumbent {
            Some(side) => side,
            None => {
                eprintln!("watch: {n} watched, the incumbent's loops");
                sides::incumbent(theirs, &seeded.org, watched, plan).await?
            }
        };
        rows.push(Row {
            watched: n,
            ours: side,
            incumbent,
        });
    }
    // Sessions are ended only once both sides have been measured at every N: an ended
    // session stops its incumbent loop, which would leave that side short of statements.
    if plan.ended_samples > 0 {
        let watched = &seeded.sessions[..largest];
        eprintln!(
            "watch: ending {} of {largest} watched sessions",
            plan.ended_samples
        );
        let mut stream = sides::open_ours(ours, &seeded.org, watched).await?;
        ended = sides::ended(&mut stream, &admin, watched, plan)
            .await
            .map_err(|e| format!("{e:#}"));
        sides::close_ours(ours, stream).await?;
    }
    Ok((rows, ended))
}
