//! Audits what a known caller was refused: a request under `/api/` answered 403 (its role may
//! not) or 404 (no such thing, or nothing of another organisation's) becomes an entry
//! `refused` naming the method and path. Someone probing another organisation's alert ids or
//! an admin's paths leaves a trace their own organisation's admin and the owner can read.
//! Callers who are not known (401) are not written: their number is not bounded by anyone's
//! credential.

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use serde_json::json;

use super::AppState;
use crate::audit::AuditDraft;

/// Longest path written in an entry, characters (the rest is cut and marked).
const MAX_PATH: usize = 200;

/// The middleware: passes the request on, then audits a refusal of a known caller.
pub async fn audit(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let (mut parts, body) = req.into_parts();
    let watched = parts.uri.path().starts_with("/api/");
    let who = watched
        .then(|| super::authenticate(&parts, &state).ok())
        .flatten();
    if let Some(p) = &who {
        // The handler's extractor takes the caller from here rather than again.
        parts.extensions.insert(p.clone());
    }
    // A method is any token a client likes (up to the header limit): only the standard ones
    // are written as they are.
    let method = match parts.method.as_str() {
        m @ ("GET" | "HEAD" | "POST" | "PUT" | "DELETE" | "PATCH" | "OPTIONS") => m,
        _ => "OTHER",
    }
    .to_owned();
    let path = parts.uri.path().to_owned();
    let response = next.run(Request::from_parts(parts, body)).await;
    let status = response.status();
    if let (Some(p), StatusCode::FORBIDDEN | StatusCode::NOT_FOUND) = (who, status) {
        let cut: String = path.chars().take(MAX_PATH).collect();
        let path = if cut.len() < path.len() {
            cut + "…"
        } else {
            cut
        };
        let object = format!("{method} {path}");
        let detail = json!({ "status": status.as_u16() });
        // Durable before the answer goes out, as a read's entry is.
        let draft = AuditDraft::new(p.actor(), "refused", object, detail);
        if let Err(e) = state.store.audit(draft).await {
            tracing::warn!("a refusal of {} was not audited: {e}", p.actor());
        }
    }
    response
}
