//! The HTTP API: routes, the caller extractor, the body extractor and the error type every
//! handler returns. The OpenAPI document is generated from the handlers (`openapi.rs`).

pub mod alerts;
pub(crate) mod body;
pub mod events;
pub mod ingest;
pub mod listing;
pub mod meta;
pub mod openapi;
pub mod read;
pub mod refused;
mod witness;

pub use body::{Body, BodyShares, Held, BODY_ROOM_WAIT, MAX_BODY, SMALL_BODY};
pub use read::load_facility_ops;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use limes_core::site::Site;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::audit::publish::Checkpoints;
use crate::audit::{AuditDraft, AuditSink};
use crate::auth::{Principal, Tokens};
use crate::clock::Clock;
use crate::health::Health;
use crate::hub::Hub;
use crate::ingest::Checker;
use crate::metrics::Metrics;
use crate::release::Policy;
use crate::store::{Store, StoreError};

/// Bounds the server keeps, shared by the listeners.
#[derive(Clone, Debug)]
pub struct Limits {
    /// CoT connections open at once (plain and TLS together).
    pub cot_connections: usize,
    /// HTTP connections open at once.
    pub http_connections: usize,
    /// Time a request body may take to arrive.
    pub body_timeout: Duration,
    /// Time a CoT connection has to send its first event.
    pub cot_first_event: Duration,
    /// Memory for request bodies, per organisation and credential (see [`Body`]).
    pub body_shares: BodyShares,
    /// CAP feed reads being built, one at a time per organisation.
    pub feed_builds: crate::deliver::cap::feed::FeedBuilds,
}

/// Everything a handler may need.
#[derive(Clone)]
pub struct AppState {
    /// The site.
    pub site: Arc<Site>,
    /// The store.
    pub store: Store,
    /// The live picture.
    pub hub: Hub,
    /// The release policy.
    pub policy: Arc<Policy>,
    /// Known tokens.
    pub tokens: Tokens,
    /// Record checks.
    pub checker: Arc<Checker>,
    /// Metrics.
    pub metrics: Metrics,
    /// Health.
    pub health: Health,
    /// The server's clock.
    pub clock: Clock,
    /// Audit entries of deliveries.
    pub audit_sink: AuditSink,
    /// Cancelled when the server shuts down.
    pub shutdown: CancellationToken,
    /// Connection tasks, waited for at shutdown.
    pub tasks: TaskTracker,
    /// Connection caps.
    pub limits: Limits,
    /// The operator's console: sessions, history.
    pub console: crate::console::Console,
    /// The audit log's signed checkpoints.
    pub checkpoints: Checkpoints,
}

impl AppState {
    /// Writes an audit entry and waits until it is durable.
    pub async fn audit(
        &self,
        p: &Principal,
        action: &str,
        object: impl Into<String>,
        detail: serde_json::Value,
    ) -> Result<(), ApiError> {
        self.store
            .audit(AuditDraft::new(p.actor(), action, object, detail))
            .await
            .map_err(ApiError::from)
    }
}

/// The API's routes (everything a partner reaches).
pub fn router(state: AppState) -> Router {
    let (router, _) = openapi::routes().split_for_parts();
    router
        .fallback(meta::not_found)
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
            state.limits.body_timeout,
        ))
        .with_state(state)
}

/// The operations routes (health with details, metrics), served on their own address.
pub fn ops_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(meta::metrics))
        .route("/healthz", get(meta::healthz))
        .route("/readyz", get(meta::readyz_detail))
        .with_state(state)
}

/// An API error: a status and a JSON body `{"error": …, "details": …}`.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// One sentence.
    pub message: String,
    /// Particulars (e.g. the field at fault).
    pub details: serde_json::Value,
}

impl ApiError {
    /// An error with a status and message.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            details: serde_json::Value::Null,
        }
    }

    /// 403 for a role that may not do this.
    pub fn forbidden(what: &str) -> Self {
        Self::new(StatusCode::FORBIDDEN, format!("your role may not {what}"))
    }

    /// 404.
    pub fn not_found(what: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, what)
    }

    /// The one answer for an alert that does not exist, is not released to the caller, or (for
    /// an action) is not released to it in full: they must be indistinguishable.
    pub fn no_alert() -> Self {
        Self::not_found("no such alert")
    }

    /// The one answer for an event that does not exist or is not released to the caller.
    pub fn no_event() -> Self {
        Self::not_found("no such event")
    }

    /// 400 naming a field.
    pub fn bad_field(field: &str, message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
            details: json!({ "field": field }),
        }
    }
}

impl From<StoreError> for ApiError {
    /// What the caller may read of a store error: the store's own failures (SQLite's text, a
    /// path, the audit tree's sizes) go to the server's log, and the caller, perhaps another
    /// organisation, is told only that the store failed.
    fn from(e: StoreError) -> Self {
        let status = match &e {
            StoreError::Busy => StatusCode::TOO_MANY_REQUESTS,
            StoreError::Refused(_) | StoreError::Conflict(_) => StatusCode::CONFLICT,
            StoreError::NotFound(_) => StatusCode::NOT_FOUND,
            StoreError::Closed | StoreError::NotReady | StoreError::NotStored => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            StoreError::Db(_)
            | StoreError::Io { .. }
            | StoreError::Locked(_)
            | StoreError::Audit(_) => {
                tracing::error!("a request failed in the store: {e}");
                return if e.may_succeed_later() {
                    Self::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "the store failed (the operators have the error in the server's log); \
                         nothing of this request is stored, send it again",
                    )
                } else {
                    Self::new(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "the store failed (the operators have the error in the server's log)",
                    )
                };
            }
        };
        Self::new(status, e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = (
            self.status,
            Json(json!({ "error": self.message, "details": self.details })),
        )
            .into_response();
        // A full queue drains within a second; a store that could not write is tried again
        // after waits of up to `backoff::MAX`, and a client that comes back sooner is only
        // refused again.
        let retry_after = match self.status {
            StatusCode::TOO_MANY_REQUESTS => Some(1),
            StatusCode::SERVICE_UNAVAILABLE => {
                Some(crate::store::backoff::MAX.as_secs_f64().ceil() as u64)
            }
            _ => None,
        };
        if let Some(s) = retry_after {
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        r
    }
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        // Authenticated once per request: by the refusal audit's middleware under `/api/`,
        // which leaves the caller here, or now. The body that follows reads it too (it is
        // counted in its sender's shares, [`Body`]).
        if let Some(p) = parts.extensions.get::<Principal>() {
            return Ok(p.clone());
        }
        let p = authenticate(parts, state)?;
        parts.extensions.insert(p.clone());
        Ok(p)
    }
}

/// The caller of a request: a bearer token, or a console session.
fn authenticate(parts: &Parts, state: &AppState) -> Result<Principal, ApiError> {
    let unauthorized = |m: &str| ApiError::new(StatusCode::UNAUTHORIZED, m);
    let Some(h) = parts.headers.get(header::AUTHORIZATION) else {
        // People signed in to the console: the session cookie (CSRF-checked on changes).
        return crate::console::session::principal(parts, state);
    };
    let token = h
        .to_str()
        .ok()
        .and_then(|s| s.strip_prefix("Bearer "))
        .ok_or_else(|| unauthorized("Authorization must be `Bearer <token>`"))?;
    state
        .tokens
        .lookup(token.trim())
        .ok_or_else(|| unauthorized("unknown or revoked token"))
}

/// Parses a JSON request body; a fault is a 400 naming the field (`details.field`).
pub(crate) fn parse_body<T: serde::de::DeserializeOwned>(b: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(b);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let field = e.path().to_string();
        ApiError::bad_field(&field, format!("body: {}", e.into_inner()))
    })
}

/// Like [`parse_body`], but an empty body is the type's default (optional bodies).
fn json_body<T: serde::de::DeserializeOwned + Default>(b: &[u8]) -> Result<T, ApiError> {
    if b.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    parse_body(b)
}

/// Runs every JSON body parser of the API on `data` (for the fuzz target); never panics.
pub fn fuzz_bodies(data: &[u8]) {
    alerts::fuzz_bodies(data);
    read::fuzz_bodies(data);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stores_own_failures_are_not_told_to_the_caller() {
        let sqlite = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL),
            Some("database or disk is full: INSERT INTO audit".into()),
        );
        let io = StoreError::Io {
            path: "/srv/limes/secret-dir".into(),
            source: std::io::Error::other("permission denied"),
        };
        let constraint = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CONSTRAINT),
            Some("NOT NULL constraint failed: secret-dir".into()),
        );
        let corrupt = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CORRUPT),
            Some("database disk image is malformed".into()),
        );
        for (e, status) in [
            (StoreError::Db(sqlite), StatusCode::SERVICE_UNAVAILABLE),
            (StoreError::Db(corrupt), StatusCode::INTERNAL_SERVER_ERROR),
            (io, StatusCode::INTERNAL_SERVER_ERROR),
            (
                StoreError::Db(constraint),
                StatusCode::INTERNAL_SERVER_ERROR,
            ),
            (
                StoreError::Locked("/srv/limes/secret-dir".into()),
                StatusCode::INTERNAL_SERVER_ERROR,
            ),
        ] {
            let a = ApiError::from(e);
            assert_eq!(a.status, status, "{}", a.message);
            assert!(
                !a.message.contains("INSERT")
                    && !a.message.contains("disk is full")
                    && !a.message.contains("secret-dir"),
                "{}",
                a.message
            );
        }
        let busy = ApiError::from(StoreError::Busy);
        assert_eq!(busy.status, StatusCode::TOO_MANY_REQUESTS);
        let refused = ApiError::from(StoreError::Refused("alert 3 is closed".into()));
        assert_eq!(
            refused.message, "alert 3 is closed",
            "the caller's own refusal"
        );
    }
}
