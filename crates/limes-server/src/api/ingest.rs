//! `POST /api/v1/ingest`: one record, a JSON array, or NDJSON.
//!
//! Every record is either stored or named. The good records of a request are kept and made
//! durable before the reply; any refused record makes the reply `422`, with `accepted` (how
//! many were stored), `seq`, and `rejected` (index, field and message of each refused record,
//! including records the tracker could no longer use). Resend only the refused records,
//! corrected. With an `Idempotency-Key` header, a retry of the same request gets the first
//! reply again and stores nothing twice.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use sha2::{Digest, Sha256};

use super::{ApiError, AppState, Body, MAX_BODY};
use crate::auth::Principal;
use crate::ingest::{body, IdempotencyKey, IngestReply, RecordError};

/// Longest idempotency key, bytes.
pub const MAX_KEY_LEN: usize = 128;

fn idempotency_key(
    h: &HeaderMap,
    p: &Principal,
    body: &[u8],
) -> Result<Option<IdempotencyKey>, ApiError> {
    let Some(v) = h.get("idempotency-key") else {
        return Ok(None);
    };
    let key = v
        .to_str()
        .ok()
        .filter(|k| {
            !k.is_empty() && k.len() <= MAX_KEY_LEN && k.bytes().all(|b| b.is_ascii_graphic())
        })
        .ok_or_else(|| {
            ApiError::bad_field(
                "Idempotency-Key",
                format!("must be 1 to {MAX_KEY_LEN} printable ASCII characters"),
            )
        })?;
    Ok(Some(IdempotencyKey {
        principal: p.actor(),
        key: key.to_string(),
        digest: Sha256::digest(body).into(),
    }))
}

#[utoipa::path(post, path = "/api/v1/ingest", tag = "ingest",
    request_body(content(
        (super::openapi::IngestBody = "application/json"),
        (String = "application/x-ndjson"),
    )),
    params(("Idempotency-Key" = Option<String>, Header, description = "A retry with the same key gets the first reply and stores nothing twice")),
    responses(
        (status = 200, description = "Every record stored (durable)", body = IngestReply),
        (status = 422, description = "Some records refused by index and field; the others stored", body = IngestReply),
        (status = 409, description = "Idempotency key reused with another body, or its stored reply unreadable (the request was processed then)", body = super::openapi::ErrorBody),
        (status = 413, description = "Body over 16 MiB", body = super::openapi::ErrorBody),
        (status = 429, description = "Queue full; retry after a second", body = super::openapi::ErrorBody),
        (status = 500, description = "Nothing stored: the store failed in a way sending it again will not mend (the operators have it in the server's log)", body = super::openapi::ErrorBody),
        (status = 503, description = "Nothing stored: replaying, a thread failed, or the store could not write; send it again after Retry-After", body = super::openapi::ErrorBody),
    ),
    security(("bearer" = [])))]
/// Accepts sensor records; replies once they are durable.
pub async fn ingest(
    State(s): State<AppState>,
    p: Principal,
    headers: HeaderMap,
    Body(body, _held): Body<MAX_BODY>,
) -> Result<Response, ApiError> {
    if !p.role.can_ingest() {
        return Err(ApiError::forbidden("send sensor records"));
    }
    if !s.health.is_ready() {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not taking input: replaying the log, or a server thread has stopped (see /readyz)",
        ));
    }
    let idem = idempotency_key(&headers, &p, &body)?;
    let checker = s.checker.clone();
    let (policy, who) = (s.policy.clone(), p.clone());
    let batch = tokio::task::spawn_blocking(move || {
        body::parse(&body, &checker, &|sensor| policy.may_send(&who, sensor))
    })
    .await
    .map_err(|_| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "parser task failed"))?;
    let parse_refused: usize = batch.errors.iter().map(RecordError::records).sum();
    let reply = if batch.records.is_empty() && idem.is_none() {
        IngestReply {
            accepted: 0,
            seq: None,
            rejected: batch.errors,
            replayed: false,
        }
    } else {
        let ack = s.store.try_log(p.actor(), batch, idem).map_err(|e| {
            if matches!(e, crate::store::StoreError::Busy) {
                s.metrics.ingest_throttled.inc();
            }
            ApiError::from(e)
        })?;
        ack.await
            .map_err(|_| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "the store shut down"))??
    };
    if !reply.replayed {
        s.metrics.ingest_records.inc_by(reply.accepted as u64);
        let refused: usize = reply.rejected.iter().map(RecordError::records).sum();
        s.metrics.ingest_rejected.inc_by(refused as u64);
        s.metrics
            .engine_late
            .inc_by(refused.saturating_sub(parse_refused) as u64);
    }
    let status = if reply.rejected.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    Ok((status, Json(reply_body(&reply))).into_response())
}

/// The reply's JSON: the counts, and for any refusal an `error` sentence.
fn reply_body(r: &IngestReply) -> serde_json::Value {
    let mut v = serde_json::to_value(r).unwrap_or_default();
    let refused: usize = r
        .rejected
        .iter()
        .filter(|e| !e.rest)
        .map(RecordError::records)
        .sum();
    let sentence = match r.rejected.iter().find(|e| e.rest) {
        Some(rest) => format!(
            "{refused} record(s) refused, {} accepted and stored; nothing from record {} on was stored ({}); resend the refused ones and everything from record {}",
            r.accepted, rest.index, rest.message, rest.index
        ),
        None => format!(
            "{refused} record(s) refused, {} accepted and stored; resend only the refused ones",
            r.accepted
        ),
    };
    if !r.rejected.is_empty() {
        v["error"] = serde_json::json!(sentence);
    }
    v
}
