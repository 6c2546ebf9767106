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
    changed_at  REAL,
    life_version INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS alerts_time ON alerts (time);

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

-- The Merkle tree over the audit entries (RFC 6962 hashing): its hashes by Go tlog's stored
-- hash index, written with their entry (audit/merkle.rs). Signed checkpoints commit to it.
CREATE TABLE IF NOT EXISTS audit_tree (
    idx  INTEGER PRIMARY KEY,
    hash BLOB NOT NULL
);
CREATE TRIGGER IF NOT EXISTS audit_tree_no_update BEFORE UPDATE ON audit_tree
    BEGIN SELECT RAISE(ABORT, 'the audit tree is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_tree_no_delete BEFORE DELETE ON audit_tree
    BEGIN SELECT RAISE(ABORT, 'the audit tree is append-only'); END;

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
    changed_at    REAL,
    status_at     REAL,
    version       INTEGER NOT NULL DEFAULT 0
);

-- Idempotency keys of ingest requests: the reply given, so a retry gets it instead of
-- storing the records twice.
CREATE TABLE IF NOT EXISTS ingest_keys (
    principal TEXT NOT NULL,
    key       TEXT NOT NULL,
    digest    BLOB NOT NULL,
    reply     TEXT NOT NULL,
    created   REAL NOT NULL,
    PRIMARY KEY (principal, key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS ingest_keys_created ON ingest_keys (created);

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

-- Client certificates the deployment's CA issued (limes cert issue, TAK enrolment). A TLS
-- client is accepted only when its certificate's serial is here, unrevoked, same subject.
CREATE TABLE IF NOT EXISTS certs (
    serial  TEXT PRIMARY KEY,   -- lowercase hex
    name    TEXT NOT NULL,      -- CN: the device, or the sensor's id
    org     TEXT NOT NULL,      -- O
    role    TEXT NOT NULL,      -- OU
    issued  TEXT NOT NULL,
    expires TEXT NOT NULL,
    via     TEXT NOT NULL,      -- issue | enroll
    revoked TEXT                -- when revoked, RFC 3339
);
CREATE INDEX IF NOT EXISTS certs_name ON certs (name);

-- One-time enrolment codes for TAK certificate enrolment, stored as SHA-256.
CREATE TABLE IF NOT EXISTS enroll_codes (
    name    TEXT PRIMARY KEY,   -- the user name the device enrols with
    org     TEXT NOT NULL,
    role    TEXT NOT NULL,
    hash    TEXT NOT NULL,
    created TEXT NOT NULL,
    expires REAL NOT NULL,      -- unix seconds
    used    TEXT
);

-- Audit entries of limes cert commands run beside a running server, until the store's
-- writer (the only one that appends to the chain) writes them.
CREATE TABLE IF NOT EXISTS audit_pending (
    id     INTEGER PRIMARY KEY,
    time   TEXT NOT NULL,
    actor  TEXT NOT NULL,
    action TEXT NOT NULL,
    object TEXT NOT NULL,
    detail TEXT NOT NULL
);
"#;

/// Columns added after the first release, for data directories made before them.
const ADDED: &[(&str, &str, &str)] = &[
    ("alerts", "life_version", "INTEGER NOT NULL DEFAULT 0"),
    ("facilities", "status_at", "REAL"),
    ("facilities", "version", "INTEGER NOT NULL DEFAULT 0"),
];

/// Creates every table that is missing and adds columns that older files lack.
pub fn migrate(c: &rusqlite::Connection) -> rusqlite::Result<()> {
    c.execute_batch(SCHEMA)?;
    for (table, column, decl) in ADDED {
        let mut stmt = c.prepare(&format!("SELECT name FROM pragma_table_info('{table}')"))?;
        let have = stmt
            .query_map([], |r| r.get::<_, String>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        if !have.iter().any(|h| h == column) {
            c.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} {decl}"))?;
        }
    }
    Ok(())
}
