//! Tracks, facilities, statistics, the audit log and tokens.

use axum::extract::{Path, Query, State};
use axum::Json;
use limes_core::site::{Detail, FacilityField, FacilityStatus};
use rusqlite::{params, OptionalExtension};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashMap;

use super::{parse_body, ApiError, AppState, Body};
use crate::audit::{self, AuditDraft};
use crate::auth::{self, Principal, Role};
use crate::hub::FacilityOps;
use crate::release::{DataKind, Item, Out};

#[utoipa::path(get, path = "/api/v1/tracks", tag = "picture",
    responses((status = 200, description = "Live tracks released to the caller", body = super::openapi::TrackList)),
    security(("bearer" = [])))]
/// Live tracks released to the caller.
pub async fn tracks(State(s): State<AppState>, p: Principal) -> Result<Json<Value>, ApiError> {
    if !p.role.can_read() {
        return Err(ApiError::forbidden("read tracks"));
    }
    let now = s.clock.now();
    let items: Vec<Out> = s
        .hub
        .snapshot(now)
        .into_iter()
        .filter(|i| i.kind() == DataKind::Track)
        .filter_map(|i| s.policy.release(&p.org, &i))
        .map(|r| r.out)
        .collect();
    s.audit(&p, "read.tracks", "tracks", json!({ "n": items.len() }))
        .await?;
    Ok(Json(json!({ "tracks": items })))
}

#[utoipa::path(get, path = "/api/v1/facilities", tag = "picture",
    responses((status = 200, description = "OK", body = super::openapi::FacilityList)),
    security(("bearer" = [])))]
/// Facilities released to the caller.
pub async fn facilities(State(s): State<AppState>, p: Principal) -> Result<Json<Value>, ApiError> {
    if !p.role.can_read() {
        return Err(ApiError::forbidden("read facilities"));
    }
    let items: Vec<Out> = s
        .hub
        .with(|pic| pic.facilities.values().cloned().collect::<Vec<_>>())
        .into_iter()
        .filter_map(|f| s.policy.release(&p.org, &Item::Facility(f)))
        .map(|r| r.out)
        .collect();
    let ids: Vec<&str> = items.iter().map(Out::id).collect();
    s.audit(&p, "read.facilities", "facilities", json!({ "ids": ids }))
        .await?;
    Ok(Json(json!({ "facilities": items })))
}

/// An operator's update to a facility; every field optional.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FacilityUpdate {
    status: Option<FacilityStatus>,
    head_count: Option<u32>,
    guards: Option<u32>,
    note: Option<String>,
}

/// Largest head count or guard count an operator may enter.
const MAX_COUNT: u32 = 1_000_000;

#[utoipa::path(post, path = "/api/v1/facilities/{id}", tag = "picture",
    params(("id" = String, Path)), request_body = FacilityUpdate,
    responses((status = 200, description = "OK", body = crate::release::FacilityOut),
        (status = 403, description = "A field the organisation may not set", body = super::openapi::ErrorBody),
        (status = 404, description = "Not found", body = super::openapi::ErrorBody)),
    security(("bearer" = [])))]
/// Updates a facility (a guard force withdrawn, a head count taken): only the fields the
/// site's policy lets the caller's organisation set, on a facility released to it in full.
pub async fn update_facility(
    State(s): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
    Body(body, _held): Body,
) -> Result<Json<Value>, ApiError> {
    if !p.role.can_operate() {
        return Err(ApiError::forbidden("update facilities"));
    }
    let u: FacilityUpdate = parse_body(&body)?;
    let org = s.policy.org(&p.org).cloned();
    let Some(org) = org
        .filter(|o| o.facilities >= Detail::Full && s.site.facilities.iter().any(|f| f.id == id))
    else {
        return Err(ApiError::not_found("no such facility"));
    };
    if org.facility_writes.is_empty() {
        return Err(ApiError::new(
            axum::http::StatusCode::FORBIDDEN,
            "your organisation may not update facilities",
        ));
    }
    if u.status.is_none() && u.head_count.is_none() && u.guards.is_none() && u.note.is_none() {
        return Err(ApiError::new(
            axum::http::StatusCode::BAD_REQUEST,
            "an update sets at least one of status, head_count, guards, note",
        ));
    }
    for (field, set) in [
        (FacilityField::Status, u.status.is_some()),
        (FacilityField::HeadCount, u.head_count.is_some()),
        (FacilityField::Guards, u.guards.is_some()),
        (FacilityField::Note, u.note.is_some()),
    ] {
        if set && !org.facility_writes.contains(&field) {
            return Err(ApiError {
                status: axum::http::StatusCode::FORBIDDEN,
                message: format!(
                    "your organisation may not set `{}` of facilities",
                    field.name()
                ),
                details: json!({ "field": field.name() }),
            });
        }
    }
    for (field, v) in [("head_count", u.head_count), ("guards", u.guards)] {
        if v.is_some_and(|n| n > MAX_COUNT) {
            return Err(ApiError::bad_field(field, format!("at most {MAX_COUNT}")));
        }
    }
    if u.note.as_ref().is_some_and(|n| n.chars().count() > 2000) {
        return Err(ApiError::bad_field("note", "longer than 2000 characters"));
    }
    let (_, exits) = s.hub.facility_state(&id);
    let now = s.clock.now();
    let actor = p.actor();
    let (id2, a2) = (id.clone(), actor.clone());
    let (status, head, guards, note) = (u.status, u.head_count, u.guards, u.note.clone());
    // Read, change and write inside the writer's transaction: concurrent updates to different
    // fields both land, and each gets the next version.
    let ops = s
        .store
        .change(
            Box::new(move |c| {
                let mut ops = load_ops(c, &id2)?.unwrap_or_default();
                if let Some(st) = status {
                    ops.status = Some((st, now));
                }
                if let Some(n) = head {
                    ops.head_count = Some(n);
                    ops.exits_at_count = exits;
                }
                if guards.is_some() {
                    ops.guards = guards;
                }
                if note.is_some() {
                    ops.note = note;
                }
                ops.changed_by = Some(a2);
                ops.version += 1;
                c.execute(
                    "INSERT INTO facilities (id, status, status_at, head_count, exits_at_count, guards, note, changed_by, changed_at, version)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
                     ON CONFLICT(id) DO UPDATE SET status = excluded.status, status_at = excluded.status_at,
                       head_count = excluded.head_count, exits_at_count = excluded.exits_at_count,
                       guards = excluded.guards, note = excluded.note, changed_by = excluded.changed_by,
                       changed_at = excluded.changed_at, version = excluded.version",
                    params![
                        id2,
                        ops.status.map(|s| s.0.name()),
                        ops.status.map(|s| s.1),
                        ops.head_count,
                        ops.exits_at_count,
                        ops.guards,
                        ops.note,
                        ops.changed_by,
                        now,
                        ops.version as i64
                    ],
                )?;
                Ok(json!(ops.version))
            }),
            AuditDraft::new(actor, "facility.update", format!("facility/{id}"), json!({
                "status": u.status, "head_count": u.head_count, "guards": u.guards, "note": u.note,
            })),
        )
        .await?;
    let version = ops.as_u64().unwrap_or(0);
    let stored = s
        .store
        .read({
            let id = id.clone();
            move |c| load_ops(c, &id)
        })
        .await?
        .filter(|o| o.version == version);
    let v = match stored {
        Some(o) => s.hub.facility_ops(&id, o),
        None => s.hub.with(|pic| pic.facilities.get(&id).cloned()),
    }
    .ok_or_else(|| ApiError::not_found("no such facility"))?;
    let r = s
        .policy
        .release(&p.org, &Item::Facility(v))
        .ok_or_else(|| ApiError::not_found("no such facility"))?;
    Ok(Json(serde_json::to_value(&r.out).unwrap_or_default()))
}

fn load_ops(
    c: &rusqlite::Connection,
    id: &str,
) -> Result<Option<FacilityOps>, crate::store::StoreError> {
    Ok(c.query_row(
        "SELECT status, status_at, head_count, exits_at_count, guards, note, changed_by, version
         FROM facilities WHERE id = ?1",
        params![id],
        ops_row,
    )
    .optional()?)
}

fn ops_row(r: &rusqlite::Row) -> rusqlite::Result<FacilityOps> {
    let status: Option<String> = r.get(0)?;
    let at: Option<f64> = r.get(1)?;
    let status = status
        .and_then(|s| {
            [
                FacilityStatus::Secure,
                FacilityStatus::Threatened,
                FacilityStatus::Abandoned,
                FacilityStatus::Breached,
            ]
            .into_iter()
            .find(|x| x.name() == s)
        })
        .map(|s| (s, at.unwrap_or(0.0)));
    Ok(FacilityOps {
        status,
        head_count: r.get(2)?,
        exits_at_count: r.get(3)?,
        guards: r.get(4)?,
        note: r.get(5)?,
        changed_by: r.get(6)?,
        version: r.get::<_, i64>(7)? as u64,
    })
}

/// Loads operators' facility updates from the store (at start-up).
pub fn load_facility_ops(
    c: &rusqlite::Connection,
) -> Result<HashMap<String, FacilityOps>, crate::store::StoreError> {
    let mut stmt = c.prepare(
        "SELECT status, status_at, head_count, exits_at_count, guards, note, changed_by, version, id
         FROM facilities",
    )?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(8)?, ops_row(r)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Query of the audit endpoint.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    after: Option<i64>,
    limit: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/audit", tag = "admin", params(AuditQuery),
    responses((status = 200, description = "OK", body = super::openapi::AuditList), (status = 403, description = "Your role or organisation may not", body = super::openapi::ErrorBody)),
    security(("bearer" = [])))]
/// Audit entries: an organisation's admins see the entries of their own organisation's actors;
/// the deployment owner sees all.
pub async fn audit(
    State(s): State<AppState>,
    p: Principal,
    q: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    if !p.role.can_administer() {
        return Err(ApiError::forbidden("read the audit log"));
    }
    let Query(q) =
        q.map_err(|e| ApiError::new(axum::http::StatusCode::BAD_REQUEST, e.body_text()))?;
    let after = q.after.unwrap_or(0);
    let limit = q.limit.unwrap_or(1000).clamp(1, 10_000);
    let only = (p.role != Role::Owner).then(|| p.org.clone());
    let entries = s
        .store
        .read(move |c| Ok(audit::list(c, after, limit, only.as_deref())?))
        .await?;
    s.audit(
        &p,
        "read.audit",
        "audit",
        json!({ "after": after, "n": entries.len() }),
    )
    .await?;
    Ok(Json(json!({ "entries": entries })))
}

/// Body of `POST /api/v1/tokens`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    org: String,
    role: Role,
    #[serde(default)]
    label: String,
}

#[utoipa::path(post, path = "/api/v1/tokens", tag = "admin", request_body = TokenRequest,
    responses((status = 200, description = "OK", body = auth::NewToken), (status = 403, description = "Your role or organisation may not", body = super::openapi::ErrorBody)),
    security(("bearer" = [])))]
/// Creates a token: an admin for its own organisation (up to admin), the owner for any.
pub async fn create_token(
    State(s): State<AppState>,
    p: Principal,
    Body(body, _held): Body,
) -> Result<Json<Value>, ApiError> {
    if !p.role.can_administer() {
        return Err(ApiError::forbidden("create tokens"));
    }
    let t: TokenRequest = parse_body(&body)?;
    if p.role != Role::Owner && (t.org != p.org || t.role == Role::Owner) {
        return Err(ApiError::forbidden(
            "create tokens for another organisation or with the owner role",
        ));
    }
    if s.policy.org(&t.org).is_none() {
        return Err(ApiError::bad_field(
            "org",
            format!("no organisation {:?} in the site file", t.org),
        ));
    }
    if t.label.chars().count() > 200 {
        return Err(ApiError::bad_field("label", "longer than 200 characters"));
    }
    let n = auth::create(
        &s.store,
        Some(&s.tokens),
        &t.org,
        t.role,
        &t.label,
        &p.actor(),
    )
    .await?;
    Ok(Json(serde_json::to_value(n).unwrap_or_default()))
}

#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "admin",
    params(("id" = i64, Path, description = "The token's row id (`token:N` in audit entries)")),
    responses((status = 200, description = "Revoked (also when it already was)", body = Object),
        (status = 403, description = "Your role may not", body = super::openapi::ErrorBody),
        (status = 404, description = "No such token of your organisation", body = super::openapi::ErrorBody)),
    security(("bearer" = [])))]
/// Revokes a token: an admin its own organisation's, the owner any. Requests with it are
/// refused from now on, and its open event streams and CoT connections are closed.
pub async fn revoke_token(
    State(s): State<AppState>,
    p: Principal,
    Path(id): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    if !p.role.can_administer() {
        return Err(ApiError::forbidden("revoke tokens"));
    }
    let org = (p.role != Role::Owner).then_some(p.org.as_str());
    // Another organisation's token and no token get the same answer.
    if auth::revoke(&s.store, id, org, &p.actor()).await?.is_none() {
        return Err(ApiError::not_found("no such token"));
    }
    s.tokens.revoke(&[id]);
    Ok(Json(serde_json::json!({ "revoked": id })))
}

#[utoipa::path(get, path = "/api/v1/stats", tag = "admin",
    responses((status = 200, description = "Store counts (the deployment owner only)", body = StatsReply),
        (status = 403, description = "Your role or organisation may not", body = super::openapi::ErrorBody)),
    security(("bearer" = [])))]
/// What the store holds and how far the engine has got (the deployment owner only).
pub async fn stats(State(s): State<AppState>, p: Principal) -> Result<Json<StatsReply>, ApiError> {
    if p.role != Role::Owner {
        return Err(ApiError::forbidden("read deployment statistics"));
    }
    let st = {
        let store = s.store.clone();
        tokio::task::spawn_blocking(move || store.stats_blocking())
            .await
            .map_err(|_| {
                ApiError::new(
                    axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                    "stats task failed",
                )
            })??
    };
    s.audit(&p, "read.stats", "stats", json!({})).await?;
    Ok(Json(StatsReply {
        store: st,
        processed_seq: s.health.processed(),
        live_tracks: s.hub.with(|pic| pic.tracks.len()),
    }))
}

/// The answer of `/api/v1/stats`.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct StatsReply {
    /// What the store holds.
    pub store: crate::store::Stats,
    /// Sequence number of the last batch of records the engine has processed (the store's
    /// `last_batch_seq` once it has caught up).
    pub processed_seq: i64,
    /// Tracks in the live picture.
    pub live_tracks: usize,
}

/// Parses `data` as each admin and facility body (fuzzing).
pub(super) fn fuzz_bodies(data: &[u8]) {
    let _ = parse_body::<FacilityUpdate>(data);
    let _ = parse_body::<TokenRequest>(data);
}
