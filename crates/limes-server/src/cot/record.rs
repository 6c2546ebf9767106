//! What a sensor connection's CoT event stands for as a sensor record ([`to_record`]).

use limes_core::record::{ClassProbs, Detection, Heartbeat, Position, SensorRecord, Time};

use super::parse::CotEvent;

/// The sensor record a sensor's CoT event stands for: its own uid is a heartbeat, and so is a
/// friendly `a-f-…` event (a TAK device's own position report under its device uid, or a
/// friendly unit its user marks: never a target); any other `a-…` event is a detection;
/// anything else is ignored.
pub fn to_record(sensor: &str, ev: &CotEvent) -> Option<SensorRecord> {
    if ev.uid == sensor || ev.kind.starts_with("a-f-") {
        return Some(SensorRecord::Heartbeat(Heartbeat {
            sensor: sensor.to_string(),
            time: Time(ev.time),
        }));
    }
    if !ev.kind.starts_with("a-") {
        return None;
    }
    let class = ev.class.as_deref().and_then(|c| {
        let mut p = [0.1, 0.1, 0.1];
        let i = ["person", "vehicle", "animal"]
            .iter()
            .position(|x| *x == c)?;
        p[i] = 0.8;
        Some(ClassProbs::from_array(p))
    });
    Some(SensorRecord::Detection(Detection {
        sensor: sensor.to_string(),
        time: Time(ev.time),
        pos: Position::LonLat {
            lon: ev.lon,
            lat: ev.lat,
        },
        cov: None,
        ce: ev.ce,
        class,
        heat_m2: ev.heat_m2,
        count: ev.count,
    }))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn ev(uid: &str, kind: &str) -> CotEvent {
        CotEvent {
            uid: uid.into(),
            kind: kind.into(),
            time: 1_700_000_000.0,
            lat: 36.3851,
            lon: 38.877,
            ce: Some(5.0),
            ..CotEvent::default()
        }
    }

    #[test]
    fn a_tak_devices_own_position_is_a_heartbeat_not_a_detection() {
        // An observer's ATAK on a sensor certificate reports itself under its device uid
        // every few seconds; taken as a detection, the guard would become a track.
        for (uid, kind) in [
            ("ai-gate-obs", "a-f-G-E-S"),
            ("ANDROID-0123456789abcdef", "a-f-G-U-C"),
            ("marker-1", "a-f-G-U-C-I"),
        ] {
            assert!(
                matches!(
                    to_record("ai-gate-obs", &ev(uid, kind)),
                    Some(SensorRecord::Heartbeat(_))
                ),
                "{uid} {kind}"
            );
        }
        for kind in ["a-u-G", "a-h-G", "a-n-G"] {
            assert!(
                matches!(
                    to_record("ai-gate-obs", &ev("seen-1", kind)),
                    Some(SensorRecord::Detection(_))
                ),
                "{kind}"
            );
        }
        assert!(to_record("ai-gate-obs", &ev("x", "b-t-f")).is_none());
    }
}
