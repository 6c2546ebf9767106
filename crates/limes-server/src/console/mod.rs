//! What the operator's console needs from the server, beside the REST API and the event stream:
//! people signing in (user accounts, session cookies, CSRF protection, lock-out), the site's own
//! geometry released per organisation, history for the time slider, and nuisance counts over a
//! recent window. Every reply passes through the release policy, as the rest of the API does.

pub mod device;
pub mod geometry;
pub mod history;
pub mod nuisance;
pub mod schema;
pub mod session;
pub mod users;

use axum::http::{header, HeaderValue};
use axum::routing::get;
use axum::Router;
use std::path::Path;
use std::sync::Arc;
use tokio::sync::Semaphore;

use crate::api::AppState;
use crate::store::{Store, StoreError};

/// How the console's server side behaves (flags of `limes serve`).
#[derive(Clone, Debug, clap::Args)]
pub struct ConsoleConfig {
    /// Console sessions last this long after sign-in, hours (wall clock).
    #[arg(long, default_value_t = 12.0)]
    pub session_hours: f64,
    /// Console history kept for the time slider, hours of the server's clock.
    #[arg(long, default_value_t = 24.0)]
    pub history_hours: f64,
    /// Console history keeps a track's state at most once per this many seconds.
    #[arg(long, default_value_t = 10.0)]
    pub history_step_s: f64,
    /// Mark the console's session cookie Secure (the page is served over TLS by a proxy; a
    /// request with `X-Forwarded-Proto: https` also gets it).
    #[arg(long)]
    pub secure_cookies: bool,
}

impl ConsoleConfig {
    /// Session lifetime, seconds.
    pub fn session_ttl_s(&self) -> f64 {
        self.session_hours.max(0.0) * 3600.0
    }
}

/// The console's shared state: sessions, the sign-in lock-out, history.
#[derive(Clone)]
pub struct Console {
    /// Settings.
    pub config: Arc<ConsoleConfig>,
    /// Signed-in sessions.
    pub sessions: session::Sessions,
    /// Failed sign-ins by user name.
    pub lockout: users::Lockout,
    /// The history store.
    pub history: history::History,
    /// Password checks running at once (argon2id costs memory and CPU by design).
    pub verify_slots: Arc<Semaphore>,
}

impl Console {
    /// Opens the console's state: loads sessions from the store and opens the history file in
    /// the data directory (its dropped rows counted in `metrics`).
    pub fn open(
        store: &Store,
        data: &Path,
        config: ConsoleConfig,
        metrics: &crate::metrics::Metrics,
    ) -> Result<Self, StoreError> {
        let sessions = store.read_blocking(session::Sessions::load)?;
        let history = history::History::open(
            data,
            config.history_hours,
            config.history_step_s,
            metrics.history_dropped.clone(),
        )?;
        Ok(Self {
            config: Arc::new(config),
            sessions,
            lockout: users::Lockout::default(),
            history,
            verify_slots: Arc::new(Semaphore::new(2)),
        })
    }

    /// Starts what runs in the background (the history recorder); call once the server is ready.
    pub fn start(&self, state: &AppState) {
        history::spawn_recorder(state.clone());
    }
}

/// The console's routes (under `/api/v1`).
pub fn router(state: AppState) -> Router {
    Router::new()
        .route(
            "/api/v1/session",
            get(session::current)
                .post(session::sign_in)
                .delete(session::sign_out),
        )
        .route("/api/v1/site", get(geometry::site))
        .route("/api/v1/history", get(history::handler))
        .route("/api/v1/nuisance/recent", get(nuisance::recent))
        // Only sign-in has a body, a name and a password: it is read before anyone is known,
        // so it is held to a few KiB (not the API's 16 MiB) and to the body timeout.
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
            state.limits.body_timeout,
        ))
        .layer(axum::extract::DefaultBodyLimit::max(SIGN_IN_BODY))
        .with_state(state)
}

/// Largest body of a console request (a sign-in: a name and a password), bytes.
pub const SIGN_IN_BODY: usize = 16 * 1024;

/// Every path the console adds to the API.
pub const PATHS: &[&str] = &[
    "/api/v1/session",
    "/api/v1/site",
    "/api/v1/history",
    "/api/v1/nuisance/recent",
];

/// Headers for every API reply: never cached, never sniffed as another type, never framed.
pub async fn api_headers(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let api = req.uri().path().starts_with("/api/");
    let mut r = next.run(req).await;
    let h = r.headers_mut();
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    if api && !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    h.entry("x-frame-options")
        .or_insert(HeaderValue::from_static("DENY"));
    r
}
