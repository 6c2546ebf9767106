//! Health, readiness, metrics, the clock, the OpenAPI document and the JSON 404.

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde_json::json;

use super::{ApiError, AppState};

#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, description = "The process serves requests")))]
/// 200 while the process serves requests.
pub async fn healthz() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}

#[utoipa::path(get, path = "/readyz", tag = "operations", responses((status = 200, description = "Ready"), (status = 503, description = "Not ready")))]
/// 200 once the log has been replayed and input is taken; 503 otherwise (no details: the
/// partners' listener says only whether).
pub async fn readyz(State(s): State<AppState>) -> impl IntoResponse {
    if s.health.problems().is_empty() {
        (StatusCode::OK, Json(json!({ "status": "ready" })))
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "not ready" })),
        )
    }
}

/// Readiness with its reasons and the sensors flagged as flooding (operations listener).
pub async fn readyz_detail(State(s): State<AppState>) -> impl IntoResponse {
    let problems = s.health.problems();
    let body = json!({
        "status": if problems.is_empty() { "ready" } else { "not ready" },
        "problems": problems,
        "flooding_sensors": s.health.flooding(),
        "processed_seq": s.health.processed(),
    });
    let code = if problems.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(body))
}

/// Prometheus metrics: OpenMetrics to a scraper that asks for it, the classic text format
/// (0.0.4) otherwise.
pub async fn metrics(State(s): State<AppState>, headers: HeaderMap) -> impl IntoResponse {
    let openmetrics = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/openmetrics-text"));
    if openmetrics {
        (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            s.metrics.render(),
        )
    } else {
        (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            crate::metrics::to_classic(&s.metrics.render()),
        )
    }
}

#[utoipa::path(get, path = "/api/v1/clock", tag = "operations", responses((status = 200, description = "The server's clock", body = Object)))]
/// The server's clock (sensors and `limes replay` align to it).
pub async fn clock(State(s): State<AppState>) -> impl IntoResponse {
    let now = s.clock.now();
    Json(json!({ "now": limes_core::record::Time(now), "unix": now, "speed": s.clock.speed() }))
}

#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "operations", responses((status = 200, description = "This document", body = Object)))]
/// The OpenAPI document, generated from the handlers.
pub async fn openapi() -> impl IntoResponse {
    static DOC: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let doc = DOC.get_or_init(|| super::openapi::document().to_json().unwrap_or_default());
    ([(header::CONTENT_TYPE, "application/json")], doc.as_str())
}

/// Any other path: the API's JSON 404.
pub async fn not_found() -> ApiError {
    ApiError::not_found("no such path")
}
