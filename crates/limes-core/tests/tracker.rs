//! Tracker behaviour on small synthetic scenes in a flat local frame.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
use limes_core::geo::LonLat;
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

/// The last update of a confirmed track.
fn last_confirmed(out: &[TrackUpdate]) -> TrackUpdate {
    out.iter()
        .rfind(|u| u.status == TrackStatus::Confirmed)
        .expect("a confirmed track")
        .clone()
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
        let parts: std::collections::HashSet<_> = out.iter().map(|u| u.part).collect();
        assert!(parts.len() >= 2, "the walk spans two tiles");
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

/// One sensor posts 1.5 million detections at random points over a 2° × 2° area (16 tiles)
/// within 15 s, as a hostile token holder did to `limes serve`: the tracker's state stays under
/// its caps, the sensor is flagged, and a walker seen by an honest camera is still tracked.
#[test]
fn a_flooding_sensor_is_flagged_and_the_tracker_stays_bounded() {
    use limes_core::geo::{LocalFrame, LonLat};
    let cfg = TrackerConfig::default();
    let lim = cfg.limits.clone();
    let mut tr = Tracker::new(cfg);
    let mut rng = ChaCha8Rng::seed_from_u64(99);
    let frame = LocalFrame::new(LonLat::new(41.6, 34.9));
    let mut out = Vec::new();
    let (mut peak_tracks, mut peak_tiles, mut flagged_at) = (0, 0, None);
    let n = 1_500_000;
    let t0 = 10_000.0;
    for k in 0..n {
        let t = t0 + 15.0 * k as f64 / n as f64;
        let mut d = det("flood", t, 0.0, 0.0, 5.0);
        d.pos = Position::LonLat {
            lon: rng.random_range(40.6..42.6),
            lat: rng.random_range(33.9..35.9),
        };
        tr.push(&d, &mut out).expect("valid");
        // An honest camera sees a walker every 5 s.
        if k % 500_000 == 0 || (k % 50_000 == 0) {
            let s = t - t0;
            let ll = frame.to_lonlat([1.3 * s, 0.0]);
            let mut w = det("honest", t, 0.0, 0.0, 3.0);
            w.pos = Position::LonLat {
                lon: ll.lon,
                lat: ll.lat,
            };
            tr.push(&w, &mut out).expect("valid");
        }
        if k % 10_000 == 0 {
            out.clear();
            peak_tracks = peak_tracks.max(tr.live_tracks());
            peak_tiles = peak_tiles.max(tr.stats().partitions);
            if flagged_at.is_none() && tr.flooding_sensors().any(|s| s == "flood") {
                flagged_at = Some(k);
            }
        }
    }
    let s = tr.stats();
    eprintln!(
        "peak tracks {peak_tracks}, peak tiles {peak_tiles}, flagged after {flagged_at:?}: {s:?}"
    );
    assert!(
        peak_tracks <= lim.tentative_per_sensor + 100,
        "live tracks peaked at {peak_tracks}: {s:?}"
    );
    assert!(peak_tiles <= 16 + 9, "tiles peaked at {peak_tiles}");
    let flagged_at = flagged_at.expect("the flooding sensor is flagged");
    assert!(flagged_at < 300_000, "flagged only after {flagged_at}");
    assert_eq!(tr.flooding_sensors().collect::<Vec<_>>(), vec!["flood"]);
    assert!(s.flood_refused > 1_000_000, "{s:?}");
    assert!(s.tentative_shed > 0, "{s:?}");
    assert_eq!(s.tentative_live + s.confirmed_live, tr.live_tracks());
    // Quiet again: the flag clears once the rate is down.
    for k in 0..120 {
        let mut d = det("flood", t0 + 30.0 + k as f64, 0.0, 0.0, 5.0);
        d.pos = Position::LonLat {
            lon: 41.0,
            lat: 34.0,
        };
        tr.push(&d, &mut out).expect("valid");
    }
    assert_eq!(tr.flooding_sensors().count(), 0);
}

/// A walker tracked for two minutes who then vanishes: the `coasting` and `deleted` lines say
/// when the status changed (not when the track was last updated, nor when the once-a-second
/// sweep noticed), with the state predicted to that time.
#[test]
fn status_lines_carry_the_time_the_status_changed() {
    let cfg = TrackerConfig::default();
    let (coast, delete) = (cfg.coast_after_s, cfg.delete_after_s);
    let mut tr = Tracker::new(cfg);
    let mut out = Vec::new();
    for k in 0..60 {
        let t = 100.0 + 2.0 * k as f64;
        tr.push(&det("cam", t, 1.3 * (t - 100.0), 0.0, 2.0), &mut out)
            .expect("valid");
    }
    // The live clock goes on without detections.
    for k in 0..200 {
        tr.tick(220.0 + 0.5 * k as f64, &mut out);
    }
    let last = last_confirmed(&out);
    let line = |s: TrackStatus| out.iter().find(|u| u.status == s).expect("status line");
    for (s, after) in [
        (TrackStatus::Coasting, coast),
        (TrackStatus::Deleted, delete),
    ] {
        let u = line(s);
        assert_eq!(u.updated, last.time, "{s:?}: last detection");
        let dt = u.time - last.time;
        assert!(
            (dt - after).abs() < 1e-9,
            "{s:?} line {dt} s after the last update, not {after}"
        );
        // Predicted: the walker is believed to have walked on at 1.3 m/s.
        assert!(
            (u.xy[0] - last.xy[0] - last.vel[0] * dt).abs() < 1e-6 && u.xy[0] > last.xy[0] + 10.0,
            "{s:?}: {u:?} vs {last:?}"
        );
    }
}

/// With the sequential test (an unknown sensor's settings, Pd 0.9 not learnt), a walker seen
/// every second who vanishes is deleted by the score: four missed scans cost 4 · ln 0.1 < −8.
/// The `deleted` line says when the fourth missed scan was counted (half a scan after it:
/// 4.5 s after the last detection), though the sweep that noticed ran later; the `coasting`
/// line came 1.5 s after the last detection, before it.
#[test]
fn a_track_ended_by_its_score_is_deleted_at_the_scan_it_missed() {
    let cfg = TrackerConfig {
        learn_detection_probability: false,
        ..TrackerConfig::unknown_sensor()
    };
    let mut tr = Tracker::new(cfg);
    let mut out = Vec::new();
    for k in 0..30 {
        let t = 100.0 + k as f64;
        tr.push(&det("radar", t, 1.3 * k as f64, 0.0, 5.0), &mut out)
            .expect("valid");
    }
    for k in 0..40 {
        tr.tick(130.0 + 0.3 * k as f64, &mut out);
    }
    let last = last_confirmed(&out);
    let at = |s: TrackStatus| {
        out.iter()
            .find(|u| u.status == s && u.id == last.id)
            .map(|u| u.time - last.time)
    };
    let (coast, deleted) = (at(TrackStatus::Coasting), at(TrackStatus::Deleted));
    assert!(
        coast.is_some_and(|dt| (dt - 1.5).abs() < 1e-9),
        "coasting {coast:?}"
    );
    assert!(
        deleted.is_some_and(|dt| (dt - 4.5).abs() < 1e-9),
        "deleted {deleted:?}"
    );
}

/// A tracker with an unknown sensor's settings fed one detection a second from t = 100 at each
/// WGS84 position in turn; returns it and every update it gave.
fn track_lonlat(positions: impl IntoIterator<Item = (f64, f64)>) -> (Tracker, Vec<TrackUpdate>) {
    let mut tr = Tracker::new(TrackerConfig::unknown_sensor());
    let mut out = Vec::new();
    for (k, (lon, lat)) in positions.into_iter().enumerate() {
        let mut d = det("cam", 100.0 + k as f64, 0.0, 0.0, 3.0);
        d.pos = Position::LonLat { lon, lat };
        tr.push(&d, &mut out).expect("a valid position is taken");
    }
    tr.flush(&mut out);
    (tr, out)
}

/// Valid positions at the edges of the map — the poles, the antimeridian — are tracked like any
/// other: no panic (a tile row above the north pole once had no frame), one track for one
/// object standing still, positions written back where they were seen.
#[test]
fn an_object_at_a_pole_or_on_the_antimeridian_is_one_track() {
    for (lon, lat) in [(0.0, 90.0), (30.0, -90.0), (180.0, 10.0), (-180.0, 10.0)] {
        let (tr, out) = track_lonlat(std::iter::repeat_n((lon, lat), 20));
        let ids = confirmed_ids(&out);
        assert_eq!(ids.len(), 1, "({lon}, {lat}): {ids:?}");
        let rec = tr.to_record(&last_confirmed(&out));
        let Position::LonLat { lon: l, lat: b } = rec.pos else {
            panic!("({lon}, {lat}): not WGS84: {rec:?}");
        };
        let back = LonLat::new(l, b).distance_m(&LonLat::new(lon, lat));
        assert!(
            back < 1.0,
            "({lon}, {lat}) written {back} m away at ({l}, {b})"
        );
    }
}

/// An object crossing into the single tile around the north pole (latitude 89.5) keeps its
/// track: the tiles on either side of that edge find each other as neighbours.
#[test]
fn an_object_crossing_into_the_polar_tile_keeps_its_track() {
    for lon in [0.2, 100.2, -179.9] {
        let (_, out) = track_lonlat((0..40).map(|k| (lon, 89.4985 + 8.0 * k as f64 / 110_500.0)));
        let ids = confirmed_ids(&out);
        assert_eq!(ids.len(), 1, "lon {lon}: {ids:?}");
    }
}

/// How far a track's position is from `p`, metres.
fn metres(u: &TrackUpdate, p: [f64; 2]) -> f64 {
    (u.xy[0] - p[0]).hypot(u.xy[1] - p[1])
}

/// The track of a snapshot nearest to `p`.
fn nearest_to(snap: &[TrackUpdate], p: [f64; 2]) -> Option<&TrackUpdate> {
    snap.iter()
        .min_by(|a, b| metres(a, p).total_cmp(&metres(b, p)))
}

/// Two walkers side by side, 25 m apart (five sigma of the sensor), seen at 1 Hz with Pd 0.9:
/// their gates overlap, so every scan is one cluster of two tracks. With JPDA each track is
/// updated with both detections, weighted; the test holds it to what GNN gives: two tracks that
/// keep their walker and their identity for the whole walk, with the clusters really shared.
#[test]
fn jpda_keeps_two_walkers_side_by_side_apart() {
    use limes_core::track::Association;
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let n = Normal::new(0.0, 5.0).expect("valid");
    let walker = |id: usize, t: f64| [1.3 * t, 25.0 * id as f64];
    // The last: JPDA with clusters over the cell limit, assigned greedily instead.
    for (association, cells) in [
        (Association::Gnn, 250_000),
        (Association::Jpda, 250_000),
        (Association::Jpda, 1),
    ] {
        // The picture shows every live track: a walker missed twice keeps its track there.
        let mut cfg = TrackerConfig {
            association,
            picture_score_drop: 0.0,
            ..TrackerConfig::unknown_sensor()
        };
        cfg.limits.cluster_cells = cells;
        let mut tr = Tracker::new(cfg);
        // Each scan is released once the reorder window has passed it.
        let window = tr.config().reorder_window_s;
        let mut out = Vec::new();
        let mut owner: [Option<u64>; 2] = [None, None];
        let mut worst: f64 = 0.0;
        for k in 0..180 {
            let t = k as f64;
            for id in 0..2 {
                if rng.random::<f64>() < 0.9 {
                    let p = walker(id, t);
                    let d = det(
                        "s",
                        9000.0 + t,
                        p[0] + n.sample(&mut rng),
                        p[1] + n.sample(&mut rng),
                        5.0,
                    );
                    tr.push(&d, &mut out).expect("valid");
                }
            }
            tr.advance(9000.0 + t + window, &mut out);
            out.clear();
            if k < 20 {
                continue;
            }
            let snap = tr.snapshot(9000.0 + t);
            assert_eq!(snap.len(), 2, "{association:?} at {t} s: {snap:?}");
            for (id, own) in owner.iter_mut().enumerate() {
                let p = walker(id, t);
                let near = nearest_to(&snap, p).expect("a track");
                let miss = metres(near, p);
                worst = worst.max(miss);
                let was = own.get_or_insert(near.id);
                assert_eq!(
                    *was, near.id,
                    "{association:?}: walker {id} changed track at {t} s"
                );
            }
        }
        // A track drawn to the middle of the two would be 12.5 m off.
        assert!(worst < 12.0, "{association:?}: {worst:.1} m off at worst");
        assert!(
            tr.stats().largest_cluster >= 4,
            "{association:?}: the gates overlapped"
        );
    }
}

/// Identity swaps of two walkers who cross, tracked with `association`, over
/// `seeds` noise draws: how many runs end with a track on the other walker than it started on.
fn crossing_swaps(association: limes_core::track::Association, seeds: u64) -> usize {
    let mut swapped = 0;
    for seed in 0..seeds {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let n = Normal::new(0.0, 5.0).expect("valid");
        // Both walk east at 1.3 m/s, one north and one south at 1.2 m/s (they cross at about
        // 85°) and meet at 60 s.
        let walker = |id: usize, t: f64| {
            let dy = if id == 0 { 1.2 } else { -1.2 };
            [1.3 * t, dy * (t - 60.0)]
        };
        // The picture shows every live track, so a walker just missed twice is not counted
        // as swapped for want of his track.
        let mut tr = Tracker::new(TrackerConfig {
            association,
            picture_score_drop: 0.0,
            ..TrackerConfig::unknown_sensor()
        });
        let mut out = Vec::new();
        let mut owner: [Option<u64>; 2] = [None, None];
        let mut end: [Option<u64>; 2] = [None, None];
        let mut said = std::collections::HashMap::new();
        for k in 0..121 {
            let t = k as f64;
            for id in 0..2 {
                if rng.random::<f64>() < 0.9 {
                    let p = walker(id, t);
                    let (x, y) = (p[0] + n.sample(&mut rng), p[1] + n.sample(&mut rng));
                    tr.push(&det("s", 7000.0 + t, x, y, 5.0), &mut out)
                        .expect("valid");
                }
            }
            tr.advance(7000.0 + t + 1.0, &mut out);
            // Whatever the hypotheses decide, a track's lines stay in time order.
            for u in out.drain(..) {
                let before = said.insert(u.id, u.time).unwrap_or(f64::NEG_INFINITY);
                assert!(
                    u.time >= before,
                    "seed {seed}: {u:?} after a line at {before}"
                );
            }
            let snap = tr.snapshot(7000.0 + t);
            let nearest = |id: usize| nearest_to(&snap, walker(id, t)).map(|u| u.id);
            for id in 0..2 {
                if k == 30 {
                    owner[id] = nearest(id);
                }
                if k == 120 {
                    end[id] = nearest(id);
                }
            }
        }
        if owner[0].is_some() && owner != end {
            swapped += 1;
        }
    }
    swapped
}

/// Two walkers cross: at the crossing both detections fit both tracks, and GNN, deciding on one
/// scan, gives each track the other walker in about a quarter of the runs. Keeping the joint
/// hypotheses of the pair over the following scans resolves most of those swaps. (At shallow
/// angles, 20–40°, it does not: the likeliest hypothesis under the tracker's manoeuvre noise is
/// then often that the two turned away from each other, and MHT swaps as often as GNN or more.)
#[test]
fn multi_scan_hypotheses_resolve_crossings_that_gnn_swaps() {
    use limes_core::track::Association;
    let gnn = crossing_swaps(Association::Gnn, 100);
    let mht = crossing_swaps(Association::Mht, 100);
    eprintln!("swapped runs of 100: GNN {gnn}, MHT {mht}");
    assert!(
        gnn >= 10,
        "the crossing is hard for GNN: {gnn} of 100 swapped"
    );
    assert!(mht * 2 <= gnn, "MHT {mht} against GNN {gnn}");
}

/// Confirmed tracks of twenty walkers far apart, seen by a sensor that detects them only 60 %
/// of the time, with the unknown sensor's settings (`learn`: whether the tracker learns the
/// sensor's Pd), and the Pd it ends with.
fn walks_at_pd_six_tenths(learn: bool) -> (usize, f64) {
    let mut rng = ChaCha8Rng::seed_from_u64(21);
    let n = Normal::new(0.0, 5.0).expect("valid");
    let mut tr = Tracker::new(TrackerConfig {
        learn_detection_probability: learn,
        ..TrackerConfig::unknown_sensor()
    });
    let mut out = Vec::new();
    for k in 0..400 {
        let t = 7000.0 + k as f64;
        for w in 0..20 {
            if rng.random::<f64>() < 0.6 {
                let (x, y) = (1.3 * k as f64, 500.0 * w as f64);
                let d = det(
                    "low-pd",
                    t,
                    x + n.sample(&mut rng),
                    y + n.sample(&mut rng),
                    5.0,
                );
                tr.push(&d, &mut out).expect("valid");
            }
        }
        tr.advance(t + 1.0, &mut out);
    }
    tr.flush(&mut out);
    let pd = tr
        .sensor_estimates()
        .find(|s| s.sensor == "low-pd")
        .expect("the sensor")
        .detection_probability;
    (confirmed_ids(&out).len(), pd)
}

/// The unknown sensor's settings assume Pd 0.9 at first, under which four missed scans end a
/// track: at Pd 0.6 each walk is cut into pieces. Learning the sensor's Pd from its tracks'
/// hits and misses, the tracker keeps about one track per walker.
#[test]
fn a_sensor_that_misses_often_is_learnt_and_its_tracks_are_not_cut() {
    let (learnt, pd) = walks_at_pd_six_tenths(true);
    assert!((0.5..0.7).contains(&pd), "Pd learnt as {pd:.2}");
    assert!(
        (20..=30).contains(&learnt),
        "{learnt} confirmed tracks for 20 walkers"
    );
    let (assumed, pd) = walks_at_pd_six_tenths(false);
    assert_eq!(pd, 0.9);
    assert!(
        assumed >= 3 * learnt,
        "{assumed} confirmed tracks at an assumed Pd 0.9, {learnt} learning it"
    );
}

/// A walker appears 40 m from where a clutter point was seen three scans earlier; a far walker
/// keeps the sensor scanning at 1 Hz. Returns the speed, m/s, of the newcomer's track when it
/// is confirmed (the walker's is 1.3).
fn newcomer_beside_old_clutter(reject_score: f64) -> f64 {
    let mut tr = Tracker::new(TrackerConfig {
        reject_score,
        ..TrackerConfig::unknown_sensor()
    });
    let mut out = Vec::new();
    for k in 0..12 {
        let t = 500.0 + k as f64;
        tr.push(
            &det("radar", t, 5000.0 + 1.3 * k as f64, 0.0, 5.0),
            &mut out,
        )
        .expect("valid");
        if k == 0 {
            tr.push(&det("radar", t, 0.0, 0.0, 5.0), &mut out)
                .expect("valid");
        }
        if k >= 3 {
            let y = 1.3 * (k - 3) as f64;
            tr.push(&det("radar", t, 40.0, y, 5.0), &mut out)
                .expect("valid");
        }
        tr.advance(t + 1.0, &mut out);
    }
    tr.flush(&mut out);
    let first = out
        .iter()
        .find(|u| u.status == TrackStatus::Confirmed && u.xy[0] < 1000.0)
        .expect("the newcomer's track");
    first.vel[0].hypot(first.vel[1])
}

/// The sequential test's lower threshold: a tentative track whose score has fallen
/// `reject_score` below its start (two missed scans at Pd 0.9) is gone, so a newcomer's track
/// starts from the newcomer's own detections instead of inheriting the clutter point's
/// position and a velocity towards it.
#[test]
fn a_track_born_of_clutter_does_not_linger_to_catch_a_newcomer() {
    let speed = newcomer_beside_old_clutter(TrackerConfig::unknown_sensor().reject_score);
    assert!(speed < 3.0, "the newcomer's track starts at {speed:.1} m/s");
    let lingering = newcomer_beside_old_clutter(0.0);
    assert!(
        lingering > 5.0,
        "without the threshold the clutter's track takes the newcomer: {lingering:.1} m/s"
    );
}

/// The detections a newcomer's track had when it was confirmed (one entry per confirmed
/// track), with the unknown sensor's settings and `association`: a walker alone, or one
/// appearing at scan 4 beside a walker whose track is already confirmed, 12 m apart (inside
/// each other's gates).
fn hits_to_confirm(
    beside: bool,
    association: limes_core::track::Association,
    detection_probability: f64,
) -> Vec<u32> {
    let mut tr = Tracker::new(TrackerConfig {
        association,
        detection_probability,
        ..TrackerConfig::unknown_sensor()
    });
    let mut out = Vec::new();
    let mut confirmed_at = Vec::new();
    let mut known = BTreeSet::new();
    for k in 0..12u32 {
        let t = 900.0 + f64::from(k);
        let x = 1.3 * f64::from(k);
        // A far walker keeps the sensor's scans going and its clutter estimate fed.
        tr.push(&det("radar", t, 9000.0 + x, 0.0, 5.0), &mut out)
            .expect("valid");
        if beside {
            tr.push(&det("radar", t, x, 12.0, 5.0), &mut out)
                .expect("valid");
        }
        if k >= 4 {
            tr.push(&det("radar", t, x, 0.0, 5.0), &mut out)
                .expect("valid");
        }
        let before = out.len();
        tr.advance(t + 1.0, &mut out);
        for u in &out[before..] {
            if u.status == TrackStatus::Confirmed
                && u.xy[0] < 1000.0
                && u.xy[1] < 6.0
                && known.insert(u.id)
            {
                confirmed_at.push(u.hits);
            }
        }
    }
    confirmed_at
}

/// A track that never shared its gate (no other track, no other detection within reach)
/// cannot have taken another track's detection: its second detection confirms it, a scan
/// sooner than a newcomer beside a confirmed walker, whose detections either track might have
/// taken — under JPDA too, where established tracks share out detections first. Not at Pd 0.7,
/// where a wrong track would live seven missed scans, longer than the confirmation window.
#[test]
fn a_track_alone_in_its_gate_is_confirmed_at_its_second_detection() {
    use limes_core::track::Association;
    assert_eq!(
        hits_to_confirm(false, Association::Gnn, 0.7),
        vec![3],
        "Pd 0.7"
    );
    for a in [Association::Gnn, Association::Jpda] {
        assert_eq!(hits_to_confirm(false, a, 0.9), vec![2], "{a:?}: alone");
        let beside = hits_to_confirm(true, a, 0.9);
        assert!(
            beside.len() == 1 && beside[0] >= 3,
            "{a:?}: beside a walker {beside:?}"
        );
    }
}
