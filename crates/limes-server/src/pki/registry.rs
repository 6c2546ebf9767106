//! What the deployment issued, in the store: device certificates (by serial, with their
//! subject and revocation), one-time enrolment codes (hashed), and the audit entries of
//! `limes cert` commands run beside a running server, which wait in `audit_pending` until the
//! store's writer (the only one that appends to the hash chain) writes them.
//!
//! `limes cert` writes these tables through its own SQLite connection, so it works while a
//! server holds the data directory; the server reads them afresh on every TLS connection and
//! enrolment attempt, and polls for revocations of open connections ([`super::revoke`]).

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

use super::{PkiError, Subject};
use crate::audit::AuditDraft;
use crate::auth::Role;
use crate::store::{Store, StoreError};

/// A certificate the deployment issued.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CertRow {
    /// Serial number, lowercase hex.
    pub serial: String,
    /// Device name (the subject's CN).
    pub name: String,
    /// Organisation (O).
    pub org: String,
    /// Role (OU).
    pub role: Role,
    /// When issued, RFC 3339.
    pub issued: String,
    /// Last moment of validity, RFC 3339.
    pub expires: String,
    /// How: `issue` (`limes cert issue`) or `enroll` (TAK enrolment).
    pub via: String,
    /// When revoked, RFC 3339.
    pub revoked: Option<String>,
}

impl CertRow {
    /// The subject the certificate carries.
    pub fn subject(&self) -> Subject {
        Subject {
            org: self.org.clone(),
            role: self.role,
            name: self.name.clone(),
        }
    }
}

const CERT_COLUMNS: &str = "serial, name, org, role, issued, expires, via, revoked";

fn cert_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Option<CertRow>> {
    let role: String = r.get(3)?;
    Ok(Role::parse(&role).map(|role| CertRow {
        serial: r.get(0).unwrap_or_default(),
        name: r.get(1).unwrap_or_default(),
        org: r.get(2).unwrap_or_default(),
        role,
        issued: r.get(4).unwrap_or_default(),
        expires: r.get(5).unwrap_or_default(),
        via: r.get(6).unwrap_or_default(),
        revoked: r.get(7).unwrap_or_default(),
    }))
}

/// Records an issued certificate.
pub fn insert_cert(c: &Connection, row: &CertRow) -> rusqlite::Result<()> {
    c.execute(
        &format!("INSERT INTO certs ({CERT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"),
        params![
            row.serial,
            row.name,
            row.org,
            row.role.name(),
            row.issued,
            row.expires,
            row.via,
            row.revoked
        ],
    )?;
    Ok(())
}

/// The certificate with this serial.
pub fn cert(c: &Connection, serial: &str) -> rusqlite::Result<Option<CertRow>> {
    c.query_row(
        &format!("SELECT {CERT_COLUMNS} FROM certs WHERE serial = ?1"),
        [serial],
        cert_row,
    )
    .optional()
    .map(Option::flatten)
}

/// Every certificate, oldest first.
pub fn list(c: &Connection) -> rusqlite::Result<Vec<CertRow>> {
    let mut stmt = c.prepare(&format!(
        "SELECT {CERT_COLUMNS} FROM certs ORDER BY issued, serial"
    ))?;
    let rows = stmt.query_map([], cert_row)?;
    Ok(rows.filter_map(|r| r.ok().flatten()).collect())
}

/// The unrevoked certificates named `name`.
pub fn active_named(c: &Connection, name: &str) -> rusqlite::Result<Vec<CertRow>> {
    let mut stmt = c.prepare(&format!(
        "SELECT {CERT_COLUMNS} FROM certs WHERE name = ?1 AND revoked IS NULL"
    ))?;
    let rows = stmt.query_map([name], cert_row)?;
    Ok(rows.filter_map(|r| r.ok().flatten()).collect())
}

/// Refuses a name that an unrevoked certificate carries: names are unique among the
/// certificates in use, so `limes cert revoke NAME` means one device.
pub fn check_unused(c: &Connection, name: &str) -> Result<(), PkiError> {
    if let Some(r) = active_named(c, name)?.first() {
        return Err(PkiError::Refused(format!(
            "certificate {} ({}/{}) already carries the name {name:?}; revoke it first, or choose another name",
            r.serial,
            r.org,
            r.role.name()
        )));
    }
    Ok(())
}

/// Of these serials, the revoked ones.
pub fn revoked_among(c: &Connection, serials: &[String]) -> rusqlite::Result<Vec<String>> {
    let mut stmt =
        c.prepare_cached("SELECT 1 FROM certs WHERE serial = ?1 AND revoked IS NOT NULL")?;
    let mut out = Vec::new();
    for s in serials {
        if stmt.exists([s])? {
            out.push(s.clone());
        }
    }
    Ok(out)
}

/// Marks certificates revoked at `when`.
pub fn set_revoked(c: &Connection, serials: &[String], when: &str) -> rusqlite::Result<()> {
    for s in serials {
        c.execute(
            "UPDATE certs SET revoked = ?1 WHERE serial = ?2 AND revoked IS NULL",
            params![when, s],
        )?;
    }
    Ok(())
}

/// A one-time enrolment code as stored (its hash only).
#[derive(Clone, Debug)]
pub struct CodeRow {
    /// The user name a device enrols with; also the certificate's CN.
    pub name: String,
    /// Organisation.
    pub org: String,
    /// Role.
    pub role: Role,
    /// SHA-256 of the code, hex.
    pub hash: String,
    /// Unix seconds after which the code is void.
    pub expires: f64,
    /// When used, RFC 3339.
    pub used: Option<String>,
}

/// Stores a code, replacing an earlier one of the same name.
pub fn put_code(c: &Connection, row: &CodeRow) -> rusqlite::Result<()> {
    c.execute(
        "INSERT OR REPLACE INTO enroll_codes (name, org, role, hash, created, expires, used) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, NULL)",
        params![
            row.name,
            row.org,
            row.role.name(),
            row.hash,
            chrono::Utc::now().to_rfc3339(),
            row.expires
        ],
    )?;
    Ok(())
}

/// The code stored for `name`.
pub fn code(c: &Connection, name: &str) -> rusqlite::Result<Option<CodeRow>> {
    c.query_row(
        "SELECT name, org, role, hash, expires, used FROM enroll_codes WHERE name = ?1",
        [name],
        |r| {
            let role: String = r.get(2)?;
            Ok(Role::parse(&role).map(|role| CodeRow {
                name: r.get(0).unwrap_or_default(),
                org: r.get(1).unwrap_or_default(),
                role,
                hash: r.get(3).unwrap_or_default(),
                expires: r.get(4).unwrap_or(0.0),
                used: r.get(5).unwrap_or_default(),
            }))
        },
    )
    .optional()
    .map(Option::flatten)
}

/// Uses up the code of `name` if it is `hash`, unused and not expired at `now`; whether it was.
pub fn use_code(c: &Connection, name: &str, hash: &str, now: f64) -> rusqlite::Result<bool> {
    let n = c.execute(
        "UPDATE enroll_codes SET used = ?1 \
         WHERE name = ?2 AND hash = ?3 AND used IS NULL AND expires > ?4",
        params![chrono::Utc::now().to_rfc3339(), name, hash, now],
    )?;
    Ok(n == 1)
}

/// Queues an audit entry for the store's writer (from a command beside a running server).
pub fn queue_audit(c: &Connection, d: &AuditDraft) -> rusqlite::Result<()> {
    c.execute(
        "INSERT INTO audit_pending (time, actor, action, object, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            d.time.to_rfc3339(),
            d.actor,
            d.action,
            d.object,
            d.detail.to_string()
        ],
    )?;
    Ok(())
}

fn pending(c: &Connection) -> Result<Vec<(i64, AuditDraft)>, StoreError> {
    let mut stmt = c.prepare(
        "SELECT id, time, actor, action, object, detail FROM audit_pending ORDER BY id LIMIT 256",
    )?;
    let rows = stmt.query_map([], |r| {
        let time: String = r.get(1)?;
        let detail: String = r.get(5)?;
        let mut detail: serde_json::Value =
            serde_json::from_str(&detail).unwrap_or(serde_json::Value::Null);
        let at = match chrono::DateTime::parse_from_rfc3339(&time) {
            Ok(t) => t.with_timezone(&chrono::Utc),
            Err(e) => {
                tracing::warn!("a queued audit entry's time {time:?} does not read ({e}); written with the time now");
                chrono::Utc::now()
            }
        };
        if let Some(o) = detail.as_object_mut() {
            o.insert("at".into(), serde_json::Value::String(time));
        }
        Ok((
            r.get::<_, i64>(0)?,
            AuditDraft {
                actor: r.get(2)?,
                action: r.get(3)?,
                object: r.get(4)?,
                detail,
                time: at,
            },
        ))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Writes the queued audit entries to the audit log (each with its original time as `at`)
/// and removes them from the queue, in one transaction; returns how many.
pub async fn audit_pending(store: &Store) -> Result<usize, StoreError> {
    let rows = store.read(pending).await?;
    if rows.is_empty() {
        return Ok(0);
    }
    let ids: Vec<i64> = rows.iter().map(|(id, _)| *id).collect();
    let n = ids.len();
    let drafts = rows.into_iter().map(|(_, d)| d).collect();
    store
        .audit_change(Box::new(move |c| drain(c, &ids)), drafts)
        .await?;
    Ok(n)
}

/// [`audit_pending`] from a blocking context (the `limes cert` commands).
pub fn audit_pending_blocking(store: &Store) -> Result<usize, StoreError> {
    let rows = store.read_blocking(pending)?;
    if rows.is_empty() {
        return Ok(0);
    }
    let ids: Vec<i64> = rows.iter().map(|(id, _)| *id).collect();
    let n = ids.len();
    let drafts = rows.into_iter().map(|(_, d)| d).collect();
    store.audit_change_blocking(Box::new(move |c| drain(c, &ids)), drafts)?;
    Ok(n)
}

fn drain(c: &Connection, ids: &[i64]) -> Result<serde_json::Value, StoreError> {
    for id in ids {
        if c.execute("DELETE FROM audit_pending WHERE id = ?1", [id])? != 1 {
            return Err(StoreError::Conflict(format!(
                "queued audit entry {id} was taken by another writer"
            )));
        }
    }
    Ok(serde_json::Value::Null)
}

/// A write transaction on a connection beside the server's writer: IMMEDIATE, so it waits
/// (the busy timeout) for the writer's lock instead of failing when it cannot upgrade a read.
pub fn write(c: &mut Connection) -> rusqlite::Result<rusqlite::Transaction<'_>> {
    c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
}
