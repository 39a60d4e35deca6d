//! Credential rows: API keys (hashed, revocable) and stream tickets (hashed, one use).

use sqlx::{AnyPool, Row};
use tracing::instrument;

/// A ticket that was just consumed.
#[derive(Debug, Clone)]
pub struct TicketRow {
    /// Owner.
    pub organization_id: String,
    /// `browser_session`, `task` or `workflow_run`.
    pub entity_kind: String,
    /// The entity it opens.
    pub entity_id: String,
    /// `control` or `view`.
    pub scope: String,
    /// Expiry, epoch ms.
    pub expires_at: i64,
    /// The revocable credential it was minted with (`key:<hash>`, `link:<id>`), if any.
    pub origin: Option<String>,
}

/// The organization of a valid (unrevoked) API key, by the key's hash.
#[instrument(skip(pool))]
pub async fn api_key_org(pool: &AnyPool, key_hash: &str) -> Result<Option<String>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT organization_id FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL",
    )
    .bind(key_hash)
    .fetch_optional(pool)
    .await?;
    row.map(|r| r.try_get::<String, _>(0)).transpose()
}

/// Whether an organization exists.
#[instrument(skip(pool))]
pub async fn org_exists(pool: &AnyPool, organization_id: &str) -> Result<bool, sqlx::Error> {
    let row = sqlx::query("SELECT id FROM organizations WHERE id = $1")
        .bind(organization_id)
        .fetch_optional(pool)
        .await?;
    Ok(row.is_some())
}

/// Stores a freshly minted ticket (by hash) and deletes tickets that expired long ago.
#[instrument(skip(pool, ticket_hash))]
pub async fn insert_ticket(
    pool: &AnyPool,
    ticket_hash: &str,
    ticket: &TicketRow,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO stream_tickets \
         (ticket_hash, organization_id, entity_kind, entity_id, scope, expires_at, used, created_at, origin) \
         VALUES ($1, $2, $3, $4, $5, $6, 0, $7, $8)",
    )
    .bind(ticket_hash)
    .bind(&ticket.organization_id)
    .bind(&ticket.entity_kind)
    .bind(&ticket.entity_id)
    .bind(&ticket.scope)
    .bind(ticket.expires_at)
    .bind(now)
    .bind(&ticket.origin)
    .execute(pool)
    .await?;
    // Keeps the table small without a separate job: an hour after expiry a row is useless.
    sqlx::query("DELETE FROM stream_tickets WHERE expires_at < $1")
        .bind(now - 3_600_000)
        .execute(pool)
        .await?;
    Ok(())
}

/// Consumes a ticket atomically: one UPDATE that only matches an unused, unexpired row, so two
/// concurrent consumers cannot both succeed. `None` when unknown, used or expired.
#[instrument(skip(pool, ticket_hash))]
pub async fn consume_ticket(
    pool: &AnyPool,
    ticket_hash: &str,
    now: i64,
) -> Result<Option<TicketRow>, sqlx::Error> {
    let row = sqlx::query(
        "UPDATE stream_tickets SET used = 1 \
         WHERE ticket_hash = $1 AND used = 0 AND expires_at > $2 \
         RETURNING organization_id, entity_kind, entity_id, scope, expires_at, origin",
    )
    .bind(ticket_hash)
    .bind(now)
    .fetch_optional(pool)
    .await?;
    row.map(|r| {
        Ok(TicketRow {
            organization_id: r.try_get(0)?,
            entity_kind: r.try_get(1)?,
            entity_id: r.try_get(2)?,
            scope: r.try_get(3)?,
            expires_at: r.try_get(4)?,
            origin: r.try_get(5)?,
        })
    })
    .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{connect, PoolSettings};

    fn ticket(expires_at: i64) -> TicketRow {
        TicketRow {
            organization_id: "org_1".into(),
            entity_kind: "browser_session".into(),
            entity_id: "pbs_1".into(),
            scope: "view".into(),
            expires_at,
            origin: Some("link:lnk_1".into()),
        }
    }

    #[tokio::test]
    async fn a_ticket_is_consumed_once_and_never_after_expiry() {
        let pool = connect("sqlite::memory:", &PoolSettings::default())
            .await
            .unwrap();
        insert_ticket(&pool, "h1", &ticket(2_000), 1_000)
            .await
            .unwrap();
        insert_ticket(&pool, "h2", &ticket(2_000), 1_000)
            .await
            .unwrap();
        let first = consume_ticket(&pool, "h1", 1_500).await.unwrap().unwrap();
        assert_eq!(
            (first.entity_id.as_str(), first.scope.as_str()),
            ("pbs_1", "view")
        );
        assert!(
            consume_ticket(&pool, "h1", 1_500).await.unwrap().is_none(),
            "used"
        );
        assert!(
            consume_ticket(&pool, "h2", 2_000).await.unwrap().is_none(),
            "expired"
        );
        assert!(consume_ticket(&pool, "unknown", 1_500)
            .await
            .unwrap()
            .is_none());
    }
}
