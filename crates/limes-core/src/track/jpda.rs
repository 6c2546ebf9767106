//! Joint probabilistic data association: the probability that each track of a gated cluster
//! took each detection, or none, summed over every feasible joint hypothesis.
//!
//! A joint hypothesis gives each track at most one detection and each detection at most one
//! track; its weight is the product of the tracks' weights: `w[i][j]` (the likelihood ratio of
//! detection `j` coming from track `i` against clutter, `Pd · N(ν; 0, S) / λ`) for a track that
//! took `j`, `miss[i]` (`1 − Pd`) for one that took none. Detections left over are clutter or
//! new objects (weight 1, as the ratios are against clutter).
//!
//! [`exact`] sums over every hypothesis by dynamic programming on the set of detections the
//! tracks before a given one have used (the idea behind Stone Soup's EHM), so its cost is
//! `tracks × 2^detections × detections` rather than the number of hypotheses; clusters with
//! more detections than [`EXACT_MAX_MEAS`] go to [`belief_propagation`] (Williams & Lau,
//! "Approximate evaluation of marginal association probabilities with belief propagation",
//! IEEE TAES 2014), linear in the cluster's edges per iteration and a fixed number of
//! iterations at most, so a herd or a breakout crowd costs bounded time.

/// The largest number of detections in a cluster evaluated exactly.
pub const EXACT_MAX_MEAS: usize = 10;

/// Tracks × subsets of detections the exact evaluation holds at most (16 MiB of sums);
/// a larger cluster goes to belief propagation.
pub const EXACT_MAX_STATES: usize = 1 << 20;

/// Iterations of belief propagation at most (200 left a loopy 4 × 5 cluster of near-certain
/// detections, weights ~10⁴ against misses of 0.01, with a detection 1.00001 objects'; a case
/// proptest found, kept in `proptest-regressions/`).
pub const BP_MAX_ITERATIONS: usize = 500;

/// Belief propagation stops once no message moves by more than this (relative).
pub const BP_TOLERANCE: f64 = 1e-9;

/// Marginal association probabilities of one cluster.
#[derive(Clone, Debug, PartialEq)]
pub struct Marginals {
    /// Detections in the cluster.
    pub n_meas: usize,
    /// Row `i` is track `i`: `[P(no detection), P(detection 0), …, P(detection n_meas − 1)]`.
    pub p: Vec<f64>,
}

impl Marginals {
    /// The probability that track `i` took detection `j`.
    pub fn took(&self, i: usize, j: usize) -> f64 {
        self.p[i * (self.n_meas + 1) + 1 + j]
    }

    /// The probability that track `i` took no detection.
    pub fn missed(&self, i: usize) -> f64 {
        self.p[i * (self.n_meas + 1)]
    }

    /// The probability that some track took detection `j`.
    pub fn explained(&self, j: usize) -> f64 {
        let n = self.p.len() / (self.n_meas + 1);
        (0..n).map(|i| self.took(i, j)).sum()
    }
}

/// Marginals of one cluster, exact when it has at most [`EXACT_MAX_MEAS`] detections and by
/// belief propagation otherwise. `w[i * n_meas + j]` is 0 outside the gate.
pub fn marginals(n_tracks: usize, n_meas: usize, w: &[f64], miss: &[f64]) -> Marginals {
    if n_meas <= EXACT_MAX_MEAS && n_tracks.saturating_mul(1 << n_meas) <= EXACT_MAX_STATES {
        exact(n_tracks, n_meas, w, miss)
    } else {
        belief_propagation(n_tracks, n_meas, w, miss)
    }
}

/// Scales each track's row (its miss weight and detection weights) so its largest is 1: the
/// marginals do not change (every hypothesis holds each track exactly once) and products over
/// many tracks stay inside `f64`.
fn normalised(n_tracks: usize, n_meas: usize, w: &[f64], miss: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let mut w = w.to_vec();
    let mut miss = miss.to_vec();
    for i in 0..n_tracks {
        let row = &mut w[i * n_meas..(i + 1) * n_meas];
        let top = row.iter().copied().fold(miss[i], f64::max);
        if top > 0.0 && top.is_finite() {
            row.iter_mut().for_each(|x| *x /= top);
            miss[i] /= top;
        }
    }
    (w, miss)
}

/// Exact marginals by dynamic programming over the set of detections already used
/// (`n_meas` ≤ [`EXACT_MAX_MEAS`]; larger clusters are the caller's to split or approximate).
///
/// # Panics
/// Over 20 detections (the sums alone would take 2^20 × (tracks + 1) × 16 bytes).
pub fn exact(n_tracks: usize, n_meas: usize, w: &[f64], miss: &[f64]) -> Marginals {
    assert!(n_meas <= 20, "exact JPDA over {n_meas} detections");
    let (w, miss) = normalised(n_tracks, n_meas, w, miss);
    let states = 1usize << n_meas;
    // fwd[i][m]: total weight of the first i tracks using exactly the detections in m.
    let mut fwd = vec![0.0; (n_tracks + 1) * states];
    fwd[0] = 1.0;
    for i in 0..n_tracks {
        let (done, next) = fwd.split_at_mut((i + 1) * states);
        let cur = &done[i * states..];
        let next = &mut next[..states];
        for m in 0..states {
            let f = cur[m];
            if f == 0.0 {
                continue;
            }
            next[m] += f * miss[i];
            for j in 0..n_meas {
                let wij = w[i * n_meas + j];
                if wij > 0.0 && m & (1 << j) == 0 {
                    next[m | 1 << j] += f * wij;
                }
            }
        }
    }
    // bwd[i][m]: total weight of tracks i.. using none of the detections in m.
    let mut bwd = vec![0.0; (n_tracks + 1) * states];
    bwd[n_tracks * states..].iter_mut().for_each(|b| *b = 1.0);
    for i in (0..n_tracks).rev() {
        let (head, tail) = bwd.split_at_mut((i + 1) * states);
        let after = &tail[..states];
        let here = &mut head[i * states..];
        for m in 0..states {
            let mut b = miss[i] * after[m];
            for j in 0..n_meas {
                let wij = w[i * n_meas + j];
                if wij > 0.0 && m & (1 << j) == 0 {
                    b += wij * after[m | 1 << j];
                }
            }
            here[m] = b;
        }
    }
    let z = bwd[0];
    let cols = n_meas + 1;
    let mut p = vec![0.0; n_tracks * cols];
    for i in 0..n_tracks {
        let f = &fwd[i * states..(i + 1) * states];
        let after = &bwd[(i + 1) * states..(i + 2) * states];
        let row = &mut p[i * cols..(i + 1) * cols];
        for m in 0..states {
            if f[m] == 0.0 {
                continue;
            }
            row[0] += f[m] * miss[i] * after[m];
            for j in 0..n_meas {
                let wij = w[i * n_meas + j];
                if wij > 0.0 && m & (1 << j) == 0 {
                    row[1 + j] += f[m] * wij * after[m | 1 << j];
                }
            }
        }
        if z > 0.0 {
            row.iter_mut().for_each(|x| *x /= z);
        } else {
            row[0] = 1.0;
        }
    }
    Marginals { n_meas, p }
}

/// Approximate marginals by loopy belief propagation between tracks and detections (Williams &
/// Lau 2014): at most [`BP_MAX_ITERATIONS`] passes over the cluster's edges.
pub fn belief_propagation(n_tracks: usize, n_meas: usize, w: &[f64], miss: &[f64]) -> Marginals {
    let (w, miss) = normalised(n_tracks, n_meas, w, miss);
    // Sparse edges: (track, detection, weight), grouped by track.
    let edges: Vec<(usize, usize, f64)> = (0..n_tracks)
        .flat_map(|i| (0..n_meas).map(move |j| (i, j)))
        .filter_map(|(i, j)| {
            let wij = w[i * n_meas + j];
            (wij > 0.0).then_some((i, j, wij))
        })
        .collect();
    // nu[e]: message from the edge's detection to its track; mu[e]: from the track.
    let mut nu = vec![1.0; edges.len()];
    let mut mu = vec![0.0; edges.len()];
    let mut row_sum = vec![0.0; n_tracks];
    let mut col_sum = vec![0.0; n_meas];
    // Each track's miss weight plus its detections' weights times their messages.
    let row_sums = |nu: &[f64], row_sum: &mut [f64]| {
        row_sum.copy_from_slice(&miss);
        for (e, &(i, _, wij)) in edges.iter().enumerate() {
            row_sum[i] += wij * nu[e];
        }
    };
    for _ in 0..BP_MAX_ITERATIONS {
        row_sums(&nu, &mut row_sum);
        for (e, &(i, _, wij)) in edges.iter().enumerate() {
            // The rest of the track's row; floored, so that a miss weight lost in rounding
            // cannot make the message infinite.
            let rest = (row_sum[i] - wij * nu[e])
                .max(wij * 1e-12)
                .max(f64::MIN_POSITIVE);
            mu[e] = (wij / rest).min(1e200);
        }
        col_sum.iter_mut().for_each(|s| *s = 1.0);
        for (e, &(_, j, _)) in edges.iter().enumerate() {
            col_sum[j] += mu[e];
        }
        let mut moved: f64 = 0.0;
        for (e, &(_, j, _)) in edges.iter().enumerate() {
            // 1 + the other tracks' messages, at least 1 whatever the rounding.
            let new = 1.0 / (col_sum[j] - mu[e]).max(1.0);
            moved = moved.max((new - nu[e]).abs() / new.max(1e-300));
            nu[e] = new;
        }
        if moved < BP_TOLERANCE {
            break;
        }
    }
    let cols = n_meas + 1;
    let mut p = vec![0.0; n_tracks * cols];
    row_sums(&nu, &mut row_sum);
    for i in 0..n_tracks {
        p[i * cols] = if row_sum[i] > 0.0 {
            miss[i] / row_sum[i]
        } else {
            1.0
        };
    }
    for (e, &(i, j, wij)) in edges.iter().enumerate() {
        if row_sum[i] > 0.0 {
            p[i * cols + 1 + j] = wij * nu[e] / row_sum[i];
        }
    }
    Marginals { n_meas, p }
}

/// Marginals by listing every feasible joint hypothesis (tests and checks only: exponential).
pub fn brute_force(n_tracks: usize, n_meas: usize, w: &[f64], miss: &[f64]) -> Marginals {
    fn go(
        i: usize,
        used: &mut Vec<bool>,
        pick: &mut Vec<usize>,
        dims: (usize, usize),
        w: &[f64],
        miss: &[f64],
        acc: &mut Vec<f64>,
    ) {
        let (nt, nm) = dims;
        if i == nt {
            let weight: f64 = pick
                .iter()
                .enumerate()
                .map(|(t, &k)| if k == 0 { miss[t] } else { w[t * nm + k - 1] })
                .product();
            for (t, &k) in pick.iter().enumerate() {
                acc[t * (nm + 1) + k] += weight;
            }
            return;
        }
        pick.push(0);
        go(i + 1, used, pick, dims, w, miss, acc);
        pick.pop();
        for j in 0..nm {
            if !used[j] && w[i * nm + j] > 0.0 {
                used[j] = true;
                pick.push(j + 1);
                go(i + 1, used, pick, dims, w, miss, acc);
                pick.pop();
                used[j] = false;
            }
        }
    }
    let mut acc = vec![0.0; n_tracks * (n_meas + 1)];
    go(
        0,
        &mut vec![false; n_meas],
        &mut Vec::new(),
        (n_tracks, n_meas),
        w,
        miss,
        &mut acc,
    );
    for row in acc.chunks_mut(n_meas + 1) {
        let z: f64 = row.iter().sum();
        if z > 0.0 {
            row.iter_mut().for_each(|x| *x /= z);
        }
    }
    Marginals { n_meas, p: acc }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A cluster: weights spanning the range a gate produces (clutter-like to certain), some
    /// pairs outside the gate, misses as at Pd 0.5–0.99.
    fn cluster(
        max_t: usize,
        max_m: usize,
    ) -> impl Strategy<Value = (usize, usize, Vec<f64>, Vec<f64>)> {
        (1..=max_t, 1..=max_m).prop_flat_map(|(nt, nm)| {
            (
                Just(nt),
                Just(nm),
                proptest::collection::vec(prop_oneof![Just(0.0), 1e-3f64..1e4], nt * nm),
                proptest::collection::vec(0.01f64..0.5, nt),
            )
        })
    }

    /// Each track's row sums to 1, pairs outside the gate have probability 0, and no detection
    /// is more than one object's (within `col_tol`).
    fn check_distribution(
        m: &Marginals,
        nt: usize,
        nm: usize,
        w: &[f64],
        col_tol: f64,
    ) -> Result<(), TestCaseError> {
        for i in 0..nt {
            let row: f64 = m.p[i * (nm + 1)..(i + 1) * (nm + 1)].iter().sum();
            prop_assert!((row - 1.0).abs() < 1e-9, "row {i} sums to {row}");
            for j in 0..nm {
                if w[i * nm + j] == 0.0 {
                    prop_assert_eq!(m.took(i, j), 0.0, "outside the gate");
                }
            }
        }
        for j in 0..nm {
            prop_assert!(
                m.explained(j) <= 1.0 + col_tol,
                "a detection is one object's at most"
            );
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn exact_marginals_match_enumerating_every_hypothesis((nt, nm, w, miss) in cluster(5, 6)) {
            let fast = exact(nt, nm, &w, &miss);
            let slow = brute_force(nt, nm, &w, &miss);
            for (a, b) in fast.p.iter().zip(&slow.p) {
                prop_assert!((a - b).abs() < 1e-9, "{:?}\n{:?}", fast.p, slow.p);
            }
            check_distribution(&fast, nt, nm, &w, 1e-9)?;
        }

        #[test]
        fn belief_propagation_stays_a_distribution((nt, nm, w, miss) in cluster(4, 5)) {
            let bp = belief_propagation(nt, nm, &w, &miss);
            check_distribution(&bp, nt, nm, &w, 1e-6)?;
        }

        /// Belief propagation is exact where the cluster has no loop: a chain of tracks, each
        /// gating its own detection and the next track's (a file of people walking in line).
        /// On loops it is an approximation (about 0.3 off on a near-tie between two tracks and
        /// two detections, both certain to be detected).
        #[test]
        fn belief_propagation_is_exact_on_a_cluster_without_loops(
            nt in 1usize..7,
            own in proptest::collection::vec(1e-2f64..1e4, 7),
            next in proptest::collection::vec(1e-2f64..1e4, 7),
            miss in proptest::collection::vec(0.01f64..0.5, 7),
        ) {
            let nm = nt;
            let mut w = vec![0.0; nt * nm];
            for i in 0..nt {
                w[i * nm + i] = own[i];
                if i + 1 < nm {
                    w[i * nm + i + 1] = next[i];
                }
            }
            let bp = belief_propagation(nt, nm, &w, &miss[..nt]);
            let ex = exact(nt, nm, &w, &miss[..nt]);
            for (a, b) in bp.p.iter().zip(&ex.p) {
                prop_assert!((a - b).abs() < 1e-6, "{:?}\n{:?}", bp.p, ex.p);
            }
        }
    }

    #[test]
    fn exact_on_two_tracks_and_two_detections_by_hand() {
        // Tracks a, b; detections 0, 1. Hypotheses and weights (miss 0.1 each):
        // a0 b1: 4·1 = 4; a1 b0: 2·3 = 6; a0 b-: 4·0.1; a1 b-: 2·0.1; a- b0: 0.1·3; a- b1: 0.1·1;
        // a- b-: 0.01. Sum 10.01 + 0.6 + 0.4 = 11.01.
        let w = [4.0, 2.0, 3.0, 1.0];
        let m = exact(2, 2, &w, &[0.1, 0.1]);
        let z = 11.01;
        assert!((m.took(0, 0) - 4.4 / z).abs() < 1e-12);
        assert!((m.took(0, 1) - 6.2 / z).abs() < 1e-12);
        assert!((m.missed(0) - 0.41 / z).abs() < 1e-12);
        assert!((m.took(1, 0) - 6.3 / z).abs() < 1e-12);
    }

    #[test]
    fn a_large_cluster_goes_to_belief_propagation_in_bounded_passes() {
        // A crowd: 60 tracks and 60 detections all in each other's gates.
        let (nt, nm) = (60, 60);
        let w: Vec<f64> = (0..nt * nm)
            .map(|k| 1.0 + ((k * 7919) % 97) as f64)
            .collect();
        let m = marginals(nt, nm, &w, &vec![0.1; nt]);
        if let Err(e) = check_distribution(&m, nt, nm, &w, 1e-6) {
            panic!("{e}");
        }
    }
}
