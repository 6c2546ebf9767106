//! The release matrix for items: six organisations × every read path (REST list and item,
//! server-sent events, CoT to a real TAK client library, CAP 1.2, webhooks) × every data kind
//! (tracks, alerts, facilities). One breakout night is run once (a shared fixture); each path
//! is its own test, so one failure does not hide the others. Actions and side channels are in
//! `serve_authz.rs`, the life cycle in `serve_lifecycle.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod common;

use common::*;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, OnceLock};

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
    /// Whether the site's `geometry` gives it where the sensors are (a sensor-offline alert
    /// names and places them, so it is at most a summary without).
    sensors: bool,
}

const SPECS: [Spec; 6] = [
    Spec {
        org: "ibf",
        tracks: D::Full,
        alerts: D::Full,
        kinds: &[],
        facilities: true,
        grid_m: 0.0,
        sensors: true,
    },
    Spec {
        org: "sdf",
        tracks: D::Full,
        alerts: D::Full,
        kinds: &[],
        facilities: true,
        grid_m: 0.0,
        sensors: true,
    },
    Spec {
        org: "coalition",
        tracks: D::Coarse,
        alerts: D::Full,
        kinds: &[],
        facilities: true,
        grid_m: 500.0,
        sensors: false,
    },
    Spec {
        org: "turkey",
        tracks: D::None,
        alerts: D::Coarse,
        kinds: &["infiltration", "mass_breakout"],
        facilities: false,
        grid_m: 5000.0,
        sensors: false,
    },
    Spec {
        org: "syria",
        tracks: D::Coarse,
        alerts: D::Coarse,
        kinds: &["infiltration", "approach", "fence_cut", "mass_breakout"],
        facilities: false,
        grid_m: 2000.0,
        sensors: false,
    },
    Spec {
        org: "humanitarian",
        tracks: D::None,
        alerts: D::Summary,
        kinds: &["mass_breakout", "perimeter_breach"],
        facilities: true,
        grid_m: 0.0,
        sensors: false,
    },
];

fn spec(org: &str) -> &'static Spec {
    SPECS.iter().find(|s| s.org == org).expect("spec")
}

impl Spec {
    fn alert_kind_ok(&self, kind: &str) -> bool {
        self.alerts != D::None && (self.kinds.is_empty() || self.kinds.contains(&kind))
    }

    /// The detail it gets an alert of `kind` at.
    fn alert_detail(&self, kind: &str) -> D {
        if kind == "sensor_offline" && !self.sensors && self.alerts > D::Summary {
            D::Summary
        } else {
            self.alerts
        }
    }
}

/// True when a coordinate sits at a cell centre of a `grid_m` grid, to within `tol` of a cell.
fn on_grid_within(lat: f64, lon: f64, grid_m: f64, tol: f64) -> bool {
    let dlat = grid_m / 111_320.0;
    let k = lat / dlat - 0.5;
    let dlon = grid_m / (111_320.0 * lat.to_radians().cos());
    let j = lon / dlon - 0.5;
    (k - k.round()).abs() < tol && (j - j.round()).abs() < tol
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
        on_grid_within(lat, lon, s.grid_m, 1e-6),
        "{path}: {} {what} not coarsened to {} m: {v}",
        s.org,
        s.grid_m
    );
}

/// Ids are opaque strings, never the tracker's or the rules' numbers.
fn check_id(path: &str, v: &Value) {
    let id = v["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{path}: id not a string: {v}"));
    assert!(id.len() == 33, "{path}: id {id} is not opaque");
}

fn check_track(s: &Spec, path: &str, t: &Value) {
    assert!(
        s.tracks >= D::Coarse,
        "{path}: {} received a track: {t}",
        s.org
    );
    check_id(path, t);
    if s.tracks == D::Coarse {
        check_coarse(s, path, "track", t, &["cov", "sensor", "hits", "vel"]);
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
    check_id(path, a);
    match s.alert_detail(kind) {
        D::Summary => {
            for k in ["lon", "lat", "sensors", "tracks", "ddr", "unit", "note"] {
                assert!(
                    a.get(k).is_none(),
                    "{path}: {} summary alert has {k}: {a}",
                    s.org
                );
            }
        }
        D::Coarse => check_coarse(s, path, "alert", a, &["sensors", "tracks", "unit", "note"]),
        D::Full => {
            assert!(
                a.get("sensors").is_some(),
                "{path}: {} full alert lacks sensors: {a}",
                s.org
            );
            for t in a["tracks"].as_array().expect("tracks") {
                assert!(
                    t.is_string(),
                    "{path}: track ids in a full alert are opaque: {a}"
                );
            }
        }
        D::None => unreachable!(),
    }
}

/// An alert's identity across organisations (ids differ per organisation): when it was raised.
fn key(a: &Value) -> String {
    a["raised"].as_str().expect("raised").to_string()
}

/// Reads a server-sent event stream until the server closes it.
fn sse(url: String, token: String) -> Vec<(String, Value)> {
    let c = reqwest::blocking::Client::builder()
        .timeout(None)
        .build()
        .expect("client");
    let resp = c.get(url).bearer_auth(token).send().expect("stream");
    assert_eq!(resp.status().as_u16(), 200);
    let mut out = Vec::new();
    let mut event = String::new();
    for line in BufReader::new(resp).lines() {
        let Ok(line) = line else { break };
        if let Some(e) = line.strip_prefix("event:") {
            event = e.trim().to_string();
        } else if let Some(d) = line.strip_prefix("data:") {
            out.push((
                event.clone(),
                serde_json::from_str(d.trim()).expect("data is JSON"),
            ));
        }
    }
    out
}

/// One organisation's REST reads: tracks (while live), alerts, facilities.
type Reads = (Vec<Value>, Vec<Value>, Vec<Value>);

/// Everything the night produced, as each organisation received it.
struct Night {
    /// The owner's view of every alert (ibf's ids).
    all: Vec<Value>,
    /// REST reads per organisation: tracks (while live), alerts, facilities.
    rest: BTreeMap<&'static str, Reads>,
    /// Single-alert reads per organisation: (key, status, body) for every alert id it holds.
    rest_one: BTreeMap<&'static str, Vec<(u16, Value)>>,
    /// CAP messages per organisation: (alert key, rev, XML), and the files written.
    cap: BTreeMap<&'static str, Vec<(String, String)>>,
    cap_files: Vec<PathBuf>,
    /// Per organisation: each alert id's latest revision with a CAP message, and that message.
    cap_latest: BTreeMap<&'static str, BTreeMap<String, (u64, String)>>,
    /// Per organisation: its CAP feed in full, and with `limit=1` (status, content type, body).
    feeds: BTreeMap<&'static str, [(u16, String, String); 2]>,
    /// SSE events per organisation.
    sse: BTreeMap<&'static str, Vec<(String, Value)>>,
    /// CoT events per TAK client uid, and frames a standard XML parser refused.
    cot: BTreeMap<String, (Value, Vec<Value>)>,
    /// Webhook deliveries.
    hooks: Vec<Hook>,
    _dir: tempfile::TempDir,
}

fn night() -> &'static Night {
    static N: OnceLock<Night> = OnceLock::new();
    N.get_or_init(run_night)
}

/// GET returning the status, the content type and the body.
fn get_typed(srv: &Srv, token: &str, path: &str) -> (u16, String, String) {
    let r = client()
        .get(format!("{}{path}", srv.http))
        .bearer_auth(token)
        .send()
        .expect("GET");
    let ctype = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    (r.status().as_u16(), ctype, r.text().unwrap_or_default())
}

fn run_night() -> Night {
    let py = python_packages();
    let dir = tempfile::tempdir().expect("tempdir");
    let (hook_base, hooks) = hook_receiver(Arc::new(AtomicBool::new(true)));
    let site = camp_site(dir.path(), Some(&hook_base));
    let data = dir.path().join("data");
    let viewers: BTreeMap<&str, String> = SPECS
        .iter()
        .map(|s| (s.org, token(&site, &data, s.org, "viewer")))
        .collect();
    let owner = token(&site, &data, "ibf", "owner");
    let sensor = token(&site, &data, "sdf", "sensor");
    let mut srv = Srv::start_with(&site, &data, 30.0, &["--cot-clients"]);

    // TAK clients (PyTAK) for every organisation, and a second one for ibf (relay, no echo).
    let script = root().join("crates/limes/tests/tak_client.py");
    let cot_url = format!("tcp://{}", srv.cot);
    let mut names: Vec<(&str, String)> = SPECS
        .iter()
        .map(|s| (s.org, format!("{}-tak", s.org)))
        .collect();
    names.push(("ibf", "ibf-tak-2".into()));
    let mut clients = Vec::new();
    for (org, uid) in &names {
        let mut child = Command::new("python3")
            .env("PYTHONPATH", &py)
            .arg(&script)
            .args([&cot_url, &viewers[org], uid])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("python3 runs");
        // Wait until it says it is connected.
        let err = child.stderr.take().expect("stderr");
        let mut lines = BufReader::new(err).lines();
        loop {
            match lines.next() {
                Some(Ok(l)) if l == "connected" => break,
                Some(Ok(_)) => {}
                _ => panic!("tak client {uid} failed: {:?}", child.wait()),
            }
        }
        std::thread::spawn(move || for _ in lines {});
        clients.push((uid.clone(), child));
    }
    // Event streams for every organisation.
    let streams: Vec<_> = SPECS
        .iter()
        .map(|s| {
            let (url, tok) = (
                format!("{}/api/v1/stream", srv.http),
                viewers[s.org].clone(),
            );
            (s.org, std::thread::spawn(move || sse(url, tok)))
        })
        .collect();
    // Every stream and TAK client is subscribed before the first record: 6 + 7 sessions.
    wait_for(60.0, || {
        (metric(&srv, "limes_connections") >= 13.0).then_some(())
    })
    .expect("streams and clients connected");

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
        let (_, v) = srv.get(&owner, "/api/v1/alerts?kind=mass_breakout");
        let (_, t) = srv.get(&owner, "/api/v1/tracks");
        (v["alerts"].as_array().is_some_and(|a| !a.is_empty())
            && t["tracks"].as_array().is_some_and(|t| t.len() > 5))
        .then_some(())
    })
    .expect("a breakout with live tracks");
    let mut live_tracks = BTreeMap::new();
    for s in &SPECS {
        let (st, v) = srv.get(&viewers[s.org], "/api/v1/tracks");
        assert_eq!(st, 200);
        live_tracks.insert(s.org, v["tracks"].as_array().expect("tracks").clone());
    }
    feeder.join().expect("feeder");

    let (_, all) = srv.get(&owner, "/api/v1/alerts?limit=5000");
    let all: Vec<Value> = all["alerts"].as_array().expect("alerts").clone();
    let mut rest = BTreeMap::new();
    let mut rest_one = BTreeMap::new();
    let mut cap = BTreeMap::new();
    let mut cap_files = Vec::new();
    let mut cap_latest = BTreeMap::new();
    let mut feeds = BTreeMap::new();
    let cap_dir = dir.path().join("cap");
    std::fs::create_dir_all(&cap_dir).expect("cap dir");
    for s in &SPECS {
        let tok = &viewers[s.org];
        let (_, a) = srv.get(tok, "/api/v1/alerts?limit=5000");
        let alerts = a["alerts"].as_array().expect("alerts").clone();
        let (_, f) = srv.get(tok, "/api/v1/facilities");
        let facilities = f["facilities"].as_array().expect("facilities").clone();
        let mut ones = Vec::new();
        let mut caps = Vec::new();
        let mut latest = BTreeMap::new();
        for a in &alerts {
            let id = a["id"].as_str().expect("id");
            ones.push(srv.get(tok, &format!("/api/v1/alerts/{id}")));
            // Every revision the organisation can get, as CAP.
            for rev in 1..=a["rev"].as_u64().expect("rev") {
                let (st, xml) = srv.get_text(tok, &format!("/api/v1/alerts/{id}/cap?rev={rev}"));
                if st == 200 {
                    let f = cap_dir.join(format!("{}-{id}-{rev}.xml", s.org));
                    std::fs::write(&f, &xml).expect("write");
                    cap_files.push(f);
                    latest.insert(id.to_string(), (rev, xml.clone()));
                    caps.push((key(a), xml));
                } else {
                    assert_eq!(st, 404, "CAP rev {rev} for {}: {xml}", s.org);
                }
            }
        }
        rest.insert(s.org, (live_tracks[s.org].clone(), alerts, facilities));
        rest_one.insert(s.org, ones);
        cap.insert(s.org, caps);
        cap_latest.insert(s.org, latest);
        feeds.insert(
            s.org,
            [
                get_typed(&srv, tok, "/api/v1/cap/feed?limit=500"),
                get_typed(&srv, tok, "/api/v1/cap/feed?limit=1"),
            ],
        );
    }
    let delivered = wait_for(30.0, || {
        let (_, st) = srv.get(&owner, "/api/v1/stats");
        (st["store"]["outbox_pending"] == 0).then_some(())
    });
    assert!(delivered.is_some(), "the outbox drains");

    // Stop the TAK clients (they print what they got), then the server (streams end).
    let mut cot = BTreeMap::new();
    for (uid, mut child) in clients {
        drop(child.stdin.take());
        let out = child.wait_with_output().expect("tak client");
        assert!(out.status.success(), "tak client {uid} failed");
        let v: Value = serde_json::from_slice(&out.stdout).expect("tak client JSON");
        cot.insert(
            uid,
            (
                v["events"].clone(),
                v["unparsed"].as_array().cloned().unwrap_or_default(),
            ),
        );
    }
    srv.terminate();
    let sse = streams
        .into_iter()
        .map(|(org, h)| (org, h.join().expect("sse")))
        .collect();
    let hooks = hooks.lock().expect("hooks").clone();
    Night {
        all,
        rest,
        rest_one,
        cap,
        cap_files,
        cap_latest,
        feeds,
        sse,
        cot,
        hooks,
        _dir: dir,
    }
}

#[test]
fn rest_releases_each_organisation_its_items_at_its_detail() {
    let n = night();
    let kinds: BTreeSet<&str> = n
        .all
        .iter()
        .map(|a| a["kind"].as_str().expect("kind"))
        .collect();
    assert!(
        kinds.contains("mass_breakout") && kinds.contains("sensor_offline"),
        "the night raises both: {kinds:?}"
    );
    for s in &SPECS {
        let (tracks, alerts, facilities) = &n.rest[s.org];
        if s.tracks >= D::Coarse {
            assert!(!tracks.is_empty(), "REST: {} should see tracks", s.org);
        } else {
            assert!(tracks.is_empty(), "REST: {} must see no tracks", s.org);
        }
        tracks
            .iter()
            .for_each(|t| check_track(s, "REST /tracks", t));
        let expect: BTreeSet<String> = n
            .all
            .iter()
            .filter(|a| s.alert_kind_ok(a["kind"].as_str().expect("kind")))
            .map(key)
            .collect();
        let got: BTreeSet<String> = alerts.iter().map(key).collect();
        assert_eq!(got, expect, "REST /alerts for {}", s.org);
        alerts
            .iter()
            .for_each(|a| check_alert(s, "REST /alerts", a));
        for (st, one) in &n.rest_one[s.org] {
            assert_eq!(*st, 200);
            check_alert(s, "REST /alerts/{id}", one);
        }
        assert_eq!(
            facilities.is_empty(),
            !s.facilities,
            "REST /facilities for {}",
            s.org
        );
    }
    // Ids are per organisation: no two organisations share one.
    let mut seen: BTreeMap<String, &str> = BTreeMap::new();
    for s in &SPECS {
        for a in &n.rest[s.org].1 {
            let id = a["id"].as_str().expect("id").to_string();
            if let Some(o) = seen.insert(id.clone(), s.org) {
                panic!("alert id {id} given to both {o} and {}", s.org);
            }
        }
    }
}

/// The text of CAP element `name` in message `m`.
fn cap_field(m: &str, name: &str) -> String {
    m.split(&format!("<{name}>"))
        .nth(1)
        .and_then(|x| x.split(&format!("</{name}>")).next())
        .expect(name)
        .to_string()
}

#[test]
fn cap_messages_validate_and_each_organisation_has_its_own_sequence() {
    let n = night();
    for s in &SPECS {
        let caps = &n.cap[s.org];
        if s.alerts == D::None {
            assert!(caps.is_empty());
            continue;
        }
        assert!(!caps.is_empty(), "CAP for {}", s.org);
        // Group by alert; the first message of each is an Alert, later ones reference it.
        let mut by_alert: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (k, xml) in caps {
            by_alert.entry(k).or_default().push(xml);
        }
        for (k, msgs) in by_alert {
            assert!(
                msgs[0].contains("<msgType>Alert</msgType>") && !msgs[0].contains("<references>"),
                "{}: the first CAP message about alert {k} must be an Alert: {}",
                s.org,
                msgs[0]
            );
            // An Update or Cancel references every earlier message of the organisation's
            // sequence (sender, identifier, sent), since it supersedes them all and none
            // expires; only the first was referenced before.
            for (i, m) in msgs.iter().enumerate().skip(1) {
                assert!(
                    m.contains("<msgType>Update</msgType>")
                        || m.contains("<msgType>Cancel</msgType>"),
                    "{m}"
                );
                let refs = cap_field(m, "references");
                let refs: Vec<&str> = refs.split(' ').collect();
                let want: Vec<String> = msgs[..i]
                    .iter()
                    .map(|e| {
                        format!(
                            "{},{},{}",
                            cap_field(e, "sender"),
                            cap_field(e, "identifier"),
                            cap_field(e, "sent")
                        )
                    })
                    .collect();
                assert_eq!(refs, want, "{}: {m}", s.org);
            }
            // The night runs on a drill clock: an exercise, never an actual alert, with UTC
            // written as CAP asks (-00:00).
            for m in &msgs {
                assert!(m.contains("<status>Exercise</status>"), "{m}");
                assert!(cap_field(m, "sent").ends_with("-00:00"), "{m}");
            }
            for m in &msgs {
                match s.alert_detail(&cap_field(m, "event").replace(' ', "_")) {
                    D::Full => assert!(
                        m.contains("<scope>Restricted</scope>") && m.contains("<restriction>"),
                        "{m}"
                    ),
                    _ => assert!(
                        m.contains("<scope>Private</scope>")
                            && m.contains(&format!("<addresses>{}</addresses>", s.org)),
                        "{m}"
                    ),
                }
            }
        }
    }
    let invalid = validate_cap(&n.cap_files);
    assert!(
        invalid.is_empty(),
        "CAP messages failing the OASIS CAP 1.2 schema: {invalid:#?}"
    );
}

/// An Atom feed as a stock feed reader (feedparser) reads it, as if fetched from
/// `http://limes.test/api/v1/cap/feed` with the content type the server gave (so relative links
/// are resolved, and the type judged, as a client's are).
fn read_feed(ctype: &str, xml: &str) -> Value {
    let script = r#"
import sys, json, feedparser
d = feedparser.parse(sys.stdin.read(),
    response_headers={"content-location": "http://limes.test/api/v1/cap/feed",
                      "content-type": sys.argv[1]})
print(json.dumps({
    "bozo": bool(d.bozo), "error": str(d.get("bozo_exception", "")), "version": d.version,
    "id": d.feed.get("id"), "updated": d.feed.get("updated"),
    "entries": [{"id": e.id, "title": e.title, "updated": e.updated,
                 "links": [{"href": l.href, "type": l.get("type"), "rel": l.get("rel")}
                           for l in e.links]} for e in d.entries]}))
"#;
    let mut child = Command::new("python3")
        .env("PYTHONPATH", python_packages())
        .arg("-c")
        .arg(script)
        .arg(ctype)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    use std::io::Write;
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(xml.as_bytes())
        .expect("write the feed");
    let out = child.wait_with_output().expect("feedparser");
    assert!(
        out.status.success(),
        "feedparser: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("feedparser's JSON")
}

#[test]
fn the_cap_feed_lists_each_organisations_latest_message_about_each_alert() {
    let n = night();
    for s in &SPECS {
        let [(st, ctype, xml), (st1, ctype1, xml1)] = &n.feeds[s.org];
        assert_eq!((*st, *st1), (200, 200), "{}: {xml} {xml1}", s.org);
        assert_eq!(ctype, "application/atom+xml", "{}", s.org);
        let f = read_feed(ctype, xml);
        assert_eq!(f["bozo"], false, "{}: {f}", s.org);
        assert_eq!(f["version"], "atom10", "{}", s.org);
        let latest = &n.cap_latest[s.org];
        let entries = f["entries"].as_array().expect("entries");
        let mut listed = BTreeSet::new();
        for e in entries {
            let link = e["links"]
                .as_array()
                .expect("links")
                .iter()
                .find(|l| l["rel"] == "alternate")
                .expect("a link to the message");
            assert_eq!(link["type"], "application/cap+xml", "{e}");
            let (id, rev) = link["href"]
                .as_str()
                .and_then(|h| h.strip_prefix("http://limes.test/api/v1/alerts/"))
                .and_then(|h| h.split_once("/cap?rev="))
                .expect("a link to a CAP message");
            // The entry is the latest message the organisation has about the alert: its
            // identifier and its time.
            let (want_rev, cap) = latest
                .get(id)
                .unwrap_or_else(|| panic!("{}: {id} is listed but has no CAP message", s.org));
            assert_eq!(rev, want_rev.to_string(), "{}: {e}", s.org);
            assert_eq!(
                e["id"],
                format!("urn:limes:cap:{}", cap_field(cap, "identifier")),
                "{}",
                s.org
            );
            // Updated when it became the organisation's latest: sent then, or carrying a
            // later revision (an alert first released at a later revision is sent with the
            // time it was raised).
            let sent = cap_field(cap, "sent");
            let updated = e["updated"].as_str().expect("updated");
            assert!(updated[..19] >= sent[..19], "{}: {e} {sent}", s.org);
            if !cap.contains("<msgType>Alert</msgType>") {
                assert_eq!(updated[..19], sent[..19], "{}: {e}", s.org);
            }
            assert!(listed.insert(id.to_string()), "{}: {id} twice", s.org);
        }
        // Every alert with a message is listed, and nothing else.
        assert_eq!(
            listed,
            latest.keys().cloned().collect::<BTreeSet<_>>(),
            "{}",
            s.org
        );
        // Newest first; `limit=1` gives the newest.
        let times: Vec<&str> = entries
            .iter()
            .map(|e| e["updated"].as_str().expect("updated"))
            .collect();
        assert!(
            times.windows(2).all(|w| w[0] >= w[1]),
            "{}: {times:?}",
            s.org
        );
        let one = read_feed(ctype1, xml1);
        let one = one["entries"].as_array().expect("entries");
        assert_eq!(one.len(), entries.len().min(1), "{}", s.org);
        if let Some(first) = entries.first() {
            assert_eq!(one[0]["updated"], first["updated"], "{}", s.org);
        }
    }
}

#[test]
fn the_event_stream_releases_each_organisation_its_items() {
    let n = night();
    for s in &SPECS {
        let events = &n.sse[s.org];
        let count = |k: &str| events.iter().filter(|(e, _)| e == k).count();
        assert_eq!(
            count("track") > 0,
            s.tracks >= D::Coarse,
            "SSE tracks for {}",
            s.org
        );
        assert_eq!(
            count("facility") > 0,
            s.facilities,
            "SSE facilities for {}",
            s.org
        );
        assert_eq!(
            count("alert") > 0,
            s.alerts != D::None,
            "SSE alerts for {}",
            s.org
        );
        for (e, d) in events {
            match e.as_str() {
                "track" => check_track(s, "SSE", d),
                "alert" => check_alert(s, "SSE", d),
                _ => {}
            }
        }
    }
}

#[test]
fn stock_tak_clients_get_parseable_frames_with_what_is_released() {
    let n = night();
    for (uid, (events, unparsed)) in &n.cot {
        assert!(
            unparsed.is_empty(),
            "{uid}: frames Python's XML parser refused: {unparsed:?}"
        );
        let org = uid.split('-').next().expect("org");
        let s = spec(org);
        let events = events.as_array().expect("events");
        assert!(
            events.iter().any(|e| e["type"] == "t-x-c-t-r"),
            "{uid}: no pong"
        );
        assert!(
            !events.iter().any(|e| e["uid"] == uid.as_str()),
            "{uid}: own event echoed"
        );
        assert!(
            !events.iter().any(|e| e["limes"] == true),
            "{uid}: a relayed credential"
        );
        let tracks: Vec<&Value> = events
            .iter()
            .filter(|e| e["uid"].as_str().is_some_and(|u| u.contains(".track.")))
            .collect();
        let alerts: Vec<&Value> = events
            .iter()
            .filter(|e| e["uid"].as_str().is_some_and(|u| u.contains(".alert.")))
            .collect();
        assert_eq!(
            tracks.is_empty(),
            s.tracks == D::None,
            "CoT tracks for {uid}"
        );
        for t in &tracks {
            assert!(t["type"] == "a-u-G" || t["type"] == "a-h-G", "{t}");
            assert_eq!(t["how"], "m-f");
            if s.tracks == D::Coarse {
                let (lat, lon) = (
                    t["lat"].as_f64().expect("lat"),
                    t["lon"].as_f64().expect("lon"),
                );
                assert!(
                    on_grid_within(lat, lon, s.grid_m, 1e-2),
                    "CoT coarse track {uid}: {t}"
                );
                let ce = t["ce"].as_f64().expect("ce");
                assert!(
                    ce >= s.grid_m * 0.7,
                    "CoT: {uid}'s coarse position claims {ce} m on a {} m grid",
                    s.grid_m
                );
            }
        }
        // A summary about the facility is placed at the facility when its place is released.
        let positioned = s.alerts >= D::Coarse || (s.alerts == D::Summary && s.facilities);
        assert_eq!(!alerts.is_empty(), positioned, "CoT alerts for {uid}");
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
            if s.alerts == D::Coarse {
                assert!(a["ce"].as_f64().expect("ce") >= s.grid_m * 0.7, "{a}");
            }
        }
        let facilities = events.iter().filter(|e| e["type"] == "a-n-G-I").count();
        assert_eq!(facilities > 0, s.facilities, "CoT facilities for {uid}");
    }
    // Hostility is decided once per update: both ibf clients got each track update as the
    // same type.
    let types = |uid: &str| -> BTreeMap<(String, String), String> {
        n.cot[uid]
            .0
            .as_array()
            .expect("events")
            .iter()
            .filter(|e| e["uid"].as_str().is_some_and(|u| u.contains(".track.")))
            .map(|e| {
                (
                    (
                        e["uid"].as_str().unwrap_or("").to_string(),
                        e["time"].as_str().unwrap_or("").to_string(),
                    ),
                    e["type"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect()
    };
    let (a, b) = (types("ibf-tak"), types("ibf-tak-2"));
    for (k, t) in &a {
        if let Some(t2) = b.get(k) {
            assert_eq!(t, t2, "one track update, two types: {k:?}");
        }
    }
    // Relay: each ibf client sees the other's position, never across organisations.
    let uids = |uid: &str| -> BTreeSet<String> {
        n.cot[uid]
            .0
            .as_array()
            .expect("events")
            .iter()
            .filter_map(|e| e["uid"].as_str().map(str::to_string))
            .collect()
    };
    // A relayed position keeps its team (TAK's own names) and never the sender's endpoint.
    let relayed: Vec<&Value> = n.cot["ibf-tak"]
        .0
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["uid"] == "ibf-tak-2")
        .collect();
    assert!(
        relayed
            .iter()
            .all(|e| e["group"] == "Cyan" && e["endpoint"].is_null()),
        "{relayed:?}"
    );
    assert!(uids("ibf-tak").contains("ibf-tak-2"), "relay to ibf-tak");
    assert!(uids("ibf-tak-2").contains("ibf-tak"), "relay to ibf-tak-2");
    assert!(
        !uids("sdf-tak").contains("ibf-tak"),
        "no relay across organisations"
    );
}

#[test]
fn webhooks_release_each_organisation_its_alerts_with_idempotency_keys() {
    let n = night();
    for s in &SPECS {
        let mine: Vec<&Hook> = n.hooks.iter().filter(|h| h.org == s.org).collect();
        assert_eq!(
            mine.is_empty(),
            s.alerts == D::None,
            "webhooks for {}",
            s.org
        );
        for h in mine {
            assert!(
                h.key.starts_with(&format!("{}:a", s.org)),
                "idempotency key {}",
                h.key
            );
            check_alert(s, "webhook", &h.body);
        }
    }
}
