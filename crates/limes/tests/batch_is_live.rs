//! The batch path is the live path: one detections file through `limes track --site` and
//! through `limes serve` raises the same alerts (same kinds, same times raised, same counts).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod common;

use common::*;
use limes_core::record::{AlertRecord, JsonlWriter, Time};
use std::collections::BTreeMap;
use std::process::Command;

#[test]
fn limes_track_and_limes_serve_raise_the_same_alerts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let recs = breakout();
    let det = dir.path().join("detections.jsonl");
    let mut w = JsonlWriter::create(&det).expect("create");
    for r in &recs {
        w.write(r).expect("write");
    }
    w.finish().expect("finish");

    // Batch.
    let alerts = dir.path().join("alerts.jsonl");
    let out = Command::new(BIN)
        .args(["track", "--site", "ain-issa", "--detections"])
        .arg(&det)
        .arg("--out")
        .arg(dir.path().join("tracks.jsonl"))
        .arg("--alerts")
        .arg(&alerts)
        .output()
        .expect("limes track");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut batch: BTreeMap<String, AlertRecord> = BTreeMap::new();
    for line in std::fs::read_to_string(&alerts).expect("alerts").lines() {
        let a: AlertRecord = serde_json::from_str(line).expect("alert");
        batch.insert(a.raised.to_rfc3339(), a);
    }
    assert!(!batch.is_empty());

    // Live: the same records, in the same order, into a server whose clock stands at the first.
    let t0 = recs.first().expect("records").time().0;
    let mut cfg = limes_server::ServeConfig::new("ain-issa", dir.path().join("data"));
    cfg.clock_speed = 0.0;
    cfg.clock_start = Some(Time(t0).to_rfc3339());
    cfg.max_future_s = 86_400.0;
    let srv = InProc::start(cfg);
    let sensor = srv.token("sdf", "sensor");
    let owner = srv.token("ibf", "owner");
    let mut seq = 0;
    for chunk in recs.chunks(5000) {
        let body: String = chunk
            .iter()
            .map(|r| serde_json::to_string(r).expect("json") + "\n")
            .collect();
        let (st, v) = srv.post(&sensor, "/api/v1/ingest", body);
        assert_eq!(st, 200, "{v}");
        seq = seq_of(&v);
    }
    srv.processed(seq);
    let (_, v) = srv.get(&owner, "/api/v1/alerts?limit=5000");
    let live: BTreeMap<String, serde_json::Value> = v["alerts"]
        .as_array()
        .expect("alerts")
        .iter()
        .map(|a| (a["raised"].as_str().expect("raised").to_string(), a.clone()))
        .collect();
    assert_eq!(
        live.keys().collect::<Vec<_>>(),
        batch.keys().collect::<Vec<_>>(),
        "the same alerts raised at the same times"
    );
    for (k, a) in &live {
        let b = &batch[k];
        assert_eq!(a["kind"], b.kind.name(), "alert raised {k}");
        // The batch flushes the last two seconds at the end of the file; the live engine is
        // still holding them for late arrivals.
        let (n, m) = (a["count"].as_u64().expect("count"), b.count as u64);
        assert!(
            n.abs_diff(m) <= m / 50 + 1,
            "alert raised {k}: count {n} live, {m} batch"
        );
    }
}
