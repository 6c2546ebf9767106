//! The release matrix: six organisations × every read path (REST list and item, server-sent
//! events, CoT to a real TAK client library, CAP 1.2, webhooks) × every data kind (tracks,
//! alerts, facilities). Each organisation must receive exactly what `sites/ain-issa.toml`
//! releases to it, at the stated detail, and every CAP message must validate against the OASIS
//! CAP 1.2 schema.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod common;

use common::*;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::Arc;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum D {
    None,
    Summary,
    Coarse,
    Full,
}

/// What the site file releases to each organisation (the specification the test checks).
struct Spec {
    org: &'static str,
    tracks: D,
    alerts: D,
    kinds: &'static [&'static str],
    facilities: bool,
    grid_m: f64,
}

const SPECS: [Spec; 6] = [
    Spec {
        org: "ibf",
        tracks: D::Full,
        alerts: D::Full,
        kinds: &[],
        facilities: true,
        grid_m: 0.0,
    },
    Spec {
        org: "sdf",
        tracks: D::Full,
        alerts: D::Full,
        kinds: &[],
        facilities: true,
        grid_m: 0.0,
    },
    Spec {
        org: "coalition",
        tracks: D::Coarse,
        alerts: D::Full,
        kinds: &[],
        facilities: true,
        grid_m: 500.0,
    },
    Spec {
        org: "turkey",
        tracks: D::None,
        alerts: D::Coarse,
        kinds: &["infiltration", "mass_breakout"],
        facilities: false,
        grid_m: 5000.0,
    },
    Spec {
        org: "syria",
        tracks: D::Coarse,
        alerts: D::Coarse,
        kinds: &["infiltration", "approach", "fence_cut", "mass_breakout"],
        facilities: false,
        grid_m: 2000.0,
    },
    Spec {
        org: "humanitarian",
        tracks: D::None,
        alerts: D::Summary,
        kinds: &["mass_breakout", "perimeter_breach"],
        facilities: true,
        grid_m: 0.0,
    },
];

impl Spec {
    fn alert_kind_ok(&self, kind: &str) -> bool {
        self.alerts != D::None && (self.kinds.is_empty() || self.kinds.contains(&kind))
    }
}

/// True when a coordinate sits at a cell centre of a `grid_m` grid (as coarsening leaves it),
/// to within `tol` of a cell.
fn on_grid_within(lat: f64, lon: f64, grid_m: f64, tol: f64) -> bool {
    let dlat = grid_m / 111_320.0;
    let k = lat / dlat - 0.5;
    let dlon = grid_m / (111_320.0 * lat.to_radians().cos());
    let j = lon / dlon - 0.5;
    (k - k.round()).abs() < tol && (j - j.round()).abs() < tol
}

fn on_grid(lat: f64, lon: f64, grid_m: f64) -> bool {
    on_grid_within(lat, lon, grid_m, 1e-6)
}

/// A coarse item: none of the `absent` fields, and a position at a grid cell centre.
fn check_coarse(s: &Spec, path: &str, what: &str, v: &Value, absent: &[&str]) {
    for k in absent {
        assert!(
            v.get(*k).is_none(),
            "{path}: {} coarse {what} has {k}: {v}",
            s.org
        );
    }
    let (lat, lon) = (
        v["lat"].as_f64().expect("lat"),
        v["lon"].as_f64().expect("lon"),
    );
    assert!(
        on_grid(lat, lon, s.grid_m),
        "{path}: {} {what} not coarsened to {} m: {v}",
        s.org,
        s.grid_m
    );
}

fn check_track(s: &Spec, path: &str, t: &Value) {
    assert!(
        s.tracks >= D::Coarse,
        "{path}: {} received a track: {t}",
        s.org
    );
    if s.tracks == D::Coarse {
        check_coarse(s, path, "track", t, &["cov", "sensor"]);
    } else {
        assert!(
            t.get("cov").is_some(),
            "{path}: {} full track lacks cov: {t}",
            s.org
        );
    }
}

fn check_alert(s: &Spec, path: &str, a: &Value) {
    let kind = a["kind"].as_str().expect("kind");
    assert!(
        s.alert_kind_ok(kind),
        "{path}: {} received a {kind} alert",
        s.org
    );
    match s.alerts {
        D::Summary => {
            for k in ["lon", "lat", "sensors", "tracks", "ddr"] {
                assert!(
                    a.get(k).is_none(),
                    "{path}: {} summary alert has {k}: {a}",
                    s.org
                );
            }
        }
        D::Coarse => check_coarse(s, path, "alert", a, &["sensors", "tracks"]),
        D::Full => assert!(
            a.get("sensors").is_some(),
            "{path}: {} full alert lacks sensors: {a}",
            s.org
        ),
        D::None => unreachable!(),
    }
}

/// Reads a server-sent event stream until it times out; returns (event, data) pairs.
fn sse(url: String, token: String, secs: u64) -> Vec<(String, Value)> {
    let c = reqwest::blocking::Client::builder()
        .timeout(std::time::Duration::from_secs(secs))
        .build()
        .expect("client");
    let resp = c.get(url).bearer_auth(token).send().expect("stream");
    assert_eq!(resp.status().as_u16(), 200);
    let mut out = Vec::new();
    let mut event = String::new();
    let end = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    for line in BufReader::new(resp).lines() {
        // Keep-alive comments arrive every 15 s, so this is checked even on a quiet stream.
        let Ok(line) = line else { break };
        if std::time::Instant::now() > end {
            break;
        }
        if let Some(e) = line.strip_prefix("event: ").or(line.strip_prefix("event:")) {
            event = e.trim().to_string();
        } else if let Some(d) = line.strip_prefix("data: ").or(line.strip_prefix("data:")) {
            out.push((
                event.clone(),
                serde_json::from_str(d.trim()).expect("data is JSON"),
            ));
        }
    }
    out
}

#[test]
fn every_partner_receives_only_what_is_released_on_every_path() {
    let py = python_packages();
    let dir = tempfile::tempdir().expect("tempdir");
    let (hook_base, hooks) = hook_receiver(Arc::new(AtomicBool::new(true)));
    let site = camp_site(dir.path(), Some(&hook_base));
    let data = dir.path().join("data");
    let viewers: BTreeMap<&str, String> = SPECS
        .iter()
        .map(|s| (s.org, token(&site, &data, s.org, "viewer")))
        .collect();
    let admin = token(&site, &data, "ibf", "admin");
    let operator = token(&site, &data, "ibf", "operator");
    let sensor = token(&site, &data, "ibf", "sensor");
    let srv = Srv::start(&site, &data, 30.0);
    let secs = 32;

    // TAK clients (PyTAK) for every organisation, and a second one for ibf (relay, no echo).
    let script = root().join("crates/limes/tests/tak_client.py");
    let cot_url = format!("tcp://{}", srv.cot);
    let mut clients: Vec<(String, String, std::process::Child)> = Vec::new();
    let mut names: Vec<(&str, String)> = SPECS
        .iter()
        .map(|s| (s.org, format!("{}-tak", s.org)))
        .collect();
    names.push(("ibf", "ibf-tak-2".into()));
    for (org, uid) in &names {
        let child = Command::new("python3")
            .env("PYTHONPATH", &py)
            .arg(&script)
            .args([&cot_url, &viewers[org], uid, &secs.to_string()])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("python3 runs");
        clients.push((org.to_string(), uid.clone(), child));
    }
    // Event streams for every organisation.
    let streams: Vec<_> = SPECS
        .iter()
        .map(|s| {
            let (url, tok) = (
                format!("{}/api/v1/stream", srv.http),
                viewers[s.org].clone(),
            );
            (
                s.org,
                std::thread::spawn(move || sse(url, tok, secs as u64)),
            )
        })
        .collect();
    std::thread::sleep(std::time::Duration::from_secs(2));

    // The breakout, fed at the drill clock's pace; REST reads while tracks are live.
    let recs = Arc::new(breakout());
    let feeder = {
        let (url, tok, recs) = (srv.http.clone(), sensor.clone(), recs.clone());
        std::thread::spawn(move || {
            feed(
                &url,
                &tok,
                &recs,
                &AtomicBool::new(false),
                &AtomicU64::new(0),
            )
        })
    };
    wait_for(120.0, || {
        let (_, v) = srv.get(&admin, "/api/v1/alerts?kind=mass_breakout");
        let (_, t) = srv.get(&admin, "/api/v1/tracks");
        (v["alerts"].as_array().is_some_and(|a| !a.is_empty())
            && t["tracks"].as_array().is_some_and(|t| t.len() > 5))
        .then_some(())
    })
    .expect("a breakout with live tracks");
    let mut rest_tracks = BTreeMap::new();
    for s in &SPECS {
        let (st, v) = srv.get(&viewers[s.org], "/api/v1/tracks");
        assert_eq!(st, 200);
        rest_tracks.insert(s.org, v["tracks"].as_array().expect("tracks").clone());
    }
    feeder.join().expect("feeder");

    // REST: tracks, alerts (list and one), facilities.
    let (_, all) = srv.get(&admin, "/api/v1/alerts?limit=5000");
    let all: Vec<Value> = all["alerts"].as_array().expect("alerts").clone();
    let all_kinds: BTreeSet<&str> = all
        .iter()
        .map(|a| a["kind"].as_str().expect("kind"))
        .collect();
    assert!(
        all_kinds.contains("mass_breakout") && all_kinds.contains("sensor_offline"),
        "the night raises both: {all_kinds:?}"
    );
    for s in &SPECS {
        let tracks = &rest_tracks[s.org];
        if s.tracks >= D::Coarse {
            assert!(!tracks.is_empty(), "REST: {} should see tracks", s.org);
        }
        tracks
            .iter()
            .for_each(|t| check_track(s, "REST /tracks", t));
        let (_, v) = srv.get(&viewers[s.org], "/api/v1/alerts?limit=5000");
        let mine: Vec<Value> = v["alerts"].as_array().expect("alerts").clone();
        let expect: BTreeSet<u64> = all
            .iter()
            .filter(|a| s.alert_kind_ok(a["kind"].as_str().expect("kind")))
            .map(|a| a["id"].as_u64().expect("id"))
            .collect();
        let got: BTreeSet<u64> = mine.iter().map(|a| a["id"].as_u64().expect("id")).collect();
        assert_eq!(got, expect, "REST /alerts for {}", s.org);
        mine.iter().for_each(|a| check_alert(s, "REST /alerts", a));
        for a in &all {
            let id = a["id"].as_u64().expect("id");
            let (st, one) = srv.get(&viewers[s.org], &format!("/api/v1/alerts/{id}"));
            if expect.contains(&id) {
                assert_eq!(st, 200);
                check_alert(s, "REST /alerts/{id}", &one);
            } else {
                assert_eq!(st, 404, "REST /alerts/{id}: {} must not see it", s.org);
            }
        }
        let (_, f) = srv.get(&viewers[s.org], "/api/v1/facilities");
        assert_eq!(
            f["facilities"].as_array().expect("facilities").is_empty(),
            !s.facilities,
            "REST /facilities for {}",
            s.org
        );
    }

    // CAP: per organisation, per alert; then a resolved alert is a Cancel. All validate.
    let cap_dir = dir.path().join("cap");
    std::fs::create_dir_all(&cap_dir).expect("cap dir");
    let mut cap_files: Vec<PathBuf> = Vec::new();
    let breakout_id = all
        .iter()
        .find(|a| a["kind"] == "mass_breakout")
        .and_then(|a| a["id"].as_u64())
        .expect("breakout");
    for s in &SPECS {
        for a in &all {
            let id = a["id"].as_u64().expect("id");
            let (st, xml) = srv.get_text(&viewers[s.org], &format!("/api/v1/alerts/{id}/cap"));
            if !s.alert_kind_ok(a["kind"].as_str().expect("kind")) {
                assert_eq!(st, 404, "CAP: {} must not get alert {id}", s.org);
                continue;
            }
            assert_eq!(st, 200, "CAP {id} for {}: {xml}", s.org);
            match s.alerts {
                D::Full => assert!(
                    xml.contains("<scope>Restricted</scope>") && xml.contains("<restriction>"),
                    "{xml}"
                ),
                _ => assert!(
                    xml.contains("<scope>Private</scope>")
                        && xml.contains(&format!("<addresses>{}</addresses>", s.org)),
                    "{xml}"
                ),
            }
            assert_eq!(
                xml.contains("<circle>"),
                s.alerts >= D::Coarse,
                "CAP area for {}: {xml}",
                s.org
            );
            let rev = a["rev"].as_u64().expect("rev");
            assert!(
                xml.contains(if rev > 1 {
                    "<msgType>Update</msgType>"
                } else {
                    "<msgType>Alert</msgType>"
                }) || xml.contains("<msgType>Cancel</msgType>")
            );
            let f = cap_dir.join(format!("{}-{id}.xml", s.org));
            std::fs::write(&f, &xml).expect("write");
            cap_files.push(f);
        }
    }
    // The life cycle: viewers may not act; ack → assign → resolve, in that order only.
    let alert = |id: u64, action: &str| format!("/api/v1/alerts/{id}/{action}");
    let (st, _) = srv.post(&viewers["ibf"], &alert(breakout_id, "ack"), "");
    assert_eq!(st, 403, "a viewer may not acknowledge");
    let (st, v) = srv.post(&operator, &alert(breakout_id, "ack"), r#"{"note":"seen"}"#);
    assert_eq!(
        (st, v["status"].clone()),
        (200, serde_json::json!("acknowledged")),
        "{v}"
    );
    let (st, _) = srv.post(&operator, &alert(breakout_id, "ack"), "");
    assert_eq!(st, 409, "acknowledged twice");
    let (st, v) = srv.post(
        &operator,
        &alert(breakout_id, "assign"),
        r#"{"unit":"no-such-unit"}"#,
    );
    assert_eq!(
        (st, v["details"]["field"].clone()),
        (400, serde_json::json!("unit")),
        "{v}"
    );
    let (st, v) = srv.post(
        &operator,
        &alert(breakout_id, "assign"),
        r#"{"unit":"sdf-ain-issa"}"#,
    );
    assert_eq!(
        (st, v["unit"].clone()),
        (200, serde_json::json!("sdf-ain-issa")),
        "{v}"
    );
    let (st, v) = srv.post(
        &operator,
        &alert(breakout_id, "resolve"),
        r#"{"reason":"confirmed","note":"QRF on scene"}"#,
    );
    assert_eq!(st, 200, "{v}");
    let (st, _) = srv.post(
        &operator,
        &alert(breakout_id, "assign"),
        r#"{"unit":"sdf-ain-issa"}"#,
    );
    assert_eq!(st, 409, "nothing after resolved");
    // A nuisance resolution is counted per sensor and per zone.
    let offline = all
        .iter()
        .find(|a| a["kind"] == "sensor_offline")
        .and_then(|a| a["id"].as_u64())
        .expect("offline");
    let (st, v) = srv.post(
        &operator,
        &alert(offline, "resolve"),
        r#"{"reason":"sensor_fault"}"#,
    );
    assert_eq!(st, 200, "{v}");
    let (_, n) = srv.get(&operator, "/api/v1/nuisance");
    let rows = n["nuisance"].as_array().expect("rows");
    assert!(
        rows.iter()
            .any(|r| r["scope"] == "sensor" && r["reason"] == "sensor_fault"),
        "{n}"
    );
    assert!(
        rows.iter().any(|r| r["scope"] == "zone" && r["n"] == 1),
        "{n}"
    );
    // Facilities: an operator's head count sets the population the estimate counts down from.
    let (st, _) = srv.post(
        &viewers["humanitarian"],
        "/api/v1/facilities/ain-issa-annex",
        r#"{"guards":0}"#,
    );
    assert_eq!(st, 403, "a viewer may not update a facility");
    let (st, v) = srv.post(
        &operator,
        "/api/v1/facilities/ain-issa-annex",
        r#"{"head_count":800,"guards":0,"note":"guard force withdrawn"}"#,
    );
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        (
            v["population"].clone(),
            v["exits"].clone(),
            v["estimate"].clone(),
            v["guards"].clone()
        ),
        (
            serde_json::json!(800),
            serde_json::json!(0),
            serde_json::json!(800),
            serde_json::json!(0)
        ),
        "{v}"
    );
    let (_, f) = srv.get(&viewers["humanitarian"], "/api/v1/facilities");
    assert_eq!(f["facilities"][0]["estimate"], 800, "{f}");
    let (_, audit) = srv.get(&admin, "/api/v1/audit?limit=10000");
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    for a in [
        "alert.ack",
        "alert.assign",
        "alert.resolve",
        "facility.update",
        "read.alerts",
        "deliver.alert",
    ] {
        assert!(actions.contains(&a), "{a} is audited");
    }
    let (_, xml) = srv.get_text(
        &viewers["ibf"],
        &format!("/api/v1/alerts/{breakout_id}/cap"),
    );
    assert!(
        xml.contains("<msgType>Cancel</msgType>") && xml.contains("<references>"),
        "{xml}"
    );
    let (_, xml1) = srv.get_text(
        &viewers["ibf"],
        &format!("/api/v1/alerts/{breakout_id}/cap?rev=1"),
    );
    assert!(
        xml1.contains("<msgType>Alert</msgType>") && !xml1.contains("<references>"),
        "{xml1}"
    );
    for (name, x) in [("cancel.xml", &xml), ("first.xml", &xml1)] {
        let f = cap_dir.join(name);
        std::fs::write(&f, x).expect("write");
        cap_files.push(f);
    }
    assert!(cap_files.len() > 10);
    let invalid = validate_cap(&cap_files);
    assert!(
        invalid.is_empty(),
        "CAP messages failing the OASIS CAP 1.2 schema: {invalid:#?}"
    );

    // Server-sent events.
    for (org, h) in streams {
        let s = SPECS.iter().find(|s| s.org == org).expect("spec");
        let events = h.join().expect("sse");
        let n = |k: &str| events.iter().filter(|(e, _)| e == k).count();
        if s.tracks >= D::Coarse {
            assert!(n("track") > 0, "SSE: {org} should see tracks");
        }
        assert_eq!(n("facility") > 0, s.facilities, "SSE facilities for {org}");
        for (e, d) in &events {
            match e.as_str() {
                "track" => check_track(s, "SSE", d),
                "alert" => check_alert(s, "SSE", d),
                "facility" => assert!(s.facilities, "SSE: {org} got a facility"),
                _ => {}
            }
        }
        if s.alerts != D::None {
            assert!(n("alert") > 0, "SSE: {org} should see alerts");
        }
    }

    // CoT to PyTAK clients.
    let mut got: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for (org, uid, child) in clients {
        let out = child.wait_with_output().expect("tak client");
        assert!(
            out.status.success(),
            "tak client {uid} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Vec<Value> = serde_json::from_slice(&out.stdout).expect("tak client JSON");
        got.insert(uid.clone(), v.clone());
        let s = SPECS.iter().find(|s| s.org == org).expect("spec");
        assert!(
            v.iter().any(|e| e["type"] == "t-x-c-t-r"),
            "CoT: {uid} got no pong"
        );
        assert!(
            v.iter().all(|e| e["closed"] == true),
            "CoT: every event ends with </event>"
        );
        assert!(
            !v.iter().any(|e| e["uid"] == uid.as_str()),
            "CoT: {uid} got its own event back"
        );
        let tracks: Vec<&Value> = v
            .iter()
            .filter(|e| e["uid"].as_str().is_some_and(|u| u.contains(".track.")))
            .collect();
        let alerts: Vec<&Value> = v
            .iter()
            .filter(|e| e["uid"].as_str().is_some_and(|u| u.contains(".alert.")))
            .collect();
        let facilities = v.iter().filter(|e| e["type"] == "a-n-G-I").count();
        assert_eq!(
            tracks.is_empty(),
            s.tracks == D::None,
            "CoT tracks for {uid}"
        );
        for t in &tracks {
            assert!(t["type"] == "a-u-G" || t["type"] == "a-h-G", "{t}");
            assert_eq!(t["how"], "m-f");
            assert!(t["stale"].as_str() > t["time"].as_str(), "{t}");
            if s.tracks == D::Coarse {
                // CoT carries six decimals (0.1 m), a few thousandths of a cell.
                let (lat, lon) = (
                    t["lat"].as_f64().expect("lat"),
                    t["lon"].as_f64().expect("lon"),
                );
                assert!(
                    on_grid_within(lat, lon, s.grid_m, 1e-2),
                    "CoT coarse track for {uid}: {t}"
                );
            }
        }
        // Summaries carry no position, so they never go out as CoT.
        assert_eq!(
            alerts.is_empty(),
            s.alerts < D::Coarse,
            "CoT alerts for {uid}"
        );
        for a in &alerts {
            let ty = a["type"].as_str().expect("type");
            assert!(["b-a-g", "b-a-o-c", "b-a-o-can"].contains(&ty), "{a}");
            assert_eq!(a["emergency"], true, "{a}");
            if !s.kinds.is_empty() {
                assert_ne!(
                    ty, "b-a-o-c",
                    "CoT: {uid} got a sensor alert it is not released"
                );
            }
        }
        assert_eq!(facilities > 0, s.facilities, "CoT facilities for {uid}");
    }
    // Relay: each ibf client sees the other's position, never its own.
    assert!(
        got["ibf-tak"].iter().any(|e| e["uid"] == "ibf-tak-2"),
        "relay to ibf-tak"
    );
    assert!(
        got["ibf-tak-2"].iter().any(|e| e["uid"] == "ibf-tak"),
        "relay to ibf-tak-2"
    );
    assert!(
        !got["sdf-tak"].iter().any(|e| e["uid"] == "ibf-tak"),
        "no relay across organisations"
    );

    // Webhooks: same rule, with idempotency keys.
    let delivered = wait_for(30.0, || {
        let (_, st) = srv.get(&admin, "/api/v1/stats");
        (st["store"]["outbox_pending"] == 0).then_some(())
    });
    assert!(delivered.is_some(), "the outbox drains");
    let hooks = hooks.lock().expect("hooks").clone();
    for s in &SPECS {
        let mine: Vec<&Hook> = hooks.iter().filter(|h| h.org == s.org).collect();
        assert_eq!(
            mine.is_empty(),
            s.alerts == D::None,
            "webhooks for {}",
            s.org
        );
        for h in mine {
            assert!(
                h.key.starts_with(&format!("{}:alert:", s.org)),
                "idempotency key {}",
                h.key
            );
            check_alert(s, "webhook", &h.body);
        }
    }
}
