//! Who is calling: bearer tokens (stored as SHA-256, never in clear) or TLS client certificates,
//! each bound to one organisation and one role.

use rand::Rng;
use rusqlite::{params, Connection};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use crate::audit::AuditDraft;
use crate::store::{Store, StoreError};

/// What a caller may do. Roles are ordered: each reads what the one before reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Sends sensor records; reads nothing.
    Sensor,
    /// Reads what its organisation is released.
    Viewer,
    /// Also acknowledges, assigns and resolves alerts and updates facilities.
    Operator,
    /// Also creates tokens and reads the audit log.
    Admin,
}

impl Role {
    /// Parses `sensor`, `viewer`, `operator` or `admin`.
    pub fn parse(s: &str) -> Option<Role> {
        serde_json::from_value(serde_json::Value::String(s.to_string())).ok()
    }

    /// May send sensor records.
    pub fn can_ingest(self) -> bool {
        matches!(self, Role::Sensor | Role::Admin)
    }

    /// May read released data.
    pub fn can_read(self) -> bool {
        self >= Role::Viewer
    }

    /// May change alerts and facilities.
    pub fn can_operate(self) -> bool {
        self >= Role::Operator
    }
}

/// An authenticated caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// Organisation id (from the site's `[[orgs]]`).
    pub org: String,
    /// Role.
    pub role: Role,
    /// How it authenticated: `token:<id>` or `cert:<CN>`.
    pub via: String,
}

impl Principal {
    /// The name written in audit entries: `org/via`.
    pub fn actor(&self) -> String {
        format!("{}/{}", self.org, self.via)
    }
}

/// SHA-256 of a token, hex. Tokens are 256-bit random, so a fast hash is enough.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A new random token: `lms_` and 64 hex digits.
pub fn new_token() -> String {
    let bytes: [u8; 32] = rand::rng().random();
    format!("lms_{}", hex::encode(bytes))
}

/// The token table, cached in memory.
#[derive(Clone, Default)]
pub struct Tokens {
    by_hash: Arc<RwLock<HashMap<String, Principal>>>,
}

impl Tokens {
    /// Loads every token that is not revoked.
    pub fn load(conn: &Connection) -> Result<Self, StoreError> {
        let mut stmt = conn.prepare("SELECT id, org, role, hash FROM tokens WHERE revoked = 0")?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
            ))
        })?;
        let mut map = HashMap::new();
        for row in rows {
            let (id, org, role, hash) = row?;
            if let Some(role) = Role::parse(&role) {
                map.insert(
                    hash,
                    Principal {
                        org,
                        role,
                        via: format!("token:{id}"),
                    },
                );
            }
        }
        Ok(Self {
            by_hash: Arc::new(RwLock::new(map)),
        })
    }

    /// The caller holding `token`, if any.
    pub fn lookup(&self, token: &str) -> Option<Principal> {
        let h = hash_token(token);
        self.by_hash.read().ok()?.get(&h).cloned()
    }

    /// Makes a token known (after it was stored).
    pub fn insert(&self, hash: String, p: Principal) {
        if let Ok(mut m) = self.by_hash.write() {
            m.insert(hash, p);
        }
    }
}

/// The change that stores a new token; returns `{id, org, role}`.
pub fn create_change(
    org: String,
    role: Role,
    label: String,
    hash: String,
) -> crate::store::ChangeFn {
    Box::new(move |c: &Connection| {
        c.execute(
            "INSERT INTO tokens (org, role, hash, label, created) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                org,
                crate::snake(&role),
                hash,
                label,
                chrono::Utc::now().to_rfc3339()
            ],
        )?;
        Ok(serde_json::json!({ "id": c.last_insert_rowid(), "org": org, "role": role }))
    })
}

/// Creates a token from a blocking context (the `limes token` command); returns it in clear,
/// the only time it is ever shown.
pub fn create_blocking(
    store: &Store,
    org: &str,
    role: Role,
    label: &str,
    actor: &str,
) -> Result<(String, i64), StoreError> {
    let token = new_token();
    let v = store.change_blocking(
        create_change(org.into(), role, label.into(), hash_token(&token)),
        AuditDraft::new(
            actor,
            "token.create",
            format!("org/{org}"),
            serde_json::json!({"role": role, "label": label}),
        ),
    )?;
    Ok((token, v["id"].as_i64().unwrap_or(0)))
}
