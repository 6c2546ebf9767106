//! Bounds on the tracker's state whatever the input, and the per-sensor books behind them.
//!
//! Every sensor has a load (detections per second of *record* time, so a replay of a log is
//! judged exactly as the live feed was), a flooding flag, the number of tentative tracks it
//! started that are still alive, and a clutter estimate (unexplained detections per scan over
//! the area its detections span). Caps on tentative tracks (per sensor, per tile, in all),
//! on confirmed tracks (per tile, in all), on distinct sensors, on the reorder buffer, on the
//! size of a scan and on the candidates a detection is gated against bound memory and time per
//! detection; when a cap is reached the least likely tracks (lowest score) are shed and counted.

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use super::revisit::{Cells, Revisit, ASSUMED_S};
use super::Meas;

/// The `[tracker.limits]` table: bounds that hold whatever the input.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrackerLimits {
    /// A sensor reporting more detections per second than this (averaged over
    /// `rate_window_s` of record time) is flooding: its detections no longer start tracks
    /// until its rate falls below half of this.
    pub sensor_max_rate_hz: f64,
    /// Time constant of the per-sensor rate estimate, seconds of record time.
    pub rate_window_s: f64,
    /// Live tentative tracks one sensor may have started.
    pub tentative_per_sensor: usize,
    /// Live tentative tracks in one tile.
    pub tentative_per_tile: usize,
    /// Live tentative tracks in all.
    pub tentative_total: usize,
    /// Live confirmed (and coasting) tracks in one tile.
    pub tracks_per_tile: usize,
    /// Live confirmed (and coasting) tracks in all.
    pub tracks_total: usize,
    /// Distinct sensor identifiers; detections naming a further one are refused.
    pub sensors: usize,
    /// Detections held in the reorder buffer; beyond it the oldest scan is processed early.
    pub buffered: usize,
    /// Detections of one sensor at one time processed as one scan; more are split.
    pub scan_max: usize,
    /// Tracks a detection is gated against (the first found within the search radius).
    pub gate_candidates: usize,
    /// Largest gated cluster solved exactly, as tracks × (detections + tracks) cells; larger
    /// ones are assigned greedily by cost.
    pub cluster_cells: usize,
}

impl Default for TrackerLimits {
    fn default() -> Self {
        Self {
            sensor_max_rate_hz: 20_000.0,
            rate_window_s: 10.0,
            tentative_per_sensor: 20_000,
            tentative_per_tile: 20_000,
            tentative_total: 100_000,
            tracks_per_tile: 20_000,
            tracks_total: 100_000,
            sensors: 100_000,
            buffered: 250_000,
            scan_max: 10_000,
            gate_candidates: 64,
            cluster_cells: 250_000,
        }
    }
}

impl TrackerLimits {
    /// The most tracks (tentative and confirmed) the tracker can hold at once.
    pub fn max_tracks(&self) -> usize {
        self.tentative_total + self.tracks_total
    }
}

/// How far a sensor's detections are assumed to spread in each direction before it has shown
/// more, m (an area of 1 km²), for a sensor whose detections are 20 m (1 sigma) or coarser;
/// see [`FIELD_SDS`].
const MIN_SIDE_M: f64 = 1000.0;
/// A sensor's field is assumed to be at least this many of its detections' mean sigmas across
/// in each direction (at most [`MIN_SIDE_M`]): so the floor of its clutter area follows the
/// sensor's scale, and a sensor watching a 60 m square with 1 m errors (the units of Stone
/// Soup's tutorials) is not taken for one whose clutter is spread over a square kilometre,
/// which made its clutter look 300 times rarer than it was and confirmed pairs of clutter
/// detections as tracks. A side, not an area: detections along a line (one road) still span a
/// field as wide as that.
const FIELD_SDS: f64 = 50.0;
/// Weight of a new scan in the unexplained-detections average (about the last 50 scans).
const CLUTTER_GAIN: f64 = 0.02;
/// Smallest clutter density the score uses, per m² per scan.
const MIN_DENSITY: f64 = 1.0e-12;
/// Weight of the configured detection probability in a sensor's estimate, in track scans.
const PD_PRIOR_SCANS: f64 = 20.0;
/// Track scans a sensor's detection-probability estimate remembers (exponential forgetting).
const PD_MEMORY_SCANS: f64 = 2000.0;
/// Bounds of the estimate: at the top two missed scans cost 9.2, at the bottom a miss costs
/// almost nothing (the time limits still delete).
const PD_RANGE: (f64, f64) = (0.05, 0.99);
/// A sensor's revisit period is its scan period once it is this many times the time between
/// its timestamps (a sensor stamping four sectors a turn or more, or each detection); below,
/// the two measure the same scans and the timestamps are the sharper. A revisit read as two or
/// three scans of a sensor stamping whole scans — clutter falls back into a cell after one,
/// two or three scans almost as often where it is dense, and the breakout's crowd fills one
/// cell — must not make it one that spreads them.
const REVISIT_OVER_GAP: f64 = 3.5;

/// Most a gap between two of a sensor's timestamps counts for in their mean, in scan periods
/// (see [`SensorState::observe_scan`]).
const GAP_OVER_PERIOD: f64 = 10.0;

/// What the tracker knows about one sensor.
#[derive(Clone, Debug)]
pub(super) struct SensorState {
    pub name: String,
    /// Exponentially decayed count of detections (record time), and when it was decayed.
    load: f64,
    load_t: f64,
    /// Reporting faster than the limit allows.
    pub flooding: bool,
    /// Its live tentative tracks.
    pub tentative: usize,
    /// Average unexplained detections per scan.
    unexplained: f64,
    scans: u64,
    /// Time of its last scan, and the mean time between its scans (between the distinct
    /// timestamps of its detections).
    last_scan: f64,
    scan_gap: f64,
    /// How often it looks at one place again (see [`Revisit`]).
    revisit: Revisit,
    /// Whether it is learning that (only the sequential test needs it).
    learning_revisit: bool,
    /// Bounding box of its detections `[min_x, min_y, max_x, max_y]`, approximate metres.
    bbox: Option<[f64; 4]>,
    /// Mean sigma of its detections (the larger axis), metres, and how many it is the mean of.
    sd_mean: f64,
    sd_count: f64,
    /// Latitude its WGS84 detections are projected about (see `approx_metres`).
    ref_lat: Option<f64>,
    /// Scans in which its established tracks were detected again, and scans they were missed
    /// in before that (decayed counts), for its detection probability.
    track_hits: f64,
    track_misses: f64,
}

impl SensorState {
    fn new(name: &str) -> Self {
        Self {
            name: name.to_string(),
            load: 0.0,
            load_t: f64::NEG_INFINITY,
            flooding: false,
            tentative: 0,
            unexplained: 0.0,
            scans: 0,
            last_scan: f64::NAN,
            scan_gap: 1.0,
            revisit: Revisit::default(),
            learning_revisit: false,
            bbox: None,
            sd_mean: 0.0,
            sd_count: 0.0,
            ref_lat: None,
            track_hits: 0.0,
            track_misses: 0.0,
        }
    }

    /// Counts one detection at record time `t`; returns true when this made the sensor
    /// start flooding.
    fn count(&mut self, t: f64, lim: &TrackerLimits) -> bool {
        if t > self.load_t {
            if self.load_t.is_finite() {
                self.load *= (-(t - self.load_t) / lim.rate_window_s).exp();
            }
            self.load_t = t;
        }
        // Out-of-order detections count without decay: a sender cannot lower its own rate by
        // sending old timestamps.
        self.load += 1.0;
        let rate = self.rate_hz(lim);
        let was = self.flooding;
        if rate > lim.sensor_max_rate_hz {
            self.flooding = true;
        } else if rate < lim.sensor_max_rate_hz / 2.0 {
            self.flooding = false;
        }
        self.flooding && !was
    }

    /// Detections per second of record time, recently.
    pub fn rate_hz(&self, lim: &TrackerLimits) -> f64 {
        self.load / lim.rate_window_s
    }

    /// Learns from one of its scans: where its detections lie, how many nobody explained and,
    /// given the cell table, how often it revisits a place.
    pub fn observe_scan<'m>(
        &mut self,
        t: f64,
        meas: impl Iterator<Item = &'m Meas>,
        unexplained: usize,
        mut cells: Option<&mut Cells>,
    ) {
        if t > self.last_scan {
            // A silence is not a scan: after the first, a gap counts for at most
            // GAP_OVER_PERIOD scan periods as learnt so far (a sensor that really slowed down
            // gets there within a few scans; one back after an hour off keeps its period).
            let mut gap = t - self.last_scan;
            if self.scans > 1 {
                gap = gap.min(GAP_OVER_PERIOD * self.period());
            }
            // The mean of the gaps so far, then about the last 20.
            let gain = (1.0 / self.scans as f64).max(0.05);
            self.scan_gap += gain * (gap - self.scan_gap);
        }
        if self.last_scan.is_nan() || t > self.last_scan {
            self.last_scan = t;
        }
        self.learning_revisit |= cells.is_some();
        for m in meas {
            let p = approx_metres(m, &mut self.ref_lat);
            if let Some(cells) = cells.as_deref_mut() {
                cells.observe(m.sensor, t, p, &mut self.revisit);
            }
            let sd = m.r[0].max(m.r[2]).sqrt();
            if sd.is_finite() {
                // The mean so far, then of about the last 10,000.
                self.sd_count = (self.sd_count + 1.0).min(10_000.0);
                self.sd_mean += (sd - self.sd_mean) / self.sd_count;
            }
            let b = self.bbox.get_or_insert([p[0], p[1], p[0], p[1]]);
            b[0] = b[0].min(p[0]);
            b[1] = b[1].min(p[1]);
            b[2] = b[2].max(p[0]);
            b[3] = b[3].max(p[1]);
        }
        self.scans += 1;
        // Nothing could explain the detections of a sensor's first scan: its second scan, the
        // first with tracks to take what is not clutter, replaces it (unless it has none left,
        // which would put the estimate at its floor).
        let gain = if self.scans == 2 && unexplained > 0 {
            1.0
        } else {
            CLUTTER_GAIN.max(1.0 / self.scans as f64)
        };
        self.unexplained += gain * (unexplained as f64 - self.unexplained);
    }

    /// Learns from its established tracks: `hits` scans in which it detected them, `misses`
    /// in which it did not.
    pub fn count_track_scans(&mut self, hits: f64, misses: f64) {
        let keep = (1.0 - 1.0 / PD_MEMORY_SCANS).powf(hits + misses);
        self.track_hits = self.track_hits * keep + hits;
        self.track_misses = self.track_misses * keep + misses;
    }

    /// Estimated detection probability of this sensor: the share of its established tracks'
    /// scans in which it detected them, starting from `prior` (worth 20 scans).
    pub fn detection_probability(&self, prior: f64) -> f64 {
        if self.track_scans() <= 0.0 {
            return prior;
        }
        let seen = self.track_hits + PD_PRIOR_SCANS * prior;
        let all = self.track_hits + self.track_misses + PD_PRIOR_SCANS;
        (seen / all).clamp(PD_RANGE.0, PD_RANGE.1)
    }

    /// Track scans behind [`SensorState::detection_probability`] (decayed).
    pub fn track_scans(&self) -> f64 {
        self.track_hits + self.track_misses
    }

    /// Time between two looks of this sensor at one place, seconds: the time between its
    /// timestamps, or its revisit period where that is clearly longer (a sensor stamping each
    /// detection as its beam passes changes its timestamps many times a revolution); while a
    /// revisit period is being learnt, no less than the one assumed.
    pub fn period(&self) -> f64 {
        match (self.spread_look(), self.revisit.period()) {
            (Some(look), _) => look,
            (None, None) if self.learning_revisit => self.scan_gap.max(ASSUMED_S),
            _ => self.scan_gap,
        }
    }

    /// Mean time between its distinct timestamps, seconds.
    pub fn timestamp_gap(&self) -> f64 {
        self.scan_gap
    }

    /// Its learnt revisit period where it spreads a scan over many timestamps: the revisit
    /// period is clearly longer than the time between them.
    pub fn spread_look(&self) -> Option<f64> {
        self.revisit
            .period()
            .filter(|r| *r > REVISIT_OVER_GAP * self.scan_gap)
    }

    /// Estimated clutter density of this sensor, per m² per scan (per look at each place):
    /// the unexplained detections of a scan spread over the area its detections span (an
    /// upper bound while targets are still being picked up), times the timestamps in one
    /// revisit period where the sensor spreads its scan over several.
    pub fn clutter_density(&self) -> f64 {
        let side = if self.sd_count > 0.0 {
            (FIELD_SDS * self.sd_mean).clamp(1.0, MIN_SIDE_M)
        } else {
            MIN_SIDE_M
        };
        let area = self.bbox.map_or(side * side, |b| {
            (b[2] - b[0]).max(side) * (b[3] - b[1]).max(side)
        });
        let period = self.period();
        let stamps_per_look = if period > self.scan_gap {
            period / self.scan_gap
        } else {
            1.0
        };
        (self.unexplained * stamps_per_look / area).max(MIN_DENSITY)
    }
}

/// A position in metres good enough for an area: the tile frame is lost once a detection is
/// in it, so WGS84 detections use an equirectangular projection of their lon/lat about one
/// latitude per sensor (`ref_lat`, its first WGS84 detection's). Each point's own latitude
/// would make a line north–south look wide: 400 m east–west per km at 39° E, 36° N.
fn approx_metres(m: &Meas, ref_lat: &mut Option<f64>) -> [f64; 2] {
    match m.ll {
        Some(ll) => {
            let lat = *ref_lat.get_or_insert(if ll.lat.is_finite() { ll.lat } else { 0.0 });
            [
                ll.lon * 111_320.0 * lat.to_radians().cos(),
                ll.lat * 110_574.0,
            ]
        }
        None => m.xy,
    }
}

/// The interned sensors and their states.
#[derive(Default)]
pub(super) struct Sensors {
    index: FxHashMap<String, u32>,
    pub list: Vec<SensorState>,
}

impl Sensors {
    /// The index of a sensor, interning it; `None` when the limit of distinct sensors is
    /// reached.
    pub fn intern(&mut self, name: &str, lim: &TrackerLimits) -> Option<u32> {
        if let Some(&i) = self.index.get(name) {
            return Some(i);
        }
        if self.list.len() >= lim.sensors {
            return None;
        }
        let i = self.list.len() as u32;
        self.index.insert(name.to_string(), i);
        self.list.push(SensorState::new(name));
        Some(i)
    }

    /// Counts a detection of sensor `i` at `t` against its rate; true when it started flooding.
    pub fn count(&mut self, i: u32, t: f64, lim: &TrackerLimits) -> bool {
        self.list
            .get_mut(i as usize)
            .is_some_and(|s| s.count(t, lim))
    }

    pub fn name(&self, i: u32) -> &str {
        self.list.get(i as usize).map_or("?", |s| s.name.as_str())
    }
}

/// Tracker-wide counts the tiles keep up to date as tracks start, confirm and go.
#[derive(Clone, Debug, Default)]
pub(super) struct Ledger {
    /// Live tentative tracks.
    pub tentative: usize,
    /// Live confirmed and coasting tracks.
    pub confirmed: usize,
    /// Tentative tracks shed, or not started, because a cap was reached.
    pub tentative_shed: u64,
    /// Confirmed tracks shed because a cap was reached.
    pub confirmed_shed: u64,
    /// Detections of flooding sensors that were not allowed to start a track.
    pub flood_refused: u64,
}

/// Detection probability of sensor `s` of the table `sensors` as learnt so far (`prior`
/// before it has tracks, or for a sensor the table does not hold).
pub(super) fn detection_probability(sensors: &[SensorState], s: u32, prior: f64) -> f64 {
    sensors
        .get(s as usize)
        .map_or(prior, |x| x.detection_probability(prior))
}

/// What a tile needs besides itself to start, confirm and remove tracks within the limits.
pub(super) struct Books<'a> {
    pub limits: &'a TrackerLimits,
    pub sensors: &'a mut [SensorState],
    pub ledger: &'a mut Ledger,
}

impl Books<'_> {
    /// Whether sensor `s` may start one more track, as far as the tracker-wide and per-sensor
    /// limits go (the tile checks its own). Counts the refusal when not.
    pub fn may_start(&mut self, s: u32) -> bool {
        let Some(st) = self.sensors.get(s as usize) else {
            return false;
        };
        if st.flooding {
            self.ledger.flood_refused += 1;
            return false;
        }
        if st.tentative >= self.limits.tentative_per_sensor
            || self.ledger.tentative >= self.limits.tentative_total
        {
            self.ledger.tentative_shed += 1;
            return false;
        }
        true
    }

    /// Mean time between the scans of sensor `s`, seconds.
    pub fn period(&self, s: u32) -> f64 {
        self.sensors
            .get(s as usize)
            .map_or(1.0, |x| x.period().max(0.05))
    }

    /// The revisit period of the sensor of a scan `meas` where it spreads its scans over many
    /// timestamps (see [`SensorState::spread_look`]); `None` where each scan has one time.
    pub fn scan_sensor_look(&self, meas: &[Meas]) -> Option<f64> {
        self.sensors
            .get(meas.first()?.sensor as usize)?
            .spread_look()
    }

    /// Detection probability of sensor `s` as learnt so far (`prior` before it has tracks).
    pub fn detection_probability(&self, s: u32, prior: f64) -> f64 {
        detection_probability(self.sensors, s, prior)
    }

    /// Detection probability of the sensor of a scan `meas` (one scan is one sensor's), as
    /// learnt so far.
    pub fn scan_detection_probability(&self, meas: &[Meas], prior: f64) -> f64 {
        meas.first()
            .map_or(prior, |m| self.detection_probability(m.sensor, prior))
    }

    /// Sensor `s` detected its established tracks in `hits` scans and missed them in
    /// `misses`.
    pub fn count_track_scans(&mut self, s: u32, hits: f64, misses: f64) {
        if let Some(x) = self.sensors.get_mut(s as usize) {
            x.count_track_scans(hits, misses);
        }
    }

    /// Clutter density of sensor `s`.
    pub fn clutter_density(&self, s: u32) -> f64 {
        self.sensors
            .get(s as usize)
            .map_or(MIN_DENSITY, SensorState::clutter_density)
    }

    /// A tentative track of sensor `origin` started.
    pub fn started(&mut self, origin: u32) {
        self.ledger.tentative += 1;
        if let Some(s) = self.sensors.get_mut(origin as usize) {
            s.tentative += 1;
        }
    }

    /// A tentative track of sensor `origin` was confirmed.
    pub fn confirmed(&mut self, origin: u32) {
        self.tentative_gone(origin);
        self.ledger.confirmed += 1;
    }

    /// A track went (deleted, shed or merged); `tentative` says which kind it was.
    pub fn removed(&mut self, origin: u32, tentative: bool) {
        if tentative {
            self.tentative_gone(origin);
        } else {
            self.ledger.confirmed = self.ledger.confirmed.saturating_sub(1);
        }
    }

    fn tentative_gone(&mut self, origin: u32) {
        self.ledger.tentative = self.ledger.tentative.saturating_sub(1);
        if let Some(s) = self.sensors.get_mut(origin as usize) {
            s.tentative = s.tentative.saturating_sub(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sensor's scans of `n` clutter detections each, uniform over a `side` m square, with
    /// `sd` m errors, none explained by a track; its clutter density estimate after `scans`.
    fn clutter_estimate(side: f64, sd: f64, n: usize, scans: usize) -> f64 {
        let mut s = SensorState::new("x");
        // A fixed low-discrepancy fill of the square (no random generator needed).
        let mut k = 0u64;
        for scan in 0..scans {
            let meas: Vec<Meas> = (0..n)
                .map(|_| {
                    k += 1;
                    let u = (k as f64 * 0.754_877_666).fract();
                    let v = (k as f64 * 0.569_840_291).fract();
                    Meas {
                        xy: [u * side, v * side],
                        r: [sd * sd, 0.0, sd * sd],
                        t: scan as f64,
                        sensor: 0,
                        class: None,
                        heat: None,
                        ll: None,
                    }
                })
                .collect();
            s.observe_scan(scan as f64, meas.iter(), n, None);
        }
        s.clutter_density()
    }

    #[test]
    fn a_line_north_south_spans_no_width() {
        use crate::geo::LonLat;
        // Ten detections 1 km apart along the meridian 39° E from 36° N.
        let mut s = SensorState::new("x");
        let meas: Vec<Meas> = (0..10)
            .map(|k| Meas {
                xy: [0.0, 0.0],
                r: [25.0, 0.0, 25.0],
                t: 0.0,
                sensor: 0,
                class: None,
                heat: None,
                ll: Some(LonLat {
                    lon: 39.0,
                    lat: 36.0 + f64::from(k) * 1000.0 / 110_574.0,
                }),
            })
            .collect();
        s.observe_scan(0.0, meas.iter(), 0, None);
        let b = s.bbox.expect("a box");
        assert!(b[2] - b[0] < 1.0, "width {} m", b[2] - b[0]);
        assert!(
            (b[3] - b[1] - 9000.0).abs() < 1.0,
            "height {} m",
            b[3] - b[1]
        );
    }

    #[test]
    fn clutter_density_follows_the_sensors_scale() {
        // Stone Soup's tutorials: 3 clutter detections a scan over a 60 m square, σ 0.87 m.
        let truth = 3.0 / 3600.0;
        let small = clutter_estimate(60.0, 0.87, 3, 30);
        assert!(
            small > truth / 2.0 && small < truth * 2.0,
            "{small:e} against {truth:e}"
        );
        // The same scene in units 30 times larger: the same density per squared unit.
        let large = clutter_estimate(1800.0, 26.0, 3, 30) * 900.0;
        assert!(
            (large / small - 1.0).abs() < 0.5,
            "{large:e} against {small:e}"
        );
        // A coarse sensor with few detections so far keeps the 1 km² floor.
        let coarse = clutter_estimate(100.0, 30.0, 2, 3);
        assert!(
            coarse <= 2.0 / (MIN_SIDE_M * MIN_SIDE_M) * 1.0001,
            "{coarse:e}"
        );
    }

    #[test]
    fn a_sensor_floods_above_its_rate_and_recovers_below_half() {
        let lim = TrackerLimits {
            sensor_max_rate_hz: 100.0,
            rate_window_s: 10.0,
            ..TrackerLimits::default()
        };
        let mut s = SensorState::new("x");
        // 50 per second for a minute: fine.
        for k in 0..3000 {
            s.count(k as f64 / 50.0, &lim);
        }
        assert!(!s.flooding);
        // 1000 per second: flooding within the first seconds.
        let mut started = None;
        for k in 0..10_000 {
            let t = 60.0 + k as f64 / 1000.0;
            if s.count(t, &lim) {
                started = Some(t);
            }
        }
        assert!(started.is_some_and(|t| t < 62.0), "{started:?}");
        // Old timestamps do not lower the rate.
        for _ in 0..1000 {
            s.count(0.0, &lim);
        }
        assert!(s.flooding);
        // Quiet again: one per second for a minute.
        for k in 0..60 {
            s.count(80.0 + k as f64, &lim);
        }
        assert!(!s.flooding, "rate {}", s.rate_hz(&lim));
    }
}
