//! The typed forms an organisation receives. Each serialises to the JSON the REST API, the
//! event stream and webhooks send; CoT and CAP encode the same values in their own formats.

use limes_core::record::{
    AlertKind, AlertState, ClassProbs, Ddr, ObjectClass, Position, Severity, Time, TrackRecord,
    TrackStatus,
};
use limes_core::site::FacilityStatus;
use serde::{Serialize, Serializer};

use super::item::{AlertView, FacilityView, Lifecycle};

/// A released item.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Out {
    /// A track.
    Track(TrackOut),
    /// An alert.
    Alert(AlertOut),
    /// A facility.
    Facility(FacilityOut),
    /// An assessed event.
    Event(super::EventOut),
}

impl Out {
    /// The opaque id (tracks, alerts) or the facility id.
    pub fn id(&self) -> &str {
        match self {
            Out::Track(TrackOut::Full(t)) => &t.id,
            Out::Track(TrackOut::Coarse(t)) => &t.id,
            Out::Alert(a) => a.base_id(),
            Out::Facility(FacilityOut::Full(f)) => &f.id,
            Out::Facility(FacilityOut::Summary(f)) => &f.id,
            Out::Event(e) => e.base_id(),
        }
    }
}

/// A track, in full or coarsened.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum TrackOut {
    /// Everything the tracker knows.
    Full(FullTrack),
    /// Position snapped to a grid, speed, class; no covariance, sensors or hit counts.
    Coarse(CoarseTrack),
}

impl TrackOut {
    /// The time of the state.
    pub fn time(&self) -> Time {
        match self {
            TrackOut::Full(t) => t.rec.time,
            TrackOut::Coarse(t) => t.time,
        }
    }

    /// The life-cycle state.
    pub fn status(&self) -> TrackStatus {
        match self {
            TrackOut::Full(t) => t.rec.status,
            TrackOut::Coarse(t) => t.status,
        }
    }

    /// The most probable class.
    pub fn class(&self) -> ObjectClass {
        match self {
            TrackOut::Full(t) => t.rec.class.best(),
            TrackOut::Coarse(t) => t.class,
        }
    }

    /// Whether the track is part of an open hostile-kind alert released to the organisation.
    pub fn hostile(&self) -> bool {
        match self {
            TrackOut::Full(t) => t.hostile,
            TrackOut::Coarse(t) => t.hostile,
        }
    }
}

/// A track in full, under its opaque id.
#[derive(Clone, Debug, PartialEq)]
pub struct FullTrack {
    /// Opaque id.
    pub id: String,
    /// Part of an open hostile-kind alert released to the organisation.
    pub hostile: bool,
    /// The tracker's state (its `id` is never sent).
    pub rec: TrackRecord,
}

#[derive(Serialize, utoipa::ToSchema)]
struct FullTrackWire<'a> {
    id: &'a str,
    time: Time,
    status: TrackStatus,
    #[serde(flatten)]
    pos: &'a Position,
    vel: [f64; 2],
    cov: [f64; 3],
    class: &'a ClassProbs,
    hits: u32,
    first_seen: Time,
    #[serde(skip_serializing_if = "Option::is_none")]
    sensor: Option<&'a str>,
    hostile: bool,
}

impl utoipa::PartialSchema for FullTrack {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        <FullTrackWire<'static> as utoipa::PartialSchema>::schema()
    }
}

impl utoipa::ToSchema for FullTrack {
    fn schemas(
        schemas: &mut Vec<(
            String,
            utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
        )>,
    ) {
        <FullTrackWire<'static> as utoipa::ToSchema>::schemas(schemas);
    }
}

impl Serialize for FullTrack {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let r = &self.rec;
        FullTrackWire {
            id: &self.id,
            time: r.time,
            status: r.status,
            pos: &r.pos,
            vel: r.vel,
            cov: r.cov,
            class: &r.class,
            hits: r.hits,
            first_seen: r.first_seen,
            sensor: r.sensor.as_deref(),
            hostile: self.hostile,
        }
        .serialize(s)
    }
}

/// A coarsened track.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct CoarseTrack {
    /// Opaque id.
    pub id: String,
    /// Time of the state.
    pub time: Time,
    /// Life-cycle state.
    pub status: TrackStatus,
    /// Longitude of the grid cell's centre.
    pub lon: f64,
    /// Latitude of the grid cell's centre.
    pub lat: f64,
    /// Speed, m/s, to the nearest 0.5.
    pub speed: f64,
    /// Most probable class.
    pub class: ObjectClass,
    /// Time of the first detection.
    pub first_seen: Time,
    /// Part of an open hostile-kind alert released to the organisation.
    pub hostile: bool,
}

/// An alert in full, coarsened or as a summary.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum AlertOut {
    /// Everything, with the life cycle.
    Full(Box<FullAlert>),
    /// The summary plus a snapped position, class and time to line.
    Coarse(CoarseAlert),
    /// Kind, severity, count, state, status, times, place names and a plain summary.
    Summary(SummaryAlert),
}

impl AlertOut {
    /// The caller's opaque id of the alert.
    pub fn base_id(&self) -> &str {
        match self {
            AlertOut::Full(a) => &a.id,
            AlertOut::Coarse(a) => &a.base.id,
            AlertOut::Summary(a) => &a.id,
        }
    }

    /// Revision number.
    pub fn rev(&self) -> u32 {
        match self {
            AlertOut::Full(a) => a.view.alert.rev,
            AlertOut::Coarse(a) => a.base.rev,
            AlertOut::Summary(a) => a.rev,
        }
    }

    /// Kind.
    pub fn kind(&self) -> AlertKind {
        match self {
            AlertOut::Full(a) => a.view.alert.kind,
            AlertOut::Coarse(a) => a.base.kind,
            AlertOut::Summary(a) => a.kind,
        }
    }

    /// The operators' life-cycle state as released (a partner given less than full sees
    /// only new or resolved).
    pub fn status(&self) -> Lifecycle {
        match self {
            AlertOut::Full(a) => a.view.life.status,
            AlertOut::Coarse(a) => a.base.status,
            AlertOut::Summary(a) => a.status,
        }
    }

    /// The fields every detail carries.
    pub fn summary(&self) -> SummaryAlert {
        match self {
            AlertOut::Full(a) => {
                let r = &a.view.alert;
                SummaryAlert {
                    id: a.id.clone(),
                    rev: r.rev,
                    kind: r.kind,
                    severity: r.severity,
                    state: r.state,
                    time: r.time,
                    raised: r.raised,
                    count: r.count,
                    status: a.view.life.status,
                    facility: r.facility.clone(),
                    sector: r.sector.clone(),
                    summary: r.summary.clone(),
                }
            }
            AlertOut::Coarse(a) => a.base.clone(),
            AlertOut::Summary(a) => a.clone(),
        }
    }
}

/// An alert in full, under opaque alert and track ids.
#[derive(Clone, Debug, PartialEq)]
pub struct FullAlert {
    /// Opaque id.
    pub id: String,
    /// The contributing tracks' opaque ids.
    pub tracks: Vec<String>,
    /// The alert with its life cycle (its internal ids are never sent).
    pub view: AlertView,
}

#[derive(Serialize, utoipa::ToSchema)]
struct FullAlertWire<'a> {
    id: &'a str,
    rev: u32,
    kind: AlertKind,
    severity: Severity,
    state: AlertState,
    time: Time,
    raised: Time,
    #[serde(flatten)]
    pos: &'a Position,
    count: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    class: Option<ObjectClass>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sector: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    facility: Option<&'a str>,
    sensors: &'a [String],
    tracks: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    ddr: Option<&'a Ddr>,
    summary: &'a str,
    #[serde(flatten)]
    life: &'a super::item::AlertLife,
}

impl utoipa::PartialSchema for FullAlert {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        <FullAlertWire<'static> as utoipa::PartialSchema>::schema()
    }
}

impl utoipa::ToSchema for FullAlert {
    fn schemas(
        schemas: &mut Vec<(
            String,
            utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
        )>,
    ) {
        <FullAlertWire<'static> as utoipa::ToSchema>::schemas(schemas);
    }
}

impl Serialize for FullAlert {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let a = &self.view.alert;
        FullAlertWire {
            id: &self.id,
            rev: a.rev,
            kind: a.kind,
            severity: a.severity,
            state: a.state,
            time: a.time,
            raised: a.raised,
            pos: &a.pos,
            count: a.count,
            class: a.class,
            sector: a.sector.as_deref(),
            facility: a.facility.as_deref(),
            sensors: &a.sensors,
            tracks: &self.tracks,
            ddr: a.ddr.as_ref(),
            summary: &a.summary,
            life: &self.view.life,
        }
        .serialize(s)
    }
}

/// The fields of an alert every detail carries; no position, sensors or tracks.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct SummaryAlert {
    /// Opaque id.
    pub id: String,
    /// Revision number.
    pub rev: u32,
    /// Kind.
    pub kind: AlertKind,
    /// Severity.
    pub severity: Severity,
    /// Open or closed.
    pub state: AlertState,
    /// Time of this revision.
    pub time: Time,
    /// Time first raised.
    pub raised: Time,
    /// People (or sensors) involved.
    pub count: u32,
    /// Operators' life-cycle state.
    pub status: Lifecycle,
    /// Facility, if at one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub facility: Option<String>,
    /// Frontier sector, if on the frontier.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sector: Option<String>,
    /// A plain line with no sensor, track or unit names.
    pub summary: String,
}

/// A coarsened alert.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct CoarseAlert {
    /// The summary fields.
    #[serde(flatten)]
    pub base: SummaryAlert,
    /// Longitude of the grid cell's centre.
    pub lon: f64,
    /// Latitude of the grid cell's centre.
    pub lat: f64,
    /// Most likely class of the intruders.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub class: Option<ObjectClass>,
    /// When first detected and the time to the next line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ddr: Option<CoarseDdr>,
}

/// The detect–delay–respond figures a coarse release carries (no unit names).
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct CoarseDdr {
    /// Time the intruder was first detected.
    pub first_detected: Time,
    /// Estimated time to the next line, seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_to_line_s: Option<f64>,
}

/// A facility in full or as a summary.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum FacilityOut {
    /// Everything, with its position.
    Full(FacilityView),
    /// Status and counts, no position.
    Summary(FacilitySummary),
}

/// A facility's status and counts.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct FacilitySummary {
    /// Identifier.
    pub id: String,
    /// Name.
    pub name: String,
    /// Status.
    pub status: FacilityStatus,
    /// Population on record.
    pub population: u32,
    /// Estimated exits since.
    pub exits: u32,
    /// Estimated population now.
    pub estimate: u32,
}
