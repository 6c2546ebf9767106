//! `GET /api/v1/stream`: server-sent events of tracks, alerts, facility changes and assessed
//! events, released per organisation. The stream opens with the current picture (events are
//! changes, not part of it), then follows changes; a
//! `lagged` event tells a slow reader it missed changes, and the picture released to it follows
//! again. A `checkpoint` event carries the
//! latest signed audit checkpoint when the stream opens and each new one as it is signed.

use axum::extract::{Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use serde::Deserialize;
use std::convert::Infallible;

use super::feed::{Delivery, Feed};
use super::session::Session;
use crate::api::{ApiError, AppState};
use crate::audit::checkpoint::SignedCheckpoint;
use crate::auth::Principal;
use crate::release::{DataKind, Released};

/// Query of the stream.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StreamQuery {
    /// Comma-separated kinds: `track`, `alert`, `facility`, `event` (all by default).
    kinds: Option<String>,
}

/// The SSE event for a released item: its kind as the event name, its JSON as the data.
pub fn encode(r: &Released) -> Event {
    let data = serde_json::to_string(&r.out).unwrap_or_default();
    Event::default().event(r.kind().name()).data(data)
}

/// The `checkpoint` event: the checkpoint as JSON, its signed note in `note`.
pub fn checkpoint(cp: &SignedCheckpoint) -> Event {
    let data = serde_json::to_string(&cp.json()).unwrap_or_default();
    Event::default().event("checkpoint").data(data)
}

/// The `lagged` event (without a count: it would include items not released to the reader).
pub fn lagged() -> Event {
    Event::default().event("lagged").data("{}")
}

fn kinds(q: &StreamQuery) -> Result<Vec<DataKind>, ApiError> {
    let Some(k) = &q.kinds else {
        return Ok(vec![
            DataKind::Track,
            DataKind::Alert,
            DataKind::Facility,
            DataKind::Event,
        ]);
    };
    k.split(',')
        .map(|x| match x.trim() {
            "track" => Ok(DataKind::Track),
            "alert" => Ok(DataKind::Alert),
            "facility" => Ok(DataKind::Facility),
            "event" => Ok(DataKind::Event),
            other => Err(ApiError::bad_field(
                "kinds",
                format!("unknown kind {other:?}: track, alert, facility or event"),
            )),
        })
        .collect()
}

#[utoipa::path(get, path = "/api/v1/stream", tag = "picture", params(StreamQuery),
    responses((status = 200, description = "Server-sent events `track`, `alert`, `facility`, `event` (assessed events as they are decided; JSON as the REST items) and `lagged`; `checkpoint` (JSON: origin, size, root, time, note) with the latest signed audit checkpoint first and each new one as it is signed", content_type = "text/event-stream", body = String)),
    security(("bearer" = [])))]
/// The event stream.
pub async fn stream(
    State(s): State<AppState>,
    p: Principal,
    headers: axum::http::HeaderMap,
    q: Result<Query<StreamQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    if !p.role.can_read() {
        return Err(ApiError::forbidden("read the stream"));
    }
    let Query(q) = q.map_err(|e| ApiError::bad_field("kinds", e.body_text()))?;
    let kinds = kinds(&q)?;
    let feed = Feed::new(
        &s.hub,
        s.policy.clone(),
        p.org.clone(),
        kinds,
        s.clock.now(),
        s.metrics.clone(),
    );
    let session = Session::open(s.audit_sink.clone(), s.metrics.clone(), p.actor(), "sse").await;
    let shutdown = s.shutdown.clone();
    let mut checkpoints = s.checkpoints.subscribe();
    // The latest checkpoint goes first.
    checkpoints.mark_changed();
    let (hub, clock, tokens) = (s.hub.clone(), s.clock.clone(), s.tokens.clone());
    // A person's stream (signed in to the console) ends with their session.
    let cookie = p
        .via
        .starts_with("user:")
        .then(|| crate::console::session::cookie_token(&headers))
        .flatten();
    let sessions = s.console.sessions.clone();
    let stream = futures::stream::unfold(
        (feed, session, shutdown, checkpoints),
        move |(mut feed, session, shutdown, mut checkpoints)| {
            let (hub, clock, tokens, p) = (hub.clone(), clock.clone(), tokens.clone(), p.clone());
            let (cookie, sessions) = (cookie.clone(), sessions.clone());
            async move {
                let session_ended = async {
                    match &cookie {
                        Some(c) => sessions.ended(c).await,
                        None => std::future::pending().await,
                    }
                };
                let ev = tokio::select! {
                    biased;
                    () = shutdown.cancelled() => return None,
                    // A revoked token's stream ends, and a signed-out person's.
                    () = tokens.revoked(&p) => return None,
                    () = session_ended => return None,
                    Ok(()) = checkpoints.changed() => {
                        let cp = checkpoints.borrow_and_update().clone();
                        match cp {
                            Some(cp) => checkpoint(&cp),
                            None => Event::default().comment("no checkpoint yet"),
                        }
                    }
                    d = feed.next() => match d? {
                        Delivery::Item(r) => {
                            session.delivered(&r).await;
                            encode(&r)
                        }
                        Delivery::Lagged => {
                            feed.resync(&hub, clock.now());
                            lagged()
                        }
                    },
                };
                Some((Ok(ev), (feed, session, shutdown, checkpoints)))
            }
        },
    );
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}
