//! Malformed input of every kind, over HTTP and over CoT, gets a clear error naming the record
//! and the field, keeps what was good, and leaves the server healthy.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod common;

use common::*;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

fn iso(t: f64) -> String {
    chrono::DateTime::from_timestamp_micros((t * 1e6) as i64)
        .expect("time")
        .to_rfc3339()
}

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs_f64()
}

fn det(t: f64, lon: Value, lat: Value) -> String {
    format!(
        r#"{{"type":"detection","sensor":"ai-ne-cam","time":"{}","lon":{lon},"lat":{lat},"ce":10}}"#,
        iso(t)
    )
}

fn records(srv: &Srv, token: &str) -> u64 {
    let (_, v) = srv.get(token, "/api/v1/stats");
    v["store"]["records"].as_u64().expect("records")
}

fn healthy(srv: &Srv) {
    let r = client()
        .get(format!("{}/healthz", srv.http))
        .send()
        .expect("healthz");
    assert_eq!(r.status().as_u16(), 200);
}

#[test]
fn malformed_input_gets_clear_errors_and_the_server_stays_healthy() {
    let dir = tempfile::tempdir().expect("tempdir");
    let site = camp_site(dir.path(), None);
    let data = dir.path().join("data");
    let admin = token(&site, &data, "ibf", "owner");
    let sensor = token(&site, &data, "sdf", "sensor");
    let viewer = token(&site, &data, "humanitarian", "viewer");
    let srv = Srv::start(&site, &data, 1.0);
    let t = now();

    // One bad record per line, each naming its field.
    let cases: Vec<(String, &str)> = vec![
        (det(t, json!("abc"), json!(36.38)), "lon"),
        (det(t, json!(38.87), json!(95.0)), "lat"),
        (det(t, json!(181.0), json!(36.38)), "lon"),
        (
            det(t, json!(38.87), json!(36.38)).replace("\"lon\":38.87", "\"lon\":NaN"),
            "lon",
        ),
        (
            det(t - 86_400.0 * 365.0, json!(38.87), json!(36.38)),
            "time",
        ),
        (det(t + 86_400.0, json!(38.87), json!(36.38)), "time"),
        (
            det(t, json!(38.87), json!(36.38)).replace("ai-ne-cam", "no-such-camera"),
            "sensor",
        ),
        (
            det(t, json!(38.87), json!(36.38)).replace("\"detection\"", "\"teleport\""),
            "type",
        ),
        (
            r#"{"type":"heartbeat","sensor":"ai-ne-cam"}"#.to_string(),
            "time",
        ),
        (
            format!(
                r#"{{"type":"detection","sensor":"ai-ne-cam","time":"{}","lon":38.87,"lat":36.38,"ce":-4}}"#,
                iso(t)
            ),
            "ce",
        ),
        (
            r#"{"type":"detection","sensor":"ai-ne-cam","time":"yesterday","lon":38.87,"lat":36.38}"#
                .to_string(),
            "time",
        ),
        (
            format!(
                r#"{{"type":"detection","sensor":"ai-ne-cam","time":"{}","x":10,"y":20,"ce":5}}"#,
                iso(t)
            ),
            "x",
        ),
        (
            det(t, json!(38.87), json!(36.38)).replace(r#","ce":10"#, ""),
            "ce",
        ),
        (
            r#"{"type":"detection","sensor":"ai-ne-cam","time":"#.to_string(),
            "time",
        ),
    ];
    let good = det(t, json!(38.8721), json!(36.3850));
    for (i, (line, field)) in cases.iter().enumerate() {
        let body = format!("{good}\n{line}\n{good}\n");
        let (st, v) = srv.post(&sensor, "/api/v1/ingest", body);
        assert_eq!(st, 422, "case {i}: {line} → {v}");
        assert_eq!(v["accepted"], 2, "case {i}: the good records are kept: {v}");
        let rej = v["rejected"].as_array().expect("rejected");
        assert_eq!(rej.len(), 1, "case {i}: {v}");
        assert_eq!(rej[0]["index"], 1, "case {i}: names the record: {v}");
        assert_eq!(rej[0]["field"], *field, "case {i}: names the field: {v}");
        assert!(!rej[0]["message"].as_str().unwrap_or("").is_empty());
    }
    assert_eq!(
        records(&srv, &admin),
        2 * cases.len() as u64,
        "every good record was stored"
    );

    // Whole-request faults.
    let (st, _) = srv.post(&sensor, "/api/v1/ingest", vec![b'{'; 17 * 1024 * 1024]);
    assert_eq!(st, 413, "oversized body");
    let (st, v) = srv.post(&sensor, "/api/v1/ingest", "[1, 2");
    assert_eq!(st, 422, "{v}");
    let (st, _) = srv.post("not-a-token", "/api/v1/ingest", good.clone());
    assert_eq!(st, 401);
    let (st, _) = srv.post(&viewer, "/api/v1/ingest", good.clone());
    assert_eq!(st, 403, "a viewer may not send records");
    let (st, v) = srv.post(&sensor, "/api/v1/ingest", format!("[{good},{good}]"));
    assert_eq!(
        (st, v["accepted"].clone()),
        (200, json!(2)),
        "a JSON array is a batch"
    );
    let (st, v) = srv.get(&viewer, "/api/v1/alerts?since=last-tuesday");
    assert_eq!(
        (st, v["details"]["field"].clone()),
        (400, json!("since")),
        "{v}"
    );
    let (st, v) = srv.post(&admin, "/api/v1/alerts/1/resolve", r#"{"reason":"aliens"}"#);
    assert!(st == 400 || st == 404, "{st} {v}");
    healthy(&srv);

    // CoT: a sensor authenticates in its first event (its own uid: a heartbeat).
    let rejected_before = metric(&srv, "limes_ingest_rejected_total");
    let stored_before = records(&srv, &admin);
    let ev = |uid: &str, lat: &str, lon: &str, t: f64, detail: &str| {
        format!(
            r#"<?xml version="1.0"?><event version="2.0" uid="{uid}" type="a-u-G" how="m-g" time="{}" start="{}" stale="{}"><point lat="{lat}" lon="{lon}" hae="0" ce="5" le="9999999"/><detail>{detail}</detail></event>"#,
            iso(t),
            iso(t),
            iso(t + 60.0)
        )
    };
    let hello = ev(
        "ai-ne-cam",
        "36.3851",
        "38.8770",
        t,
        &format!(r#"<limes token="{sensor}"/>"#),
    );
    let mut s = TcpStream::connect(srv.cot).expect("connect");
    // Sent in pieces, to exercise partial reads.
    let stream = [
        hello.clone(),
        ev("person-1", "36.3855", "38.8730", t, ""),
        ev("person-2", "abc", "38.8730", t, ""),
        ev("person-3", "NaN", "38.8730", t, ""),
        ev("person-4", "91", "38.8730", t, ""),
        ev("person-5", "36.3855", "38.8730", t + 86_400.0, ""),
        ev("person-6", "36.3855", "38.8730", t, "&unknown;"),
        ev(
            "person-7",
            "36.3856",
            "38.8731",
            t,
            r#"<limes class="person" heat_m2="0.7"/>"#,
        ),
    ]
    .concat();
    for chunk in stream.as_bytes().chunks(97) {
        s.write_all(chunk).expect("write");
    }
    // Then a truncated event, and close.
    s.write_all(b"<event version=\"2.0\" uid=\"x\" type=\"a-u-G\"><point lat=\"1\"")
        .expect("write");
    drop(s);
    let stored = wait_for(20.0, || {
        let n = records(&srv, &admin);
        (n >= stored_before + 3).then_some(n)
    })
    .expect("the good CoT events are stored");
    assert_eq!(
        stored,
        stored_before + 3,
        "heartbeat and two detections stored, nothing else"
    );
    let rejected = metric(&srv, "limes_ingest_rejected_total") - rejected_before;
    assert_eq!(rejected, 5.0, "five bad CoT events counted");

    // Abuse closes the connection: entity expansion, an event past the size bound.
    let laughs = r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]><event version="2.0" uid="ai-ne-cam" type="a-u-G" time="2026-01-01T00:00:00Z"><point lat="1" lon="1"/><detail>&lol2;</detail></event>"#;
    for payload in [laughs.as_bytes().to_vec(), vec![b'<'; 200 * 1024]] {
        let mut s = TcpStream::connect(srv.cot).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(20)))
            .expect("timeout");
        let _ = s.write_all(&payload);
        // The server says why, then closes (read reaches the end, or the write side is reset).
        let mut got = Vec::new();
        let _ = s.read_to_end(&mut got);
        let got = String::from_utf8_lossy(&got);
        assert!(
            got.is_empty() || got.contains("Connection refused"),
            "only a refusal, then the close: {got}"
        );
    }
    // A client with an unknown token, and one whose first event names no token.
    for first in [
        ev("tak-1", "1", "1", t, r#"<limes token="lms_nope"/>"#),
        ev("tak-2", "1", "1", t, ""),
    ] {
        let mut s = TcpStream::connect(srv.cot).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(20)))
            .expect("timeout");
        s.write_all(first.as_bytes()).expect("write");
        let mut got = Vec::new();
        let _ = s.read_to_end(&mut got);
        let got = String::from_utf8_lossy(&got);
        assert!(
            got.contains("Connection refused"),
            "a refused client is told why before the connection closes: {got:?}"
        );
    }
    healthy(&srv);
    let (st, v) = srv.post(&sensor, "/api/v1/ingest", good);
    assert_eq!(
        (st, v["accepted"].clone()),
        (200, json!(1)),
        "still taking input: {v}"
    );
}
