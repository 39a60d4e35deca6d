-- browser-stream verification schema. Portable SQL: runs unchanged on SQLite and PostgreSQL.
-- Timestamps are integer epoch milliseconds (UTC), written by the service, so both databases
-- store and compare them identically. Booleans are BIGINT 0/1 for the same reason.

CREATE TABLE IF NOT EXISTS organizations (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

-- API keys are stored only as the hex SHA-256 of the key.
CREATE TABLE IF NOT EXISTS api_keys (
    key_hash        TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    revoked_at      BIGINT
);
CREATE INDEX IF NOT EXISTS api_keys_org ON api_keys (organization_id);

CREATE TABLE IF NOT EXISTS browser_sessions (
    id               TEXT PRIMARY KEY,
    organization_id  TEXT NOT NULL,
    status           TEXT NOT NULL,
    started_at       BIGINT,
    timeout_minutes  BIGINT,
    last_activity_at BIGINT,
    completed_at     BIGINT,
    deleted_at       BIGINT,
    runnable_id      TEXT,
    vnc_url          TEXT,
    cdp_url          TEXT,
    browser_address  TEXT,
    created_at       BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS browser_sessions_runnable ON browser_sessions (runnable_id);
CREATE INDEX IF NOT EXISTS browser_sessions_org ON browser_sessions (organization_id);

CREATE TABLE IF NOT EXISTS workflow_runs (
    id                 TEXT PRIMARY KEY,
    organization_id    TEXT NOT NULL,
    status             TEXT NOT NULL,
    browser_session_id TEXT,
    created_at         BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS tasks (
    id                 TEXT PRIMARY KEY,
    organization_id    TEXT NOT NULL,
    status             TEXT NOT NULL,
    browser_session_id TEXT,
    workflow_run_id    TEXT,
    created_at         BIGINT NOT NULL
);

-- Stream tickets are stored only as the hex SHA-256 of the ticket; `used` is 0 or 1.
CREATE TABLE IF NOT EXISTS stream_tickets (
    ticket_hash     TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL,
    entity_kind     TEXT NOT NULL,
    entity_id       TEXT NOT NULL,
    scope           TEXT NOT NULL,
    expires_at      BIGINT NOT NULL,
    used            BIGINT NOT NULL DEFAULT 0,
    created_at      BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS stream_tickets_expiry ON stream_tickets (expires_at);
