//! A track led astray and the object's new track: one identity, when the two could be one.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
use limes_core::record::{Detection, Position, Time, TrackStatus};
use limes_core::track::{TrackUpdate, Tracker, TrackerConfig};
use std::collections::BTreeSet;

fn det(t: f64, x: f64, y: f64) -> Detection {
    Detection {
        sensor: "cam".into(),
        time: Time(t),
        pos: Position::Local { x, y },
        cov: None,
        ce: Some(1.0),
        class: None,
        heat_m2: None,
        count: None,
    }
}

/// Three detections 10 m apart northward confirm a track at 10 m/s (two of them, say, clutter);
/// from then on the object is seen walking east at 1 m/s from the third, outside the first
/// track's gate, which coasts. Returns every update and the tracker's count of continued
/// tracks.
fn astray(cfg: TrackerConfig) -> (Vec<TrackUpdate>, u64) {
    let mut tr = Tracker::new(cfg);
    let mut out = Vec::new();
    let t0 = 1_000_000.0;
    for k in 0..3 {
        let d = det(t0 + k as f64, 0.0, 10.0 * k as f64);
        tr.push(&d, &mut out).expect("valid");
    }
    for k in 3..10 {
        let t = t0 + k as f64;
        tr.push(&det(t, (k - 2) as f64, 20.0), &mut out)
            .expect("valid");
    }
    tr.flush(&mut out);
    (out, tr.stats().tracks_continued)
}

fn first_confirmed_id(out: &[TrackUpdate]) -> u64 {
    out.iter()
        .find(|u| u.status == TrackStatus::Confirmed)
        .expect("a confirmed track")
        .id
}

/// The id of the confirmed track nearest the walker's last position.
fn walker_id(out: &[TrackUpdate]) -> u64 {
    out.iter()
        .rfind(|u| u.status == TrackStatus::Confirmed && (u.xy[1] - 20.0).abs() < 5.0)
        .expect("the walker's track")
        .id
}

#[test]
fn an_object_whose_first_track_went_astray_keeps_its_id() {
    let (out, continued) = astray(TrackerConfig::unknown_sensor());
    let first = first_confirmed_id(&out);
    assert_eq!(
        walker_id(&out),
        first,
        "the walker keeps the first track's id"
    );
    assert_eq!(continued, 1);
    // The new track's tentative id is reported gone; the continued id is never deleted
    // before the end.
    let gone: Vec<&TrackUpdate> = out
        .iter()
        .filter(|u| u.status == TrackStatus::Deleted && u.id != first)
        .collect();
    assert!(
        gone.iter().any(|u| !u.was_confirmed),
        "the new track's tentative id goes: {gone:?}"
    );
    let deleted_first = out
        .iter()
        .position(|u| u.status == TrackStatus::Deleted && u.id == first);
    let last_update = out
        .iter()
        .rposition(|u| u.id == first && u.status == TrackStatus::Confirmed);
    assert!(deleted_first.is_none_or(|d| Some(d) > last_update));

    // Off, the walker's track is a new one: what the test above would catch.
    let off = TrackerConfig {
        continue_lost_chi2: 0.0,
        ..TrackerConfig::unknown_sensor()
    };
    let (out, continued) = astray(off);
    assert_ne!(walker_id(&out), first_confirmed_id(&out));
    assert_eq!(continued, 0);
}

/// A person stands at the origin, seen from t0 to `person_last` (then hidden); a car at 10 m/s
/// passes 3 m from him at `person_last`, seen from `car_from`. Run back from its confirmation,
/// the car's track is where the person's was: only when each was seen tells them apart.
/// Returns the person's and the car's ids and the tracker's count of continued tracks.
fn car_past_a_person(person_last: u32, car_from: u32) -> (u64, u64, u64) {
    let mut tr = Tracker::new(TrackerConfig::unknown_sensor());
    let mut out = Vec::new();
    let t0 = 1_000_000.0;
    for k in 0..10 {
        let t = t0 + f64::from(k);
        if k <= person_last {
            tr.push(&det(t, 0.0, 0.0), &mut out).expect("valid");
        }
        if k >= car_from {
            let x = 3.0 + 10.0 * (f64::from(k) - f64::from(person_last));
            tr.push(&det(t, x, 0.0), &mut out).expect("valid");
        }
    }
    tr.flush(&mut out);
    let person = first_confirmed_id(&out);
    let car = out
        .iter()
        .rfind(|u| u.status == TrackStatus::Confirmed && u.xy[0] > 30.0)
        .expect("the car's track")
        .id;
    (person, car, tr.stats().tracks_continued)
}

#[test]
fn two_objects_seen_at_once_are_never_one_continued_track() {
    // The person seen after the car's track began, and last seen in the very scan it began.
    for (person_last, car_from) in [(5, 4), (4, 4)] {
        let (person, car, continued) = car_past_a_person(person_last, car_from);
        assert_ne!(car, person, "person seen until t{person_last}");
        assert_eq!(continued, 0);
    }
}

#[test]
fn a_track_only_another_sensor_missed_is_not_lost() {
    // The person's camera missed him at t5 only; the car's camera, which never saw him,
    // cannot say he is gone (the person's camera sees him again later at the same times).
    let mut tr = Tracker::new(TrackerConfig::unknown_sensor());
    let mut out = Vec::new();
    let t0 = 1_000_000.0;
    // The car's camera is met first, so its scan of each time comes before the person's.
    tr.push(
        &Detection {
            sensor: "a".into(),
            ..det(t0, 5000.0, 5000.0)
        },
        &mut out,
    )
    .expect("valid");
    for k in 0..10 {
        let t = t0 + f64::from(k);
        if k >= 5 {
            let x = 12.0 + 10.0 * (f64::from(k) - 5.0);
            let d = Detection {
                sensor: "a".into(),
                ..det(t, x, 0.0)
            };
            tr.push(&d, &mut out).expect("valid");
        }
        if k != 5 {
            let d = Detection {
                sensor: "b".into(),
                ..det(t, 0.0, 0.0)
            };
            tr.push(&d, &mut out).expect("valid");
        }
    }
    tr.flush(&mut out);
    assert_eq!(tr.stats().tracks_continued, 0);
    let person: BTreeSet<u64> = out
        .iter()
        .filter(|u| u.status == TrackStatus::Confirmed && u.xy[0].abs() < 3.0)
        .map(|u| u.id)
        .collect();
    assert_eq!(person.len(), 1, "the person keeps one id: {person:?}");
}
