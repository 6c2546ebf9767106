//! `limes serve` survives SIGKILL in the middle of ingest: every acknowledged detection, every
//! alert and every audit entry is still there after a restart, and the tracker carries on
//! with the same alert; `limes audit verify` then detects a tampered audit entry.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod common;

use common::*;
use std::collections::BTreeMap;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

fn alert_revs(srv: &Srv, token: &str) -> BTreeMap<String, (u64, String)> {
    let (st, v) = srv.get(token, "/api/v1/alerts?limit=5000");
    assert_eq!(st, 200, "{v}");
    v["alerts"]
        .as_array()
        .expect("alerts")
        .iter()
        .map(|a| {
            (
                a["id"].as_str().expect("id").to_string(),
                (
                    a["rev"].as_u64().expect("rev"),
                    a["kind"].as_str().expect("kind").to_string(),
                ),
            )
        })
        .collect()
}

#[test]
fn sigkill_mid_ingest_loses_nothing_acknowledged_and_the_tracker_resumes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let site = camp_site(dir.path(), None);
    let data = dir.path().join("data");
    let admin = token(&site, &data, "ibf", "owner");
    let sensor = token(&site, &data, "sdf", "sensor");
    let recs = Arc::new(breakout());
    let srv = Srv::start(&site, &data, 30.0);

    // Feed in the background; kill the server while batches are in flight.
    let acked = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let feeder = {
        let (url, sensor, recs, acked, stop) = (
            srv.http.clone(),
            sensor.clone(),
            recs.clone(),
            acked.clone(),
            stop.clone(),
        );
        std::thread::spawn(move || feed(&url, &sensor, &recs, &stop, &acked))
    };
    // Wait until the breakout has raised an alert and the feeder is still going.
    let seen = wait_for(120.0, || {
        let a = alert_revs(&srv, &admin);
        a.values().any(|(_, k)| k == "mass_breakout").then_some(a)
    })
    .expect("a mass-breakout alert during ingest");
    let (_, audit_before) = srv.get(&admin, "/api/v1/audit?limit=10000");
    let audit_before = audit_before["entries"].as_array().expect("entries").clone();
    assert!(
        !feeder.is_finished(),
        "the feeder should still be sending when the server is killed"
    );
    srv.kill();
    stop.store(true, Ordering::SeqCst);
    feeder.join().expect("feeder");
    let acked_before = acked.load(Ordering::SeqCst);
    assert!(acked_before > 0);

    let srv = Srv::start(&site, &data, 30.0);
    let (_, stats) = srv.get(&admin, "/api/v1/stats");
    let stored = stats["store"]["records"].as_u64().expect("records");
    assert!(
        stored >= acked_before,
        "{stored} records stored, {acked_before} acknowledged before SIGKILL"
    );

    let after = alert_revs(&srv, &admin);
    for (id, (rev, kind)) in &seen {
        let (rev2, kind2) = after
            .get(id)
            .unwrap_or_else(|| panic!("alert {id} ({kind}) lost"));
        assert!(rev2 >= rev, "alert {id} went back from rev {rev} to {rev2}");
        // Escalation is allowed (breach → mass breakout), disappearance is not.
        assert!(!kind2.is_empty());
    }
    let (_, audit_after) = srv.get(&admin, "/api/v1/audit?limit=10000");
    let audit_after = audit_after["entries"].as_array().expect("entries").clone();
    for e in &audit_before {
        let seq = e["seq"].as_u64().expect("seq") as usize;
        assert_eq!(
            audit_after.get(seq - 1).map(|x| &x["hash"]),
            Some(&e["hash"]),
            "audit entry {seq} lost or changed"
        );
    }

    // The tracker resumes: the rest of the night lands in the same mass-breakout alert.
    let breakout_id = seen
        .iter()
        .find(|(_, (_, k))| k == "mass_breakout")
        .expect("breakout")
        .0
        .clone();
    let rev_before = after[&breakout_id].0;
    let rest: Vec<_> = {
        let skip = (stored as usize).min(recs.len());
        recs[skip..].to_vec()
    };
    let acked2 = AtomicU64::new(0);
    feed(&srv.http, &sensor, &rest, &AtomicBool::new(false), &acked2);
    let grew = wait_for(60.0, || {
        let a = alert_revs(&srv, &admin);
        (a.get(&breakout_id).is_some_and(|(r, _)| *r > rev_before)).then_some(a)
    })
    .expect("the resumed tracker revises the same mass-breakout alert");
    let new_breakouts = grew
        .iter()
        .filter(|(id, (_, k))| k == "mass_breakout" && **id != breakout_id)
        .count();
    assert_eq!(
        new_breakouts, 0,
        "a restarted tracker that forgot its state would raise a second breakout alert"
    );
    drop(srv);

    // The chain verifies; a tampered entry is found and named.
    let verify = |data: &std::path::Path| {
        Command::new(BIN)
            .args(["audit", "verify", "--data"])
            .arg(data)
            .output()
            .expect("verify runs")
    };
    let ok = verify(&data);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let conn = rusqlite::Connection::open(data.join("limes.sqlite")).expect("open");
    // The append-only triggers refuse a plain edit …
    assert!(conn
        .execute("UPDATE audit SET actor = 'nobody' WHERE seq = 2", [])
        .is_err());
    // … so a tamperer drops them first.
    conn.execute_batch(
        "DROP TRIGGER audit_no_update; UPDATE audit SET actor = 'nobody' WHERE seq = 2;",
    )
    .expect("tamper");
    drop(conn);
    let bad = verify(&data);
    assert!(
        !bad.status.success(),
        "verify must fail on a tampered entry"
    );
    let msg = String::from_utf8_lossy(&bad.stderr);
    assert!(msg.contains("audit entry 2"), "names the entry: {msg}");
}
