//! The append-only audit log: who received or changed what, each entry chained to the one
//! before by SHA-256, so a changed, removed or reordered entry breaks the chain. Every entry is
//! also a leaf of a Merkle tree ([`merkle`]) whose signed [`checkpoint`]s the partners keep, so
//! truncation, forged appends and re-hashed rewrites are caught too ([`check`]).

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::store::{Backoff, Store, StoreError};

pub mod check;
pub mod checkpoint;
pub mod merkle;
pub mod publish;

/// Audit entries of deliveries that may wait to be written before deliveries wait for them.
const SINK_QUEUE: usize = 16_384;

/// Most entries written in one request to the store.
const SINK_GROUP: usize = 512;

/// How long the sink keeps trying to write, once the server stops (or every sink is gone),
/// before it counts what it could not write as lost: so a store that cannot commit lets the
/// server stop.
const SINK_CLOSING: std::time::Duration = std::time::Duration::from_secs(3);

/// Audit entries of deliveries (stream and CoT), written in groups by one task. The queue is
/// bounded: when the store falls behind or cannot commit, deliveries wait rather than go
/// unaudited (so a long outage of the store holds deliveries back once the queue is full).
#[derive(Clone)]
pub struct AuditSink {
    tx: mpsc::Sender<AuditDraft>,
}

/// What became of a group of entries.
enum Written {
    /// Stored.
    Stored,
    /// Not stored: the sink is closing and its time is up, or the store is closed.
    GaveUp,
}

impl AuditSink {
    /// Starts the writing task; it ends once every sink is dropped and the queue is written or,
    /// when the store cannot commit as the server stops, counted as lost in the log.
    pub fn spawn(store: Store, shutdown: CancellationToken) -> (Self, tokio::task::JoinHandle<()>) {
        let (tx, mut rx) = mpsc::channel::<AuditDraft>(SINK_QUEUE);
        let task = tokio::spawn(async move {
            let mut closing_by = None;
            let mut lost = 0usize;
            while let Some(first) = rx.recv().await {
                let mut group = vec![first];
                while group.len() < SINK_GROUP {
                    match rx.try_recv() {
                        Ok(d) => group.push(d),
                        Err(_) => break,
                    }
                }
                if lost > 0 {
                    lost += group.len();
                    continue;
                }
                let n = group.len();
                // The time left runs from the first failure after the stop (or after every sink
                // is gone), once for the whole queue.
                let closing = || {
                    (shutdown.is_cancelled() || rx.is_closed())
                        .then(|| *closing_by.get_or_insert_with(|| Instant::now() + SINK_CLOSING))
                };
                if let Written::GaveUp = write_group(&store, group, &shutdown, closing).await {
                    lost += n;
                    tracing::error!(
                        "the audit sink is closing and the store still cannot take its entries: \
                         {n} audit entries of deliveries lost, and the rest of the queue with them \
                         (counted at the end)"
                    );
                }
            }
            if lost > 0 {
                tracing::error!(
                    "{lost} audit entries of deliveries not written: the store could not commit \
                     when the server stopped"
                );
            }
        });
        (Self { tx }, task)
    }

    /// Queues an entry, waiting while the queue is full; the entry's time is when it is
    /// queued (the delivery it records follows), not when the wait began.
    pub async fn send(&self, mut d: AuditDraft) {
        match self.tx.reserve().await {
            Ok(permit) => {
                d.time = chrono::Utc::now();
                permit.send(d);
            }
            Err(_) => tracing::error!("the audit writer has stopped; an entry is lost"),
        }
    }

    /// Queues an entry without waiting (from `Drop`); a full queue hands it to a task.
    pub fn send_now(&self, d: AuditDraft) {
        if let Err(mpsc::error::TrySendError::Full(d)) = self.tx.try_send(d) {
            let tx = self.tx.clone();
            if tokio::runtime::Handle::try_current().is_ok() {
                tokio::spawn(async move {
                    let _ = tx.send(d).await;
                });
            }
        }
    }
}

/// Writes a group of entries, trying again while the store cannot take them, whatever the
/// reason (a full disk, a failing commit, a damaged table): they are the only record of what
/// was delivered to whom, so deliveries wait rather than go on unaudited, and readiness says
/// why meanwhile. `closing` says, once the server stops, by when to give up.
async fn write_group(
    store: &Store,
    group: Vec<AuditDraft>,
    shutdown: &CancellationToken,
    mut closing: impl FnMut() -> Option<Instant>,
) -> Written {
    let mut backoff = Backoff::default();
    loop {
        let e = match store.audit_many(group.clone()).await {
            Ok(()) => {
                store.writer_status().set_audit(None);
                return Written::Stored;
            }
            Err(StoreError::Closed) => return Written::GaveUp,
            Err(e) => e,
        };
        store.writer_status().set_audit(Some(e.to_string()));
        if closing().is_some_and(|by| Instant::now() >= by) {
            return Written::GaveUp;
        }
        let wait = backoff.next_wait();
        tracing::warn!(
            "{} audit entries of deliveries not written, tried again in {} ms: {e}",
            group.len(),
            wait.as_millis()
        );
        // The stop cuts a wait short once, so the last tries fit in the time left.
        if shutdown.is_cancelled() {
            tokio::time::sleep(wait).await;
        } else {
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = shutdown.cancelled() => {}
            }
        }
    }
}

/// The `prev` of the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// An entry before it is numbered and chained.
#[derive(Clone, Debug)]
pub struct AuditDraft {
    /// Who: `org/token-id`, `org/cert:CN`, or `system`.
    pub actor: String,
    /// What was done: `alert.ack`, `read.alerts`, `deliver.webhook`, …
    pub action: String,
    /// What it was done to: `alert/12`, `tracks`, `token/3`, …
    pub object: String,
    /// Particulars (counts, reasons, revisions), as JSON.
    pub detail: serde_json::Value,
    /// When it was done (the entry may be written later, after the store could not).
    pub time: chrono::DateTime<chrono::Utc>,
}

impl AuditDraft {
    /// A draft with the given fields.
    pub fn new(
        actor: impl Into<String>,
        action: &str,
        object: impl Into<String>,
        detail: serde_json::Value,
    ) -> Self {
        Self {
            actor: actor.into(),
            action: action.to_string(),
            object: object.into(),
            detail,
            time: chrono::Utc::now(),
        }
    }
}

/// A stored entry.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct AuditEntry {
    /// Position in the chain, from 1.
    pub seq: i64,
    /// Wall-clock time of what was done, RFC 3339 (an entry the store could not take at once is
    /// written later, with this time).
    pub time: String,
    /// Who.
    pub actor: String,
    /// What was done.
    pub action: String,
    /// To what.
    pub object: String,
    /// Particulars, JSON text.
    pub detail: String,
    /// Hash of the previous entry.
    pub prev: String,
    /// This entry's hash.
    pub hash: String,
    /// 128 random bits (hex) hashed into the entry's chain hash and Merkle leaf, so that a hash
    /// shown to someone who may not read the entry (a consistency or inclusion proof, the next
    /// entry's `prev`) cannot be matched against guesses of its contents. Empty in entries
    /// written before salts existed, which are hashed without it.
    pub salt: String,
}

/// The chain is broken.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// An entry's stored hash does not match its contents or its predecessor.
    #[error("audit entry {seq}: {what}")]
    Broken {
        /// The first entry at fault.
        seq: i64,
        /// What does not match.
        what: String,
    },
    /// The database could not be read.
    #[error("reading the audit log: {0}")]
    Db(#[from] rusqlite::Error),
}

/// The hash of an entry: SHA-256 over the previous hash and every field (its own `prev` and
/// `hash` aside), newline-separated, then the salt when it has one.
pub fn entry_hash(prev: &str, e: &AuditEntry) -> String {
    let mut h = Sha256::new();
    let seq = e.seq.to_string();
    for part in [
        prev, &seq, &e.time, &e.actor, &e.action, &e.object, &e.detail,
    ] {
        h.update(part.as_bytes());
        h.update(b"\n");
    }
    if !e.salt.is_empty() {
        h.update(e.salt.as_bytes());
        h.update(b"\n");
    }
    hex::encode(h.finalize())
}

/// The hash of the last entry, or [`GENESIS`] for an empty log.
pub fn last_hash(conn: &Connection) -> rusqlite::Result<String> {
    Ok(conn
        .query_row(
            "SELECT hash FROM audit ORDER BY seq DESC LIMIT 1",
            [],
            |r| r.get(0),
        )
        .optional()?
        .unwrap_or_else(|| GENESIS.to_string()))
}

/// Appends one entry after `last` (updated to the new hash) and returns its sequence number.
pub fn append(conn: &Connection, last: &mut String, d: &AuditDraft) -> rusqlite::Result<i64> {
    let time = d.time.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let detail = d.detail.to_string();
    let seq: i64 = conn.query_row("SELECT COALESCE(MAX(seq), 0) + 1 FROM audit", [], |r| {
        r.get(0)
    })?;
    let salt: [u8; 16] = rand::random();
    let mut e = AuditEntry {
        seq,
        time,
        actor: d.actor.clone(),
        action: d.action.clone(),
        object: d.object.clone(),
        detail,
        prev: last.clone(),
        hash: String::new(),
        salt: hex::encode(salt),
    };
    e.hash = entry_hash(last, &e);
    conn.execute(
        "INSERT INTO audit (seq, time, actor, action, object, detail, prev, hash, salt) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![e.seq, e.time, e.actor, e.action, e.object, e.detail, e.prev, e.hash, e.salt],
    )?;
    merkle::append_leaf(conn, (seq - 1) as u64, merkle::leaf_hash(&e)).map_err(|e| match e {
        // A full disk or an I/O error stays one: it may pass.
        merkle::TreeError::Db(e) => e,
        e => rusqlite::Error::ToSqlConversionFailure(Box::new(e)),
    })?;
    let hash = e.hash;
    *last = hash;
    Ok(seq)
}

/// Checks the whole chain; returns the number of entries when it is intact.
pub fn verify(conn: &Connection) -> Result<i64, AuditError> {
    let mut stmt = conn.prepare(
        "SELECT seq, time, actor, action, object, detail, prev, hash, salt FROM audit ORDER BY seq",
    )?;
    let mut rows = stmt.query([])?;
    let mut prev = GENESIS.to_string();
    let mut expect = 1;
    while let Some(r) = rows.next()? {
        let e = row_entry(r)?;
        if e.seq != expect {
            return Err(AuditError::Broken {
                seq: expect,
                what: format!("missing (next entry is {})", e.seq),
            });
        }
        if e.prev != prev {
            return Err(AuditError::Broken {
                seq: e.seq,
                what: "its `prev` does not match the hash of the entry before".into(),
            });
        }
        let h = entry_hash(&e.prev, &e);
        if h != e.hash {
            return Err(AuditError::Broken {
                seq: e.seq,
                what: "its contents do not match its hash (changed after it was written)".into(),
            });
        }
        prev = e.hash;
        expect += 1;
    }
    Ok(expect - 1)
}

/// Entries after `after`, oldest first, at most `limit`; with `org`, only the entries whose
/// actor is of that organisation (`org/…`) and not the deployment's owner (an owner's token,
/// account or certificate carries an organisation too, and its admins do not read the owner).
pub fn list(
    conn: &Connection,
    after: i64,
    limit: i64,
    org: Option<&str>,
) -> rusqlite::Result<Vec<AuditEntry>> {
    let mut stmt = conn.prepare(
        "SELECT seq, time, actor, action, object, detail, prev, hash, salt FROM audit
         WHERE seq > ?1 AND (?3 IS NULL OR (substr(actor, 1, length(?3) + 1) = ?3 || '/'
             AND actor NOT IN (SELECT org || '/token:' || id FROM tokens WHERE role = 'owner'
                               UNION ALL
                               SELECT org || '/user:' || name FROM users WHERE role = 'owner'
                               UNION ALL
                               SELECT org || '/cert:' || name FROM certs WHERE role = 'owner')))
         ORDER BY seq LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![after, limit, org], row_entry)?;
    rows.collect()
}

fn row_entry(r: &rusqlite::Row) -> rusqlite::Result<AuditEntry> {
    Ok(AuditEntry {
        seq: r.get(0)?,
        time: r.get(1)?,
        actor: r.get(2)?,
        action: r.get(3)?,
        object: r.get(4)?,
        detail: r.get(5)?,
        prev: r.get(6)?,
        hash: r.get(7)?,
        salt: r.get(8)?,
    })
}
