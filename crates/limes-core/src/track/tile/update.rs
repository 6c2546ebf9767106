//! What a detection does to the track that took it: its state, the class evidence of the
//! detection and of the company it keeps, and its confirmation.

use super::{confirmable_alone, Meas, Tile, REINDEX_M};
use crate::geo::dist;
use crate::record::TrackStatus;
use crate::track::kalman::{Cov, State};
use crate::track::TrackerConfig;

impl Tile {
    /// Writes an updated state and covariance into a track; returns true when this update
    /// (a detection of a sensor of detection probability `pd`) confirmed it.
    pub(super) fn apply(
        &mut self,
        key: usize,
        t: f64,
        (x, p): (State, Cov),
        evidence: Option<&Meas>,
        pd: f64,
        cfg: &TrackerConfig,
    ) -> bool {
        let company = {
            let tr = &self.tracks[key];
            if t - tr.anchor.2 >= cfg.class.kinematic_period_s && tr.hits >= 4 {
                let r = cfg.class.company_radius_m;
                let n = self
                    .slow
                    .locate_within_distance([x[0], x[1]], r * r)
                    .filter(|e| e.data != key)
                    .filter(|e| {
                        let o = &self.tracks[e.data];
                        o.x[2] * o.x[2] + o.x[3] * o.x[3] < 0.49
                    })
                    .count();
                Some(n)
            } else {
                None
            }
        };
        let tr = &mut self.tracks[key];
        tr.x = x;
        tr.p = p;
        tr.t = t;
        tr.shown = t;
        tr.hits += 1;
        if let Some(c) = evidence.and_then(|m| m.class) {
            tr.class.sensor(c, &cfg.class);
        }
        if let Some(h) = evidence.and_then(|m| m.heat) {
            tr.class.heat(h, &cfg.class);
        }
        if let Some(n) = company {
            // Sustained speed over the baseline, from filtered positions: far steadier than the
            // filter's instantaneous velocity.
            let (a, var_a, ta) = tr.anchor;
            let dt = t - ta;
            let var_now = p[(0, 0)].max(p[(1, 1)]);
            let speed = dist([x[0], x[1]], a) / dt;
            let sd = (var_a + var_now).sqrt() / dt;
            tr.class.kinematics(speed, sd, n, &cfg.class);
            tr.anchor = ([x[0], x[1]], var_now, t);
        }
        let mut confirmed = false;
        match tr.status {
            TrackStatus::Tentative
                if (tr.hits >= cfg.confirm_hits || confirmable_alone(tr, t, pd, cfg))
                    && (cfg.confirm_score <= 0.0
                        || tr.score - tr.score_start >= cfg.confirm_score) =>
            {
                tr.status = TrackStatus::Confirmed;
                confirmed = true;
            }
            TrackStatus::Coasting => tr.status = TrackStatus::Confirmed,
            _ => {}
        }
        let fast = x[2] * x[2] + x[3] * x[3] > cfg.fast_speed * cfg.fast_speed;
        let pos = [x[0], x[1]];
        if fast != tr.fast || dist(pos, tr.indexed_at) > REINDEX_M {
            self.move_in_index(key, fast, pos);
        }
        confirmed
    }
}
