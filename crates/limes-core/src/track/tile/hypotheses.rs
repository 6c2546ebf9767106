//! Multi-scan hypotheses for crossing pairs (`association = "mht"`): a track-oriented MHT kept
//! to two tracks at a time.
//!
//! When two established tracks form a cluster of their own and share a detection, the tile
//! opens a *crossing* for them: a tree of joint hypotheses (which detection each track took,
//! or none, scan after scan), each leaf carrying both tracks' states and its log-likelihood
//! ratio against clutter. Every scan each leaf branches over the detections gated around the
//! pair; the `hypothesis_leaves` most likely survive (a bounded beam), and the tracks take the
//! states of the best leaf, so a pick that a later scan contradicts is undone: targets keep
//! their courses, and a branch that gave each track the other's detection fits the next scans
//! worse. Once the two have shared no detection for `hypothesis_scans` scans (or after
//! `MAX_AGE_SCANS`), the best leaf is final and the crossing closes.

use rustc_hash::{FxHashMap, FxHashSet};

use super::{hit_score, miss_score, Tile};
use crate::record::TrackStatus;
use crate::track::kalman::{self, cov2, Cov, MotionModel, State};
use crate::track::limits::Books;
use crate::track::TrackUpdate;
use crate::track::{Meas, TrackerConfig};

/// A crossing closes after this many scans however it stands.
const MAX_AGE_SCANS: u32 = 120;

/// Detections around a pair considered per scan at most (the nearest gated first).
const MAX_NEAR: usize = 6;

/// Hypotheses kept per crossing at most, whatever `hypothesis_leaves` says.
const MAX_LEAVES: usize = 256;

/// One track's state in a hypothesis: mean and covariance at its last update, and its time.
type Held = (State, Cov, f64);

/// One joint hypothesis of a crossing.
#[derive(Clone, Debug)]
struct Leaf {
    states: [Held; 2],
    /// The detections its tracks took this scan.
    took: [Option<usize>; 2],
    /// ln likelihood ratio against clutter, relative to the best leaf of the last scan.
    ll: f64,
}

/// Two tracks whose joint hypotheses are being kept.
#[derive(Clone, Debug)]
pub(super) struct Crossing {
    /// The two tracks: slab key and id (a key may be reused once a track is gone).
    tracks: [(usize, u64); 2],
    leaves: Vec<Leaf>,
    /// Consecutive scans in which the two gated no detection in common.
    quiet: u32,
    age: u32,
}

/// Two established tracks that formed a cluster of their own this scan, with their states
/// before it.
pub(super) struct Pairing {
    pub keys: [usize; 2],
    pub before: [Held; 2],
}

impl Crossing {
    /// Whether the track of slab key `key` and id `id` is one of the two.
    pub(super) fn holds(&self, key: usize, id: u64) -> bool {
        self.tracks.contains(&(key, id))
    }
}

impl Tile {
    /// Carries every crossing through this scan (after the tracks' own GNN updates), opens
    /// crossings for this scan's new pairs, and gives the tracks of each the states of its
    /// best hypothesis. `edges` are this scan's gated (track, detection) pairs; detections the
    /// best hypotheses took are marked in `taken`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn carry_hypotheses(
        &mut self,
        t: f64,
        meas: &[Meas],
        edges: &[(usize, usize, kalman::Innovation)],
        (pairings, pairs): (Vec<Pairing>, &[(usize, usize, kalman::Innovation)]),
        taken: &mut [bool],
        cfg: &TrackerConfig,
        motion: &dyn MotionModel,
        books: &Books,
        out: &mut Vec<TrackUpdate>,
    ) {
        if self.crossings.is_empty() && pairings.is_empty() {
            return;
        }
        // Each track's gated detections (with their distance), and who GNN gave each detection
        // to, built once so a scan costs its edges, not edges × crossings.
        let mut gated: FxHashMap<usize, Vec<(usize, f64)>> = FxHashMap::default();
        for e in edges {
            gated.entry(e.0).or_default().push((e.1, e.2.d2));
        }
        let given: FxHashMap<usize, usize> = pairs.iter().map(|p| (p.1, p.0)).collect();
        let mut crossings = std::mem::take(&mut self.crossings);
        crossings.retain(|c| {
            c.tracks
                .iter()
                .all(|&(k, id)| self.tracks.get(k).is_some_and(|tr| tr.id == id))
        });
        let mut watched: FxHashSet<usize> = crossings
            .iter()
            .flat_map(|c| c.tracks.iter().map(|&(k, _)| k))
            .collect();
        for pr in pairings {
            let ids = pr.keys.map(|k| self.tracks.get(k).map(|tr| tr.id));
            if pr.keys.iter().any(|k| watched.contains(k)) || !shared(&gated, pr.keys) {
                continue;
            }
            watched.extend(pr.keys);
            let (Some(a), Some(b)) = (ids[0], ids[1]) else {
                continue;
            };
            self.crossings_opened += 1;
            crossings.push(Crossing {
                tracks: [(pr.keys[0], a), (pr.keys[1], b)],
                leaves: vec![Leaf {
                    states: pr.before,
                    took: [None, None],
                    ll: 0.0,
                }],
                quiet: 0,
                age: 0,
            });
        }
        crossings.retain_mut(|c| {
            let keys = c.tracks.map(|(k, _)| k);
            let near = near_detections(&gated, &given, keys);
            let q = keys.map(|k| Self::q(cfg, &self.tracks[k]));
            c.leaves = branch(&c.leaves, &near, t, meas, cfg, motion, books, q);
            if let Some(best) = c.leaves.first() {
                let states = best.states;
                // What the best hypothesis explains starts no track.
                for j in best.took.into_iter().flatten() {
                    taken[j] = true;
                }
                for (i, &k) in keys.iter().enumerate() {
                    let (x, p, tu) = states[i];
                    let tr = &self.tracks[k];
                    if tr.t == tu && tr.x == x {
                        continue;
                    }
                    self.replace_state(k, x, p, tu, cfg);
                    // A correction of this scan's line (a state of an earlier update, should the
                    // best hypothesis have the track missed now, is left to its next update).
                    if tu == t {
                        let status = self.tracks[k].status;
                        out.push(self.update_of(k, status, best.took[i].map(|j| meas[j].sensor)));
                    }
                }
                for &k in &keys {
                    self.maybe_leave(k);
                }
            }
            let still = keys.iter().all(|&k| self.tracks.contains(k));
            c.quiet = if shared(&gated, keys) { 0 } else { c.quiet + 1 };
            c.age += 1;
            still && c.quiet < cfg.hypothesis_scans.max(1) && c.age < MAX_AGE_SCANS
        });
        self.crossings = crossings;
    }

    /// Gives track `key` another state (mean, covariance, time of update), re-indexing it.
    fn replace_state(&mut self, key: usize, x: State, p: Cov, t: f64, cfg: &TrackerConfig) {
        let tr = &mut self.tracks[key];
        tr.x = x;
        tr.p = p;
        tr.t = t;
        let fast = x[2] * x[2] + x[3] * x[3] > cfg.fast_speed * cfg.fast_speed;
        self.move_in_index(key, fast, [x[0], x[1]]);
    }

    /// A cluster of tracks `ct` worth watching for a crossing: two established tracks. Their
    /// states are read before this scan updates them.
    pub(super) fn pairing_of(&self, ct: &[usize]) -> Option<Pairing> {
        let [a, b] = ct else { return None };
        let (ta, tb) = (&self.tracks[*a], &self.tracks[*b]);
        if ta.status == TrackStatus::Tentative || tb.status == TrackStatus::Tentative {
            return None;
        }
        Some(Pairing {
            keys: [*a, *b],
            before: [(ta.x, ta.p, ta.t), (tb.x, tb.p, tb.t)],
        })
    }
}

/// Whether some detection is gated by both tracks.
fn shared(gated: &FxHashMap<usize, Vec<(usize, f64)>>, keys: [usize; 2]) -> bool {
    let (Some(a), Some(b)) = (gated.get(&keys[0]), gated.get(&keys[1])) else {
        return false;
    };
    a.iter().any(|x| b.iter().any(|y| y.0 == x.0))
}

/// The detections gated by either track that GNN gave to neither of the others, nearest first,
/// at most [`MAX_NEAR`].
fn near_detections(
    gated: &FxHashMap<usize, Vec<(usize, f64)>>,
    given: &FxHashMap<usize, usize>,
    keys: [usize; 2],
) -> Vec<usize> {
    let mut near: Vec<(f64, usize)> = keys
        .iter()
        .filter_map(|k| gated.get(k))
        .flatten()
        .filter(|(j, _)| given.get(j).is_none_or(|k| keys.contains(k)))
        .map(|&(j, d2)| (d2, j))
        .collect();
    near.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut out: Vec<usize> = Vec::new();
    for (_, j) in near {
        if !out.contains(&j) && out.len() < MAX_NEAR {
            out.push(j);
        }
    }
    out
}

/// Every leaf branched over the ways the two tracks may take the detections `near` (each at
/// most one, none, not the same), the `hypothesis_leaves` most likely kept, best first, their
/// ln likelihoods relative to the best.
#[allow(clippy::too_many_arguments)]
fn branch(
    leaves: &[Leaf],
    near: &[usize],
    t: f64,
    meas: &[Meas],
    cfg: &TrackerConfig,
    motion: &dyn MotionModel,
    books: &Books,
    q: [f64; 2],
) -> Vec<Leaf> {
    let pd = books.scan_detection_probability(meas, cfg.detection_probability);
    let miss_ln = miss_score(pd);
    let mut out: Vec<Leaf> = Vec::new();
    for leaf in leaves {
        // Each track's options: none, or a gated detection with its updated state and score.
        let options: Vec<Vec<(Option<usize>, Held, f64)>> = (0..2)
            .map(|i| {
                let (x, p, tu) = &leaf.states[i];
                let (xp, pp) = motion.predict(x, p, (t - tu).max(0.0), q[i]);
                let mut o = vec![(None, leaf.states[i], miss_ln)];
                for &j in near {
                    let m = &meas[j];
                    let z = nalgebra::Vector2::new(m.xy[0], m.xy[1]);
                    let r = cov2(m.r);
                    if let Some(v) = kalman::innovation(&xp, &pp, &z, &r) {
                        if v.d2 < cfg.gate_chi2 {
                            let (x1, p1) = kalman::update(&xp, &pp, &v, &r);
                            let s = hit_score(&v, pd, books.clutter_density(m.sensor));
                            o.push((Some(j), (x1, p1, t), s));
                        }
                    }
                }
                o
            })
            .collect();
        for a in &options[0] {
            for b in &options[1] {
                if a.0.is_some() && a.0 == b.0 {
                    continue;
                }
                out.push(Leaf {
                    states: [a.1, b.1],
                    took: [a.0, b.0],
                    ll: leaf.ll + a.2 + b.2,
                });
            }
        }
    }
    out.sort_by(|a, b| b.ll.total_cmp(&a.ll));
    out.truncate(cfg.hypothesis_leaves.clamp(1, MAX_LEAVES));
    if let Some(top) = out.first().map(|l| l.ll) {
        out.iter_mut().for_each(|l| l.ll -= top);
    }
    out
}
