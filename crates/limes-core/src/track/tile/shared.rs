//! Joint probabilistic data association inside a tile: the established tracks of each gated
//! cluster updated with every detection they may have taken, weighted by the marginals of
//! [`jpda`].

use super::{hit_score, miss_score, ScanStats, Tile};
use crate::record::TrackStatus;
use crate::track::assign;
use crate::track::jpda;
use crate::track::kalman::{self, cov2, Cov, Innovation, MotionModel, State};
use crate::track::limits::Books;
use crate::track::{Meas, TrackerConfig};

/// One established track's update from a JPDA cluster.
pub(super) struct Weighted {
    /// The track's slab key.
    pub key: usize,
    /// The moment-matched mixture of its updates (and of its prediction, for the chance it
    /// was missed).
    pub x: State,
    /// Covariance of the mixture.
    pub p: Cov,
    /// Its most probable detection and that probability.
    pub best: (usize, f64),
    /// What the scan adds to its score: the expected log-likelihood ratio over its hypotheses.
    pub gain: f64,
}

impl Tile {
    /// Runs JPDA over the clusters that the gated `edges` of established tracks form (a cluster
    /// over `[tracker.limits] cluster_cells` is assigned greedily instead). Tracks more likely
    /// detected than not get a [`Weighted`] update in `out` (the others are missed this scan,
    /// as with GNN); detections those tracks hold enough of are marked in `taken`, so they
    /// start no track.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn associate_jpda(
        &mut self,
        t: f64,
        meas: &[Meas],
        edges: &[(usize, usize, Innovation)],
        cfg: &TrackerConfig,
        motion: &dyn MotionModel,
        books: &Books,
        taken: &mut [bool],
        out: &mut Vec<Weighted>,
        stats: &mut ScanStats,
    ) {
        let pd = books.scan_detection_probability(meas, cfg.detection_probability);
        let miss_ln = miss_score(pd);
        let established: Vec<usize> = (0..edges.len())
            .filter(|&k| self.tracks[edges[k].0].status != TrackStatus::Tentative)
            .collect();
        let links: Vec<(usize, usize)> = established
            .iter()
            .map(|&k| (edges[k].0, edges[k].1))
            .collect();
        for comp in assign::components(&links) {
            let (ct, cm) = (&comp.left, &comp.right);
            let (nt, nm) = (ct.len(), cm.len());
            stats.largest_cluster = stats.largest_cluster.max(nt * nm);
            self.note_sharing(ct, cm);
            // Each track's gated edges: (local detection, edge index, ln likelihood ratio).
            let mut by_track: Vec<Vec<(usize, usize, f64)>> = vec![Vec::new(); nt];
            for &e in &comp.edges {
                let k = established[e];
                let (key, j, inn) = &edges[k];
                let (Ok(a), Ok(b)) = (ct.binary_search(key), cm.binary_search(j)) else {
                    continue;
                };
                let ln_w = hit_score(inn, pd, books.clutter_density(meas[*j].sensor));
                by_track[a].push((b, k, ln_w));
            }
            if nt * (nm + 1) > cfg.limits.cluster_cells {
                // Too large to hold its marginals in bounded memory: greedy hard assignment.
                let rows: Vec<(usize, &(usize, usize, f64))> = by_track
                    .iter()
                    .enumerate()
                    .flat_map(|(a, row)| row.iter().map(move |r| (a, r)))
                    .collect();
                let triples: Vec<(usize, usize, f64)> = rows
                    .iter()
                    .map(|&(a, &(b, k, _))| (a, b, edges[k].2.d2))
                    .collect();
                for i in assign::greedy(nt, nm, &triples, cfg.gate_chi2) {
                    let (_, &(_, k, ln_w)) = rows[i];
                    let (key, j, inn) = &edges[k];
                    let (x, p) = self.predicted(*key, t, cfg, motion);
                    let (x, p) = kalman::update(&x, &p, inn, &cov2(meas[*j].r));
                    taken[*j] = true;
                    out.push(Weighted {
                        key: *key,
                        x,
                        p,
                        best: (*j, 1.0),
                        gain: ln_w,
                    });
                }
                continue;
            }
            // Likelihood ratios scaled per track (the marginals do not change) before exp.
            let mut w = vec![0.0; nt * nm];
            let mut miss = vec![0.0; nt];
            for (a, row) in by_track.iter().enumerate() {
                let top = row.iter().map(|r| r.2).fold(miss_ln, f64::max);
                miss[a] = (miss_ln - top).exp();
                for &(b, _, ln_w) in row {
                    w[a * nm + b] = (ln_w - top).exp();
                }
            }
            let marg = jpda::marginals(nt, nm, &w, &miss);
            // A detection starts no track once the tracks that will be updated with it hold,
            // together, at least a quarter of it, or once it is more likely some track's than
            // not and one of those is updated with it.
            let updated: Vec<bool> = (0..nt).map(|a| marg.missed(a) <= 0.5).collect();
            for (b, &j) in cm.iter().enumerate() {
                let held: f64 = (0..nt)
                    .filter(|&a| updated[a])
                    .map(|a| marg.took(a, b))
                    .sum();
                if held >= 0.25 || (held > 0.0 && marg.explained(b) >= 0.5) {
                    taken[j] = true;
                }
            }
            for (a, &key) in ct.iter().enumerate() {
                let missed = marg.missed(a);
                if !updated[a] {
                    continue;
                }
                let (x, p) = self.predicted(key, t, cfg, motion);
                let mut parts: Vec<(f64, State, Cov)> = vec![(missed, x, p)];
                let mut gain = missed * miss_ln;
                let mut best = (usize::MAX, 0.0);
                for &(b, k, ln_w) in &by_track[a] {
                    let beta = marg.took(a, b);
                    if beta < 1e-9 {
                        continue;
                    }
                    let (_, j, inn) = &edges[k];
                    let (xj, pj) = kalman::update(&x, &p, inn, &cov2(meas[*j].r));
                    parts.push((beta, xj, pj));
                    gain += beta * ln_w;
                    if beta > best.1 {
                        best = (*j, beta);
                    }
                }
                if best.0 == usize::MAX {
                    continue;
                }
                let (x, p) = mixture(&parts);
                out.push(Weighted {
                    key,
                    x,
                    p,
                    best,
                    gain,
                });
            }
        }
    }
}

/// The single Gaussian with the mean and covariance of a weighted mixture of Gaussians.
fn mixture(parts: &[(f64, State, Cov)]) -> (State, Cov) {
    let total: f64 = parts.iter().map(|c| c.0).sum();
    let mean = parts.iter().map(|c| c.1 * (c.0 / total)).sum::<State>();
    let cov = parts
        .iter()
        .map(|c| {
            let d = c.1 - mean;
            (c.2 + d * d.transpose()) * (c.0 / total)
        })
        .sum::<Cov>();
    (mean, cov)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mixture_of_one_is_itself_and_of_two_spreads_between_them() {
        let p = Cov::identity();
        let a = State::new(0.0, 0.0, 1.0, 0.0);
        let (m, c) = mixture(&[(1.0, a, p)]);
        assert_eq!((m, c), (a, p));
        let b = State::new(2.0, 0.0, 1.0, 0.0);
        let (m, c) = mixture(&[(0.5, a, p), (0.5, b, p)]);
        assert!((m[0] - 1.0).abs() < 1e-12);
        // Each part's own variance 1 plus the spread of the means (±1 about the mean).
        assert!((c[(0, 0)] - 2.0).abs() < 1e-12);
        assert!((c[(1, 1)] - 1.0).abs() < 1e-12);
    }
}
