//! Alarm assessment records: why an alarm reached an operator, or why it became an event.

use serde::{Deserialize, Serialize};

use super::{AlertKind, Position, Time};

/// Why an alarm did (or did not) reach an operator.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AssessReason {
    /// A cut is never downgraded: wind and animals do not cut wire.
    Cut,
    /// A person- or vehicle-like track was there: the alarm has a cause worth a look.
    Corroborated,
    /// No working camera covers the place well enough to vouch that nothing is there
    /// (out of range, offline, or a gap): it stays an alert.
    CameraGap,
    /// The approach went on for the whole hold without a sign of a herd or a turn back.
    Closing,
    /// Working cameras cover the place well and saw nothing that could have caused it.
    NothingSeen,
    /// Only animal-like tracks were there.
    Animals,
    /// The tracks there are a herd (animals with their herder).
    Herd,
    /// The approaching track turned back.
    TurnedBack,
    /// A vibration alarm: never an alert on its own (the wind).
    Vibration,
}

impl AssessReason {
    /// True for reasons that downgrade an alarm to an event.
    pub fn downgrades(self) -> bool {
        matches!(
            self,
            AssessReason::NothingSeen
                | AssessReason::Animals
                | AssessReason::Herd
                | AssessReason::TurnedBack
                | AssessReason::Vibration
        )
    }

    /// The snake_case name used in files and counters.
    pub fn name(self) -> &'static str {
        match self {
            AssessReason::Cut => "cut",
            AssessReason::Corroborated => "corroborated",
            AssessReason::CameraGap => "camera_gap",
            AssessReason::Closing => "closing",
            AssessReason::NothingSeen => "nothing_seen",
            AssessReason::Animals => "animals",
            AssessReason::Herd => "herd",
            AssessReason::TurnedBack => "turned_back",
            AssessReason::Vibration => "vibration",
        }
    }
}

/// One camera's view of an assessed place.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CameraView {
    /// Camera id.
    pub sensor: String,
    /// Range to the place, metres.
    pub range_m: f64,
    /// Its detection probability per scan for a person there.
    pub pd: f64,
    /// Seconds of the assessment window it was known to work (heartbeats); 0 when offline.
    pub working_s: f64,
}

/// How an alarm was assessed: on an alert, why it reached the operator; on an event, why not.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Assessment {
    /// The decision's reason.
    pub reason: AssessReason,
    /// Length of the window the cameras were watched for a cause, seconds.
    pub window_s: f64,
    /// Detections of a person there that the working cameras should have made in the window.
    pub expected_detections: f64,
    /// Cameras in range of the place (offline ones with `working_s` 0).
    #[serde(default)]
    pub cameras: Vec<CameraView>,
    /// Tracks seen there and judged.
    #[serde(default)]
    pub tracks: Vec<u64>,
    /// One line for people.
    pub detail: String,
}

/// What produced an event.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventSource {
    /// A fence climb alarm.
    FenceClimb,
    /// A fence vibration alarm.
    FenceVibration,
    /// An approach to the frontier.
    Approach,
}

impl EventSource {
    /// Every source, in report order.
    pub const ALL: [EventSource; 3] = [
        EventSource::FenceClimb,
        EventSource::FenceVibration,
        EventSource::Approach,
    ];

    /// The kind of alert the event would have been had it not been assessed away: a fence
    /// alarm a `fence_cut` (the kind fence climbs raise), an approach an `approach`. Whoever
    /// may see that alert may see the event, at the same detail.
    pub fn alert_kind(self) -> AlertKind {
        match self {
            EventSource::FenceClimb | EventSource::FenceVibration => AlertKind::FenceCut,
            EventSource::Approach => AlertKind::Approach,
        }
    }

    /// The snake_case name used in files and counters.
    pub fn name(self) -> &'static str {
        match self {
            EventSource::FenceClimb => "fence_climb",
            EventSource::FenceVibration => "fence_vibration",
            EventSource::Approach => "approach",
        }
    }

    /// Parses a [`EventSource::name`].
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.name() == s)
    }
}

/// An alarm assessed and kept from the operators: logged, counted, visible on request (a line
/// of `events.jsonl`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EventRecord {
    /// Event identifier, unique within a run.
    pub id: u64,
    /// What raised it.
    pub source: EventSource,
    /// Time of the alarm (or of the approach evidence).
    pub time: Time,
    /// Time of the decision.
    pub decided: Time,
    /// Where.
    #[serde(flatten)]
    pub pos: Position,
    /// Frontier sector, if on the frontier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sector: Option<String>,
    /// Sensor that raised the alarm (fence controller), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sensor: Option<String>,
    /// Fence zone, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
    /// The held alert it would have been, for approach events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert: Option<u64>,
    /// The assessment.
    pub assessment: Assessment,
    /// One line for people.
    pub summary: String,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::super::{AlertRecord, Incident};
    use super::*;

    #[test]
    fn records_written_before_assessment_still_read_and_events_round_trip() {
        let alert = r#"{"id":1,"rev":1,"kind":"fence_cut","severity":"low","state":"open","time":"2019-10-12T19:47:25.000Z","raised":"2019-10-12T19:47:25.000Z","lon":41.49,"lat":36.53,"count":1,"sensors":["fc022"],"tracks":[],"summary":"Fence climb at fc022/z13, no track yet"}"#;
        let a: AlertRecord = serde_json::from_str(alert).expect("an old alert line");
        assert!(a.assessment.is_none());
        assert!(!serde_json::to_string(&a)
            .expect("json")
            .contains("assessment"));
        let inc = r#"{"id":3,"kind":"infiltration","time":1570000000,"end":1570000000,"lon":41.0,"lat":35.0,"count":4,"subject":"group-2"}"#;
        let i: Incident = serde_json::from_str(inc).expect("an old incident line");
        assert!(i.scenario.is_none());
        let e = EventRecord {
            id: 7,
            source: EventSource::FenceClimb,
            time: Time(1_570_000_000.0),
            decided: Time(1_570_000_065.0),
            pos: Position::LonLat {
                lon: 41.49,
                lat: 36.53,
            },
            sector: Some("S011".into()),
            sensor: Some("fc022".into()),
            zone: Some("fc022/z13".into()),
            alert: None,
            assessment: Assessment {
                reason: AssessReason::NothingSeen,
                window_s: 60.0,
                expected_detections: 29.0,
                cameras: vec![CameraView {
                    sensor: "t020-cam".into(),
                    range_m: 559.0,
                    pd: 0.92,
                    working_s: 60.0,
                }],
                tracks: vec![],
                detail: "nothing there".into(),
            },
            summary: "Fence climb at fc022/z13 assessed: nothing there".into(),
        };
        let line = serde_json::to_string(&e).expect("json");
        assert!(line.contains(r#""reason":"nothing_seen""#), "{line}");
        let back: EventRecord = serde_json::from_str(&line).expect("reads back");
        assert_eq!(back, e);
    }
}
