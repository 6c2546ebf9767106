//! How the tracker learns a sensor's timing without a site: a sensor that stamps each
//! detection with the instant its beam passed (a rotating radar) looks at one place once a
//! revolution, however finely its timestamps are spread, and its tracks' missed scans must be
//! counted in revolutions.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
use limes_core::record::{Detection, Position, Time, TrackStatus};
use limes_core::track::{Tracker, TrackerConfig};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use std::collections::BTreeMap;

/// How the sensor stamps its detections.
#[derive(Clone, Copy)]
enum Stamp {
    /// Every detection of a revolution at its start.
    Scan,
    /// Each at the instant the beam passed its azimuth, over 90 % of the revolution.
    Beam,
}

/// Targets seen by one sensor at the origin turning once every `period` seconds for 40
/// revolutions, at Pd 0.9, with clutter: 24 moving at `speed` m/s spread from 300 m to 3 km
/// away and a group of 8 moving together within 20 m of each other, tracked with the unknown sensor's
/// settings. Returns the final status of every confirmed track and the learnt scan period.
fn rotating_sensor(
    period: f64,
    stamp: Stamp,
    seed: u64,
    speed: f64,
) -> (BTreeMap<u64, TrackStatus>, f64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let noise = Normal::new(0.0, 5.0).expect("valid");
    let mut walkers: Vec<([f64; 2], [f64; 2])> = (0..24)
        .map(|i| {
            let r = 300.0 + 2700.0 * rng.random::<f64>();
            let a = i as f64 * std::f64::consts::TAU / 24.0;
            let h = std::f64::consts::TAU * rng.random::<f64>();
            (
                [r * a.cos(), r * a.sin()],
                [speed * h.cos(), speed * h.sin()],
            )
        })
        .collect();
    for g in 0..8 {
        walkers.push((
            [800.0 + 6.0 * g as f64, 500.0 + 4.0 * (g % 3) as f64],
            [speed / 1.3, 0.6 * speed / 1.3],
        ));
    }
    let mut tr = Tracker::new(TrackerConfig::unknown_sensor());
    let mut out = Vec::new();
    let t0 = 50_000.0;
    for k in 0..40 {
        let start = t0 + k as f64 * period;
        let mut dets: Vec<(f64, [f64; 2])> = Vec::new();
        for (p, v) in &walkers {
            if rng.random::<f64>() < 0.9 {
                let at = [
                    p[0] + v[0] * k as f64 * period,
                    p[1] + v[1] * k as f64 * period,
                ];
                dets.push((0.0, at));
            }
        }
        for _ in 0..10 {
            let c = [
                6000.0 * rng.random::<f64>() - 3000.0,
                6000.0 * rng.random::<f64>() - 3000.0,
            ];
            dets.push((0.0, c));
        }
        for d in &mut dets {
            d.0 = match stamp {
                Stamp::Scan => start,
                Stamp::Beam => {
                    let az = (d.1[1].atan2(d.1[0]) + std::f64::consts::PI) / std::f64::consts::TAU;
                    start + 0.9 * period * az
                }
            };
            d.1[0] += noise.sample(&mut rng);
            d.1[1] += noise.sample(&mut rng);
        }
        dets.sort_by(|a, b| a.0.total_cmp(&b.0));
        for (t, p) in dets {
            let d = Detection {
                sensor: "radar".into(),
                time: Time(t),
                pos: Position::Local { x: p[0], y: p[1] },
                cov: None,
                ce: Some(5.0),
                class: None,
                heat_m2: None,
                count: None,
            };
            tr.push(&d, &mut out).expect("valid");
        }
        tr.advance(start + period, &mut out);
    }
    tr.flush(&mut out);
    let learnt = tr
        .sensor_estimates()
        .find(|s| s.sensor == "radar")
        .expect("the sensor")
        .period_s;
    let mut last: BTreeMap<u64, TrackStatus> = BTreeMap::new();
    let mut confirmed = std::collections::BTreeSet::new();
    for u in &out {
        if u.status == TrackStatus::Confirmed {
            confirmed.insert(u.id);
        }
        last.insert(u.id, u.status);
    }
    last.retain(|id, _| confirmed.contains(id));
    (last, learnt)
}

/// Checks one run: the period learnt to within 10 %, and about one confirmed track per target,
/// nearly all still held at the end (confirmed, or coasting after a missed look).
fn holds_its_targets(period: f64, stamp: Stamp, seed: u64, speed: f64) {
    let (tracks, learnt) = rotating_sensor(period, stamp, seed, speed);
    assert!(
        (learnt - period).abs() < 0.1 * period,
        "scan period learnt as {learnt:.3} s for a {period} s revolution"
    );
    let live = tracks
        .values()
        .filter(|s| **s != TrackStatus::Deleted)
        .count();
    assert!(
        (28..=36).contains(&live) && tracks.len() <= 40,
        "{live} tracks held at the end, {} confirmed in all, for 32 targets",
        tracks.len()
    );
}

#[test]
fn a_sensor_stamping_each_detection_as_its_beam_passes_is_tracked_in_revolutions() {
    for (period, seed) in [(1.0, 1), (5.0, 2), (0.25, 3)] {
        holds_its_targets(period, Stamp::Beam, seed, 1.3);
    }
}

#[test]
fn a_sensor_stamping_whole_scans_keeps_its_period() {
    for (period, seed) in [(1.0, 4), (5.0, 5), (0.25, 6)] {
        holds_its_targets(period, Stamp::Scan, seed, 1.3);
    }
}

/// Vehicles at 25 m/s move 125 m between two looks of a sensor turning once in 5 s: the
/// revisit period is still the turn, not the time until another object or clutter happens
/// to fall where one was.
#[test]
fn targets_faster_than_a_cell_per_look_do_not_lengthen_the_period() {
    holds_its_targets(5.0, Stamp::Scan, 7, 25.0);
    holds_its_targets(5.0, Stamp::Beam, 8, 25.0);
}

/// A walker seen at 1 Hz for a minute, then, after the sensor was off for two hours, another
/// for a minute: the silence is not a scan period.
#[test]
fn a_sensor_back_after_two_hours_off_keeps_its_scan_period() {
    let mut tr = Tracker::new(TrackerConfig::unknown_sensor());
    let mut out = Vec::new();
    for (start, y) in [(50_000.0, 0.0), (50_000.0 + 7200.0, 500.0)] {
        for k in 0..60 {
            let t = start + f64::from(k);
            let d = Detection {
                sensor: "cam".into(),
                time: Time(t),
                pos: Position::Local {
                    x: 1.3 * f64::from(k),
                    y,
                },
                cov: None,
                ce: Some(5.0),
                class: None,
                heat_m2: None,
                count: None,
            };
            tr.push(&d, &mut out).expect("valid");
        }
    }
    tr.flush(&mut out);
    let period = tr.sensor_estimates().next().expect("the sensor").period_s;
    assert!(
        (0.9..1.5).contains(&period),
        "scan period {period:.2} s after the silence"
    );
}
