//! People's accounts: a name bound to one organisation and one role, the password hashed with
//! argon2id, and a lock-out after repeated failed sign-ins.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use rusqlite::{params, Connection, OptionalExtension};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::audit::AuditDraft;
use crate::auth::Role;
use crate::store::{ChangeFn, Store, StoreError};

/// Shortest password accepted.
pub const MIN_PASSWORD: usize = 10;
/// Longest password accepted (argon2 would take more, but nobody types this much).
pub const MAX_PASSWORD: usize = 1024;

/// A stored account.
#[derive(Clone, Debug)]
pub struct User {
    /// Row id.
    pub id: i64,
    /// Sign-in name.
    pub name: String,
    /// Organisation.
    pub org: String,
    /// Role.
    pub role: Role,
    /// argon2id PHC string.
    pub hash: String,
    /// Disabled accounts cannot sign in.
    pub disabled: bool,
}

/// Why an account could not be added.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    /// The name has characters other than letters, digits, `.`, `-`, `_`, or is too long.
    #[error("user name {0:?}: use 1 to 64 letters, digits, '.', '-' and '_'")]
    Name(String),
    /// The password is too short or too long.
    #[error("password: use {MIN_PASSWORD} to {MAX_PASSWORD} characters")]
    Password,
    /// People are operators, viewers or admins; sensors use tokens.
    #[error("role {0:?}: people sign in as viewer, operator or admin")]
    Role(String),
    /// Hashing failed.
    #[error("hashing the password: {0}")]
    Hash(String),
    /// The store refused.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Checks a user name: 1–64 characters of `[A-Za-z0-9._-]`.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
}

/// Hashes a password with argon2id (the crate's defaults: 19 MiB, 2 passes, 1 lane).
pub fn hash_password(password: &str) -> Result<String, UserError> {
    let bytes: [u8; 16] = rand::Rng::random(&mut rand::rng());
    let salt = SaltString::encode_b64(&bytes).map_err(|e| UserError::Hash(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| UserError::Hash(e.to_string()))
}

/// A fixed hash checked when the user does not exist, so both cases take as long.
static DUMMY: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| hash_password("not a password of anybody's").unwrap_or_default());

/// Whether `password` matches the stored hash (`None`: no such user; still costs one check).
pub fn verify(hash: Option<&str>, password: &str) -> bool {
    let h = hash.unwrap_or(DUMMY.as_str());
    let ok = PasswordHash::new(h)
        .map(|p| {
            Argon2::default()
                .verify_password(password.as_bytes(), &p)
                .is_ok()
        })
        .unwrap_or(false);
    ok && hash.is_some()
}

/// Reads an account by name.
pub fn find(c: &Connection, name: &str) -> Result<Option<User>, StoreError> {
    Ok(c.query_row(
        "SELECT id, name, org, role, hash, disabled FROM users WHERE name = ?1",
        params![name],
        row_user,
    )
    .optional()?
    .flatten())
}

/// Reads an account by id.
pub fn by_id(c: &Connection, id: i64) -> Result<Option<User>, StoreError> {
    Ok(c.query_row(
        "SELECT id, name, org, role, hash, disabled FROM users WHERE id = ?1",
        params![id],
        row_user,
    )
    .optional()?
    .flatten())
}

fn row_user(r: &rusqlite::Row) -> rusqlite::Result<Option<User>> {
    let role: String = r.get(3)?;
    Ok(Role::parse(&role).map(|role| User {
        id: r.get(0).unwrap_or(0),
        name: r.get(1).unwrap_or_default(),
        org: r.get(2).unwrap_or_default(),
        role,
        hash: r.get(4).unwrap_or_default(),
        disabled: r.get::<_, i64>(5).unwrap_or(1) != 0,
    }))
}

/// The change that adds (or, with `replace`, re-keys) an account; returns `{id, name, org, role}`.
fn add_change(name: String, org: String, role: Role, hash: String, replace: bool) -> ChangeFn {
    Box::new(move |c: &Connection| {
        let now = chrono::Utc::now().to_rfc3339();
        if replace {
            c.execute(
                "INSERT INTO users (name, org, role, hash, created) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT(name) DO UPDATE SET org = excluded.org, role = excluded.role,
                   hash = excluded.hash, disabled = 0",
                params![name, org, role.name(), hash, now],
            )?;
            // A new password ends the account's sessions and forgets its browsers.
            for table in ["sessions", "devices"] {
                c.execute(
                    &format!(
                        "DELETE FROM {table} WHERE user_id = (SELECT id FROM users WHERE name = ?1)"
                    ),
                    params![name],
                )?;
            }
        } else {
            let n = c.execute(
                "INSERT OR IGNORE INTO users (name, org, role, hash, created) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![name, org, role.name(), hash, now],
            )?;
            if n == 0 {
                return Err(StoreError::Refused(format!(
                    "user {name:?} exists (use --replace to set a new password)"
                )));
            }
        }
        let id: i64 = c.query_row("SELECT id FROM users WHERE name = ?1", params![name], |r| {
            r.get(0)
        })?;
        Ok(serde_json::json!({ "id": id, "name": name, "org": org, "role": role }))
    })
}

/// Checks and hashes what `add` stores.
fn prepare(name: &str, role: Role, password: &str) -> Result<String, UserError> {
    if !valid_name(name) {
        return Err(UserError::Name(name.into()));
    }
    if role == Role::Sensor {
        return Err(UserError::Role("sensor".into()));
    }
    let n = password.chars().count();
    if !(MIN_PASSWORD..=MAX_PASSWORD).contains(&n) {
        return Err(UserError::Password);
    }
    hash_password(password)
}

/// Adds an account from a blocking context (`limes user add`, server stopped); audited.
pub fn add_blocking(
    store: &Store,
    name: &str,
    org: &str,
    role: Role,
    password: &str,
    replace: bool,
    actor: &str,
) -> Result<i64, UserError> {
    let hash = prepare(name, role, password)?;
    let v = store.change_blocking(
        add_change(name.into(), org.into(), role, hash, replace),
        AuditDraft::new(
            actor,
            "user.add",
            format!("user/{name}"),
            serde_json::json!({ "org": org, "role": role, "replace": replace }),
        ),
    )?;
    Ok(v["id"].as_i64().unwrap_or(0))
}

/// Adds an account from async code (the demo, tests); audited.
pub async fn add(
    store: &Store,
    name: &str,
    org: &str,
    role: Role,
    password: &str,
    actor: &str,
) -> Result<i64, UserError> {
    let hash = prepare(name, role, password)?;
    let v = store
        .change(
            add_change(name.into(), org.into(), role, hash, true),
            AuditDraft::new(
                actor,
                "user.add",
                format!("user/{name}"),
                serde_json::json!({ "org": org, "role": role }),
            ),
        )
        .await?;
    Ok(v["id"].as_i64().unwrap_or(0))
}

/// Failures before the first lock.
pub const FREE_FAILURES: u32 = 5;
/// First lock, doubled with each further failure, up to [`MAX_LOCK`].
pub const FIRST_LOCK: Duration = Duration::from_secs(30);
/// Longest lock.
pub const MAX_LOCK: Duration = Duration::from_secs(15 * 60);
/// User names remembered at most (the oldest entry is forgotten first).
pub const MAX_TRACKED: usize = 10_000;

#[derive(Clone, Copy, Debug)]
struct Failures {
    n: u32,
    last: Instant,
    until: Option<Instant>,
}

/// Failed sign-ins per user name (known or not, so a lock says nothing of who exists), in memory.
#[derive(Clone, Default)]
pub struct Lockout {
    by_name: Arc<Mutex<HashMap<String, Failures>>>,
}

impl Lockout {
    /// How long `name` is still locked, if it is.
    pub fn locked(&self, name: &str, now: Instant) -> Option<Duration> {
        let m = self.by_name.lock().ok()?;
        let f = m.get(name)?;
        f.until.filter(|u| *u > now).map(|u| u - now)
    }

    /// Counts a failure; returns the lock it starts, if any.
    pub fn fail(&self, name: &str, now: Instant) -> Option<Duration> {
        let mut m = self.by_name.lock().ok()?;
        if m.len() >= MAX_TRACKED && !m.contains_key(name) {
            if let Some(oldest) = m.iter().min_by_key(|(_, f)| f.last).map(|(k, _)| k.clone()) {
                m.remove(&oldest);
            }
        }
        let f = m.entry(name.to_string()).or_insert(Failures {
            n: 0,
            last: now,
            until: None,
        });
        f.n += 1;
        f.last = now;
        if f.n <= FREE_FAILURES {
            return None;
        }
        let doublings = (f.n - FREE_FAILURES - 1).min(10);
        let lock = (FIRST_LOCK * 2u32.pow(doublings)).min(MAX_LOCK);
        f.until = Some(now + lock);
        Some(lock)
    }

    /// Forgets a name's failures (after a good sign-in).
    pub fn clear(&self, name: &str) {
        if let Ok(mut m) = self.by_name.lock() {
            m.remove(name);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn passwords_verify_only_against_their_own_hash() {
        let h = hash_password("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify(Some(&h), "correct horse battery"));
        assert!(!verify(Some(&h), "correct horse battery "));
        assert!(!verify(None, "correct horse battery"));
        assert!(!verify(Some("not a hash"), "x"));
    }

    #[test]
    fn names_and_passwords_are_checked() {
        assert!(valid_name("ibf-op.1_a"));
        assert!(!valid_name(""));
        assert!(!valid_name("a b"));
        assert!(!valid_name("<script>"));
        assert!(!valid_name(&"x".repeat(65)));
        assert!(matches!(
            prepare("x", Role::Operator, "short"),
            Err(UserError::Password)
        ));
        assert!(matches!(
            prepare("x", Role::Sensor, "long enough password"),
            Err(UserError::Role(_))
        ));
    }

    #[test]
    fn repeated_failures_lock_a_name_for_longer_each_time() {
        let l = Lockout::default();
        let t0 = Instant::now();
        for _ in 0..FREE_FAILURES {
            assert_eq!(l.fail("op", t0), None);
        }
        assert_eq!(l.locked("op", t0), None);
        assert_eq!(l.fail("op", t0), Some(FIRST_LOCK));
        assert_eq!(l.locked("op", t0), Some(FIRST_LOCK));
        assert_eq!(l.fail("op", t0), Some(FIRST_LOCK * 2));
        assert_eq!(l.locked("op", t0 + FIRST_LOCK * 3), None);
        assert_eq!(l.locked("other", t0), None);
        l.clear("op");
        assert_eq!(l.locked("op", t0), None);
        for _ in 0..40 {
            l.fail("op", t0);
        }
        assert_eq!(l.locked("op", t0), Some(MAX_LOCK));
    }

    #[test]
    fn the_lockout_table_is_bounded() {
        let l = Lockout::default();
        let t0 = Instant::now();
        for i in 0..MAX_TRACKED + 50 {
            l.fail(&format!("name{i}"), t0 + Duration::from_millis(i as u64));
        }
        assert!(l.by_name.lock().unwrap().len() <= MAX_TRACKED);
    }
}
