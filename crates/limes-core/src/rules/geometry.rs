//! Site geometry projected into each partition's frame, built lazily and cached.

use geo::{Contains, Coord, LineString, Point, Polygon};
use std::collections::HashMap;

use crate::geo::{LocalFrame, LonLat, Polyline, Xy};
use crate::site::Site;
use crate::track::Partition;

/// A facility in one frame.
pub struct FacilityGeo {
    /// Index into the site's facilities.
    pub index: usize,
    /// The perimeter as a polygon.
    pub polygon: Polygon<f64>,
    /// The perimeter as a line, for distances.
    pub ring: Polyline,
    /// Bounding box `[min_x, min_y, max_x, max_y]`.
    pub bbox: [f64; 4],
}

impl FacilityGeo {
    /// True when `p` is inside the perimeter.
    pub fn contains(&self, p: Xy) -> bool {
        p[0] >= self.bbox[0]
            && p[0] <= self.bbox[2]
            && p[1] >= self.bbox[1]
            && p[1] <= self.bbox[3]
            && self.polygon.contains(&Point::new(p[0], p[1]))
    }

    /// Distance from `p` to the perimeter line, metres.
    pub fn distance_to_perimeter(&self, p: Xy) -> f64 {
        self.ring.nearest(p).map_or(f64::INFINITY, |n| n.distance)
    }
}

/// Everything the rules need, in one partition's frame.
pub struct PartGeo {
    /// The frame (None for flat input, which has no geography).
    pub frame: Option<LocalFrame>,
    /// The frontier line.
    pub frontier: Option<Polyline>,
    /// Crossing points and radii.
    pub crossings: Vec<(Xy, f64)>,
    /// Facilities.
    pub facilities: Vec<FacilityGeo>,
    /// Named lines (roads, towns).
    pub lines: Vec<(String, Polyline)>,
    /// Thermal cameras within reach of the partition: index into the site's sensors, position.
    pub cameras: Vec<(usize, Xy)>,
}

impl PartGeo {
    /// Maps a local point back to WGS84 (None for flat input).
    pub fn lonlat(&self, p: Xy) -> Option<LonLat> {
        self.frame.map(|f| f.to_lonlat(p))
    }

    /// True when `p` lies within an authorised crossing's radius.
    pub fn at_crossing(&self, p: Xy) -> bool {
        self.crossings
            .iter()
            .any(|(c, r)| crate::geo::dist(*c, p) <= *r)
    }
}

/// Lazily built [`PartGeo`] per partition.
pub struct GeoCache {
    parts: HashMap<Partition, PartGeo>,
}

impl GeoCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self {
            parts: HashMap::new(),
        }
    }

    /// The geometry of `part`, projecting the site on first use.
    pub fn get(&mut self, part: Partition, site: &Site) -> &PartGeo {
        self.parts.entry(part).or_insert_with(|| build(part, site))
    }
}

impl Default for GeoCache {
    fn default() -> Self {
        Self::new()
    }
}

fn build(part: Partition, site: &Site) -> PartGeo {
    let Partition::Tile(tile) = part else {
        return PartGeo {
            frame: None,
            frontier: None,
            crossings: vec![],
            facilities: vec![],
            lines: vec![],
            cameras: vec![],
        };
    };
    let frame = LocalFrame::new(tile.centre());
    let proj = |pts: &[LonLat]| -> Vec<Xy> { pts.iter().map(|p| frame.to_local(*p)).collect() };
    let facilities = site
        .facilities
        .iter()
        .enumerate()
        .map(|(index, f)| {
            let pts = proj(&f.ring());
            let ls: LineString<f64> = pts.iter().map(|p| Coord { x: p[0], y: p[1] }).collect();
            let mut bbox = [
                f64::INFINITY,
                f64::INFINITY,
                f64::NEG_INFINITY,
                f64::NEG_INFINITY,
            ];
            for p in &pts {
                bbox = [
                    bbox[0].min(p[0]),
                    bbox[1].min(p[1]),
                    bbox[2].max(p[0]),
                    bbox[3].max(p[1]),
                ];
            }
            FacilityGeo {
                index,
                polygon: Polygon::new(ls, vec![]),
                ring: Polyline::new(pts),
                bbox,
            }
        })
        .collect();
    PartGeo {
        frame: Some(frame),
        frontier: site.frontier.as_ref().map(|f| Polyline::new(proj(&f.line))),
        crossings: site
            .crossings
            .iter()
            .map(|c| (frame.to_local(LonLat::new(c.lon, c.lat)), c.radius_m))
            .collect(),
        facilities,
        lines: site
            .lines
            .iter()
            .map(|l| (l.name.clone(), Polyline::new(proj(&l.line))))
            .collect(),
        cameras: site
            .sensors
            .iter()
            .enumerate()
            .filter_map(|(i, s)| match &s.kind {
                // A tile is about 55 km across: cameras farther than their range from its
                // centre plus 50 km cannot see into it.
                crate::site::SensorKind::Camera(c)
                    if s.pos.distance_m(&tile.centre()) <= c.range_m + 50_000.0 =>
                {
                    Some((i, frame.to_local(s.pos)))
                }
                _ => None,
            })
            .collect(),
    }
}
