//! The SQLite schema. Every table is created if missing, so a new data directory needs no setup.

/// Statements run when a store is opened.
pub const SCHEMA: &str = r#"
PRAGMA journal_mode = WAL;
PRAGMA synchronous = FULL;
PRAGMA foreign_keys = ON;

-- The durable ingest log: one row per accepted batch (NDJSON of sensor records) or clock tick.
CREATE TABLE IF NOT EXISTS log (
    seq      INTEGER PRIMARY KEY,
    received REAL    NOT NULL,
    source   TEXT    NOT NULL,
    kind     INTEGER NOT NULL,   -- 0: records, 1: clock tick
    n        INTEGER NOT NULL,   -- records in the batch
    body     BLOB    NOT NULL
);

-- Every alert revision the rules produced, and each alert's latest revision plus its life cycle.
CREATE TABLE IF NOT EXISTS alert_revs (
    id   INTEGER NOT NULL,
    rev  INTEGER NOT NULL,
    body TEXT    NOT NULL,
    PRIMARY KEY (id, rev)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS alerts (
    id          INTEGER PRIMARY KEY,
    rev         INTEGER NOT NULL,
    kind        TEXT    NOT NULL,
    severity    TEXT    NOT NULL,
    state       TEXT    NOT NULL,
    sector      TEXT,
    facility    TEXT,
    raised      REAL    NOT NULL,
    time        REAL    NOT NULL,
    body        TEXT    NOT NULL,
    status      TEXT    NOT NULL DEFAULT 'new',
    unit        TEXT,
    resolution  TEXT,
    note        TEXT,
    changed_by  TEXT,
    changed_at  REAL
);
CREATE INDEX IF NOT EXISTS alerts_time ON alerts (time);

-- Nuisance resolutions per sensor and per zone (fence zone or frontier sector).
CREATE TABLE IF NOT EXISTS nuisance (
    scope  TEXT    NOT NULL,   -- 'sensor' or 'zone'
    key    TEXT    NOT NULL,
    reason TEXT    NOT NULL,
    n      INTEGER NOT NULL,
    PRIMARY KEY (scope, key, reason)
) WITHOUT ROWID;

-- Hash-chained, append-only audit log.
CREATE TABLE IF NOT EXISTS audit (
    seq    INTEGER PRIMARY KEY,
    time   TEXT NOT NULL,
    actor  TEXT NOT NULL,
    action TEXT NOT NULL,
    object TEXT NOT NULL,
    detail TEXT NOT NULL,
    prev   TEXT NOT NULL,
    hash   TEXT NOT NULL
);
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;

-- API tokens, stored as SHA-256 of the token.
CREATE TABLE IF NOT EXISTS tokens (
    id      INTEGER PRIMARY KEY,
    org     TEXT NOT NULL,
    role    TEXT NOT NULL,
    hash    TEXT NOT NULL UNIQUE,
    label   TEXT NOT NULL,
    created TEXT NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0
);

-- Operator updates to facilities (the site file holds the starting values).
CREATE TABLE IF NOT EXISTS facilities (
    id            TEXT PRIMARY KEY,
    status        TEXT,
    head_count    INTEGER,
    exits_at_count INTEGER NOT NULL DEFAULT 0,
    guards        INTEGER,
    note          TEXT,
    changed_by    TEXT,
    changed_at    REAL
);

-- Webhook deliveries, written in the same transaction as the alert revision they carry.
CREATE TABLE IF NOT EXISTS outbox (
    id         INTEGER PRIMARY KEY,
    org        TEXT NOT NULL,
    url        TEXT NOT NULL,
    key        TEXT NOT NULL UNIQUE,
    body       TEXT NOT NULL,
    attempts   INTEGER NOT NULL DEFAULT 0,
    next_at    REAL NOT NULL,
    delivered  REAL,
    last_error TEXT
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (delivered, next_at);
"#;
