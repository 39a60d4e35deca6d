//! Fresh databases for one test: a SQLite file in a temp dir, or a uniquely named PostgreSQL
//! database on the shared server (`BROWSER_STREAM_TEST_PG_URL`), dropped afterwards.

use sqlx::Connection;

/// A database that lives as long as this value.
pub struct TestDb {
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    pg: Option<(String, String)>,
}

impl TestDb {
    /// A new SQLite file (created by the service).
    pub async fn sqlite() -> Option<Self> {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("verification.db").display());
        Some(Self {
            url,
            _dir: Some(dir),
            pg: None,
        })
    }

    /// A database someone else owns (e.g. a private PostgreSQL a test started).
    pub fn from_url(url: String) -> Self {
        Self {
            url,
            _dir: None,
            pg: None,
        }
    }

    /// A new PostgreSQL database, or `None` (after printing why) when PostgreSQL is absent and
    /// `BROWSER_STREAM_REQUIRE_ALL` is not `1`.
    pub async fn postgres() -> Option<Self> {
        let admin_url = std::env::var("BROWSER_STREAM_TEST_PG_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
        let mut conn = match sqlx::PgConnection::connect(&admin_url).await {
            Ok(conn) => conn,
            Err(error) => {
                test_kit::skip::skip(&format!("PostgreSQL unreachable at {admin_url}: {error}"));
                return None;
            }
        };
        let name = format!("vt_{}", uuid::Uuid::new_v4().simple());
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .expect("create db");
        conn.close().await.ok();
        let base = admin_url
            .rsplit_once('/')
            .map(|(b, _)| b)
            .unwrap_or(&admin_url);
        Some(Self {
            url: format!("{base}/{name}"),
            _dir: None,
            pg: Some((admin_url, name)),
        })
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some((admin_url, name)) = self.pg.take() else {
            return;
        };
        // Drop runs inside a runtime that may be shutting down: use a thread of its own.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            let Ok(runtime) = runtime else { return };
            runtime.block_on(async {
                if let Ok(mut conn) = sqlx::PgConnection::connect(&admin_url).await {
                    let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                    let _ = sqlx::query(&sql).execute(&mut conn).await;
                }
            });
        })
        .join();
    }
}
