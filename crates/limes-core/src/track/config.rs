//! The tracker's settings (the `[tracker]` table of a site file): their defaults, those for an
//! unknown 1 Hz point sensor, and the association methods to choose from.

use serde::{Deserialize, Serialize};

use super::{ClassConfig, TrackerLimits};

/// Tracker settings (the `[tracker]` table of a site file).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrackerConfig {
    /// Process noise of people and animals, m²/s³.
    pub q_person: f64,
    /// Process noise of vehicles, m²/s³.
    pub q_vehicle: f64,
    /// Chi-square gate on the squared Mahalanobis distance (2 dof).
    pub gate_chi2: f64,
    /// Velocity uncertainty (1 sigma) of a new track, m/s.
    pub init_speed_sd: f64,
    /// Detections coarser than this (1 sigma, m) update tracks but never start one.
    pub init_max_sd_m: f64,
    /// M of M-of-N: hits needed to confirm.
    pub confirm_hits: u32,
    /// A tentative track that has never shared its gate (in every scan it gated at most one
    /// detection and no other track gated that one, so no other track's object can have
    /// given it a detection) is confirmed with this many detections, at two times at least,
    /// instead of `confirm_hits`; only with the score test on (`confirm_score` > 0), which
    /// weighs them against clutter, and only where the test would end a wrong track within
    /// `confirm_window_s` (the missed scans costing `delete_score_drop` at the lower of the
    /// learnt and configured Pd: four at 0.9, seven at 0.7). 0 turns it off.
    pub confirm_hits_alone: u32,
    /// N of M-of-N, as a time window from the first hit, seconds.
    pub confirm_window_s: f64,
    /// A confirmed track not updated for this long is coasting.
    pub coast_after_s: f64,
    /// A confirmed track not updated for this long is deleted.
    pub delete_after_s: f64,
    /// `confirm_window_s`, `coast_after_s` and `delete_after_s` are for a sensor that looks
    /// once a second, and stretch with the period of a track's sensor where it looks less
    /// often (a track of a radar turning once in 5 s coasts after 7.5 s, not 1.5 s), by at
    /// most [`MAX_STRETCH`]: for settings that must suit a sensor whose period nobody gave.
    pub stretch_to_period: bool,
    /// Candidate search radius around slow tracks, metres (plus 4 sigma of the detection).
    pub slow_radius_m: f64,
    /// Candidate search radius around fast tracks, metres.
    pub fast_radius_m: f64,
    /// Tracks faster than this (m/s) are indexed as fast.
    pub fast_speed: f64,
    /// How long detections wait for late arrivals, seconds.
    pub reorder_window_s: f64,
    /// A detection this close (squared Mahalanobis) to a confirmed track never starts a track.
    pub init_suppress_chi2: f64,
    /// Two tracks that compete for a single detection in this many consecutive scans (with no
    /// scan offering them two) are one object seen twice: the weaker is deleted.
    pub merge_shared_scans: u32,
    /// A track just confirmed whose state, run back to the last update of a confirmed track
    /// of its tile that has since lost its object (last updated by the same sensor, before
    /// the new track's first detection), lies within this squared Mahalanobis distance of it
    /// — and no other lost track does — continues that track: it takes its id, so an object
    /// keeps one identity when clutter led its first track astray. 0 turns it off.
    pub continue_lost_chi2: f64,
    /// Detections this close to a tile edge may update a track of the neighbouring tile, m.
    pub edge_halo_m: f64,
    /// A record more than this far ahead of the newest one seen is refused (a wrong clock would
    /// otherwise make everything after it "late"), seconds.
    pub max_time_jump_s: f64,
    /// Detection probability assumed for a sensor (scores a track's hits and misses); with
    /// `learn_detection_probability`, where each sensor's estimate starts.
    pub detection_probability: f64,
    /// Learn each sensor's detection probability from its established tracks (ten hits or
    /// more, seen by no other sensor): the share of its scans since their last detection in
    /// which it saw them again. The sequential test, JPDA and MHT then use it. On for an
    /// unknown sensor, whose Pd nobody gave; off for the shipped sites, whose cameras' Pd
    /// varies with range.
    pub learn_detection_probability: bool,
    /// Density of new objects appearing, per m² per scan: with a sensor's clutter density it
    /// sets how likely a track started from one detection is.
    pub birth_density: f64,
    /// Sequential test on the track score (log-likelihood ratio of object against clutter,
    /// using `detection_probability` and each sensor's clutter density): a tentative track
    /// with at least `confirm_hits` is confirmed once its score has risen this far above its
    /// start. 0 turns the test off (M-of-N alone).
    pub confirm_score: f64,
    /// With `confirm_score` on: a track is deleted once its score has fallen this far below
    /// its best (each scan it was expected in and missed costs ln(1 − Pd)); the time limits
    /// still apply.
    pub delete_score_drop: f64,
    /// With `confirm_score` on: a coasting track leaves the picture ([`Tracker::snapshot`]:
    /// what the accuracy benchmark scores; neither the tracks file nor the server's picture,
    /// which is built from published track lines) once its missed scans have
    /// taken its score this far below its best, where it is more likely gone than there; it
    /// is kept, so a detection of it resumes its identity, until `delete_score_drop`. 0 shows
    /// coasting tracks until they are deleted.
    ///
    /// [`Tracker::snapshot`]: super::Tracker::snapshot
    pub picture_score_drop: f64,
    /// With `confirm_score` on: a tentative track is deleted once its score has fallen this
    /// far below its start, the sequential test's lower threshold (−ln β for a chance β of
    /// rejecting a real object), so a track born of clutter does not linger until
    /// `confirm_window_s` to catch a newcomer's detections. 0 turns it off.
    pub reject_score: f64,
    /// Confirmed tracks take detections before tentative ones (a confirmed track left without
    /// one costs a whole gate more), so a track born of clutter beside an object never steals
    /// it. On for an unknown 1 Hz sensor (no identity switches left on the benchmark's t50);
    /// off for the shipped sites, where it costs one more nuisance alert on the demo's night.
    pub confirmed_first: bool,
    /// How established tracks share out the detections of a gated cluster: `gnn` (the single
    /// best joint assignment), `jpda` (every track updated with each detection weighted by
    /// the probability, over all joint hypotheses, that it is the track's; see [`jpda`](super::jpda)) or
    /// `mht` (GNN, with joint hypotheses kept over several scans for two crossing tracks).
    /// Tentative tracks always take, by GNN, what established ones did not.
    pub association: Association,
    /// With `association = "mht"`: a crossing's hypotheses are kept until its two tracks have
    /// shared no detection for this many scans; then the best is final.
    pub hypothesis_scans: u32,
    /// With `association = "mht"`: joint hypotheses kept per crossing (the most likely; at
    /// most 256).
    pub hypothesis_leaves: usize,
    /// Class fusion weights.
    pub class: ClassConfig,
    /// Bounds on the tracker's state (`[tracker.limits]`).
    pub limits: TrackerLimits,
}

impl Default for TrackerConfig {
    fn default() -> Self {
        Self {
            q_person: 0.3,
            q_vehicle: 2.0,
            gate_chi2: 13.8,
            init_speed_sd: 2.5,
            init_max_sd_m: 100.0,
            confirm_hits: 4,
            confirm_hits_alone: 0,
            confirm_window_s: 30.0,
            coast_after_s: 12.0,
            delete_after_s: 60.0,
            stretch_to_period: false,
            slow_radius_m: 120.0,
            fast_radius_m: 1500.0,
            fast_speed: 4.0,
            reorder_window_s: 2.0,
            init_suppress_chi2: 2.0,
            merge_shared_scans: 4,
            continue_lost_chi2: 0.0,
            edge_halo_m: 1500.0,
            max_time_jump_s: 3600.0,
            detection_probability: 0.9,
            learn_detection_probability: false,
            birth_density: 1.0e-9,
            confirm_score: 0.0,
            delete_score_drop: 6.9,
            picture_score_drop: 0.0,
            reject_score: 0.0,
            confirmed_first: false,
            association: Association::Gnn,
            hypothesis_scans: 5,
            hypothesis_leaves: 16,
            class: ClassConfig::default(),
            limits: TrackerLimits::default(),
        }
    }
}

impl TrackerConfig {
    /// Whether the sequential test is on (`confirm_score` > 0): tracks carry a score that
    /// confirms and deletes them, and missed scans count.
    pub fn sequential_test(&self) -> bool {
        self.confirm_score > 0.0
    }

    /// What `confirm_window_s`, `coast_after_s` and `delete_after_s` are multiplied by for a
    /// track whose sensor looks once every `period` seconds (see `stretch_to_period`): at most
    /// [`MAX_STRETCH`], so a sensor that looks (or seems to look) once an hour cannot keep
    /// the tracks it touched, or its tentative ones, for hours.
    pub fn time_stretch(&self, period: f64) -> f64 {
        if self.stretch_to_period && period > 1.0 {
            period.min(MAX_STRETCH)
        } else {
            1.0
        }
    }

    /// Settings for an unknown point-detection sensor scanning at about 1 Hz (what
    /// `limes track` uses without a site): walkers and vehicles up to ~15 m/s, confirmation
    /// after three detections whose score (the sequential test) has risen by 5 (a track of
    /// clutter about once in 150 starts that got that far), after two for a track that never
    /// shared its gate where Pd ≥ 0.8, a tentative track dropped once its score fell 3 below
    /// its start (two missed scans at Pd 0.9, three at 0.7, one above 0.95), each sensor's
    /// detection probability learnt from its tracks (from 0.9), deletion once the missed
    /// scans cost a drop of 8 (four in a row for Pd 0.87–0.93; below Pd 0.68 the 8 s without
    /// an update come first), a coasting track out of the picture halfway there (two missed
    /// scans at Pd 0.9, four at 0.7), coasting after 1.5 s, two tracks merged only after eight scans
    /// of sharing one detection; the times stretched for a sensor that looks less often than
    /// once a second. Tuned on `limes bench accuracy` (BENCHMARKS.md).
    pub fn unknown_sensor() -> Self {
        Self {
            q_person: 0.25,
            q_vehicle: 0.25,
            init_speed_sd: 10.0,
            confirm_hits: 3,
            confirm_hits_alone: 2,
            confirm_window_s: 5.0,
            confirm_score: 5.0,
            delete_score_drop: 8.0,
            picture_score_drop: 4.0,
            reject_score: 3.0,
            learn_detection_probability: true,
            confirmed_first: true,
            coast_after_s: 1.5,
            delete_after_s: 8.0,
            stretch_to_period: true,
            // Two objects side by side both seen at Pd 0.7 leave one detection between their
            // tracks in 42 % of scans: eight scans in a row happen by chance about once in
            // a thousand (four at Pd 0.9 do).
            merge_shared_scans: 8,
            continue_lost_chi2: 13.8,
            ..Self::default()
        }
    }
}

/// Largest [`TrackerConfig::time_stretch`]: a sensor looking once in 30 s or less often has
/// its tracks coast after 45 s and deleted after 4 minutes with the unknown sensor's settings.
pub const MAX_STRETCH: f64 = 30.0;

/// Association method of established tracks (`[tracker] association`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Association {
    /// Global nearest neighbour: one best joint assignment per cluster.
    #[default]
    Gnn,
    /// Joint probabilistic data association: exact for clusters of up to
    /// [`jpda::EXACT_MAX_MEAS`](super::jpda::EXACT_MAX_MEAS) detections, belief propagation beyond.
    Jpda,
    /// GNN, and for two tracks that cross (a cluster of their own sharing a detection) a tree
    /// of joint hypotheses over the following scans, the best of a bounded beam deciding their
    /// states (a track-oriented MHT kept to pairs).
    Mht,
}

impl Association {
    /// Every method, the default first.
    pub const ALL: [Association; 3] = [Association::Gnn, Association::Jpda, Association::Mht];

    /// Its name in site files and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Association::Gnn => "gnn",
            Association::Jpda => "jpda",
            Association::Mht => "mht",
        }
    }
}

impl std::str::FromStr for Association {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|a| a.name() == s)
            .ok_or_else(|| format!("{s}: expected gnn, jpda or mht"))
    }
}
