//! The JSON Lines records every stage reads and writes (schema documented in `docs/schema.md`).

mod assess;
mod check;
mod io;
mod time;

pub use assess::{AssessReason, Assessment, CameraView, EventRecord, EventSource};
pub use check::{FieldError, MAX_CE_M, MAX_COUNT, MAX_HEAT_M2, MAX_ID_LEN};
pub use io::{
    for_each_jsonl, for_each_line, read_jsonl, JsonlWriter, LineReader, ReadError, MAX_LINE,
};
pub use time::Time;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Where a measurement lies: WGS84 degrees, or metres in a plain local frame. Read from
/// `lon` and `lat` or `x` and `y` (see [`PositionFields`]), so a record with neither pair,
/// half of one, or a mix, is refused naming the fields.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged, try_from = "PositionFields")]
pub enum Position {
    /// WGS84 longitude/latitude in degrees.
    LonLat {
        /// Longitude, degrees east.
        lon: f64,
        /// Latitude, degrees north.
        lat: f64,
    },
    /// Metres east (`x`) and north (`y`) in one flat frame shared by the whole file.
    Local {
        /// Metres east.
        x: f64,
        /// Metres north.
        y: f64,
    },
}

/// The fields a [`Position`] is read from; exactly one pair must be there, as numbers.
#[derive(Deserialize)]
pub struct PositionFields {
    lon: Option<Coordinate>,
    lat: Option<Coordinate>,
    x: Option<Coordinate>,
    y: Option<Coordinate>,
}

/// One coordinate as read: a number, or anything else (refused naming its field; a
/// position is read from the record's own fields, where serde cannot name them).
#[derive(Deserialize)]
#[serde(untagged)]
enum Coordinate {
    Number(f64),
    Other(serde::de::IgnoredAny),
}

/// A coordinate's number, if given; the error names `field`.
fn coordinate(c: Option<Coordinate>, field: &str) -> Result<Option<f64>, String> {
    match c {
        None => Ok(None),
        Some(Coordinate::Number(v)) => Ok(Some(v)),
        Some(Coordinate::Other(_)) => Err(format!("field `{field}`: expected a number")),
    }
}

impl TryFrom<PositionFields> for Position {
    type Error = String;

    fn try_from(f: PositionFields) -> Result<Self, String> {
        let (lon, lat) = (coordinate(f.lon, "lon")?, coordinate(f.lat, "lat")?);
        let (x, y) = (coordinate(f.x, "x")?, coordinate(f.y, "y")?);
        match (lon, lat, x, y) {
            (Some(lon), Some(lat), None, None) => Ok(Position::LonLat { lon, lat }),
            (None, None, Some(x), Some(y)) => Ok(Position::Local { x, y }),
            (None, None, None, None) => {
                Err("fields `lon` and `lat` (degrees) or `x` and `y` (metres): a position needs one pair".into())
            }
            (lon, _, None, None) => Err(format!(
                "field `{}`: a position in degrees needs `lon` and `lat`",
                if lon.is_none() { "lon" } else { "lat" }
            )),
            (None, None, x, _) => Err(format!(
                "field `{}`: a position in metres needs `x` and `y`",
                if x.is_none() { "x" } else { "y" }
            )),
            _ => Err("fields `lon`, `lat`, `x`, `y`: a position is either `lon` and `lat` or `x` and `y`, not a mix of the two".into()),
        }
    }
}

/// Probabilities of the three object classes Limes tells apart.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ClassProbs {
    /// Probability that the object is a person.
    #[serde(default)]
    pub person: f64,
    /// Probability that the object is a vehicle.
    #[serde(default)]
    pub vehicle: f64,
    /// Probability that the object is an animal.
    #[serde(default)]
    pub animal: f64,
}

impl ClassProbs {
    /// Uniform belief.
    pub const UNIFORM: ClassProbs = ClassProbs {
        person: 1.0 / 3.0,
        vehicle: 1.0 / 3.0,
        animal: 1.0 / 3.0,
    };

    /// The probabilities as an array in the order person, vehicle, animal.
    pub fn as_array(&self) -> [f64; 3] {
        [self.person, self.vehicle, self.animal]
    }

    /// Builds from an array in the order person, vehicle, animal.
    pub fn from_array(a: [f64; 3]) -> Self {
        Self {
            person: a[0],
            vehicle: a[1],
            animal: a[2],
        }
    }

    /// The most probable class.
    pub fn best(&self) -> ObjectClass {
        let a = self.as_array();
        let mut k = 0;
        for i in 1..3 {
            if a[i] > a[k] {
                k = i;
            }
        }
        [
            ObjectClass::Person,
            ObjectClass::Vehicle,
            ObjectClass::Animal,
        ][k]
    }
}

/// The class of a heat source.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ObjectClass {
    /// A person on foot.
    Person,
    /// A car, truck or motorbike.
    Vehicle,
    /// A sheep, goat, dog or other animal.
    Animal,
}

impl ObjectClass {
    /// The lowercase name used in files and reports.
    pub fn name(self) -> &'static str {
        match self {
            ObjectClass::Person => "person",
            ObjectClass::Vehicle => "vehicle",
            ObjectClass::Animal => "animal",
        }
    }
}

/// One sensor's report of one object at one time.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Detection {
    /// Identifier of the reporting sensor.
    pub sensor: String,
    /// Time of the observation.
    pub time: Time,
    /// Measured position.
    #[serde(flatten)]
    pub pos: Position,
    /// Position error covariance in m² as `[var_east, cov_en, var_north]`; wins over `ce`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cov: Option<[f64; 3]>,
    /// Circular error (1 sigma) in metres, used when `cov` is absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ce: Option<f64>,
    /// The sensor's class guess, if it makes one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class: Option<ClassProbs>,
    /// Apparent heat-signature area in m², if measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heat_m2: Option<f64>,
    /// Number of people an observer reports in this group (observer reports only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
}

/// Kinds of fence alarm a fence zone raises.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FenceAlarmKind {
    /// The wire was cut.
    Cut,
    /// Someone climbed the fence.
    Climb,
    /// The fence shook (wind, animals, or a person).
    Vibration,
}

/// An alarm from one zone of a fence.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FenceAlarm {
    /// Identifier of the fence controller.
    pub sensor: String,
    /// Identifier of the zone within the controller.
    pub zone: String,
    /// Time of the alarm.
    pub time: Time,
    /// Alarm kind.
    pub alarm: FenceAlarmKind,
    /// The zone's end points as `[[lon, lat], [lon, lat]]`.
    pub line: [[f64; 2]; 2],
}

/// A sensor saying "I am alive".
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Heartbeat {
    /// Identifier of the sensor.
    pub sensor: String,
    /// Time the heartbeat was sent.
    pub time: Time,
}

/// Everything a sensor can send: one line of a detections file.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum SensorRecord {
    /// A position report.
    Detection(Detection),
    /// A fence alarm.
    Fence(FenceAlarm),
    /// A heartbeat.
    Heartbeat(Heartbeat),
}

impl SensorRecord {
    /// The record's time.
    pub fn time(&self) -> Time {
        match self {
            SensorRecord::Detection(d) => d.time,
            SensorRecord::Fence(f) => f.time,
            SensorRecord::Heartbeat(h) => h.time,
        }
    }

    /// The sending sensor's identifier.
    pub fn sensor(&self) -> &str {
        match self {
            SensorRecord::Detection(d) => &d.sensor,
            SensorRecord::Fence(f) => &f.sensor,
            SensorRecord::Heartbeat(h) => &h.sensor,
        }
    }

    /// Moves the record to time `t` (replays rebase recorded nights onto a live clock).
    pub fn set_time(&mut self, t: Time) {
        match self {
            SensorRecord::Detection(d) => d.time = t,
            SensorRecord::Fence(f) => f.time = t,
            SensorRecord::Heartbeat(h) => h.time = t,
        }
    }
}

/// Life-cycle state of a track as written by `limes track`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TrackStatus {
    /// Not yet confirmed by M-of-N.
    Tentative,
    /// Confirmed and recently updated.
    Confirmed,
    /// Confirmed but not updated in the last scan it was expected in.
    Coasting,
    /// Deleted; this is the track's last line.
    Deleted,
}

impl TrackStatus {
    /// The lowercase name used in files and reports.
    pub fn name(self) -> &'static str {
        match self {
            TrackStatus::Tentative => "tentative",
            TrackStatus::Confirmed => "confirmed",
            TrackStatus::Coasting => "coasting",
            TrackStatus::Deleted => "deleted",
        }
    }
}

/// One track state after one update: a line of a tracks file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrackRecord {
    /// Track identifier, unique within a run.
    pub id: u64,
    /// Time of the state.
    pub time: Time,
    /// Life-cycle state.
    pub status: TrackStatus,
    /// Estimated position.
    #[serde(flatten)]
    pub pos: Position,
    /// Velocity east/north in m/s.
    pub vel: [f64; 2],
    /// Position covariance in m², `[var_east, cov_en, var_north]`.
    pub cov: [f64; 3],
    /// Fused class probabilities.
    pub class: ClassProbs,
    /// Number of detections associated so far.
    pub hits: u32,
    /// Time of the first detection.
    pub first_seen: Time,
    /// The sensor whose detection produced this update, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sensor: Option<String>,
    /// Time of the last detection, on a status line written later than it (`coasting`,
    /// `deleted`: their `time` is when the status changed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated: Option<Time>,
}

/// Alert kinds raised by the rules.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// A confirmed non-animal track crossed the frontier inward outside a crossing point.
    Infiltration,
    /// A track heads for the frontier and is close to it.
    Approach,
    /// A track left a facility.
    PerimeterBreach,
    /// Many tracks left one facility within a window.
    MassBreakout,
    /// A fence zone reported a cut or climb.
    FenceCut,
    /// One or more sensors stopped sending heartbeats.
    SensorOffline,
}

impl AlertKind {
    /// All kinds, in report order.
    pub const ALL: [AlertKind; 6] = [
        AlertKind::Infiltration,
        AlertKind::Approach,
        AlertKind::PerimeterBreach,
        AlertKind::MassBreakout,
        AlertKind::FenceCut,
        AlertKind::SensorOffline,
    ];

    /// True for kinds about people or vehicles where they should not be (every kind but a
    /// sensor fault); CoT sends them as geo-fence alarms (`b-a-g`).
    pub fn is_intrusion(self) -> bool {
        !matches!(self, AlertKind::SensorOffline)
    }

    /// True for kinds whose tracks are hostile (CoT `a-h-G`): an infiltration across the
    /// frontier and a mass breakout. A single perimeter breach, an approach or a fence cut
    /// does not make its tracks hostile.
    pub fn marks_tracks_hostile(self) -> bool {
        matches!(self, AlertKind::Infiltration | AlertKind::MassBreakout)
    }

    /// The snake_case name used in files and reports.
    pub fn name(self) -> &'static str {
        match self {
            AlertKind::Infiltration => "infiltration",
            AlertKind::Approach => "approach",
            AlertKind::PerimeterBreach => "perimeter_breach",
            AlertKind::MassBreakout => "mass_breakout",
            AlertKind::FenceCut => "fence_cut",
            AlertKind::SensorOffline => "sensor_offline",
        }
    }
}

/// How urgent an alert is.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth a look.
    Low,
    /// Needs an operator.
    Medium,
    /// Needs a response.
    High,
    /// Needs everyone.
    Critical,
}

impl Severity {
    /// The lowercase name used in files and reports.
    pub fn name(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

/// Whether an alert is still live.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertState {
    /// The incident is going on.
    Open,
    /// The incident is over (track gone, sensor back).
    Closed,
}

impl AlertState {
    /// The lowercase name used in files and reports.
    pub fn name(self) -> &'static str {
        match self {
            AlertState::Open => "open",
            AlertState::Closed => "closed",
        }
    }
}

/// Detect–delay–respond figures carried by every alert that has an intruder.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Ddr {
    /// Time the intruder was first detected.
    pub first_detected: Time,
    /// Name of the next line the intruder is heading for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_line: Option<String>,
    /// Intruder's estimated time to that line, seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_to_line_s: Option<f64>,
    /// Nearest response unit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// That unit's estimated time of arrival, seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit_eta_s: Option<f64>,
    /// True when the unit arrives before the intruder reaches the line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interruptible: Option<bool>,
}

/// One revision of one alert: a line of an alerts file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlertRecord {
    /// Alert identifier; all revisions of one incident share it.
    pub id: u64,
    /// Revision number, from 1.
    pub rev: u32,
    /// Kind (may escalate, e.g. perimeter breach → mass breakout).
    pub kind: AlertKind,
    /// Severity.
    pub severity: Severity,
    /// Open or closed.
    pub state: AlertState,
    /// Time of this revision.
    pub time: Time,
    /// Time the alert was first raised.
    pub raised: Time,
    /// Where the incident is (latest estimate).
    #[serde(flatten)]
    pub pos: Position,
    /// Estimated number of people (or sensors, for offline alerts) involved.
    pub count: u32,
    /// Most likely class of the intruders, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class: Option<ObjectClass>,
    /// Frontier sector, if on the frontier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sector: Option<String>,
    /// Facility, if at a facility.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub facility: Option<String>,
    /// Sensors that contributed.
    #[serde(default)]
    pub sensors: Vec<String>,
    /// Tracks that contributed.
    #[serde(default)]
    pub tracks: Vec<u64>,
    /// Detect–delay–respond figures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ddr: Option<Ddr>,
    /// One line for the operator.
    pub summary: String,
    /// How the alarm behind it was assessed (fence alarms and approaches): why it reached an
    /// operator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assessment: Option<Assessment>,
}

/// What a ground-truth object is, as the simulator knows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TruthRole {
    /// Member of a group crossing the frontier illegally.
    Infiltrator,
    /// Herder with a flock.
    Herder,
    /// Animal of a flock.
    Flock,
    /// Stray animal.
    Stray,
    /// Vehicle on a road.
    Vehicle,
    /// Person or vehicle crossing at an authorised crossing.
    Legal,
    /// Person leaving a facility in a breakout.
    Escapee,
    /// Guard or manager.
    Guard,
}

impl TruthRole {
    /// The class of object that plays this role.
    pub fn class(self) -> ObjectClass {
        match self {
            TruthRole::Flock | TruthRole::Stray => ObjectClass::Animal,
            TruthRole::Vehicle | TruthRole::Legal => ObjectClass::Vehicle,
            _ => ObjectClass::Person,
        }
    }

    /// The snake_case name used in files and reports.
    pub fn name(self) -> &'static str {
        match self {
            TruthRole::Infiltrator => "infiltrator",
            TruthRole::Herder => "herder",
            TruthRole::Flock => "flock",
            TruthRole::Stray => "stray",
            TruthRole::Vehicle => "vehicle",
            TruthRole::Legal => "legal",
            TruthRole::Escapee => "escapee",
            TruthRole::Guard => "guard",
        }
    }

    /// True for roles whose alerts are real incidents rather than nuisances.
    pub fn is_threat(self) -> bool {
        matches!(self, TruthRole::Infiltrator | TruthRole::Escapee)
    }
}

/// Position of one real object at one time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TruthState {
    /// Object identifier.
    pub id: u64,
    /// Time.
    pub time: Time,
    /// True position.
    #[serde(flatten)]
    pub pos: Position,
    /// True class.
    pub class: ObjectClass,
    /// Role in the scenario.
    pub role: TruthRole,
    /// Whether any working sensor could see the object at this time.
    pub visible: bool,
}

/// Kinds of incident the simulator stages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IncidentKind {
    /// A group crossed the frontier.
    Infiltration,
    /// People left a facility en masse.
    Breakout,
    /// A sensor went silent.
    SensorOffline,
    /// A harmless stimulus (wind, animal) shook a fence.
    FenceNuisance,
    /// Someone cut the fence and went back without crossing (it must alert: a cut fence is an
    /// incident).
    Probing,
}

/// A real incident, for scoring alerts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    /// Incident identifier.
    pub id: u64,
    /// Kind.
    pub kind: IncidentKind,
    /// When it started (crossing time, first exit, last heartbeat).
    pub time: Time,
    /// When it ended.
    pub end: Time,
    /// Where it happened.
    #[serde(flatten)]
    pub pos: Position,
    /// People (or sensors) involved.
    pub count: u32,
    /// Facility or sensor concerned, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// The named adversarial scenario that staged it (`crawl`, `decoy`, …); absent for the
    /// usual traffic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scenario: Option<String>,
}

/// One line of a truth file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum TruthRecord {
    /// An object's state.
    State(TruthState),
    /// An incident.
    Incident(Incident),
}

/// Free-form labels (sensor → contribution count and the like) kept sorted for stable output.
pub type Counts = BTreeMap<String, u64>;
