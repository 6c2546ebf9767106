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
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::sync::Arc;

use super::openapi::ErrorBody;
use super::{ApiError, AppState};
use crate::audit::checkpoint::{CheckpointJson, SignedCheckpoint};
use crate::audit::{self, merkle, AuditEntry};
use crate::auth::{Principal, Role};

/// `GET /api/v1/audit/consistency`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ConsistencyAnswer {
    /// Size of the checkpoint held.
    pub from: u64,
    /// Size of the newer checkpoint.
    pub to: u64,
    /// The RFC 6962 consistency proof, base64 SHA-256 hashes.
    pub proof: Vec<String>,
    /// The latest checkpoint, when `to` is its size.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<CheckpointJson>,
}

/// `GET /api/v1/audit/inclusion`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct InclusionAnswer {
    /// The entry's sequence number.
    pub seq: u64,
    /// Size of the checkpoint it is proven in.
    pub size: u64,
    /// Base64 SHA-256(0x00 ‖ the entry's leaf encoding), see docs/serve.md.
    pub leaf_hash: String,
    /// The entry.
    pub entry: AuditEntry,
    /// The RFC 6962 inclusion proof, base64 SHA-256 hashes.
    pub proof: Vec<String>,
    /// The latest checkpoint, when `size` is its size.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<CheckpointJson>,
}

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

#[utoipa::path(get, path = "/api/v1/audit/checkpoint", tag = "audit",
    responses((status = 200, description = "The latest checkpoint: the audit log's size and RFC 6962 root signed with the log's ed25519 key, as a C2SP signed note (tlog-checkpoint). Any role; it tells only the log's size at its time", content_type = "text/plain", body = String),
        (status = 503, description = "No checkpoint signed yet", body = ErrorBody)),
    security(("bearer" = [])))]
/// The latest signed checkpoint, as the signed note a partner keeps (`text/plain`).
pub async fn checkpoint(State(s): State<AppState>, _p: Principal) -> Result<Response, ApiError> {
    Ok(text(latest(&s)?.note.clone()))
}

#[utoipa::path(get, path = "/api/v1/audit/key", tag = "audit",
    responses((status = 200, description = "The verifier key `<name>+<id>+<key>`: pin it out of band, compare it here", content_type = "text/plain", body = String)),
    security(("bearer" = [])))]
/// The verifier key of the checkpoints (`<name>+<id>+<key>`), to compare with the one pinned.
pub async fn key(State(s): State<AppState>, _p: Principal) -> Response {
    text(format!("{}\n", s.checkpoints.key().verifier_key()))
}

/// Query of the consistency endpoint.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ConsistencyQuery {
    /// Size of the checkpoint the caller holds.
    from: u64,
    /// Size of the newer checkpoint (default: the latest).
    to: Option<u64>,
}

#[utoipa::path(get, path = "/api/v1/audit/consistency", tag = "audit", params(ConsistencyQuery),
    responses((status = 200, description = "The proof that the log of `to` entries extends the checkpoint of `from` entries (any role; not audited: hashes only)", body = ConsistencyAnswer),
        (status = 400, description = "A size out of range", body = ErrorBody),
        (status = 503, description = "No checkpoint signed yet", body = ErrorBody)),
    security(("bearer" = [])))]
/// The RFC 6962 consistency proof from a checkpoint of `from` entries to one of `to` (the
/// latest by default, returned with it).
pub async fn consistency(
    State(s): State<AppState>,
    _p: Principal,
    q: Result<Query<ConsistencyQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<ConsistencyAnswer>, ApiError> {
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
    Ok(Json(ConsistencyAnswer {
        from,
        to,
        proof: proof.iter().map(ToString::to_string).collect(),
        checkpoint: (to == cp.size).then(|| cp.json()),
    }))
}

/// Query of the inclusion endpoint.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct InclusionQuery {
    /// The entry's sequence number.
    seq: u64,
    /// Size of the checkpoint to prove it against (default: the latest).
    size: Option<u64>,
}

#[utoipa::path(get, path = "/api/v1/audit/inclusion", tag = "audit", params(InclusionQuery),
    responses((status = 200, description = "One entry the caller may read (admins: their organisation's actors; the owner: all), its leaf hash and its inclusion proof (audited)", body = InclusionAnswer),
        (status = 400, description = "A size out of range", body = ErrorBody),
        (status = 403, description = "The role may not read the audit log", body = ErrorBody),
        (status = 404, description = "No such entry, or not one the caller may read (the same answer)", body = ErrorBody),
        (status = 409, description = "The entry is not yet in a checkpoint", body = ErrorBody)),
    security(("bearer" = [])))]
/// One audit entry the caller may read, its leaf hash and the RFC 6962 inclusion proof of it
/// in the checkpoint of `size` entries (the latest by default, returned with it).
pub async fn inclusion(
    State(s): State<AppState>,
    p: Principal,
    q: Result<Query<InclusionQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<InclusionAnswer>, ApiError> {
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
    Ok(Json(InclusionAnswer {
        seq,
        size,
        leaf_hash: merkle::leaf_hash(&entry).to_string(),
        entry,
        proof: proof.iter().map(ToString::to_string).collect(),
        checkpoint: (size == cp.size).then(|| cp.json()),
    }))
}
