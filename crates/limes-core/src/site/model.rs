//! Site types after loading and expansion.

use serde::Deserialize;

use crate::geo::{LonLat, Side};
use crate::rules::RulesConfig;
use crate::site::ScenarioConfig;
use crate::track::TrackerConfig;

/// A loaded, expanded and validated site.
#[derive(Clone, Debug)]
pub struct Site {
    /// Short name (`frontier`, `ain-issa`).
    pub name: String,
    /// One sentence for people.
    pub description: String,
    /// The frontier, if the site watches one.
    pub frontier: Option<Frontier>,
    /// Authorised crossing points.
    pub crossings: Vec<Crossing>,
    /// Guarded facilities.
    pub facilities: Vec<Facility>,
    /// Lines an intruder heads for (roads, towns), for time-to-line.
    pub lines: Vec<NamedLine>,
    /// Response units.
    pub units: Vec<Unit>,
    /// All sensors, generated ones included.
    pub sensors: Vec<Sensor>,
    /// Tracker settings.
    pub tracker: TrackerConfig,
    /// Alert rule thresholds.
    pub rules: RulesConfig,
    /// What the simulator stages on this site.
    pub scenario: ScenarioConfig,
    /// Partner organisations and what is released to each.
    pub orgs: Vec<super::Org>,
}

impl Site {
    /// Geodesic length of the frontier, km.
    pub fn frontier_km(&self) -> Option<f64> {
        self.frontier.as_ref().map(|f| {
            f.line
                .windows(2)
                .map(|w| w[0].distance_m(&w[1]))
                .sum::<f64>()
                / 1000.0
        })
    }

    /// The lines a map draws under the tracks: frontier, facility perimeters, named lines.
    pub fn backdrop(&self) -> Vec<Vec<LonLat>> {
        let mut lines: Vec<Vec<LonLat>> = self.frontier.iter().map(|f| f.line.clone()).collect();
        lines.extend(self.facilities.iter().map(Facility::ring));
        lines.extend(self.lines.iter().map(|l| l.line.clone()));
        lines
    }
}

/// The frontier line.
#[derive(Clone, Debug)]
pub struct Frontier {
    /// Name for people.
    pub name: String,
    /// Vertices, WGS84.
    pub line: Vec<LonLat>,
    /// Which side of the line (walking its vertex order) is outside.
    pub outside: Side,
    /// Sector length in km (sectors are numbered from the line's first vertex).
    pub sector_km: f64,
}

/// An authorised crossing point; crossing within its radius is not an incident.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Crossing {
    /// Identifier.
    pub id: String,
    /// Name for people.
    pub name: String,
    /// Longitude.
    pub lon: f64,
    /// Latitude.
    pub lat: f64,
    /// Radius within which crossing is authorised, metres.
    #[serde(default = "default_crossing_radius")]
    pub radius_m: f64,
}

fn default_crossing_radius() -> f64 {
    2000.0
}

/// Status of a facility.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FacilityStatus {
    /// Guarded and intact.
    Secure,
    /// Under threat (shelling nearby, guards thinning).
    Threatened,
    /// Guards and managers have left.
    Abandoned,
    /// People have broken out.
    Breached,
}

impl FacilityStatus {
    /// The lowercase name used in files and the API.
    pub fn name(self) -> &'static str {
        match self {
            FacilityStatus::Secure => "secure",
            FacilityStatus::Threatened => "threatened",
            FacilityStatus::Abandoned => "abandoned",
            FacilityStatus::Breached => "breached",
        }
    }
}

/// A guarded facility (camp or prison) with aggregate, anonymous head counts.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Facility {
    /// Identifier.
    pub id: String,
    /// Name for people.
    pub name: String,
    /// Closed perimeter ring `[[lon, lat], …]` (first point repeated last).
    pub perimeter: Vec<[f64; 2]>,
    /// Gates `[[lon, lat], …]`.
    #[serde(default)]
    pub gates: Vec<[f64; 2]>,
    /// Aggregate population by category (e.g. women, children, men); no identities.
    #[serde(default)]
    pub population: std::collections::BTreeMap<String, u32>,
    /// Number of guards on duty.
    #[serde(default)]
    pub guards: u32,
    /// Current status.
    #[serde(default = "default_status")]
    pub status: FacilityStatus,
}

fn default_status() -> FacilityStatus {
    FacilityStatus::Secure
}

impl Facility {
    /// Total population across categories.
    pub fn population_total(&self) -> u32 {
        self.population.values().sum()
    }

    /// The perimeter as positions.
    pub fn ring(&self) -> Vec<LonLat> {
        self.perimeter
            .iter()
            .map(|p| LonLat::new(p[0], p[1]))
            .collect()
    }

    /// Mean of the perimeter vertices (without the closing repeat).
    pub fn centre(&self) -> LonLat {
        let pts = &self.perimeter[..self.perimeter.len().saturating_sub(1).max(1)];
        let n = pts.len() as f64;
        LonLat::new(
            pts.iter().map(|p| p[0]).sum::<f64>() / n,
            pts.iter().map(|p| p[1]).sum::<f64>() / n,
        )
    }
}

/// A line an intruder heads for: a road, a town's edge.
#[derive(Clone, Debug)]
pub struct NamedLine {
    /// Identifier.
    pub id: String,
    /// Name for people.
    pub name: String,
    /// Vertices.
    pub line: Vec<LonLat>,
}

/// A response unit.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Unit {
    /// Identifier.
    pub id: String,
    /// Name for people.
    pub name: String,
    /// Longitude of its post.
    pub lon: f64,
    /// Latitude of its post.
    pub lat: f64,
    /// Speed over ground, km/h.
    pub speed_kmh: f64,
    /// Time from alert to moving, seconds.
    #[serde(default = "default_reaction")]
    pub reaction_s: f64,
    /// Route length over straight-line distance.
    #[serde(default = "default_route_factor")]
    pub route_factor: f64,
}

fn default_reaction() -> f64 {
    180.0
}
fn default_route_factor() -> f64 {
    1.3
}

impl Unit {
    /// Post position.
    pub fn pos(&self) -> LonLat {
        LonLat::new(self.lon, self.lat)
    }

    /// Estimated time to reach `target`, seconds.
    pub fn eta_s(&self, target: LonLat) -> f64 {
        self.eta_for(self.pos().distance_m(&target))
    }

    /// A cheap lower bound of [`Unit::eta_s`] (from the great-circle distance less 1 %).
    pub fn eta_lower_bound_s(&self, target: LonLat) -> f64 {
        self.eta_for(0.99 * self.pos().sphere_distance_m(&target))
    }

    fn eta_for(&self, straight_m: f64) -> f64 {
        self.reaction_s + straight_m * self.route_factor / (self.speed_kmh / 3.6)
    }
}

/// A sensor with its kind-specific model.
#[derive(Clone, Debug)]
pub struct Sensor {
    /// Identifier, unique in the site.
    pub id: String,
    /// The organisation whose credentials may send for it (none: only the deployment owner).
    pub org: Option<String>,
    /// Where it stands.
    pub pos: LonLat,
    /// Heartbeat period, seconds.
    pub heartbeat_s: f64,
    /// Kind and model.
    pub kind: SensorKind,
}

/// Sensor kinds and their models.
#[derive(Clone, Debug)]
pub enum SensorKind {
    /// A thermal camera on a tower.
    Camera(CameraModel),
    /// A person on a tower reporting what they see, with a count.
    Observer(ObserverModel),
    /// A fence controller with its zones.
    Fence(FenceModel),
}

impl SensorKind {
    /// Name for reports.
    pub fn name(&self) -> &'static str {
        match self {
            SensorKind::Camera(_) => "thermal_camera",
            SensorKind::Observer(_) => "observer",
            SensorKind::Fence(_) => "fence",
        }
    }
}

/// A thermal camera's detection and error model.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CameraModel {
    /// Height of the camera above ground, metres.
    pub height_m: f64,
    /// Centre of the field of regard, degrees clockwise from north.
    pub azimuth_deg: f64,
    /// Width of the field of regard, degrees (360 for all round).
    pub fov_deg: f64,
    /// Maximum range, metres.
    pub range_m: f64,
    /// Detection probability per scan at short range.
    pub pd_max: f64,
    /// Range at which the detection probability has halved, metres.
    pub range_half_m: f64,
    /// Position error (1 sigma) at zero range, metres.
    pub sigma0_m: f64,
    /// Growth of the position error with range, metres per km.
    pub sigma_per_km: f64,
    /// Mean number of false detections per scan.
    pub clutter_per_scan: f64,
    /// Time between scans, seconds.
    pub scan_s: f64,
    /// Probability that the reported top class is the true one.
    pub class_accuracy: f64,
}

impl Default for CameraModel {
    fn default() -> Self {
        Self {
            height_m: 15.0,
            azimuth_deg: 0.0,
            fov_deg: 360.0,
            range_m: 10_000.0,
            pd_max: 0.92,
            range_half_m: 9_000.0,
            sigma0_m: 2.0,
            sigma_per_km: 3.0,
            clutter_per_scan: 0.05,
            scan_s: 5.0,
            class_accuracy: 0.7,
        }
    }
}

impl CameraModel {
    /// Detection probability at a range.
    pub fn pd(&self, range_m: f64) -> f64 {
        if range_m > self.range_m {
            return 0.0;
        }
        self.pd_max / (1.0 + (range_m / self.range_half_m).powi(4))
    }

    /// Position error (1 sigma) at a range, metres.
    pub fn sigma(&self, range_m: f64) -> f64 {
        self.sigma0_m + self.sigma_per_km * range_m / 1000.0
    }

    /// True when a bearing (degrees from north) lies in the field of regard.
    pub fn covers_bearing(&self, bearing_deg: f64) -> bool {
        if self.fov_deg >= 360.0 {
            return true;
        }
        let d = (bearing_deg - self.azimuth_deg + 540.0).rem_euclid(360.0) - 180.0;
        d.abs() <= self.fov_deg / 2.0
    }
}

/// A tower observer's reporting model.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ObserverModel {
    /// How far the observer sees people at night with binoculars, metres.
    pub range_m: f64,
    /// Time between reports, seconds.
    pub report_s: f64,
    /// Probability of reporting a group in range in one report.
    pub pd: f64,
    /// Circular error of a report, metres.
    pub ce_m: f64,
}

impl Default for ObserverModel {
    fn default() -> Self {
        Self {
            range_m: 3_000.0,
            report_s: 120.0,
            pd: 0.5,
            ce_m: 250.0,
        }
    }
}

/// One zone of a fence.
#[derive(Clone, Debug)]
pub struct FenceZone {
    /// Identifier within the controller.
    pub id: String,
    /// One end.
    pub a: LonLat,
    /// The other end.
    pub b: LonLat,
}

/// A fence controller: zones, detection and nuisance model.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FenceModel {
    /// Zones, generated by `[[fence_lines]]` (not written in the file).
    #[serde(skip)]
    pub zones: Vec<FenceZone>,
    /// Probability that a cut is reported.
    pub pd_cut: f64,
    /// Probability that a climb is reported.
    pub pd_climb: f64,
    /// Wind and animal nuisance alarms per zone per hour.
    pub nuisance_per_zone_h: f64,
}

impl Default for FenceModel {
    fn default() -> Self {
        Self {
            zones: Vec::new(),
            pd_cut: 0.95,
            pd_climb: 0.8,
            nuisance_per_zone_h: 0.004,
        }
    }
}
