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

-- Assessed events: alarms the engine kept from the operators (fence alarms the cameras
-- explained away, approaches by herds or walkers who turned back). Derived from the log like
-- alerts: the engine's replay writes them again and the id keeps each once.
CREATE TABLE IF NOT EXISTS events (
    id      INTEGER PRIMARY KEY,   -- the engine's event id (increases in decision order)
    source  TEXT NOT NULL,         -- fence_climb | fence_vibration | approach
    reason  TEXT NOT NULL,         -- the assessment's reason
    time    REAL NOT NULL,         -- the alarm
    decided REAL NOT NULL,
    sector  TEXT,
    sensor  TEXT,
    zone    TEXT,                  -- fence zone (controller/zone)
    lon     REAL,                  -- NULL for a position in a local frame
    lat     REAL,
    body    TEXT NOT NULL          -- the EventRecord as JSON
);
CREATE INDEX IF NOT EXISTS events_time ON events (time);

-- Hash-chained, append-only audit log.
CREATE TABLE IF NOT EXISTS audit (
    seq    INTEGER PRIMARY KEY,
    time   TEXT NOT NULL,
    actor  TEXT NOT NULL,
    action TEXT NOT NULL,
    object TEXT NOT NULL,
    detail TEXT NOT NULL,
    prev   TEXT NOT NULL,
    hash   TEXT NOT NULL,
    salt   TEXT NOT NULL DEFAULT ''
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
    ("audit", "salt", "TEXT NOT NULL DEFAULT ''"),
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    #[test]
    fn a_store_made_before_events_gets_the_events_table_and_keeps_its_alerts() {
        let c = rusqlite::Connection::open_in_memory().expect("db");
        c.execute_batch(
            "CREATE TABLE alerts (id INTEGER PRIMARY KEY, rev INTEGER NOT NULL, kind TEXT NOT NULL,
                severity TEXT NOT NULL, state TEXT NOT NULL, sector TEXT, facility TEXT,
                raised REAL NOT NULL, time REAL NOT NULL, body TEXT NOT NULL,
                status TEXT NOT NULL DEFAULT 'new', unit TEXT, resolution TEXT, note TEXT,
                changed_by TEXT, changed_at REAL);
             INSERT INTO alerts (id, rev, kind, severity, state, raised, time, body)
                VALUES (1, 1, 'fence_cut', 'low', 'open', 0, 0, '{}');",
        )
        .expect("an old store");
        super::migrate(&c).expect("migrates");
        super::migrate(&c).expect("twice");
        let n: i64 = c
            .query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0))
            .expect("events table");
        assert_eq!(n, 0);
        let a: i64 = c
            .query_row("SELECT COUNT(*) FROM alerts", [], |r| r.get(0))
            .expect("alerts");
        assert_eq!(a, 1);
    }
}
