//! The writer thread: drains every queue, applies all of it in one transaction, commits once,
//! then acknowledges and forwards the committed records to the live engine in log order.
//!
//! It also runs the engine's [`Admission`] rule over the same log order, from the state the
//! engine had after its start-up replay, so a record the engine would refuse is refused here,
//! by index and field, and never acknowledged as stored.

use crossbeam_channel::{Receiver, Select, Sender, TryRecvError};
use limes_core::engine::Admission;
use limes_core::record::{AlertRecord, EventRecord, SensorRecord};
use prometheus_client::metrics::counter::Counter;
use rusqlite::{params, Connection, OptionalExtension};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

use super::{Backoff, ChangeFn, StoreError};
use crate::audit::{self, AuditDraft};
use crate::ingest::{Batch, IdempotencyKey, IngestReply, RecordError};

/// What the writer forwards: a committed log entry and when its request arrived.
pub type Fed = (Feed, Option<Instant>);

/// Most operations applied in one transaction.
const MAX_GROUP: usize = 1024;

/// Most of the engine's writes in one try after a failed transaction: the rest of the group is
/// room for requests, so writes kept through an outage cannot crowd input out. (While the store
/// commits, a transaction takes every write the engine has made, so none wait behind input.)
const MAX_ENGINE_RETRY: usize = MAX_GROUP / 2;

/// Most of the engine's writes the writer takes from its queue while commits fail; beyond them
/// the engine waits on its queue (during its start-up replay it sends every revision again, as
/// fast as it can).
const MAX_KEPT: usize = 4 * MAX_GROUP;

/// Idempotency keys are kept this long, seconds.
pub const KEY_TTL_S: f64 = 24.0 * 3600.0;

pub(super) enum Op {
    Records {
        source: String,
        batch: Batch,
        idem: Option<IdempotencyKey>,
        received: Instant,
        ack: oneshot::Sender<Result<IngestReply, StoreError>>,
    },
    Tick(f64),
    Change {
        change: ChangeFn,
        audit: Vec<AuditDraft>,
        ack: oneshot::Sender<Result<serde_json::Value, StoreError>>,
    },
    /// The engine's admission state after its start-up replay: from now on records are taken.
    Admission(Box<Admission>),
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

/// What the engine derives from the log and the writer persists, in the order it was decided.
#[derive(Clone, Debug)]
pub enum EngineWrite {
    /// An alert revision with its webhook deliveries.
    Alert(Box<AlertWrite>),
    /// An assessed event.
    Event(Box<EventRecord>),
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

pub(super) struct Queues {
    pub ingest: Receiver<Op>,
    pub control: Receiver<Op>,
    pub engine: Receiver<EngineWrite>,
}

/// Whether the writer can commit, shared with readiness and the metrics.
#[derive(Debug, Default)]
pub struct WriterStatus {
    /// Transactions that failed (nothing of them stored), since the start.
    pub failed: Counter,
    /// The engine's alert revisions and events SQLite refused for their content, dropped.
    pub dropped: Counter,
    /// The last failure, while no transaction has committed since.
    failing: Mutex<Option<String>>,
    /// Why the audit entries of deliveries cannot be written, while they cannot.
    audit: Mutex<Option<String>>,
}

impl WriterStatus {
    /// Why the store is not taking input, while its last transaction failed.
    pub fn problem(&self) -> Option<String> {
        let failing = self.failing.lock().ok().and_then(|f| f.clone());
        let audit = self.audit.lock().ok().and_then(|a| a.clone());
        let failing = failing.map(|f| {
            format!(
                "the store cannot commit ({f}); {} transactions failed since the start, \
                 none of the input is stored until one commits",
                self.failed.get()
            )
        });
        let audit = audit.map(|a| {
            format!(
                "the audit entries of deliveries cannot be written ({a}); deliveries to partners \
                 wait once their queue is full"
            )
        });
        match (failing, audit) {
            (Some(f), Some(a)) => Some(format!("{f}; {a}")),
            (f, a) => f.or(a),
        }
    }

    /// Notes why the audit entries of deliveries cannot be written, or that they can again.
    pub fn set_audit(&self, why: Option<String>) {
        if let Ok(mut a) = self.audit.lock() {
            *a = why;
        }
    }

    fn set(&self, failing: Option<String>) {
        if let Ok(mut f) = self.failing.lock() {
            *f = failing;
        }
    }
}

pub(super) fn spawn(
    conn: Connection,
    queues: Queues,
    feed: Sender<Fed>,
    status: std::sync::Arc<WriterStatus>,
) -> Result<std::thread::JoinHandle<Result<(), String>>, StoreError> {
    let last = audit::last_hash(&conn)?;
    std::thread::Builder::new()
        .name("limes-writer".into())
        .spawn(move || {
            let mut w = Writer {
                conn,
                log: Log {
                    last,
                    admission: None,
                    latest_tick: f64::NEG_INFINITY,
                },
                feed,
                revs: Vec::new(),
                commits: 0,
                status,
                retry: None,
                backoff: Backoff::default(),
            };
            w.run(queues);
            Ok(())
        })
        .map_err(|source| StoreError::Io {
            path: "writer thread".into(),
            source,
        })
}

struct Writer {
    conn: Connection,
    log: Log,
    feed: Sender<Fed>,
    revs: Vec<EngineWrite>,
    commits: u64,
    status: std::sync::Arc<WriterStatus>,
    /// After a failed transaction, how long to wait before the next try.
    retry: Option<Duration>,
    /// The waits after failed transactions in a row.
    backoff: Backoff,
}

/// What the writer keeps between commits: the audit chain's head and the admission rule.
#[derive(Clone)]
struct Log {
    last: String,
    admission: Option<Admission>,
    /// The latest clock tick logged: one logged before the engine's replay ended reaches the
    /// engine after it, so the admission state the engine hands over learns it here.
    latest_tick: f64,
}

enum Done {
    Records(
        oneshot::Sender<Result<IngestReply, StoreError>>,
        Result<IngestReply, StoreError>,
        Option<(i64, Vec<SensorRecord>, Instant)>,
    ),
    Tick(f64),
    Change(
        oneshot::Sender<Result<serde_json::Value, StoreError>>,
        Result<serde_json::Value, StoreError>,
    ),
}

impl Writer {
    fn run(&mut self, q: Queues) {
        let mut ops = Vec::new();
        loop {
            if ops.is_empty() && self.revs.is_empty() {
                let first = crossbeam_channel::select! {
                    recv(q.engine) -> a => a.map(Err),
                    recv(q.control) -> op => op.map(Ok),
                    recv(q.ingest) -> op => op.map(Ok),
                };
                match first {
                    Ok(Ok(op)) => self.take(op, &mut ops),
                    Ok(Err(a)) => self.revs.push(a),
                    // All senders gone: the store was dropped.
                    Err(_) => return,
                }
            }
            // After a failed transaction the next waits (50 ms doubling to 2 s): what comes
            // meanwhile waits in the bounded queues and goes into that one try.
            if let Some(wait) = self.retry {
                std::thread::sleep(wait);
            }
            // Tests hold the writer here to put several operations into one transaction.
            fail::fail_point!("writer-fill");
            while ops.len() + self.revs.len().min(self.engine_share()) < MAX_GROUP {
                if self.revs.len() < MAX_KEPT {
                    if let Ok(a) = q.engine.try_recv() {
                        self.revs.push(a);
                        continue;
                    }
                }
                if let Ok(op) = q.control.try_recv() {
                    self.take(op, &mut ops);
                } else if let Ok(op) = q.ingest.try_recv() {
                    self.take(op, &mut ops);
                } else {
                    break;
                }
            }
            if ops.is_empty() && self.revs.is_empty() {
                continue;
            }
            self.commit(&mut ops, &q.engine);
            // A store dropped while its transactions fail must not keep its writer trying.
            if self.retry.is_some() {
                match q.control.try_recv() {
                    Ok(op) => self.take(op, &mut ops),
                    Err(TryRecvError::Disconnected) => {
                        tracing::error!(
                            "the store closes while it cannot commit: {} alert revisions and events \
                             not stored (the next start derives them again from the log)",
                            self.revs.len() + q.engine.len()
                        );
                        return;
                    }
                    Err(TryRecvError::Empty) => {}
                }
            }
        }
    }

    /// How many of the engine's writes the next transaction takes.
    fn engine_share(&self) -> usize {
        if self.retry.is_some() {
            MAX_ENGINE_RETRY
        } else {
            usize::MAX
        }
    }

    /// Queues `op` for the next transaction; the admission state is adopted at once, outside
    /// any transaction, so a transaction that fails cannot lose it.
    fn take(&mut self, op: Op, ops: &mut Vec<Op>) {
        match op {
            Op::Admission(a) => self.log.adopt(*a),
            op => ops.push(op),
        }
    }

    /// Applies everything queued in one transaction; acknowledges only after the commit. If
    /// it fails, every request in it is answered "not stored", and the engine's writes and the
    /// latest clock tick are kept for the next try.
    fn commit(&mut self, ops: &mut Vec<Op>, alerts: &Receiver<EngineWrite>) {
        let before = self.log.clone();
        let mut done = Vec::with_capacity(ops.len());
        let share = self.revs.len().min(self.engine_share());
        let revs: Vec<EngineWrite> = self.revs.drain(..share).collect();
        // The engine's writes SQLite refused for their content: dropped, failed or not.
        let mut refused = vec![false; revs.len()];
        let mut pending = std::mem::take(ops).into_iter();
        // Who waits on the operation whose statement failed.
        let mut failed_at: Option<Waiter> = None;
        let result = (|| -> Result<(), rusqlite::Error> {
            // Tests fail the transaction here as a full disk would.
            fail::fail_point!("writer-commit", |_| Err(disk_full()));
            let tx = self.conn.unchecked_transaction()?;
            for (w, refused) in revs.iter().zip(&mut refused) {
                *refused = !write_engine(&tx, w, &self.status)?;
            }
            for op in pending.by_ref() {
                match self.log.apply(&tx, op) {
                    Ok(Some(d)) => done.push(d),
                    Ok(None) => {}
                    Err((e, w)) => {
                        failed_at = Some(w);
                        return Err(e);
                    }
                }
            }
            self.commits += 1;
            if self.commits.is_multiple_of(1000) {
                tx.execute(
                    "DELETE FROM ingest_keys WHERE created < ?1",
                    params![crate::clock::wall_now() - KEY_TTL_S],
                )?;
            }
            tx.commit()
        })();
        if let Err(e) = result {
            // Nothing in the group is durable: say so to every waiter, and keep the engine's
            // writes (the engine will not send them again) and the latest tick for the next try.
            self.log = before;
            self.status.failed.inc();
            self.status.set(Some(e.to_string()));
            let wait = self.backoff.next_wait();
            self.retry = Some(wait);
            let kept = revs.into_iter().zip(refused).filter(|(_, r)| !r);
            self.revs.splice(0..0, kept.map(|(w, _)| w));
            tracing::error!(
                "commit failed ({} alert revisions and events kept, tried again in {} ms): {e}",
                self.revs.len(),
                wait.as_millis()
            );
            // A request whose own statement SQLite refused for what it holds would fail every
            // try: it alone is refused for good, and the others are sent again without it.
            let failed_at = match failed_at {
                Some(Waiter::Records(ack)) if refuses_content(&e) => {
                    let _ = ack.send(Err(StoreError::Refused(
                        "the store cannot take this request (the server's log says why); \
                         sending it again will not help"
                            .into(),
                    )));
                    None
                }
                w => w,
            };
            let mut tick = f64::NEG_INFINITY;
            let waiters = (done.into_iter().map(Waiter::from))
                .chain(failed_at)
                .chain(pending.filter_map(Waiter::of));
            for w in waiters {
                match w {
                    Waiter::Records(ack) => {
                        let _ = ack.send(Err(StoreError::NotStored));
                    }
                    Waiter::Change(ack) => {
                        let _ = ack.send(Err(StoreError::NotStored));
                    }
                    Waiter::Tick(t) => tick = tick.max(t),
                }
            }
            if tick.is_finite() {
                ops.push(Op::Tick(tick));
            }
            return;
        }
        if self.retry.take().is_some() {
            self.backoff = Backoff::default();
            tracing::info!("the store commits again");
            self.status.set(None);
        }
        for d in done {
            match d {
                Done::Records(ack, reply, fed) => {
                    let _ = ack.send(reply);
                    if let Some((seq, records, received)) = fed {
                        self.forward((Feed::Records { seq, records }, Some(received)), alerts);
                    }
                }
                Done::Tick(t) => self.forward((Feed::Tick(t), None), alerts),
                Done::Change(ack, r) => {
                    let _ = ack.send(r);
                }
            }
        }
    }

    /// Hands a committed entry to the engine. Waits while the engine lags (so the ingest queue
    /// fills and callers get backpressure), taking the engine's alert revisions meanwhile so
    /// the two threads can never wait on each other.
    fn forward(&mut self, item: Fed, alerts: &Receiver<EngineWrite>) {
        let mut item = Some(item);
        while let Some(it) = item.take() {
            let mut sel = Select::new();
            let send = sel.send(&self.feed);
            let recv = sel.recv(alerts);
            let oper = sel.select();
            match oper.index() {
                i if i == send => {
                    // The engine gone is reported by its supervisor, not here.
                    let _ = oper.send(&self.feed, it);
                }
                i if i == recv => {
                    if let Ok(a) = oper.recv(alerts) {
                        self.revs.push(a);
                    }
                    item = Some(it);
                }
                _ => item = Some(it),
            }
        }
    }
}

/// Who waits on an operation of a transaction that failed, to be told it was not stored.
enum Waiter {
    Records(oneshot::Sender<Result<IngestReply, StoreError>>),
    Change(oneshot::Sender<Result<serde_json::Value, StoreError>>),
    /// A clock tick, logged again with the next try.
    Tick(f64),
}

impl From<Done> for Waiter {
    fn from(d: Done) -> Self {
        match d {
            Done::Records(ack, ..) => Waiter::Records(ack),
            Done::Change(ack, _) => Waiter::Change(ack),
            Done::Tick(t) => Waiter::Tick(t),
        }
    }
}

impl Waiter {
    /// The waiter of an operation the transaction never reached.
    fn of(op: Op) -> Option<Self> {
        match op {
            Op::Records { ack, .. } => Some(Waiter::Records(ack)),
            Op::Change { ack, .. } => Some(Waiter::Change(ack)),
            Op::Tick(t) => Some(Waiter::Tick(t)),
            Op::Admission(_) => None,
        }
    }
}

impl Log {
    /// Applies one operation in the transaction; when a statement fails, the error and who
    /// waits on the operation.
    fn apply(
        &mut self,
        tx: &Connection,
        op: Op,
    ) -> Result<Option<Done>, (rusqlite::Error, Waiter)> {
        let now = crate::clock::wall_now();
        match op {
            Op::Records {
                source,
                batch,
                idem,
                received,
                ack,
            } => match self.records(tx, now, &source, batch, idem.as_ref()) {
                Ok(Ok((reply, fed))) => Ok(Some(Done::Records(
                    ack,
                    Ok(reply),
                    fed.map(|(s, r)| (s, r, received)),
                ))),
                Ok(Err(e)) => Ok(Some(Done::Records(ack, Err(e), None))),
                Err(e) => Err((e, Waiter::Records(ack))),
            },
            Op::Tick(t) => {
                if let Err(e) = tx.execute(
                    "INSERT INTO log (received, source, kind, n, body) VALUES (?1, 'clock', 1, 0, ?2)",
                    params![now, t.to_string().into_bytes()],
                ) {
                    return Err((e, Waiter::Tick(t)));
                }
                self.latest_tick = self.latest_tick.max(t);
                if let Some(a) = &mut self.admission {
                    a.tick(t);
                }
                Ok(Some(Done::Tick(t)))
            }
            Op::Change { change, audit, ack } => match self.change(tx, change, &audit) {
                Ok(r) => Ok(Some(Done::Change(ack, r))),
                Err(e) => Err((e, Waiter::Change(ack))),
            },
            Op::Admission(a) => {
                self.adopt(*a);
                Ok(None)
            }
        }
    }

    /// Runs a change and its audit entries in a savepoint: a change that fails is undone alone.
    fn change(
        &mut self,
        tx: &Connection,
        change: ChangeFn,
        audit: &[AuditDraft],
    ) -> Result<Result<serde_json::Value, StoreError>, rusqlite::Error> {
        tx.execute_batch("SAVEPOINT change")?;
        let last = self.last.clone();
        let r = change(tx).and_then(|v| {
            for a in audit {
                audit::append(tx, &mut self.last, a)?;
            }
            Ok(v)
        });
        if r.is_err() {
            self.last = last;
            tx.execute_batch("ROLLBACK TO change")?;
        }
        tx.execute_batch("RELEASE change")?;
        Ok(r)
    }

    /// Takes the engine's admission state after its replay, with the latest tick logged.
    fn adopt(&mut self, mut a: Admission) {
        if self.latest_tick.is_finite() {
            a.tick(self.latest_tick);
        }
        self.admission = Some(a);
    }

    /// Logs the records the engine will take; refuses the rest by index and field.
    #[allow(clippy::type_complexity)]
    fn records(
        &mut self,
        tx: &Connection,
        now: f64,
        source: &str,
        batch: Batch,
        idem: Option<&IdempotencyKey>,
    ) -> Result<Result<(IngestReply, Option<(i64, Vec<SensorRecord>)>), StoreError>, rusqlite::Error>
    {
        if let Some(k) = idem {
            let prior: Option<(Vec<u8>, String)> = tx
                .query_row(
                    "SELECT digest, reply FROM ingest_keys WHERE principal = ?1 AND key = ?2",
                    params![k.principal, k.key],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            if let Some((digest, reply)) = prior {
                if digest != k.digest {
                    return Ok(Err(StoreError::Conflict(
                        "this Idempotency-Key was used with a different body; use a new key".into(),
                    )));
                }
                // A reply that no longer reads (stored by another version) fails this request
                // alone, not the transaction of everyone else's.
                return Ok(match serde_json::from_str::<IngestReply>(&reply) {
                    Ok(r) => Ok((
                        IngestReply {
                            replayed: true,
                            ..r
                        },
                        None,
                    )),
                    Err(e) => {
                        tracing::warn!(
                            "the stored reply of an Idempotency-Key of {} does not read: {e}",
                            k.principal
                        );
                        Err(StoreError::Conflict(
                            "this Idempotency-Key was used before and its request processed then, \
                             but the reply stored with it cannot be read"
                                .into(),
                        ))
                    }
                });
            }
        }
        let Some(adm) = &mut self.admission else {
            return Ok(Err(StoreError::NotReady));
        };
        let Batch {
            records,
            index,
            body,
            ends,
            mut errors,
        } = batch;
        let mut kept = Vec::with_capacity(records.len());
        let mut text: Option<Vec<u8>> = None;
        for (k, rec) in records.into_iter().enumerate() {
            let start = if k == 0 { 0 } else { ends[k - 1] };
            match adm.admit(&rec) {
                Ok(()) => {
                    if let Some(t) = &mut text {
                        t.extend_from_slice(&body[start..ends[k]]);
                    }
                    kept.push(rec);
                }
                Err(e) => {
                    // From the first refusal on, the log text is rebuilt from kept lines.
                    text.get_or_insert_with(|| body[..start].to_vec());
                    errors.push(RecordError::at(index[k], e));
                }
            }
        }
        errors.sort_by_key(|e| e.index);
        let mut seq = None;
        // Tests fail the log's insert here, halfway through a transaction.
        fail::fail_point!("writer-log-insert", |_| Err(disk_full()));
        if !kept.is_empty() {
            let text = text.as_deref().unwrap_or(&body);
            tx.execute(
                "INSERT INTO log (received, source, kind, n, body) VALUES (?1, ?2, 0, ?3, ?4)",
                params![now, source, kept.len() as i64, text],
            )?;
            seq = Some(tx.last_insert_rowid());
        }
        let reply = IngestReply {
            accepted: kept.len(),
            seq,
            rejected: errors,
            replayed: false,
        };
        if let Some(k) = idem {
            let text = serde_json::to_string(&reply)
                .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
            tx.execute(
                "INSERT INTO ingest_keys (principal, key, digest, reply, created) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![k.principal, k.key, k.digest.to_vec(), text, now],
            )?;
        }
        Ok(Ok((reply, seq.map(|s| (s, kept)))))
    }
}

/// Writes one of the engine's alert revisions or events in a savepoint; whether it was kept. A
/// write the store refuses for what it holds (a constraint, a value it cannot take) is logged,
/// counted and dropped, so one bad write cannot fail every later transaction; any other failure
/// (a full disk, an I/O error) fails the transaction, which keeps the write for the next try.
fn write_engine(
    tx: &Connection,
    w: &EngineWrite,
    status: &WriterStatus,
) -> Result<bool, rusqlite::Error> {
    tx.execute_batch("SAVEPOINT engine")?;
    let r = match w {
        EngineWrite::Alert(a) => write_alert(tx, a),
        EngineWrite::Event(e) => super::events::write(tx, e),
    };
    let kept = match r {
        Ok(()) => true,
        Err(e) if refuses_content(&e) => {
            tx.execute_batch("ROLLBACK TO engine")?;
            let what = match w {
                EngineWrite::Alert(a) => format!("alert {} revision {}", a.rec.id, a.rec.rev),
                EngineWrite::Event(e) => format!("event {}", e.id),
            };
            tracing::error!("{what} cannot be stored and is dropped: {e}");
            status.dropped.inc();
            false
        }
        Err(e) => return Err(e),
    };
    tx.execute_batch("RELEASE engine")?;
    Ok(kept)
}

/// The error the fail points inject: SQLite's full disk.
#[cfg(feature = "failpoints")]
fn disk_full() -> rusqlite::Error {
    rusqlite::Error::SqliteFailure(
        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL),
        Some("injected: disk full".into()),
    )
}

/// Whether SQLite refused a write for its content rather than for the store's state.
pub(super) fn refuses_content(e: &rusqlite::Error) -> bool {
    use rusqlite::ErrorCode::{ConstraintViolation, TooBig, TypeMismatch};
    matches!(e, rusqlite::Error::ToSqlConversionFailure(_))
        || matches!(
            e.sqlite_error_code(),
            Some(ConstraintViolation | TooBig | TypeMismatch)
        )
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
            a.severity.name(),
            a.state.name(),
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
