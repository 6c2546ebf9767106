//! One partition of the world: its frame, its tracks, their spatial index, and the scan loop
//! (predict → gate → cluster → associate → update → initiate).

use nalgebra::{Matrix2, Matrix4, Vector2, Vector4};
use rstar::primitives::GeomWithData;
use rstar::RTree;
use rustc_hash::FxHashMap;
use slab::Slab;

mod continuation;
mod hypotheses;
mod index;
mod life;
mod score;
mod shared;
mod update;

use index::nearest_within;
use score::{confirmable_alone, hit_score, miss_score};

use super::assign::{self, Associator, FORBIDDEN};
use super::classify::ClassBelief;
use super::kalman::{self, cov2, Cov, Innovation, MotionModel, State};
use super::limits::{detection_probability, Books, SensorState};
use super::{Association, Meas, TrackUpdate, TrackerConfig};
use crate::geo::{LocalFrame, LonLat, TileId, Xy, TILE_DEG};
use crate::record::{Position, TrackStatus};

/// Where a track's coordinates live: a WGS84 tile with its own frame, or one flat frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Partition {
    /// A lon/lat tile; coordinates are metres in the tile-centred frame.
    Tile(TileId),
    /// A plain local metric frame shared by the whole input.
    Flat,
}

impl Partition {
    /// The tile a WGS84 position falls in, and the position in that tile's frame.
    pub fn locate(p: LonLat) -> (Partition, Xy) {
        let tile = p.tile();
        (
            Partition::Tile(tile),
            LocalFrame::new(tile.centre()).to_local(p),
        )
    }

    /// WGS84 of a point of this partition's frame (`None` for flat input).
    pub fn lonlat(&self, xy: Xy) -> Option<LonLat> {
        match self {
            Partition::Tile(tile) => Some(LocalFrame::new(tile.centre()).to_lonlat(xy)),
            Partition::Flat => None,
        }
    }

    /// A point of this partition's frame as written in files: WGS84 for a tile, metres when flat.
    pub fn position(&self, xy: Xy) -> Position {
        match self.lonlat(xy) {
            Some(p) => Position::LonLat {
                lon: p.lon,
                lat: p.lat,
            },
            None => Position::Local { x: xy[0], y: xy[1] },
        }
    }
}

type Entry = GeomWithData<[f64; 2], usize>;

/// One track's state inside a tile.
#[derive(Clone, Debug)]
pub(super) struct Track {
    id: u64,
    x: State,
    p: Cov,
    t: f64,
    /// Time of the latest line written about it: its last update's, or later where a kept
    /// hypothesis took that update back (`association = "mht"`) or it began to coast.
    shown: f64,
    status: TrackStatus,
    hits: u32,
    first_seen: f64,
    class: ClassBelief,
    /// Start of the current speed baseline: filtered position, its variance, and time.
    anchor: (Xy, f64, f64),
    indexed_at: Xy,
    fast: bool,
    /// Sensor whose detection started it.
    origin: u32,
    /// Log-likelihood ratio of "an object" against "clutter" as of its last update (higher:
    /// more likely); misses since are charged by [`Track::score_at`].
    score: f64,
    /// Its score at start and its best so far.
    score_start: f64,
    score_best: f64,
    /// Its last sensor's scan period at its last update, seconds.
    period: f64,
    /// The sensor that detected it last.
    sensor: u32,
    /// No other sensor has detected it: only then do its scans teach that sensor its Pd.
    one_sensor: bool,
    /// It has never shared its gate: in every scan it gated at most one detection, and no
    /// other track gated that one (see `confirm_hits_alone`).
    alone: bool,
}

/// What one scan did, for the tracker's counters.
#[derive(Default)]
pub(super) struct ScanStats {
    pub started: u64,
    pub confirmed: u64,
    /// Tracks confirmed as the continuation of a lost one (see `continue_lost_chi2`).
    pub continued: u64,
    pub largest_cluster: usize,
    /// Detections no track took.
    pub unexplained: usize,
}

pub(super) struct Tile {
    part: Partition,
    frame: Option<LocalFrame>,
    half_extent: Xy,
    tracks: Slab<Track>,
    /// Live tentative tracks (the rest are confirmed or coasting).
    n_tentative: usize,
    slow: RTree<Entry>,
    fast: RTree<Entry>,
    pred: Vec<(u64, State, Cov)>,
    stamp: u64,
    leavers: Vec<(Partition, Track)>,
    edges: Vec<(usize, usize, Innovation)>,
    /// Per pair of tracks (slab keys, low first): consecutive scans in which they competed
    /// for a single detection. Duplicates of one object do this scan after scan.
    shared: FxHashMap<(usize, usize), u32>,
    /// Per-scan scratch buffers, kept to avoid allocating on every scan.
    scratch: Scratch,
    /// Pairs of tracks whose joint hypotheses are kept (`association = "mht"`).
    crossings: Vec<hypotheses::Crossing>,
    /// Crossings opened so far.
    pub crossings_opened: u64,
}

/// Buffers one scan fills and the next reuses.
#[derive(Default)]
struct Scratch {
    cand: Vec<usize>,
    taken: Vec<bool>,
    pairs: Vec<(usize, usize, Innovation)>,
    links: Vec<(usize, usize)>,
    /// Per track key: whether one of this scan's pairs updates it.
    paired: Vec<bool>,
    weighted: Vec<shared::Weighted>,
    /// Gated pairs per detection, and per track key (see `note_company`).
    gated_meas: Vec<u32>,
    gated_track: Vec<u32>,
    /// Detections deep inside the gate of a confirmed track their sensor already updated
    /// this look (see `scan`).
    seen_this_look: Vec<usize>,
}

const REINDEX_M: f64 = 15.0;

impl Tile {
    pub fn new(part: Partition) -> Self {
        let (frame, half_extent) = match part {
            Partition::Tile(id) => {
                let c = id.centre();
                let m_per_deg = 111_000.0;
                let hx = TILE_DEG / 2.0 * m_per_deg * c.lat.to_radians().cos().abs();
                (
                    Some(LocalFrame::new(c)),
                    [hx * 0.98, TILE_DEG / 2.0 * m_per_deg * 0.98],
                )
            }
            Partition::Flat => (None, [f64::INFINITY, f64::INFINITY]),
        };
        Self {
            part,
            frame,
            half_extent,
            tracks: Slab::new(),
            n_tentative: 0,
            slow: RTree::new(),
            fast: RTree::new(),
            pred: Vec::new(),
            stamp: 0,
            leavers: Vec::new(),
            edges: Vec::new(),
            shared: FxHashMap::default(),
            scratch: Scratch::default(),
            crossings: Vec::new(),
            crossings_opened: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.tracks.len()
    }

    /// The smallest gated squared Mahalanobis distance of a measurement at `xy` (this tile's
    /// frame) to any track, if one gates it. Predictions here bypass the per-scan cache.
    pub fn best_gate(
        &self,
        t: f64,
        xy: Xy,
        r: [f64; 3],
        cfg: &TrackerConfig,
        motion: &dyn MotionModel,
    ) -> Option<f64> {
        let sd = r[0].max(r[2]).sqrt();
        let z = Vector2::new(xy[0], xy[1]);
        let rm = cov2(r);
        let rs = cfg.slow_radius_m + 4.0 * sd + REINDEX_M;
        let rf = cfg.fast_radius_m + 4.0 * sd + REINDEX_M;
        self.slow
            .locate_within_distance(xy, rs * rs)
            .chain(self.fast.locate_within_distance(xy, rf * rf))
            .filter_map(|e| {
                let tr = &self.tracks[e.data];
                let (x, p) = motion.predict(&tr.x, &tr.p, (t - tr.t).max(0.0), Self::q(cfg, tr));
                kalman::innovation(&x, &p, &z, &rm).map(|i| i.d2)
            })
            .filter(|&d2| d2 < cfg.gate_chi2)
            .min_by(f64::total_cmp)
    }

    fn q(cfg: &TrackerConfig, t: &Track) -> f64 {
        let pv = t.class.probs()[1];
        cfg.q_person + pv * (cfg.q_vehicle - cfg.q_person)
    }

    fn predicted(
        &mut self,
        key: usize,
        t: f64,
        cfg: &TrackerConfig,
        motion: &dyn MotionModel,
    ) -> (State, Cov) {
        if self.pred.len() <= key {
            self.pred.resize(key + 1, (0, State::zeros(), Cov::zeros()));
        }
        if self.pred[key].0 == self.stamp {
            return (self.pred[key].1, self.pred[key].2);
        }
        let tr = &self.tracks[key];
        let (x, p) = motion.predict(&tr.x, &tr.p, (t - tr.t).max(0.0), Self::q(cfg, tr));
        self.pred[key] = (self.stamp, x, p);
        (x, p)
    }

    fn update_of(&self, key: usize, status: TrackStatus, sensor: Option<u32>) -> TrackUpdate {
        let tr = &self.tracks[key];
        update_of(tr, self.part, status, sensor)
    }

    /// A status change (coasting, deleted) at time `t`: the state predicted to `t`, so the
    /// line says when the status changed and where the track was believed to be then.
    fn status_update(
        &self,
        key: usize,
        status: TrackStatus,
        t: f64,
        cfg: &TrackerConfig,
        motion: &dyn MotionModel,
    ) -> TrackUpdate {
        let tr = &self.tracks[key];
        let mut u = update_of(tr, self.part, status, None);
        if t > tr.t {
            let (x, p) = motion.predict(&tr.x, &tr.p, t - tr.t, Self::q(cfg, tr));
            u.time = t;
            u.xy = [x[0], x[1]];
            u.vel = [x[2], x[3]];
            u.cov = [p[(0, 0)], p[(0, 1)], p[(1, 1)]];
        }
        u
    }

    /// Takes out of `cand` the tracks that `sensor`, which spreads its scans over many
    /// timestamps, updated less than half a `look` ago: they have had their detection of this
    /// look, and its detection number `j` (at `z`, covariance `r`) is most likely a
    /// neighbour's seen a moment later. As in a scan of one time, one deep inside a confirmed
    /// track's gate starts no track (`j` goes into `seen`).
    #[allow(clippy::too_many_arguments)]
    fn set_aside_seen(
        &mut self,
        cand: &mut Vec<usize>,
        (j, sensor): (usize, u32),
        (z, r): (&Vector2<f64>, &Matrix2<f64>),
        t: f64,
        look: f64,
        cfg: &TrackerConfig,
        motion: &dyn MotionModel,
        seen: &mut Vec<usize>,
    ) {
        cand.retain(|&key| {
            let tr = &self.tracks[key];
            if tr.sensor != sensor || t - tr.t >= 0.5 * look {
                return true;
            }
            if tr.status != TrackStatus::Tentative {
                let (x, p) = self.predicted(key, t, cfg, motion);
                if kalman::innovation(&x, &p, z, r).is_some_and(|i| i.d2 < cfg.init_suppress_chi2) {
                    seen.push(j);
                }
            }
            false
        });
    }

    /// Processes one scan of one sensor inside this tile.
    #[allow(clippy::too_many_arguments)]
    pub fn scan(
        &mut self,
        t: f64,
        meas: &[Meas],
        cfg: &TrackerConfig,
        motion: &dyn MotionModel,
        assoc: &dyn Associator,
        next_id: &mut u64,
        books: &mut Books,
        out: &mut Vec<TrackUpdate>,
    ) -> ScanStats {
        let mut stats = ScanStats::default();
        self.stamp += 1;
        let mut edges = std::mem::take(&mut self.edges);
        edges.clear();
        // Hypothesise: candidates from the spatial index, then the Mahalanobis gate.
        let mut sc = std::mem::take(&mut self.scratch);
        let cand = &mut sc.cand;
        // However dense the tracks, a detection is gated against a bounded number of them.
        let most = cfg.limits.gate_candidates.max(1);
        sc.seen_this_look.clear();
        // A sensor that spreads its scan over many timestamps sees an object once a look: a
        // track it updated within half a look ago does not take another of its detections
        // (most likely a neighbour's, seen a moment later).
        let look = books.scan_sensor_look(meas);
        for (j, m) in meas.iter().enumerate() {
            let sd = m.r[0].max(m.r[2]).sqrt();
            let z = Vector2::new(m.xy[0], m.xy[1]);
            let r = cov2(m.r);
            cand.clear();
            let rs = cfg.slow_radius_m + 4.0 * sd + REINDEX_M;
            nearest_within(&self.slow, m.xy, rs, most, cand);
            let rf = cfg.fast_radius_m + 4.0 * sd + REINDEX_M;
            nearest_within(&self.fast, m.xy, rf, most - cand.len(), cand);
            if let Some(look) = look {
                let seen = &mut sc.seen_this_look;
                self.set_aside_seen(cand, (j, m.sensor), (&z, &r), t, look, cfg, motion, seen);
            }
            for &key in cand.iter() {
                let (x, p) = self.predicted(key, t, cfg, motion);
                if let Some(inn) = kalman::innovation(&x, &p, &z, &r) {
                    if inn.d2 < cfg.gate_chi2 {
                        edges.push((key, j, inn));
                    }
                }
            }
        }
        if cfg.confirm_hits_alone > 0 {
            self.note_company(&edges, meas.len(), &mut sc);
        }
        // A detection deep inside a confirmed track's gate never starts a track: if it lost the
        // assignment it is most likely that track's object seen twice, not a new one.
        let assigned_meas = &mut sc.taken;
        assigned_meas.clear();
        assigned_meas.resize(meas.len(), false);
        for e in &edges {
            if e.2.d2 < cfg.init_suppress_chi2 && self.tracks[e.0].status != TrackStatus::Tentative
            {
                assigned_meas[e.1] = true;
            }
        }
        for &j in &sc.seen_this_look {
            assigned_meas[j] = true;
        }
        // With JPDA, established tracks share out their clusters' detections first; tentative
        // tracks then take, by GNN below, what none of them probably had.
        let weighted = &mut sc.weighted;
        weighted.clear();
        if cfg.association == Association::Jpda && !edges.is_empty() {
            self.associate_jpda(
                t,
                meas,
                &edges,
                cfg,
                motion,
                books,
                assigned_meas,
                weighted,
                &mut stats,
            );
            edges.retain(|e| {
                self.tracks[e.0].status == TrackStatus::Tentative && !assigned_meas[e.1]
            });
        }
        // Cluster tracks and measurements connected by gated pairs, then associate.
        let pairs = &mut sc.pairs;
        pairs.clear();
        let mut pairings: Vec<hypotheses::Pairing> = Vec::new();
        if !edges.is_empty() {
            let links = &mut sc.links;
            links.clear();
            links.extend(edges.iter().map(|e| (e.0, e.1)));
            for comp in assign::components(links) {
                let (idx, ct, cm) = (comp.edges, comp.left, comp.right);
                stats.largest_cluster = stats.largest_cluster.max(ct.len() * cm.len());
                self.note_sharing(&ct, &cm);
                // Local indices of each edge's track and measurement.
                let local: Vec<(usize, usize, usize)> = idx
                    .iter()
                    .filter_map(|&k| {
                        let (key, j, _) = &edges[k];
                        let a = ct.binary_search(key).ok()?;
                        let b = cm.binary_search(j).ok()?;
                        Some((a, b, k))
                    })
                    .collect();
                let chosen: Vec<usize> =
                    if ct.len() * (cm.len() + ct.len()) <= cfg.limits.cluster_cells {
                        let mut cost = vec![FORBIDDEN; ct.len() * cm.len()];
                        let mut at = vec![usize::MAX; ct.len() * cm.len()];
                        // Where tracks compete, a detection's class guess and heat say which it fits.
                        let features = ct.len() > 1;
                        // A pair whose heat and class guess push it past the gate is no pair
                        // (the herder's track does not take an animal's detection for lack of
                        // the herder's). Where they fit so well that the cost would fall below
                        // zero, a tenth of the distance is kept, so that distance still decides
                        // between tracks the detection fits alike.
                        for &(a, b, k) in &local {
                            let (key, j, inn) = &edges[k];
                            let c = if features {
                                let m = &meas[*j];
                                let f = self.tracks[*key]
                                    .class
                                    .feature_cost(m.class, m.heat, &cfg.class);
                                (inn.d2 + f).max(0.1 * inn.d2)
                            } else {
                                inn.d2
                            };
                            if c < cfg.gate_chi2 {
                                cost[a * cm.len() + b] = c;
                                at[a * cm.len() + b] = k;
                            }
                        }
                        // Established tracks first: a confirmed track left without a detection
                        // costs a whole gate more, so a tentative track (whose wide gate makes
                        // every distance small) takes only what no confirmed one can, and a
                        // track born of clutter beside an object never steals its detections.
                        let miss: Vec<f64> = ct
                            .iter()
                            .map(|&key| {
                                if !cfg.confirmed_first
                                    || self.tracks[key].status == TrackStatus::Tentative
                                {
                                    cfg.gate_chi2
                                } else {
                                    2.0 * cfg.gate_chi2
                                }
                            })
                            .collect();
                        assoc
                            .associate(ct.len(), cm.len(), &cost, &miss)
                            .into_iter()
                            .map(|(a, b)| at[a * cm.len() + b])
                            .filter(|&k| k != usize::MAX)
                            .collect()
                    } else {
                        // Too large to solve exactly in bounded time and memory: greedy by cost.
                        let costs: Vec<(usize, usize, f64)> = local
                            .iter()
                            .map(|&(a, b, k)| (a, b, edges[k].2.d2))
                            .collect();
                        assign::greedy(ct.len(), cm.len(), &costs, cfg.gate_chi2)
                            .into_iter()
                            .map(|i| local[i].2)
                            .collect()
                    };
                if cfg.association == Association::Mht {
                    pairings.extend(self.pairing_of(&ct));
                }
                for k in chosen {
                    let (key, j, inn) = edges[k];
                    pairs.push((key, j, inn));
                    assigned_meas[j] = true;
                }
            }
        }
        // Update: JPDA's mixtures, then the pairs.
        for u in weighted.drain(..) {
            let m = &meas[u.best.0];
            self.credit(u.key, t, m.sensor, u.gain, books, cfg);
            // Class evidence only from a detection that is more likely its own than not.
            let evidence = (u.best.1 >= 0.5).then_some(m);
            let pd = books.detection_probability(m.sensor, cfg.detection_probability);
            self.apply(u.key, t, (u.x, u.p), evidence, pd, cfg);
            let status = self.tracks[u.key].status;
            out.push(self.update_of(u.key, status, Some(m.sensor)));
            self.maybe_leave(u.key);
        }
        // Tracks this scan's pairs will update (a lost track is none of them).
        let paired = &mut sc.paired;
        paired.clear();
        if cfg.continue_lost_chi2 > 0.0 {
            let top = pairs.iter().map(|p| p.0 + 1).max().unwrap_or(0);
            paired.resize(top, false);
            for &(key, _, _) in pairs.iter() {
                paired[key] = true;
            }
        }
        for &(key, j, inn) in pairs.iter() {
            let m = &meas[j];
            let (x, p) = self.predicted(key, t, cfg, motion);
            let (x1, p1) = kalman::update(&x, &p, &inn, &cov2(m.r));
            let pd = books.detection_probability(m.sensor, cfg.detection_probability);
            let gain = hit_score(&inn, pd, books.clutter_density(m.sensor));
            self.credit(key, t, m.sensor, gain, books, cfg);
            let confirmed = self.apply(key, t, (x1, p1), Some(m), pd, cfg);
            if confirmed {
                stats.confirmed += 1;
                self.n_tentative -= 1;
                books.confirmed(self.tracks[key].origin);
                let busy = |k: usize| paired.get(k).copied().unwrap_or(false);
                if self.continue_lost(key, t, cfg, motion, &busy, books, out) {
                    stats.continued += 1;
                }
            }
            let status = self.tracks[key].status;
            out.push(self.update_of(key, status, Some(m.sensor)));
            self.maybe_leave(key);
        }
        if cfg.association == Association::Mht {
            self.carry_hypotheses(
                t,
                meas,
                &edges,
                (pairings, pairs),
                assigned_meas,
                cfg,
                motion,
                books,
                out,
            );
        }
        // Initiate from what nobody took.
        for (j, m) in meas.iter().enumerate() {
            if assigned_meas[j] {
                continue;
            }
            stats.unexplained += 1;
            if m.r[0].max(m.r[2]).sqrt() > cfg.init_max_sd_m || !books.may_start(m.sensor) {
                continue;
            }
            // A new track is as likely as new objects are against this sensor's clutter.
            let score = (cfg.birth_density / books.clutter_density(m.sensor)).ln();
            if self.n_tentative >= cfg.limits.tentative_per_tile
                && !self.shed_tentative(score, t, cfg, motion, books, out)
            {
                books.ledger.tentative_shed += 1;
                continue;
            }
            let v = cfg.init_speed_sd * cfg.init_speed_sd;
            let mut p = Matrix4::from_diagonal(&Vector4::new(m.r[0], m.r[2], v, v));
            p[(0, 1)] = m.r[1];
            p[(1, 0)] = m.r[1];
            let mut class = ClassBelief::default();
            if let Some(c) = m.class {
                class.sensor(c, &cfg.class);
            }
            if let Some(h) = m.heat {
                class.heat(h, &cfg.class);
            }
            let tr = Track {
                id: *next_id,
                x: State::new(m.xy[0], m.xy[1], 0.0, 0.0),
                p,
                t,
                shown: t,
                status: TrackStatus::Tentative,
                hits: 1,
                first_seen: t,
                class,
                anchor: (m.xy, m.r[0].max(m.r[2]), t),
                indexed_at: m.xy,
                fast: false,
                origin: m.sensor,
                score,
                score_start: score,
                score_best: score,
                period: books.period(m.sensor),
                sensor: m.sensor,
                one_sensor: true,
                alone: true,
            };
            *next_id += 1;
            stats.started += 1;
            self.n_tentative += 1;
            books.started(m.sensor);
            let key = self.tracks.insert(tr);
            self.index(key);
            out.push(self.update_of(key, TrackStatus::Tentative, Some(m.sensor)));
        }
        self.edges = edges;
        self.scratch = sc;
        self.merge_duplicates(t, cfg, motion, books, out);
        let confirmed = self.tracks.len() - self.n_tentative;
        if confirmed > cfg.limits.tracks_per_tile
            || books.ledger.confirmed > cfg.limits.tracks_total
        {
            self.shed_confirmed(t, cfg, motion, books, out);
        }
        stats
    }

    /// Every confirmed or coasting track in the picture at `t` (see
    /// `TrackerConfig::picture_score_drop`), its state's mean predicted to `t` (constant
    /// velocity); `sensors` gives each track's sensor its detection probability.
    pub fn snapshot(
        &self,
        t: f64,
        cfg: &TrackerConfig,
        sensors: &[SensorState],
        out: &mut Vec<TrackUpdate>,
    ) {
        for (_, tr) in &self.tracks {
            match tr.status {
                TrackStatus::Tentative => continue,
                TrackStatus::Coasting if cfg.sequential_test() && cfg.picture_score_drop > 0.0 => {
                    let pd = detection_probability(sensors, tr.sensor, cfg.detection_probability);
                    if tr.score_at(t, pd) < tr.score_best - cfg.picture_score_drop {
                        continue;
                    }
                }
                _ => {}
            }
            let mut u = update_of(tr, self.part, tr.status, None);
            let dt = t - tr.t;
            u.time = t;
            u.xy = [tr.x[0] + tr.x[2] * dt, tr.x[1] + tr.x[3] * dt];
            out.push(u);
        }
    }
}

fn update_of(tr: &Track, part: Partition, status: TrackStatus, sensor: Option<u32>) -> TrackUpdate {
    TrackUpdate {
        id: tr.id,
        time: tr.t,
        updated: tr.t,
        status,
        part,
        xy: [tr.x[0], tr.x[1]],
        vel: [tr.x[2], tr.x[3]],
        cov: [tr.p[(0, 0)], tr.p[(0, 1)], tr.p[(1, 1)]],
        class: tr.class.probs(),
        hits: tr.hits,
        first_seen: tr.first_seen,
        sensor,
        was_confirmed: tr.status != TrackStatus::Tentative,
    }
}
