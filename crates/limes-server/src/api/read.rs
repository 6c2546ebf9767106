//! Tracks, facilities, statistics, the audit log and tokens.

use axum::extract::{Path, Query, State};
use axum::Json;
use rusqlite::params;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{parse_body, ApiError, AppState};
use crate::audit::{self, AuditDraft};
use crate::auth::{self, Principal, Role};
use crate::live::{facility_view, FacilityOps};
use crate::release::Item;

/// Live tracks released to the caller.
pub async fn tracks(State(s): State<AppState>, p: Principal) -> Result<Json<Value>, ApiError> {
    if !p.role.can_read() {
        return Err(ApiError::forbidden("read tracks"));
    }
    let now = s.clock.now();
    let items: Vec<Value> = s
        .hub
        .snapshot(now)
        .into_iter()
        .filter(|i| matches!(i, Item::Track(_)))
        .filter_map(|i| s.policy.release(&p.org, &i))
        .map(|r| r.body)
        .collect();
    s.audit(&p, "read.tracks", "tracks", json!({ "n": items.len() }))
        .await?;
    Ok(Json(json!({ "tracks": items })))
}

/// Facilities released to the caller.
pub async fn facilities(State(s): State<AppState>, p: Principal) -> Result<Json<Value>, ApiError> {
    if !p.role.can_read() {
        return Err(ApiError::forbidden("read facilities"));
    }
    let items: Vec<Value> = s
        .hub
        .with(|pic| pic.facilities.values().cloned().collect::<Vec<_>>())
        .into_iter()
        .filter_map(|f| s.policy.release(&p.org, &Item::Facility(f)))
        .map(|r| r.body)
        .collect();
    let ids: Vec<&Value> = items.iter().map(|b| &b["id"]).collect();
    s.audit(&p, "read.facilities", "facilities", json!({ "ids": ids }))
        .await?;
    Ok(Json(json!({ "facilities": items })))
}

/// An operator's update to a facility; every field optional.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FacilityUpdate {
    status: Option<String>,
    head_count: Option<u32>,
    guards: Option<u32>,
    note: Option<String>,
}

const STATUSES: [&str; 4] = ["secure", "threatened", "abandoned", "breached"];

/// Updates a facility (a guard force withdrawn, a head count taken).
pub async fn update_facility(
    State(s): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    if !p.role.can_operate() {
        return Err(ApiError::forbidden("update facilities"));
    }
    let u: FacilityUpdate = parse_body(&body)?;
    let org = s.policy.org(&p.org).cloned();
    if !s.site.facilities.iter().any(|f| f.id == id)
        || org.is_none_or(|o| o.facilities < limes_core::site::Detail::Full)
    {
        return Err(ApiError::not_found(format!(
            "no facility {id:?} released to {} in full",
            p.org
        )));
    }
    if let Some(st) = &u.status {
        if !STATUSES.contains(&st.as_str()) {
            return Err(ApiError::bad_field(
                "status",
                format!("{st:?} is not one of {STATUSES:?}"),
            ));
        }
    }
    let exits = s
        .shared
        .exits
        .lock()
        .map(|e| e.get(&id).copied().unwrap_or(0))
        .unwrap_or(0);
    let mut ops = s
        .shared
        .facility_ops
        .lock()
        .map(|m| m.get(&id).cloned().unwrap_or_default())
        .unwrap_or_default();
    if u.status.is_some() {
        ops.status = u.status.clone();
    }
    if let Some(n) = u.head_count {
        ops.head_count = Some(n);
        ops.exits_at_count = exits;
    }
    if u.guards.is_some() {
        ops.guards = u.guards;
    }
    if u.note.is_some() {
        ops.note = u.note.clone();
    }
    ops.changed_by = Some(p.actor());
    let o2 = ops.clone();
    let id2 = id.clone();
    let now = s.clock.now();
    s.store
        .change(
            Box::new(move |c| {
                c.execute(
                    "INSERT INTO facilities (id, status, head_count, exits_at_count, guards, note, changed_by, changed_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                     ON CONFLICT(id) DO UPDATE SET status = excluded.status, head_count = excluded.head_count,
                       exits_at_count = excluded.exits_at_count, guards = excluded.guards, note = excluded.note,
                       changed_by = excluded.changed_by, changed_at = excluded.changed_at",
                    params![id2, o2.status, o2.head_count, o2.exits_at_count, o2.guards, o2.note, o2.changed_by, now],
                )?;
                Ok(Value::Null)
            }),
            AuditDraft::new(p.actor(), "facility.update", format!("facility/{id}"), json!({
                "status": u.status, "head_count": u.head_count, "guards": u.guards, "note": u.note,
            })),
        )
        .await?;
    if let Ok(mut m) = s.shared.facility_ops.lock() {
        m.insert(id.clone(), ops.clone());
    }
    let v = facility_view(&s.site, &id, None, exits, Some(&ops))
        .ok_or_else(|| ApiError::not_found(id.clone()))?;
    s.hub.publish(Item::Facility(v.clone()), None);
    Ok(Json(serde_json::to_value(v).unwrap_or_default()))
}

/// Loads operators' facility updates from the store (at start-up).
pub fn load_facility_ops(
    c: &rusqlite::Connection,
) -> Result<std::collections::HashMap<String, FacilityOps>, crate::store::StoreError> {
    let mut stmt = c.prepare(
        "SELECT id, status, head_count, exits_at_count, guards, note, changed_by FROM facilities",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            FacilityOps {
                status: r.get(1)?,
                head_count: r.get(2)?,
                exits_at_count: r.get(3)?,
                guards: r.get(4)?,
                note: r.get(5)?,
                changed_by: r.get(6)?,
            },
        ))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Query of the audit endpoint.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    after: Option<i64>,
    limit: Option<i64>,
}

/// Audit entries (admins only).
pub async fn audit(
    State(s): State<AppState>,
    p: Principal,
    Query(q): Query<AuditQuery>,
) -> Result<Json<Value>, ApiError> {
    if p.role != Role::Admin {
        return Err(ApiError::forbidden("read the audit log"));
    }
    let after = q.after.unwrap_or(0);
    let limit = q.limit.unwrap_or(1000).clamp(1, 10_000);
    let entries = s
        .store
        .read(move |c| Ok(audit::list(c, after, limit)?))
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
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    org: String,
    role: Role,
    #[serde(default)]
    label: String,
}

/// Creates a token (admins only); the reply is the only place the token appears in clear.
pub async fn create_token(
    State(s): State<AppState>,
    p: Principal,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    if p.role != Role::Admin {
        return Err(ApiError::forbidden("create tokens"));
    }
    let t: TokenRequest = parse_body(&body)?;
    if s.policy.org(&t.org).is_none() {
        return Err(ApiError::bad_field(
            "org",
            format!("no organisation {:?} in the site file", t.org),
        ));
    }
    let token = auth::new_token();
    let hash = auth::hash_token(&token);
    let v = s
        .store
        .change(
            auth::create_change(t.org.clone(), t.role, t.label.clone(), hash.clone()),
            AuditDraft::new(
                p.actor(),
                "token.create",
                format!("org/{}", t.org),
                json!({ "role": t.role, "label": t.label }),
            ),
        )
        .await?;
    let id = v["id"].as_i64().unwrap_or(0);
    s.tokens.insert(
        hash,
        Principal {
            org: t.org.clone(),
            role: t.role,
            via: format!("token:{id}"),
        },
    );
    Ok(Json(
        json!({ "id": id, "org": t.org, "role": t.role, "token": token }),
    ))
}

/// What the store holds and how far the engine has got.
pub async fn stats(State(s): State<AppState>, p: Principal) -> Result<Json<Value>, ApiError> {
    if !p.role.can_read() && p.role != Role::Sensor {
        return Err(ApiError::forbidden("read statistics"));
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
    let processed = s.shared.processed.load(std::sync::atomic::Ordering::SeqCst);
    let live_tracks = s.hub.with(|pic| pic.tracks.len());
    Ok(Json(
        json!({ "store": st, "processed_seq": processed, "live_tracks": live_tracks }),
    ))
}

/// Parses `data` as each admin and facility body (fuzzing).
pub(super) fn fuzz_bodies(data: &[u8]) {
    let _ = parse_body::<FacilityUpdate>(data);
    let _ = parse_body::<TokenRequest>(data);
}
