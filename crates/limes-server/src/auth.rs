//! Who is calling: bearer tokens (stored as SHA-256, never in clear) or TLS client certificates,
//! each bound to one organisation and one role.
//!
//! Roles are ordered: each may do what the one before may. An `admin` administers only its own
//! organisation (its tokens, its audit entries); the deployment-wide `owner` role is explicit:
//! it is created with `limes token create --role owner` and is never implied by `admin`.

use rand::Rng;
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use crate::audit::AuditDraft;
use crate::store::{Store, StoreError};

/// What a caller may do.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Sends sensor records; reads nothing.
    Sensor,
    /// Reads what its organisation is released.
    Viewer,
    /// Also acknowledges, assigns and resolves alerts and updates facilities.
    Operator,
    /// Also creates its organisation's tokens and reads its organisation's audit entries.
    Admin,
    /// The deployment's operator: every organisation's tokens, the whole audit log, statistics.
    Owner,
}

impl Role {
    /// Every role, lowest first.
    pub const ALL: [Role; 5] = [
        Role::Sensor,
        Role::Viewer,
        Role::Operator,
        Role::Admin,
        Role::Owner,
    ];

    /// The lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            Role::Sensor => "sensor",
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
            Role::Owner => "owner",
        }
    }

    /// Parses `sensor`, `viewer`, `operator`, `admin` or `owner`.
    pub fn parse(s: &str) -> Option<Role> {
        Self::ALL.into_iter().find(|r| r.name() == s)
    }

    /// May send sensor records (of its organisation's sensors).
    pub fn can_ingest(self) -> bool {
        matches!(self, Role::Sensor | Role::Admin | Role::Owner)
    }

    /// May read released data.
    pub fn can_read(self) -> bool {
        self >= Role::Viewer
    }

    /// May change alerts and facilities.
    pub fn can_operate(self) -> bool {
        self >= Role::Operator
    }

    /// May administer its organisation (tokens, audit entries).
    pub fn can_administer(self) -> bool {
        self >= Role::Admin
    }
}

/// An authenticated caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// Organisation id (from the site's `[[orgs]]`).
    pub org: String,
    /// Role.
    pub role: Role,
    /// How it authenticated: `token:<id>`, `cert:<CN>` or `user:<name>`.
    pub via: String,
    /// A sensor's own credential speaks for that sensor only.
    pub sensor: Option<String>,
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
#[derive(Clone)]
pub struct Tokens {
    by_hash: Arc<RwLock<HashMap<String, Principal>>>,
    /// The `via` (`token:N`) of every token revoked while the server runs; open streams and
    /// CoT connections watch it and close when theirs is in it.
    revoked: Arc<tokio::sync::watch::Sender<std::collections::HashSet<String>>>,
}

impl Default for Tokens {
    fn default() -> Self {
        Self {
            by_hash: Default::default(),
            revoked: Arc::new(tokio::sync::watch::channel(Default::default()).0),
        }
    }
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
                        sensor: None,
                    },
                );
            }
        }
        Ok(Self {
            by_hash: Arc::new(RwLock::new(map)),
            ..Self::default()
        })
    }

    /// Forgets the tokens with these row ids (revoked in the table) and tells open
    /// connections of theirs to close. Idempotent.
    pub fn revoke(&self, ids: &[i64]) {
        let vias: std::collections::HashSet<String> =
            ids.iter().map(|id| format!("token:{id}")).collect();
        if let Ok(mut m) = self.by_hash.write() {
            m.retain(|_, p| !vias.contains(&p.via));
        }
        self.revoked.send_if_modified(|set| {
            let before = set.len();
            set.extend(vias);
            set.len() != before
        });
    }

    /// Resolves once `p`'s token is revoked (never for other credentials).
    pub async fn revoked(&self, p: &Principal) {
        if !p.via.starts_with("token:") {
            return std::future::pending().await;
        }
        let mut rx = self.revoked.subscribe();
        let _ = rx.wait_for(|set| set.contains(&p.via)).await;
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

/// A token just created: the only time it is ever shown in clear.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct NewToken {
    /// Its row id (`token:N` in audit entries).
    pub id: i64,
    /// Organisation.
    pub org: String,
    /// Role.
    pub role: Role,
    /// The token.
    pub token: String,
}

/// Creates and stores a token (the one way tokens are made: the CLI and the API both call it),
/// audited as `actor`; makes it known to `tokens` when given.
pub async fn create(
    store: &Store,
    tokens: Option<&Tokens>,
    org: &str,
    role: Role,
    label: &str,
    actor: &str,
) -> Result<NewToken, StoreError> {
    let token = new_token();
    let hash = hash_token(&token);
    let (o, h, l) = (org.to_string(), hash.clone(), label.to_string());
    let v = store
        .change(
            Box::new(move |c: &Connection| {
                c.execute(
                    "INSERT INTO tokens (org, role, hash, label, created) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![o, role.name(), h, l, chrono::Utc::now().to_rfc3339()],
                )?;
                Ok(serde_json::json!(c.last_insert_rowid()))
            }),
            AuditDraft::new(
                actor,
                "token.create",
                format!("org/{org}"),
                serde_json::json!({ "role": role, "label": label }),
            ),
        )
        .await?;
    let id = v.as_i64().unwrap_or(0);
    if let Some(t) = tokens {
        t.insert(
            hash,
            Principal {
                org: org.to_string(),
                role,
                via: format!("token:{id}"),
                sensor: None,
            },
        );
    }
    Ok(NewToken {
        id,
        org: org.to_string(),
        role,
        token,
    })
}

/// Marks token `id` revoked in the table, audited as `actor`; `Ok(None)` when there is no such
/// token (of `org`, when given: an organisation's admin, who never revokes an owner's token,
/// whatever organisation it carries). The caller tells a running server's [`Tokens`].
pub async fn revoke(
    store: &Store,
    id: i64,
    org: Option<&str>,
    actor: &str,
) -> Result<Option<String>, StoreError> {
    let only = org.map(str::to_string);
    let found = store
        .read(move |c| {
            Ok(c.query_row(
                "SELECT org, role FROM tokens WHERE id = ?1",
                params![id],
                |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)),
            )
            .optional()?)
        })
        .await?;
    let Some((token_org, _)) = found.filter(|(o, role)| {
        only.as_ref()
            .is_none_or(|w| w == o && role != Role::Owner.name())
    }) else {
        return Ok(None);
    };
    store
        .change(
            Box::new(move |c: &Connection| {
                c.execute("UPDATE tokens SET revoked = 1 WHERE id = ?1", params![id])?;
                Ok(serde_json::Value::Null)
            }),
            AuditDraft::new(
                actor,
                "token.revoke",
                format!("org/{token_org}"),
                serde_json::json!({ "token": id }),
            ),
        )
        .await?;
    Ok(Some(token_org))
}
