//! What partners need to witness the audit log: the latest signed checkpoint and the key that
//! signs it (any role), consistency proofs between checkpoints (any role), and inclusion proofs
//! of single entries (admins, for the entries they may read; the owner, for all).
//!
//! A checkpoint and a consistency proof say nothing but the log's size at the checkpoint's
//! time and hashes, so they are neither restricted by organisation nor audited; an inclusion
//! proof shows an entry, so it follows the audit log's visibility and is audited.

use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

use super::{ApiError, AppState};
use crate::audit::checkpoint::SignedCheckpoint;
use crate::audit::{self, merkle};
use crate::auth::{Principal, Role};

fn latest(s: &AppState) -> Result<Arc<SignedCheckpoint>, ApiError> {
    s.checkpoints.latest().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "no audit checkpoint signed yet",
        )
    })
}

fn text(body: String) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response()
}

fn query<T>(q: Result<Query<T>, axum::extract::rejection::QueryRejection>) -> Result<T, ApiError> {
    q.map(|Query(q)| q)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.body_text()))
}

/// The latest signed checkpoint, as the signed note a partner keeps (`text/plain`).
pub async fn checkpoint(State(s): State<AppState>, _p: Principal) -> Result<Response, ApiError> {
    Ok(text(latest(&s)?.note.clone()))
}

/// The verifier key of the checkpoints (`<name>+<id>+<key>`), to compare with the one pinned.
pub async fn key(State(s): State<AppState>, _p: Principal) -> Response {
    text(format!("{}\n", s.checkpoints.key().verifier_key()))
}

/// Query of the consistency endpoint.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyQuery {
    /// Size of the checkpoint the caller holds.
    from: u64,
    /// Size of the newer checkpoint (default: the latest).
    to: Option<u64>,
}

/// The RFC 6962 consistency proof from a checkpoint of `from` entries to one of `to` (the
/// latest by default, returned with it).
pub async fn consistency(
    State(s): State<AppState>,
    _p: Principal,
    q: Result<Query<ConsistencyQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let q = query(q)?;
    let cp = latest(&s)?;
    let to = q.to.unwrap_or(cp.size);
    if to > cp.size {
        return Err(ApiError::bad_field(
            "to",
            format!("at most {}, the size of the latest checkpoint", cp.size),
        ));
    }
    if q.from == 0 || q.from > to {
        return Err(ApiError::bad_field(
            "from",
            format!("from 1 to {to} (the size of the checkpoint you hold)"),
        ));
    }
    let from = q.from;
    let proof = s
        .store
        .read(move |c| merkle::consistency(c, from, to).map_err(crate::store::StoreError::Audit))
        .await?;
    let proof: Vec<String> = proof.iter().map(ToString::to_string).collect();
    let mut body = json!({ "from": from, "to": to, "proof": proof });
    if to == cp.size {
        body["checkpoint"] = serde_json::to_value(cp.json()).unwrap_or_default();
    }
    Ok(Json(body))
}

/// Query of the inclusion endpoint.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InclusionQuery {
    /// The entry's sequence number.
    seq: u64,
    /// Size of the checkpoint to prove it against (default: the latest).
    size: Option<u64>,
}

/// One audit entry the caller may read, its leaf hash and the RFC 6962 inclusion proof of it
/// in the checkpoint of `size` entries (the latest by default, returned with it).
pub async fn inclusion(
    State(s): State<AppState>,
    p: Principal,
    q: Result<Query<InclusionQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    if !p.role.can_administer() {
        return Err(ApiError::forbidden("read the audit log"));
    }
    let q = query(q)?;
    let cp = latest(&s)?;
    let size = q.size.unwrap_or(cp.size);
    if size > cp.size {
        return Err(ApiError::bad_field(
            "size",
            format!("at most {}, the size of the latest checkpoint", cp.size),
        ));
    }
    let only = (p.role != Role::Owner).then(|| p.org.clone());
    let seq = q.seq;
    let found = s
        .store
        .read(move |c| {
            let Ok(after) = i64::try_from(seq.saturating_sub(1)) else {
                return Ok(None);
            };
            let e = audit::list(c, after, 1, only.as_deref())?
                .into_iter()
                .find(|e| e.seq as u64 == seq);
            let Some(e) = e else { return Ok(None) };
            if seq > size {
                return Ok(Some((e, None)));
            }
            let proof =
                merkle::inclusion(c, seq - 1, size).map_err(crate::store::StoreError::Audit)?;
            Ok(Some((e, Some(proof))))
        })
        .await?;
    // Entries of other organisations and entries that do not exist get the same answer.
    let Some((entry, proof)) = found else {
        return Err(ApiError::not_found("no such audit entry"));
    };
    let Some(proof) = proof else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!(
                "entry {seq} is not yet in a checkpoint (the latest covers {} entries); \
                 ask again after the next one",
                cp.size
            ),
        ));
    };
    s.audit(
        &p,
        "read.audit.inclusion",
        format!("audit/{seq}"),
        json!({ "size": size }),
    )
    .await?;
    let proof: Vec<String> = proof.iter().map(ToString::to_string).collect();
    let mut body = json!({
        "seq": seq,
        "size": size,
        "leaf_hash": merkle::leaf_hash(&entry).to_string(),
        "entry": entry,
        "proof": proof,
    });
    if size == cp.size {
        body["checkpoint"] = serde_json::to_value(cp.json()).unwrap_or_default();
    }
    Ok(Json(body))
}
