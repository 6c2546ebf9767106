//! What the picture shows of a track its sensor stopped seeing: kept while it is more likely
//! there than gone (`picture_score_drop`), hidden after, and back under its own id when seen.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
use limes_core::record::{Detection, Position, Time, TrackStatus};
use limes_core::track::{Tracker, TrackerConfig};

const T0: f64 = 1_000_000.0;

fn det(t: f64) -> Detection {
    Detection {
        sensor: "cam".into(),
        time: Time(T0 + t),
        pos: Position::Local { x: 1.3 * t, y: 0.0 },
        cov: None,
        ce: Some(5.0),
        class: None,
        heat_m2: None,
        count: None,
    }
}

/// A walker seen by a 1 Hz sensor at Pd 0.9 in scans 0–9, missed in 10–12 and seen again in
/// 13. Returns, per scan from 9 on, the ids in the picture after it, and the tracker's lines.
fn run(cfg: TrackerConfig) -> (Vec<(u32, Vec<u64>)>, Vec<limes_core::track::TrackUpdate>) {
    let cfg = TrackerConfig {
        detection_probability: 0.9,
        learn_detection_probability: false,
        ..cfg
    };
    let window = cfg.reorder_window_s;
    let mut tr = Tracker::new(cfg);
    let mut out = Vec::new();
    let mut lines = Vec::new();
    let mut pictures = Vec::new();
    for k in 0..14u32 {
        let t = f64::from(k);
        if !(10..13).contains(&k) {
            tr.push(&det(t), &mut out).expect("valid");
        }
        tr.advance(T0 + t + window, &mut out);
        lines.append(&mut out);
        if k >= 9 {
            let ids = tr.snapshot(T0 + t).iter().map(|u| u.id).collect();
            pictures.push((k, ids));
        }
    }
    (pictures, lines)
}

#[test]
fn a_track_missed_twice_at_pd_0_9_leaves_the_picture_and_returns_with_its_id() {
    let cfg = TrackerConfig::unknown_sensor();
    assert_eq!(
        cfg.picture_score_drop, 4.0,
        "the default this test is about"
    );
    let (pictures, lines) = run(cfg);
    let shown = |k: u32| pictures.iter().find(|p| p.0 == k).expect("scan").1.clone();
    let id = *shown(9).first().expect("confirmed by scan 9");
    assert_eq!(shown(9), vec![id]);
    // One missed scan costs ln 0.1 = −2.3: still more likely there.
    assert_eq!(
        shown(10),
        vec![id],
        "one scan missed (as of scan 10's start)"
    );
    assert_eq!(shown(11), vec![id], "one scan missed");
    // Two cost 4.6, past the drop of 4: out of the picture, but not deleted.
    assert_eq!(shown(12), Vec::<u64>::new(), "two scans missed");
    assert!(
        !lines
            .iter()
            .any(|u| u.id == id && u.status == TrackStatus::Deleted),
        "the track is kept while hidden: {lines:?}"
    );
    // Seen again: back, under the same id.
    assert_eq!(shown(13), vec![id], "seen again in scan 13");
}

#[test]
fn with_the_drop_off_a_coasting_track_stays_in_the_picture() {
    let cfg = TrackerConfig {
        picture_score_drop: 0.0,
        ..TrackerConfig::unknown_sensor()
    };
    let (pictures, _) = run(cfg);
    let id = pictures[0].1[0];
    for (k, ids) in pictures {
        assert_eq!(ids, vec![id], "scan {k}");
    }
}
