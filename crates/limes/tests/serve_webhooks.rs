//! Webhooks are delivered at least once with an idempotency key, retried with backoff while
//! the receiver fails, and nothing queued is lost when the server is killed and restarted.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod common;

use common::*;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

#[test]
fn webhooks_retry_with_backoff_and_survive_a_restart() {
    let up = Arc::new(AtomicBool::new(false));
    let (base, seen) = hook_receiver(up.clone());
    let dir = tempfile::tempdir().expect("tempdir");
    let site = camp_site(dir.path(), Some(&base));
    let data = dir.path().join("data");
    let admin = token(&site, &data, "ibf", "owner");
    let sensor = token(&site, &data, "sdf", "sensor");
    let srv = Srv::start(&site, &data, 30.0);
    let recs = breakout();
    let half = recs.len() / 2;
    feed(
        &srv.http,
        &sensor,
        &recs[..half],
        &AtomicBool::new(false),
        &AtomicU64::new(0),
    );
    // The receiver is down: deliveries queue up and are retried.
    wait_for(60.0, || {
        let (_, st) = srv.get(&admin, "/api/v1/stats");
        let failed = seen.lock().expect("lock").len();
        (st["store"]["outbox_pending"].as_u64().unwrap_or(0) > 0 && failed >= 3).then_some(())
    })
    .expect("failed deliveries while the receiver is down");
    srv.kill();

    // Everything queued is still queued after SIGKILL, and goes out once the receiver is up.
    let conn = rusqlite::Connection::open(data.join("limes.sqlite")).expect("open");
    let queued: BTreeSet<String> = conn
        .prepare("SELECT key FROM outbox")
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .expect("outbox");
    drop(conn);
    assert!(!queued.is_empty());
    up.store(true, Ordering::SeqCst);
    let srv = Srv::start(&site, &data, 30.0);
    wait_for(120.0, || {
        let (_, st) = srv.get(&admin, "/api/v1/stats");
        (st["store"]["outbox_pending"] == 0).then_some(())
    })
    .expect("the outbox drains after the restart");
    let seen: Vec<(String, u16)> = seen
        .lock()
        .expect("lock")
        .iter()
        .map(|h| (h.key.clone(), h.status))
        .collect();
    let delivered: BTreeSet<String> = seen
        .iter()
        .filter(|(_, c)| *c == 200)
        .map(|(k, _)| k.clone())
        .collect();
    for k in &queued {
        assert!(delivered.contains(k), "queued delivery {k} was lost");
    }
    assert!(
        seen.iter().all(|(k, _)| !k.is_empty()),
        "every delivery carries an Idempotency-Key"
    );
    let retried = queued
        .iter()
        .filter(|k| seen.iter().filter(|(x, _)| x == *k).count() > 1)
        .count();
    assert!(retried > 0, "failed deliveries were retried");
    // Deliveries are audited.
    let (_, audit) = srv.get(&admin, "/api/v1/audit?limit=10000");
    let n = audit["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter(|e| e["action"] == "deliver.webhook")
        .count();
    assert!(
        n >= queued.len(),
        "{n} audited deliveries for {} queued",
        queued.len()
    );
}
