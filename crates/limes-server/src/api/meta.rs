//! Health, readiness, metrics, the clock and the OpenAPI document.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde_json::json;
use std::sync::atomic::Ordering;

use super::AppState;

/// The OpenAPI 3.1 description of this API.
pub const OPENAPI: &str = include_str!("openapi.json");

/// 200 while the process serves requests.
pub async fn healthz() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}

/// 200 once the log has been replayed and input is accepted; 503 before.
pub async fn readyz(State(s): State<AppState>) -> impl IntoResponse {
    if s.shared.ready.load(Ordering::SeqCst) {
        (StatusCode::OK, Json(json!({ "status": "ready" })))
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "replaying the log" })),
        )
    }
}

/// Prometheus text format.
pub async fn metrics(State(s): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        s.metrics.render(),
    )
}

/// The server's clock (sensors and `limes replay` align to it).
pub async fn clock(State(s): State<AppState>) -> impl IntoResponse {
    let now = s.clock.now();
    Json(json!({ "now": limes_core::record::Time(now), "unix": now, "speed": s.clock.speed() }))
}

/// The OpenAPI document.
pub async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_openapi_document_describes_every_route() {
        let doc: serde_json::Value = serde_json::from_str(super::OPENAPI).expect("valid JSON");
        assert_eq!(doc["openapi"], "3.1.0");
        let paths = doc["paths"].as_object().expect("paths");
        for p in crate::api::PATHS {
            assert!(paths.contains_key(*p), "{p} is served but not documented");
        }
        assert_eq!(
            paths.len(),
            crate::api::PATHS.len(),
            "documented paths that are not served"
        );
    }
}
