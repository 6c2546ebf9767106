//! Revocation. `limes cert revoke` marks certificates revoked in the registry; a new TLS
//! connection is checked against the registry as it arrives, and open ones are cut by the
//! server's watcher, which polls the registry for revocations of the certificates in use
//! (every [`POLL`]) and cancels their connections — the same way shutdown stops them: a
//! [`CancellationToken`] each connection listens to. The watcher also writes the audit entries
//! `limes cert` queued.

use rusqlite::Connection;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

use super::registry::{self, CertRow};
use super::PkiError;
use crate::audit::AuditDraft;
use crate::store::Store;

/// How often the server looks for revocations of open connections' certificates.
pub const POLL: Duration = Duration::from_secs(1);

/// Revokes the certificate with serial `which`, or every unrevoked certificate named `which`;
/// queues an audit entry for each. Refuses when nothing matches.
pub fn revoke(c: &mut Connection, which: &str, actor: &str) -> Result<Vec<CertRow>, PkiError> {
    let tx = registry::write(c)?;
    let serial = which.to_ascii_lowercase();
    let rows = match registry::cert(&tx, &serial)? {
        Some(r) if r.revoked.is_some() => {
            return Err(PkiError::Refused(format!(
                "certificate {serial} ({}) was already revoked at {}",
                r.name,
                r.revoked.unwrap_or_default()
            )))
        }
        Some(r) => vec![r],
        None => registry::active_named(&tx, which)?,
    };
    if rows.is_empty() {
        return Err(PkiError::Refused(format!(
            "no unrevoked certificate has the serial or name {which:?} (limes cert list shows them)"
        )));
    }
    let when = chrono::Utc::now().to_rfc3339();
    let serials: Vec<String> = rows.iter().map(|r| r.serial.clone()).collect();
    registry::set_revoked(&tx, &serials, &when)?;
    for r in &rows {
        registry::queue_audit(
            &tx,
            &AuditDraft::new(
                actor,
                "cert.revoke",
                format!("cert/{}", r.serial),
                serde_json::json!({ "name": r.name, "org": r.org, "role": r.role }),
            ),
        )?;
    }
    tx.commit()?;
    Ok(rows
        .into_iter()
        .map(|r| CertRow {
            revoked: Some(when.clone()),
            ..r
        })
        .collect())
}

/// The open connections of each certificate in use, by serial.
#[derive(Clone, Default)]
pub struct Sessions {
    open: Arc<Mutex<HashMap<String, HashMap<u64, CancellationToken>>>>,
}

/// One connection's hold on its certificate; its token is cancelled when the certificate is
/// revoked. Dropping it forgets the connection.
pub struct Session {
    sessions: Sessions,
    serial: String,
    conn: u64,
    /// Cancelled when the certificate is revoked.
    pub revoked: CancellationToken,
}

impl Drop for Session {
    fn drop(&mut self) {
        if let Ok(mut m) = self.sessions.open.lock() {
            if let Some(conns) = m.get_mut(&self.serial) {
                conns.remove(&self.conn);
                if conns.is_empty() {
                    m.remove(&self.serial);
                }
            }
        }
    }
}

impl Sessions {
    /// Registers connection `conn`, authenticated by the certificate `serial`.
    pub fn open(&self, serial: &str, conn: u64) -> Session {
        let revoked = CancellationToken::new();
        if let Ok(mut m) = self.open.lock() {
            m.entry(serial.to_string())
                .or_default()
                .insert(conn, revoked.clone());
        }
        Session {
            sessions: self.clone(),
            serial: serial.to_string(),
            conn,
            revoked,
        }
    }

    /// The serials with open connections.
    pub fn serials(&self) -> Vec<String> {
        self.open
            .lock()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Cuts every connection of these certificates not cut yet; how many.
    pub fn cut(&self, serials: &[String]) -> usize {
        let Ok(m) = self.open.lock() else { return 0 };
        let mut n = 0;
        for s in serials {
            for t in m.get(s).into_iter().flat_map(|c| c.values()) {
                if !t.is_cancelled() {
                    t.cancel();
                    n += 1;
                }
            }
        }
        n
    }
}

/// Until shutdown: every [`POLL`], cuts the connections of revoked certificates and writes
/// the audit entries `limes cert` queued.
pub async fn watch(store: Store, sessions: Sessions, shutdown: CancellationToken) {
    let mut every = tokio::time::interval(POLL);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = every.tick() => {}
            () = shutdown.cancelled() => return,
        }
        let open = sessions.serials();
        if !open.is_empty() {
            match store
                .read(move |c| Ok(registry::revoked_among(c, &open)?))
                .await
            {
                Ok(revoked) => {
                    let n = sessions.cut(&revoked);
                    if n > 0 {
                        tracing::warn!(
                            "certificates {revoked:?} revoked: cutting {n} open connection(s)"
                        );
                    }
                }
                Err(e) => tracing::error!("reading certificate revocations: {e}"),
            }
        }
        if let Err(e) = registry::audit_pending(&store).await {
            tracing::error!("writing queued audit entries of limes cert: {e}");
        }
    }
}
