//! Sessions for people: sign-in with a user name and password sets an `HttpOnly`,
//! `SameSite=Strict` cookie (`Secure` over TLS) holding a random token, stored only as its
//! SHA-256. Every request that changes something and is authenticated by the cookie must carry
//! the session's CSRF token in `X-CSRF-Token`, come from this origin (`Origin`,
//! `Sec-Fetch-Site`), or is refused. Sign-out ends the session on the server.

use axum::extract::State;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use cookie::{Cookie, SameSite};
use rand::Rng;
use rusqlite::{params, Connection};
use serde::Deserialize;
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Instant;
use subtle::ConstantTimeEq;

use super::{device, users};
use crate::api::{parse_body, ApiError, AppState};
use crate::audit::AuditDraft;
use crate::auth::{hash_token, Principal, Role};

/// The cookie's name.
pub const COOKIE: &str = "limes_session";
/// The header carrying the CSRF token.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// Sessions one account may hold at once (the oldest ends first).
pub const MAX_PER_USER: usize = 8;

/// One signed-in session.
#[derive(Clone, Debug)]
pub struct Session {
    /// Account id.
    pub user_id: i64,
    /// Account name.
    pub user: String,
    /// Organisation.
    pub org: String,
    /// Role.
    pub role: Role,
    /// The CSRF token (given to the page in the sign-in reply and `GET /api/v1/session`).
    pub csrf: String,
    /// Wall-clock end, seconds since the epoch.
    pub expires: f64,
    /// Wall-clock start.
    pub created: f64,
}

impl Session {
    /// The caller this session authenticates; audit entries name the user.
    pub fn principal(&self) -> Principal {
        Principal {
            org: self.org.clone(),
            role: self.role,
            via: format!("user:{}", self.user),
            sensor: None,
        }
    }
}

/// What a cookie's lookup found.
#[derive(Debug)]
pub enum Lookup {
    /// A live session.
    Live(Session),
    /// It ended by time.
    Expired,
    /// No such session (signed out, replaced, or never issued).
    Unknown,
}

/// Live sessions by the SHA-256 of their token, cached from the store.
#[derive(Clone)]
pub struct Sessions {
    by_hash: Arc<RwLock<HashMap<String, Session>>>,
    /// Bumped whenever sessions are removed, so what a session holds open (an event stream)
    /// can end with it.
    removed: Arc<tokio::sync::watch::Sender<u64>>,
}

impl Default for Sessions {
    fn default() -> Self {
        Self {
            by_hash: Arc::default(),
            removed: Arc::new(tokio::sync::watch::channel(0).0),
        }
    }
}

fn wall_now() -> f64 {
    crate::clock::wall_now()
}

impl Sessions {
    /// Loads the sessions of enabled accounts.
    pub fn load(c: &Connection) -> Result<Self, crate::store::StoreError> {
        let mut stmt = c.prepare(
            "SELECT s.hash, s.user_id, s.csrf, s.created, s.expires, u.name, u.org, u.role
             FROM sessions s JOIN users u ON u.id = s.user_id WHERE u.disabled = 0",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, f64>(3)?,
                r.get::<_, f64>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, String>(6)?,
                r.get::<_, String>(7)?,
            ))
        })?;
        let mut map = HashMap::new();
        for row in rows {
            let (hash, user_id, csrf, created, expires, user, org, role) = row?;
            if let Some(role) = Role::parse(&role) {
                map.insert(
                    hash,
                    Session {
                        user_id,
                        user,
                        org,
                        role,
                        csrf,
                        expires,
                        created,
                    },
                );
            }
        }
        Ok(Self {
            by_hash: Arc::new(RwLock::new(map)),
            ..Self::default()
        })
    }

    /// Resolves once the session of cookie token `token` has ended: signed out, dropped, or
    /// past its expiry (at once when there is no such session).
    pub async fn ended(&self, token: &str) {
        let h = hash_token(token);
        let mut rx = self.removed.subscribe();
        loop {
            let expires = self
                .by_hash
                .read()
                .ok()
                .and_then(|m| m.get(&h).map(|s| s.expires));
            let Some(left) = expires.map(|e| e - wall_now()).filter(|l| *l > 0.0) else {
                return;
            };
            tokio::select! {
                () = tokio::time::sleep(std::time::Duration::from_secs_f64(left.min(1e9))) => {}
                r = rx.changed() => {
                    if r.is_err() {
                        return;
                    }
                }
            }
        }
    }

    /// Finds the session of a cookie token.
    pub fn lookup(&self, token: &str) -> Lookup {
        let h = hash_token(token);
        let Ok(m) = self.by_hash.read() else {
            return Lookup::Unknown;
        };
        match m.get(&h) {
            Some(s) if s.expires > wall_now() => Lookup::Live(s.clone()),
            Some(_) => Lookup::Expired,
            None => Lookup::Unknown,
        }
    }

    fn insert(&self, hash: String, s: Session) {
        if let Ok(mut m) = self.by_hash.write() {
            m.insert(hash, s);
        }
    }

    fn remove(&self, hashes: &[String]) {
        if let Ok(mut m) = self.by_hash.write() {
            for h in hashes {
                m.remove(h);
            }
        }
        self.removed.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Sessions held, for tests.
    pub fn len(&self) -> usize {
        self.by_hash.read().map(|m| m.len()).unwrap_or(0)
    }

    /// Whether none is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn random_hex() -> String {
    let b: [u8; 32] = rand::rng().random();
    hex::encode(b)
}

/// The cookie's token in a request, if any.
pub fn cookie_token(headers: &HeaderMap) -> Option<String> {
    cookie(headers, COOKIE)
}

/// The value of cookie `name` in a request, if it carries one.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .map(|c| c.value().to_string())
}

fn secure(state: &AppState, headers: &HeaderMap) -> bool {
    state.console.config.secure_cookies
        || headers
            .get("x-forwarded-proto")
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"))
}

fn set_cookie(value: String, max_age_s: i64, secure: bool) -> HeaderValue {
    cookie_header(COOKIE, value, "/", max_age_s, secure)
}

/// A `Set-Cookie` value as every console cookie is set: `HttpOnly`, `SameSite=Strict`,
/// `Secure` over TLS.
pub(super) fn cookie_header(
    name: &'static str,
    value: String,
    path: &'static str,
    max_age_s: i64,
    secure: bool,
) -> HeaderValue {
    let c = Cookie::build((name, value))
        .path(path)
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure)
        .max_age(time::Duration::seconds(max_age_s))
        .build();
    HeaderValue::from_str(&c.to_string()).unwrap_or(HeaderValue::from_static(""))
}

/// Refuses a request that another site made the browser send: `Sec-Fetch-Site` other than
/// same-origin (or none, typed by the user), or an `Origin` that is not this server's.
pub fn same_origin(headers: &HeaderMap) -> Result<(), ApiError> {
    let refuse = |why: String| {
        ApiError::new(
            StatusCode::FORBIDDEN,
            format!("cross-site request refused: {why}"),
        )
    };
    if let Some(site) = headers.get("sec-fetch-site") {
        let s = site.to_str().unwrap_or("");
        if s != "same-origin" && s != "none" {
            return Err(refuse(format!("Sec-Fetch-Site is {s:?}")));
        }
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let o = origin.to_str().unwrap_or("");
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("");
        let ok =
            !host.is_empty() && (o == format!("http://{host}") || o == format!("https://{host}"));
        if !ok {
            return Err(refuse(format!("Origin {o:?} is not this server")));
        }
    }
    Ok(())
}

fn check_csrf(headers: &HeaderMap, s: &Session) -> Result<(), ApiError> {
    same_origin(headers)?;
    let given = headers
        .get(CSRF_HEADER)
        .map(|v| v.as_bytes())
        .unwrap_or(b"");
    if given.is_empty() || !bool::from(given.ct_eq(s.csrf.as_bytes())) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "missing or wrong CSRF token (send the session's token in X-CSRF-Token)",
        ));
    }
    Ok(())
}

/// The session of a request's cookie, checked for CSRF when the method changes something.
/// `Ok(None)` when there is no cookie at all.
pub fn from_request(parts: &Parts, state: &AppState) -> Result<Option<Session>, ApiError> {
    let Some(token) = cookie_token(&parts.headers) else {
        return Ok(None);
    };
    let s = match state.console.sessions.lookup(&token) {
        Lookup::Live(s) => s,
        Lookup::Expired => {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "your session has expired; sign in again",
            ))
        }
        Lookup::Unknown => {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "your session has ended (signed out or replaced); sign in again",
            ))
        }
    };
    if !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS) {
        check_csrf(&parts.headers, &s)?;
    }
    Ok(Some(s))
}

/// The caller of a request authenticated by its session cookie (for the API's extractor).
pub fn principal(parts: &Parts, state: &AppState) -> Result<Principal, ApiError> {
    from_request(parts, state)?
        .map(|s| s.principal())
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "sign in, or send Authorization: Bearer <token>",
            )
        })
}

fn info(state: &AppState, s: &Session) -> serde_json::Value {
    let org_name = state
        .policy
        .org(&s.org)
        .map(|o| o.name.clone())
        .unwrap_or_default();
    json!({
        "user": s.user, "org": s.org, "org_name": org_name, "role": s.role, "csrf": s.csrf,
        "expires": limes_core::record::Time(s.expires),
    })
}

/// `GET /api/v1/session`: who is signed in (401 when nobody).
pub async fn current(State(state): State<AppState>, parts: Parts) -> Result<Response, ApiError> {
    let s = from_request(&parts, &state)?
        .ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, "not signed in"))?;
    Ok(Json(info(&state, &s)).into_response())
}

/// Body of a sign-in.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignIn {
    user: String,
    password: String,
}

/// `POST /api/v1/session {"user", "password"}`: signs in; sets the cookie.
pub async fn sign_in(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Response, ApiError> {
    same_origin(&headers)?;
    let body = body.map_err(|e| {
        if crate::api::body::timed_out(&e) {
            return crate::api::body::stopped_arriving();
        }
        ApiError::new(
            e.status(),
            format!(
                "a sign-in body is a name and a password (at most {} bytes): {}",
                super::SIGN_IN_BODY,
                e.body_text()
            ),
        )
    })?;
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !is_json {
        // A form post from another site cannot set this type without a preflight.
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "sign in with Content-Type: application/json",
        ));
    }
    let b: SignIn = parse_body(&body)?;
    let name = b.user.trim().to_string();
    let refused = || ApiError::new(StatusCode::UNAUTHORIZED, "wrong user name or password");
    if !users::valid_name(&name) || b.password.len() > users::MAX_PASSWORD * 4 {
        return Err(refused());
    }
    let console = state.console.clone();
    // A browser that signed in to this account before counts its failures apart from
    // everyone else's (a name locked by strangers still takes its sign-ins). Without a device
    // cookie a locked name is answered from memory, before any read of the store.
    let device = cookie(&headers, device::COOKIE).map(|t| hash_token(&t));
    if device.is_none() {
        if let Some(wait) = console.lockout.locked(&name, Instant::now()) {
            return Err(locked(wait));
        }
    }
    let _slot = console
        .verify_slots
        .clone()
        .acquire_owned()
        .await
        .map_err(|_| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "shutting down"))?;
    let (n2, d2) = (name.clone(), device.clone());
    let (user, known, seen) = state
        .store
        .read(move |c| {
            let (known, seen) = match &d2 {
                Some(h) => (device::known(c, &n2, h, wall_now())?, device::seen(c, h)?),
                None => (false, false),
            };
            Ok((users::find(c, &n2)?, known, seen))
        })
        .await?;
    let lock_key = match (&device, known) {
        (Some(h), true) => format!("{name}\n{h}"),
        _ => name.clone(),
    };
    if let Some(wait) = console.lockout.locked(&lock_key, Instant::now()) {
        return Err(locked(wait));
    }
    let user = user.filter(|u| !u.disabled);
    // The lock-out's entry is its organisation's to read (the owner reads all, and only the
    // owner reads an owner account's: its organisation's admins do not read the owner's).
    let actor = match &user {
        Some(u) if u.role != Role::Owner => format!("{}/system", u.org),
        _ => "system".to_string(),
    };
    let hash = user.as_ref().map(|u| u.hash.clone());
    let password = b.password;
    let ok = tokio::task::spawn_blocking(move || users::verify(hash.as_deref(), &password))
        .await
        .unwrap_or(false);
    drop(_slot);
    let Some(user) = user.filter(|_| ok) else {
        tracing::warn!("failed sign-in for user name {name:?}");
        if let Some(lock) = console.lockout.fail(&lock_key, Instant::now()) {
            let _ = state
                .store
                .audit(AuditDraft::new(
                    actor,
                    "session.lockout",
                    format!("user/{name}"),
                    json!({ "seconds": lock.as_secs(), "known_browser": known }),
                ))
                .await;
        }
        return Err(refused());
    };
    if state.policy.org(&user.org).is_none() {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!(
                "your organisation {:?} is not in this site's file",
                user.org
            ),
        ));
    }
    console.lockout.clear(&lock_key);
    // The browser keeps a device token it was given at a sign-in (to any account: one
    // browser may serve several people), or gets one.
    let device_token = (!seen).then(random_hex);
    let device_hash = device_token
        .as_deref()
        .map(hash_token)
        .or(device)
        .unwrap_or_default();
    let token = random_hex();
    let hash = hash_token(&token);
    let now = wall_now();
    let s = Session {
        user_id: user.id,
        user: user.name.clone(),
        org: user.org.clone(),
        role: user.role,
        csrf: random_hex(),
        expires: now + console.config.session_ttl_s(),
        created: now,
    };
    let (h2, s2) = (hash.clone(), s.clone());
    let dropped = state
        .store
        .change(
            Box::new(move |c: &Connection| {
                c.execute(
                    "INSERT INTO sessions (hash, user_id, csrf, created, expires) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![h2, s2.user_id, s2.csrf, s2.created, s2.expires],
                )?;
                // Expired sessions, and an account's oldest beyond MAX_PER_USER, end now.
                let mut stmt = c.prepare(
                    "SELECT hash FROM sessions WHERE expires <= ?1 OR hash IN (
                       SELECT hash FROM sessions WHERE user_id = ?2 ORDER BY created DESC LIMIT -1 OFFSET ?3)",
                )?;
                let old: Vec<String> = stmt
                    .query_map(params![s2.created, s2.user_id, MAX_PER_USER as i64], |r| r.get(0))?
                    .collect::<Result<_, _>>()?;
                for h in &old {
                    c.execute("DELETE FROM sessions WHERE hash = ?1", params![h])?;
                }
                device::remember(c, s2.user_id, &device_hash, s2.created)?;
                Ok(json!(old))
            }),
            AuditDraft::new(
                s.principal().actor(),
                "session.open",
                format!("user/{}", s.user),
                json!({ "expires": limes_core::record::Time(s.expires) }),
            ),
        )
        .await?;
    let dropped: Vec<String> = serde_json::from_value(dropped).unwrap_or_default();
    console.sessions.remove(&dropped);
    console.sessions.insert(hash, s.clone());
    let mut r = Json(info(&state, &s)).into_response();
    r.headers_mut().insert(
        header::SET_COOKIE,
        set_cookie(
            token,
            console.config.session_ttl_s() as i64,
            secure(&state, &headers),
        ),
    );
    if let Some(t) = device_token {
        r.headers_mut().append(
            header::SET_COOKIE,
            device::set_cookie(&t, secure(&state, &headers)),
        );
    }
    Ok(r)
}

fn locked(wait: std::time::Duration) -> ApiError {
    let s = wait.as_secs().max(1);
    let mut e = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        format!("too many failed sign-ins for this user name; try again in {s} s"),
    );
    e.details = json!({ "retry_after_s": s });
    e
}

/// `DELETE /api/v1/session`: signs out (the cookie's session ends on the server too).
pub async fn sign_out(State(state): State<AppState>, parts: Parts) -> Result<Response, ApiError> {
    let token = cookie_token(&parts.headers);
    let s = from_request(&parts, &state)?
        .ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, "not signed in"))?;
    let hash = hash_token(token.as_deref().unwrap_or(""));
    let h2 = hash.clone();
    state
        .store
        .change(
            Box::new(move |c: &Connection| {
                c.execute("DELETE FROM sessions WHERE hash = ?1", params![h2])?;
                Ok(serde_json::Value::Null)
            }),
            AuditDraft::new(
                s.principal().actor(),
                "session.close",
                format!("user/{}", s.user),
                json!({}),
            ),
        )
        .await?;
    state.console.sessions.remove(&[hash]);
    let mut r = (StatusCode::OK, Json(json!({ "signed_out": true }))).into_response();
    r.headers_mut().insert(
        header::SET_COOKIE,
        set_cookie(String::new(), 0, secure(&state, &parts.headers)),
    );
    Ok(r)
}
