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

/// What the receiver of [`one_partners_receiver_neither_delays_another_nor_redirects_the_server`]
/// has seen.
#[derive(Default)]
struct Seen {
    /// Turkey's requests now held open by the receiver.
    turkey_open: u64,
    /// Other organisations' deliveries that arrived while one of Turkey's was held open.
    others_while_turkey_open: u64,
    /// Syria's attempts (each answered with a redirect).
    syria: u64,
    /// Requests that reached the redirect's target.
    target: u64,
}

struct Open(Arc<std::sync::Mutex<Seen>>);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.lock().expect("lock").turkey_open -= 1;
    }
}

#[test]
fn one_partners_receiver_neither_delays_another_nor_redirects_the_server() {
    let seen: Arc<std::sync::Mutex<Seen>> = Default::default();
    let s2 = seen.clone();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    listener.set_nonblocking(true).expect("nonblocking");
    std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        rt.block_on(async move {
            use axum::routing::post;
            let s3 = s2.clone();
            let app = axum::Router::new()
                .route(
                    "/hook/{org}",
                    post(
                        move |axum::extract::Path(org): axum::extract::Path<String>| {
                            let seen = s2.clone();
                            async move {
                                use axum::response::IntoResponse;
                                match org.as_str() {
                                    "turkey" => {
                                        // Held open until the server gives up on it.
                                        seen.lock().expect("lock").turkey_open += 1;
                                        let _open = Open(seen.clone());
                                        std::future::pending::<()>().await;
                                        axum::http::StatusCode::OK.into_response()
                                    }
                                    "syria" => {
                                        seen.lock().expect("lock").syria += 1;
                                        (
                                            axum::http::StatusCode::TEMPORARY_REDIRECT,
                                            [(axum::http::header::LOCATION, "/target")],
                                        )
                                            .into_response()
                                    }
                                    _ => {
                                        let mut s = seen.lock().expect("lock");
                                        if s.turkey_open > 0 {
                                            s.others_while_turkey_open += 1;
                                        }
                                        axum::http::StatusCode::OK.into_response()
                                    }
                                }
                            }
                        },
                    ),
                )
                .route(
                    "/target",
                    post(move || {
                        let seen = s3.clone();
                        async move {
                            seen.lock().expect("lock").target += 1;
                            "ok"
                        }
                    }),
                );
            let l = tokio::net::TcpListener::from_std(listener).expect("listener");
            axum::serve(l, app).await.expect("serve");
        });
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let site = camp_site(dir.path(), Some(&format!("http://127.0.0.1:{port}/hook")));
    let data = dir.path().join("data");
    let sensor = token(&site, &data, "sdf", "sensor");
    let srv = Srv::start(&site, &data, 30.0);
    feed(
        &srv.http,
        &sensor,
        &breakout(),
        &AtomicBool::new(false),
        &AtomicU64::new(0),
    );
    // Other organisations' alerts arrive while Turkey's receiver holds a delivery, and Syria's
    // redirect is retried as a failure, never followed.
    wait_for(120.0, || {
        let s = seen.lock().expect("lock");
        (s.others_while_turkey_open >= 3 && s.syria >= 2).then_some(())
    })
    .expect("deliveries to others while Turkey's receiver hangs, and Syria's attempts retried");
    assert_eq!(
        seen.lock().expect("lock").target,
        0,
        "a redirect was followed"
    );
}
