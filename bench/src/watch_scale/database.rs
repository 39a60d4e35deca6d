//! Fresh databases for one run: a SQLite file in a temporary directory (WAL mode, as
//! verification opens it), or a new PostgreSQL database on the server at the admin URL,
//! dropped afterwards. Each is migrated by verification's own migrations and seeded with live
//! browser sessions of one organization.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use sqlx::{AnyPool, Connection, Row};

use verification::store::{self, PoolSettings};

/// Bound on reaching the PostgreSQL server and on dropping the database.
const CONNECT_WAIT: Duration = Duration::from_secs(5);
/// Rows per seeding statement (one parameter per row besides two shared ones).
const SEED_ROWS_PER_STATEMENT: usize = 500;
/// Addresses of every seeded session: enough to be ready (a DevTools address), never dialled.
const SEED_VNC_URL: &str = "tcp://127.0.0.1:9";
const SEED_CDP_URL: &str = "http://127.0.0.1:9";

/// A database that lives until [`Database::remove`].
pub struct Database {
    /// What verification is given (`sqlite://…` or `postgres://…`).
    pub url: String,
    /// The server's version, as it reports it, and how the database was set up.
    pub version: String,
    /// The benchmark's own pool on it (seeding, ending sessions).
    pub pool: AnyPool,
    cleanup: Cleanup,
}

enum Cleanup {
    Dir(PathBuf),
    Postgres { admin_url: String, name: String },
}

/// The seeded organization and its live sessions.
pub struct Seeded {
    /// `org_…`.
    pub org: String,
    /// `pbs_…`, in the order they were created.
    pub sessions: Vec<String>,
}

impl Database {
    /// A new SQLite file.
    pub async fn sqlite() -> anyhow::Result<Self> {
        let dir = std::env::temp_dir().join(format!(
            "relay-bench-watch-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir)?;
        let url = format!("sqlite://{}", dir.join("verification.db").display());
        let cleanup = Cleanup::Dir(dir);
        let opened = async {
            let pool = store::connect(&url, &PoolSettings::default()).await?;
            let version: String = sqlx::query("SELECT sqlite_version()")
                .fetch_one(&pool)
                .await?
                .try_get(0)?;
            anyhow::Ok((pool, version))
        };
        match opened.await {
            Ok((pool, version)) => Ok(Self {
                url,
                version: format!("SQLite {version}, a file in WAL mode"),
                pool,
                cleanup,
            }),
            Err(error) => {
                cleanup.run().await;
                Err(error)
            }
        }
    }

    /// A new database on the PostgreSQL server at `admin_url`; an error says why not.
    pub async fn postgres(admin_url: &str) -> anyhow::Result<Self> {
        let mut conn = tokio::time::timeout(CONNECT_WAIT, sqlx::PgConnection::connect(admin_url))
            .await
            .with_context(|| format!("PostgreSQL at {admin_url} did not answer in time"))?
            .with_context(|| format!("PostgreSQL unreachable at {admin_url}"))?;
        let name = format!("relay_bench_watch_{}", uuid::Uuid::new_v4().simple());
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .context("cannot create a database")?;
        let version: Result<String, sqlx::Error> = async {
            sqlx::query("SHOW server_version")
                .fetch_one(&mut conn)
                .await?
                .try_get(0)
        }
        .await;
        let _ = conn.close().await;
        let base = admin_url.rsplit_once('/').map_or(admin_url, |(b, _)| b);
        let url = format!("{base}/{name}");
        let cleanup = Cleanup::Postgres {
            admin_url: admin_url.to_owned(),
            name,
        };
        let opened = async {
            let version = version?;
            let pool = store::connect(&url, &PoolSettings::default()).await?;
            anyhow::Ok((pool, version))
        };
        match opened.await {
            Ok((pool, version)) => Ok(Self {
                url,
                version: format!("PostgreSQL {version} on the local server, a fresh database"),
                pool,
                cleanup,
            }),
            Err(error) => {
                cleanup.run().await;
                Err(error)
            }
        }
    }

    /// One organization and `sessions` running browser sessions (started now, no timeout but
    /// the 4-hour cap, with addresses), inserted in one transaction.
    pub async fn seed(&self, sessions: usize) -> anyhow::Result<Seeded> {
        let admin = verification::Admin::from_pool(self.pool.clone());
        let org = admin.create_org("relay-bench watch").await?;
        let ids: Vec<String> = (0..sessions)
            .map(|_| {
                verification::domain::EntityId::generate(
                    verification::domain::EntityKind::BrowserSession,
                )
                .as_ref()
                .to_owned()
            })
            .collect();
        let now = store::now_ms();
        let mut tx = self.pool.begin().await?;
        for chunk in ids.chunks(SEED_ROWS_PER_STATEMENT) {
            let values = (0..chunk.len())
                .map(|i| {
                    format!(
                        "(${}, $1, 'running', $2, NULL, '{SEED_VNC_URL}', '{SEED_CDP_URL}', \
                         NULL, NULL, $2)",
                        3 + i
                    )
                })
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "INSERT INTO browser_sessions (id, organization_id, status, started_at, \
                 timeout_minutes, vnc_url, cdp_url, browser_address, runnable_id, created_at) \
                 VALUES {values}"
            );
            let mut query = sqlx::query(&sql).bind(org.as_str()).bind(now);
            for id in chunk {
                query = query.bind(id.as_str());
            }
            query.persistent(false).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        let count: i64 = sqlx::query("SELECT COUNT(*) FROM browser_sessions")
            .fetch_one(&self.pool)
            .await?
            .try_get(0)?;
        anyhow::ensure!(
            usize::try_from(count).ok() == Some(sessions),
            "seeded {sessions} sessions but the table holds {count}"
        );
        Ok(Seeded { org, sessions: ids })
    }

    /// Closes the pool and removes the file or drops the database.
    pub async fn remove(self) {
        self.pool.close().await;
        self.cleanup.run().await;
    }
}

impl Cleanup {
    async fn run(self) {
        match self {
            Cleanup::Dir(dir) => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Cleanup::Postgres { admin_url, name } => {
                let drop = async {
                    let mut conn = sqlx::PgConnection::connect(&admin_url).await?;
                    let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                    sqlx::query(&sql).execute(&mut conn).await?;
                    conn.close().await
                };
                match tokio::time::timeout(CONNECT_WAIT, drop).await {
                    Ok(Ok(())) => {}
                    Ok(Err(error)) => eprintln!("watch: could not drop database {name}: {error}"),
                    Err(_) => eprintln!("watch: dropping database {name} timed out"),
                }
            }
        }
    }
}
