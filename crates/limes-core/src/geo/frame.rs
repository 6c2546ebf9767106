//! Local metric frames: an ellipsoidal azimuthal equidistant projection per frame origin.

use geographiclib_rs::{DirectGeodesic, Geodesic, InverseGeodesic};
use serde::{Deserialize, Serialize};
use std::sync::LazyLock;

use super::Xy;

static WGS84: LazyLock<Geodesic> = LazyLock::new(Geodesic::wgs84);

/// Side of a tracking tile in degrees; a tile's corners lie at most ~35 km from its centre (the
/// one tile around each pole reaches ~83 km).
pub const TILE_DEG: f64 = 0.5;

/// A WGS84 position in degrees (longitude first, as in GeoJSON).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LonLat {
    /// Longitude in degrees east, -180..=180.
    pub lon: f64,
    /// Latitude in degrees north, -90..=90.
    pub lat: f64,
}

impl LonLat {
    /// Creates a position from longitude and latitude in degrees.
    pub const fn new(lon: f64, lat: f64) -> Self {
        Self { lon, lat }
    }

    /// True when both coordinates are finite and inside the world (see [`LonLat::check`]).
    pub fn is_valid(&self) -> bool {
        self.check().is_ok()
    }

    /// Why this is not a position on the Earth, if it is not: the message starts with the
    /// coordinate at fault (`lon …` or `lat …`). The one rule for every WGS84 input.
    pub fn check(&self) -> Result<(), String> {
        if !(self.lon.is_finite() && (-180.0..=180.0).contains(&self.lon)) {
            return Err(format!(
                "lon {} is not a longitude in [-180, 180]",
                self.lon
            ));
        }
        if !(self.lat.is_finite() && (-90.0..=90.0).contains(&self.lat)) {
            return Err(format!("lat {} is not a latitude in [-90, 90]", self.lat));
        }
        Ok(())
    }

    /// The centre of the `grid_m` square cell this position falls in (a coarsened position).
    pub fn snap(&self, grid_m: f64) -> LonLat {
        let dlat = grid_m / super::M_PER_DEG;
        let lat = ((self.lat / dlat).floor() + 0.5) * dlat;
        let dlon = grid_m / (super::M_PER_DEG * lat.to_radians().cos().max(0.01));
        let lon = ((self.lon / dlon).floor() + 0.5) * dlon;
        LonLat { lon, lat }
    }

    /// Great-circle distance on a sphere of the Earth's mean radius, in metres: within 0.6 %
    /// of [`LonLat::distance_m`] and a tenth of its cost, to rule out far candidates first.
    pub fn sphere_distance_m(&self, other: &LonLat) -> f64 {
        let (p1, p2) = (self.lat.to_radians(), other.lat.to_radians());
        let dp = p2 - p1;
        let dl = (other.lon - self.lon).to_radians();
        let h = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
        2.0 * 6_371_008.8 * h.sqrt().min(1.0).asin()
    }

    /// Initial bearing to another position on a sphere, degrees clockwise from north in
    /// [0, 360): good to a fraction of a degree over the tens of kilometres a sensor sees.
    pub fn sphere_bearing_deg(&self, other: &LonLat) -> f64 {
        let (p1, p2) = (self.lat.to_radians(), other.lat.to_radians());
        let dl = (other.lon - self.lon).to_radians();
        let y = dl.sin() * p2.cos();
        let x = p1.cos() * p2.sin() - p1.sin() * p2.cos() * dl.cos();
        y.atan2(x).to_degrees().rem_euclid(360.0)
    }

    /// Geodesic (WGS84) distance to another position, in metres.
    pub fn distance_m(&self, other: &LonLat) -> f64 {
        let s: f64 = WGS84.inverse(self.lat, self.lon, other.lat, other.lon);
        s
    }

    /// The tracking tile this position falls in. Longitudes wrap (180° is in the first
    /// column east of −180°). The row around each pole is one tile (its columns meet at the
    /// pole, where a position's longitude is arbitrary: an object standing there would hop
    /// between them), and a pole lies in it (a row beyond would be centred past the pole,
    /// with no frame).
    pub fn tile(&self) -> TileId {
        let lon = (self.lon + 180.0).rem_euclid(360.0) - 180.0;
        let rows = (90.0 / TILE_DEG) as i32;
        let j = ((self.lat / TILE_DEG).floor() as i32).clamp(-rows, rows - 1);
        let i = if j == -rows || j == rows - 1 {
            0
        } else {
            (lon / TILE_DEG).floor() as i32
        };
        TileId { i, j }
    }
}

/// Index of a [`TILE_DEG`]-sized cell of the lon/lat grid; the tracker keeps one frame per tile.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TileId {
    /// Column: floor(lon / TILE_DEG).
    pub i: i32,
    /// Row: floor(lat / TILE_DEG).
    pub j: i32,
}

impl TileId {
    /// Tiles across an edge (or corner) of this one that lie within `m` metres of `p`: the
    /// tiles of the points `m` away from `p` east, west, north, south and diagonally (at most
    /// one tile's width away), so the single tile around a pole and the antimeridian's wrap
    /// are found like any other neighbour.
    pub fn neighbours_within(&self, p: LonLat, m: f64) -> Vec<TileId> {
        let dlat = (m / 110_500.0).min(TILE_DEG);
        let dlon = (m / (111_300.0 * p.lat.to_radians().cos().abs().max(0.01))).min(TILE_DEG);
        let mut out: Vec<TileId> = [-1.0, 0.0, 1.0]
            .into_iter()
            .flat_map(|a: f64| [-1.0, 0.0, 1.0].map(|b: f64| (a, b)))
            .filter(|&(a, b)| (a, b) != (0.0, 0.0))
            .map(|(a, b)| {
                let lat = (p.lat + b * dlat).clamp(-90.0, 90.0);
                LonLat::new(p.lon + a * dlon, lat).tile()
            })
            .filter(|t| t != self)
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// The centre of the tile, used as the origin of its local frame.
    pub fn centre(&self) -> LonLat {
        LonLat::new(
            (self.i as f64 + 0.5) * TILE_DEG,
            (self.j as f64 + 0.5) * TILE_DEG,
        )
    }
}

/// A local east/north metric frame around an origin (ellipsoidal azimuthal equidistant).
///
/// Distances and bearings from the origin are exact; elsewhere the scale error is about
/// `s²/6R²`, i.e. under 1 m over 50 km for points within 50 km of the origin.
///
/// ```
/// use limes_core::geo::{LocalFrame, LonLat};
/// let frame = LocalFrame::new(LonLat::new(41.0, 34.5));
/// let xy = frame.to_local(LonLat::new(41.1, 34.6));
/// let back = frame.to_lonlat(xy);
/// assert!((back.lon - 41.1).abs() < 1e-9 && (back.lat - 34.6).abs() < 1e-9);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct LocalFrame {
    origin: LonLat,
}

impl LocalFrame {
    /// Creates the frame whose (0, 0) is `origin`.
    pub fn new(origin: LonLat) -> Self {
        Self { origin }
    }

    /// The frame's origin.
    pub fn origin(&self) -> LonLat {
        self.origin
    }

    /// Projects a WGS84 position to metres east/north of the origin.
    pub fn to_local(&self, p: LonLat) -> Xy {
        let (s, azi1, _azi2, _a12): (f64, f64, f64, f64) =
            WGS84.inverse(self.origin.lat, self.origin.lon, p.lat, p.lon);
        let (sin, cos) = azi1.to_radians().sin_cos();
        [s * sin, s * cos]
    }

    /// Maps metres east/north of the origin back to WGS84.
    pub fn to_lonlat(&self, xy: Xy) -> LonLat {
        let s = xy[0].hypot(xy[1]);
        if s == 0.0 {
            return self.origin;
        }
        let azi = xy[0].atan2(xy[1]).to_degrees();
        let (lat, lon): (f64, f64) = WGS84.direct(self.origin.lat, self.origin.lon, azi, s);
        LonLat::new(lon, lat)
    }

    /// Rotates a local east/north vector at `at` in this frame into the frame `other`.
    ///
    /// Used when a track is handed from one tile to the next: positions are re-projected,
    /// velocities are carried by projecting a point one second ahead.
    pub fn transfer_velocity(&self, other: &LocalFrame, at: Xy, v: Xy) -> Xy {
        let p0 = other.to_local(self.to_lonlat(at));
        let p1 = other.to_local(self.to_lonlat([at[0] + v[0], at[1] + v[1]]));
        [p1[0] - p0[0], p1[1] - p0[1]]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn sphere_distance_is_within_a_percent_of_the_geodesic(lon in 38.0f64..43.0, lat in 33.0f64..37.5, lon2 in 38.0f64..43.0, lat2 in 33.0f64..37.5) {
            let (a, b) = (LonLat::new(lon, lat), LonLat::new(lon2, lat2));
            let (s, g) = (a.sphere_distance_m(&b), a.distance_m(&b));
            prop_assert!((s - g).abs() <= 0.01 * g + 1e-6, "{s} vs {g}");
        }

        #[test]
        fn lonlat_local_round_trip(lon in 38.0f64..43.0, lat in 33.0f64..37.5, e in -50_000.0f64..50_000.0, n in -50_000.0f64..50_000.0) {
            let f = LocalFrame::new(LonLat::new(lon, lat));
            let back = f.to_local(f.to_lonlat([e, n]));
            prop_assert!((back[0] - e).abs() < 1e-6 && (back[1] - n).abs() < 1e-6, "{back:?} vs {e},{n}");
        }

        #[test]
        fn local_distances_match_geodesics_within_a_metre_over_fifty_km(lon in 38.0f64..43.0, lat in 33.0f64..37.5, a in 0.0f64..6.3, b in 0.0f64..6.3, r in 0.0f64..25_000.0) {
            // Two points up to 25 km from the origin, so up to 50 km apart.
            let f = LocalFrame::new(LonLat::new(lon, lat));
            let p = [r * a.sin(), r * a.cos()];
            let q = [25_000.0 * b.sin(), 25_000.0 * b.cos()];
            let planar = crate::geo::dist(p, q);
            let geodesic = f.to_lonlat(p).distance_m(&f.to_lonlat(q));
            prop_assert!((planar - geodesic).abs() < 1.0, "planar {planar} geodesic {geodesic}");
        }
    }

    #[test]
    fn tiles_cover_their_centre() {
        let p = LonLat::new(41.15, 36.38);
        let c = p.tile().centre();
        assert_eq!(c.tile(), p.tile());
        assert!((c.lon - 41.25).abs() < 1e-12 && (c.lat - 36.25).abs() < 1e-12);
    }
}
