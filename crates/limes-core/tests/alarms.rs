//! Alarm quality: every adversarial scenario raises its alert; wind alone under full camera
//! coverage raises none but is logged; a fence alarm the cameras cannot vouch for still alerts;
//! an approach by a herd is assessed away while a lone walker's reaches the operator.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
use std::collections::BTreeMap;
use std::path::Path;

use limes_core::geo::{LonLat, Polyline, Xy};
use limes_core::record::{
    AlertKind, AlertRecord, AssessReason, EventSource, FenceAlarm, FenceAlarmKind, Heartbeat,
    IncidentKind, Time, TrackStatus,
};
use limes_core::rules::geometry::GeoCache;
use limes_core::rules::Rules;
use limes_core::run::{run_site, RunFiles, SiteRun};
use limes_core::sim::{AdversarialConfig, ScenarioConfig};
use limes_core::site::{self, SensorKind, Site};
use limes_core::track::{Partition, TrackUpdate};

fn frontier() -> Site {
    site::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sites/frontier.toml"))
        .expect("site")
}

fn quiet(mut s: ScenarioConfig) -> ScenarioConfig {
    s.infiltrator_groups = 0;
    s.flocks = 0;
    s.strays = 0;
    s.vehicles = 0;
    s.legal_crossings = 0;
    s.sensor_outages = 0;
    s
}

fn run(site: &Site, cfg: &ScenarioConfig, seed: u64) -> SiteRun {
    let dir = tempfile::tempdir().expect("temp dir");
    let files = RunFiles {
        detections: false,
        truth: false,
        track_every_s: 10.0,
    };
    run_site(site, Some(cfg), seed, dir.path(), files, &mut |_| {}).expect("run succeeds")
}

#[test]
fn every_adversarial_scenario_raises_its_alert() {
    let site = frontier();
    let mut cfg = quiet(site.scenario.clone());
    cfg.duration_h = 4.0;
    cfg.adversarial = AdversarialConfig::each(1);
    let r = run(&site, &cfg, 7);
    let mut by: BTreeMap<String, (u32, u32)> = BTreeMap::new();
    for i in &r.figures.incidents {
        if let Some(s) = &i.scenario {
            if matches!(i.kind, IncidentKind::Infiltration | IncidentKind::Probing) {
                let e = by.entry(s.clone()).or_default();
                e.0 += 1;
                e.1 += u32::from(i.detected);
            }
        }
    }
    for name in AdversarialConfig::NAMES {
        let (staged, detected) = by.get(name).copied().unwrap_or_default();
        assert!(staged >= 1, "{name} was not staged: {by:?}");
        assert_eq!(
            detected, staged,
            "{name}: {detected} of {staged} alerted; {:#?}",
            r.figures.incidents
        );
    }
    assert_eq!(by["saturation"].0, 5, "a wave of five groups");
    // The decoy herd pressed against the fence is not an alert.
    let nuisance = r
        .figures
        .alerts
        .iter()
        .filter(|a| a.outcome != limes_core::eval::Outcome::True)
        .count();
    assert_eq!(nuisance, 0, "{:#?}", r.final_alerts);
}

#[test]
fn a_wind_only_night_under_full_camera_coverage_raises_no_alert_but_logs_the_events() {
    let mut site = frontier();
    for s in &mut site.sensors {
        if let SensorKind::Fence(f) = &mut s.kind {
            // About 150 alarms an hour over the 600 km, one in twenty a "climb".
            f.nuisance_per_zone_h = 0.05;
        }
    }
    let mut cfg = quiet(site.scenario.clone());
    cfg.duration_h = 1.0;
    let r = run(&site, &cfg, 3);
    assert!(r.final_alerts.is_empty(), "{:#?}", r.final_alerts);
    let ev = &r.figures.events_by_reason;
    assert!(
        ev.get("nothing_seen").copied().unwrap_or(0) >= 3,
        "climbs assessed by the cameras: {ev:?}"
    );
    assert!(ev.get("vibration").copied().unwrap_or(0) >= 50, "{ev:?}");
}

/// A fence zone in the middle of controller `n`: (controller, zone, ends).
fn zone(site: &Site, n: usize) -> (String, String, LonLat, LonLat) {
    let (id, f) = site
        .sensors
        .iter()
        .filter_map(|s| match &s.kind {
            SensorKind::Fence(f) => Some((s.id.clone(), f)),
            _ => None,
        })
        .nth(n)
        .expect("fence controllers");
    let z = &f.zones[12];
    (id, z.id.clone(), z.a, z.b)
}

fn climb(c: &str, z: &str, a: LonLat, b: LonLat, t: f64) -> FenceAlarm {
    FenceAlarm {
        sensor: c.into(),
        zone: z.into(),
        time: Time(t),
        alarm: FenceAlarmKind::Climb,
        line: [[a.lon, a.lat], [b.lon, b.lat]],
    }
}

/// Heartbeats every 10 s from `t0` to `t1` for every sensor `alive` accepts.
fn beats(j: &mut Rules, site: &Site, t0: f64, t1: f64, alive: &dyn Fn(&str, LonLat) -> bool) {
    let mut out = Vec::new();
    let mut t = t0;
    while t <= t1 {
        for s in &site.sensors {
            if alive(&s.id, s.pos) {
                j.on_heartbeat(
                    &Heartbeat {
                        sensor: s.id.clone(),
                        time: Time(t),
                    },
                    &mut out,
                );
            }
        }
        t += 10.0;
    }
    assert!(out.is_empty() || out.iter().all(|a| a.kind == AlertKind::SensorOffline));
}

#[test]
fn a_fence_climb_the_cameras_cover_is_an_event_and_one_in_a_camera_gap_still_alerts() {
    let site = frontier();
    let mut j = Rules::new(&site);
    let mut out: Vec<AlertRecord> = Vec::new();
    let (c1, z1, a1, b1) = zone(&site, 30);
    let (c2, z2, a2, b2) = zone(&site, 90);
    let gap = LonLat::new((a2.lon + b2.lon) / 2.0, (a2.lat + b2.lat) / 2.0);
    // Every camera within 12 km of the second zone is silent (shelled, cable cut).
    let alive = |id: &str, p: LonLat| !(id.ends_with("-cam") && p.distance_m(&gap) < 12_000.0);
    let t = 1_570_000_000.0;
    beats(&mut j, &site, t, t + 60.0, &alive);
    j.on_fence(&climb(&c1, &z1, a1, b1, t + 60.0), &mut out);
    j.on_fence(&climb(&c2, &z2, a2, b2, t + 60.0), &mut out);
    beats(&mut j, &site, t + 70.0, t + 200.0, &alive);
    let fence: Vec<&AlertRecord> = out
        .iter()
        .filter(|a| a.kind == AlertKind::FenceCut)
        .collect();
    assert_eq!(
        fence.len(),
        1,
        "only the climb in the gap alerts: {fence:#?}"
    );
    let why = fence[0].assessment.as_ref().expect("says why");
    assert_eq!(why.reason, AssessReason::CameraGap);
    assert!(fence[0].sensors.contains(&c2));
    assert!(
        fence[0]
            .summary
            .contains("no working camera covers it well"),
        "{}",
        fence[0].summary
    );
    assert!(why.cameras.iter().all(|c| c.working_s == 0.0), "{why:?}");
    let events = j.take_events();
    let climbs: Vec<_> = events
        .iter()
        .filter(|e| e.source == EventSource::FenceClimb)
        .collect();
    assert_eq!(climbs.len(), 1, "{events:#?}");
    assert_eq!(
        climbs[0].zone.as_deref(),
        Some(format!("{c1}/{z1}").as_str())
    );
    let a = &climbs[0].assessment;
    assert_eq!(a.reason, AssessReason::NothingSeen);
    assert!(a.expected_detections >= 6.0, "{a:?}");
    assert!(a.cameras.iter().any(|c| c.working_s >= 59.0), "{a:?}");
    assert_eq!(
        j.stats().events_by_zone.get(&format!("{c1}/{z1}")),
        Some(&1),
        "the zone's nuisance statistics"
    );
}

/// A point `out_m` outside the frontier at `chainage` of the line in `part`'s frame.
fn outside_point(site: &Site, line: &Polyline, chainage: f64, out_m: f64) -> Xy {
    let outside = site.frontier.as_ref().expect("frontier").outside;
    line.offset_point(chainage, out_m, outside)
}

fn update(id: u64, part: Partition, xy: Xy, vel: Xy, t: f64, class: [f64; 3]) -> TrackUpdate {
    TrackUpdate {
        id,
        time: t,
        updated: t,
        status: TrackStatus::Confirmed,
        part,
        xy,
        vel,
        cov: [25.0, 0.0, 25.0],
        class,
        hits: 40,
        first_seen: t - 900.0,
        sensor: None,
        was_confirmed: true,
    }
}

/// Walks a person-like track (id 1) from 1.4 km out towards the line at 0.8 m/s for 6 min,
/// with `herd` animal-like tracks around it; returns the alerts and events.
fn approach(herd: usize) -> (Vec<AlertRecord>, Vec<limes_core::record::EventRecord>) {
    let site = frontier();
    let mut j = Rules::new(&site);
    let mut out = Vec::new();
    let (part, line, c) = straight_stretch(&site);
    let t0 = 1_570_000_000.0;
    for k in 0..=72 {
        let t = t0 + 5.0 * k as f64;
        let d = 1400.0 - 0.8 * 5.0 * k as f64;
        let xy = outside_point(&site, &line, c, d);
        let ahead = outside_point(&site, &line, c, d - 1.0);
        let vel = [(ahead[0] - xy[0]) * 0.8, (ahead[1] - xy[1]) * 0.8];
        j.on_track(
            &update(1, part, xy, vel, t, [0.8, 0.1, 0.1]),
            None,
            &mut out,
        );
        for h in 0..herd {
            let dx = 30.0 * (h as f64 - herd as f64 / 2.0);
            let q = outside_point(&site, &line, c + dx, d + 20.0);
            let id = 100 + h as u64;
            j.on_track(
                &update(id, part, q, vel, t, [0.1, 0.05, 0.85]),
                None,
                &mut out,
            );
        }
    }
    j.advance(t0 + 400.0, &mut out);
    (out, j.take_events())
}

/// A straight stretch of the frontier far from the crossings: its tile, the line in the tile's
/// frame, and the chainage of its middle.
fn straight_stretch(site: &Site) -> (Partition, Polyline, f64) {
    // The middle of the longest segment in the middle third of the line (far from the
    // crossings, and straight, so that the herd keeps its shape), in its tile's frame.
    let f = site.frontier.as_ref().expect("frontier");
    let n = f.line.len();
    let k = (n / 3..2 * n / 3)
        .max_by(|&a, &b| {
            let len = |i: usize| f.line[i].distance_m(&f.line[i + 1]);
            len(a).total_cmp(&len(b))
        })
        .expect("segments");
    let p = LonLat::new(
        (f.line[k].lon + f.line[k + 1].lon) / 2.0,
        (f.line[k].lat + f.line[k + 1].lat) / 2.0,
    );
    let (part, _) = Partition::locate(p);
    let mut geo = GeoCache::new();
    let line = geo.get(part, site).frontier.clone().expect("line");
    let frame = geo.get(part, site).frame.expect("frame");
    let c = line.nearest(frame.to_local(p)).expect("near").chainage;
    (part, line, c)
}

#[test]
fn an_approach_reaches_the_operator_after_the_hold_but_a_herds_becomes_an_event() {
    let (alerts, events) = approach(0);
    let first = alerts
        .iter()
        .find(|a| a.kind == AlertKind::Approach)
        .expect("a lone walker's approach alerts");
    assert_eq!(
        first.assessment.as_ref().map(|a| a.reason),
        Some(AssessReason::Closing)
    );
    assert!(events.iter().all(|e| e.source != EventSource::Approach));
    let (alerts, events) = approach(8);
    assert!(
        alerts.iter().all(|a| a.kind != AlertKind::Approach),
        "a herd and its herder drifting to the line: {alerts:#?}"
    );
    let ev = events
        .iter()
        .find(|e| e.source == EventSource::Approach)
        .expect("logged as an event");
    assert_eq!(ev.assessment.reason, AssessReason::Herd);
    assert!(ev.assessment.tracks.contains(&1));
}

#[test]
fn a_walker_the_operators_were_warned_about_who_crawls_across_looking_like_an_animal_alerts() {
    let site = frontier();
    let (part, line, c) = straight_stretch(&site);
    let run = |class_at_line: [f64; 3]| {
        let mut j = Rules::new(&site);
        let mut out = Vec::new();
        let t0 = 1_570_000_000.0;
        // Walks in from 1.2 km at 1 m/s as a person, then from 300 m out crawls at 0.3 m/s
        // and the class fusion calls it an animal.
        let (mut d, mut t) = (1200.0, t0);
        while d > -150.0 {
            let v = if d > 300.0 { 1.0 } else { 0.3 };
            let class = if d > 300.0 {
                [0.8, 0.1, 0.1]
            } else {
                class_at_line
            };
            let xy = outside_point(&site, &line, c, d);
            let ahead = outside_point(&site, &line, c, d - 1.0);
            let vel = [(ahead[0] - xy[0]) * v, (ahead[1] - xy[1]) * v];
            j.on_track(&update(1, part, xy, vel, t, class), None, &mut out);
            t += 5.0;
            d -= v * 5.0;
        }
        out
    };
    let alerts = run([0.05, 0.05, 0.9]);
    assert!(
        alerts.iter().any(|a| a.kind == AlertKind::Approach),
        "warned while it walked"
    );
    assert!(
        alerts.iter().any(|a| a.kind == AlertKind::Infiltration),
        "the crossing alerts although the track now looks like an animal"
    );
}

#[test]
fn a_herd_track_that_wanders_across_and_back_raises_no_infiltration_when_its_class_flickers() {
    let site = frontier();
    let (part, line, c) = straight_stretch(&site);
    let mut j = Rules::new(&site);
    let mut out = Vec::new();
    let t0 = 1_570_000_000.0;
    // An animal-like track 60 m outside jumps 60 m inside (an association error in a herd
    // pressed against the line), comes back out, then locks on the herder: person-like, outside.
    let path: [(f64, [f64; 3]); 4] = [
        (60.0, [0.05, 0.0, 0.95]),
        (-60.0, [0.05, 0.0, 0.95]),
        (30.0, [0.05, 0.0, 0.95]),
        (25.0, [0.8, 0.0, 0.2]),
    ];
    let mut t = t0;
    for (d, class) in path {
        for _ in 0..12 {
            let xy = outside_point(&site, &line, c, d);
            j.on_track(&update(1, part, xy, [0.0, 0.0], t, class), None, &mut out);
            t += 5.0;
        }
    }
    assert!(
        out.iter().all(|a| a.kind != AlertKind::Infiltration),
        "{out:#?}"
    );
}

/// Track 1 at `d(t)` metres outside the line at `t` seconds from `t0` (on the straight stretch
/// `(part, line, chainage)`), moving as `d` says, with class probabilities `class`.
fn walker(
    site: &Site,
    (part, line, c): (Partition, &Polyline, f64),
    d: &dyn Fn(f64) -> f64,
    t0: f64,
    t: f64,
    class: [f64; 3],
) -> TrackUpdate {
    let xy = outside_point(site, line, c, d(t));
    let next = outside_point(site, line, c, d(t + 1.0));
    let vel = [next[0] - xy[0], next[1] - xy[1]];
    update(1, part, xy, vel, t0 + t, class)
}

/// A person-like track (id 1, the herder's as feature-aided association keeps it) among eight
/// animal-like tracks: the herder's at `d(t)` metres outside the line, the animals at
/// `herd(t)` (every 5 s for `secs`); returns the alerts.
fn herder_among_animals(
    secs: f64,
    d: &dyn Fn(f64) -> f64,
    herd: &dyn Fn(f64) -> f64,
) -> Vec<AlertRecord> {
    let site = frontier();
    let (part, line, c) = straight_stretch(&site);
    let mut j = Rules::new(&site);
    let mut out = Vec::new();
    let t0 = 1_570_000_000.0;
    for k in 0..=(secs / 5.0) as usize {
        let t = 5.0 * k as f64;
        let herd_d = herd(t);
        for h in 0..8u64 {
            let dx = 25.0 * (h as f64 - 4.0);
            let q = outside_point(&site, &line, c + dx, herd_d);
            j.on_track(
                &update(100 + h, part, q, [0.0, 0.0], t0 + t, [0.05, 0.0, 0.95]),
                None,
                &mut out,
            );
        }
        j.on_track(
            &walker(&site, (part, &line, c), d, t0, t, [0.9, 0.0, 0.1]),
            None,
            &mut out,
        );
    }
    j.advance(t0 + secs + 5.0, &mut out);
    out
}

#[test]
fn a_herders_track_that_leaps_across_with_a_herd_pressed_against_the_line_is_no_infiltration() {
    // The herd grazes 50–70 m out; the herder's track takes an animal's detections for a
    // minute and a half and sits 60 m inside, then comes back.
    let leap = |t: f64| {
        if (300.0..390.0).contains(&t) {
            -60.0
        } else {
            50.0
        }
    };
    let out = herder_among_animals(900.0, &leap, &|_| 60.0);
    assert!(
        out.iter().all(|a| a.kind != AlertKind::Infiltration),
        "{out:#?}"
    );
    // The same herd driven across at a drover's pace, its herder with it, is one.
    let driven = |t: f64| 300.0 - 0.4 * t;
    let out = herder_among_animals(1500.0, &driven, &|t| driven(t) + 20.0);
    assert!(
        out.iter().any(|a| a.kind == AlertKind::Infiltration),
        "{out:#?}"
    );
}

/// A person-like track (id 1) at `d(t)` metres outside the line (t seconds from the start, every
/// 5 s for `secs`), with the approach hold set to `hold_s`; returns the alerts and events.
fn walk(
    hold_s: f64,
    secs: f64,
    d: &dyn Fn(f64) -> f64,
) -> (Vec<AlertRecord>, Vec<limes_core::record::EventRecord>) {
    let mut site = frontier();
    site.rules.approach_hold_s = hold_s;
    let mut j = Rules::new(&site);
    let mut out = Vec::new();
    let (part, line, c) = straight_stretch(&site);
    let t0 = 1_570_000_000.0;
    let steps = (secs / 5.0) as usize;
    for k in 0..=steps {
        let t = 5.0 * k as f64;
        j.on_track(
            &walker(&site, (part, &line, c), d, t0, t, [0.8, 0.1, 0.1]),
            None,
            &mut out,
        );
    }
    j.advance(t0 + secs + 5.0, &mut out);
    (out, j.take_events())
}

/// Walks in at 1.2 m/s from `from_m` out to `to_m` out, waits a minute, walks back at 1 m/s.
fn there_and_back(from_m: f64, to_m: f64) -> impl Fn(f64) -> f64 {
    let t_in = (from_m - to_m) / 1.2;
    move |t| {
        if t < t_in {
            from_m - 1.2 * t
        } else if t < t_in + 60.0 {
            to_m
        } else {
            to_m + (t - t_in - 60.0)
        }
    }
}

#[test]
fn people_who_came_to_the_fence_and_went_back_reach_the_operator_but_who_turned_back_early_do_not()
{
    // A hold long enough that both have turned back when it is decided.
    let (alerts, events) = walk(300.0, 500.0, &there_and_back(500.0, 250.0));
    assert!(
        alerts.iter().all(|a| a.kind != AlertKind::Approach),
        "turned back 250 m out: {alerts:#?}"
    );
    let ev = events
        .iter()
        .find(|e| e.source == EventSource::Approach)
        .expect("the approach is logged as an event");
    assert_eq!(ev.assessment.reason, AssessReason::TurnedBack);

    let (alerts, events) = walk(300.0, 500.0, &there_and_back(300.0, 50.0));
    let a = alerts
        .iter()
        .find(|a| a.kind == AlertKind::Approach)
        .expect("at the fence and away again is a probe: it reaches the operator");
    assert_eq!(
        a.assessment.as_ref().map(|x| x.reason),
        Some(AssessReason::Closing)
    );
    assert!(
        events.iter().all(|e| e.source != EventSource::Approach),
        "{events:#?}"
    );
}

/// A herder who drives the flock across and a group walking across inside a flock, with the
/// site's own tracker (no feature-aided association): the herd's tracks moving in steadily at a
/// drover's pace (`herd_drive_speed`), or deep inside and still moving in (`herd_cross_m`),
/// raise the infiltration even where the people are lost among the animals. With both rules
/// off the herder's crossing is missed on this seed; with only the deep one it is alerted later.
#[test]
fn crossings_under_a_flocks_cover_alert_with_the_sites_own_tracker() {
    let staged = |herd_cross_m: f64, herd_drive_speed: f64| {
        let mut site = frontier();
        site.rules.herd_cross_m = herd_cross_m;
        site.rules.herd_drive_speed = herd_drive_speed;
        let mut cfg = quiet(site.scenario.clone());
        cfg.herder_crossings = 2;
        cfg.flock_infiltrations = 1;
        cfg.duration_h = 2.5;
        let r = run(&site, &cfg, 1);
        let mut by: BTreeMap<String, (u32, u32)> = BTreeMap::new();
        let mut tta = 0.0;
        for i in &r.figures.incidents {
            if i.kind == IncidentKind::Infiltration {
                let e = by
                    .entry(i.scenario.clone().unwrap_or_default())
                    .or_default();
                e.0 += 1;
                e.1 += u32::from(i.detected);
                tta += i.time_to_alert_s.unwrap_or(3600.0);
            }
        }
        (by, r.final_alerts, tta)
    };
    let rules = frontier().rules;
    let (by, alerts, tta) = staged(rules.herd_cross_m, rules.herd_drive_speed);
    assert_eq!(by.get("herder_drive").map(|x| x.0), Some(2), "{by:?}");
    assert_eq!(by.get("inside_flock").map(|x| x.0), Some(1), "{by:?}");
    for (name, (n, detected)) in &by {
        assert_eq!(detected, n, "{name}: {by:?} {alerts:#?}");
    }
    let (deep, _, tta_deep) = staged(rules.herd_cross_m, f64::INFINITY);
    assert!(
        deep.values().all(|x| x.0 == x.1) && tta_deep > tta,
        "the drover's pace alerts sooner than depth alone: {tta} s against {tta_deep} s in all"
    );
    let (off, _, _) = staged(f64::INFINITY, f64::INFINITY);
    assert!(
        off.values().map(|x| x.1).sum::<u32>() < off.values().map(|x| x.0).sum::<u32>(),
        "without the herd rules something is missed on this seed: {off:?}"
    );
}
