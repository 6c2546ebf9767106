//! Partner organisations and the release policy: which kinds of data each receives, at what
//! detail, and where. The server applies it (`limes_server::release`); the site file states it.

use serde::{Deserialize, Serialize};

use crate::record::AlertKind;

/// How much of one kind of data an organisation receives.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Detail {
    /// Nothing of this kind.
    #[default]
    None,
    /// Counts, kinds, times and facility; no positions, tracks or sensors.
    Summary,
    /// Positions snapped to the organisation's `coarsen_m` grid; no sensor or track ids.
    Coarse,
    /// Everything.
    Full,
}

/// Where an organisation's tracks and positioned alerts must lie to be released to it.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseArea {
    /// Within this many km of the frontier.
    pub frontier_km: Option<f64>,
    /// And on this side of it (`inside`, `outside`); both sides when absent.
    pub side: Option<FrontierSide>,
    /// Or: within `facility_km` of this facility.
    pub facility: Option<String>,
    /// Distance from the facility's centre, km.
    pub facility_km: Option<f64>,
}

/// A part of the site's own geometry that may be released to an organisation. The site is data
/// too: a partner that learns where the cameras look learns where they do not.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Geometry {
    /// Sensor positions and kinds, with their health (silent or reporting).
    Sensors,
    /// Each camera's field of view (azimuth, width, range); needs `sensors`.
    FieldsOfView,
    /// Fence zones (end points of each zone of each controller).
    FenceZones,
    /// Response units' posts and speeds.
    Units,
}

/// A side of the frontier, relative to the watched territory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FrontierSide {
    /// The watched territory.
    Inside,
    /// Across the line.
    Outside,
}

/// A facility field an operator may set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FacilityField {
    /// The facility's status (secure, threatened, abandoned, breached).
    Status,
    /// A head count.
    HeadCount,
    /// Guards on duty.
    Guards,
    /// A note.
    Note,
}

impl FacilityField {
    /// The snake_case name.
    pub fn name(self) -> &'static str {
        match self {
            FacilityField::Status => "status",
            FacilityField::HeadCount => "head_count",
            FacilityField::Guards => "guards",
            FacilityField::Note => "note",
        }
    }
}

/// A partner organisation and what is released to it.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Org {
    /// Short identifier (`ibf`, `sdf`, `unhcr`), used in tokens and audit entries.
    pub id: String,
    /// Name for people.
    pub name: String,
    /// Detail of tracks released.
    #[serde(default)]
    pub tracks: Detail,
    /// Detail of alerts released.
    #[serde(default)]
    pub alerts: Detail,
    /// Detail of facility status (population, exits, status) released.
    #[serde(default)]
    pub facilities: Detail,
    /// Alert kinds released; all kinds when empty.
    #[serde(default)]
    pub alert_kinds: Vec<AlertKind>,
    /// Grid size for `coarse` positions, metres.
    #[serde(default = "default_coarsen")]
    pub coarsen_m: f64,
    /// Where released tracks and positioned alerts must lie; anywhere when absent.
    pub area: Option<ReleaseArea>,
    /// Webhook address for alerts released to this organisation.
    pub webhook: Option<String>,
    /// Parts of the site's geometry released (within `area`); none when empty.
    #[serde(default)]
    pub geometry: Vec<Geometry>,
    /// Facility fields this organisation's operators may set (none by default), on facilities
    /// it is released in full.
    #[serde(default)]
    pub facility_writes: Vec<FacilityField>,
}

fn default_coarsen() -> f64 {
    1000.0
}

impl Org {
    /// Whether this part of the site's geometry is released.
    pub fn sees(&self, g: Geometry) -> bool {
        self.geometry.contains(&g)
    }

    /// Whether alerts of `kind` are released at all.
    pub fn receives_kind(&self, kind: AlertKind) -> bool {
        self.alerts != Detail::None
            && (self.alert_kinds.is_empty() || self.alert_kinds.contains(&kind))
    }
}
