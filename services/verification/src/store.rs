//! Every database query of verification, as runtime `sqlx::query` calls through the `Any`
//! driver, so the same SQL runs on SQLite (the embedded default) and PostgreSQL. Timestamps
//! are epoch milliseconds computed by the service; placeholders are `$N` (both drivers
//! accept them). No query text leaves this module.

pub mod admin;
pub mod auth;
pub mod entities;
pub mod links;

use std::time::Duration;

use sqlx::any::AnyPoolOptions;
use sqlx::AnyPool;

/// The embedded migrations (`migrations/`), identical for both databases.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// How the pool behaves when the database is slow or gone.
#[derive(Debug, Clone)]
pub struct PoolSettings {
    /// Longest wait for a connection before a call fails UNAVAILABLE.
    pub acquire_timeout: Duration,
    /// Most connections held open.
    pub max_connections: u32,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            acquire_timeout: Duration::from_secs(3),
            max_connections: 10,
        }
    }
}

/// Opens a pool on `database_url` (`sqlite://…` is created if missing, in WAL mode so the
/// admin CLI and the server share the file) and runs the migrations.
pub async fn connect(database_url: &str, settings: &PoolSettings) -> Result<AnyPool, sqlx::Error> {
    sqlx::any::install_default_drivers();
    let url = sqlite_create_if_missing(database_url);
    // Each connection to `sqlite::memory:` is a database of its own: keep exactly one.
    let memory = url.contains(":memory:");
    let pool = AnyPoolOptions::new()
        .acquire_timeout(settings.acquire_timeout)
        .max_connections(if memory { 1 } else { settings.max_connections })
        .idle_timeout((!memory).then_some(Duration::from_secs(600)))
        .max_lifetime((!memory).then_some(Duration::from_secs(1800)))
        .connect(&url)
        .await?;
    if is_sqlite(&url) && !memory {
        // WAL is a property of the file: set once, it holds for every later connection.
        sqlx::query("PRAGMA journal_mode = WAL")
            .execute(&pool)
            .await?;
    }
    MIGRATOR.run(&pool).await?;
    Ok(pool)
}

/// Now, in epoch milliseconds (the unit of every stored timestamp).
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn is_sqlite(url: &str) -> bool {
    url.starts_with("sqlite:")
}

/// `sqlite://file` → `sqlite://file?mode=rwc` unless the caller chose a mode.
fn sqlite_create_if_missing(url: &str) -> String {
    if !is_sqlite(url) || url.contains("mode=") || url.contains(":memory:") {
        return url.to_owned();
    }
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}mode=rwc")
}

/// `$start, $start+1, …` for `n` placeholders.
fn placeholders(start: usize, n: usize) -> String {
    (start..start + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_are_created_if_missing() {
        assert_eq!(
            sqlite_create_if_missing("sqlite://v.db"),
            "sqlite://v.db?mode=rwc"
        );
        assert_eq!(
            sqlite_create_if_missing("sqlite://v.db?mode=ro"),
            "sqlite://v.db?mode=ro"
        );
        assert_eq!(
            sqlite_create_if_missing("postgres://h/db"),
            "postgres://h/db"
        );
    }

    #[test]
    fn placeholders_are_numbered_from_start() {
        assert_eq!(placeholders(3, 2), "$3, $4");
        assert_eq!(placeholders(1, 0), "");
    }
}
