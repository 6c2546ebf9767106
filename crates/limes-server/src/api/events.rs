//! Assessed events: alarms the engine kept from the operators (a fence alarm the cameras
//! covered and found nothing behind, an approach by a herd or a walker who turned back), listed
//! and read one by one. Each is released as the alert it would have been; one that does not
//! exist or is not released to the caller gets the same `404 no such event`.

use axum::extract::{Path, Query, State};
use axum::Json;
use limes_core::record::{AssessReason, EventRecord, EventSource};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

use super::listing::{query_error, Listing};
use super::{ApiError, AppState};
use crate::auth::Principal;
use crate::release::{IdKind, Item, Out};
use crate::store::events;

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
    /// A fence zone (`controller/zone`); events are only ever released in full, so a zone
    /// matches only events whose zone the caller may see.
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
    let (policy, org) = (s.policy.clone(), p.org.clone());
    let listing = Listing::new("body", "events", &f.since, &f.until, f.limit)?;
    if !policy.may_see_events(&org) {
        // Nothing could be released to it: answer as for an empty table, without reading it.
        s.audit(&p, "read.events", "events", json!({ "ids": [] }))
            .await?;
        return Ok(Json(json!({ "events": [] })));
    }
    let released = listing
        .eq("source", f.source.map(|x| x.name().to_string()))
        .eq("reason", f.reason.map(|x| x.name().to_string()))
        .eq("sector", f.sector)
        .eq("zone", f.zone)
        .read(&s.store, events::row_event, move |e| {
            policy
                .release(&org, &Item::Event(Arc::new(e)))
                .map(|r| r.out)
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
