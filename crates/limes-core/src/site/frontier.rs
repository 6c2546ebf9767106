//! The frontier projected into the frame of every tracking tile near it, so that "how far from
//! the line, and on which side" is answered the same way the rules answer it (in the tile's own
//! frame), without locks, for any number of callers.

use std::collections::HashMap;

use super::Frontier;
use crate::geo::{LocalFrame, LonLat, Polyline, TileId, M_PER_DEG, TILE_DEG};

/// Where a point lies relative to the frontier.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FrontierPos {
    /// Distance to the line, metres.
    pub distance_m: f64,
    /// True when the point is across the line (outside the watched territory).
    pub outside: bool,
}

/// The frontier line in each tile frame within `reach_m` of it.
#[derive(Clone, Debug)]
pub struct FrontierIndex {
    tiles: HashMap<TileId, (LocalFrame, Polyline)>,
    outside_sign: f64,
    reach_m: f64,
}

impl FrontierIndex {
    /// Indexes the tiles within `reach_m` of the frontier.
    pub fn new(f: &Frontier, reach_m: f64) -> Self {
        let mut ids = std::collections::HashSet::new();
        for w in f.line.windows(2) {
            let steps = (w[0].distance_m(&w[1]) / 5_000.0).ceil().max(1.0) as usize;
            for k in 0..=steps {
                let s = k as f64 / steps as f64;
                let p = LonLat::new(
                    w[0].lon + (w[1].lon - w[0].lon) * s,
                    w[0].lat + (w[1].lat - w[0].lat) * s,
                );
                let dlat = reach_m / M_PER_DEG + TILE_DEG;
                let dlon = reach_m / (M_PER_DEG * p.lat.to_radians().cos().max(0.01)) + TILE_DEG;
                let (lo, hi) = (
                    LonLat::new(p.lon - dlon, p.lat - dlat).tile(),
                    LonLat::new(p.lon + dlon, p.lat + dlat).tile(),
                );
                for i in lo.i..=hi.i {
                    for j in lo.j..=hi.j {
                        ids.insert(TileId { i, j });
                    }
                }
            }
        }
        let tiles = ids
            .into_iter()
            .map(|id| {
                let frame = LocalFrame::new(id.centre());
                let line = Polyline::new(f.line.iter().map(|p| frame.to_local(*p)).collect());
                (id, (frame, line))
            })
            .collect();
        Self {
            tiles,
            outside_sign: f.outside.sign(),
            reach_m,
        }
    }

    /// Distance and side of `p`, or `None` when it is farther than the reach from the line.
    pub fn locate(&self, p: LonLat) -> Option<FrontierPos> {
        let (frame, line) = self.tiles.get(&p.tile())?;
        let n = line.nearest(frame.to_local(p))?;
        (n.distance <= self.reach_m).then_some(FrontierPos {
            distance_m: n.distance,
            outside: n.signed * self.outside_sign > 0.0,
        })
    }
}
