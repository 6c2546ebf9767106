//! What the server publishes: tracks, alerts with their life cycle, and facility status, as the
//! hub holds them before any release decision.

use limes_core::record::{AlertRecord, EventRecord, TrackRecord};
use limes_core::site::FacilityStatus;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Where an alert is in its life: new → acknowledged → assigned → resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Lifecycle {
    /// Nobody has looked at it.
    New,
    /// An operator has seen it.
    Acknowledged,
    /// A response unit is on it.
    Assigned,
    /// Closed by an operator, with a reason.
    Resolved,
}

impl Lifecycle {
    /// The lowercase name stored and sent.
    pub fn name(self) -> &'static str {
        match self {
            Lifecycle::New => "new",
            Lifecycle::Acknowledged => "acknowledged",
            Lifecycle::Assigned => "assigned",
            Lifecycle::Resolved => "resolved",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        [
            Lifecycle::New,
            Lifecycle::Acknowledged,
            Lifecycle::Assigned,
            Lifecycle::Resolved,
        ]
        .into_iter()
        .find(|l| l.name() == s)
    }
}

/// The operators' side of an alert: its life-cycle state and who set it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AlertLife {
    /// Life-cycle state.
    pub status: Lifecycle,
    /// Response unit assigned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// Why it was resolved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution: Option<String>,
    /// Operator's note.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Who made the last life-cycle change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changed_by: Option<String>,
    /// Number of life-cycle changes so far; a change only replaces an older one.
    #[serde(skip)]
    pub version: u64,
}

impl Default for AlertLife {
    fn default() -> Self {
        Self {
            status: Lifecycle::New,
            unit: None,
            resolution: None,
            note: None,
            changed_by: None,
            version: 0,
        }
    }
}

/// An alert with its life cycle, as the store and the hub hold it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlertView {
    /// The latest revision from the rules.
    #[serde(flatten)]
    pub alert: AlertRecord,
    /// The operators' side.
    #[serde(flatten)]
    pub life: AlertLife,
}

/// A facility's live status: the site's record, operators' updates and the rules' estimate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FacilityView {
    /// Identifier.
    pub id: String,
    /// Name.
    pub name: String,
    /// Status.
    pub status: FacilityStatus,
    /// Population on record (site file, or the last head count).
    pub population: u32,
    /// Estimated people who left since that count.
    pub exits: u32,
    /// Estimated population now.
    pub estimate: u32,
    /// Guards on duty, as last reported.
    pub guards: u32,
    /// Operator's note.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Who made the last change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changed_by: Option<String>,
    /// Centre of the facility.
    pub lon: f64,
    /// Centre of the facility.
    pub lat: f64,
    /// Distance from the centre to the farthest perimeter point, metres.
    #[serde(skip)]
    pub radius_m: f64,
}

/// A published track state, with the open alerts that make it hostile (decided once, when the
/// update is published, so every client of an organisation sees the same type).
#[derive(Clone, Debug, PartialEq)]
pub struct TrackItem {
    /// The state.
    pub rec: TrackRecord,
    /// Open alerts of a hostile kind ([`limes_core::record::AlertKind::marks_tracks_hostile`])
    /// that contain this track; it is hostile to an organisation that is released one of them.
    pub hostile_in: Vec<Arc<AlertView>>,
}

/// Anything the server publishes.
#[derive(Clone, Debug)]
pub enum Item {
    /// A track state.
    Track(Arc<TrackItem>),
    /// An alert (latest revision and life cycle).
    Alert(Arc<AlertView>),
    /// An alert whose life cycle an operator changed (acknowledged, assigned, resolved):
    /// released only to organisations given the alert in full, and to the others once it is
    /// resolved (all they are told of its life cycle).
    AlertLife(Arc<AlertView>),
    /// A facility's status.
    Facility(Arc<FacilityView>),
    /// An assessed alarm kept from the operators (released as the alert it would have been).
    Event(Arc<EventRecord>),
}

/// The kinds of data the policy distinguishes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DataKind {
    /// Tracks.
    Track,
    /// Alerts.
    Alert,
    /// Facility status.
    Facility,
    /// Assessed events.
    Event,
}

impl DataKind {
    /// The lowercase name (event names on the stream).
    pub fn name(self) -> &'static str {
        match self {
            DataKind::Track => "track",
            DataKind::Alert => "alert",
            DataKind::Facility => "facility",
            DataKind::Event => "event",
        }
    }
}

impl Item {
    /// The item's kind.
    pub fn kind(&self) -> DataKind {
        match self {
            Item::Track(_) => DataKind::Track,
            Item::Alert(_) | Item::AlertLife(_) => DataKind::Alert,
            Item::Facility(_) => DataKind::Facility,
            Item::Event(_) => DataKind::Event,
        }
    }
}
