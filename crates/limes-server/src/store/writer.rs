//! The writer thread: drains every queue, applies all of it in one transaction, commits once,
//! then acknowledges and forwards the committed records to the live engine in log order.

use crossbeam_channel::{select, Receiver, Sender};
use limes_core::record::{AlertRecord, SensorRecord};
use rusqlite::{params, Connection};
use std::time::Instant;
use tokio::sync::oneshot;

/// What the writer forwards: a committed log entry and when its request arrived.
pub type Fed = (Feed, Option<Instant>);

use super::{ChangeFn, StoreError};
use crate::audit::{self, AuditDraft};

/// Most operations applied in one transaction.
const MAX_GROUP: usize = 1024;

pub(super) enum Op {
    Records {
        source: String,
        body: Vec<u8>,
        records: Vec<SensorRecord>,
        received: Instant,
        ack: oneshot::Sender<Result<i64, StoreError>>,
    },
    Tick(f64),
    Change {
        change: ChangeFn,
        audit: Option<AuditDraft>,
        ack: oneshot::Sender<Result<serde_json::Value, StoreError>>,
    },
}

/// What the live engine receives from the log, in commit order.
#[derive(Debug)]
pub enum Feed {
    /// A batch of records.
    Records {
        /// Log sequence number.
        seq: i64,
        /// The records.
        records: Vec<SensorRecord>,
    },
    /// The clock reached this time.
    Tick(f64),
    /// A log row that no longer parses (only if the file was edited by hand).
    Corrupt {
        /// Log sequence number.
        seq: i64,
        /// What is wrong.
        message: String,
    },
}

/// A webhook delivery to queue with an alert revision.
#[derive(Clone, Debug)]
pub struct OutboxRow {
    /// Receiving organisation.
    pub org: String,
    /// Address.
    pub url: String,
    /// Idempotency key (unique per organisation, alert and revision).
    pub key: String,
    /// JSON body, already released for the organisation.
    pub body: String,
}

/// An alert revision from the engine, with its deliveries.
#[derive(Clone, Debug)]
pub struct AlertWrite {
    /// The revision.
    pub rec: AlertRecord,
    /// Webhook deliveries.
    pub outbox: Vec<OutboxRow>,
}

pub(super) fn decode(seq: i64, kind: i64, body: &[u8]) -> Feed {
    if kind == 1 {
        let t = std::str::from_utf8(body)
            .ok()
            .and_then(|s| s.parse::<f64>().ok());
        return match t {
            Some(t) => Feed::Tick(t),
            None => Feed::Corrupt {
                seq,
                message: "tick without a time".into(),
            },
        };
    }
    let mut records = Vec::new();
    for (i, line) in body.split(|&b| b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice(line) {
            Ok(r) => records.push(r),
            Err(e) => {
                return Feed::Corrupt {
                    seq,
                    message: format!("line {}: {e}", i + 1),
                }
            }
        }
    }
    Feed::Records { seq, records }
}

pub(super) fn spawn(
    conn: Connection,
    ingest: Receiver<Op>,
    control: Receiver<Op>,
    alerts: Receiver<AlertWrite>,
    feed: Sender<Fed>,
) -> Result<(), StoreError> {
    let last = audit::last_hash(&conn)?;
    std::thread::Builder::new()
        .name("limes-writer".into())
        .spawn(move || {
            let mut w = Writer { conn, last, feed };
            w.run(ingest, control, alerts);
        })
        .map_err(|source| StoreError::Io {
            path: "writer thread".into(),
            source,
        })?;
    Ok(())
}

struct Writer {
    conn: Connection,
    last: String,
    feed: Sender<Fed>,
}

enum Done {
    Records(
        oneshot::Sender<Result<i64, StoreError>>,
        i64,
        Vec<SensorRecord>,
        Instant,
    ),
    Tick(f64),
    Change(
        oneshot::Sender<Result<serde_json::Value, StoreError>>,
        Result<serde_json::Value, StoreError>,
    ),
}

impl Writer {
    fn run(&mut self, ingest: Receiver<Op>, control: Receiver<Op>, alerts: Receiver<AlertWrite>) {
        let mut ops = Vec::new();
        let mut revs = Vec::new();
        loop {
            let first = select! {
                recv(ingest) -> op => op.map(Ok),
                recv(control) -> op => op.map(Ok),
                recv(alerts) -> a => a.map(Err),
            };
            match first {
                Ok(Ok(op)) => ops.push(op),
                Ok(Err(a)) => revs.push(a),
                // All senders gone: the store was dropped.
                Err(_) => return,
            }
            while ops.len() + revs.len() < MAX_GROUP {
                if let Ok(a) = alerts.try_recv() {
                    revs.push(a);
                } else if let Ok(op) = control.try_recv() {
                    ops.push(op);
                } else if let Ok(op) = ingest.try_recv() {
                    ops.push(op);
                } else {
                    break;
                }
            }
            self.commit(&mut ops, &mut revs);
        }
    }

    /// Applies everything queued in one transaction; acknowledges only after the commit.
    fn commit(&mut self, ops: &mut Vec<Op>, revs: &mut Vec<AlertWrite>) {
        let last_before = self.last.clone();
        let mut done = Vec::with_capacity(ops.len());
        let result = (|| -> Result<(), rusqlite::Error> {
            let tx = self.conn.unchecked_transaction()?;
            for w in revs.drain(..) {
                write_alert(&tx, &w)?;
            }
            for op in ops.drain(..) {
                done.push(apply(&tx, &mut self.last, op)?);
            }
            tx.commit()
        })();
        if let Err(e) = result {
            // Nothing in the group is durable: say so to every waiter.
            self.last = last_before;
            tracing::error!("commit failed: {e}");
            for d in done {
                match d {
                    Done::Records(ack, ..) => {
                        let _ = ack.send(Err(StoreError::Refused(format!("not stored: {e}"))));
                    }
                    Done::Change(ack, _) => {
                        let _ = ack.send(Err(StoreError::Refused(format!("not stored: {e}"))));
                    }
                    Done::Tick(_) => {}
                }
            }
            return;
        }
        for d in done {
            match d {
                Done::Records(ack, seq, records, received) => {
                    let _ = ack.send(Ok(seq));
                    // Blocks when the engine lags: the ingest queue then fills and callers get
                    // backpressure instead of the server growing without bound.
                    let _ = self
                        .feed
                        .send((Feed::Records { seq, records }, Some(received)));
                }
                Done::Tick(t) => {
                    let _ = self.feed.send((Feed::Tick(t), None));
                }
                Done::Change(ack, r) => {
                    let _ = ack.send(r);
                }
            }
        }
    }
}

fn apply(tx: &Connection, last_hash: &mut String, op: Op) -> Result<Done, rusqlite::Error> {
    let now = crate::clock::wall_now();
    Ok(match op {
        Op::Records {
            source,
            body,
            records,
            received,
            ack,
        } => {
            tx.execute(
                "INSERT INTO log (received, source, kind, n, body) VALUES (?1, ?2, 0, ?3, ?4)",
                params![now, source, records.len() as i64, body],
            )?;
            Done::Records(ack, tx.last_insert_rowid(), records, received)
        }
        Op::Tick(t) => {
            tx.execute(
                "INSERT INTO log (received, source, kind, n, body) VALUES (?1, 'clock', 1, 0, ?2)",
                params![now, t.to_string().into_bytes()],
            )?;
            Done::Tick(t)
        }
        Op::Change { change, audit, ack } => {
            tx.execute_batch("SAVEPOINT change")?;
            let last = last_hash.clone();
            let r = change(tx).and_then(|v| {
                if let Some(a) = &audit {
                    audit::append(tx, last_hash, a)?;
                }
                Ok(v)
            });
            if r.is_err() {
                *last_hash = last;
                tx.execute_batch("ROLLBACK TO change")?;
            }
            tx.execute_batch("RELEASE change")?;
            Done::Change(ack, r)
        }
    })
}

fn write_alert(tx: &Connection, w: &AlertWrite) -> Result<(), rusqlite::Error> {
    let a = &w.rec;
    let body = serde_json::to_string(a)
        .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
    tx.execute(
        "INSERT OR IGNORE INTO alert_revs (id, rev, body) VALUES (?1, ?2, ?3)",
        params![a.id as i64, a.rev, body],
    )?;
    tx.execute(
        "INSERT INTO alerts (id, rev, kind, severity, state, sector, facility, raised, time, body)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
         ON CONFLICT(id) DO UPDATE SET rev = excluded.rev, kind = excluded.kind,
             severity = excluded.severity, state = excluded.state, sector = excluded.sector,
             facility = excluded.facility, time = excluded.time, body = excluded.body
         WHERE excluded.rev > alerts.rev",
        params![
            a.id as i64,
            a.rev,
            a.kind.name(),
            crate::snake(&a.severity),
            crate::snake(&a.state),
            a.sector,
            a.facility,
            a.raised.0,
            a.time.0,
            body
        ],
    )?;
    for o in &w.outbox {
        tx.execute(
            "INSERT OR IGNORE INTO outbox (org, url, key, body, next_at) VALUES (?1, ?2, ?3, ?4, 0)",
            params![o.org, o.url, o.key, o.body],
        )?;
    }
    Ok(())
}
