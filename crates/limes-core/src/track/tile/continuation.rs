//! A lost track continued: a track just confirmed that, run back in time, ends where a
//! confirmed track that has since lost its object was last updated takes that track's identity,
//! so one object keeps one id when clutter led its first track astray.

use super::index::nearest_within;
use super::{
    update_of, Books, MotionModel, Tile, TrackStatus, TrackUpdate, TrackerConfig, REINDEX_M,
};
use crate::track::kalman::{Cov, State};

impl Tile {
    /// With `continue_lost_chi2` on: if the track `key`, confirmed at `t`, continues a lost
    /// track (see [`Tile::lost_track_continued_by`]), it takes that track's id, first sighting
    /// and detections, the lost track goes without a `deleted` line (its id lives on) and the
    /// new one's tentative id is reported deleted. `busy` tells which tracks this scan still
    /// updates. True when it did.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn continue_lost(
        &mut self,
        key: usize,
        t: f64,
        cfg: &TrackerConfig,
        motion: &dyn MotionModel,
        busy: &dyn Fn(usize) -> bool,
        books: &mut Books,
        out: &mut Vec<TrackUpdate>,
    ) -> bool {
        if cfg.continue_lost_chi2 <= 0.0 {
            return false;
        }
        let Some(lost) = self.lost_track_continued_by(key, t, cfg, motion, busy) else {
            return false;
        };
        let mut gone = update_of(&self.tracks[key], self.part, TrackStatus::Deleted, None);
        gone.was_confirmed = false;
        out.push(gone);
        self.unindex(lost);
        self.shared.retain(|&(x, y), _| x != lost && y != lost);
        let old = self.tracks.remove(lost);
        books.removed(old.origin, false);
        let tr = &mut self.tracks[key];
        tr.id = old.id;
        tr.first_seen = old.first_seen;
        tr.hits = tr.hits.saturating_add(old.hits);
        true
    }

    /// The confirmed or coasting track that the track `key`, just confirmed at `t`, continues:
    /// last updated by the sensor that confirmed `key` (so this sensor has looked again and
    /// not seen it there) and before `key`'s first detection (the two never saw two objects
    /// at once), not updated this scan nor about to be (`busy`), not in a crossing whose
    /// hypotheses are kept, and where `key`'s state run back to that last update lies within
    /// `continue_lost_chi2` (squared Mahalanobis, positions and both covariances) of it. The
    /// nearest such track, if only one is that close. Candidates are the tracks indexed near
    /// where `key` was first seen, at most `limits.gate_candidates` per index.
    fn lost_track_continued_by(
        &self,
        key: usize,
        t: f64,
        cfg: &TrackerConfig,
        motion: &dyn MotionModel,
        busy: &dyn Fn(usize) -> bool,
    ) -> Option<usize> {
        let new = &self.tracks[key];
        let q = Self::q(cfg, new);
        let back = t - new.first_seen;
        let first = [new.x[0] - new.x[2] * back, new.x[1] - new.x[3] * back];
        let most = cfg.limits.gate_candidates.max(1);
        let mut cand = Vec::new();
        nearest_within(
            &self.slow,
            first,
            cfg.slow_radius_m + REINDEX_M,
            most,
            &mut cand,
        );
        nearest_within(
            &self.fast,
            first,
            cfg.fast_radius_m + REINDEX_M,
            most,
            &mut cand,
        );
        let mut best: Option<(f64, usize)> = None;
        let mut close = 0;
        for k in cand {
            let old = &self.tracks[k];
            if k == key
                || old.status == TrackStatus::Tentative
                || old.sensor != new.sensor
                || old.t >= new.first_seen
                || t - old.t > cfg.delete_after_s * cfg.time_stretch(old.period)
                || busy(k)
                || self.in_crossing(k)
            {
                continue;
            }
            let (xb, pb) = run_back(&new.x, &new.p, t - old.t, q, motion);
            let d = nalgebra::Vector2::new(xb[0] - old.x[0], xb[1] - old.x[1]);
            let s = pb.fixed_view::<2, 2>(0, 0) + old.p.fixed_view::<2, 2>(0, 0);
            let Some(inv) = s.try_inverse() else { continue };
            let d2 = (d.transpose() * inv * d)[(0, 0)];
            if d2.is_nan() || d2 >= cfg.continue_lost_chi2 {
                continue;
            }
            close += 1;
            if best.is_none_or(|(b, _)| d2 < b) {
                best = Some((d2, k));
            }
        }
        (close == 1).then(|| best.map(|(_, k)| k)).flatten()
    }

    /// Whether the track `key` is one of a crossing whose joint hypotheses are kept.
    fn in_crossing(&self, key: usize) -> bool {
        let id = self.tracks[key].id;
        self.crossings.iter().any(|c| c.holds(key, id))
    }
}

/// A state and covariance run back `dt` seconds: the mean by constant velocity, the covariance
/// with the process noise of `dt` added, as uncertain as running forward.
fn run_back(x: &State, p: &Cov, dt: f64, q: f64, motion: &dyn MotionModel) -> (State, Cov) {
    let (xb, pb) = motion.predict(x, p, -dt, 0.0);
    let (_, noise) = motion.predict(&State::zeros(), &Cov::zeros(), dt, q);
    (xb, pb + noise)
}
