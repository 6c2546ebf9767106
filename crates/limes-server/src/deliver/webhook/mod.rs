//! Webhook delivery from the durable outbox. Rows are written in the same transaction as the
//! alert revision they carry, so nothing is lost across restarts; each is POSTed with an
//! `Idempotency-Key` until the receiver answers 2xx (at-least-once), with exponential backoff.
//! Each POST carries the latest signed audit checkpoint in [`CHECKPOINT_HEADER`] (the signed
//! note, base64), which the receiver keeps to witness the audit log.

use rusqlite::params;
use serde_json::json;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;

use crate::audit::publish::Checkpoints;
use crate::audit::AuditDraft;
use crate::clock::wall_now;
use crate::metrics::Metrics;
use crate::store::Store;

/// The header carrying the latest audit checkpoint: its signed note in standard base64.
pub const CHECKPOINT_HEADER: &str = "Limes-Audit-Checkpoint";

/// Longest wait between attempts, seconds.
pub const MAX_BACKOFF_S: f64 = 300.0;

/// Seconds to wait after `attempts` failures: 1, 2, 4, … up to [`MAX_BACKOFF_S`].
pub fn backoff(attempts: u32) -> f64 {
    2f64.powi(attempts.min(16) as i32 - 1)
        .clamp(1.0, MAX_BACKOFF_S)
}

struct Due {
    id: i64,
    org: String,
    url: String,
    key: String,
    body: String,
    attempts: u32,
}

/// Delivers due outbox rows until shutdown.
pub async fn run(
    store: Store,
    metrics: Metrics,
    checkpoints: Checkpoints,
    shutdown: tokio_util::sync::CancellationToken,
) {
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("webhooks disabled: {e}");
            return;
        }
    };
    while !shutdown.is_cancelled() {
        let now = wall_now();
        let due = store
            .read(move |c| {
                let mut stmt = c.prepare(
                    "SELECT id, org, url, key, body, attempts FROM outbox
                     WHERE delivered IS NULL AND next_at <= ?1 ORDER BY id LIMIT 64",
                )?;
                let rows = stmt.query_map(params![now], |r| {
                    Ok(Due {
                        id: r.get(0)?,
                        org: r.get(1)?,
                        url: r.get(2)?,
                        key: r.get(3)?,
                        body: r.get(4)?,
                        attempts: r.get(5)?,
                    })
                })?;
                Ok(rows.collect::<Result<Vec<_>, _>>()?)
            })
            .await
            .unwrap_or_default();
        if due.is_empty() {
            tokio::select! {
                () = tokio::time::sleep(Duration::from_millis(250)) => {}
                () = shutdown.cancelled() => return,
            }
            continue;
        }
        for d in due {
            let cp = checkpoints.latest();
            let mut req = client
                .post(&d.url)
                .header("Idempotency-Key", &d.key)
                .header("Content-Type", "application/json");
            if let Some(cp) = &cp {
                req = req.header(CHECKPOINT_HEADER, B64.encode(&cp.note));
            }
            let res = req.body(d.body.clone()).send().await;
            let checkpoint = cp.map(|c| c.size);
            let outcome = match res {
                Ok(r) if r.status().is_success() => Ok(()),
                Ok(r) => Err(format!("HTTP {}", r.status())),
                Err(e) => Err(e.to_string()),
            };
            let id = d.id;
            let attempts = d.attempts + 1;
            let now = wall_now();
            match outcome {
                Ok(()) => {
                    metrics.webhook_delivered.inc();
                    let _ = store
                        .change(
                            Box::new(move |c| {
                                c.execute(
                                    "UPDATE outbox SET delivered = ?2, attempts = ?3 WHERE id = ?1",
                                    params![id, now, attempts],
                                )?;
                                Ok(serde_json::Value::Null)
                            }),
                            AuditDraft::new(
                                format!("{}/webhook", d.org),
                                "deliver.webhook",
                                d.key.clone(),
                                json!({ "url": d.url, "attempts": attempts, "checkpoint": checkpoint }),
                            ),
                        )
                        .await;
                }
                Err(e) => {
                    metrics.webhook_failed.inc();
                    tracing::info!(
                        "webhook {} to {}: attempt {attempts} failed: {e}",
                        d.key,
                        d.url
                    );
                    let next = now + backoff(attempts);
                    let _ = store
                        .change(
                            Box::new(move |c| {
                                c.execute(
                                    "UPDATE outbox SET attempts = ?2, next_at = ?3, last_error = ?4 WHERE id = ?1",
                                    params![id, attempts, next, e],
                                )?;
                                Ok(serde_json::Value::Null)
                            }),
                            None,
                        )
                        .await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(super::backoff(1), 1.0);
        assert_eq!(super::backoff(2), 2.0);
        assert_eq!(super::backoff(5), 16.0);
        assert_eq!(super::backoff(40), super::MAX_BACKOFF_S);
    }
}
