-- Revocable viewer links (PROTOCOL §5), and the revocable credential behind each ticket.
-- Portable SQL, as 0001.

CREATE TABLE IF NOT EXISTS stream_links (
    id              TEXT PRIMARY KEY,
    secret_hash     TEXT NOT NULL UNIQUE,
    organization_id TEXT NOT NULL,
    entity_kind     TEXT NOT NULL,
    entity_id       TEXT NOT NULL,
    scope           TEXT NOT NULL,
    expires_at      BIGINT NOT NULL,
    revoked_at      BIGINT,
    created_at      BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS stream_links_org ON stream_links (organization_id);

-- `key:<hash>` or `link:<id>`; NULL for none.
ALTER TABLE stream_tickets ADD COLUMN origin TEXT;
