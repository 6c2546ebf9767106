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
use limes_server::ingest::{Batch, IngestReply};
use limes_server::store::{AlertWrite, OutboxRow, Store, StoreError};
use limes_server::{ServeConfig, Server};

const ALERT: &str = r#"{"id":1,"rev":1,"kind":"sensor_offline","severity":"medium","state":"open","time":"2019-10-12T18:52:32.000Z","raised":"2019-10-12T18:52:32.000Z","lon":41.38,"lat":36.50,"count":1,"sensors":["cam"],"tracks":[],"summary":"1 sensor(s) silent: coverage gap"}"#;

async fn log(store: &Store, t: f64) -> Result<IngestReply, StoreError> {
    let mut batch = Batch::default();
    batch.push_record(
        0,
        SensorRecord::Heartbeat(Heartbeat {
            sensor: "cam".into(),
            time: Time(t),
        }),
    );
    store
        .try_log("test".into(), batch, None)
        .expect("queued")
        .await
        .expect("answered")
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
    let mut bad: AlertRecord = serde_json::from_str(ALERT).expect("alert");
    bad.id = 2;
    bad.time = Time(f64::NAN);
    store
        .alert(AlertWrite {
            rec: bad,
            outbox: vec![],
        })
        .expect("queued");
    let reply = log(&store, t + 2.0)
        .await
        .expect("stored after the bad write");
    assert_eq!(reply.accepted, 1, "{:?}", reply.rejected);
    assert_eq!(status.dropped.get(), 1);
    assert_eq!(status.problem(), None);

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
    assert!(retry, "with Retry-After");
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
    drop(st);
    server.stop().await;
}

/// Posts one heartbeat of a camera of the site: status, whether Retry-After came, the body.
async fn post(server: &Server, token: &str, t: f64) -> (u16, bool, serde_json::Value) {
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
    let retry = r.headers().contains_key("retry-after");
    (
        r.status().as_u16(),
        retry,
        r.json().await.unwrap_or_default(),
    )
}
