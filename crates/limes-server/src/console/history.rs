//! History for the console's time slider: what the hub published (track states decimated to one
//! per `step_s` per track, every alert change, every facility change), kept for `hours` in its own
//! SQLite file (`history.sqlite` in the data directory, apart from the durable log, so the slider
//! never slows ingest). `GET /api/v1/history?at=&span=` returns the picture at `at` and the changes
//! after it, each item released by the same policy as the live picture.
//!
//! History is derived data: it is written after the fact, best effort (a full queue drops rows,
//! counted), and can always be rebuilt by replaying the log.

use axum::extract::{Query, State};
use axum::Json;
use crossbeam_channel::{bounded, Receiver, Sender, TrySendError};
use limes_core::record::{TrackRecord, TrackStatus};
use prometheus_client::metrics::counter::Counter;
use rusqlite::{params, Connection};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;

use crate::api::{ApiError, AppState};
use crate::auth::Principal;
use crate::release::{AlertView, FacilityView, Item, TrackItem};
use crate::store::StoreError;

/// Longest window one request may ask for, seconds.
pub const MAX_SPAN_S: f64 = 3600.0;
/// Most changes one window returns (then it is cut short: `truncated`, and `to` is earlier).
pub const MAX_CHANGES: usize = 20_000;
/// A track whose last kept state is older than this before `at` is not in the picture at `at`.
pub const TRACK_GAP_S: f64 = 35.0;
/// Batches waiting for the writer before rows are dropped.
const QUEUE: usize = 64;

const SCHEMA: &str = r#"
PRAGMA journal_mode = WAL;
PRAGMA synchronous = NORMAL;
CREATE TABLE IF NOT EXISTS history (
    t    REAL    NOT NULL,   -- the item's time (tracks) or the server clock when published
    kind INTEGER NOT NULL,   -- 0 track, 1 alert, 2 facility, 3 alert's life cycle
    key  TEXT    NOT NULL,   -- track id, alert id, facility id
    body TEXT    NOT NULL,   -- the item as the hub holds it (full detail; released on the way out)
    PRIMARY KEY (kind, key, t)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS history_t ON history (t);
"#;

/// One kept item.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// Time, seconds since the epoch.
    pub t: f64,
    /// 0 track, 1 alert (a revision), 2 facility, 3 alert (a change of its life cycle).
    pub kind: u8,
    /// Its id.
    pub key: String,
    /// Its JSON.
    pub body: String,
}

fn row(t: f64, item: &Item) -> Option<Row> {
    let (kind, key, body) = match item {
        Item::Track(tr) => (
            0,
            tr.rec.id.to_string(),
            serde_json::to_string(&tr.rec).ok()?,
        ),
        Item::Alert(a) => (1, a.alert.id.to_string(), serde_json::to_string(&**a).ok()?),
        // Kept apart from the rules' revisions: a change of its life cycle is released as one
        // (to organisations given the alert in full) when the window is read.
        Item::AlertLife(a) => (3, a.alert.id.to_string(), serde_json::to_string(&**a).ok()?),
        Item::Facility(f) => (2, f.id.clone(), serde_json::to_string(&**f).ok()?),
        // Events are not part of the picture at a moment (`GET /api/v1/events` lists them).
        Item::Event(_) => return None,
    };
    Some(Row { t, kind, key, body })
}

/// Back from a row to the item it was. A track comes back without the alerts that made it
/// hostile when it was published (history does not keep that), so it is released as not hostile.
pub fn item(kind: u8, body: &str) -> Option<Item> {
    match kind {
        0 => serde_json::from_str::<TrackRecord>(body).ok().map(|rec| {
            Item::Track(Arc::new(TrackItem {
                rec,
                hostile_in: Vec::new(),
            }))
        }),
        1 => serde_json::from_str::<AlertView>(body)
            .ok()
            .map(|a| Item::Alert(Arc::new(a))),
        3 => serde_json::from_str::<AlertView>(body)
            .ok()
            .map(|a| Item::AlertLife(Arc::new(a))),
        2 => serde_json::from_str::<FacilityView>(body)
            .ok()
            .map(|f| Item::Facility(Arc::new(f))),
        _ => None,
    }
}

/// Keeps one track state per `step_s` per track, and every change of status.
#[derive(Default)]
pub struct Decimator {
    last: HashMap<u64, (f64, TrackStatus)>,
}

impl Decimator {
    /// Whether to keep this state.
    pub fn keep(&mut self, t: &TrackRecord, step_s: f64) -> bool {
        let time = t.time.0;
        let keep = match self.last.get(&t.id) {
            None => true,
            Some(&(lt, ls)) => ls != t.status || time - lt >= step_s,
        };
        if t.status == TrackStatus::Deleted {
            self.last.remove(&t.id);
        } else if keep {
            self.last.insert(t.id, (time, t.status));
        }
        keep
    }

    /// Forgets tracks not kept for `gap_s` before `now` (bounds the table).
    pub fn forget_before(&mut self, now: f64, gap_s: f64) {
        self.last.retain(|_, (t, _)| now - *t < gap_s);
    }

    /// Tracks remembered.
    pub fn len(&self) -> usize {
        self.last.len()
    }

    /// Whether none is remembered.
    pub fn is_empty(&self) -> bool {
        self.last.is_empty()
    }
}

struct Inner {
    tx: Sender<Vec<Row>>,
    reader: Mutex<Connection>,
    retention_s: f64,
    step_s: f64,
    dropped: Counter,
    path: PathBuf,
}

/// The history store.
#[derive(Clone)]
pub struct History {
    inner: Arc<Inner>,
}

impl History {
    /// Opens (creating) `history.sqlite` in `dir` and starts its writer; rows it has to drop
    /// are counted in `dropped` (the server's `limes_history_dropped_total`).
    pub fn open(dir: &Path, hours: f64, step_s: f64, dropped: Counter) -> Result<Self, StoreError> {
        let path = dir.join("history.sqlite");
        let conn = Connection::open(&path)?;
        conn.execute_batch(SCHEMA)?;
        conn.busy_timeout(Duration::from_secs(5))?;
        let reader = Connection::open(&path)?;
        reader.busy_timeout(Duration::from_secs(5))?;
        let (tx, rx) = bounded(QUEUE);
        let retention_s = hours.max(0.01) * 3600.0;
        std::thread::Builder::new()
            .name("limes-history".into())
            .spawn(move || write_loop(conn, rx, retention_s))
            .map_err(|e| StoreError::Io {
                path: dir.to_path_buf(),
                source: e,
            })?;
        Ok(Self {
            inner: Arc::new(Inner {
                tx,
                reader: Mutex::new(reader),
                retention_s,
                step_s,
                dropped,
                path,
            }),
        })
    }

    /// Queues rows for the writer; a full queue drops them (counted, logged).
    pub fn push(&self, rows: Vec<Row>) {
        if rows.is_empty() {
            return;
        }
        let n = rows.len() as u64;
        match self.inner.tx.try_send(rows) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                let before = self.inner.dropped.inc_by(n);
                if before == 0 {
                    tracing::warn!("history: the writer is behind; dropping rows (counted in limes_history_dropped_total)");
                }
            }
        }
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Runs `f` on the reader connection (blocking).
    pub fn read<T>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        let c = self.inner.reader.lock().map_err(|_| StoreError::Closed)?;
        Ok(f(&c)?)
    }
}

fn write_loop(mut conn: Connection, rx: Receiver<Vec<Row>>, retention_s: f64) {
    let mut newest = f64::NEG_INFINITY;
    let mut last_prune = f64::NEG_INFINITY;
    while let Ok(first) = rx.recv() {
        let mut batches = vec![first];
        batches.extend(rx.try_iter());
        let res = (|| -> rusqlite::Result<()> {
            let tx = conn.transaction()?;
            {
                let mut stmt = tx.prepare_cached(
                    "INSERT OR IGNORE INTO history (t, kind, key, body) VALUES (?1, ?2, ?3, ?4)",
                )?;
                for r in batches.iter().flatten() {
                    newest = newest.max(r.t);
                    stmt.execute(params![r.t, r.kind, r.key, r.body])?;
                }
            }
            if newest - last_prune > 60.0 {
                tx.execute(
                    "DELETE FROM history WHERE t < ?1",
                    params![newest - retention_s],
                )?;
                last_prune = newest;
            }
            tx.commit()
        })();
        if let Err(e) = res {
            tracing::error!("history: writing failed: {e}");
        }
    }
}

/// Subscribes to the hub and keeps what the slider needs, until the server stops.
pub fn spawn_recorder(state: AppState) {
    let mut rx = state.hub.subscribe();
    let history = state.console.history.clone();
    let step = history.inner.step_s;
    let now = state.clock.now();
    // The picture at start: facilities and alerts as they are (tracks follow as they move).
    let start: Vec<Row> = state
        .hub
        .snapshot(now)
        .iter()
        .filter(|i| !matches!(i, Item::Track(_)))
        .filter_map(|i| row(now, i))
        .collect();
    history.push(start);
    tokio::spawn(async move {
        let mut dec = Decimator::default();
        let mut batch: Vec<Row> = Vec::new();
        let mut flush = tokio::time::interval(Duration::from_millis(500));
        loop {
            tokio::select! {
                r = rx.recv() => match r {
                    Ok(item) => {
                        let t = match &item {
                            Item::Track(tr) => {
                                if !dec.keep(&tr.rec, step) { continue; }
                                tr.rec.time.0
                            }
                            _ => state.clock.now(),
                        };
                        if let Some(r) = row(t, &item) { batch.push(r); }
                        if batch.len() >= 2000 { history.push(std::mem::take(&mut batch)); }
                    }
                    Err(RecvError::Lagged(n)) => {
                        history.inner.dropped.inc_by(n);
                    }
                    Err(RecvError::Closed) => break,
                },
                _ = flush.tick() => {
                    history.push(std::mem::take(&mut batch));
                    dec.forget_before(state.clock.now(), 600.0);
                }
            }
        }
    });
}

/// Query of `GET /api/v1/history`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    /// Start of the window, seconds since the epoch (server clock).
    at: Option<f64>,
    /// Length of the window, seconds (default 600, at most 3600).
    span: Option<f64>,
}

/// One window as the caller is given it: the picture at its start and the changes after it,
/// every row released (and rows the caller is not given left out) as it is read.
#[derive(Debug)]
struct Window<T> {
    /// Alerts and facilities as they were at `at`, and tracks seen shortly before it.
    start: Vec<(u8, T)>,
    /// The changes after `at`, in time order.
    changes: Vec<(f64, u8, T)>,
    /// Where the changes end: the window's end, or the last whole instant before the cap.
    to: f64,
    /// Whether the changes were cut at [`MAX_CHANGES`].
    truncated: bool,
}

/// Reads the window `(at, to]`, releasing each row with `release` as it comes, so the caps
/// ([`MAX_CHANGES`] on the changes and on the picture's tracks) count only what the caller is
/// given: how far a window reaches says nothing of rows released to others. Memory is bounded
/// by the caps; the rows read are bounded by the span and what the history keeps, and track
/// rows are not read at all for a caller given no tracks (`tracks` false), so the time a read
/// takes does not grow with tracks it is not given.
fn read_window<T>(
    c: &Connection,
    at: f64,
    to: f64,
    tracks: bool,
    mut release: impl FnMut(u8, &str) -> Option<T>,
) -> rusqlite::Result<Window<T>> {
    let mut start = Vec::new();
    // Alerts and facilities: the latest row of each at or before `at` (of an alert, its
    // revision or life cycle, whichever is later: the picture holds the state, released as it
    // stands, not the change that made it).
    let mut stmt = c.prepare_cached(
        "SELECT kind, body FROM (SELECT MAX(t), kind, body FROM history \
         WHERE kind IN (1, 2, 3) AND t <= ?1 GROUP BY kind = 2, key)",
    )?;
    let mut rows = stmt.query([at])?;
    while let Some(r) = rows.next()? {
        let (kind, body): (u8, String) = (r.get(0)?, r.get(1)?);
        let kind = if kind == 3 { 1 } else { kind };
        if let Some(v) = release(kind, &body) {
            start.push((kind, v));
        }
    }
    // Tracks: the latest state of each seen shortly before `at`.
    let mut stmt = c.prepare_cached(
        "SELECT body FROM (SELECT MAX(t), body FROM history \
         WHERE t > ?1 AND t <= ?2 AND kind = 0 GROUP BY key)",
    )?;
    let mut rows = stmt.query(params![
        at - TRACK_GAP_S,
        if tracks { at } else { f64::NEG_INFINITY }
    ])?;
    let mut n_tracks = 0;
    let mut truncated = false;
    while let Some(r) = rows.next()? {
        let body: String = r.get(0)?;
        if let Some(v) = release(0, &body) {
            if n_tracks == MAX_CHANGES {
                truncated = true;
                break;
            }
            n_tracks += 1;
            start.push((0, v));
        }
    }
    let mut stmt = c.prepare_cached(
        "SELECT t, kind, body FROM history WHERE t > ?1 AND t <= ?2 AND (?3 OR kind != 0) \
         ORDER BY t, kind",
    )?;
    let mut rows = stmt.query(params![at, to, tracks])?;
    let mut changes = Vec::new();
    let mut end = to;
    while let Some(r) = rows.next()? {
        let (t, kind, body): (f64, u8, String) = (r.get(0)?, r.get(1)?, r.get(2)?);
        let Some(v) = release(kind, &body) else {
            continue;
        };
        if changes.len() == MAX_CHANGES {
            // Cut at the last whole instant, so no instant is half-delivered.
            truncated = true;
            let last = changes.last().map_or(at, |c: &(f64, u8, T)| c.0);
            changes.retain(|c| c.0 < last);
            end = last;
            break;
        }
        changes.push((t, kind, v));
    }
    Ok(Window {
        start,
        changes,
        to: end,
        truncated,
    })
}

fn kind_name(k: u8) -> &'static str {
    match k {
        0 => "track",
        1 | 3 => "alert",
        _ => "facility",
    }
}

/// A history read that did not finish (its blocking task panicked or was cancelled).
fn task_failed(_: tokio::task::JoinError) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::INTERNAL_SERVER_ERROR,
        "history task failed",
    )
}

/// The handler: without `at`, what is kept; with it, a released window.
pub async fn handler(
    State(s): State<AppState>,
    p: Principal,
    q: Result<Query<HistoryQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    if !p.role.can_read() {
        return Err(ApiError::forbidden("read history"));
    }
    let Query(q) =
        q.map_err(|e| ApiError::new(axum::http::StatusCode::BAD_REQUEST, e.body_text()))?;
    let h = s.console.history.clone();
    let now = s.clock.now();
    let Some(at) = q.at else {
        let h2 = h.clone();
        let earliest: Option<f64> = tokio::task::spawn_blocking(move || {
            h2.read(|c| c.query_row("SELECT MIN(t) FROM history", [], |r| r.get(0)))
        })
        .await
        .map_err(task_failed)??;
        s.audit(&p, "read.history", "history", json!({})).await?;
        // What was dropped is the operators' (a metric): how much the hub published says how
        // much there is to see, released or not.
        return Ok(Json(json!({
            "earliest": earliest.map(|e| e.max(now - h.inner.retention_s)),
            "now": now, "retention_h": h.inner.retention_s / 3600.0, "step_s": h.inner.step_s,
        })));
    };
    let span = q.span.unwrap_or(600.0);
    if !at.is_finite() {
        return Err(ApiError::bad_field("at", "at: seconds since the epoch"));
    }
    if !span.is_finite() || span <= 0.0 || span > MAX_SPAN_S {
        return Err(ApiError::bad_field(
            "span",
            format!("span: 1 to {MAX_SPAN_S} seconds"),
        ));
    }
    let to = at + span;
    let h2 = h.clone();
    let policy = s.policy.clone();
    let org = p.org.clone();
    let tracks = policy
        .org(&org)
        .is_some_and(|o| o.tracks > limes_core::site::Detail::None);
    let w = tokio::task::spawn_blocking(move || {
        h2.read(|c| {
            read_window(c, at, to, tracks, |kind, body| {
                let r = policy.release(&org, &item(kind, body)?)?;
                serde_json::to_value(&r.out).ok()
            })
        })
    })
    .await
    .map_err(task_failed)??;
    let mut tracks = Vec::new();
    let mut alerts = Vec::new();
    let mut facilities = Vec::new();
    for (kind, v) in w.start {
        match kind {
            0 => {
                if v["status"] != "deleted" {
                    tracks.push(v)
                }
            }
            1 => alerts.push(v),
            _ => facilities.push(v),
        }
    }
    let end = w.to;
    let truncated = w.truncated;
    let changes: Vec<Value> = w
        .changes
        .into_iter()
        .map(|(t, kind, b)| json!({ "t": t, "kind": kind_name(kind), "body": b }))
        .collect();
    s.audit(
        &p,
        "read.history",
        "history",
        json!({ "at": at, "to": end, "tracks": tracks.len(), "alerts": alerts.len(),
                "facilities": facilities.len(), "changes": changes.len() }),
    )
    .await?;
    Ok(Json(json!({
        "at": at, "to": end, "truncated": truncated,
        "start": { "tracks": tracks, "alerts": alerts, "facilities": facilities },
        "changes": changes,
    })))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use limes_core::record::{ClassProbs, Position, Time};

    fn tr(id: u64, t: f64, status: TrackStatus) -> TrackRecord {
        TrackRecord {
            id,
            time: Time(t),
            status,
            pos: Position::LonLat {
                lon: 38.87,
                lat: 36.38,
            },
            vel: [0.0, 0.0],
            cov: [1.0, 0.0, 1.0],
            class: ClassProbs::UNIFORM,
            hits: 3,
            first_seen: Time(t),
            sensor: None,
            updated: None,
        }
    }

    #[test]
    fn track_states_are_kept_every_step_and_on_every_status_change() {
        let mut d = Decimator::default();
        let kept: Vec<f64> = (0..60)
            .map(|i| tr(1, 1000.0 + i as f64, TrackStatus::Confirmed))
            .filter(|t| d.keep(t, 10.0))
            .map(|t| t.time.0)
            .collect();
        assert_eq!(kept, vec![1000.0, 1010.0, 1020.0, 1030.0, 1040.0, 1050.0]);
        assert!(d.keep(&tr(1, 1051.0, TrackStatus::Coasting), 10.0));
        assert!(d.keep(&tr(1, 1052.0, TrackStatus::Deleted), 10.0));
        assert!(d.is_empty());
        d.keep(&tr(2, 1000.0, TrackStatus::Confirmed), 10.0);
        d.forget_before(1700.0, 600.0);
        assert!(d.is_empty());
    }

    #[test]
    fn a_window_holds_the_picture_at_its_start_and_the_changes_after() {
        let dir = tempfile::tempdir().unwrap();
        let h = History::open(dir.path(), 24.0, 10.0, Counter::default()).unwrap();
        let body = |t: f64| serde_json::to_string(&tr(7, t, TrackStatus::Confirmed)).unwrap();
        use limes_core::site::FacilityStatus;
        let fac = |st: FacilityStatus| {
            serde_json::to_string(&FacilityView {
                id: "camp".into(),
                name: "Camp".into(),
                status: st,
                population: 949,
                exits: 0,
                estimate: 949,
                guards: 40,
                note: None,
                changed_by: None,
                lon: 38.87,
                lat: 36.38,
                radius_m: 500.0,
            })
            .unwrap()
        };
        let c = h.inner.reader.lock().unwrap();
        for (t, kind, key, b) in [
            (900.0, 2u8, "camp", fac(FacilityStatus::Secure)),
            (990.0, 0, "7", body(990.0)),
            (1000.0, 0, "7", body(1000.0)),
            (1100.0, 2, "camp", fac(FacilityStatus::Breached)),
            (1200.0, 0, "7", body(1200.0)),
        ] {
            c.execute(
                "INSERT INTO history (t, kind, key, body) VALUES (?1, ?2, ?3, ?4)",
                params![t, kind, key, b],
            )
            .unwrap();
        }
        let all = |_: u8, b: &str| Some(b.to_string());
        let w = read_window(&c, 1005.0, 1150.0, true, all).unwrap();
        assert_eq!(w.start.len(), 2, "{:?}", w.start);
        let time = |b: &str| serde_json::from_str::<TrackRecord>(b).unwrap().time.0;
        assert!(w.start.iter().any(|r| r.0 == 0 && time(&r.1) == 1000.0));
        assert!(w.start.iter().any(|r| r.0 == 2 && r.1.contains("secure")));
        assert_eq!(w.changes.len(), 1);
        assert!(w.changes[0].2.contains("breached"));
        assert!(!w.truncated);
        assert_eq!(w.to, 1150.0);
        // A track unseen for longer than the gap is not in the picture.
        let w = read_window(&c, 1000.0 + TRACK_GAP_S + 1.0, 1100.0, true, all).unwrap();
        assert!(w.start.iter().all(|r| r.0 != 0));
        assert!(matches!(
            item(2, &fac(FacilityStatus::Secure)),
            Some(Item::Facility(_))
        ));
        assert!(item(9, "{}").is_none());
    }

    #[test]
    fn the_cap_on_a_window_counts_only_what_the_caller_is_given() {
        // 20,001 track changes of another organisation's and one facility change of the
        // caller's: the window is not cut short, and its end is the one asked for (a cap
        // counted before the release told a partner given no tracks how many there were).
        let dir = tempfile::tempdir().unwrap();
        let h = History::open(dir.path(), 24.0, 10.0, Counter::default()).unwrap();
        let mut c = h.inner.reader.lock().unwrap();
        let tx = c.transaction().unwrap();
        for i in 0..=MAX_CHANGES {
            tx.execute(
                "INSERT INTO history (t, kind, key, body) VALUES (?1, 0, ?2, '{}')",
                params![1001.0 + i as f64 * 0.01, i.to_string()],
            )
            .unwrap();
        }
        tx.execute(
            "INSERT INTO history (t, kind, key, body) VALUES (1500.0, 2, 'camp', 'released')",
            [],
        )
        .unwrap();
        tx.commit().unwrap();
        let facilities_only = |kind: u8, b: &str| (kind == 2).then(|| b.to_string());
        let w = read_window(&c, 1000.0, 1600.0, true, facilities_only).unwrap();
        assert!(!w.truncated);
        assert_eq!(w.to, 1600.0);
        assert_eq!(w.changes.len(), 1);
        // Given everything, the same window is cut at the cap, on a whole instant.
        let w = read_window(&c, 1000.0, 1600.0, true, |_, b| Some(b.to_string())).unwrap();
        assert!(w.truncated);
        assert_eq!(w.changes.len(), MAX_CHANGES - 1);
        assert!(w.to < 1500.0);
        // A caller given no tracks does not have track rows read at all.
        let w = read_window(&c, 1000.0, 1600.0, false, |kind, b| {
            assert_ne!(kind, 0, "a track row read");
            Some(b.to_string())
        })
        .unwrap();
        assert_eq!((w.changes.len(), w.truncated), (1, false));
    }
}
