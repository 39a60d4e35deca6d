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

/// The database behind a pool, for the little SQL the two spell differently: unpacking a JSON
/// array parameter into rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// The dialect of the database `pool` connects to.
    pub(crate) fn of(pool: &AnyPool) -> Self {
        if is_sqlite(pool.connect_options().database_url.as_str()) {
            Self::Sqlite
        } else {
            Self::Postgres
        }
    }

    /// `column` is one of `ids`, which are parameter `$n` ([`list_parameter`]): `= $n` for
    /// one id, so a single lookup (every `Verify*`) is an index probe whatever the planner
    /// guesses of a JSON list's length (PostgreSQL assumes 100 rows and, on a small table,
    /// scans it); `IN (…)` over the JSON array otherwise.
    pub(crate) fn in_list(self, column: &str, n: usize, ids: &[String]) -> String {
        if ids.len() == 1 {
            format!("{column} = ${n}")
        } else {
            format!("{column} IN ({})", self.strings_of(n))
        }
    }

    /// A one-column subquery: the strings of the JSON array in parameter `$n`.
    pub(crate) fn strings_of(self, n: usize) -> String {
        match self {
            Self::Sqlite => format!("SELECT value FROM json_each(${n})"),
            Self::Postgres => format!("SELECT json_array_elements_text(${n}::json)"),
        }
    }

    /// A two-column subquery: the pairs `[a, b]` of the JSON array in parameter `$n`.
    pub(crate) fn pairs_of(self, n: usize) -> String {
        match self {
            Self::Sqlite => format!("SELECT value ->> 0, value ->> 1 FROM json_each(${n})"),
            Self::Postgres => {
                format!("SELECT p ->> 0, p ->> 1 FROM json_array_elements(${n}::json) AS p")
            }
        }
    }
}

/// The parameter [`Dialect::in_list`] compares with: the id itself, or a JSON array.
fn list_parameter(ids: &[String]) -> String {
    match ids {
        [one] => one.clone(),
        _ => json_array(ids),
    }
}

/// The JSON array parameter [`Dialect::strings_of`] and [`Dialect::pairs_of`] unpack.
fn json_array<T: serde::Serialize + ?Sized>(items: &T) -> String {
    // Strings and pairs of strings always serialize.
    serde_json::to_string(items).unwrap_or_else(|_| "[]".to_owned())
}

/// `sqlite://file` → `sqlite://file?mode=rwc` unless the caller chose a mode.
fn sqlite_create_if_missing(url: &str) -> String {
    if !is_sqlite(url) || url.contains("mode=") || url.contains(":memory:") {
        return url.to_owned();
    }
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}mode=rwc")
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
    fn a_list_is_one_json_parameter_in_either_dialect() {
        assert_eq!(json_array(&["pbs_1", "a\"b"]), r#"["pbs_1","a\"b"]"#);
        assert_eq!(list_parameter(&["pbs_1".into()]), "pbs_1");
        assert_eq!(list_parameter(&["a".into(), "b".into()]), r#"["a","b"]"#);
        for dialect in [Dialect::Sqlite, Dialect::Postgres] {
            assert_eq!(dialect.in_list("s.id", 2, &["pbs_1".into()]), "s.id = $2");
            assert!(dialect.strings_of(2).contains("$2"));
            assert!(dialect.pairs_of(3).contains("$3"));
        }
    }
}
