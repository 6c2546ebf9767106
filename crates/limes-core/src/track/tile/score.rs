//! The sequential test of a track: its log-likelihood score (each detection's gain, each
//! missed scan's ln(1 − Pd)), who shares a gate, when fewer detections confirm, and the
//! counts that teach a sensor its detection probability.

use super::{Books, Innovation, Scratch, Tile, Track, TrackerConfig};

/// Hits a track needs before its scans count towards its sensor's detection probability:
/// tracks of clutter and duplicates rarely get that far, and their misses would bias it.
const PD_MIN_HITS: u32 = 10;

impl Track {
    /// Scans of its last sensor it should have been seen in since its last update.
    fn missed_scans(&self, t: f64) -> f64 {
        ((t - self.t) / self.period - 0.5).floor().max(0.0)
    }

    /// When its score fell below `floor`: when the miss that took it there was counted, half
    /// a period of its last sensor after the scan it missed (see [`Track::missed_scans`]);
    /// half a period after its last update when that update left it below already.
    pub(super) fn missed_below(&self, floor: f64, pd: f64) -> f64 {
        let room = self.score - floor;
        // Misses m with score + m · ln(1 − Pd) < floor: the first is ⌊room / −ln(1 − Pd)⌋ + 1.
        let m = if room < 0.0 {
            0.0
        } else {
            (room / -miss_score(pd)).floor() + 1.0
        };
        self.t + (m + 0.5) * self.period
    }

    /// Its score at `t`, each scan missed since its last update costing ln(1 − Pd).
    pub(super) fn score_at(&self, t: f64, pd: f64) -> f64 {
        self.score + self.missed_scans(t) * miss_score(pd)
    }
}

impl Tile {
    /// Adds to a track's score what this scan of `sensor` gives it (`gain`, after charging
    /// the scans of its last sensor it missed since its last update), notes the sensor and its
    /// scan period, and counts an established track's hit and the misses before it towards
    /// that sensor's detection probability when no other sensor has ever detected the track.
    /// (Misses of a track never detected again are not counted: the object may have left; and
    /// where another sensor fills a sensor's gaps, the gaps would go uncounted.)
    pub(super) fn credit(
        &mut self,
        key: usize,
        t: f64,
        sensor: u32,
        gain: f64,
        books: &mut Books,
        cfg: &TrackerConfig,
    ) {
        let tr = &mut self.tracks[key];
        let missed = tr.missed_scans(t);
        let pd = books.detection_probability(tr.sensor, cfg.detection_probability);
        tr.score += missed * miss_score(pd) + gain;
        tr.score_best = tr.score_best.max(tr.score);
        tr.one_sensor &= tr.sensor == sensor;
        if cfg.learn_detection_probability && tr.one_sensor && tr.hits >= PD_MIN_HITS {
            books.count_track_scans(sensor, 1.0, missed);
        }
        tr.sensor = sensor;
        tr.period = books.period(sensor);
    }

    /// Marks every track that shares its gate this scan — it gates more than one detection,
    /// or a detection it gates is gated by another track too — as no longer alone. From all
    /// gated pairs, before any association, so confirmed tracks and JPDA's shares count.
    pub(super) fn note_company(
        &mut self,
        edges: &[(usize, usize, Innovation)],
        n_meas: usize,
        sc: &mut Scratch,
    ) {
        let (per_meas, per_track) = (&mut sc.gated_meas, &mut sc.gated_track);
        per_meas.clear();
        per_meas.resize(n_meas, 0);
        per_track.resize(per_track.len().max(self.tracks.capacity()), 0);
        for e in edges {
            per_meas[e.1] += 1;
            per_track[e.0] += 1;
        }
        for e in edges {
            if per_meas[e.1] > 1 || per_track[e.0] > 1 {
                self.tracks[e.0].alone = false;
            }
        }
        for e in edges {
            per_track[e.0] = 0;
        }
    }

    /// Keeps the count of scans in which two tracks competed for a single detection (a
    /// cluster of tracks `ct` and detections `cm`); a cluster with enough detections for all
    /// its tracks ends every such count among them.
    pub(super) fn note_sharing(&mut self, ct: &[usize], cm: &[usize]) {
        if ct.len() == 2 && cm.len() == 1 {
            *self.shared.entry((ct[0], ct[1])).or_default() += 1;
        } else if cm.len() >= ct.len() {
            for (a, &x) in ct.iter().enumerate() {
                for &y in &ct[a + 1..] {
                    self.shared.remove(&(x, y));
                }
            }
        }
    }
}

/// Whether a tentative track may be confirmed with `confirm_hits_alone` detections: it has
/// always been alone in its gate, its detections span time (two sensors' detections of one
/// instant say nothing of its motion), the score test is on to weigh them against clutter,
/// and a wrong track would soon be undone (see [`wrong_track_ends_soon`]) at the detection
/// probability `pd` of its sensor — trusted only below the configured one, since the learnt
/// one reads high where tracks crowd (a track often takes a neighbour's detection).
pub(super) fn confirmable_alone(tr: &Track, t: f64, pd: f64, cfg: &TrackerConfig) -> bool {
    cfg.confirm_hits_alone > 0
        && cfg.sequential_test()
        && tr.alone
        && tr.hits >= cfg.confirm_hits_alone
        && t > tr.first_seen
        && wrong_track_ends_soon(pd.min(cfg.detection_probability), tr.period, cfg)
}

/// Whether the sequential test would end a wrong track within `confirm_window_s`: the missed
/// scans that cost `delete_score_drop` at this Pd (four at 0.9, seven at 0.7) fit in it.
/// Confirming on fewer detections is a bet only worth taking when a lost one is soon undone.
fn wrong_track_ends_soon(pd: f64, period: f64, cfg: &TrackerConfig) -> bool {
    let misses = cfg.delete_score_drop / -miss_score(pd);
    misses * period <= cfg.confirm_window_s * cfg.time_stretch(period)
}

/// The score a scan in which a track went undetected adds to it: ln(1 − Pd).
pub(super) fn miss_score(pd: f64) -> f64 {
    (1.0 - pd).max(1e-6).ln()
}

/// The score a detection adds to a track: ln of its likelihood under "this object, detected"
/// against "clutter of density `clutter`" (per m² per scan).
pub(super) fn hit_score(inn: &Innovation, pd: f64, clutter: f64) -> f64 {
    pd.ln() - 0.5 * inn.d2 - (2.0 * std::f64::consts::PI).ln() - 0.5 * inn.ln_det_s - clutter.ln()
}
