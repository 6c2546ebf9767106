//! GOSPA and OSPA between two point sets, as Stone Soup's `GOSPAMetric` / `OSPAMetric` define them.
//!
//! With α = 2, GOSPA is `(Σ_assigned d^p + c^p/2 · (missed + false))^(1/p)` under the assignment
//! that minimises it, where pairs at distance ≥ c count as one missed and one false. The
//! `localisation`, `missed` and `false` parts are reported, like Stone Soup's, in units of
//! distance^p so that `distance = (localisation + missed + false)^(1/p)`. Because pairs farther
//! than c never help, the problem splits into clusters of points within c of each other, each
//! solved exactly with the assignment solver.

use rstar::primitives::GeomWithData;
use rstar::RTree;
use serde::Serialize;

use crate::geo::{dist, Xy};
use crate::track::assign;

/// One GOSPA evaluation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Gospa {
    /// The GOSPA distance.
    pub distance: f64,
    /// Σ d^p over assigned pairs closer than c.
    pub localisation: f64,
    /// c^p/2 per missed truth.
    pub missed: f64,
    /// c^p/2 per false track.
    pub false_tracks: f64,
    /// Truths assigned to a track closer than c.
    pub assigned: usize,
    /// The OSPA distance over the same sets.
    pub ospa: f64,
}

/// Computes GOSPA (α = 2) and OSPA with cut-off `c` and order `p` between tracks and truths.
///
/// ```
/// use limes_core::eval::gospa::gospa;
/// // One truth, one track 3 m away, one false track far off: c = 10, p = 1.
/// let g = gospa(&[[0.0, 0.0], [500.0, 0.0]], &[[3.0, 0.0]], 10.0, 1.0);
/// assert_eq!(g.localisation, 3.0);
/// assert_eq!(g.false_tracks, 5.0);
/// assert_eq!(g.distance, 8.0);
/// ```
pub fn gospa(tracks: &[Xy], truths: &[Xy], c: f64, p: f64) -> Gospa {
    gospa_with_pairs(tracks, truths, c, p).0
}

/// [`gospa`], also returning the assigned `(track, truth)` index pairs closer than `c`.
pub fn gospa_with_pairs(
    tracks: &[Xy],
    truths: &[Xy],
    c: f64,
    p: f64,
) -> (Gospa, Vec<(usize, usize)>) {
    let (m, n) = (tracks.len(), truths.len());
    let cp = c.powf(p);
    let tree: RTree<GeomWithData<Xy, usize>> = RTree::bulk_load(
        tracks
            .iter()
            .enumerate()
            .map(|(i, t)| GeomWithData::new(*t, i))
            .collect(),
    );
    let mut pairs = Vec::new();
    for (j, y) in truths.iter().enumerate() {
        for e in tree.locate_within_distance(*y, c * c) {
            let d = dist(tracks[e.data], *y);
            if d < c {
                pairs.push((e.data, j, d));
            }
        }
    }
    let links: Vec<(usize, usize)> = pairs.iter().map(|p| (p.0, p.1)).collect();
    let (mut loc, mut assigned) = (0.0, 0usize);
    let mut matched = Vec::new();
    for comp in assign::components(&links) {
        let (idx, ti, yi) = (&comp.edges, &comp.left, &comp.right);
        // Cost of a pair is d^p - c^p (< 0) when closer than c, 0 otherwise: the assignment
        // then picks the pairs that lower GOSPA most.
        let mut cost = vec![0.0; ti.len() * yi.len()];
        for &k in idx {
            let (i, j, d) = pairs[k];
            let (Ok(a), Ok(b)) = (ti.binary_search(&i), yi.binary_search(&j)) else {
                continue;
            };
            cost[a * yi.len() + b] = d.powf(p) - cp;
        }
        for (a, b) in assign::solve(ti.len(), yi.len(), &cost) {
            let v = cost[a * yi.len() + b];
            if v < 0.0 {
                loc += v + cp;
                assigned += 1;
                matched.push((ti[a], yi[b]));
            }
        }
    }
    let missed = (n - assigned) as f64 * cp / 2.0;
    let false_tracks = (m - assigned) as f64 * cp / 2.0;
    let big = m.max(n);
    let ospa = if big == 0 {
        0.0
    } else {
        ((loc + cp * (m.min(n) - assigned) as f64 + cp * m.abs_diff(n) as f64) / big as f64)
            .powf(1.0 / p)
    };
    let g = Gospa {
        distance: (loc + missed + false_tracks).powf(1.0 / p),
        localisation: loc,
        missed,
        false_tracks,
        assigned,
        ospa,
    };
    (g, matched)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_sets_score_zero() {
        assert_eq!(gospa(&[], &[], 10.0, 1.0), Gospa::default());
    }

    #[test]
    fn hand_computed_case_with_p_two() {
        // Truths at (0,0) and (100,0); tracks at (3,4) (5 m from the first) and (100,40)
        // (40 m from the second, beyond c = 30). p = 2, c = 30:
        // localisation 25; second truth missed (450), second track false (450).
        let g = gospa(
            &[[3.0, 4.0], [100.0, 40.0]],
            &[[0.0, 0.0], [100.0, 0.0]],
            30.0,
            2.0,
        );
        assert!((g.localisation - 25.0).abs() < 1e-9);
        assert!((g.missed - 450.0).abs() < 1e-9);
        assert!((g.false_tracks - 450.0).abs() < 1e-9);
        assert!((g.distance - 925f64.sqrt()).abs() < 1e-9);
        // OSPA: ((25 + 900) / 2)^(1/2).
        assert!((g.ospa - (925.0f64 / 2.0).sqrt()).abs() < 1e-9);
    }

    #[test]
    fn assignment_is_optimal_not_greedy() {
        // Greedy would pair track A (at 0) with truth at 1 (d=1) and leave truth at -4.5 with
        // track B at 5 (d=9.5 < c=10). Optimal: A–(-4.5) (4.5) + B–1 (4) = 8.5 < 10.5.
        let g = gospa(
            &[[0.0, 0.0], [5.0, 0.0]],
            &[[1.0, 0.0], [-4.5, 0.0]],
            10.0,
            1.0,
        );
        assert!((g.localisation - 8.5).abs() < 1e-9, "{g:?}");
        assert_eq!(g.assigned, 2);
    }

    #[test]
    fn only_missed_truths() {
        let g = gospa(&[], &[[0.0, 0.0], [1.0, 1.0]], 10.0, 1.0);
        assert_eq!((g.missed, g.false_tracks, g.distance), (10.0, 0.0, 10.0));
        assert_eq!(g.ospa, 10.0);
    }
}
