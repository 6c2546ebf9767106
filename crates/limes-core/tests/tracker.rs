//! Tracker behaviour on small synthetic scenes in a flat local frame.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
use limes_core::record::{ClassProbs, Detection, Position, Time, TrackStatus};
use limes_core::track::{TrackUpdate, Tracker, TrackerConfig};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use std::collections::BTreeSet;

fn det(sensor: &str, t: f64, x: f64, y: f64, ce: f64) -> Detection {
    Detection {
        sensor: sensor.into(),
        time: Time(t),
        pos: Position::Local { x, y },
        cov: None,
        ce: Some(ce),
        class: Some(ClassProbs {
            person: 0.7,
            vehicle: 0.15,
            animal: 0.15,
        }),
        heat_m2: None,
        count: None,
    }
}

fn confirmed_ids(out: &[TrackUpdate]) -> BTreeSet<u64> {
    out.iter()
        .filter(|u| u.status == TrackStatus::Confirmed)
        .map(|u| u.id)
        .collect()
}

#[test]
fn one_walker_seen_by_two_cameras_makes_one_track() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let n = Normal::new(0.0, 1.0).expect("valid");
    let mut tr = Tracker::new(TrackerConfig::default());
    let mut out = Vec::new();
    // A walker at 1.3 m/s; camera A near (sigma 4 m) scans at t = 0, 5, 10...; camera B far
    // (sigma 25 m) at t = 2, 7, 12...
    for k in 0..120 {
        for (sensor, phase, sigma) in [("near", 0.0, 4.0), ("far", 2.0, 25.0)] {
            let t = 1000.0 + k as f64 * 5.0 + phase;
            let (x, y) = (1.3 * (t - 1000.0), 0.0);
            if rng.random::<f64>() < 0.9 {
                let d = det(
                    sensor,
                    t,
                    x + sigma * n.sample(&mut rng),
                    y + sigma * n.sample(&mut rng),
                    sigma,
                );
                tr.push(&d, &mut out).expect("valid detection");
            }
        }
    }
    tr.flush(&mut out);
    let ids = confirmed_ids(&out);
    assert_eq!(ids.len(), 1, "one object, one confirmed track: {ids:?}");
}

#[test]
fn a_walker_who_pauses_and_turns_keeps_one_track_in_wgs84() {
    use limes_core::geo::{LocalFrame, LonLat};
    let frame = LocalFrame::new(LonLat::new(38.87, 36.38));
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let n = Normal::new(0.0, 1.0).expect("valid");
    let mut tr = Tracker::new(TrackerConfig::default());
    let mut out = Vec::new();
    let pos = |s: f64| -> (f64, f64) {
        // East for 300 s, stand for 60 s, then north.
        if s < 300.0 {
            (1.2 * s, 0.0)
        } else if s < 360.0 {
            (360.0, 0.0)
        } else {
            (360.0, 1.2 * (s - 360.0))
        }
    };
    for k in 0..150 {
        for (sensor, phase, sigma) in [("near", 0.0, 3.0), ("far", 1.0, 12.0), ("mid", 3.0, 6.0)] {
            let s = k as f64 * 5.0 + phase;
            let (x, y) = pos(s);
            if rng.random::<f64>() < 0.9 {
                let ll = frame.to_lonlat([
                    x + sigma * n.sample(&mut rng),
                    y + sigma * n.sample(&mut rng),
                ]);
                let mut d = det(sensor, 1000.0 + s, 0.0, 0.0, sigma);
                d.pos = Position::LonLat {
                    lon: ll.lon,
                    lat: ll.lat,
                };
                tr.push(&d, &mut out).expect("valid detection");
            }
        }
    }
    tr.flush(&mut out);
    let ids = confirmed_ids(&out);
    assert_eq!(ids.len(), 1, "one object, one confirmed track: {ids:?}");
}

#[test]
fn bad_detections_are_refused_by_field_and_the_tracker_carries_on() {
    let mut tr = Tracker::new(TrackerConfig::default());
    let mut out = Vec::new();
    let mut bad_lat = det("s", 1.0, 0.0, 0.0, 3.0);
    bad_lat.pos = Position::LonLat {
        lon: 41.0,
        lat: 95.0,
    };
    let mut no_error = det("s", 1.0, 0.0, 0.0, 3.0);
    no_error.ce = None;
    let mut bad_cov = det("s", 1.0, 0.0, 0.0, 3.0);
    bad_cov.cov = Some([1.0, 5.0, 1.0]);
    let mut bad_class = det("s", 1.0, 0.0, 0.0, 3.0);
    bad_class.class = Some(ClassProbs {
        person: 1.5,
        vehicle: 0.0,
        animal: 0.0,
    });
    let mut nan_x = det("s", 1.0, 0.0, 0.0, 3.0);
    nan_x.pos = Position::Local {
        x: f64::NAN,
        y: 0.0,
    };
    for (d, field) in [
        (bad_lat, "lat"),
        (no_error, "ce"),
        (bad_cov, "cov"),
        (bad_class, "class.person"),
        (nan_x, "x"),
    ] {
        let e = tr.push(&d, &mut out).expect_err("refused");
        assert_eq!(e.field, field, "{e}");
    }
    for k in 0..10 {
        tr.push(&det("s", 2.0 + k as f64, k as f64, 0.0, 3.0), &mut out)
            .expect("valid");
    }
    tr.flush(&mut out);
    assert_eq!(
        confirmed_ids(&out).len(),
        1,
        "the good detections still make a track"
    );
}

/// A walker heading east across the tile edge at 41.0° E (a vehicle would do it faster).
fn crossing_tile_edge(speed: f64, seed: u64) -> Vec<Detection> {
    use limes_core::geo::{LocalFrame, LonLat};
    let frame = LocalFrame::new(LonLat::new(41.0, 34.6));
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let n = Normal::new(0.0, 1.0).expect("valid");
    let mut out = Vec::new();
    for k in 0..200 {
        for (sensor, phase, sigma) in [("a", 0.0, 5.0), ("b", 2.0, 8.0)] {
            let s = k as f64 * 5.0 + phase;
            let x = -speed * 500.0 + speed * s;
            let ll = frame.to_lonlat([
                x + sigma * n.sample(&mut rng),
                30.0 + sigma * n.sample(&mut rng),
            ]);
            let mut d = det(sensor, 5000.0 + s, 0.0, 0.0, sigma);
            d.pos = Position::LonLat {
                lon: ll.lon,
                lat: ll.lat,
            };
            out.push(d);
        }
    }
    out
}

#[test]
fn a_track_keeps_its_identity_across_a_tile_edge() {
    for speed in [1.3, 12.0] {
        let mut tr = Tracker::new(TrackerConfig::default());
        let mut out = Vec::new();
        for d in crossing_tile_edge(speed, 9) {
            tr.push(&d, &mut out).expect("valid");
        }
        tr.flush(&mut out);
        assert!(tr.stats().partitions >= 2, "the walk spans two tiles");
        let ids = confirmed_ids(&out);
        assert_eq!(
            ids.len(),
            1,
            "speed {speed}: one object, one track across the edge: {ids:?}"
        );
    }
}

#[test]
fn detections_late_within_the_window_give_the_same_tracks_as_in_order() {
    let dets = crossing_tile_edge(1.3, 4);
    let run = |ds: &[Detection]| -> Vec<(u64, i64, i64)> {
        let mut tr = Tracker::new(TrackerConfig::default());
        let mut out = Vec::new();
        for d in ds {
            tr.push(d, &mut out).expect("valid");
        }
        tr.flush(&mut out);
        assert_eq!(tr.stats().late_dropped, 0);
        out.iter()
            .map(|u| (u.id, (u.time * 1000.0) as i64, (u.xy[0] * 1000.0) as i64))
            .collect()
    };
    // Deliver in pairs swapped: each detection arrives after the next one, up to 2 s late.
    let mut shuffled = dets.clone();
    for pair in shuffled.chunks_mut(2) {
        pair.reverse();
    }
    assert_eq!(run(&dets), run(&shuffled));
    // Older than a detection already processed: dropped and counted, never processed out of
    // order. (t = 110 is released once t = 112 has been seen, with the 2 s window.)
    let mut tr = Tracker::new(TrackerConfig::default());
    let mut out = Vec::new();
    for t in [100.0, 110.0, 112.0, 101.0] {
        tr.push(&det("a", t, 0.0, 0.0, 5.0), &mut out)
            .expect("valid");
    }
    assert_eq!(tr.stats().late_dropped, 1);
}
