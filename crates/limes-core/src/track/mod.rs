//! The multi-sensor, multi-target tracker: detections in, track updates out.
//!
//! Built like Stone Soup from small parts: a [`MotionModel`] predicts, [`kalman::update`]
//! corrects, the gating in `tile` hypothesises, an [`Associator`] (GNN) picks pairs on each
//! gated cluster, and the life-cycle rules in [`TrackerConfig`] initiate (M-of-N), coast and
//! delete. The world is cut into [`TILE_DEG`](crate::geo::TILE_DEG) tiles, each with its own
//! local frame and spatial index, so cost follows the number of targets, not the line's length.
//! Detections are held in a reorder buffer for `reorder_window_s` so that late arrivals within
//! the window are processed in time order.

pub mod assign;
pub mod classify;
mod config;
pub mod jpda;
pub mod kalman;
mod limits;
mod reorder;
mod revisit;
mod tile;

pub use assign::{Associator, Gnn};
pub use classify::{ClassBelief, ClassConfig};
pub use config::{Association, TrackerConfig, MAX_STRETCH};
pub use kalman::{ConstantVelocity, MotionModel};
pub use limits::TrackerLimits;
pub use tile::Partition;

use rustc_hash::FxHashMap;
use serde::Serialize;

use crate::geo::{LocalFrame, LonLat, TileId, Xy};
use crate::record::{ClassProbs, Detection, FieldError, Position, Time, TrackRecord, TrackStatus};
use limits::{Books, Ledger, Sensors};
use reorder::ReorderBuffer;
use tile::Tile;

/// A measurement in a partition's local frame.
#[derive(Clone, Debug)]
pub struct Meas {
    /// Position, metres in the partition frame.
    pub xy: Xy,
    /// Covariance `[var_x, cov_xy, var_y]`, m².
    pub r: [f64; 3],
    /// Time, seconds since the epoch.
    pub t: f64,
    /// Interned sensor index.
    pub sensor: u32,
    /// Sensor class guess, person / vehicle / animal.
    pub class: Option<[f64; 3]>,
    /// Heat-signature area, m².
    pub heat: Option<f64>,
    /// The WGS84 position, when it came as one (for routing across tile edges).
    pub ll: Option<LonLat>,
}

/// One track state after one update, in its partition's frame.
#[derive(Clone, Debug)]
pub struct TrackUpdate {
    /// Track identifier.
    pub id: u64,
    /// Time of the state: of the detection for an update, of the change for a status line
    /// (`coasting`, `deleted`; the state is then predicted to it).
    pub time: f64,
    /// Time of the last detection that updated the track.
    pub updated: f64,
    /// Life-cycle state.
    pub status: TrackStatus,
    /// The partition whose frame `xy` is in.
    pub part: Partition,
    /// Position in the partition frame.
    pub xy: Xy,
    /// Velocity east/north, m/s.
    pub vel: Xy,
    /// Position covariance `[var_x, cov_xy, var_y]`.
    pub cov: [f64; 3],
    /// Class probabilities, person / vehicle / animal.
    pub class: [f64; 3],
    /// Detections associated so far.
    pub hits: u32,
    /// Time of the first detection.
    pub first_seen: f64,
    /// Sensor of the detection behind this update.
    pub sensor: Option<u32>,
    /// The track has been confirmed at some point: false only for tentative tracks, including
    /// the `Deleted` update of a tentative track that died or was shed (which consumers of
    /// confirmed tracks never saw and can ignore; the rules use it to forget the track).
    pub was_confirmed: bool,
}

/// Counters for reports and benchmarks.
#[derive(Clone, Debug, Default, Serialize)]
pub struct TrackerStats {
    /// Detections accepted.
    pub detections: u64,
    /// Detections dropped because they came later than the reorder window.
    pub late_dropped: u64,
    /// Scans processed.
    pub scans: u64,
    /// Tracks started.
    pub tracks_started: u64,
    /// Tracks confirmed.
    pub tracks_confirmed: u64,
    /// Tracks confirmed as the continuation of a lost track, whose id they took.
    pub tracks_continued: u64,
    /// Largest gated cluster seen (tracks × measurements).
    pub largest_cluster: usize,
    /// Partitions (tiles) in use.
    pub partitions: usize,
    /// Live tentative tracks.
    pub tentative_live: usize,
    /// Live confirmed and coasting tracks.
    pub confirmed_live: usize,
    /// Tentative tracks shed, or not started, because a cap of `[tracker.limits]` was reached.
    pub tentative_shed: u64,
    /// Confirmed tracks shed because a cap of `[tracker.limits]` was reached.
    pub confirmed_shed: u64,
    /// Detections of flooding sensors that were not allowed to start a track.
    pub flood_refused: u64,
    /// Sensors flooding now (see [`Tracker::flooding_sensors`]).
    pub flooding_sensors: usize,
    /// Times the reorder buffer was full and its oldest scan was processed early.
    pub buffer_overflows: u64,
}

/// One sensor as the tracker has learnt it (see [`Tracker::sensor_estimates`]).
#[derive(Clone, Debug)]
pub struct SensorEstimate<'a> {
    /// The sensor's identifier.
    pub sensor: &'a str,
    /// Time between two looks at one place, seconds: between its timestamps, or its
    /// revisit period where it spreads a scan over many timestamps.
    pub period_s: f64,
    /// Time between its distinct timestamps, seconds (shorter than `period_s` where it
    /// spreads a scan over many, as a radar stamping each detection as its beam passes).
    pub timestamp_gap_s: f64,
    /// Whether `period_s` is its learnt revisit period because it spreads its scans.
    pub spreads_scans: bool,
    /// Share of its established tracks' scans in which it detected them (from
    /// `detection_probability` of the settings until it has such tracks).
    pub detection_probability: f64,
    /// Track scans behind that share (recent ones weigh more).
    pub track_scans: f64,
    /// Detections no track explained, per m² per scan.
    pub clutter_density: f64,
}

/// The tracker.
pub struct Tracker {
    cfg: TrackerConfig,
    motion: Box<dyn MotionModel>,
    assoc: Box<dyn Associator>,
    tiles: FxHashMap<Partition, Tile>,
    buffer: ReorderBuffer,
    sensors: Sensors,
    cells: revisit::Cells,
    ledger: Ledger,
    next_id: u64,
    last_sweep: f64,
    stats: TrackerStats,
}

impl Tracker {
    /// A tracker with the constant-velocity model and GNN association.
    pub fn new(cfg: TrackerConfig) -> Self {
        Self::with_parts(cfg, Box::new(ConstantVelocity), Box::new(Gnn))
    }

    /// A tracker with a chosen motion model and associator.
    pub fn with_parts(
        cfg: TrackerConfig,
        motion: Box<dyn MotionModel>,
        assoc: Box<dyn Associator>,
    ) -> Self {
        Self {
            buffer: ReorderBuffer::new(cfg.reorder_window_s),
            cfg,
            motion,
            assoc,
            tiles: FxHashMap::default(),
            sensors: Sensors::default(),
            cells: revisit::Cells::default(),
            ledger: Ledger::default(),
            next_id: 1,
            last_sweep: f64::NEG_INFINITY,
            stats: TrackerStats::default(),
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> TrackerStats {
        let mut s = self.stats.clone();
        s.partitions = self.tiles.len();
        s.tentative_live = self.ledger.tentative;
        s.confirmed_live = self.ledger.confirmed;
        s.tentative_shed = self.ledger.tentative_shed;
        s.confirmed_shed = self.ledger.confirmed_shed;
        s.flood_refused = self.ledger.flood_refused;
        s.flooding_sensors = self.flooding_sensors().count();
        s
    }

    /// Sensors whose recent rate (record time) is over `limits.sensor_max_rate_hz`: their
    /// detections still update tracks but no longer start any. A sensor leaves the list once
    /// its rate is below half the limit.
    pub fn flooding_sensors(&self) -> impl Iterator<Item = &str> {
        self.sensors
            .list
            .iter()
            .filter(|s| s.flooding)
            .map(|s| s.name.as_str())
    }

    /// Recent detections per second of record time of a sensor, if it has been seen.
    pub fn sensor_rate_hz(&self, name: &str) -> Option<f64> {
        self.sensors
            .list
            .iter()
            .find(|s| s.name == name)
            .map(|s| s.rate_hz(&self.cfg.limits))
    }

    /// What the tracker has learnt of each sensor: scan period, detection probability and
    /// clutter density (what its sequential test uses).
    pub fn sensor_estimates(&self) -> impl Iterator<Item = SensorEstimate<'_>> {
        self.sensors.list.iter().map(|s| SensorEstimate {
            sensor: &s.name,
            period_s: s.period(),
            timestamp_gap_s: s.timestamp_gap(),
            spreads_scans: s.spread_look().is_some(),
            detection_probability: s.detection_probability(self.cfg.detection_probability),
            track_scans: s.track_scans(),
            clutter_density: s.clutter_density(),
        })
    }

    /// Name of an interned sensor.
    pub fn sensor_name(&self, idx: u32) -> &str {
        self.sensors.name(idx)
    }

    /// Interns a sensor identifier; `None` once `limits.sensors` distinct ones are known.
    pub fn sensor_index(&mut self, name: &str) -> Option<u32> {
        self.sensors.intern(name, &self.cfg.limits)
    }

    /// The tracker's settings.
    pub fn config(&self) -> &TrackerConfig {
        &self.cfg
    }

    /// The confirmed and coasting tracks as the tracker believes them at `t` (means predicted
    /// with constant velocity; what a picture or a benchmark shows at one time), without the
    /// coasting tracks more likely gone than there (`picture_score_drop`).
    pub fn snapshot(&self, t: f64) -> Vec<TrackUpdate> {
        let mut out = Vec::new();
        for tile in self.tiles.values() {
            tile.snapshot(t, &self.cfg, &self.sensors.list, &mut out);
        }
        out.sort_by_key(|u| u.id);
        out
    }

    /// Number of live tracks.
    pub fn live_tracks(&self) -> usize {
        self.tiles.values().map(Tile::len).sum()
    }

    /// Validates a detection ([`Detection::validate`], the one rule every path shares) and
    /// converts it into its partition's frame.
    pub fn prepare(&mut self, d: &Detection) -> Result<(Partition, Meas), FieldError> {
        d.validate()?;
        let r = match (d.cov, d.ce) {
            (Some(c), _) => c,
            (None, Some(ce)) => [ce * ce, 0.0, ce * ce],
            (None, None) => return Err(FieldError::new("ce", "a detection needs `ce` or `cov`")),
        };
        let mut ll = None;
        let (part, xy) = match d.pos {
            Position::LonLat { lon, lat } => {
                let p = LonLat::new(lon, lat);
                ll = Some(p);
                Partition::locate(p)
            }
            Position::Local { x, y } => (Partition::Flat, [x, y]),
        };
        // Whatever the geodesy makes of a valid position, nothing that is no number enters the
        // tracks' R-trees.
        if !(xy[0].is_finite() && xy[1].is_finite()) {
            let field = if ll.is_some() { "lat" } else { "x" };
            return Err(FieldError::new(
                field,
                "this position has no place in the tracker's frame",
            ));
        }
        let sensor = self.sensor_index(&d.sensor).ok_or_else(|| {
            FieldError::new(
                "sensor",
                format!(
                    "more than {} distinct sensors (tracker.limits.sensors)",
                    self.cfg.limits.sensors
                ),
            )
        })?;
        Ok((
            part,
            Meas {
                xy,
                r,
                t: d.time.0,
                sensor,
                class: d.class.map(|c| c.as_array()),
                heat: d.heat_m2,
                ll,
            },
        ))
    }

    /// Accepts one detection; emits the updates that became due into `out`.
    pub fn push(&mut self, d: &Detection, out: &mut Vec<TrackUpdate>) -> Result<(), FieldError> {
        let (part, m) = self.prepare(d)?;
        self.push_prepared(part, m, out);
        Ok(())
    }

    /// Accepts a detection already in its partition's frame (see [`Tracker::prepare`]).
    pub fn push_prepared(&mut self, part: Partition, m: Meas, out: &mut Vec<TrackUpdate>) {
        let t = m.t;
        self.sensors.count(m.sensor, t, &self.cfg.limits);
        if self.buffer.push(part, m) {
            self.stats.detections += 1;
        } else {
            self.stats.late_dropped += 1;
        }
        let wm = self.buffer.watermark(t);
        self.release(wm, out);
        // A full buffer processes its oldest scans early rather than growing.
        while self.buffer.len() > self.cfg.limits.buffered {
            self.stats.buffer_overflows += 1;
            let Some(oldest) = self.buffer.oldest() else {
                break;
            };
            self.release(oldest, out);
        }
    }

    /// Tells the tracker the time is now `t` (e.g. from heartbeats); processes what is due.
    pub fn advance(&mut self, t: f64, out: &mut Vec<TrackUpdate>) {
        let wm = self.buffer.watermark(t);
        self.release(wm, out);
    }

    /// A live clock tick at `t`: like [`Tracker::advance`], and also coasts and deletes tracks
    /// that went quiet when no detection arrives at all (a batch replay never needs this).
    pub fn tick(&mut self, t: f64, out: &mut Vec<TrackUpdate>) {
        let wm = self.buffer.watermark(t);
        self.release(wm, out);
        if wm.is_finite() {
            self.sweep(wm, out);
        }
    }

    /// Processes everything still buffered and deletes nothing else; call at end of input.
    pub fn flush(&mut self, out: &mut Vec<TrackUpdate>) {
        self.release(f64::INFINITY, out);
    }

    fn release(&mut self, upto: f64, out: &mut Vec<TrackUpdate>) {
        while let Some((t, mut batch)) = self.buffer.pop_scan(upto, self.cfg.limits.scan_max) {
            self.sweep(t, out);
            self.stats.scans += 1;
            self.route_edges(t, &mut batch);
            let mut unexplained = 0;
            let sensor = batch.first().and_then(|g| g.1.first()).map(|m| m.sensor);
            for (part, meas) in &batch {
                let part = *part;
                let tile = self.tiles.entry(part).or_insert_with(|| Tile::new(part));
                let mut books = Books {
                    limits: &self.cfg.limits,
                    sensors: &mut self.sensors.list,
                    ledger: &mut self.ledger,
                };
                let s = tile.scan(
                    t,
                    meas,
                    &self.cfg,
                    &*self.motion,
                    &*self.assoc,
                    &mut self.next_id,
                    &mut books,
                    out,
                );
                unexplained += s.unexplained;
                self.stats.tracks_started += s.started;
                self.stats.tracks_confirmed += s.confirmed;
                self.stats.tracks_continued += s.continued;
                self.stats.largest_cluster = self.stats.largest_cluster.max(s.largest_cluster);
                for moved in tile.take_leavers() {
                    let dest = moved.0;
                    self.tiles
                        .entry(dest)
                        .or_insert_with(|| Tile::new(dest))
                        .adopt(moved.1);
                }
            }
            if let Some(st) = sensor.and_then(|s| self.sensors.list.get_mut(s as usize)) {
                // Only the sequential test counts missed scans; without it the revisit
                // period is not needed.
                let cells = self.cfg.sequential_test().then_some(&mut self.cells);
                st.observe_scan(t, batch.iter().flat_map(|g| g.1.iter()), unexplained, cells);
            }
        }
        if upto.is_finite() {
            self.sweep(upto, out);
        }
    }

    /// Moves detections near a tile edge into the neighbouring tile when a track there gates
    /// them better than any at home, so an object crossing the edge keeps its track; the track
    /// is handed over once its own position crosses.
    fn route_edges(&mut self, t: f64, batch: &mut Vec<(Partition, Vec<Meas>)>) {
        let mut moves: Vec<(Partition, Meas)> = Vec::new();
        for (part, meas) in batch.iter_mut() {
            let Partition::Tile(tile) = *part else {
                continue;
            };
            let mut k = 0;
            while k < meas.len() {
                let m = &meas[k];
                let best =
                    m.ll.and_then(|ll| self.better_neighbour(t, *part, tile, ll, m));
                match best {
                    Some((nb, xy)) => {
                        let mut m = meas.swap_remove(k);
                        m.xy = xy;
                        moves.push((Partition::Tile(nb), m));
                    }
                    None => k += 1,
                }
            }
        }
        for (p, m) in moves {
            match batch.iter_mut().find(|g| g.0 == p) {
                Some(g) => g.1.push(m),
                None => batch.push((p, vec![m])),
            }
        }
        batch.retain(|g| !g.1.is_empty());
    }

    /// The neighbouring tile (and the measurement's position in its frame) whose tracks gate a
    /// measurement near the edge better than the home tile's, if any.
    fn better_neighbour(
        &self,
        t: f64,
        home: Partition,
        tile: TileId,
        ll: LonLat,
        m: &Meas,
    ) -> Option<(TileId, Xy)> {
        let near = tile.neighbours_within(ll, self.cfg.edge_halo_m);
        if near.is_empty() {
            return None;
        }
        let gate = |tl: &Tile, xy: Xy| tl.best_gate(t, xy, m.r, &self.cfg, &*self.motion);
        let mut best: Option<(TileId, Xy, f64)> = None;
        for nb in near {
            let Some(tl) = self
                .tiles
                .get(&Partition::Tile(nb))
                .filter(|tl| tl.len() > 0)
            else {
                continue;
            };
            let xy = LocalFrame::new(nb.centre()).to_local(ll);
            if let Some(d2) = gate(tl, xy) {
                if best.is_none_or(|b| d2 < b.2) {
                    best = Some((nb, xy, d2));
                }
            }
        }
        // Only a neighbour that gates it can take a detection; then home must not gate it better.
        let (nb, xy, d2) = best?;
        let home = self.tiles.get(&home).and_then(|tl| gate(tl, m.xy));
        home.is_none_or(|h| d2 < h).then_some((nb, xy))
    }

    fn sweep(&mut self, t: f64, out: &mut Vec<TrackUpdate>) {
        if t - self.last_sweep < 1.0 {
            return;
        }
        self.last_sweep = t;
        let mut books = Books {
            limits: &self.cfg.limits,
            sensors: &mut self.sensors.list,
            ledger: &mut self.ledger,
        };
        for tile in self.tiles.values_mut() {
            tile.sweep(t, &self.cfg, &*self.motion, &mut books, out);
        }
        // Empty tiles go: memory follows the live tracks, not every place ever reported.
        self.tiles.retain(|_, tile| tile.len() > 0);
    }

    /// Converts an update into the file record (WGS84 for tiles, local metres when flat).
    pub fn to_record(&self, u: &TrackUpdate) -> TrackRecord {
        to_record(u, |i| self.sensor_name(i).to_string())
    }
}

/// Converts an update into the file record, naming sensors with `name`.
pub fn to_record(u: &TrackUpdate, name: impl Fn(u32) -> String) -> TrackRecord {
    TrackRecord {
        id: u.id,
        time: Time(u.time),
        status: u.status,
        pos: u.part.position(u.xy),
        vel: u.vel,
        cov: u.cov,
        class: ClassProbs::from_array(u.class),
        hits: u.hits,
        first_seen: Time(u.first_seen),
        sensor: u.sensor.map(name),
        updated: (u.updated < u.time).then_some(Time(u.updated)),
    }
}

#[cfg(test)]
mod tests {
    use super::{Association, TrackerConfig, MAX_STRETCH};

    #[test]
    fn times_stretch_with_a_slow_sensor_within_bounds() {
        let cfg = TrackerConfig::unknown_sensor();
        assert_eq!(cfg.time_stretch(0.1), 1.0);
        assert_eq!(cfg.time_stretch(5.0), 5.0);
        assert_eq!(cfg.time_stretch(3600.0), MAX_STRETCH);
        assert_eq!(cfg.time_stretch(f64::NAN), 1.0);
        assert_eq!(TrackerConfig::default().time_stretch(5.0), 1.0);
    }

    #[test]
    fn an_association_has_one_name_in_site_files_and_on_the_command_line() {
        for a in Association::ALL {
            let in_toml = toml::Value::try_from(a).expect("serialises");
            assert_eq!(in_toml.as_str(), Some(a.name()));
            assert_eq!(a.name().parse::<Association>(), Ok(a));
        }
        assert!("JPDA".parse::<Association>().is_err());
    }
}
