//! Every parser that takes input from the network survives arbitrary bytes (the fuzz targets
//! in `fuzz/` explore further; these run in every test run).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
use limes_server::cot::frame::frame_all;
use limes_server::cot::parse;
use limes_server::ingest::{body, testing_checker};

fn all(_: &str) -> bool {
    true
}
use proptest::prelude::*;

const EVENT: &str = r#"<event version="2.0" uid="u" type="a-u-G" how="m-g" time="2026-01-01T00:00:00Z" start="2026-01-01T00:00:00Z" stale="2026-01-01T00:01:00Z"><point lat="36.1" lon="41.2" hae="0" ce="5" le="9"/><detail><limes class="person" count="3"/></detail></event>"#;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn ndjson_never_panics(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        let b = body::parse(&data, &testing_checker(), &all);
        prop_assert_eq!(b.records.len() + b.errors.len() > 0, data.iter().any(|c| !c.is_ascii_whitespace()));
        // The log text holds exactly the accepted records, one per line.
        let logged: Vec<limes_core::record::SensorRecord> = b.body.split(|&c| c == b'\n').filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).expect("logged line parses")).collect();
        prop_assert_eq!(logged, b.records);
    }

    #[test]
    fn cot_parse_never_panics(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = parse(&data);
    }

    #[test]
    fn cot_parse_survives_any_cut_or_flip(cut in 0..EVENT.len(), pos in 0..EVENT.len(), byte in any::<u8>()) {
        let _ = parse(&EVENT.as_bytes()[..cut]);
        let mut v = EVENT.as_bytes().to_vec();
        v[pos] = byte;
        if let Ok(ev) = parse(&v) {
            prop_assert!(ev.lat.is_finite() && ev.lon.is_finite());
        }
    }

    #[test]
    fn framer_never_panics(data in proptest::collection::vec(any::<u8>(), 0..2000), cut in 1usize..64) {
        let (events, _) = frame_all(&data, cut, 512);
        for ev in events {
            prop_assert!(ev.ends_with(b"</event>"));
            prop_assert!(ev.len() <= 512);
        }
    }

    #[test]
    fn api_bodies_never_panic(data in proptest::collection::vec(any::<u8>(), 0..300)) {
        limes_server::api::fuzz_bodies(&data);
    }
}

#[test]
fn a_well_formed_event_parses() {
    let ev = parse(EVENT.as_bytes()).expect("parses");
    assert_eq!(
        (ev.uid.as_str(), ev.kind.as_str(), ev.count),
        ("u", "a-u-G", Some(3))
    );
    assert_eq!(ev.class.as_deref(), Some("person"));
    assert!((ev.lat - 36.1).abs() < 1e-12 && (ev.lon - 41.2).abs() < 1e-12);
}

#[test]
fn entity_declarations_are_refused() {
    let bomb = r#"<?xml version="1.0"?><!DOCTYPE e [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]><event uid="u" type="a-u-G" time="2026-01-01T00:00:00Z"><point lat="1" lon="1"/><detail>&b;</detail></event>"#;
    let e = parse(bomb.as_bytes()).expect_err("refused");
    assert!(e.to_string().contains("DOCTYPE"), "{e}");
}

#[test]
fn the_log_holds_each_accepted_record_on_one_line() {
    let t = chrono::Utc::now().to_rfc3339();
    let rec = format!(
        r#"{{"type":"detection","sensor":"cam","time":"{t}","lon":38.87,"lat":36.38,"ce":5}}"#
    );
    let pretty =
        format!("{{\n  \"type\": \"heartbeat\",\n  \"sensor\": \"cam\",\n  \"time\": \"{t}\"\n}}");
    for body in [
        format!("{rec}\r\n{rec}\n"),
        format!("[{rec},\n{pretty}]"),
        pretty.clone(),
    ] {
        let b = body::parse(body.as_bytes(), &testing_checker(), &all);
        assert!(b.errors.is_empty(), "{:?}", b.errors);
        let lines: Vec<&[u8]> = b
            .body
            .split(|&c| c == b'\n')
            .filter(|l| !l.is_empty())
            .collect();
        assert_eq!(lines.len(), b.records.len(), "{body}");
        for (l, r) in lines.iter().zip(&b.records) {
            assert_eq!(
                &serde_json::from_slice::<limes_core::record::SensorRecord>(l).expect("parses"),
                r
            );
        }
    }
}
