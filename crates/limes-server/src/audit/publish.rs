//! Publishing checkpoints: one at start-up, then one at every whole multiple of the interval on
//! the wall clock (so a checkpoint shows the log's size only at those instants), each handed to
//! every delivery (the event stream, webhooks, `GET /api/v1/audit/checkpoint`).
//!
//! The server is its own first witness: it signs a checkpoint only if the stored tree proves
//! that the log extends the previous one it signed, which it keeps in the data directory
//! (`audit-checkpoint`) across restarts. A log truncated or rewritten while the server was
//! stopped therefore stops it at start-up instead of being signed over. After start-up it also
//! checks every entry against the stored tree once, in the background, and stops signing if
//! they differ (entries edited in place, the tree left as it was).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Mutex};
use tokio_util::sync::CancellationToken;

use super::check;
use super::checkpoint::{CheckpointError, LogKey, SignedCheckpoint};
use super::merkle::{self, TreeError};
use crate::metrics::Metrics;
use crate::store::{Store, StoreError};

/// The file in the data directory holding the last checkpoint this server signed.
pub const LAST_FILE: &str = "audit-checkpoint";

/// A checkpoint could not be published.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The tree could not be read.
    #[error(transparent)]
    Tree(#[from] TreeError),
    /// The log does not extend the last checkpoint signed, or signing failed.
    #[error("{0}")]
    Checkpoint(#[from] CheckpointError),
    /// The log does not extend the last checkpoint this server signed.
    #[error(
        "{problem}. This server signed that checkpoint (kept in {path}): restore the log; or, if \
         this is a deliberate restore from a backup, tell the partners (their checkpoints show \
         the break too) and move that file aside"
    )]
    NotExtended {
        /// What does not match.
        problem: CheckpointError,
        /// The file with the last checkpoint.
        path: PathBuf,
    },
    /// The entries do not match the tree checkpoints are signed over: nothing more is signed.
    #[error("not signing: {0}")]
    Distrusted(String),
    /// The last checkpoint file could not be read or written.
    #[error("{path}: {message}")]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// The latest checkpoint and the key that signs them; cheap to clone.
#[derive(Clone)]
pub struct Checkpoints {
    key: Arc<LogKey>,
    tx: Arc<watch::Sender<Option<Arc<SignedCheckpoint>>>>,
    /// The last checkpoint signed (also across restarts) and the file it is kept in; held
    /// while signing so that checkpoints are made one at a time, in order.
    last: Arc<Mutex<(Option<SignedCheckpoint>, PathBuf)>>,
    /// Why the stored tree is not trusted any more (set by [`Checkpoints::check_entries`]).
    distrust: Arc<std::sync::Mutex<Option<String>>>,
    metrics: Metrics,
}

impl Checkpoints {
    /// Publishes checkpoints signed by `key`, resuming from the last one kept in `data`.
    pub fn new(key: LogKey, data: &Path, metrics: Metrics) -> Result<Self, PublishError> {
        let path = data.join(LAST_FILE);
        let last = match std::fs::read(&path) {
            Ok(b) => Some(SignedCheckpoint::open(&b, key.verifier_key()).map_err(|e| {
                PublishError::File {
                    path: path.clone(),
                    message: format!(
                        "{e} (was the audit key replaced? move the file aside to start anew)"
                    ),
                }
            })?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => {
                return Err(PublishError::File {
                    path,
                    message: e.to_string(),
                })
            }
        };
        Ok(Self {
            key: Arc::new(key),
            tx: Arc::new(watch::channel(None).0),
            last: Arc::new(Mutex::new((last, path))),
            distrust: Arc::default(),
            metrics,
        })
    }

    /// The signing key (its origin and verifier key).
    pub fn key(&self) -> &LogKey {
        &self.key
    }

    /// The latest checkpoint published, if any yet.
    pub fn latest(&self) -> Option<Arc<SignedCheckpoint>> {
        self.tx.borrow().clone()
    }

    /// A receiver that sees every checkpoint published from now on (and the latest).
    pub fn subscribe(&self) -> watch::Receiver<Option<Arc<SignedCheckpoint>>> {
        self.tx.subscribe()
    }

    /// Signs and publishes a checkpoint of the log as it is now, after checking that the
    /// stored tree proves it extends the previous one.
    pub async fn publish(&self, store: &Store) -> Result<Arc<SignedCheckpoint>, PublishError> {
        let r = self.publish_inner(store).await;
        match &r {
            Ok(cp) => {
                self.metrics.audit_checkpoint_size.set(cp.size as i64);
            }
            Err(e) => {
                self.metrics.audit_checkpoint_failed.inc();
                tracing::error!("no audit checkpoint signed: {e}");
            }
        }
        r
    }

    async fn publish_inner(&self, store: &Store) -> Result<Arc<SignedCheckpoint>, PublishError> {
        let mut last = self.last.lock().await;
        if let Some(why) = self.distrust.lock().ok().and_then(|d| d.clone()) {
            return Err(PublishError::Distrusted(why));
        }
        let prev = last.0.as_ref().map(|p| (p.size, p.root));
        let (size, root, proof) = store
            .read(move |c| {
                let (size, root) = merkle::head(c).map_err(StoreError::Audit)?;
                let proof = match prev {
                    Some((old, _)) if old > 0 && old <= size => {
                        merkle::consistency(c, old, size).map_err(StoreError::Audit)?
                    }
                    _ => Vec::new(),
                };
                Ok((size, root, proof))
            })
            .await?;
        let time =
            chrono::DateTime::from_timestamp(chrono::Utc::now().timestamp(), 0).unwrap_or_default();
        let cp = self.key.sign(size, root, time)?;
        if let Some(p) = &last.0 {
            p.check_extended_by(&cp, &proof)
                .map_err(|problem| PublishError::NotExtended {
                    problem,
                    path: last.1.clone(),
                })?;
        }
        write_atomically(&last.1, cp.note.as_bytes()).map_err(|e| PublishError::File {
            path: last.1.clone(),
            message: e.to_string(),
        })?;
        last.0 = Some(cp.clone());
        let cp = Arc::new(cp);
        self.tx.send_replace(Some(cp.clone()));
        Ok(cp)
    }

    /// Checks the whole log once (the hash chain, and the tree rebuilt from the entries against
    /// the stored one, which proofs and checkpoints come from), off the async threads. On a
    /// mismatch, no checkpoint is signed any more (partners see checkpoints stop) and the
    /// problem is logged and counted; `limes audit verify` names it.
    pub async fn check_entries(&self, store: &Store) {
        let r = store
            .read(|c| check::check_log(c, &[]).map_err(StoreError::Audit))
            .await;
        let problem = match r {
            Ok(f) if f.ok() => {
                tracing::info!("audit log checked: {} entries", f.entries);
                return;
            }
            Ok(f) => f.problems.join("; "),
            Err(e) => format!("the audit log could not be checked: {e}"),
        };
        tracing::error!("audit log: {problem}; no more checkpoints will be signed");
        self.metrics.audit_checkpoint_failed.inc();
        if let Ok(mut d) = self.distrust.lock() {
            *d = Some(problem);
        }
    }

    /// Publishes a checkpoint at every whole multiple of `interval` on the wall clock until
    /// shutdown. A failure is logged and counted, and the next tick tries again.
    pub async fn run(self, store: Store, interval: Duration, shutdown: CancellationToken) {
        let every = interval.as_millis().max(1000) as i64;
        loop {
            let now = chrono::Utc::now().timestamp_millis();
            let next = (now / every + 1) * every;
            let wait = Duration::from_millis((next - now).max(0) as u64);
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = shutdown.cancelled() => return,
            }
            let _ = self.publish(&store).await;
        }
    }
}

fn write_atomically(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(data)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}
