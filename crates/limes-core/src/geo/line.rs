//! Polylines in a local frame: distance, side and crossing tests for the frontier and roads.

use super::{dist, Xy};

/// Which side of a directed polyline a point lies on (looking along the vertex order).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// Left of the direction of travel along the line.
    Left,
    /// Right of the direction of travel along the line.
    Right,
}

/// A polyline in a local metric frame with cumulative chainage.
#[derive(Clone, Debug)]
pub struct Polyline {
    points: Vec<Xy>,
    chainage: Vec<f64>,
    /// Bounding box (min x, min y, max x, max y) of each run of [`CHUNK`] segments, so a
    /// nearest-point query skips the runs that cannot hold a closer point.
    boxes: Vec<[f64; 4]>,
}

/// Segments per bounding box.
const CHUNK: usize = 16;

/// The closest point of a polyline to a query point.
#[derive(Clone, Copy, Debug)]
pub struct Nearest {
    /// Distance from the query point, metres.
    pub distance: f64,
    /// Distance along the line from its first vertex to the closest point, metres.
    pub chainage: f64,
    /// Positive on the left of the line, negative on the right.
    pub signed: f64,
}

impl Polyline {
    /// Builds a polyline from at least two points.
    pub fn new(points: Vec<Xy>) -> Self {
        let mut chainage = Vec::with_capacity(points.len());
        let mut acc = 0.0;
        for (i, p) in points.iter().enumerate() {
            if i > 0 {
                acc += dist(points[i - 1], *p);
            }
            chainage.push(acc);
        }
        let boxes = points
            .windows(2)
            .collect::<Vec<_>>()
            .chunks(CHUNK)
            .map(|segs| {
                segs.iter().flat_map(|w| w.iter()).fold(
                    [
                        f64::INFINITY,
                        f64::INFINITY,
                        f64::NEG_INFINITY,
                        f64::NEG_INFINITY,
                    ],
                    |b, p| {
                        [
                            b[0].min(p[0]),
                            b[1].min(p[1]),
                            b[2].max(p[0]),
                            b[3].max(p[1]),
                        ]
                    },
                )
            })
            .collect();
        Self {
            points,
            chainage,
            boxes,
        }
    }

    /// The vertices.
    pub fn points(&self) -> &[Xy] {
        &self.points
    }

    /// Total length in metres.
    pub fn length(&self) -> f64 {
        self.chainage.last().copied().unwrap_or(0.0)
    }

    /// The closest point of the line to `p`, with its chainage and signed distance.
    pub fn nearest(&self, p: Xy) -> Option<Nearest> {
        // (squared distance, segment, parameter along it) of the closest point so far.
        let mut best: Option<(f64, usize, f64)> = None;
        for (c, b) in self.boxes.iter().enumerate() {
            let dx = (b[0] - p[0]).max(p[0] - b[2]).max(0.0);
            let dy = (b[1] - p[1]).max(p[1] - b[3]).max(0.0);
            if best.is_some_and(|(d2, _, _)| dx * dx + dy * dy > d2) {
                continue;
            }
            let first = c * CHUNK;
            let last = (first + CHUNK).min(self.points.len() - 1);
            for k in first..last {
                let (a, b) = (self.points[k], self.points[k + 1]);
                let d = [b[0] - a[0], b[1] - a[1]];
                let len2 = d[0] * d[0] + d[1] * d[1];
                let t = if len2 > 0.0 {
                    (((p[0] - a[0]) * d[0] + (p[1] - a[1]) * d[1]) / len2).clamp(0.0, 1.0)
                } else {
                    0.0
                };
                let (ex, ey) = (a[0] + t * d[0] - p[0], a[1] + t * d[1] - p[1]);
                let d2 = ex * ex + ey * ey;
                if best.is_none_or(|(b2, _, _)| d2 < b2) {
                    best = Some((d2, k, t));
                }
            }
        }
        best.map(|(_, k, t)| {
            let (a, b) = (self.points[k], self.points[k + 1]);
            let d = [b[0] - a[0], b[1] - a[1]];
            let q = [a[0] + t * d[0], a[1] + t * d[1]];
            let distance = dist(p, q);
            let sign = if self.left_of(k, t, p) { 1.0 } else { -1.0 };
            Nearest {
                distance,
                chainage: self.chainage[k] + t * (d[0] * d[0] + d[1] * d[1]).sqrt(),
                signed: sign * distance,
            }
        })
    }

    /// Whether `p`, whose closest point is at parameter `t` of segment `k`, lies left of the line.
    ///
    /// When that closest point is a vertex two segments share, either segment's side can be
    /// wrong for points off the corner: at a left turn the left side is what is left of both
    /// segments, at a right turn what is left of either.
    fn left_of(&self, k: usize, t: f64, p: Xy) -> bool {
        let left = |k: usize| {
            let (a, b) = (self.points[k], self.points[k + 1]);
            (b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0]) >= 0.0
        };
        let corner = if t <= 0.0 && k > 0 {
            Some((k - 1, k))
        } else if t >= 1.0 && k + 2 < self.points.len() {
            Some((k, k + 1))
        } else {
            None
        };
        match corner {
            None => left(k),
            Some((i, j)) => {
                let (a, v, b) = (self.points[i], self.points[j], self.points[j + 1]);
                let turn = (v[0] - a[0]) * (b[1] - v[1]) - (v[1] - a[1]) * (b[0] - v[0]);
                if turn >= 0.0 {
                    left(i) && left(j)
                } else {
                    left(i) || left(j)
                }
            }
        }
    }

    /// The point at a chainage (clamped to the line) and the unit direction of the line there.
    pub fn at(&self, chainage: f64) -> (Xy, Xy) {
        let n = self.points.len();
        if n < 2 {
            return (
                self.points.first().copied().unwrap_or([0.0, 0.0]),
                [1.0, 0.0],
            );
        }
        let c = chainage.clamp(0.0, self.length());
        let k = match self.chainage.binary_search_by(|x| x.total_cmp(&c)) {
            Ok(k) => k.min(n - 2),
            Err(k) => k.saturating_sub(1).min(n - 2),
        };
        let (a, b) = (self.points[k], self.points[k + 1]);
        let seg = self.chainage[k + 1] - self.chainage[k];
        let t = if seg > 0.0 {
            (c - self.chainage[k]) / seg
        } else {
            0.0
        };
        let dir = if seg > 0.0 {
            [(b[0] - a[0]) / seg, (b[1] - a[1]) / seg]
        } else {
            [1.0, 0.0]
        };
        ([a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1])], dir)
    }

    /// A point at `chainage`, moved `offset` metres to the given side of the line.
    pub fn offset_point(&self, chainage: f64, offset: f64, side: Side) -> Xy {
        let (p, d) = self.at(chainage);
        let left = [-d[1], d[0]];
        let s = match side {
            Side::Left => offset,
            Side::Right => -offset,
        };
        [p[0] + s * left[0], p[1] + s * left[1]]
    }
}

impl Side {
    /// +1 for left, -1 for right: the sign `Nearest::signed` has on this side.
    pub fn sign(self) -> f64 {
        match self {
            Side::Left => 1.0,
            Side::Right => -1.0,
        }
    }

    /// The other side.
    pub fn opposite(self) -> Side {
        match self {
            Side::Left => Side::Right,
            Side::Right => Side::Left,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The closest point by trying every segment, as `nearest` did before its bounding boxes.
    fn brute_nearest(l: &Polyline, p: Xy) -> f64 {
        l.points()
            .windows(2)
            .map(|w| {
                let (a, b) = (w[0], w[1]);
                let d = [b[0] - a[0], b[1] - a[1]];
                let len2 = d[0] * d[0] + d[1] * d[1];
                let t = if len2 > 0.0 {
                    (((p[0] - a[0]) * d[0] + (p[1] - a[1]) * d[1]) / len2).clamp(0.0, 1.0)
                } else {
                    0.0
                };
                dist(p, [a[0] + t * d[0], a[1] + t * d[1]])
            })
            .fold(f64::INFINITY, f64::min)
    }

    #[test]
    fn the_side_off_a_corner_is_the_side_of_the_corner() {
        // East, then a left turn north: the outside of the turn is on the right.
        let l = Polyline::new(vec![[0.0, 0.0], [100.0, 0.0], [100.0, 100.0]]);
        for p in [
            [150.0, -40.0],
            [140.0, -1.0],
            [101.0, -50.0],
            [130.0, -30.0],
        ] {
            assert!(
                l.nearest(p).expect("line").signed < 0.0,
                "{p:?} is right of the line"
            );
        }
        assert!(l.nearest([90.0, 5.0]).expect("line").signed > 0.0);
        // East, then a right turn south: the outside of the turn is on the left.
        let r = Polyline::new(vec![[0.0, 0.0], [100.0, 0.0], [100.0, -100.0]]);
        for p in [[150.0, 40.0], [140.0, 1.0], [101.0, 50.0], [130.0, 30.0]] {
            assert!(
                r.nearest(p).expect("line").signed > 0.0,
                "{p:?} is left of the line"
            );
        }
        assert!(r.nearest([90.0, -5.0]).expect("line").signed < 0.0);
        // A hairpin: east, then sharply back west-north-west. Off its tip the point is above
        // the first segment's line, yet on the outside of the turn, the right.
        let h = Polyline::new(vec![[0.0, 0.0], [100.0, 0.0], [0.0, 10.0]]);
        for p in [[150.0, 5.0], [120.0, 1.0], [200.0, 30.0]] {
            assert!(
                h.nearest(p).expect("line").signed < 0.0,
                "{p:?} is off the tip"
            );
        }
        let hr = Polyline::new(vec![[0.0, 0.0], [100.0, 0.0], [0.0, -10.0]]);
        for p in [[150.0, -5.0], [120.0, -1.0], [200.0, -30.0]] {
            assert!(
                hr.nearest(p).expect("line").signed > 0.0,
                "{p:?} is off the tip"
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn nearest_skipping_boxes_finds_the_closest_segment(
            pts in proptest::collection::vec((-5e4f64..5e4, -5e4f64..5e4), 2..200),
            q in (-6e4f64..6e4, -6e4f64..6e4),
        ) {
            let l = Polyline::new(pts.iter().map(|&(x, y)| [x, y]).collect());
            let p = [q.0, q.1];
            let n = l.nearest(p).expect("two points or more");
            proptest::prop_assert!((n.distance - brute_nearest(&l, p)).abs() < 1e-9);
        }
    }

    #[test]
    fn nearest_reports_side_and_chainage() {
        let l = Polyline::new(vec![[0.0, 0.0], [100.0, 0.0], [100.0, 100.0]]);
        let n = l.nearest([50.0, 10.0]).expect("non-empty");
        assert!((n.distance - 10.0).abs() < 1e-9);
        assert!((n.chainage - 50.0).abs() < 1e-9);
        assert!(
            n.signed > 0.0,
            "a point north of an eastward line is on its left"
        );
        let n = l.nearest([110.0, 50.0]).expect("non-empty");
        assert!(n.signed < 0.0);
        assert!((n.chainage - 150.0).abs() < 1e-9);
        assert_eq!(l.length(), 200.0);
    }

    #[test]
    fn offset_point_lands_on_the_requested_side() {
        let l = Polyline::new(vec![[0.0, 0.0], [100.0, 0.0]]);
        let p = l.offset_point(30.0, 5.0, Side::Right);
        assert!((p[0] - 30.0).abs() < 1e-9 && (p[1] + 5.0).abs() < 1e-9);
    }
}
