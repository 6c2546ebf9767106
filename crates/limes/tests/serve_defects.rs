//! The defects found when `limes serve` was run as its users and attackers would run it, each
//! with the test that failed on the code that had it: a server blinded by an hour of silence,
//! records acknowledged and then refused, the batch rule dropping good records, errors that
//! did not name the field, checks that let things through, retries that duplicate, the
//! Prometheus text a classic scraper mis-types, and an HTTP listener without caps or timeouts.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod common;

use common::*;
use limes_core::record::Time;
use serde_json::json;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;

fn camp(dir: &std::path::Path, speed: f64, start: Option<f64>) -> InProc {
    let site = camp_site(dir, None);
    let mut cfg = limes_server::ServeConfig::new(site.display().to_string(), dir.join("data"));
    cfg.clock_speed = speed;
    cfg.clock_start = start.map(|t| Time(t).to_rfc3339());
    InProc::start(cfg)
}

fn now() -> f64 {
    limes_server::clock::wall_now()
}

fn det(t: f64, lon: f64) -> String {
    format!(
        r#"{{"type":"detection","sensor":"ai-ne-cam","time":"{}","lon":{lon},"lat":36.3850,"ce":5}}"#,
        Time(t)
    )
}

fn hb(t: f64) -> String {
    format!(
        r#"{{"type":"heartbeat","sensor":"ai-ne-cam","time":"{}"}}"#,
        Time(t)
    )
}

#[test]
fn an_hour_without_records_does_not_blind_the_engine() {
    let dir = tempfile::tempdir().expect("tempdir");
    let t0 = now() - 3.0 * 3600.0;
    // Night one: a heartbeat at t0, then the server stops.
    let data = dir.path().join("data");
    let site = camp_site(dir.path(), None);
    let sensor = token(&site, &data, "sdf", "sensor");
    {
        let mut srv = Srv::start_with(
            &site,
            &data,
            1.0,
            &["--clock-start", &Time(t0).to_rfc3339()],
        );
        let (st, v) = srv_post(&srv.http, &sensor, hb(t0 + 1.0));
        assert_eq!(st, 200, "{v}");
        srv.terminate();
    }
    // Two hours later on the server's clock, with nothing in between: records are taken.
    let t1 = t0 + 2.0 * 3600.0;
    let srv = Srv::start_with(
        &site,
        &data,
        1.0,
        &["--clock-start", &Time(t1).to_rfc3339()],
    );
    // Posted as soon as the server is ready: the clock's time at start is known before the
    // first records are judged (they were refused as two hours ahead until the first tick).
    let body: Vec<String> = (0..8)
        .map(|k| det(t1 + 1.0 + k as f64 * 0.5, 38.8721 + k as f64 * 1e-5))
        .collect();
    let (st, v) = srv_post(&srv.http, &sensor, body.join("\n"));
    assert_eq!(st, 200, "{v}");
    let (st, v) = srv_post(&srv.http, &sensor, hb(t1 + 8.0));
    assert_eq!(st, 200, "{v}");
    wait_for(30.0, || {
        (metric(&srv, "limes_engine_records_total") >= 10.0).then_some(())
    })
    .expect("the engine processed the new records");
    assert_eq!(
        metric(&srv, "limes_engine_refused_total"),
        0.0,
        "the engine refused records it had acknowledged"
    );
}

fn srv_post(http: &str, token: &str, body: String) -> (u16, serde_json::Value) {
    let r = client()
        .post(format!("{http}/api/v1/ingest"))
        .bearer_auth(token)
        .body(body)
        .send()
        .expect("post");
    (r.status().as_u16(), r.json().unwrap_or_default())
}

#[test]
fn a_record_the_engine_would_refuse_is_refused_at_ingest_by_index_and_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    let t = now();
    // A frozen clock: every tick says t.
    let srv = camp(dir.path(), 0.0, Some(t));
    let sensor = srv.token("sdf", "sensor");
    let (st, v) = srv.post(&sensor, "/api/v1/ingest", hb(t));
    assert_eq!(st, 200, "{v}");
    srv.processed(seq_of(&v));
    let (st, v) = srv.post(
        &sensor,
        "/api/v1/ingest",
        format!("{}\n{}", det(t - 0.5, 38.8721), det(t - 30.0, 38.8722)),
    );
    assert_eq!(st, 422, "{v}");
    assert_eq!(v["accepted"], 1, "{v}");
    assert_eq!(
        (
            v["rejected"][0]["index"].clone(),
            v["rejected"][0]["field"].clone()
        ),
        (json!(1), json!("time")),
        "{v}"
    );
    srv.processed(seq_of(&v));
    let m = metric_of(&srv.ops, "limes_engine_refused_total");
    assert_eq!(m, 0.0, "nothing acknowledged was refused by the engine");
}

fn metric_of(ops: &str, name: &str) -> f64 {
    let text = client()
        .get(format!("{ops}/metrics"))
        .send()
        .expect("metrics")
        .text()
        .expect("text");
    text.lines()
        .find_map(|l| {
            l.strip_prefix(&format!("{name} "))
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(0.0)
}

#[test]
fn every_good_record_is_stored_or_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let t = now();
    let srv = camp(dir.path(), 0.0, Some(t));
    let sensor = srv.token("sdf", "sensor");
    // 100,001 good records in one array: 100,000 stored, the last one named.
    let body = format!("[{}]", vec![hb(t); 100_001].join(","));
    let (st, v) = srv.post(&sensor, "/api/v1/ingest", body);
    assert_eq!(st, 422);
    assert_eq!(v["accepted"], 100_000, "{}", v["error"]);
    assert_eq!(v["rejected"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        (
            v["rejected"][0]["index"].clone(),
            v["rejected"][0]["last"].clone()
        ),
        (json!(100_000), json!(100_000))
    );
    // NDJSON whose first line is truncated: lines 2–4 are still records.
    let body = format!("{}\n{}\n{}\n{}\n", &hb(t)[..20], hb(t), hb(t), hb(t));
    let (st, v) = srv.post(&sensor, "/api/v1/ingest", body);
    assert_eq!((st, v["accepted"].clone()), (422, json!(3)), "{v}");
    assert_eq!(v["rejected"][0]["index"], 0, "{v}");
    // A NaN at index 3 of an array names index 3 and its field; the rest is stored.
    let mut items: Vec<String> = (0..6).map(|_| det(t, 38.8721)).collect();
    items[3] = items[3].replace("38.8721", "NaN");
    let (st, v) = srv.post(&sensor, "/api/v1/ingest", format!("[{}]", items.join(",")));
    assert_eq!((st, v["accepted"].clone()), (422, json!(5)), "{v}");
    assert_eq!(
        (
            v["rejected"][0]["index"].clone(),
            v["rejected"][0]["field"].clone()
        ),
        (json!(3), json!("lon")),
        "{v}"
    );
}

#[test]
fn faults_name_their_field_and_nothing_unchecked_gets_in() {
    let dir = tempfile::tempdir().expect("tempdir");
    let t = now();
    let srv = camp(dir.path(), 0.0, Some(t));
    let sensor = srv.token("sdf", "sensor");
    let d = det(t, 38.8721);
    let fence = |zone: &str| {
        format!(
            r#"{{"type":"fence","sensor":"ai-fence001","zone":"{zone}","time":"{}","alarm":"cut","line":[[38.868,36.3793],[38.869,36.3793]]}}"#,
            Time(t)
        )
    };
    let cases = [
        (d.replace(r#""ce":5"#, r#""ce":"five""#), "ce"),
        (
            d.replace(r#""ce":5"#, r#""ce":5,"heat_m2":"hot""#),
            "heat_m2",
        ),
        (
            d.replace(r#""ce":5"#, r#""ce":5,"class":"person""#),
            "class",
        ),
        (d.replace(r#""ce":5"#, r#""cov":[1,"x",1]"#), "cov[1]"),
        (d.replace(r#""ce":5"#, r#""ce":5,"count":"three""#), "count"),
        (d.replace(r#""ce":5"#, r#""ce":5,"ce":6"#), "ce"),
        (d.replace(r#""ce":5"#, r#""ce":5,"junk":"x""#), "junk"),
        (d.replace(r#","ce":5"#, ""), "ce"),
        (
            fence("z01").replace(r#""zone":"z01""#, r#""zone":7"#),
            "zone",
        ),
        (fence("z01").replace("cut", "bogus"), "alarm"),
        (fence("z99"), "zone"),
    ];
    for (i, (line, field)) in cases.iter().enumerate() {
        let (st, v) = srv.post(&sensor, "/api/v1/ingest", line.clone());
        assert_eq!(st, 422, "case {i}: {line} → {v}");
        assert_eq!(v["rejected"][0]["field"], *field, "case {i}: {line} → {v}");
    }
    let (st, v) = srv.post(&sensor, "/api/v1/ingest", fence("z01"));
    assert_eq!(st, 200, "a real zone's alarm is taken: {v}");
    let r = client()
        .post(format!("{}/api/v1/ingest", srv.http))
        .bearer_auth(&sensor)
        .body(vec![b' '; 17 * 1024 * 1024])
        .send()
        .expect("post");
    assert_eq!(r.status().as_u16(), 413);
    // Far past the limit, from a client that sends the whole body before it reads the answer
    // (Python's http.client and `requests` do): it is read to its end and answered, not cut
    // off mid-send with a broken pipe.
    {
        let addr = srv.http.trim_start_matches("http://");
        let mut s = TcpStream::connect(addr).expect("connect");
        let n = 40 * 1024 * 1024;
        write!(
            s,
            "POST /api/v1/ingest HTTP/1.1\r\nHost: limes\r\nAuthorization: Bearer {sensor}\r\n\
             Content-Length: {n}\r\n\r\n"
        )
        .expect("head");
        s.write_all(&vec![b' '; n])
            .expect("the whole body is taken, not refused mid-send");
        let mut head = [0u8; 12];
        s.read_exact(&mut head).expect("an answer");
        assert_eq!(&head, b"HTTP/1.1 413");
    }
    let v: serde_json::Value = r.json().expect("a JSON error, not plain text");
    assert!(
        v["error"].as_str().is_some_and(|e| e.contains("larger")),
        "{v}"
    );
}

#[test]
fn a_retry_with_the_same_idempotency_key_stores_nothing_twice() {
    let dir = tempfile::tempdir().expect("tempdir");
    let t = now();
    let srv = camp(dir.path(), 0.0, Some(t));
    let sensor = srv.token("sdf", "sensor");
    let owner = srv.token("ibf", "owner");
    let send = |key: &str, body: String| {
        let r = client()
            .post(format!("{}/api/v1/ingest", srv.http))
            .bearer_auth(&sensor)
            .header("Idempotency-Key", key)
            .body(body)
            .send()
            .expect("post");
        (
            r.status().as_u16(),
            r.json::<serde_json::Value>().unwrap_or_default(),
        )
    };
    let body = format!("{}\n{}", hb(t), det(t, 38.8721));
    let (st, first) = send("batch-1", body.clone());
    assert_eq!(st, 200, "{first}");
    let records = || {
        srv.get(&owner, "/api/v1/stats").1["store"]["records"]
            .as_u64()
            .expect("records")
    };
    let n = records();
    let (st, again) = send("batch-1", body.clone());
    assert_eq!(st, 200);
    assert_eq!(
        (again["seq"].clone(), again["replayed"].clone()),
        (first["seq"].clone(), json!(true)),
        "{again}"
    );
    assert_eq!(records(), n, "the retry stored nothing");
    let (st, v) = send("batch-1", hb(t));
    assert_eq!(st, 409, "a key reused with another body: {v}");
    let (st, v) = send("", hb(t));
    assert_eq!(
        (st, v["details"]["field"].clone()),
        (400, json!("Idempotency-Key"))
    );
}

#[test]
fn a_classic_prometheus_scraper_types_every_counter() {
    let py = python_packages();
    let dir = tempfile::tempdir().expect("tempdir");
    let srv = camp(dir.path(), 1.0, None);
    let script = r#"
import sys, urllib.request
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.openmetrics.parser import text_string_to_metric_families as om
url = sys.argv[1]
classic = urllib.request.urlopen(url).read().decode()
types = {f.name: f.type for f in text_string_to_metric_families(classic)}
assert types.get("limes_ingest_records") == "counter", types
assert all(t != "untyped" for t in types.values()), types
req = urllib.request.Request(url, headers={"Accept": "application/openmetrics-text; version=1.0.0"})
r = urllib.request.urlopen(req)
assert r.headers["Content-Type"].startswith("application/openmetrics-text"), r.headers["Content-Type"]
fams = {f.name: f.type for f in om(r.read().decode())}
assert fams.get("limes_ingest_records") == "counter", fams
print("ok")
"#;
    let out = Command::new("python3")
        .env("PYTHONPATH", &py)
        .arg("-c")
        .arg(script)
        .arg(format!("{}/metrics", srv.ops))
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A child process killed (and waited for) when dropped.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Reads what the peer sends until it closes (or resets) the connection.
fn answer(mut s: TcpStream) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return String::from_utf8_lossy(&got).into_owned(),
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
}

/// Reads until the peer closes (or resets) the connection.
fn closed(mut s: TcpStream) -> bool {
    let mut buf = [0u8; 1024];
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return true,
            Ok(_) => {}
        }
    }
}

#[test]
fn idle_and_slow_connections_are_cut_and_health_and_operators_keep_room() {
    let _ = rlimit::increase_nofile_limit(8192);
    let dir = tempfile::tempdir().expect("tempdir");
    let site = camp_site(dir.path(), None);
    let data = dir.path().join("data");
    let viewer = token(&site, &data, "ibf", "viewer");
    // The server under a 1024 file limit, as the defect was found.
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -n 1024 && exec {BIN} serve --site {} --data {} --http 127.0.0.1:0 --ops 127.0.0.1:0 --cot 127.0.0.1:0 --header-timeout-s 2 --body-timeout-s 2 --cot-first-event-s 2",
            site.display(),
            data.display()
        ))
        .env("RUST_LOG", "error")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("serve");
    let out = child.stdout.take().expect("stdout");
    // Stopped when the test ends, also by a failed assertion (a server left running writes
    // into the suite's output for as long as the suite runs).
    let child = KillOnDrop(child);
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(out));
    let (mut http, mut ops, mut cot) = (String::new(), String::new(), String::new());
    for l in lines.by_ref() {
        let l = l.expect("line");
        let t = l.trim();
        if let Some(a) = t.strip_prefix("HTTP  http://") {
            http = a.split('/').next().unwrap_or("").to_string();
        } else if let Some(a) = t.strip_prefix("ops   http://") {
            ops = a.split('/').next().unwrap_or("").to_string();
        } else if let Some(a) = t.strip_prefix("CoT   tcp://") {
            cot = a.to_string();
        } else if t == "ready" {
            break;
        }
    }
    std::thread::spawn(move || for _ in lines {});
    // 1,100 idle HTTP and 1,100 idle CoT connections.
    let mut idle = Vec::new();
    for _ in 0..1100 {
        if let Ok(s) = TcpStream::connect(&http) {
            idle.push(s);
        }
        if let Ok(s) = TcpStream::connect(&cot) {
            idle.push(s);
        }
    }
    // A slowloris head and a slow body.
    let mut slow_head = TcpStream::connect(&http).expect("connect");
    slow_head
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .expect("write");
    let mut slow_body = TcpStream::connect(&http).expect("connect");
    slow_body
        .write_all(format!("POST /api/v1/ingest HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {viewer}\r\nContent-Length: 1000\r\n\r\n{{").as_bytes())
        .expect("write");
    // Health answers on the operations listener, and an operator on another address is served.
    let r = client()
        .get(format!("http://{ops}/healthz"))
        .send()
        .expect("ops healthz");
    assert_eq!(r.status().as_u16(), 200);
    let operator = reqwest::blocking::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
        .build()
        .expect("client");
    let r = operator
        .get(format!("http://{http}/api/v1/alerts"))
        .bearer_auth(&viewer)
        .send()
        .expect("an operator from another address is served");
    assert_eq!(r.status().as_u16(), 200);
    // Every idle and slow connection is closed by the server.
    for s in idle {
        assert!(closed(s));
    }
    assert!(closed(slow_head), "slowloris head cut");
    assert!(closed(slow_body), "slow body cut");
    let r = client()
        .get(format!("http://{http}/healthz"))
        .send()
        .expect("healthz after");
    assert_eq!(r.status().as_u16(), 200);
    drop(child);
}

/// A body that stops arriving is told so (408, not a malformed request) before the connection
/// is cut: an API body and a console sign-in, as a browser on a failing link sends it (the
/// sign-in's was a 400 "failed to buffer").
#[test]
fn a_body_that_stops_arriving_gets_408() {
    let dir = tempfile::tempdir().expect("tempdir");
    let site = camp_site(dir.path(), None);
    let data = dir.path().join("data");
    let sensor = token(&site, &data, "sdf", "sensor");
    let mut srv = Srv::start_with(&site, &data, 1.0, &["--body-timeout-s", "1"]);
    let http = srv.http.trim_start_matches("http://").to_string();
    let api = format!(
        "POST /api/v1/ingest HTTP/1.1\r\nHost: {http}\r\nAuthorization: Bearer {sensor}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n["
    );
    let sign_in = format!(
        "POST /api/v1/session HTTP/1.1\r\nHost: {http}\r\nOrigin: http://{http}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"user\""
    );
    for (what, head) in [("API", api), ("sign-in", sign_in)] {
        let mut s = TcpStream::connect(&http).expect("connect");
        s.write_all(head.as_bytes()).expect("write");
        let got = answer(s);
        assert!(got.starts_with("HTTP/1.1 408"), "slow {what} body: {got}");
    }
    srv.terminate();
}
