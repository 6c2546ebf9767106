//! GOSPA and OSPA between two point sets, as Stone Soup's `GOSPAMetric` / `OSPAMetric` define them.
//!
//! With α = 2, GOSPA is `(Σ_assigned d^p + c^p/2 · (missed + false))^(1/p)` under the assignment
//! that minimises it, where pairs at distance ≥ c count as one missed and one false. The
//! `localisation`, `missed` and `false` parts are reported, like Stone Soup's, in units of
//! distance^p so that `distance = (localisation + missed + false)^(1/p)`. Because pairs farther
//! than c never help, the problem splits into clusters of points within c of each other, each
//! solved exactly with the assignment solver whenever tracks × truths ≤ [`EXACT_CELLS`].
//! Beyond, each truth weighs its [`CANDIDATES`] nearest tracks, and a cluster over
//! `EXACT_CELLS` pairs (a crowd of thousands within c) is assigned greedily, closest first —
//! an upper bound on GOSPA, in memory linear in the points. A point that is no
//! number (or infinitely far) is never assigned.

use std::collections::HashMap;

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

/// Pairs of points within c of each other in one cluster up to which the assignment is exact
/// (Jonker–Volgenant on a dense matrix of 8 bytes a cell: 32 MiB).
pub const EXACT_CELLS: usize = 4_000_000;

/// Where tracks × truths exceed [`EXACT_CELLS`], the tracks within c of one truth that are
/// candidates for it, nearest first: in a crowd of thousands within c of each other, the pairs
/// stay linear in its size.
pub const CANDIDATES: usize = 256;

fn finite(p: &Xy) -> bool {
    p[0].is_finite() && p[1].is_finite()
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
            .filter(|(_, t)| finite(t))
            .map(|(i, t)| GeomWithData::new(*t, i))
            .collect(),
    );
    let mut pairs = Vec::new();
    // A point that is no number is never assigned: as far from everything as can be.
    // Exact whenever the whole problem fits EXACT_CELLS; beyond, each truth weighs its
    // CANDIDATES nearest tracks.
    let candidates = if m.saturating_mul(n) <= EXACT_CELLS {
        usize::MAX
    } else {
        CANDIDATES
    };
    for (j, y) in truths.iter().enumerate().filter(|(_, y)| finite(y)) {
        for e in tree.nearest_neighbor_iter(y).take(candidates) {
            let d = dist(tracks[e.data], *y);
            if d >= c {
                break;
            }
            pairs.push((e.data, j, d));
        }
    }
    let links: Vec<(usize, usize)> = pairs.iter().map(|p| (p.0, p.1)).collect();
    let (mut loc, mut assigned) = (0.0, 0usize);
    let mut matched = Vec::new();
    for comp in assign::components(&links) {
        let (idx, ti, yi) = (&comp.edges, &comp.left, &comp.right);
        // Cost of a pair is d^p - c^p (< 0) when closer than c, 0 otherwise: the assignment
        // then picks the pairs that lower GOSPA most.
        let mut triples = Vec::with_capacity(idx.len());
        for &k in idx {
            let (i, j, d) = pairs[k];
            let (Ok(a), Ok(b)) = (ti.binary_search(&i), yi.binary_search(&j)) else {
                continue;
            };
            triples.push((a, b, d.powf(p) - cp));
        }
        // Exact up to a cluster of EXACT_CELLS pairs; a crowd beyond (thousands of points
        // within c of each other) is assigned greedily, closest first, in bounded memory.
        let chosen: Vec<(usize, usize, f64)> = if ti.len() * yi.len() <= EXACT_CELLS {
            let mut cost = vec![0.0; ti.len() * yi.len()];
            for &(a, b, v) in &triples {
                cost[a * yi.len() + b] = v;
            }
            assign::solve(ti.len(), yi.len(), &cost)
                .into_iter()
                .map(|(a, b)| (a, b, cost[a * yi.len() + b]))
                .collect()
        } else {
            assign::greedy(ti.len(), yi.len(), &triples, 0.0)
                .into_iter()
                .map(|k| triples[k])
                .collect()
        };
        for (a, b, v) in chosen {
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

/// Stone Soup's GOSPA switching term (`_SwitchingLoss` in `ospametric.py`): the truth → track
/// assignment of each time is compared with each truth's previous one. A truth that changes
/// from one track to another is a full switch (1); from a track to none or from none to a track
/// a half switch (0.5). A truth seen for the first time is not a switch, and a truth absent
/// from a time (or a time with no track or no truth at all, whose assignment Stone Soup leaves
/// empty) keeps its previous assignment. The term of one time is
/// `penalty · (Σ switches)^(1/p)`, and Stone Soup folds it into that time's distance as
/// `(gospa² + switching²)^(1/2)` (α = 2), see [`with_switching`].
#[derive(Clone, Debug, Default)]
pub struct Switching {
    penalty: f64,
    p: f64,
    last: HashMap<u64, Option<u64>>,
    /// Full switches so far (a truth taken over by another track).
    pub full: u64,
    /// Half switches so far (a truth lost or picked up by a track).
    pub half: u64,
    /// Truths that switched fully at the last time added.
    pub switched: Vec<u64>,
}

/// The switching term of one time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct SwitchStep {
    /// Full switches at this time.
    pub full: u32,
    /// Half switches at this time.
    pub half: u32,
    /// `penalty · (full + half / 2)^(1/p)`.
    pub loss: f64,
}

impl Switching {
    /// A switching term with Stone Soup's `switching_penalty` and GOSPA's order `p`.
    pub fn new(penalty: f64, p: f64) -> Self {
        Self {
            penalty,
            p,
            ..Self::default()
        }
    }

    /// Adds one time's assignment: every truth present with its track (`None`: unassigned).
    /// Pass nothing at a time with no tracks or no truths, as Stone Soup does.
    pub fn add(&mut self, assignment: impl IntoIterator<Item = (u64, Option<u64>)>) -> SwitchStep {
        let mut step = SwitchStep::default();
        self.switched.clear();
        for (truth, track) in assignment {
            match self.last.get(&truth) {
                None if track.is_none() => {}
                None => {
                    self.last.insert(truth, track);
                }
                Some(&before) if before != track => {
                    if before.is_some() && track.is_some() {
                        step.full += 1;
                        self.switched.push(truth);
                    } else {
                        step.half += 1;
                    }
                    self.last.insert(truth, track);
                }
                Some(_) => {}
            }
        }
        self.full += u64::from(step.full);
        self.half += u64::from(step.half);
        let sum = f64::from(step.full) + 0.5 * f64::from(step.half);
        step.loss = self.penalty * sum.powf(1.0 / self.p);
        step
    }

    /// Forgets truths not in `keep` (for long runs whose objects come and go).
    pub fn retain(&mut self, keep: impl Fn(u64) -> bool) {
        self.last.retain(|&k, _| keep(k));
    }
}

/// Stone Soup's GOSPA distance with its switching term folded in (α = 2).
pub fn with_switching(distance: f64, switching: f64) -> f64 {
    (distance * distance + switching * switching).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn switching_term_matches_hand_computed_cases() {
        // Truths 1 and 2; penalty 10, p = 1.
        let mut s = Switching::new(10.0, 1.0);
        // t0: first assignments are no switch; truth 3 unassigned on first sight neither.
        let a = s.add([(1, Some(11)), (2, Some(12)), (3, None)]);
        assert_eq!((a.full, a.half, a.loss), (0, 0, 0.0));
        // t1: the two tracks swap: two full switches, loss 10 · 2.
        let a = s.add([(1, Some(12)), (2, Some(11)), (3, None)]);
        assert_eq!((a.full, a.half, a.loss), (2, 0, 20.0));
        // t2: truth 1 lost (half), truth 2 unchanged, truth 3 picked up (its first track: none).
        let a = s.add([(1, None), (2, Some(11)), (3, Some(13))]);
        assert_eq!((a.full, a.half, a.loss), (0, 1, 5.0));
        // t3: no tracks at all: Stone Soup passes an empty assignment, nothing changes.
        assert_eq!(s.add([]).loss, 0.0);
        // t4: truth 1 picked up by a new track (half); truth 3 absent keeps its track.
        let a = s.add([(1, Some(14)), (2, Some(11))]);
        assert_eq!((a.full, a.half, a.loss), (0, 1, 5.0));
        // t5: truth 3 back with another track: full.
        let a = s.add([(3, Some(15))]);
        assert_eq!((a.full, a.half), (1, 0));
        assert_eq!((s.full, s.half), (3, 2));
        // p = 2: penalty · sqrt(1 + 0.5 + 0.5) for one full and two halves.
        let mut s = Switching::new(10.0, 2.0);
        s.add([(1, Some(1)), (2, Some(2)), (3, Some(3)), (4, Some(4))]);
        let a = s.add([(1, Some(2)), (2, None), (3, None), (4, Some(4))]);
        assert_eq!((a.full, a.half), (1, 2));
        assert!((a.loss - 10.0 * 2f64.sqrt()).abs() < 1e-12);
        assert!((with_switching(3.0, 4.0) - 5.0).abs() < 1e-12);
    }

    #[test]
    fn crossing_tracks_that_swap_identities_count_two_full_switches() {
        // Two truths walk toward each other along y = 0 and y = 2; after the crossing the
        // tracks follow the other truth. GOSPA assigns by position, so the switch shows.
        let mut s = Switching::new(50.0, 1.0);
        let mut total = 0.0;
        for k in 0..10 {
            let x = k as f64 * 10.0;
            let truths = [[x, 0.0], [90.0 - x, 2.0]];
            // Track 7 follows truth 0 until k = 5, then truth 1 (and track 8 the reverse).
            let tracks = if k < 5 {
                [[x + 1.0, 0.0], [91.0 - x, 2.0]]
            } else {
                [[91.0 - x, 2.0], [x + 1.0, 0.0]]
            };
            let (_, pairs) = gospa_with_pairs(&tracks, &truths, 50.0, 1.0);
            let ids = [7u64, 8];
            let step = s.add(pairs.iter().map(|&(i, j)| (j as u64, Some(ids[i]))));
            total += step.loss;
        }
        assert_eq!((s.full, s.half), (2, 0));
        assert_eq!(total, 100.0);
    }

    #[test]
    fn a_point_that_is_no_number_is_never_assigned_and_never_panics() {
        let bad = [f64::NAN, 0.0];
        let far = [f64::INFINITY, f64::NEG_INFINITY];
        let g = gospa(&[[0.0, 0.0], bad, far], &[[1.0, 0.0], bad], 10.0, 1.0);
        assert_eq!(g.assigned, 1);
        assert_eq!(g.localisation, 1.0);
        assert_eq!((g.missed, g.false_tracks), (5.0, 10.0));
    }

    #[test]
    fn a_crowd_of_thousands_within_c_is_scored_in_bounded_memory() {
        // 3000 truths and 3000 tracks, each track 0.1 m east of its truth, all within 40 m: one
        // cluster of 9 million pairs, over EXACT_CELLS, assigned greedily from CANDIDATES each.
        let truths: Vec<Xy> = (0..3000)
            .map(|k| [(k % 60) as f64 * 0.5, (k / 60) as f64 * 0.5])
            .collect();
        let tracks: Vec<Xy> = truths.iter().map(|t| [t[0] + 0.1, t[1]]).collect();
        let g = gospa(&tracks, &truths, 100.0, 1.0);
        assert_eq!(g.assigned, 3000);
        assert!((g.localisation - 300.0).abs() < 1e-6, "{g:?}");
    }

    #[test]
    fn more_than_candidates_tracks_near_one_truth_are_still_assigned_exactly() {
        // 257 truths at the origin; 256 tracks there and one 50 m east: with c = 100 the best
        // assignment pairs all 257, at a cost of 50.
        let truths = vec![[0.0, 0.0]; CANDIDATES + 1];
        let mut tracks = vec![[0.0, 0.0]; CANDIDATES];
        tracks.push([50.0, 0.0]);
        let g = gospa(&tracks, &truths, 100.0, 1.0);
        assert_eq!(g.assigned, CANDIDATES + 1);
        assert_eq!(g.distance, 50.0);
    }

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
