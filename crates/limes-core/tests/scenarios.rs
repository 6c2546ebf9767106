//! Scenario tests: the shipped sites, small staged scenarios, end to end through the pipeline.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
use std::path::Path;

use limes_core::record::{AlertKind, AlertRecord, IncidentKind, TruthRecord};
use limes_core::run::{run_site, RunFiles, SiteRun};
use limes_core::sim::{simulate, ScenarioConfig, VecSink};
use limes_core::site::{self, Site};

fn load(name: &str) -> Site {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../sites")
        .join(format!("{name}.toml"));
    site::load(&path).expect("shipped site loads")
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

fn of_kind(run: &SiteRun, kind: AlertKind) -> Vec<&AlertRecord> {
    run.final_alerts.iter().filter(|a| a.kind == kind).collect()
}

#[test]
fn an_infiltration_raises_exactly_one_infiltration_alert_in_time() {
    let site = load("frontier");
    let mut cfg = quiet(site.scenario.clone());
    cfg.infiltrator_groups = 1;
    cfg.duration_h = 4.0;
    for seed in [11, 12] {
        let mut sink = VecSink::default();
        simulate(&site, Some(&cfg), seed, &mut sink).expect("simulates");
        let crossing = sink
            .truth
            .iter()
            .find_map(|r| match r {
                TruthRecord::Incident(i) if i.kind == IncidentKind::Infiltration => Some(i.time.0),
                _ => None,
            })
            .expect("the group crosses within four hours");
        let r = run(&site, &cfg, seed);
        let alerts = of_kind(&r, AlertKind::Infiltration);
        assert_eq!(
            alerts.len(),
            1,
            "seed {seed}: one incident, one alert: {:#?}",
            r.final_alerts
        );
        let inc = r
            .figures
            .incidents
            .iter()
            .find(|i| i.kind == IncidentKind::Infiltration)
            .expect("scored");
        let tta = inc.time_to_alert_s.expect("alerted");
        assert!(
            tta < 300.0,
            "seed {seed}: alert {tta:.0} s after the crossing at {crossing}"
        );
        // The same alert warned of the approach before the group reached the line.
        let warned = inc.first_warning_s.expect("alerted");
        assert!(
            warned < 0.0,
            "seed {seed}: first warning {warned:.0} s after the crossing"
        );
        assert_eq!(
            inc.alerts.len(),
            1,
            "the approach escalated into the infiltration alert"
        );
        assert!(alerts[0]
            .ddr
            .as_ref()
            .is_some_and(|d| d.unit.is_some() && d.time_to_line_s.is_some()));
    }
}

#[test]
fn herders_and_animals_alone_raise_no_infiltration_alert() {
    let site = load("frontier");
    let mut cfg = quiet(site.scenario.clone());
    cfg.flocks = 8;
    cfg.strays = 40;
    cfg.duration_h = 3.0;
    let r = run(&site, &cfg, 5);
    assert!(
        r.tracker.tracks_confirmed > 50,
        "the animals are tracked: {:?}",
        r.tracker
    );
    let bad: Vec<_> = r
        .final_alerts
        .iter()
        .filter(|a| matches!(a.kind, AlertKind::Infiltration | AlertKind::Approach))
        .collect();
    assert!(bad.is_empty(), "herders and animals raised {bad:#?}");
}

#[test]
fn the_breakout_raises_one_mass_breakout_alert_with_the_count_within_ten_percent() {
    let site = load("ain-issa");
    let cfg = site.scenario.clone();
    let r = run(&site, &cfg, 2019);
    assert_eq!(r.refused, 0, "simulated records are all valid");
    let mass = of_kind(&r, AlertKind::MassBreakout);
    assert_eq!(mass.len(), 1, "{:#?}", r.final_alerts);
    assert!(
        of_kind(&r, AlertKind::PerimeterBreach).is_empty(),
        "the breach escalated, not duplicated"
    );
    let truth = r
        .figures
        .incidents
        .iter()
        .find(|i| i.kind == IncidentKind::Breakout)
        .expect("staged")
        .count as f64;
    let est = mass[0].count as f64;
    assert!(
        (est - truth).abs() / truth <= 0.10,
        "estimated {est} for {truth} who left"
    );
    assert_eq!(r.facilities[0].status, site::FacilityStatus::Breached);
}

#[test]
fn a_sensor_that_stops_its_heartbeats_raises_an_offline_alert() {
    let site = load("frontier");
    let mut cfg = quiet(site.scenario.clone());
    cfg.sensor_outages = 1;
    cfg.duration_h = 2.0;
    let mut sink = VecSink::default();
    simulate(&site, Some(&cfg), 3, &mut sink).expect("simulates");
    let down = sink
        .truth
        .iter()
        .find_map(|r| match r {
            TruthRecord::Incident(i) if i.kind == IncidentKind::SensorOffline => i.subject.clone(),
            _ => None,
        })
        .expect("an outage is staged");
    let r = run(&site, &cfg, 3);
    let offline = of_kind(&r, AlertKind::SensorOffline);
    assert_eq!(offline.len(), 1, "{offline:#?}");
    assert_eq!(offline[0].sensors, vec![down]);
}

#[test]
fn the_same_seed_gives_the_same_files() {
    let site = load("frontier");
    let mut cfg = quiet(site.scenario.clone());
    cfg.infiltrator_groups = 4;
    cfg.strays = 20;
    cfg.sensor_outages = 1;
    cfg.duration_h = 3.0;
    let files = RunFiles {
        detections: false,
        truth: false,
        track_every_s: 10.0,
    };
    let write = || {
        let dir = tempfile::tempdir().expect("temp dir");
        run_site(&site, Some(&cfg), 21, dir.path(), files, &mut |_| {}).expect("run succeeds");
        let read = |f: &str| std::fs::read(dir.path().join(f)).expect("written");
        (read("alerts.jsonl"), read("tracks.jsonl"))
    };
    let (a, b) = (write(), write());
    assert!(!a.0.is_empty());
    assert!(
        a.0 == b.0,
        "every alert revision is the same from the same seed"
    );
    assert!(
        a.1 == b.1,
        "every track line is the same from the same seed"
    );
}

/// A herder who drives the flock across the line, and an infiltrator group walking across
/// inside a flock: each is an infiltration and must raise its alert; the animals are cover.
/// Run with feature-aided association (`[tracker.class] feature_weight = 1`), which keeps the
/// people's warm detections on people tracks inside the flock (it is off by default: see
/// `ClassConfig::feature_weight`).
#[test]
fn crossings_under_a_flocks_cover_raise_infiltration_alerts() {
    let mut site = load("frontier");
    site.tracker.class.feature_weight = 1.0;
    for (herders, groups, seed) in [(1, 0, 31), (0, 1, 32)] {
        let mut cfg = quiet(site.scenario.clone());
        cfg.herder_crossings = herders;
        cfg.flock_infiltrations = groups;
        cfg.duration_h = 2.5;
        let r = run(&site, &cfg, seed);
        let staged: Vec<_> = r
            .figures
            .incidents
            .iter()
            .filter(|i| i.kind == IncidentKind::Infiltration)
            .collect();
        assert_eq!(staged.len(), 1, "seed {seed}: the crossing is staged");
        assert!(
            staged[0].detected,
            "seed {seed} (herders {herders}, groups {groups}): no infiltration alert: {:#?}",
            r.final_alerts
        );
    }
}
