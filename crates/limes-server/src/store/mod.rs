//! The embedded store: one SQLite database in the data directory, written by one thread that
//! commits whatever is queued in one transaction (group commit) and acknowledges only after the
//! commit is on disk. Reads use their own connections.

pub mod backoff;
pub mod events;
pub(crate) mod schema;
#[cfg(test)]
mod tests;
mod writer;

pub use backoff::Backoff;
pub use writer::{AlertWrite, EngineWrite, Fed, Feed, OutboxRow, WriterStatus};

use crossbeam_channel::{bounded, Sender, TrySendError};
use limes_core::engine::Admission;
use limes_core::record::EventRecord;
use rusqlite::{Connection, OpenFlags};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

use crate::audit::AuditDraft;
use crate::ingest::{Batch, IdempotencyKey, IngestReply};
use writer::{Op, Queues};

/// Alert revisions and events the engine may queue for the writer before it waits.
const ENGINE_QUEUE: usize = 4096;

/// A store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite failed.
    #[error("database: {0}")]
    Db(#[from] rusqlite::Error),
    /// The ingest queue is full; retry later.
    #[error("the ingest queue is full")]
    Busy,
    /// The writer has stopped.
    #[error("the store is shut down")]
    Closed,
    /// Another process holds the data directory.
    #[error("{0}: another limes process holds this data directory (stop it, or use the API)")]
    Locked(PathBuf),
    /// The data directory could not be created or locked.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// Underlying error.
        source: std::io::Error,
    },
    /// A change was refused (not found, wrong state); the message is for the caller.
    #[error("{0}")]
    Refused(String),
    /// A change named something that does not exist.
    #[error("{0}")]
    NotFound(String),
    /// A request conflicts with an earlier one (an idempotency key reused with another body).
    #[error("{0}")]
    Conflict(String),
    /// The engine has not finished replaying the log; nothing is taken yet.
    #[error("replaying the log; not ready")]
    NotReady,
    /// The writer's transaction failed (disk full, I/O error): nothing of it was stored and the
    /// request may be sent again. (What failed is in the server's log and readiness, not here:
    /// the caller may be another organisation.)
    #[error("not stored: the store could not write; send it again")]
    NotStored,
    /// The audit log's Merkle tree does not fit the log.
    #[error(transparent)]
    Audit(crate::audit::merkle::TreeError),
}

/// A change run inside the writer's transaction; returns a JSON result for the caller.
pub type ChangeFn = Box<dyn FnOnce(&Connection) -> Result<serde_json::Value, StoreError> + Send>;

/// Handle to the store; cheap to clone.
///
/// Fields are dropped in the order declared: the last handle closes its read connections and
/// lets go of the data directory's lock *before* it drops the queues, whose closing ends the
/// writer thread. So once the writer has ended (what [`crate::Server::stop`] waits for), the
/// directory can be opened again at once.
#[derive(Clone)]
pub struct Store {
    readers: Arc<Mutex<Vec<Connection>>>,
    /// Reads running at once through [`Store::read`] (each a thread and a connection).
    reading: Arc<tokio::sync::Semaphore>,
    db: PathBuf,
    _lock: Arc<File>,
    ingest: Sender<Op>,
    control: Sender<Op>,
    engine: Sender<EngineWrite>,
    status: Arc<WriterStatus>,
}

/// Reads through [`Store::read`] running at once; more wait for a place.
pub const MAX_READS: usize = 16;

/// What a store holds, for `/api/v1/stats` and the tests.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Stats {
    /// Sensor records in the durable log.
    pub records: i64,
    /// Batches in the durable log.
    pub batches: i64,
    /// Distinct alerts.
    pub alerts: i64,
    /// Alert revisions.
    pub alert_revisions: i64,
    /// Assessed events.
    #[serde(default)]
    pub events: i64,
    /// Audit entries.
    pub audit_entries: i64,
    /// Webhook deliveries not yet made.
    pub outbox_pending: i64,
    /// Sequence number of the last batch of records in the log.
    pub last_batch_seq: i64,
}

impl StoreError {
    /// Whether the same request may succeed if sent again later: the store was busy, not ready
    /// or could not write for now, not refusing the request itself.
    pub fn may_succeed_later(&self) -> bool {
        match self {
            StoreError::Busy | StoreError::NotReady | StoreError::NotStored => true,
            StoreError::Db(e) | StoreError::Audit(crate::audit::merkle::TreeError::Db(e)) => {
                passing(e)
            }
            StoreError::Closed
            | StoreError::Locked(_)
            | StoreError::Io { .. }
            | StoreError::Refused(_)
            | StoreError::NotFound(_)
            | StoreError::Conflict(_)
            | StoreError::Audit(_) => false,
        }
    }
}

/// Whether SQLite failed for the state of the machine (a full disk, an I/O error, a lock, a
/// read-only remount), which may pass, rather than for the request or a damaged file.
fn passing(e: &rusqlite::Error) -> bool {
    use rusqlite::ErrorCode::{
        CannotOpen, DatabaseBusy, DatabaseLocked, DiskFull, FileLockingProtocolFailed, OutOfMemory,
        ReadOnly, SchemaChanged, SystemIoFailure,
    };
    matches!(
        e.sqlite_error_code(),
        Some(
            DiskFull
                | SystemIoFailure
                | DatabaseBusy
                | DatabaseLocked
                | FileLockingProtocolFailed
                | SchemaChanged
                | OutOfMemory
                | ReadOnly
                | CannotOpen
        )
    )
}

impl Store {
    /// Opens (creating if needed) the store in `dir`, takes the directory's lock and starts the
    /// writer, which sends what it commits to `feed`. `queue` bounds the ingest batches waiting.
    /// Returns the writer thread's handle too, for its supervisor.
    pub fn open(
        dir: &Path,
        queue: usize,
        feed: Sender<Fed>,
    ) -> Result<(Self, std::thread::JoinHandle<Result<(), String>>), StoreError> {
        let io = |source| StoreError::Io {
            path: dir.to_path_buf(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let lock = File::create(dir.join("limes.lock")).map_err(io)?;
        if lock.try_lock().is_err() {
            return Err(StoreError::Locked(dir.to_path_buf()));
        }
        let db = dir.join("limes.sqlite");
        let conn = Connection::open(&db)?;
        schema::migrate(&conn)?;
        conn.execute_batch(crate::console::schema::SCHEMA)?;
        let added = crate::audit::merkle::catch_up(&conn).map_err(StoreError::Audit)?;
        if added > 0 {
            tracing::warn!("{added} audit entries had no Merkle tree hashes (written before the tree, by an older limes, or by hand); added");
        }
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        let (ingest, ingest_rx) = bounded(queue.max(1));
        let (control, control_rx) = bounded(1024);
        let (engine, engine_rx) = bounded(ENGINE_QUEUE);
        let status = Arc::new(WriterStatus::default());
        let handle = writer::spawn(
            conn,
            Queues {
                ingest: ingest_rx,
                control: control_rx,
                engine: engine_rx,
            },
            feed,
            status.clone(),
        )?;
        Ok((
            Self {
                ingest,
                control,
                engine,
                status,
                db,
                readers: Arc::new(Mutex::new(Vec::new())),
                reading: Arc::new(tokio::sync::Semaphore::new(MAX_READS)),
                _lock: Arc::new(lock),
            },
            handle,
        ))
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.db
    }

    /// Whether the writer's last transaction failed, and how many have failed.
    pub fn writer_status(&self) -> &Arc<WriterStatus> {
        &self.status
    }

    /// Queues a checked batch for the log, or [`StoreError::Busy`] when the queue is full. The
    /// receiver resolves once durable: which records were stored (those the engine will take)
    /// and which were refused; with an idempotency key seen before, the earlier reply.
    pub fn try_log(
        &self,
        source: String,
        batch: Batch,
        idem: Option<IdempotencyKey>,
    ) -> Result<oneshot::Receiver<Result<IngestReply, StoreError>>, StoreError> {
        let (ack, rx) = oneshot::channel();
        match self.ingest.try_send(Op::Records {
            source,
            batch,
            idem,
            received: std::time::Instant::now(),
            ack,
        }) {
            Ok(()) => Ok(rx),
            Err(TrySendError::Full(_)) => Err(StoreError::Busy),
            Err(TrySendError::Disconnected(_)) => Err(StoreError::Closed),
        }
    }

    /// Like [`Store::try_log`], but waits for room instead of failing (CoT ingest: TCP flow
    /// control is the backpressure there).
    pub async fn log(&self, source: String, batch: Batch) -> Result<IngestReply, StoreError> {
        let (ack, rx) = oneshot::channel();
        let tx = self.ingest.clone();
        let op = Op::Records {
            source,
            batch,
            idem: None,
            received: std::time::Instant::now(),
            ack,
        };
        tokio::task::spawn_blocking(move || tx.send(op).map_err(|_| StoreError::Closed))
            .await
            .map_err(|_| StoreError::Closed)??;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// Hands the writer the engine's admission state after the start-up replay; records are
    /// taken from then on.
    pub fn ready(&self, a: Admission) -> Result<(), StoreError> {
        self.control
            .send(Op::Admission(Box::new(a)))
            .map_err(|_| StoreError::Closed)
    }

    /// Logs a clock tick (not acknowledged; durable with the next commit).
    pub fn tick(&self, t: f64) {
        let _ = self.control.try_send(Op::Tick(t));
    }

    /// Persists an alert revision and its webhook deliveries (from the live engine); waits
    /// while the writer's bounded queue is full.
    pub fn alert(&self, w: AlertWrite) -> Result<(), StoreError> {
        self.engine
            .send(EngineWrite::Alert(Box::new(w)))
            .map_err(|_| StoreError::Closed)
    }

    /// Persists an assessed event (from the live engine), in order with the alert revisions;
    /// waits while the writer's bounded queue is full. An event already stored is kept.
    pub fn event(&self, e: EventRecord) -> Result<(), StoreError> {
        self.engine
            .send(EngineWrite::Event(Box::new(e)))
            .map_err(|_| StoreError::Closed)
    }

    /// Runs `change` in the writer's transaction with its audit entry (if any); resolves once durable.
    pub async fn change(
        &self,
        change: ChangeFn,
        audit: impl Into<Option<AuditDraft>>,
    ) -> Result<serde_json::Value, StoreError> {
        let (ack, rx) = oneshot::channel();
        self.control_send(Op::Change {
            change,
            audit: audit.into().into_iter().collect(),
            ack,
        })
        .await?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// Appends audit entries; resolves once durable.
    pub async fn audit_many(&self, audit: Vec<AuditDraft>) -> Result<(), StoreError> {
        let (ack, rx) = oneshot::channel();
        self.control_send(Op::Change {
            change: Box::new(|_| Ok(serde_json::Value::Null)),
            audit,
            ack,
        })
        .await?;
        rx.await.map_err(|_| StoreError::Closed)?.map(|_| ())
    }

    /// Appends an audit entry; resolves once durable.
    pub async fn audit(&self, audit: AuditDraft) -> Result<(), StoreError> {
        self.audit_many(vec![audit]).await
    }

    /// Runs a change from a blocking context (CLI commands, tests), waiting for durability.
    pub fn change_blocking(
        &self,
        change: ChangeFn,
        audit: AuditDraft,
    ) -> Result<serde_json::Value, StoreError> {
        let (ack, rx) = oneshot::channel();
        self.control
            .send(Op::Change {
                change,
                audit: vec![audit],
                ack,
            })
            .map_err(|_| StoreError::Closed)?;
        rx.blocking_recv().map_err(|_| StoreError::Closed)?
    }

    /// Runs `change` in the writer's transaction with several audit entries; resolves once
    /// durable. Nothing is written when `change` fails.
    pub async fn audit_change(
        &self,
        change: ChangeFn,
        audit: Vec<AuditDraft>,
    ) -> Result<serde_json::Value, StoreError> {
        let (ack, rx) = oneshot::channel();
        self.control_send(Op::Change { change, audit, ack }).await?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// [`Store::audit_change`] from a blocking context.
    pub fn audit_change_blocking(
        &self,
        change: ChangeFn,
        audit: Vec<AuditDraft>,
    ) -> Result<serde_json::Value, StoreError> {
        let (ack, rx) = oneshot::channel();
        self.control
            .send(Op::Change { change, audit, ack })
            .map_err(|_| StoreError::Closed)?;
        rx.blocking_recv().map_err(|_| StoreError::Closed)?
    }

    async fn control_send(&self, op: Op) -> Result<(), StoreError> {
        let tx = self.control.clone();
        match tx.try_send(op) {
            Ok(()) => Ok(()),
            Err(TrySendError::Disconnected(_)) => Err(StoreError::Closed),
            Err(TrySendError::Full(op)) => {
                tokio::task::spawn_blocking(move || tx.send(op).map_err(|_| StoreError::Closed))
                    .await
                    .map_err(|_| StoreError::Closed)?
            }
        }
    }

    /// Runs a read on a pooled read connection, off the async threads, once fewer than
    /// [`MAX_READS`] are running. A read holds its place until it has finished, also when its
    /// caller has gone (a client that hangs up does not end a scan under way, so it must not
    /// free the place for another).
    pub async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let place = self
            .reading
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Closed)?;
        let me = self.clone();
        tokio::task::spawn_blocking(move || {
            let _place = place;
            me.read_blocking(f)
        })
        .await
        .map_err(|_| StoreError::Closed)?
    }

    /// Runs a read on a pooled read connection in the calling thread.
    pub fn read_blocking<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let conn = self.readers.lock().ok().and_then(|mut v| v.pop());
        let conn = match conn {
            Some(c) => c,
            None => {
                let c = Connection::open_with_flags(
                    &self.db,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )?;
                c.busy_timeout(std::time::Duration::from_secs(10))?;
                c
            }
        };
        let out = f(&conn);
        if let Ok(mut v) = self.readers.lock() {
            if v.len() < 4 {
                v.push(conn);
            }
        }
        out
    }

    /// Counts of what the store holds.
    pub fn stats_blocking(&self) -> Result<Stats, StoreError> {
        self.read_blocking(|c| {
            let one = |sql: &str| c.query_row(sql, [], |r| r.get::<_, i64>(0));
            Ok(Stats {
                records: one("SELECT COALESCE(SUM(n), 0) FROM log WHERE kind = 0")?,
                batches: one("SELECT COUNT(*) FROM log WHERE kind = 0")?,
                alerts: one("SELECT COUNT(*) FROM alerts")?,
                alert_revisions: one("SELECT COUNT(*) FROM alert_revs")?,
                events: one("SELECT COUNT(*) FROM events")?,
                audit_entries: one("SELECT COUNT(*) FROM audit")?,
                outbox_pending: one("SELECT COUNT(*) FROM outbox WHERE delivered IS NULL")?,
                last_batch_seq: one("SELECT COALESCE(MAX(seq), 0) FROM log WHERE kind = 0")?,
            })
        })
    }
}

/// A connection to the store of `dir` for an administration command run while a server may
/// hold the directory (`limes cert`): schema made current, waits up to 10 s for the writer's
/// lock. Such a command writes only tables the server reads afresh, and queues its audit
/// entries (see [`crate::pki::registry`]); it never appends to the audit chain itself.
pub fn open_beside(dir: &Path) -> Result<Connection, StoreError> {
    std::fs::create_dir_all(dir).map_err(|source| StoreError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let conn = Connection::open(dir.join("limes.sqlite"))?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    schema::migrate(&conn)?;
    Ok(conn)
}

/// Reads the durable log in order, calling `f` with each batch's records or tick; used at
/// start-up to bring the tracker back to where it was. Returns the last sequence number.
pub fn replay_log(db: &Path, mut f: impl FnMut(Feed)) -> Result<i64, StoreError> {
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let mut stmt = conn.prepare("SELECT seq, kind, body FROM log ORDER BY seq")?;
    let mut rows = stmt.query([])?;
    let mut last = 0;
    while let Some(r) = rows.next()? {
        let seq: i64 = r.get(0)?;
        let kind: i64 = r.get(1)?;
        let body: Vec<u8> = r.get(2)?;
        last = seq;
        f(writer::decode(seq, kind, &body));
    }
    Ok(last)
}
