//! `POST /api/v1/ingest`: one record, a JSON array, or NDJSON.
//!
//! The rule for mixed batches: every good record is kept and made durable before the reply;
//! when any record is refused the reply is `422` with `accepted` (how many were kept) and
//! `rejected` (index, field and message of each refused record). Resend only the refused
//! records, corrected; resending the whole batch would duplicate the good ones.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::{ApiError, AppState};
use crate::auth::Principal;
use crate::ingest::ndjson;

/// Accepts sensor records; replies once they are durable.
pub async fn ingest(
    State(s): State<AppState>,
    p: Principal,
    body: Bytes,
) -> Result<Response, ApiError> {
    if !p.role.can_ingest() {
        return Err(ApiError::forbidden("send sensor records"));
    }
    if !s.shared.ready.load(std::sync::atomic::Ordering::SeqCst) {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "replaying the log; not ready",
        ));
    }
    let checker = s.checker.clone();
    let batch = tokio::task::spawn_blocking(move || ndjson::parse(&body, &checker))
        .await
        .map_err(|_| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "parser task failed"))?;
    s.metrics.ingest_rejected.inc_by(batch.errors.len() as u64);
    let accepted = batch.records.len();
    let mut seq = None;
    if accepted > 0 {
        let ack = s
            .store
            .try_log(p.actor(), batch.body, batch.records)
            .map_err(|e| {
                if matches!(e, crate::store::StoreError::Busy) {
                    s.metrics.ingest_throttled.inc();
                }
                ApiError::from(e)
            })?;
        let n = ack
            .await
            .map_err(|_| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "the store shut down"))??;
        s.metrics.ingest_records.inc_by(accepted as u64);
        seq = Some(n);
    }
    if batch.errors.is_empty() {
        Ok((
            StatusCode::OK,
            Json(json!({ "accepted": accepted, "seq": seq })),
        )
            .into_response())
    } else {
        let message = format!(
            "{} record(s) refused, {accepted} accepted and stored; resend only the refused ones",
            batch.errors.len()
        );
        Ok((
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({ "error": message, "accepted": accepted, "seq": seq, "rejected": batch.errors })),
        )
            .into_response())
    }
}
