//! A tile's track life cycle beyond the scan: coasting and deletion, duplicates, and shedding
//! when a cap of `[tracker.limits]` is reached.

use super::{Books, MotionModel, Tile, Track, TrackStatus, TrackUpdate, TrackerConfig};

impl Tile {
    /// Coasts and deletes tracks that have not been updated. Each line carries the time its
    /// status changed, not the time of the sweep that noticed it (see [`Tile::changed_at`]).
    pub fn sweep(
        &mut self,
        t: f64,
        cfg: &TrackerConfig,
        motion: &dyn MotionModel,
        books: &mut Books,
        out: &mut Vec<TrackUpdate>,
    ) {
        let mut dead = Vec::new();
        let mut coasting = Vec::new();
        for (key, tr) in self.tracks.iter_mut() {
            let age = t - tr.t;
            // The sequential test: a track whose score fell too far below its best goes.
            if cfg.sequential_test() {
                let pd = books.detection_probability(tr.sensor, cfg.detection_probability);
                let score = tr.score_at(t, pd);
                // Deleted below its best by the drop; a tentative one also below its start.
                let mut floor = tr.score_best - cfg.delete_score_drop;
                if tr.status == TrackStatus::Tentative && cfg.reject_score > 0.0 {
                    floor = floor.max(tr.score_start - cfg.reject_score);
                }
                if score < floor {
                    dead.push((key, tr.missed_below(floor, pd)));
                    continue;
                }
            }
            let stretch = cfg.time_stretch(tr.period);
            match tr.status {
                TrackStatus::Tentative if t - tr.first_seen > cfg.confirm_window_s * stretch => {
                    dead.push((key, tr.first_seen + cfg.confirm_window_s * stretch))
                }
                TrackStatus::Confirmed | TrackStatus::Coasting
                    if age > cfg.delete_after_s * stretch =>
                {
                    dead.push((key, tr.t + cfg.delete_after_s * stretch))
                }
                TrackStatus::Confirmed if age > cfg.coast_after_s * stretch => {
                    tr.status = TrackStatus::Coasting;
                    coasting.push((key, tr.t + cfg.coast_after_s * stretch));
                }
                _ => {}
            }
        }
        for (key, at) in coasting {
            let at = self.changed_at(key, at, t);
            out.push(self.status_update(key, TrackStatus::Coasting, at, cfg, motion));
            self.tracks[key].shown = at;
        }
        for (key, at) in dead {
            let at = self.changed_at(key, at, t);
            self.remove(key, at, cfg, motion, books, out);
        }
    }

    /// When a track's status changed, from the rule that changed it (`at`), kept between its
    /// last update and the sweep `t` that noticed (a sweep runs at most once a second), and a
    /// millisecond at least after its latest line, so lines never share a time or go back.
    fn changed_at(&self, key: usize, at: f64, t: f64) -> f64 {
        let tr = &self.tracks[key];
        let at = if at.is_finite() { at.clamp(tr.t, t) } else { t };
        at.max(tr.t.max(tr.shown) + 0.001)
    }

    /// Makes room for a tentative track of score `score` by shedding the least likely
    /// tentative tracks (a twentieth of the cap at a time, so the cost is amortised); false
    /// when none is less likely than the newcomer, which is then not started.
    pub(super) fn shed_tentative(
        &mut self,
        score: f64,
        t: f64,
        cfg: &TrackerConfig,
        motion: &dyn MotionModel,
        books: &mut Books,
        out: &mut Vec<TrackUpdate>,
    ) -> bool {
        let mut weak: Vec<(f64, usize)> = self
            .tracks
            .iter()
            .filter(|(_, tr)| tr.status == TrackStatus::Tentative && tr.score < score)
            .map(|(k, tr)| (tr.score, k))
            .collect();
        if weak.is_empty() {
            return false;
        }
        let n = (cfg.limits.tentative_per_tile / 20).clamp(1, weak.len());
        if n < weak.len() {
            weak.select_nth_unstable_by(n, |a, b| a.0.total_cmp(&b.0));
        }
        for &(_, key) in &weak[..n] {
            self.remove(key, t, cfg, motion, books, out);
            books.ledger.tentative_shed += 1;
        }
        true
    }

    /// Sheds the confirmed tracks least likely to still be there (longest without an update)
    /// until the tile is a twentieth under its cap and the tracker under its total.
    pub(super) fn shed_confirmed(
        &mut self,
        t: f64,
        cfg: &TrackerConfig,
        motion: &dyn MotionModel,
        books: &mut Books,
        out: &mut Vec<TrackUpdate>,
    ) {
        let lim = cfg.limits.tracks_per_tile.min(cfg.limits.tracks_total);
        let mut old: Vec<(f64, usize)> = self
            .tracks
            .iter()
            .filter(|(_, tr)| tr.status != TrackStatus::Tentative)
            .map(|(k, tr)| (tr.t, k))
            .collect();
        let keep = lim - lim / 20;
        let over_tile = old.len().saturating_sub(keep);
        let over_total = books
            .ledger
            .confirmed
            .saturating_sub(cfg.limits.tracks_total - cfg.limits.tracks_total / 20);
        let n = over_tile.max(over_total).min(old.len());
        if n == 0 {
            return;
        }
        if n < old.len() {
            old.select_nth_unstable_by(n, |a, b| a.0.total_cmp(&b.0));
        }
        for &(_, key) in &old[..n] {
            self.remove(key, t, cfg, motion, books, out);
            books.ledger.confirmed_shed += 1;
        }
    }

    /// Deletes the weaker of each pair of tracks that kept competing for one detection.
    pub(super) fn merge_duplicates(
        &mut self,
        t: f64,
        cfg: &TrackerConfig,
        motion: &dyn MotionModel,
        books: &mut Books,
        out: &mut Vec<TrackUpdate>,
    ) {
        if self.shared.is_empty() {
            return;
        }
        let due: Vec<(usize, usize)> = self
            .shared
            .iter()
            .filter(|(_, &n)| n >= cfg.merge_shared_scans)
            .map(|(&k, _)| k)
            .collect();
        for (a, b) in due {
            let (Some(ta), Some(tb)) = (self.tracks.get(a), self.tracks.get(b)) else {
                self.shared.remove(&(a, b));
                continue;
            };
            // Keep the established one: confirmed over tentative, then more hits.
            let rank = |x: &Track| {
                (
                    x.status != TrackStatus::Tentative,
                    x.hits,
                    std::cmp::Reverse(x.id),
                )
            };
            let loser = if rank(ta) >= rank(tb) { b } else { a };
            self.remove(loser, t, cfg, motion, books, out);
        }
    }

    /// Removes a track, reports its deletion and forgets its pairs.
    pub(super) fn remove(
        &mut self,
        key: usize,
        t: f64,
        cfg: &TrackerConfig,
        motion: &dyn MotionModel,
        books: &mut Books,
        out: &mut Vec<TrackUpdate>,
    ) {
        out.push(self.status_update(key, TrackStatus::Deleted, t, cfg, motion));
        self.unindex(key);
        let tr = self.tracks.remove(key);
        let tentative = tr.status == TrackStatus::Tentative;
        if tentative {
            self.n_tentative -= 1;
        }
        books.removed(tr.origin, tentative);
        self.shared.retain(|&(x, y), _| x != key && y != key);
    }
}
