//! Assessed events: alarms the engine kept from the operators (a fence alarm the cameras
//! covered and found nothing behind, an approach by a herd or a walker who turned back), listed
//! and read one by one. Each is released as the alert it would have been; one that does not
//! exist or is not released to the caller gets the same `404 no such event`.

use axum::extract::{Path, Query, State};
use axum::Json;
use limes_core::record::{AssessReason, EventRecord, EventSource};
use rusqlite::params_from_iter;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

use super::alerts::{query_error, time_param};
use super::{ApiError, AppState};
use crate::auth::Principal;
use crate::release::{IdKind, Item, Out};
use crate::store::events;
use limes_core::site::Detail;

/// Filters for `GET /api/v1/events`; all optional and combined with AND.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventFilter {
    /// fence_climb, fence_vibration, approach.
    source: Option<EventSource>,
    /// The assessment's reason.
    reason: Option<AssessReason>,
    sector: Option<String>,
    /// A fence zone (`controller/zone`); only events released in full name their zone, so
    /// only those match.
    zone: Option<String>,
    /// RFC 3339; events whose alarm is at or after this.
    since: Option<String>,
    /// RFC 3339; events whose alarm is before this.
    until: Option<String>,
    /// At most this many (200 by default, 5000 at most).
    limit: Option<usize>,
}

#[utoipa::path(get, path = "/api/v1/events", tag = "alerts", params(EventFilter),
    responses((status = 200, description = "Assessed events released to the caller, newest first", body = super::openapi::EventList),
        (status = 400, description = "Bad request (the field is named in details)", body = super::openapi::ErrorBody), (status = 403, description = "Your role may not", body = super::openapi::ErrorBody)),
    security(("bearer" = [])))]
/// The assessed events released to the caller that match the filter, newest first.
pub async fn list_events(
    State(s): State<AppState>,
    p: Principal,
    q: Result<Query<EventFilter>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    if !p.role.can_read() {
        return Err(ApiError::forbidden("read events"));
    }
    let Query(f) = q.map_err(query_error)?;
    let since = time_param("since", &f.since)?;
    let until = time_param("until", &f.until)?;
    let limit = f.limit.unwrap_or(200).clamp(1, 5000);
    let mut sql = "SELECT body FROM events WHERE 1 = 1".to_string();
    let mut args: Vec<rusqlite::types::Value> = Vec::new();
    for (col, v) in [
        ("source", f.source.map(|x| x.name().to_string())),
        ("reason", f.reason.map(|x| x.name().to_string())),
        ("sector", f.sector.clone()),
        ("zone", f.zone.clone()),
    ] {
        if let Some(v) = v {
            sql.push_str(&format!(" AND {col} = ?"));
            args.push(v.into());
        }
    }
    if let Some(t) = since {
        sql.push_str(" AND time >= ?");
        args.push(t.into());
    }
    if let Some(t) = until {
        sql.push_str(" AND time < ?");
        args.push(t.into());
    }
    sql.push_str(" ORDER BY time DESC, id DESC");
    // Filtering by zone must not tell a caller the zone of an event it is not shown in full.
    let need_full = f.zone.is_some();
    let (policy, org) = (s.policy.clone(), p.org.clone());
    // Rows are read lazily and released one by one, until `limit` are released.
    let released = s
        .store
        .read(move |c| {
            let mut stmt = c.prepare(&sql)?;
            let rows = stmt.query_map(params_from_iter(args), events::row_event)?;
            let mut out = Vec::new();
            for r in rows {
                let Some(e) = r? else { continue };
                let Some(r) = policy.release(&org, &Item::Event(Arc::new(e))) else {
                    continue;
                };
                if need_full && r.detail != Detail::Full {
                    continue;
                }
                out.push(r.out);
                if out.len() >= limit {
                    break;
                }
            }
            Ok(out)
        })
        .await?;
    let ids: Vec<&str> = released.iter().map(Out::id).collect();
    s.audit(&p, "read.events", "events", json!({ "ids": ids }))
        .await?;
    Ok(Json(json!({ "events": released })))
}

/// The event behind the caller's opaque id, from the hub's recent window or the store.
async fn record(s: &AppState, p: &Principal, id: &str) -> Result<EventRecord, ApiError> {
    let internal = s
        .policy
        .ids()
        .internal(IdKind::Event, &p.org, id)
        .ok_or_else(ApiError::no_event)?;
    if let Some(e) = s.hub.event_by_id(internal) {
        return Ok((*e).clone());
    }
    s.store
        .read(move |c| events::load(c, internal))
        .await?
        .ok_or_else(ApiError::no_event)
}

#[utoipa::path(get, path = "/api/v1/events/{id}", tag = "alerts",
    params(("id" = String, Path, description = "The event's id for the caller's organisation")),
    responses((status = 200, description = "The event as released", body = crate::release::EventOut),
        (status = 403, description = "Your role may not", body = super::openapi::ErrorBody),
        (status = 404, description = "No such event (or not released: the same answer)", body = super::openapi::ErrorBody)),
    security(("bearer" = [])))]
/// One assessed event, as released to the caller.
pub async fn one_event(
    State(s): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    if !p.role.can_read() {
        return Err(ApiError::forbidden("read events"));
    }
    let e = record(&s, &p, &id).await?;
    let r = s
        .policy
        .release(&p.org, &Item::Event(Arc::new(e)))
        .ok_or_else(ApiError::no_event)?;
    s.audit(
        &p,
        "read.event",
        format!("event/{id}"),
        json!({ "detail": r.detail }),
    )
    .await?;
    Ok(Json(serde_json::to_value(&r.out).unwrap_or_default()))
}
