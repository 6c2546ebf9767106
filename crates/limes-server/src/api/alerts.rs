//! Alerts: list and filter, read one, its CAP message, and the operator's life-cycle actions.

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use limes_core::site::Detail;
use rusqlite::params_from_iter;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{json_body, parse_body, ApiError, AppState};
use crate::audit::AuditDraft;
use crate::auth::Principal;
use crate::lifecycle::{self, Action, Resolution};
use crate::release::{AlertView, Item};

/// Filters for `GET /api/v1/alerts`; all optional and combined with AND.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filter {
    kind: Option<String>,
    severity: Option<String>,
    sector: Option<String>,
    facility: Option<String>,
    /// Open or closed (the rules' view).
    state: Option<String>,
    /// new, acknowledged, assigned, resolved (the operators' view).
    status: Option<String>,
    /// RFC 3339; alerts whose latest revision is at or after this.
    since: Option<String>,
    /// RFC 3339; alerts whose latest revision is before this.
    until: Option<String>,
    limit: Option<usize>,
}

fn time_param(field: &str, v: &Option<String>) -> Result<Option<f64>, ApiError> {
    v.as_deref()
        .map(|s| {
            chrono::DateTime::parse_from_rfc3339(s)
                .map(|t| t.timestamp_micros() as f64 / 1e6)
                .map_err(|e| {
                    ApiError::bad_field(
                        field,
                        format!("{field}: {s:?} is not an RFC 3339 time ({e})"),
                    )
                })
        })
        .transpose()
}

/// The alerts released to the caller that match the filter, newest first.
pub async fn list(
    State(s): State<AppState>,
    p: Principal,
    q: Result<Query<Filter>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    if !p.role.can_read() {
        return Err(ApiError::forbidden("read alerts"));
    }
    let Query(f) = q.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.body_text()))?;
    let since = time_param("since", &f.since)?;
    let until = time_param("until", &f.until)?;
    let limit = f.limit.unwrap_or(200).clamp(1, 5000);
    let mut sql = String::from(
        "SELECT body, status, unit, resolution, note, changed_by FROM alerts WHERE 1 = 1",
    );
    let mut args: Vec<rusqlite::types::Value> = Vec::new();
    for (col, v) in [
        ("kind", &f.kind),
        ("severity", &f.severity),
        ("sector", &f.sector),
        ("facility", &f.facility),
        ("state", &f.state),
        ("status", &f.status),
    ] {
        if let Some(v) = v {
            sql.push_str(&format!(" AND {col} = ?"));
            args.push(v.clone().into());
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
    let views = s
        .store
        .read(move |c| {
            let mut stmt = c.prepare(&sql)?;
            let rows = stmt.query_map(params_from_iter(args), lifecycle::row_view)?;
            let mut out = Vec::new();
            for r in rows {
                if let Some(v) = r? {
                    out.push(v);
                }
            }
            Ok(out)
        })
        .await?;
    let released: Vec<Value> = views
        .into_iter()
        .filter_map(|v| s.policy.release(&p.org, &Item::Alert(Box::new(v))))
        .take(limit)
        .map(|r| r.body)
        .collect();
    let ids: Vec<&Value> = released.iter().map(|b| &b["id"]).collect();
    s.audit(&p, "read.alerts", "alerts", json!({ "ids": ids }))
        .await?;
    Ok(Json(json!({ "alerts": released })))
}

async fn view(s: &AppState, id: u64) -> Result<AlertView, ApiError> {
    s.store
        .read(move |c| lifecycle::load(c, id))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no alert {id}")))
}

/// One alert, as released to the caller (404 when it is not released to them).
pub async fn one(
    State(s): State<AppState>,
    p: Principal,
    Path(id): Path<u64>,
) -> Result<Json<Value>, ApiError> {
    if !p.role.can_read() {
        return Err(ApiError::forbidden("read alerts"));
    }
    let v = view(&s, id).await?;
    let r = s
        .policy
        .release(&p.org, &Item::Alert(Box::new(v)))
        .ok_or_else(|| ApiError::not_found(format!("no alert {id}")))?;
    s.audit(
        &p,
        "read.alert",
        format!("alert/{id}"),
        json!({ "rev": r.body["rev"], "detail": r.detail }),
    )
    .await?;
    Ok(Json(r.body))
}

/// Query of the CAP endpoint.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CapQuery {
    rev: Option<u32>,
}

/// The CAP 1.2 message for an alert revision (the latest by default), as released to the caller.
pub async fn cap(
    State(s): State<AppState>,
    p: Principal,
    Path(id): Path<u64>,
    Query(q): Query<CapQuery>,
) -> Result<Response, ApiError> {
    if !p.role.can_read() {
        return Err(ApiError::forbidden("read alerts"));
    }
    let mut v = view(&s, id).await?;
    if q.rev.is_some() {
        // A past revision as it was issued: before any operator resolved the alert.
        v.status = crate::release::Lifecycle::New;
        v.resolution = None;
    }
    if let Some(rev) = q.rev.filter(|r| *r != v.alert.rev) {
        let body: Option<String> = s
            .store
            .read(move |c| {
                use rusqlite::OptionalExtension;
                Ok(c.query_row(
                    "SELECT body FROM alert_revs WHERE id = ?1 AND rev = ?2",
                    (id as i64, rev),
                    |r| r.get(0),
                )
                .optional()?)
            })
            .await?;
        let body =
            body.ok_or_else(|| ApiError::not_found(format!("alert {id} has no revision {rev}")))?;
        v.alert = serde_json::from_str(&body)
            .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    }
    let org = s.policy.org(&p.org).cloned();
    let r = s.policy.release(&p.org, &Item::Alert(Box::new(v.clone())));
    let (Some(org), Some(r)) = (org, r) else {
        return Err(ApiError::not_found(format!("no alert {id}")));
    };
    let ring = v
        .alert
        .facility
        .as_ref()
        .and_then(|f| s.site.facilities.iter().find(|x| &x.id == f))
        .map(|f| f.perimeter.as_slice());
    let xml = crate::cap::message(&s.site.name, &org, &v, &r, ring);
    s.audit(
        &p,
        "read.cap",
        format!("alert/{id}"),
        json!({ "rev": v.alert.rev }),
    )
    .await?;
    Ok(([(header::CONTENT_TYPE, "application/cap+xml")], xml).into_response())
}

/// Body of `assign`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssignBody {
    unit: String,
    note: Option<String>,
}

/// Body of `resolve`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResolveBody {
    reason: Resolution,
    note: Option<String>,
}

/// Body of `ack` (optional).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AckBody {
    note: Option<String>,
}

async fn act(
    s: AppState,
    p: Principal,
    id: u64,
    action: Action,
    note: Option<String>,
) -> Result<Json<Value>, ApiError> {
    if !p.role.can_operate() {
        return Err(ApiError::forbidden("change alerts"));
    }
    let v = view(&s, id).await?;
    if s.policy
        .release(&p.org, &Item::Alert(Box::new(v)))
        .map(|r| r.detail)
        != Some(Detail::Full)
    {
        return Err(ApiError::not_found(format!(
            "no alert {id} released to {} in full",
            p.org
        )));
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
    let out = s
        .store
        .change(
            Box::new(move |c| {
                Ok(
                    serde_json::to_value(lifecycle::apply(c, id, &action, note, &a2, now)?)
                        .unwrap_or_default(),
                )
            }),
            AuditDraft::new(actor, name, format!("alert/{id}"), detail),
        )
        .await?;
    if let Ok(v) = serde_json::from_value::<AlertView>(out.clone()) {
        s.hub.publish(Item::Alert(Box::new(v)), None);
    }
    Ok(Json(out))
}

/// new → acknowledged.
pub async fn ack(
    State(s): State<AppState>,
    p: Principal,
    Path(id): Path<u64>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    let b: AckBody = json_body(&body)?;
    act(s, p, id, Action::Ack, b.note).await
}

/// → assigned to a response unit.
pub async fn assign(
    State(s): State<AppState>,
    p: Principal,
    Path(id): Path<u64>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    let b: AssignBody = parse_body(&body)?;
    act(s, p, id, Action::Assign(b.unit), b.note).await
}

/// → resolved, with a reason.
pub async fn resolve(
    State(s): State<AppState>,
    p: Principal,
    Path(id): Path<u64>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    let b: ResolveBody = parse_body(&body)?;
    act(s, p, id, Action::Resolve(b.reason), b.note).await
}

/// Nuisance resolutions per sensor and per zone (operators and admins).
pub async fn nuisance(State(s): State<AppState>, p: Principal) -> Result<Json<Value>, ApiError> {
    if !p.role.can_operate() {
        return Err(ApiError::forbidden("read nuisance counts"));
    }
    let rows = s.store.read(lifecycle::nuisance).await?;
    s.audit(
        &p,
        "read.nuisance",
        "nuisance",
        json!({ "rows": rows.len() }),
    )
    .await?;
    let rows: Vec<Value> = rows
        .into_iter()
        .map(|(scope, key, reason, n)| json!({ "scope": scope, "key": key, "reason": reason, "n": n }))
        .collect();
    Ok(Json(json!({ "nuisance": rows })))
}

/// Parses `data` as each operator body (fuzzing).
pub(super) fn fuzz_bodies(data: &[u8]) {
    let _ = json_body::<AckBody>(data);
    let _ = parse_body::<AssignBody>(data);
    let _ = parse_body::<ResolveBody>(data);
}
