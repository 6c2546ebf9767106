//! Browsers that have signed in to an account (OWASP's "device cookies"): a good sign-in gives
//! the browser a long-lived `HttpOnly` cookie with a random token, stored only as its SHA-256
//! and bound to the account. Failed sign-ins from anyone else lock the name for everyone else,
//! but a browser presenting its device cookie has its own count and lock: someone who knows an
//! operator's name can no longer keep that operator out on the night it matters.

use axum::http::HeaderValue;
use rusqlite::{params, Connection, OptionalExtension};

use crate::store::StoreError;

/// The device cookie's name.
pub const COOKIE: &str = "limes_device";
/// Browsers one account remembers (the oldest is forgotten first).
pub const MAX_PER_USER: usize = 8;
/// How long a browser is remembered after its last good sign-in, days.
pub const DAYS: i64 = 90;

/// Whether the browser whose token hashes to `hash` signed in to account `name` within
/// [`DAYS`] (`now`: wall clock, seconds since the epoch).
pub fn known(c: &Connection, name: &str, hash: &str, now: f64) -> Result<bool, StoreError> {
    Ok(c.query_row(
        "SELECT 1 FROM devices d JOIN users u ON u.id = d.user_id
          WHERE d.hash = ?1 AND u.name = ?2 AND d.seen > ?3",
        params![hash, name, now - (DAYS * 86_400) as f64],
        |_| Ok(()),
    )
    .optional()?
    .is_some())
}

/// Whether a browser's token was given at a good sign-in to any account (and is still
/// remembered): such a browser keeps its token when it signs in to another.
pub fn seen(c: &Connection, hash: &str) -> Result<bool, StoreError> {
    Ok(c.query_row(
        "SELECT 1 FROM devices WHERE hash = ?1 LIMIT 1",
        params![hash],
        |_| Ok(()),
    )
    .optional()?
    .is_some())
}

/// Remembers (or refreshes) a browser of an account after a good sign-in, forgetting the
/// account's oldest beyond [`MAX_PER_USER`] and any not seen within [`DAYS`].
pub fn remember(c: &Connection, user_id: i64, hash: &str, now: f64) -> rusqlite::Result<()> {
    c.execute(
        "INSERT INTO devices (hash, user_id, seen) VALUES (?1, ?2, ?3)
         ON CONFLICT(hash, user_id) DO UPDATE SET seen = excluded.seen",
        params![hash, user_id, now],
    )?;
    c.execute(
        "DELETE FROM devices WHERE seen <= ?1 OR (user_id = ?2 AND hash IN (
           SELECT hash FROM devices WHERE user_id = ?2 ORDER BY seen DESC LIMIT -1 OFFSET ?3))",
        params![now - (DAYS * 86_400) as f64, user_id, MAX_PER_USER as i64],
    )?;
    Ok(())
}

/// The `Set-Cookie` value giving a browser its device token (sent only to sign-in).
pub fn set_cookie(token: &str, secure: bool) -> HeaderValue {
    super::session::cookie_header(
        COOKIE,
        token.to_owned(),
        "/api/v1/session",
        DAYS * 86_400,
        secure,
    )
}
