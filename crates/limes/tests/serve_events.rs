//! Assessed events on a live server: a fence climb at the Ain Issa annex, where four working
//! thermal cameras cover the fence and see nothing behind it, is kept from the operators as an
//! event — and that event is logged, counted (`/api/v1/nuisance`, the metric), visible on request
//! (`/api/v1/events`, the event stream) to the organisations released the alert it would have
//! been, at their detail, and to nobody else; after SIGKILL and a restart the same events are
//! there exactly once and are not counted again.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod common;

use common::*;
use limes_core::record::{FenceAlarm, FenceAlarmKind, Heartbeat, SensorRecord, Time};
use limes_core::site::SensorKind;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64};

const NO_EVENT: &str = "e00000000000000000000000000000000";

/// Four minutes at the annex: every sensor beats every 10 s, and fence zone 3 of the first
/// controller reports a climb at 60 s and at 150 s with nobody there. Returns the records and
/// the zone (`controller/zone`).
fn climbs_under_the_cameras(site: &Path) -> (Vec<SensorRecord>, String, String) {
    let site = limes_core::site::load(site).expect("site");
    let (controller, zone) = site
        .sensors
        .iter()
        .find_map(|s| match &s.kind {
            SensorKind::Fence(f) => Some((s.id.clone(), f.zones[3].clone())),
            _ => None,
        })
        .expect("a fence controller");
    let t0 = 1_570_000_000.0;
    let mut recs = Vec::new();
    let mut t = t0;
    while t <= t0 + 240.0 {
        for s in &site.sensors {
            recs.push(SensorRecord::Heartbeat(Heartbeat {
                sensor: s.id.clone(),
                time: Time(t),
            }));
        }
        t += 10.0;
    }
    for at in [60.0, 150.0] {
        recs.push(SensorRecord::Fence(FenceAlarm {
            sensor: controller.clone(),
            zone: zone.id.clone(),
            time: Time(t0 + at + 1.0),
            alarm: FenceAlarmKind::Climb,
            line: [[zone.a.lon, zone.a.lat], [zone.b.lon, zone.b.lat]],
        }));
    }
    recs.sort_by(|a, b| a.time().0.total_cmp(&b.time().0));
    let name = format!("{controller}/{}", zone.id);
    (recs, controller, name)
}

/// The value of `limes_assessed_events_total{source=…,reason=…}` (0 when absent).
fn assessed(srv: &Srv, source: &str, reason: &str) -> f64 {
    metric(
        srv,
        &format!(r#"limes_assessed_events_total{{source="{source}",reason="{reason}"}}"#),
    )
}

fn events(srv: &Srv, token: &str, query: &str) -> Vec<Value> {
    let (st, v) = srv.get(token, &format!("/api/v1/events{query}"));
    assert_eq!(st, 200, "{v}");
    v["events"].as_array().expect("events").clone()
}

/// Opens a stream of server-sent `event` events; each one read is sent on the channel until the
/// server goes away.
fn stream(http: String, token: String) -> std::sync::mpsc::Receiver<Value> {
    let c = reqwest::blocking::Client::builder()
        .timeout(None)
        .build()
        .expect("client");
    let resp = c
        .get(format!("{http}/api/v1/stream?kinds=event"))
        .bearer_auth(token)
        .send()
        .expect("stream");
    assert_eq!(resp.status().as_u16(), 200);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut name = String::new();
        for line in BufReader::new(resp).lines() {
            let Ok(line) = line else { break };
            if let Some(e) = line.strip_prefix("event:") {
                name = e.trim().to_string();
            } else if let Some(d) = line.strip_prefix("data:") {
                if name == "event"
                    && tx
                        .send(serde_json::from_str(d.trim()).expect("JSON"))
                        .is_err()
                {
                    break;
                }
            }
        }
    });
    rx
}

fn nuisance_events(srv: &Srv, token: &str) -> Vec<Value> {
    let (st, v) = srv.get(token, "/api/v1/nuisance");
    assert_eq!(st, 200, "{v}");
    v["nuisance"]
        .as_array()
        .expect("rows")
        .iter()
        .filter(|r| r["from"] == "event")
        .cloned()
        .collect()
}

#[test]
fn fence_climbs_the_cameras_explain_away_are_events_released_counted_and_kept_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let site = camp_site(dir.path(), None);
    let data = dir.path().join("data");
    let owner = token(&site, &data, "ibf", "owner");
    let sensor = token(&site, &data, "sdf", "sensor");
    let viewer = |org: &str| token(&site, &data, org, "viewer");
    let operator = |org: &str| token(&site, &data, org, "operator");
    let (ibf, sdf, coalition, syria, turkey, humanitarian) = (
        viewer("ibf"),
        viewer("sdf"),
        viewer("coalition"),
        viewer("syria"),
        viewer("turkey"),
        viewer("humanitarian"),
    );
    let ops: Vec<(&str, String)> = ["ibf", "syria", "turkey", "humanitarian"]
        .into_iter()
        .map(|o| (o, operator(o)))
        .collect();
    let (recs, controller, zone) = climbs_under_the_cameras(&site);
    let srv = Srv::start(&site, &data, 30.0);
    let ibf_stream = stream(srv.http.clone(), ibf.clone());
    let turkey_stream = stream(srv.http.clone(), turkey.clone());
    feed(
        &srv.http,
        &sensor,
        &recs,
        &AtomicBool::new(false),
        &AtomicU64::new(0),
    );
    let got = wait_for(60.0, || {
        let v = events(&srv, &ibf, "");
        (v.len() >= 2).then_some(v)
    })
    .expect("two events for ibf");

    // Released in full to ibf: explainable from the record, under opaque ids.
    assert_eq!(got.len(), 2, "{got:#?}");
    for e in &got {
        let id = e["id"].as_str().expect("id");
        assert!(id.starts_with('e') && id.len() == 33, "opaque id: {e}");
        assert_eq!(
            (&e["kind"], &e["source"], &e["reason"]),
            (
                &Value::from("fence_cut"),
                &Value::from("fence_climb"),
                &Value::from("nothing_seen")
            ),
            "{e}"
        );
        assert_eq!(e["sensor"], Value::from(controller.as_str()), "{e}");
        assert_eq!(e["zone"], Value::from(zone.as_str()), "{e}");
        let a = &e["assessment"];
        assert!(
            a["expected_detections"].as_f64().expect("expected") >= 6.0,
            "{e}"
        );
        let cameras = a["cameras"].as_array().expect("cameras");
        assert!(
            cameras.len() == 4
                && cameras
                    .iter()
                    .all(|c| c["working_s"].as_f64().expect("working") >= 59.0),
            "every camera covering the zone worked the whole window: {e}"
        );
        assert!(a["detail"].as_str().is_some_and(|d| !d.is_empty()), "{e}");
        let (st, one) = srv.get(&ibf, &format!("/api/v1/events/{id}"));
        assert_eq!((st, &one), (200, e), "the item reads as listed");
    }
    // Kept from the operators: no alert for either climb.
    let (_, alerts) = srv.get(&owner, "/api/v1/alerts?kind=fence_cut");
    assert_eq!(alerts["alerts"], Value::Array(vec![]), "{alerts}");
    let filtered = events(
        &srv,
        &ibf,
        &format!("?zone={zone}&reason=nothing_seen&limit=1"),
    );
    assert_eq!(filtered.len(), 1);
    assert!(events(&srv, &ibf, "?source=approach").is_empty());

    // In full to an organisation released the fence alert in full and the site's sensors; to
    // every other not at all: not coarsened, not summarised (an event's existence, or its
    // reason, would show where the cameras were covering and working).
    let v = events(&srv, &sdf, "");
    assert_eq!(v.len(), 2, "{v:#?}");
    assert!(v.iter().all(|e| e["zone"] == zone.as_str()), "{v:#?}");
    assert!(
        v.iter().all(|e| !got.iter().any(|g| g["id"] == e["id"])),
        "ids are per organisation"
    );
    for t in [&coalition, &syria] {
        assert!(
            events(&srv, t, "").is_empty(),
            "no sensors or no full alert: no events"
        );
        assert!(events(&srv, t, &format!("?zone={zone}")).is_empty());
    }
    let absent = srv.get_text(&ibf, &format!("/api/v1/events/{NO_EVENT}"));
    assert_eq!(absent.0, 404);
    for t in [&turkey, &humanitarian, &syria, &coalition] {
        assert!(events(&srv, t, "").is_empty());
        for e in &got {
            let id = e["id"].as_str().expect("id");
            let r = srv.get_text(t, &format!("/api/v1/events/{id}"));
            assert_eq!(r, absent, "not released looks like absent");
        }
    }

    // Counted beside the nuisance resolutions, only over what is released in full.
    for (org, t) in &ops {
        let rows = nuisance_events(&srv, t);
        if *org != "ibf" {
            assert!(
                rows.is_empty(),
                "{org} counts events it is not released in full: {rows:?}"
            );
            continue;
        }
        for (scope, key) in [
            ("fence_zone", zone.as_str()),
            ("sensor", controller.as_str()),
        ] {
            assert!(
                rows.iter().any(|r| r["scope"] == scope
                    && r["key"] == key
                    && r["reason"] == "nothing_seen"
                    && r["n"] == 2),
                "ibf: {scope} {key}: {rows:?}"
            );
        }
    }
    assert_eq!(assessed(&srv, "fence_climb", "nothing_seen"), 2.0);
    // The console's recent window counts them by the same rule.
    for (org, t) in &ops {
        let (st, v) = srv.get(t, "/api/v1/nuisance/recent?hours=24");
        assert_eq!(st, 200, "{v}");
        let rows: Vec<&Value> = v["rows"]
            .as_array()
            .expect("rows")
            .iter()
            .filter(|r| r["from"] == "event")
            .collect();
        let zone_row = rows
            .iter()
            .any(|r| r["scope"] == "fence_zone" && r["key"] == zone.as_str() && r["n"] == 2);
        assert_eq!(zone_row, *org == "ibf", "{org}: {rows:?}");
        if *org != "ibf" {
            assert!(rows.is_empty(), "{org}: {rows:?}");
        }
    }

    // The event stream carries them to ibf (a guard against hanging, not a timing) …
    let wait = std::time::Duration::from_secs(60);
    let streamed: Vec<Value> = (0..2)
        .map(|_| {
            ibf_stream
                .recv_timeout(wait)
                .expect("an event on ibf's stream")
        })
        .collect();
    // … and to nobody else; SIGKILL ends the streams.
    srv.kill();
    let ids = |v: &[Value]| {
        let mut ids: Vec<String> = v
            .iter()
            .map(|e| e["id"].as_str().expect("id").into())
            .collect();
        ids.sort();
        ids
    };
    assert_eq!(ids(&streamed), ids(&got), "the event stream carried them");
    assert!(ibf_stream.iter().next().is_none(), "nothing more for ibf");
    let turkey_got: Vec<Value> = turkey_stream.iter().collect();
    assert!(turkey_got.is_empty(), "{turkey_got:?}");

    // After a restart (the engine replays the whole log) the same events, once each, and the
    // replay does not count them again.
    let srv = Srv::start(&site, &data, 30.0);
    let again = events(&srv, &ibf, "");
    assert_eq!(again, got, "the same events after a restart, exactly once");
    let (_, stats) = srv.get(&owner, "/api/v1/stats");
    assert_eq!(stats["store"]["events"], 2, "{stats}");
    assert_eq!(assessed(&srv, "fence_climb", "nothing_seen"), 0.0);
    let rows = nuisance_events(&srv, &ops[0].1);
    assert!(
        rows.iter()
            .any(|r| r["scope"] == "fence_zone" && r["n"] == 2),
        "{rows:?}"
    );
}
