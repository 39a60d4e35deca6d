//! The incumbent's way (its spec §3.8 and weakness 7), hosted for comparison: every socket
//! runs a verification loop of its own — load its session row by id and organization (§3.1),
//! judge it (§3.2), sleep one interval — so N watched sessions cost N statements per interval.
//! Here in this binary's Rust and sqlx, on a pool like verification's (10 connections), the
//! loops' first statements spread evenly over one interval, as sockets open at different
//! times.
//!
//! Commands on stdin, one line each: `start <org> <id>,<id>…` (answers `bench-started <n>`),
//! `stats` (`bench-stats <statements> <statement µs> <errors>`, cumulative), `stop`
//! (`bench-stopped`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::{AnyPool, Row};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use verification::domain::liveness::judge_session;
use verification::domain::{SessionSnapshot, Verdict};
use verification::store::{self, PoolSettings};

/// The incumbent's lookup by id: the whole row, not deleted, of the organization.
pub const SESSION_BY_ID: &str = "SELECT id, organization_id, status, started_at, \
    timeout_minutes, last_activity_at, completed_at, deleted_at, runnable_id, vnc_url, \
    cdp_url, browser_address FROM browser_sessions \
    WHERE id = $1 AND deleted_at IS NULL AND organization_id = $2";

/// Bound on the loops' in-flight statements when they are stopped.
const STOP_WAIT: Duration = Duration::from_secs(30);

#[derive(Default)]
struct Counters {
    statements: AtomicU64,
    statement_us: AtomicU64,
    errors: AtomicU64,
}

/// Child side: runs loops on command until stdin closes.
pub async fn serve(database_url: &str, interval: Duration) -> anyhow::Result<()> {
    let pool = store::connect(database_url, &PoolSettings::default()).await?;
    let counters = Arc::new(Counters::default());
    println!("bench-watch - -");
    let mut commands = crate::host::stdin_lines();
    let mut running: Option<Loops> = None;
    while let Some(line) = commands.recv().await {
        let mut words = line.split_whitespace();
        match (words.next(), words.next(), words.next()) {
            (Some("start"), Some(org), Some(ids)) => {
                if let Some(loops) = running.take() {
                    loops.stop().await;
                }
                let ids: Vec<String> = ids.split(',').map(str::to_owned).collect();
                let n = ids.len();
                running = Some(Loops::start(&pool, org, ids, interval, &counters));
                println!("bench-started {n}");
            }
            (Some("stats"), None, None) => println!(
                "bench-stats {} {} {}",
                counters.statements.load(Ordering::Relaxed),
                counters.statement_us.load(Ordering::Relaxed),
                counters.errors.load(Ordering::Relaxed)
            ),
            (Some("stop"), None, None) => {
                if let Some(loops) = running.take() {
                    loops.stop().await;
                }
                println!("bench-stopped");
            }
            _ => println!("bench-error unknown command {line:?}"),
        }
    }
    if let Some(loops) = running.take() {
        loops.stop().await;
    }
    pool.close().await;
    Ok(())
}

// === impl Loops ===

/// One verification loop per watched session.
struct Loops {
    cancel: CancellationToken,
    tracker: TaskTracker,
}

impl Loops {
    fn start(
        pool: &AnyPool,
        org: &str,
        ids: Vec<String>,
        interval: Duration,
        counters: &Arc<Counters>,
    ) -> Self {
        let cancel = CancellationToken::new();
        let tracker = TaskTracker::new();
        let n = ids.len().max(1);
        for (i, id) in ids.into_iter().enumerate() {
            let delay = interval.mul_f64(i as f64 / n as f64);
            let channel = Channel {
                pool: pool.clone(),
                org: org.to_owned(),
                id,
                counters: counters.clone(),
            };
            tracker.spawn(channel.run(delay, interval, cancel.clone()));
        }
        tracker.close();
        Self { cancel, tracker }
    }

    async fn stop(self) {
        self.cancel.cancel();
        if tokio::time::timeout(STOP_WAIT, self.tracker.wait())
            .await
            .is_err()
        {
            eprintln!("watch: incumbent loops still running after {STOP_WAIT:?}");
        }
    }
}

// === impl Channel ===

/// One socket's loop.
struct Channel {
    pool: AnyPool,
    org: String,
    id: String,
    counters: Arc<Counters>,
}

impl Channel {
    async fn run(self, delay: Duration, interval: Duration, cancel: CancellationToken) {
        let mut pause = delay;
        loop {
            tokio::select! {
                () = cancel.cancelled() => return,
                () = tokio::time::sleep(pause) => {}
            }
            pause = interval;
            match self.verify_once().await {
                Ok(true) => {}
                // Not live: the incumbent's loop returns.
                Ok(false) => return,
                // The incumbent's channel would be torn down; here the loop goes on, so the
                // number of loops stays N, and the error is counted.
                Err(_) => {
                    self.counters.errors.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }

    /// One statement on a pooled connection (timed on the connection), then the judgement.
    async fn verify_once(&self) -> Result<bool, sqlx::Error> {
        let mut conn = self.pool.acquire().await?;
        let started = Instant::now();
        let row = sqlx::query(SESSION_BY_ID)
            .bind(self.id.as_str())
            .bind(self.org.as_str())
            .fetch_optional(&mut *conn)
            .await;
        let took = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        drop(conn);
        self.counters.statements.fetch_add(1, Ordering::Relaxed);
        self.counters
            .statement_us
            .fetch_add(took, Ordering::Relaxed);
        let Some(row) = row? else {
            return Ok(false);
        };
        let session = SessionSnapshot {
            id: row.try_get("id")?,
            organization_id: row.try_get("organization_id")?,
            status: row.try_get("status")?,
            started_at: row.try_get("started_at")?,
            timeout_minutes: row.try_get("timeout_minutes")?,
            last_activity_at: row.try_get("last_activity_at")?,
            completed_at: row.try_get("completed_at")?,
            deleted_at: row.try_get("deleted_at")?,
            runnable_id: row.try_get("runnable_id")?,
            vnc_url: row.try_get("vnc_url")?,
            cdp_url: row.try_get("cdp_url")?,
            browser_address: row.try_get("browser_address")?,
        };
        Ok(judge_session(&session, store::now_ms(), false) == Verdict::Live)
    }
}
