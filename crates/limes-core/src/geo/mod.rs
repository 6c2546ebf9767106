//! Geodesy and planar geometry: WGS84 lon/lat in and out, local metric frames inside.

mod frame;
mod line;

pub use frame::{LocalFrame, LonLat, TileId, TILE_DEG};
pub use line::{Polyline, Side};

/// Metres per degree of latitude (and of longitude at the equator), for grids and bounding
/// boxes; distances use the geodesic, not this.
pub const M_PER_DEG: f64 = 111_320.0;

/// A point in a local metric frame: metres east and north of the frame's origin.
pub type Xy = [f64; 2];

/// Euclidean distance between two points of the same local frame, in metres.
pub fn dist(a: Xy, b: Xy) -> f64 {
    // Plain sqrt: local frames never come near the overflow `hypot` guards against, and it
    // is several times faster.
    let (dx, dy) = (a[0] - b[0], a[1] - b[1]);
    (dx * dx + dy * dy).sqrt()
}
