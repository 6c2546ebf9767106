//! CAP 1.2 for partners: `GET /api/v1/alerts/{id}/cap[?rev=n]`, and the index feed of the
//! latest message about each alert, `GET /api/v1/cap/feed` ([`feed`]).
//!
//! Each organisation has its own sequence of messages about an alert: the first revision
//! released to it is its `Alert` (even if the alert was raised earlier, under a kind or in a
//! place not released to it), later released revisions are `Update`s that reference that
//! `Alert`, and a closed or resolved alert is a `Cancel`. A revision not released to the
//! caller is answered exactly like an alert that does not exist.

pub mod encode;
pub mod feed;

use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use limes_core::record::{AlertRecord, AlertState, Time};
use rusqlite::{params, OptionalExtension};
use serde::Deserialize;
use serde_json::json;

use crate::api::{ApiError, AppState};
use crate::auth::Principal;
use crate::release::{AlertLife, AlertView, IdKind, Item, Lifecycle, Policy, Released};
use encode::{Message, MsgType};

/// One message of an organisation's sequence about one alert.
pub struct Step {
    /// The revision.
    pub rev: u32,
    /// What the organisation receives of it.
    pub released: Released,
    /// Its type.
    pub msg_type: MsgType,
    /// When it was sent (`raised` for the `Alert`, the revision's time otherwise).
    pub sent: Time,
}

/// The organisation's sequence of messages about an alert, from every revision (`revs`, in
/// order) and the current life cycle (which applies to the latest revision only: earlier ones
/// are as they were issued); `life_at` is when the life cycle last changed (a Cancel for a
/// resolution is sent then, not at the revision's time).
pub fn sequence(
    policy: &Policy,
    org: &str,
    revs: &[AlertRecord],
    life: &AlertLife,
    life_at: Option<f64>,
) -> Vec<Step> {
    let mut out: Vec<Step> = Vec::new();
    // When the operator resolved it (the latest revision's time when the store has none).
    let resolved_at = (life.status == Lifecycle::Resolved).then(|| {
        life_at
            .or(revs.last().map(|r| r.time.0))
            .unwrap_or(f64::NEG_INFINITY)
    });
    for (i, rec) in revs.iter().enumerate() {
        let latest = i + 1 == revs.len();
        // The revision that was current when it was resolved, and every later one, went out
        // as Cancels: so they stay when the rules revise it after the resolution.
        let after_resolution =
            resolved_at.is_some_and(|ra| revs.get(i + 1).is_none_or(|next| next.time.0 > ra));
        let view = AlertView {
            alert: rec.clone(),
            life: if latest {
                life.clone()
            } else {
                AlertLife::default()
            },
        };
        let Some(released) = policy.release(org, &Item::Alert(view.into())) else {
            continue;
        };
        let over = rec.state == AlertState::Closed || after_resolution;
        let msg_type = if out.is_empty() {
            MsgType::Alert
        } else if over {
            MsgType::Cancel
        } else {
            MsgType::Update
        };
        let sent = match (msg_type.clone(), resolved_at) {
            (MsgType::Alert, _) => rec.raised,
            (MsgType::Cancel, Some(ra)) if after_resolution => Time(ra.max(rec.time.0)),
            _ => rec.time,
        };
        out.push(Step {
            rev: rec.rev,
            released,
            msg_type,
            sent,
        });
    }
    // A first message that is already over stays an Alert (it is the first the organisation
    // hears); the Cancel follows with the next revision or resolution.
    out
}

/// Every stored revision of alert `internal`, in order, and when its life cycle last changed:
/// what [`sequence`] is computed from.
pub fn history(
    c: &rusqlite::Connection,
    internal: u64,
) -> Result<(Vec<AlertRecord>, Option<f64>), crate::store::StoreError> {
    let life_at: Option<f64> = c
        .query_row(
            "SELECT changed_at FROM alerts WHERE id = ?1",
            params![internal as i64],
            |r| r.get(0),
        )
        .optional()?
        .flatten();
    Ok((revisions(c, internal)?, life_at))
}

/// Every stored revision of alert `internal`, in order (those that no longer parse left out).
pub fn revisions(
    c: &rusqlite::Connection,
    internal: u64,
) -> Result<Vec<AlertRecord>, crate::store::StoreError> {
    let mut stmt = c.prepare_cached("SELECT body FROM alert_revs WHERE id = ?1 ORDER BY rev")?;
    let revs = stmt
        .query_map(params![internal as i64], |r| r.get::<_, String>(0))?
        .filter_map(|r| r.ok())
        .filter_map(|b| serde_json::from_str::<AlertRecord>(&b).ok())
        .collect();
    Ok(revs)
}

/// Query of the CAP endpoint.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CapQuery {
    rev: Option<u32>,
}

#[utoipa::path(get, path = "/api/v1/alerts/{id}/cap", tag = "alerts",
    params(("id" = String, Path), CapQuery),
    responses((status = 200, description = "A CAP 1.2 message of the caller's own sequence", content_type = "application/cap+xml", body = String),
        (status = 404, description = "No such alert or revision released to the caller", body = crate::api::openapi::ErrorBody)),
    security(("bearer" = [])))]
/// The CAP 1.2 message for an alert revision (the latest by default), as released to the caller.
pub async fn cap(
    State(s): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
    q: Result<Query<CapQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    if !p.role.can_read() {
        return Err(ApiError::forbidden("read alerts"));
    }
    let Query(q) = q.map_err(|e| ApiError::bad_field("rev", e.body_text()))?;
    let internal = s
        .policy
        .ids()
        .internal(IdKind::Alert, &p.org, &id)
        .ok_or_else(ApiError::no_alert)?;
    let (view, revs, life_at) = s
        .store
        .read(move |c| Ok((crate::lifecycle::load(c, internal)?, history(c, internal)?)))
        .await
        .map(|(v, (revs, life_at))| (v, revs, life_at))?;
    let view = view.ok_or_else(ApiError::no_alert)?;
    let org = s.policy.org(&p.org).ok_or_else(ApiError::no_alert)?;
    let steps = sequence(&s.policy, &p.org, &revs, &view.life, life_at);
    let at = match q.rev {
        Some(r) => steps.iter().position(|x| x.rev == r),
        None => steps.len().checked_sub(1),
    }
    .ok_or_else(ApiError::no_alert)?;
    let step = &steps[at];
    let earlier: Vec<(u32, MsgType, Time)> = steps[..at]
        .iter()
        .map(|x| (x.rev, x.msg_type.clone(), x.sent))
        .collect();
    let perimeter = view
        .alert
        .facility
        .as_ref()
        .and_then(|f| s.site.facilities.iter().find(|x| &x.id == f))
        .map(|f| f.perimeter.as_slice());
    let xml = encode::message(&Message {
        site: &s.site.name,
        org,
        released: &step.released,
        msg_type: step.msg_type.clone(),
        sent: step.sent,
        earlier: &earlier,
        exercise: s.clock.is_drill(),
        perimeter,
    })
    .ok_or_else(ApiError::no_alert)?;
    s.audit(
        &p,
        "read.cap",
        format!("alert/{id}"),
        json!({ "rev": step.rev }),
    )
    .await?;
    Ok(([(header::CONTENT_TYPE, "application/cap+xml")], xml).into_response())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::release::Ids;

    fn rev(rev: u32, t: f64) -> AlertRecord {
        serde_json::from_value(json!({
            "id": 4, "rev": rev, "kind": "mass_breakout", "severity": "critical",
            "state": "open", "time": Time(t), "raised": Time(100.0), "lon": 38.872,
            "lat": 36.382, "count": 30, "facility": "ain-issa-annex", "sensors": [],
            "tracks": [], "summary": "x",
        }))
        .expect("an alert")
    }

    #[test]
    fn revisions_after_a_resolution_keep_the_messages_already_sent() {
        // Resolved at 250; the rules revise it at 300. The messages sent at the resolution
        // (r2 as a Cancel at 250) stay what they were, so later ones reference messages that
        // were sent, not r2 recomputed as an Update.
        let site = limes_core::site::open("ain-issa").expect("site");
        let policy = Policy::new(&site, Ids::new([3; 16]));
        let life = AlertLife {
            status: Lifecycle::Resolved,
            ..AlertLife::default()
        };
        let revs = [rev(1, 100.0), rev(2, 200.0), rev(3, 300.0)];
        let then = sequence(&policy, "ibf", &revs[..2], &life, Some(250.0));
        let now = sequence(&policy, "ibf", &revs, &life, Some(250.0));
        let view = |s: &[Step]| -> Vec<(u32, MsgType, f64)> {
            s.iter()
                .map(|x| (x.rev, x.msg_type.clone(), x.sent.0))
                .collect()
        };
        assert_eq!(
            view(&then),
            [(1, MsgType::Alert, 100.0), (2, MsgType::Cancel, 250.0)]
        );
        assert_eq!(view(&now)[..2], view(&then)[..]);
        assert_eq!(view(&now)[2], (3, MsgType::Cancel, 300.0));
    }
}
