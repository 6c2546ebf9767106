//! A transaction the store cannot commit (a full disk, an I/O error) loses nothing it was
//! handed: a record sent meanwhile is answered "not stored" (never acknowledged), the engine's
//! alert revisions are kept and written once the store commits again, the admission state the
//! engine hands over after its replay is not lost with the transaction, and readiness names
//! the failure while it lasts; a server answers input 503 meanwhile, so a sensor sends it again.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod common;
use common::site;

use limes_core::engine::Admission;
use limes_core::record::{AlertRecord, Heartbeat, SensorRecord, Time};
use limes_core::track::TrackerConfig;
use limes_server::audit::{AuditDraft, AuditSink};
use limes_server::ingest::{Batch, IdempotencyKey, IngestReply};
use limes_server::store::{AlertWrite, OutboxRow, Store, StoreError};
use limes_server::{ServeConfig, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

const ALERT: &str = r#"{"id":1,"rev":1,"kind":"sensor_offline","severity":"medium","state":"open","time":"2019-10-12T18:52:32.000Z","raised":"2019-10-12T18:52:32.000Z","lon":41.38,"lat":36.50,"count":1,"sensors":["cam"],"tracks":[],"summary":"1 sensor(s) silent: coverage gap"}"#;

async fn log(store: &Store, t: f64) -> Result<IngestReply, StoreError> {
    log_with(store, t, None).await
}

async fn log_with(
    store: &Store,
    t: f64,
    idem: Option<IdempotencyKey>,
) -> Result<IngestReply, StoreError> {
    send(store, t, idem).await.expect("answered")
}

/// Queues a heartbeat of `cam` at `t`; the receiver of its answer.
fn send(
    store: &Store,
    t: f64,
    idem: Option<IdempotencyKey>,
) -> oneshot::Receiver<Result<IngestReply, StoreError>> {
    let mut batch = Batch::default();
    batch.push_record(
        0,
        SensorRecord::Heartbeat(Heartbeat {
            sensor: "cam".into(),
            time: Time(t),
        }),
    );
    store.try_log("test".into(), batch, idem).expect("queued")
}

/// An alert revision the store refuses for its content: its time is no number (NOT NULL).
fn bad_alert(id: u64) -> AlertWrite {
    let mut rec: AlertRecord = serde_json::from_str(ALERT).expect("alert");
    rec.id = id;
    rec.time = Time(f64::NAN);
    AlertWrite {
        rec,
        outbox: vec![],
    }
}

/// An audit entry of a delivery.
fn draft() -> AuditDraft {
    AuditDraft::new(
        "sdf/token:1",
        "deliver.stream",
        "alert/1",
        serde_json::json!({ "rev": 1 }),
    )
}

// One test function: fail points are process-wide.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_commit_loses_nothing_and_fails_readiness_while_it_lasts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (feed, _fed) = crossbeam_channel::unbounded();
    let (store, writer) = Store::open(dir.path(), 8, feed).expect("store");
    let t = 1.9e9;

    fail::cfg("writer-commit", "return").expect("fail point");
    // The replay ends and the engine hands its admission state over while the disk is full,
    // then decides an alert revision with a webhook delivery.
    store
        .ready(Admission::new(&TrackerConfig::default()))
        .expect("handed over");
    store
        .alert(AlertWrite {
            rec: serde_json::from_str(ALERT).expect("alert"),
            outbox: vec![OutboxRow {
                org: "sdf".into(),
                url: "https://partner.invalid/hook".into(),
                key: "sdf-1-1".into(),
                body: "{}".into(),
            }],
        })
        .expect("queued");
    // The revision went into the writer's queue first: it is in this transaction or an
    // earlier one, and every one fails.
    let err = log(&store, t)
        .await
        .expect_err("nothing is stored while the disk is full");
    assert!(matches!(err, StoreError::NotStored), "{err}");
    let status = store.writer_status().clone();
    assert!(status.failed.get() >= 1);
    let problem = status.problem().expect("readiness names the failure");
    assert!(problem.contains("injected: disk full"), "{problem}");

    fail::cfg("writer-commit", "off").expect("fail point off");
    // A statement failing halfway through a transaction: its request is answered too.
    fail::cfg("writer-log-insert", "return").expect("fail point");
    let err = log(&store, t + 0.5)
        .await
        .expect_err("not stored when the log's insert fails");
    assert!(matches!(err, StoreError::NotStored), "{err}");
    fail::cfg("writer-log-insert", "off").expect("fail point off");
    let reply = log(&store, t + 1.0)
        .await
        .expect("stored once the store commits again");
    assert_eq!(reply.accepted, 1, "{:?}", reply.rejected);
    assert_eq!(status.problem(), None, "ready again");
    let stats = store.stats_blocking().expect("stats");
    assert_eq!(stats.alerts, 1, "the engine's alert is kept, {stats:?}");
    assert_eq!(stats.alert_revisions, 1, "{stats:?}");
    assert_eq!(stats.outbox_pending, 1, "with its delivery, {stats:?}");
    assert_eq!(
        stats.records, 1,
        "the refused record is not in the log, {stats:?}"
    );

    // A write the store refuses for its content (a time that is no number: NOT NULL) is
    // dropped and counted, not tried for ever in front of everything else.
    store.alert(bad_alert(2)).expect("queued");
    let reply = log(&store, t + 2.0)
        .await
        .expect("stored after the bad write");
    assert_eq!(reply.accepted, 1, "{:?}", reply.rejected);
    assert_eq!(status.dropped.get(), 1);
    assert_eq!(status.problem(), None);

    // A refused write in a transaction that fails later is dropped then, and counted once:
    // the writer held before it fills a transaction with the bad write and two records, whose
    // log insert fails (it was kept, refused and counted again on the next try).
    fail::cfg("writer-fill", "pause").expect("fail point");
    let a = send(&store, t + 2.1, None);
    store.alert(bad_alert(3)).expect("queued");
    let b = send(&store, t + 2.2, None);
    fail::cfg("writer-log-insert", "return").expect("fail point");
    fail::cfg("writer-fill", "off").expect("fail point off");
    for r in [a, b] {
        let err = r.await.expect("answered").expect_err("not stored");
        assert!(matches!(err, StoreError::NotStored), "{err}");
    }
    fail::cfg("writer-log-insert", "off").expect("fail point off");
    log(&store, t + 2.3).await.expect("stored");
    assert_eq!(status.dropped.get(), 2, "each refused write counted once");

    // Writes kept from failed transactions leave room for input: a burst of the engine's
    // writes larger than a transaction, kept while commits fail, does not keep a record
    // waiting for the whole outage (it waited unanswered while the disk stayed full).
    fail::cfg("writer-commit", "return").expect("fail point");
    let burst = store.clone();
    tokio::task::spawn_blocking(move || {
        for id in 10..1500 {
            let mut rec: AlertRecord = serde_json::from_str(ALERT).expect("alert");
            rec.id = id;
            burst
                .alert(AlertWrite {
                    rec,
                    outbox: vec![],
                })
                .expect("queued");
        }
    })
    .await
    .expect("burst queued");
    let err = log(&store, t + 2.4)
        .await
        .expect_err("answered while failing");
    assert!(matches!(err, StoreError::NotStored), "{err}");
    fail::cfg("writer-commit", "off").expect("fail point off");
    log(&store, t + 2.5).await.expect("stored");
    // The first try after the outage takes half a group of the engine's writes at most, the
    // next every one left; a record sent after each answer waits on one transaction.
    for i in 0..4 {
        log(&store, t + 2.6 + f64::from(i) * 0.01)
            .await
            .expect("stored");
    }
    let stats = store.stats_blocking().expect("stats");
    assert_eq!(
        stats.alerts,
        1 + 1490,
        "every kept alert is stored, {stats:?}"
    );

    // A stored reply that no longer reads fails its own request, not the others in its
    // transaction (it failed the whole transaction).
    let idem = IdempotencyKey {
        principal: "sdf/token:1".into(),
        key: "k1".into(),
        digest: [7; 32],
    };
    let first = log_with(&store, t + 2.7, Some(idem.clone()))
        .await
        .expect("stored");
    assert_eq!(first.accepted, 1);
    rusqlite::Connection::open(dir.path().join("limes.sqlite"))
        .expect("open")
        .execute(
            "UPDATE ingest_keys SET reply = '{\"from\": \"another version\"}'",
            [],
        )
        .expect("edited");
    fail::cfg("writer-fill", "pause").expect("fail point");
    let again = send(&store, t + 2.7, Some(idem));
    let other = send(&store, t + 2.8, None);
    fail::cfg("writer-fill", "off").expect("fail point off");
    let err = again.await.expect("answered").expect_err("refused");
    assert!(matches!(err, StoreError::Conflict(_)), "{err}");
    let reply = other.await.expect("answered").expect("stored");
    assert_eq!(reply.accepted, 1);

    // The audit entries of deliveries outlive a failed commit: the sink writes them again (it
    // logged them as not written and dropped them).
    let before = store.stats_blocking().expect("stats").audit_entries;
    fail::cfg("writer-commit", "1*return").expect("fail point");
    let (sink, task) = AuditSink::spawn(store.clone(), CancellationToken::new());
    sink.send(draft()).await;
    drop(sink);
    task.await.expect("the sink ended");
    let after = store.stats_blocking().expect("stats").audit_entries;
    assert_eq!(after, before + 1, "the delivery is audited");
    fail::cfg("writer-commit", "off").expect("fail point off");

    // Once the server stops, a sink whose store cannot commit gives up in a bounded time and
    // drains its queue, so deliveries waiting on it (and the server's stop) go on; it retried
    // the first group for ever, and the sends below waited for ever once the queue was full.
    let before = store.stats_blocking().expect("stats").audit_entries;
    fail::cfg("writer-commit", "return").expect("fail point");
    let shutdown = CancellationToken::new();
    let (sink, task) = AuditSink::spawn(store.clone(), shutdown.clone());
    sink.send(draft()).await;
    shutdown.cancel();
    for _ in 0..20_000 {
        sink.send(draft()).await;
    }
    drop(sink);
    task.await.expect("the sink ended");
    fail::cfg("writer-commit", "off").expect("fail point off");
    let after = store.stats_blocking().expect("stats").audit_entries;
    assert_eq!(
        after, before,
        "nothing written while the store could not commit"
    );
    let problem = status.problem().expect("readiness says why");
    assert!(
        problem.contains("audit entries of deliveries cannot be written"),
        "{problem}"
    );

    // ... but a store that commits again within that time gets every entry.
    fail::cfg("writer-commit", "2*return").expect("fail point");
    let shutdown = CancellationToken::new();
    shutdown.cancel();
    let (sink, task) = AuditSink::spawn(store.clone(), shutdown);
    sink.send(draft()).await;
    drop(sink);
    task.await.expect("the sink ended");
    fail::cfg("writer-commit", "off").expect("fail point off");
    let after = store.stats_blocking().expect("stats").audit_entries;
    assert_eq!(after, before + 1, "written once the store commits");
    assert_eq!(status.problem(), None, "ready again");

    // Closed while it cannot commit, the writer ends (it kept trying for ever).
    fail::cfg("writer-commit", "return").expect("fail point");
    store
        .alert(AlertWrite {
            rec: serde_json::from_str(ALERT).expect("alert"),
            outbox: vec![],
        })
        .expect("queued");
    log(&store, t + 3.0).await.expect_err("not stored");
    drop(store);
    writer
        .join()
        .expect("the writer did not panic")
        .expect("the writer ended");
    fail::cfg("writer-commit", "off").expect("fail point off");

    // Served: input is refused with 503 and Retry-After, readiness says why, the metric counts.
    let cfg = ServeConfig::new(site(dir.path()), dir.path().join("served")).on_free_ports();
    let server = Server::start(cfg).await.expect("starts");
    let st = server.state.clone();
    let token = common::sensor_token(&server, "t").await;
    let (code, _, v) = post(&server, &token, st.clock.now()).await;
    assert_eq!(code, 200, "{v}");
    fail::cfg("writer-commit", "return").expect("fail point");
    let (code, retry, v) = post(&server, &token, st.clock.now()).await;
    assert_eq!(code, 503, "{v}");
    // Retry-After no shorter than the writer's longest wait between two tries of a commit, so
    // a client that obeys it does not come back before the store has tried again.
    let longest = limes_server::store::backoff::MAX.as_secs_f64().ceil() as u64;
    assert_eq!(
        retry,
        Some(longest),
        "Retry-After the writer's longest wait"
    );
    assert!(
        v["error"]
            .as_str()
            .is_some_and(|e| e.contains("not stored")),
        "{v}"
    );
    let ready: serde_json::Value = reqwest::get(format!("http://{}/readyz", server.ops))
        .await
        .expect("readyz")
        .json()
        .await
        .expect("json");
    assert!(
        ready["problems"].as_array().is_some_and(|p| p
            .iter()
            .any(|p| p.as_str().is_some_and(|p| p.contains("cannot commit")))),
        "{ready}"
    );
    let metrics = reqwest::get(format!("http://{}/metrics", server.ops))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("limes_store_commit_failed_total ") && !l.ends_with(" 0")),
        "{metrics}"
    );
    fail::cfg("writer-commit", "off").expect("fail point off");
    let (code, _, v) = post(&server, &token, st.clock.now()).await;
    assert_eq!(code, 200, "{v}");
    let r = reqwest::get(format!("http://{}/readyz", server.ops))
        .await
        .expect("readyz");
    assert_eq!(r.status().as_u16(), 200, "ready again");

    // A CoT sensor's batch that could not be stored is sent again, not dropped with the
    // connection (the sensor is never told what was stored: the batch was lost).
    let before = store_records(&server);
    fail::cfg("writer-log-insert", "1*return").expect("fail point");
    let mut cot = tokio::net::TcpStream::connect(server.cot.expect("CoT listens"))
        .await
        .expect("connect");
    let heartbeat = |t: f64, token: &str| {
        format!(
            r#"<event version="2.0" uid="ai-ne-cam" type="a-f-G-E-S" how="m-g" time="{0}" start="{0}" stale="{0}"><point lat="36.5" lon="38.9" hae="0" ce="5" le="5"/><detail><limes token="{token}"/></detail></event>"#,
            Time(t)
        )
    };
    let first = heartbeat(st.clock.now(), &token);
    cot.write_all(first.as_bytes()).await.expect("sent");
    let second = heartbeat(st.clock.now() + 0.5, &token);
    cot.write_all(second.as_bytes()).await.expect("sent");
    cot.shutdown().await.expect("end of input");
    // The server closes once it has stored what it read, or given up on it.
    let mut rest = Vec::new();
    let _ = cot.read_to_end(&mut rest).await;
    fail::cfg("writer-log-insert", "off").expect("fail point off");
    assert_eq!(store_records(&server), before + 2, "both heartbeats stored");
    drop(st);
    server.stop().await;

    // A body is held until its request is answered: a request waiting for its commit holds
    // the largest body in its credential's share; another large body of the same credential
    // gets 429 (and Retry-After) instead of adding to it, and passes once the first is
    // answered.
    let mut cfg = ServeConfig::new(site(dir.path()), dir.path().join("budget")).on_free_ports();
    cfg.max_body_memory_mib = 0;
    let server = Server::start(cfg).await.expect("starts");
    let st = server.state.clone();
    let token = common::sensor_token(&server, "budget").await;
    let shares = st.limits.body_shares.clone();
    let line = format!(
        r#"{{"type":"heartbeat","sensor":"ai-ne-cam","time":"{}"}}"#,
        Time(st.clock.now())
    );
    let mut big = line.clone().into_bytes();
    big.resize(limes_server::api::MAX_BODY, b'\n');
    fail::cfg("writer-commit", "pause").expect("fail point");
    let url = format!("http://{}/api/v1/ingest", server.http);
    let send = |body: Vec<u8>| {
        let (url, token) = (url.clone(), token.clone());
        async move {
            let r = reqwest::Client::new()
                .post(url)
                .bearer_auth(token)
                .body(body)
                .send()
                .await
                .expect("post");
            let retry = r
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
            (r.status().as_u16(), retry)
        }
    };
    let held = tokio::spawn(send(big.clone()));
    common::wait_until(|| shares.held("sdf") >= limes_server::api::MAX_BODY).await;
    assert_eq!(send(big.clone()).await, (429, Some(1)));
    fail::cfg("writer-commit", "off").expect("fail point off");
    assert_eq!(held.await.expect("joined").0, 200);
    common::wait_until(|| shares.held("sdf") == 0).await;
    assert_eq!(send(big).await.0, 200);
    server.stop().await;
}

fn store_records(server: &Server) -> i64 {
    server.state.store.stats_blocking().expect("stats").records
}

/// Posts one heartbeat of a camera of the site: status, Retry-After's seconds, the body.
async fn post(server: &Server, token: &str, t: f64) -> (u16, Option<u64>, serde_json::Value) {
    let body = format!(
        r#"{{"type":"heartbeat","sensor":"ai-ne-cam","time":"{}"}}"#,
        Time(t)
    );
    let r = reqwest::Client::new()
        .post(format!("http://{}/api/v1/ingest", server.http))
        .bearer_auth(token)
        .body(body)
        .send()
        .await
        .expect("post");
    let retry = r
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok()?.parse().ok());
    (
        r.status().as_u16(),
        retry,
        r.json().await.unwrap_or_default(),
    )
}
