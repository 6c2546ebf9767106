//! The rules on hand-made evidence: fence alarms with and without a corroborating track.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
use limes_core::geo::{LocalFrame, LonLat};
use limes_core::record::{
    AlertKind, AlertRecord, FenceAlarm, FenceAlarmKind, Severity, Time, TrackStatus,
};
use limes_core::rules::Rules;
use limes_core::site::{self, SensorKind};
use limes_core::track::{Partition, TrackUpdate};
use std::path::Path;

fn frontier() -> site::Site {
    site::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sites/frontier.toml"))
        .expect("site")
}

/// A fence zone of the site, far from any crossing: (controller, zone, its two ends).
fn zone(site: &site::Site, n: usize) -> (String, String, LonLat, LonLat) {
    let (id, f) = site
        .sensors
        .iter()
        .filter_map(|s| match &s.kind {
            SensorKind::Fence(f) => Some((s.id.clone(), f)),
            _ => None,
        })
        .nth(n)
        .expect("fence controllers");
    let z = &f.zones[3];
    (id, z.id.clone(), z.a, z.b)
}

fn alarm(c: &str, z: &str, a: LonLat, b: LonLat, t: f64, kind: FenceAlarmKind) -> FenceAlarm {
    FenceAlarm {
        sensor: c.into(),
        zone: z.into(),
        time: Time(t),
        alarm: kind,
        line: [[a.lon, a.lat], [b.lon, b.lat]],
    }
}

fn person_at(id: u64, p: LonLat, t: f64) -> TrackUpdate {
    let tile = p.tile();
    TrackUpdate {
        id,
        time: t,
        updated: t,
        status: TrackStatus::Confirmed,
        part: Partition::Tile(tile),
        xy: LocalFrame::new(tile.centre()).to_local(p),
        vel: [0.5, 0.5],
        cov: [25.0, 0.0, 25.0],
        class: [0.9, 0.05, 0.05],
        hits: 12,
        first_seen: t - 600.0,
        sensor: None,
        was_confirmed: true,
    }
}

fn last(alerts: &[AlertRecord], kind: AlertKind) -> Vec<&AlertRecord> {
    let mut by_id = std::collections::BTreeMap::new();
    for a in alerts.iter().filter(|a| a.kind == kind) {
        by_id.insert(a.id, a);
    }
    by_id.into_values().collect()
}

#[test]
fn a_cut_alone_is_medium_and_a_track_nearby_makes_it_high() {
    let site = frontier();
    let mut j = Rules::new(&site);
    let mut out = Vec::new();
    let (c, z, a, b) = zone(&site, 40);
    let t = 1_570_000_000.0;
    j.on_fence(&alarm(&c, &z, a, b, t, FenceAlarmKind::Cut), &mut out);
    let cut = last(&out, AlertKind::FenceCut);
    assert_eq!(cut.len(), 1);
    assert_eq!(cut[0].severity, Severity::Medium);
    // A person-like track turns up 100 m away a minute later: same alert, now high.
    let mid = LonLat::new((a.lon + b.lon) / 2.0, (a.lat + b.lat) / 2.0 + 0.0009);
    j.on_track(&person_at(7, mid, t + 60.0), Some("t001-cam"), &mut out);
    let cut = last(&out, AlertKind::FenceCut);
    assert_eq!(cut.len(), 1, "one incident, one alert");
    assert_eq!(cut[0].severity, Severity::High);
    assert!(cut[0].tracks.contains(&7));
}

#[test]
fn a_climb_alone_is_low_and_vibration_never_alerts() {
    let site = frontier();
    let mut j = Rules::new(&site);
    let mut out = Vec::new();
    let (c, z, a, b) = zone(&site, 60);
    let t = 1_570_000_000.0;
    for k in 0..20 {
        j.on_fence(
            &alarm(&c, &z, a, b, t + k as f64, FenceAlarmKind::Vibration),
            &mut out,
        );
    }
    assert!(out.is_empty(), "wind alone: {out:?}");
    assert_eq!(j.stats().vibration_alarms.get(&c), Some(&20));
    j.on_fence(
        &alarm(&c, &z, a, b, t + 30.0, FenceAlarmKind::Climb),
        &mut out,
    );
    let climb = last(&out, AlertKind::FenceCut);
    assert_eq!(climb.len(), 1);
    assert_eq!(climb[0].severity, Severity::Low);
}

#[test]
fn an_observer_count_raises_the_count_of_an_open_frontier_incident_but_never_opens_one() {
    let site = frontier();
    let mut j = Rules::new(&site);
    let mut out = Vec::new();
    let (c, z, a, b) = zone(&site, 20);
    let t = 1_570_000_000.0;
    let report = |lon: f64, lat: f64, n: u32, t: f64| limes_core::record::Detection {
        sensor: "t010-obs".into(),
        time: Time(t),
        pos: limes_core::record::Position::LonLat { lon, lat },
        cov: None,
        ce: Some(250.0),
        class: None,
        heat_m2: None,
        count: Some(n),
    };
    // Alone, a report is no alert.
    j.on_observer(&report(a.lon, a.lat, 6, t), &mut out);
    assert!(out.is_empty());
    j.on_fence(
        &alarm(&c, &z, a, b, t + 10.0, FenceAlarmKind::Cut),
        &mut out,
    );
    j.on_observer(&report(a.lon + 0.002, a.lat, 6, t + 20.0), &mut out);
    let cut = last(&out, AlertKind::FenceCut);
    assert_eq!(cut.len(), 1);
    assert_eq!(cut[0].count, 6, "{:?}", cut[0]);
    assert!(cut[0].sensors.contains(&"t010-obs".to_string()));
}

#[test]
fn a_record_far_ahead_of_the_stream_is_refused_and_the_stream_goes_on() {
    use limes_core::engine::{Engine, Output};
    use limes_core::record::{Heartbeat, SensorRecord};
    struct Null;
    impl Output for Null {
        fn track(&mut self, _: &TrackUpdate, _: &limes_core::track::Tracker) {}
        fn alert(&mut self, _: &AlertRecord) {}
    }
    let site = frontier();
    let mut e = Engine::new(site.tracker.clone(), Some(&site));
    let beat = |t: f64| {
        SensorRecord::Heartbeat(Heartbeat {
            sensor: "t001-cam".into(),
            time: Time(t),
        })
    };
    e.feed(&beat(1000.0), &mut Null).expect("first record");
    let err = e
        .feed(&beat(1000.0 + 7200.0), &mut Null)
        .expect_err("two hours ahead");
    assert_eq!(err.field, "time");
    e.feed(&beat(1030.0), &mut Null)
        .expect("the stream goes on");
    assert_eq!(e.invalid, 1);
}

/// The Ain Issa site, with people leaving its first camp: each seen at the camp's centre at
/// `t` and two kilometres north (well outside its perimeter) 30 s later.
fn ain_issa() -> site::Site {
    site::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sites/ain-issa.toml"))
        .expect("site")
}

fn leave(j: &mut Rules, camp: &site::Facility, id: u64, t: f64, out: &mut Vec<AlertRecord>) {
    let inside = camp.centre();
    let outside = LonLat::new(inside.lon, inside.lat + 0.02);
    j.on_track(&person_at(id, inside, t), None, out);
    j.on_track(&person_at(id, outside, t + 30.0), None, out);
}

/// People leaving the Ain Issa camp: six within a minute (a mass breakout), then, seven hours
/// later, after that alert closed, one more. The second incident is counted on its own: a
/// perimeter breach of one, not a seventh escapee of a mass breakout; the camp's total is 7.
#[test]
fn an_exit_after_a_closed_breakout_is_a_new_incident_counted_from_one() {
    let site = ain_issa();
    let camp = &site.facilities[0];
    let mut j = Rules::new(&site);
    let mut out = Vec::new();
    let t0 = 1_570_000_000.0;
    for k in 0..6 {
        leave(&mut j, camp, k, t0 + 10.0 * k as f64, &mut out);
    }
    let mass = last(&out, AlertKind::MassBreakout);
    assert_eq!(mass.len(), 1, "{out:?}");
    assert_eq!(mass[0].count, 6);
    // Nobody leaves for seven hours: the alert closes, and a night passes.
    j.advance(t0 + 25_200.0, &mut out);
    assert_eq!(
        last(&out, AlertKind::MassBreakout)[0].state,
        limes_core::record::AlertState::Closed
    );
    out.clear();
    leave(&mut j, camp, 100, t0 + 25_300.0, &mut out);
    assert!(last(&out, AlertKind::MassBreakout).is_empty(), "{out:?}");
    let breach = last(&out, AlertKind::PerimeterBreach);
    assert_eq!(breach.len(), 1, "{out:?}");
    assert_eq!(breach[0].count, 1);
    assert!(
        breach[0]
            .summary
            .contains("about 1 have left (7 of 949 in all)"),
        "{}",
        breach[0].summary
    );
    // The facility keeps the total (the server's head count estimate subtracts from it).
    let camp_state = j
        .facilities()
        .iter()
        .find(|f| f.id == camp.id)
        .expect("the camp");
    assert_eq!(camp_state.exits, 7);
}

/// Escapes one at a time, each 1,900 s after the last (after the previous alert closed):
/// still one incident, escalated to a mass breakout at the fifth.
#[test]
fn a_trickle_of_escapes_half_an_hour_apart_still_escalates() {
    let site = ain_issa();
    let mut j = Rules::new(&site);
    let mut out = Vec::new();
    let t0 = 1_570_000_000.0;
    for k in 0..5u64 {
        let t = t0 + 1900.0 * k as f64;
        j.advance(t, &mut out);
        leave(&mut j, &site.facilities[0], k, t, &mut out);
    }
    let mass = last(&out, AlertKind::MassBreakout);
    assert_eq!(mass.len(), 1, "{out:?}");
    assert_eq!(mass[0].count, 5);
}
