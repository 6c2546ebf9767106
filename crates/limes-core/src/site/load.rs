//! Reading a site file: TOML → raw structs → validated, expanded [`Site`].

use serde::Deserialize;
use std::path::{Path, PathBuf};

use super::expand;
use super::model::*;
use crate::geo::{LonLat, Side};
use crate::rules::RulesConfig;
use crate::site::ScenarioConfig;
use crate::track::TrackerConfig;

/// A site file could not be loaded; every variant names the file, and where it can, the item
/// and the field.
#[derive(Debug, thiserror::Error)]
pub enum SiteError {
    /// The file (or a geometry file it names) could not be read.
    #[error("{file}: {source}")]
    Io {
        /// The file.
        file: PathBuf,
        /// Underlying error.
        source: std::io::Error,
    },
    /// The TOML does not parse or does not fit the schema (unknown or missing field, wrong type).
    #[error("{file}: {message}")]
    Syntax {
        /// The file.
        file: PathBuf,
        /// The parser's message, with line, column and key.
        message: String,
    },
    /// A value is out of range or inconsistent.
    #[error("{file}: {item}: field `{field}`: {message}")]
    Invalid {
        /// The file.
        file: PathBuf,
        /// The item, e.g. `sensors[3] "cam-2"`.
        item: String,
        /// The field at fault.
        field: String,
        /// What is wrong.
        message: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSite {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub frontier: Option<RawFrontier>,
    #[serde(default)]
    pub crossings: Vec<Crossing>,
    #[serde(default)]
    pub facilities: Vec<Facility>,
    #[serde(default)]
    pub lines: Vec<RawLine>,
    #[serde(default)]
    pub units: Vec<Unit>,
    /// The organisation whose credentials may send for sensors that name none.
    pub sensor_org: Option<String>,
    #[serde(default)]
    pub sensors: Vec<RawSensor>,
    #[serde(default)]
    pub tower_lines: Vec<RawTowerLine>,
    #[serde(default)]
    pub fence_lines: Vec<RawFenceLine>,
    #[serde(default)]
    pub tracker: TrackerConfig,
    #[serde(default)]
    pub rules: RulesConfig,
    #[serde(default)]
    pub scenario: ScenarioConfig,
    #[serde(default)]
    pub orgs: Vec<super::Org>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFrontier {
    pub name: String,
    /// Path of a GeoJSON file holding one LineString, relative to the site file.
    pub geometry: PathBuf,
    pub outside: Side,
    #[serde(default = "default_sector_km")]
    pub sector_km: f64,
}

fn default_sector_km() -> f64 {
    10.0
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLine {
    pub id: String,
    pub name: String,
    /// Explicit vertices `[[lon, lat], …]`.
    #[serde(default)]
    pub coords: Vec<[f64; 2]>,
    /// Or: a line parallel to the frontier, this far inside, metres.
    pub frontier_offset_m: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSensor {
    pub id: String,
    pub kind: String,
    /// The organisation that owns the sensor (default: the site's `sensor_org`).
    pub org: Option<String>,
    pub lon: f64,
    pub lat: f64,
    #[serde(default = "default_heartbeat")]
    pub heartbeat_s: f64,
    pub camera: Option<CameraModel>,
    pub observer: Option<ObserverModel>,
}

pub(super) fn default_heartbeat() -> f64 {
    30.0
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTowerLine {
    pub prefix: String,
    pub org: Option<String>,
    pub spacing_km: f64,
    #[serde(default = "default_tower_offset")]
    pub offset_m: f64,
    #[serde(default)]
    pub from_km: f64,
    pub to_km: Option<f64>,
    #[serde(default = "default_heartbeat")]
    pub heartbeat_s: f64,
    #[serde(default)]
    pub camera: CameraModel,
    /// Put an observer on every n-th tower (0: none).
    #[serde(default)]
    pub observer_every: usize,
    #[serde(default)]
    pub observer: ObserverModel,
}

fn default_tower_offset() -> f64 {
    1000.0
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFenceLine {
    pub prefix: String,
    pub org: Option<String>,
    /// Run along this facility's perimeter instead of the frontier.
    pub facility: Option<String>,
    #[serde(default = "default_zone_m")]
    pub zone_m: f64,
    #[serde(default = "default_zones_per_controller")]
    pub zones_per_controller: usize,
    #[serde(default = "default_fence_offset")]
    pub offset_m: f64,
    #[serde(default)]
    pub from_km: f64,
    pub to_km: Option<f64>,
    #[serde(default = "default_fence_heartbeat")]
    pub heartbeat_s: f64,
    #[serde(default)]
    pub fence: FenceModel,
}

fn default_zone_m() -> f64 {
    200.0
}
fn default_zones_per_controller() -> usize {
    25
}
fn default_fence_offset() -> f64 {
    300.0
}
fn default_fence_heartbeat() -> f64 {
    60.0
}

/// Loads, expands and validates a site file.
pub fn load(path: &Path) -> Result<Site, SiteError> {
    let text = std::fs::read_to_string(path).map_err(|source| SiteError::Io {
        file: path.to_path_buf(),
        source,
    })?;
    parse(&text, path)
}

/// Parses site TOML; `path` names the file in errors and anchors relative geometry paths.
pub fn parse(text: &str, path: &Path) -> Result<Site, SiteError> {
    parse_with(text, path, &|p: &Path| std::fs::read_to_string(p))
}

/// Reads a file a site names (its frontier geometry).
pub type ReadFile<'a> = &'a dyn Fn(&Path) -> std::io::Result<String>;

/// Like [`parse`], reading the files the site names with `read` (embedded sites read from
/// the binary).
pub fn parse_with(text: &str, path: &Path, read: ReadFile<'_>) -> Result<Site, SiteError> {
    let raw: RawSite = toml::from_str(text).map_err(|e| SiteError::Syntax {
        file: path.to_path_buf(),
        message: e.to_string(),
    })?;
    let base = path.parent().unwrap_or(Path::new("."));
    let v = Validator { file: path };
    v.check(&raw)?;
    let frontier = match &raw.frontier {
        Some(f) => Some(Frontier {
            name: f.name.clone(),
            line: read_geojson_line(&base.join(&f.geometry), path, read)?,
            outside: f.outside,
            sector_km: f.sector_km,
        }),
        None => None,
    };
    let site = expand::expand(raw, frontier, &v)?;
    v.check_site(&site)?;
    Ok(site)
}

fn read_geojson_line(
    file: &Path,
    site_file: &Path,
    read: ReadFile<'_>,
) -> Result<Vec<LonLat>, SiteError> {
    let text = read(file).map_err(|source| SiteError::Io {
        file: file.to_path_buf(),
        source,
    })?;
    let invalid = |message: String| SiteError::Invalid {
        file: site_file.to_path_buf(),
        item: "frontier".into(),
        field: "geometry".into(),
        message: format!("{}: {message}", file.display()),
    };
    let json: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| invalid(format!("not JSON: {e}")))?;
    let geometry = if json["type"] == "FeatureCollection" {
        json["features"][0]["geometry"].clone()
    } else if json["type"] == "Feature" {
        json["geometry"].clone()
    } else {
        json
    };
    if geometry["type"] != "LineString" {
        return Err(invalid("expected one LineString".into()));
    }
    let coords: Vec<[f64; 2]> = serde_json::from_value(geometry["coordinates"].clone())
        .map_err(|e| invalid(format!("bad coordinates: {e}")))?;
    let line: Vec<LonLat> = coords.iter().map(|c| LonLat::new(c[0], c[1])).collect();
    if line.len() < 2 || line.iter().any(|p| !p.is_valid()) {
        return Err(invalid(
            "needs at least two valid [lon, lat] vertices".into(),
        ));
    }
    Ok(line)
}

/// Produces [`SiteError::Invalid`] values that name the file.
pub(super) struct Validator<'a> {
    pub file: &'a Path,
}

impl Validator<'_> {
    pub fn err(
        &self,
        item: impl Into<String>,
        field: &str,
        message: impl Into<String>,
    ) -> SiteError {
        SiteError::Invalid {
            file: self.file.to_path_buf(),
            item: item.into(),
            field: field.into(),
            message: message.into(),
        }
    }

    fn lonlat(&self, item: &str, lon: f64, lat: f64) -> Result<(), SiteError> {
        if !lon.is_finite() || !(-180.0..=180.0).contains(&lon) {
            return Err(self.err(
                item,
                "lon",
                format!("{lon} is not a longitude in -180..180"),
            ));
        }
        if !lat.is_finite() || !(-90.0..=90.0).contains(&lat) {
            return Err(self.err(item, "lat", format!("{lat} is not a latitude in -90..90")));
        }
        Ok(())
    }

    fn positive(&self, item: &str, field: &str, x: f64) -> Result<(), SiteError> {
        if x.is_finite() && x > 0.0 {
            Ok(())
        } else {
            Err(self.err(item, field, format!("{x} must be a positive number")))
        }
    }

    fn probability(&self, item: &str, field: &str, x: f64) -> Result<(), SiteError> {
        if (0.0..=1.0).contains(&x) {
            Ok(())
        } else {
            Err(self.err(item, field, format!("{x} must be a probability in 0..1")))
        }
    }

    fn camera(&self, item: &str, c: &CameraModel) -> Result<(), SiteError> {
        self.positive(item, "camera.range_m", c.range_m)?;
        self.positive(item, "camera.range_half_m", c.range_half_m)?;
        self.positive(item, "camera.scan_s", c.scan_s)?;
        self.positive(item, "camera.fov_deg", c.fov_deg)?;
        self.positive(item, "camera.sigma0_m", c.sigma0_m)?;
        self.probability(item, "camera.pd_max", c.pd_max)?;
        self.probability(item, "camera.class_accuracy", c.class_accuracy)?;
        if !(c.clutter_per_scan >= 0.0 && c.clutter_per_scan.is_finite()) {
            return Err(self.err(item, "camera.clutter_per_scan", "must be zero or more"));
        }
        if !(c.sigma_per_km >= 0.0 && c.sigma_per_km.is_finite()) {
            return Err(self.err(item, "camera.sigma_per_km", "must be zero or more"));
        }
        if !c.azimuth_deg.is_finite() {
            return Err(self.err(item, "camera.azimuth_deg", "must be a number of degrees"));
        }
        Ok(())
    }

    fn check(&self, raw: &RawSite) -> Result<(), SiteError> {
        if raw.name.trim().is_empty() {
            return Err(self.err("site", "name", "must not be empty"));
        }
        if let Some(f) = &raw.frontier {
            self.positive("frontier", "sector_km", f.sector_km)?;
        }
        for (i, c) in raw.crossings.iter().enumerate() {
            let item = format!("crossings[{i}] \"{}\"", c.id);
            self.lonlat(&item, c.lon, c.lat)?;
            self.positive(&item, "radius_m", c.radius_m)?;
        }
        for (i, f) in raw.facilities.iter().enumerate() {
            let item = format!("facilities[{i}] \"{}\"", f.id);
            if f.perimeter.len() < 4 {
                return Err(self.err(&item, "perimeter", "a closed ring needs at least 4 points"));
            }
            for (k, p) in f.perimeter.iter().enumerate() {
                self.lonlat(&format!("{item} perimeter[{k}]"), p[0], p[1])?;
            }
            if f.perimeter.first() != f.perimeter.last() {
                return Err(self.err(
                    &item,
                    "perimeter",
                    "the ring is not closed: repeat the first point as the last",
                ));
            }
            for (k, p) in f.gates.iter().enumerate() {
                self.lonlat(&format!("{item} gates[{k}]"), p[0], p[1])?;
            }
        }
        for (i, l) in raw.lines.iter().enumerate() {
            let item = format!("lines[{i}] \"{}\"", l.id);
            match (l.coords.len(), l.frontier_offset_m) {
                (0, None) => {
                    return Err(self.err(&item, "coords", "give coords or frontier_offset_m"))
                }
                (1, _) => return Err(self.err(&item, "coords", "a line needs two points")),
                (_, Some(_)) if raw.frontier.is_none() => {
                    return Err(self.err(&item, "frontier_offset_m", "the site has no frontier"))
                }
                _ => {}
            }
            for (k, p) in l.coords.iter().enumerate() {
                self.lonlat(&format!("{item} coords[{k}]"), p[0], p[1])?;
            }
        }
        for (i, u) in raw.units.iter().enumerate() {
            let item = format!("units[{i}] \"{}\"", u.id);
            self.lonlat(&item, u.lon, u.lat)?;
            self.positive(&item, "speed_kmh", u.speed_kmh)?;
            self.positive(&item, "route_factor", u.route_factor)?;
        }
        for (i, s) in raw.sensors.iter().enumerate() {
            let item = format!("sensors[{i}] \"{}\"", s.id);
            self.lonlat(&item, s.lon, s.lat)?;
            self.positive(&item, "heartbeat_s", s.heartbeat_s)?;
            match s.kind.as_str() {
                "thermal_camera" => self.camera(&item, s.camera.as_ref().unwrap_or(&CameraModel::default()))?,
                "observer" => {}
                other => {
                    return Err(self.err(
                        &item,
                        "kind",
                        format!("unknown sensor kind {other:?} (thermal_camera, observer; fences come from [[fence_lines]])"),
                    ))
                }
            }
        }
        for (i, t) in raw.tower_lines.iter().enumerate() {
            let item = format!("tower_lines[{i}] \"{}\"", t.prefix);
            if raw.frontier.is_none() {
                return Err(self.err(&item, "prefix", "tower lines need a [frontier]"));
            }
            self.positive(&item, "spacing_km", t.spacing_km)?;
            self.positive(&item, "heartbeat_s", t.heartbeat_s)?;
            self.camera(&item, &t.camera)?;
        }
        for (i, f) in raw.fence_lines.iter().enumerate() {
            let item = format!("fence_lines[{i}] \"{}\"", f.prefix);
            self.positive(&item, "zone_m", f.zone_m)?;
            self.positive(&item, "heartbeat_s", f.heartbeat_s)?;
            if f.zones_per_controller == 0 {
                return Err(self.err(&item, "zones_per_controller", "must be at least 1"));
            }
            self.probability(&item, "fence.pd_cut", f.fence.pd_cut)?;
            self.probability(&item, "fence.pd_climb", f.fence.pd_climb)?;
            match &f.facility {
                Some(id) if !raw.facilities.iter().any(|x| &x.id == id) => {
                    return Err(self.err(&item, "facility", format!("no facility with id {id:?}")))
                }
                None if raw.frontier.is_none() => {
                    return Err(self.err(&item, "facility", "name a facility, or add a [frontier]"))
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn check_site(&self, site: &Site) -> Result<(), SiteError> {
        let mut seen = std::collections::HashSet::new();
        for (i, s) in site.sensors.iter().enumerate() {
            if !seen.insert(s.id.as_str()) {
                return Err(self.err(
                    format!("sensors[{i}]"),
                    "id",
                    format!("duplicate sensor id {:?}", s.id),
                ));
            }
        }
        self.check_orgs(site)?;
        for (i, s) in site.sensors.iter().enumerate() {
            if let Some(o) = &s.org {
                if !site.orgs.iter().any(|x| &x.id == o) {
                    return Err(self.err(
                        format!("sensor {:?} (sensors[{i}] after expansion)", s.id),
                        "org",
                        format!("no organisation {o:?} in [[orgs]]"),
                    ));
                }
            }
        }
        let mut seen = std::collections::HashSet::new();
        for (i, f) in site.facilities.iter().enumerate() {
            if !seen.insert(f.id.as_str()) {
                return Err(self.err(
                    format!("facilities[{i}]"),
                    "id",
                    format!("duplicate facility id {:?}", f.id),
                ));
            }
        }
        Ok(())
    }

    fn check_orgs(&self, site: &Site) -> Result<(), SiteError> {
        let mut seen = std::collections::HashSet::new();
        for (i, o) in site.orgs.iter().enumerate() {
            let item = format!("orgs[{i}] \"{}\"", o.id);
            if o.id.is_empty()
                || !o
                    .id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(self.err(&item, "id", "use letters, digits, '-' and '_'"));
            }
            if !seen.insert(o.id.as_str()) {
                return Err(self.err(&item, "id", "duplicate organisation id"));
            }
            self.positive(&item, "coarsen_m", o.coarsen_m)?;
            if let Some(a) = &o.area {
                match (a.frontier_km, &a.facility) {
                    (Some(km), None) => {
                        self.positive(&item, "area.frontier_km", km)?;
                        if site.frontier.is_none() {
                            return Err(self.err(
                                &item,
                                "area.frontier_km",
                                "the site has no frontier",
                            ));
                        }
                    }
                    (None, Some(f)) => {
                        if !site.facilities.iter().any(|x| &x.id == f) {
                            return Err(self.err(
                                &item,
                                "area.facility",
                                format!("no facility with id {f:?}"),
                            ));
                        }
                        self.positive(
                            &item,
                            "area.facility_km",
                            a.facility_km.unwrap_or(f64::NAN),
                        )?;
                    }
                    _ => {
                        return Err(self.err(
                            &item,
                            "area",
                            "give either frontier_km (and side) or facility and facility_km",
                        ))
                    }
                }
            }
            if o.sees(super::Geometry::FieldsOfView) && !o.sees(super::Geometry::Sensors) {
                return Err(self.err(
                    &item,
                    "geometry",
                    "fields_of_view shows where the cameras stand: release sensors too",
                ));
            }
            if let Some(w) = &o.webhook {
                if !(w.starts_with("http://") || w.starts_with("https://")) {
                    return Err(self.err(
                        &item,
                        "webhook",
                        "must be an http:// or https:// address",
                    ));
                }
            }
        }
        Ok(())
    }
}
