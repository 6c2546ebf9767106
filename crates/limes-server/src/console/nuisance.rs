//! `GET /api/v1/nuisance/recent?hours=24|168`: nuisance resolutions per sensor and per zone in a
//! recent window of the server's clock, with counts per time bucket, and beside them the
//! assessed events (per sensor, zone and fence zone): what a supervisor tunes thresholds from.
//! Only alerts and events released to the caller's organisation in full are counted (the
//! sensors they name are in full releases only).

use axum::extract::{Query, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::api::{ApiError, AppState};
use crate::auth::Principal;
use crate::lifecycle;
use crate::release::AlertView;
use crate::store::events::EventGroup;

/// Query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recent {
    hours: Option<u32>,
}

/// Counts nuisance resolutions in `[from, to)` (rows per (scope, key, reason) and bucket totals)
/// and the assessed events given (rows `"from": "event"`; not in the buckets).
pub fn count(
    resolved: &[(AlertView, f64)],
    events: &[EventGroup],
    from: f64,
    to: f64,
    bucket_s: f64,
) -> (Vec<Value>, Vec<Value>) {
    let mut rows = lifecycle::NuisanceCounts::new();
    let n_buckets = ((to - from) / bucket_s).ceil().max(1.0) as usize;
    let mut buckets = vec![0u64; n_buckets];
    for (v, at) in resolved {
        if *at < from || *at >= to {
            continue;
        }
        let Some(reason) = v.life.resolution.clone() else {
            continue;
        };
        if reason == "confirmed" {
            continue;
        }
        lifecycle::count_nuisance(&mut rows, v, reason);
        let b = (((at - from) / bucket_s) as usize).min(n_buckets - 1);
        buckets[b] += 1;
    }
    for g in events {
        lifecycle::count_events(&mut rows, g);
    }
    let rows = rows
        .into_iter()
        .map(|((from, scope, key, reason), n)| {
            json!({ "from": from, "scope": scope, "key": key, "reason": reason, "n": n })
        })
        .collect();
    let buckets = buckets
        .into_iter()
        .enumerate()
        .map(|(i, n)| json!({ "t": from + i as f64 * bucket_s, "n": n }))
        .collect();
    (rows, buckets)
}

/// The handler (operators and admins, as `GET /api/v1/nuisance`).
pub async fn recent(
    State(s): State<AppState>,
    p: Principal,
    q: Result<Query<Recent>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    if !p.role.can_operate() {
        return Err(ApiError::forbidden("read nuisance counts"));
    }
    let Query(q) =
        q.map_err(|e| ApiError::new(axum::http::StatusCode::BAD_REQUEST, e.body_text()))?;
    let hours = q.hours.unwrap_or(24);
    if !(1..=24 * 31).contains(&hours) {
        return Err(ApiError::bad_field("hours", "hours: 1 to 744"));
    }
    let to = s.clock.now();
    let from = to - f64::from(hours) * 3600.0;
    let bucket_s = if hours <= 48 { 3600.0 } else { 6.0 * 3600.0 };
    let (rows, events) = s
        .store
        .read(move |c| {
            let mut stmt = c.prepare(&format!(
                "SELECT {}, changed_at FROM alerts
                 WHERE status = 'resolved' AND resolution IS NOT NULL AND resolution != 'confirmed'
                   AND changed_at >= ?1",
                lifecycle::ALERT_COLUMNS
            ))?;
            let n = lifecycle::ALERT_COLUMNS.split(',').count();
            let rows = stmt.query_map([from], |r| {
                Ok((lifecycle::row_view(r)?, r.get::<_, f64>(n)?))
            })?;
            let mut out = Vec::new();
            for r in rows {
                if let (Some(v), at) = r? {
                    out.push((v, at));
                }
            }
            Ok((out, crate::store::events::groups(c, from, to)?))
        })
        .await?;
    let released: Vec<(AlertView, f64)> = rows
        .into_iter()
        .filter(|(v, _)| s.policy.full_alert(&p.org, v))
        .collect();
    let events: Vec<EventGroup> = events
        .into_iter()
        .filter(|g| s.policy.full_event_at(&p.org, g.source, &g.pos))
        .collect();
    let (rows, buckets) = count(&released, &events, from, to, bucket_s);
    s.audit(
        &p,
        "read.nuisance",
        "nuisance/recent",
        json!({
            "hours": hours,
            "alerts": released.len(),
            "events": events.iter().map(|g| g.n).sum::<u64>(),
        }),
    )
    .await?;
    Ok(Json(json!({
        "hours": hours, "bucket_s": bucket_s, "from": from, "to": to, "rows": rows, "buckets": buckets,
    })))
}
