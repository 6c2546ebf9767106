//! `GET /api/v1/stream`: server-sent events of tracks, alerts and facility changes, released
//! per organisation. The stream opens with the current picture, then follows changes.

use axum::extract::{Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::{Stream, StreamExt};
use serde::Deserialize;
use serde_json::json;
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tokio_stream::wrappers::BroadcastStream;

use super::{ApiError, AppState};
use crate::audit::AuditDraft;
use crate::auth::Principal;
use crate::release::{DataKind, Item, Released};

/// Query of the stream.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamQuery {
    /// Comma-separated kinds: `track`, `alert`, `facility` (all by default).
    kinds: Option<String>,
}

/// Audits a delivery session: alert deliveries as they happen, a summary when it closes.
pub struct Session {
    state: AppState,
    actor: String,
    channel: &'static str,
    tracks: AtomicU64,
    facilities: AtomicU64,
}

impl Session {
    /// Opens a session (audited).
    pub fn open(state: &AppState, actor: String, channel: &'static str) -> Arc<Self> {
        let s = Arc::new(Self {
            state: state.clone(),
            actor,
            channel,
            tracks: AtomicU64::new(0),
            facilities: AtomicU64::new(0),
        });
        s.audit("stream.open", json!({}));
        s.state.metrics.connections.inc();
        s
    }

    fn audit(&self, action: &str, detail: serde_json::Value) {
        let store = self.state.store.clone();
        let d = AuditDraft::new(
            self.actor.clone(),
            action,
            format!("stream/{}", self.channel),
            detail,
        );
        // Delivery has happened; the entry is written in the next group commit.
        tokio::spawn(async move {
            let _ = store.audit(d).await;
        });
    }

    /// Notes one delivered item.
    pub fn delivered(&self, r: &Released) {
        match r.kind {
            DataKind::Track => {
                self.tracks.fetch_add(1, Ordering::Relaxed);
            }
            DataKind::Facility => {
                self.facilities.fetch_add(1, Ordering::Relaxed);
            }
            DataKind::Alert => self.audit(
                "deliver.alert",
                json!({ "alert": r.body["id"], "rev": r.body["rev"], "detail": r.detail }),
            ),
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.state.metrics.connections.dec();
        let detail = json!({
            "tracks": self.tracks.load(Ordering::Relaxed),
            "facilities": self.facilities.load(Ordering::Relaxed),
        });
        if tokio::runtime::Handle::try_current().is_ok() {
            self.audit("stream.close", detail);
        }
    }
}

fn event(r: &Released) -> Event {
    let name = match r.kind {
        DataKind::Track => "track",
        DataKind::Alert => "alert",
        DataKind::Facility => "facility",
    };
    Event::default().event(name).data(r.body.to_string())
}

/// The event stream.
pub async fn sse(
    State(s): State<AppState>,
    p: Principal,
    Query(q): Query<StreamQuery>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    if !p.role.can_read() {
        return Err(ApiError::forbidden("read the stream"));
    }
    let mut kinds = vec![DataKind::Track, DataKind::Alert, DataKind::Facility];
    if let Some(k) = &q.kinds {
        kinds = k
            .split(',')
            .map(|x| {
                serde_json::from_value(json!(x.trim()))
                    .map_err(|_| ApiError::bad_field("kinds", format!("unknown kind {x:?}")))
            })
            .collect::<Result<_, _>>()?;
    }
    // Subscribe before taking the snapshot, so nothing falls between the two.
    let rx = s.hub.subscribe();
    let session = Session::open(&s, p.actor(), "sse");
    let policy = s.policy.clone();
    let org = p.org.clone();
    let kinds = Arc::new(kinds);
    let release = {
        let (policy, org, kinds, session) =
            (policy.clone(), org.clone(), kinds.clone(), session.clone());
        move |item: &Item| -> Option<Event> {
            if !kinds.contains(&item.kind()) {
                return None;
            }
            let r = policy.release(&org, item)?;
            session.delivered(&r);
            Some(event(&r))
        }
    };
    let snapshot: Vec<Event> = s
        .hub
        .snapshot(s.clock.now())
        .iter()
        .filter_map(&release)
        .collect();
    let metrics = s.metrics.clone();
    let live = BroadcastStream::new(rx).filter_map(move |r| {
        let out = match r {
            Ok(ev) => release(&ev.item),
            Err(BroadcastStreamRecvError::Lagged(n)) => {
                metrics.lagged.inc_by(n);
                Some(
                    Event::default()
                        .event("lagged")
                        .data(json!({ "missed": n }).to_string()),
                )
            }
        };
        futures::future::ready(out.map(Ok))
    });
    let stream = futures::stream::iter(snapshot.into_iter().map(Ok)).chain(live);
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}
