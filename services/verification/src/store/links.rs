//! Viewer links (hashed secrets, revocable) and the revocation check of the credentials behind
//! open sockets: API keys (`key:<hash>`) and links (`link:<id>`).

use sqlx::{AnyPool, Row};
use tracing::instrument;

use super::{list_parameter, Dialect};

/// A link as stored (the secret only as its hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkRow {
    /// `lnk_…`.
    pub id: String,
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
}

/// Stores a new link.
#[instrument(skip(pool, secret_hash))]
pub async fn insert_link(
    pool: &AnyPool,
    secret_hash: &str,
    link: &LinkRow,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO stream_links \
         (id, secret_hash, organization_id, entity_kind, entity_id, scope, expires_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&link.id)
    .bind(secret_hash)
    .bind(&link.organization_id)
    .bind(&link.entity_kind)
    .bind(&link.entity_id)
    .bind(&link.scope)
    .bind(link.expires_at)
    .bind(now)
    .execute(pool)
    .await?;
    Ok(())
}

/// The working (unrevoked, unexpired) link with this secret hash.
#[instrument(skip(pool, secret_hash))]
pub async fn working_link(
    pool: &AnyPool,
    secret_hash: &str,
    now: i64,
) -> Result<Option<LinkRow>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT id, organization_id, entity_kind, entity_id, scope, expires_at FROM stream_links \
         WHERE secret_hash = $1 AND revoked_at IS NULL AND expires_at > $2",
    )
    .bind(secret_hash)
    .bind(now)
    .fetch_optional(pool)
    .await?;
    row.map(|r| {
        Ok(LinkRow {
            id: r.try_get(0)?,
            organization_id: r.try_get(1)?,
            entity_kind: r.try_get(2)?,
            entity_id: r.try_get(3)?,
            scope: r.try_get(4)?,
            expires_at: r.try_get(5)?,
        })
    })
    .transpose()
}

/// Revokes a link of the organization; false when unknown there or already revoked.
#[instrument(skip(pool))]
pub async fn revoke_link(
    pool: &AnyPool,
    organization_id: &str,
    id: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE stream_links SET revoked_at = $1 \
         WHERE id = $2 AND organization_id = $3 AND revoked_at IS NULL",
    )
    .bind(now)
    .bind(id)
    .bind(organization_id)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Of `ids`, the links that are revoked or do not exist (expiry alone does not revoke: an open
/// socket outlives its link's expiry, a new one cannot be opened).
#[instrument(skip(pool, ids), fields(ids = ids.len()))]
pub async fn revoked_links(pool: &AnyPool, ids: &[String]) -> Result<Vec<String>, sqlx::Error> {
    let working = present(
        pool,
        "SELECT id FROM stream_links WHERE revoked_at IS NULL AND",
        "id",
        ids,
    )
    .await?;
    Ok(ids
        .iter()
        .filter(|id| !working.contains(*id))
        .cloned()
        .collect())
}

/// Of `hashes`, the API keys that are revoked or do not exist.
#[instrument(skip(pool, hashes), fields(ids = hashes.len()))]
pub async fn revoked_keys(pool: &AnyPool, hashes: &[String]) -> Result<Vec<String>, sqlx::Error> {
    let working = present(
        pool,
        "SELECT key_hash FROM api_keys WHERE revoked_at IS NULL AND",
        "key_hash",
        hashes,
    )
    .await?;
    Ok(hashes
        .iter()
        .filter(|h| !working.contains(*h))
        .cloned()
        .collect())
}

/// The values of `values` that `select … AND column IN values` returns, in one statement
/// ([`Dialect::in_list`]).
async fn present(
    pool: &AnyPool,
    select: &str,
    column: &str,
    values: &[String],
) -> Result<std::collections::HashSet<String>, sqlx::Error> {
    if values.is_empty() {
        return Ok(std::collections::HashSet::new());
    }
    let sql = format!("{select} {}", Dialect::of(pool).in_list(column, 1, values));
    let rows = sqlx::query(&sql)
        .bind(list_parameter(values))
        .fetch_all(pool)
        .await?;
    rows.iter().map(|row| row.try_get::<String, _>(0)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{connect, PoolSettings};

    fn link(id: &str, expires_at: i64) -> LinkRow {
        LinkRow {
            id: id.into(),
            organization_id: "org_1".into(),
            entity_kind: "browser_session".into(),
            entity_id: "pbs_1".into(),
            scope: "view".into(),
            expires_at,
        }
    }

    #[tokio::test]
    async fn a_link_works_until_revoked_or_expired_and_only_revoked_ones_are_named() {
        let pool = connect("sqlite::memory:", &PoolSettings::default())
            .await
            .unwrap();
        insert_link(&pool, "s1", &link("lnk_1", 5_000), 1_000)
            .await
            .unwrap();
        insert_link(&pool, "s2", &link("lnk_2", 2_000), 1_000)
            .await
            .unwrap();
        assert_eq!(
            working_link(&pool, "s1", 1_500).await.unwrap(),
            Some(link("lnk_1", 5_000))
        );
        assert_eq!(
            working_link(&pool, "s2", 2_000).await.unwrap(),
            None,
            "expired"
        );
        assert!(
            !revoke_link(&pool, "org_2", "lnk_1", 1_600).await.unwrap(),
            "other org"
        );
        assert!(revoke_link(&pool, "org_1", "lnk_1", 1_600).await.unwrap());
        assert!(
            !revoke_link(&pool, "org_1", "lnk_1", 1_700).await.unwrap(),
            "twice"
        );
        assert_eq!(
            working_link(&pool, "s1", 1_800).await.unwrap(),
            None,
            "revoked"
        );
        let ids = vec![
            "lnk_1".to_owned(),
            "lnk_2".to_owned(),
            "lnk_gone".to_owned(),
        ];
        assert_eq!(
            revoked_links(&pool, &ids).await.unwrap(),
            ["lnk_1", "lnk_gone"]
        );
    }
}
