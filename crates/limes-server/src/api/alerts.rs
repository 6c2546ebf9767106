//! Alerts: list and filter, read one, the operators' life-cycle actions, and the nuisance
//! counts (resolutions, and the assessed events beside them). Alerts are named by the caller's opaque ids; one that does not exist, is not
//! released to the caller, or (for an action) is not released to it in full, gets the same
//! `404 no such alert`.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use limes_core::record::{AlertKind, AlertState, Severity};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::listing::{query_error, time_param, Listing};
use super::{json_body, parse_body, ApiError, AppState, Body};
use crate::audit::AuditDraft;
use crate::auth::Principal;
use crate::lifecycle::{self, Action, Resolution, ALERT_COLUMNS};
use crate::release::{AlertView, IdKind, Item, Lifecycle, Out};

/// Filters for `GET /api/v1/alerts`; all optional and combined with AND.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct Filter {
    kind: Option<AlertKind>,
    severity: Option<Severity>,
    sector: Option<String>,
    facility: Option<String>,
    /// Open or closed (the rules' view).
    state: Option<AlertState>,
    /// new, acknowledged, assigned, resolved (the operators' view).
    status: Option<Lifecycle>,
    /// RFC 3339; alerts whose latest revision is at or after this.
    since: Option<String>,
    /// RFC 3339; alerts whose latest revision is before this.
    until: Option<String>,
    limit: Option<usize>,
}

#[utoipa::path(get, path = "/api/v1/alerts", tag = "alerts", params(Filter),
    responses((status = 200, description = "Alerts released to the caller, newest first", body = super::openapi::AlertList),
        (status = 400, description = "Bad request (the field is named in details)", body = super::openapi::ErrorBody), (status = 403, description = "Your role or organisation may not", body = super::openapi::ErrorBody)),
    security(("bearer" = [])))]
/// The alerts released to the caller that match the filter, newest first.
pub async fn list(
    State(s): State<AppState>,
    p: Principal,
    q: Result<Query<Filter>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    if !p.role.can_read() {
        return Err(ApiError::forbidden("read alerts"));
    }
    let Query(f) = q.map_err(query_error)?;
    let (policy, org) = (s.policy.clone(), p.org.clone());
    let released = Listing::new(ALERT_COLUMNS, "alerts", &f.since, &f.until, f.limit)?
        .eq("kind", f.kind.map(|k| k.name().to_string()))
        .eq("severity", f.severity.map(|x| x.name().to_string()))
        .eq("sector", f.sector)
        .eq("facility", f.facility)
        .eq("state", f.state.map(|x| x.name().to_string()))
        // The status is matched on what is released: a partner given an alert below full sees
        // only new or resolved, and a filter on the stored status would tell it when someone
        // acknowledged or assigned it.
        .read(&s.store, lifecycle::row_view, move |v| {
            let out = policy.release(&org, &Item::Alert(v.into()))?.out;
            match (&out, f.status) {
                (Out::Alert(a), Some(want)) if a.status() != want => None,
                _ => Some(out),
            }
        })
        .await?;
    let ids: Vec<&str> = released.iter().map(Out::id).collect();
    s.audit(&p, "read.alerts", "alerts", json!({ "ids": ids }))
        .await?;
    Ok(Json(json!({ "alerts": released })))
}

/// The alert behind the caller's opaque id, from the live picture or the store.
async fn view(s: &AppState, p: &Principal, id: &str) -> Result<(u64, AlertView), ApiError> {
    let internal = s
        .policy
        .ids()
        .internal(IdKind::Alert, &p.org, id)
        .ok_or_else(ApiError::no_alert)?;
    if let Some(v) = s.hub.alert(internal) {
        return Ok((internal, (*v).clone()));
    }
    let v = s
        .store
        .read(move |c| lifecycle::load(c, internal))
        .await?
        .ok_or_else(ApiError::no_alert)?;
    Ok((internal, v))
}

#[utoipa::path(get, path = "/api/v1/alerts/{id}", tag = "alerts",
    params(("id" = String, Path, description = "The alert's id for the caller's organisation")),
    responses((status = 200, description = "The alert as released", body = crate::release::AlertOut),
        (status = 404, description = "No such alert (or not released: the same answer)", body = super::openapi::ErrorBody)),
    security(("bearer" = [])))]
/// One alert, as released to the caller.
pub async fn one(
    State(s): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    if !p.role.can_read() {
        return Err(ApiError::forbidden("read alerts"));
    }
    let (_, v) = view(&s, &p, &id).await?;
    let r = s
        .policy
        .release(&p.org, &Item::Alert(v.into()))
        .ok_or_else(ApiError::no_alert)?;
    let rev = match &r.out {
        Out::Alert(a) => a.rev(),
        _ => 0,
    };
    s.audit(
        &p,
        "read.alert",
        format!("alert/{id}"),
        json!({ "rev": rev, "detail": r.detail }),
    )
    .await?;
    Ok(Json(serde_json::to_value(&r.out).unwrap_or_default()))
}

/// Body of `assign`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignBody {
    unit: String,
    note: Option<String>,
}

/// Body of `resolve`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveBody {
    reason: Resolution,
    note: Option<String>,
}

/// Body of `ack` (optional).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AckBody {
    note: Option<String>,
}

/// Longest operator note, characters.
const MAX_NOTE: usize = 2000;

async fn act(
    s: AppState,
    p: Principal,
    id: String,
    action: Action,
    note: Option<String>,
) -> Result<Json<Value>, ApiError> {
    if !p.role.can_operate() {
        return Err(ApiError::forbidden("change alerts"));
    }
    if note.as_ref().is_some_and(|n| n.chars().count() > MAX_NOTE) {
        return Err(ApiError::bad_field(
            "note",
            format!("longer than {MAX_NOTE} characters"),
        ));
    }
    let (internal, v) = view(&s, &p, &id).await?;
    if !s.policy.full_alert(&p.org, &v) {
        return Err(ApiError::no_alert());
    }
    if let Action::Assign(u) = &action {
        if !s.site.units.iter().any(|x| &x.id == u) {
            return Err(ApiError::bad_field(
                "unit",
                format!("no response unit {u:?} in the site file"),
            ));
        }
    }
    let actor = p.actor();
    let now = s.clock.now();
    let detail = match &action {
        Action::Ack => json!({ "note": note }),
        Action::Assign(u) => json!({ "unit": u, "note": note }),
        Action::Resolve(r) => json!({ "reason": r, "note": note }),
    };
    let name = action.name();
    let a2 = actor.clone();
    let life = s
        .store
        .change(
            Box::new(move |c| {
                let life = lifecycle::apply(c, internal, &action, note, &a2, now)?;
                serde_json::to_value(LifeWire::from(&life))
                    .map_err(|e| crate::store::StoreError::Refused(e.to_string()))
            }),
            AuditDraft::new(actor, name, format!("alert/{id}"), detail),
        )
        .await?;
    let life: LifeWire = serde_json::from_value(life)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let v = s
        .hub
        .alert_life(internal, life.into())
        .unwrap_or_else(|| v.into());
    let r = s
        .policy
        .release(&p.org, &Item::Alert(v))
        .ok_or_else(ApiError::no_alert)?;
    Ok(Json(serde_json::to_value(&r.out).unwrap_or_default()))
}

/// The life cycle as the writer hands it back (with its version, which the API does not show).
#[derive(Serialize, Deserialize)]
struct LifeWire {
    status: Lifecycle,
    unit: Option<String>,
    resolution: Option<String>,
    note: Option<String>,
    changed_by: Option<String>,
    version: u64,
}

impl From<&crate::release::AlertLife> for LifeWire {
    fn from(l: &crate::release::AlertLife) -> Self {
        Self {
            status: l.status,
            unit: l.unit.clone(),
            resolution: l.resolution.clone(),
            note: l.note.clone(),
            changed_by: l.changed_by.clone(),
            version: l.version,
        }
    }
}

impl From<LifeWire> for crate::release::AlertLife {
    fn from(l: LifeWire) -> Self {
        Self {
            status: l.status,
            unit: l.unit,
            resolution: l.resolution,
            note: l.note,
            changed_by: l.changed_by,
            version: l.version,
        }
    }
}

#[utoipa::path(post, path = "/api/v1/alerts/{id}/ack", tag = "alerts",
    params(("id" = String, Path)), request_body = Option<AckBody>,
    responses((status = 200, description = "new → acknowledged", body = crate::release::AlertOut),
        (status = 403, description = "Your role or organisation may not", body = super::openapi::ErrorBody),
        (status = 404, description = "No such alert released to the caller in full", body = super::openapi::ErrorBody),
        (status = 409, description = "Not allowed from the current state", body = super::openapi::ErrorBody)),
    security(("bearer" = [])))]
/// new → acknowledged.
pub async fn ack(
    State(s): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
    Body(body, _held): Body,
) -> Result<Json<Value>, ApiError> {
    let b: AckBody = json_body(&body)?;
    act(s, p, id, Action::Ack, b.note).await
}

#[utoipa::path(post, path = "/api/v1/alerts/{id}/assign", tag = "alerts",
    params(("id" = String, Path)), request_body = AssignBody,
    responses((status = 200, description = "→ assigned to a response unit", body = crate::release::AlertOut),
        (status = 403, description = "Your role or organisation may not", body = super::openapi::ErrorBody),
        (status = 404, description = "No such alert released to the caller in full", body = super::openapi::ErrorBody),
        (status = 409, description = "Not allowed from the current state", body = super::openapi::ErrorBody)),
    security(("bearer" = [])))]
/// → assigned to a response unit.
pub async fn assign(
    State(s): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
    Body(body, _held): Body,
) -> Result<Json<Value>, ApiError> {
    let b: AssignBody = parse_body(&body)?;
    act(s, p, id, Action::Assign(b.unit), b.note).await
}

#[utoipa::path(post, path = "/api/v1/alerts/{id}/resolve", tag = "alerts",
    params(("id" = String, Path)), request_body = ResolveBody,
    responses((status = 200, description = "→ resolved with a reason", body = crate::release::AlertOut),
        (status = 403, description = "Your role or organisation may not", body = super::openapi::ErrorBody),
        (status = 404, description = "No such alert released to the caller in full", body = super::openapi::ErrorBody),
        (status = 409, description = "Not allowed from the current state", body = super::openapi::ErrorBody)),
    security(("bearer" = [])))]
/// → resolved, with a reason.
pub async fn resolve(
    State(s): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
    Body(body, _held): Body,
) -> Result<Json<Value>, ApiError> {
    let b: ResolveBody = parse_body(&body)?;
    act(s, p, id, Action::Resolve(b.reason), b.note).await
}

/// Query of the nuisance counts.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct NuisanceQuery {
    /// RFC 3339: resolutions (and events) at or after this (all by default).
    since: Option<String>,
}

/// One nuisance count.
#[derive(Debug, Serialize, PartialEq, Eq, PartialOrd, Ord, utoipa::ToSchema)]
pub struct NuisanceRow {
    /// What was counted: `resolution` (alerts operators resolved as nuisance) or `event`
    /// (alarms assessed and kept from the operators).
    pub from: &'static str,
    /// `sensor`, `zone` (frontier sector or facility, else `unzoned`) or, for events,
    /// `fence_zone` (controller/zone).
    pub scope: &'static str,
    /// The sensor or zone.
    pub key: String,
    /// The resolution reason, or the event's assessment reason.
    pub reason: String,
    /// How many.
    pub n: u64,
}

#[utoipa::path(get, path = "/api/v1/nuisance", tag = "alerts", params(NuisanceQuery),
    responses((status = 200, description = "OK", body = super::openapi::NuisanceList), (status = 403, description = "Your role or organisation may not", body = super::openapi::ErrorBody)),
    security(("bearer" = [])))]
/// Nuisance resolutions per sensor and per zone, counted over the alerts the caller receives in
/// full, and beside them the assessed events it receives in full (operators and up): what a
/// supervisor tunes thresholds from, and where a fence keeps raising alarms the cameras explain
/// away (a failing fence, or someone probing it).
pub async fn nuisance(
    State(s): State<AppState>,
    p: Principal,
    q: Result<Query<NuisanceQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    if !p.role.can_operate() {
        return Err(ApiError::forbidden("read nuisance counts"));
    }
    let Query(q) = q.map_err(query_error)?;
    let since = time_param("since", &q.since)?.unwrap_or(f64::NEG_INFINITY);
    let (policy, org) = (s.policy.clone(), p.org.clone());
    let rows = s
        .store
        .read(move |c| {
            let mut stmt = c.prepare(&format!(
                "SELECT {ALERT_COLUMNS} FROM alerts WHERE status = 'resolved'
                 AND resolution IS NOT NULL AND resolution != 'confirmed' AND changed_at >= ?1"
            ))?;
            let views = stmt.query_map([since], lifecycle::row_view)?;
            let mut counts = lifecycle::NuisanceCounts::new();
            for v in views {
                let Some(v) = v? else { continue };
                if !policy.full_alert(&org, &v) {
                    continue;
                }
                let reason = v.life.resolution.clone().unwrap_or_default();
                lifecycle::count_nuisance(&mut counts, &v, reason);
            }
            for g in crate::store::events::groups(c, since, f64::INFINITY)? {
                if policy.full_event_at(&org, g.source, &g.pos) {
                    lifecycle::count_events(&mut counts, &g);
                }
            }
            let mut rows: Vec<NuisanceRow> = counts
                .into_iter()
                .map(|((from, scope, key, reason), n)| NuisanceRow {
                    from,
                    scope,
                    key,
                    reason,
                    n,
                })
                .collect();
            rows.sort_by(|a, b| b.n.cmp(&a.n).then_with(|| a.cmp(b)));
            Ok(rows)
        })
        .await?;
    s.audit(
        &p,
        "read.nuisance",
        "nuisance",
        json!({ "rows": rows.len() }),
    )
    .await?;
    Ok(Json(json!({ "nuisance": rows })))
}

/// Parses `data` as each operator body (fuzzing).
pub(super) fn fuzz_bodies(data: &[u8]) {
    let _ = json_body::<AckBody>(data);
    let _ = parse_body::<AssignBody>(data);
    let _ = parse_body::<ResolveBody>(data);
}
