//! Health, readiness, metrics, the clock, the OpenAPI document and the JSON 404.

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde_json::json;

use super::{ApiError, AppState};

/// 200 while the process serves requests.
pub async fn healthz() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}

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

/// The server's clock (sensors and `limes replay` align to it).
pub async fn clock(State(s): State<AppState>) -> impl IntoResponse {
    let now = s.clock.now();
    Json(json!({ "now": limes_core::record::Time(now), "unix": now, "speed": s.clock.speed() }))
}

/// The OpenAPI document, generated from the handlers.
pub async fn openapi() -> impl IntoResponse {
    Json(super::openapi::document())
}

/// Any other path: the API's JSON 404.
pub async fn not_found() -> ApiError {
    ApiError::not_found("no such path")
}
