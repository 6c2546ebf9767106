//! How often a sensor looks at the same place again — its revisit period —, learnt from where
//! its detections fall rather than from how often its timestamps change.
//!
//! A sensor that stamps a whole scan with one time revisits a place as often as its
//! timestamps change. One that stamps each detection (or each sector) with the instant its
//! beam passed — a rotating radar — changes its timestamps many times a revolution but looks
//! at one place once per revolution, and a track missed by it has missed one scan per
//! revolution, not one per timestamp. The tracker keeps, in one table of fixed size for all
//! sensors, the last time each sensor had a detection in each 100 m cell; the time until its
//! next detection there is a sample of its revisit period (one per cell and pass: detections
//! of one cell within half a period of the pass's first are the same pass). The period is the
//! shortest interval that is common among the samples (a missed scan doubles one, clutter
//! spreads them out).

use std::hash::{Hash, Hasher};

use rustc_hash::FxHasher;

/// Side of a cell, metres: larger than a walker moves in a revolution of most sensors.
const CELL_M: f64 = 100.0;
/// The table holds 2^14 cells (384 KiB, 164 km² of one sensor's cells) for all sensors; a
/// cell of another sensor or place that hashes to the same slot replaces it.
const SLOTS_LOG2: u32 = 14;
/// Histogram bins per doubling of the interval (each about 19 % wide).
const BINS_PER_OCTAVE: f64 = 4.0;
/// Shortest interval counted, as a power of two of seconds (2^-8 s, about 4 ms).
const SHORTEST_LOG2: f64 = -8.0;
/// Bins from the shortest interval up, 20 doublings (to about 68 minutes).
const BINS: usize = 80;
/// Samples a sensor needs before its revisit period is trusted.
const MIN_SAMPLES: f32 = 20.0;
/// When the samples counted pass this, every count is halved (recent ones weigh more).
const HALVE_AT: f32 = 4096.0;
/// The period is worked out again after this many new samples.
const REFRESH_EVERY: u32 = 16;
/// Period assumed until one is learnt, seconds: it sets what counts as one pass of a cell,
/// and a sensor whose timestamps change faster is taken to look at a place no more often
/// until its samples tell (a rotating sensor's timestamps change every few milliseconds).
pub(super) const ASSUMED_S: f64 = 1.0;

/// One sensor's revisit intervals: a histogram over log time, kept only once it has any.
#[derive(Clone, Debug, Default)]
pub(super) struct Revisit {
    /// Per bin, the decayed count of samples and the sum of their intervals.
    bins: Option<Box<[[f32; 2]; BINS]>>,
    fresh: u32,
    period: Option<f64>,
}

impl Revisit {
    /// The learnt revisit period, seconds, once there are enough samples.
    pub fn period(&self) -> Option<f64> {
        self.period
    }

    fn add(&mut self, gap: f64) {
        let b = ((gap.log2() - SHORTEST_LOG2) * BINS_PER_OCTAVE + 0.5).floor();
        if !(0.0..BINS as f64).contains(&b) {
            return;
        }
        let bins = self.bins.get_or_insert_with(|| Box::new([[0.0; 2]; BINS]));
        let bin = &mut bins[b as usize];
        bin[0] += 1.0;
        bin[1] += gap as f32;
        self.fresh += 1;
        if self.fresh >= REFRESH_EVERY {
            self.fresh = 0;
            self.refresh();
        }
    }

    /// Works the period out again: the mean interval of the shortest three-bin window that
    /// holds at least half as many samples as the fullest window.
    fn refresh(&mut self) {
        let Some(bins) = self.bins.as_deref_mut() else {
            return;
        };
        let total: f32 = bins.iter().map(|b| b[0]).sum();
        if total > HALVE_AT {
            for b in bins.iter_mut() {
                b[0] *= 0.5;
                b[1] *= 0.5;
            }
        }
        if total < MIN_SAMPLES {
            return;
        }
        let window = |i: usize| {
            bins[i.saturating_sub(1)..(i + 2).min(BINS)]
                .iter()
                .fold([0.0f32; 2], |a, b| [a[0] + b[0], a[1] + b[1]])
        };
        let fullest = (0..BINS).map(|i| window(i)[0]).fold(0.0f32, f32::max);
        if let Some(w) = (0..BINS)
            .map(window)
            .find(|w| w[0] > 0.0 && w[0] >= 0.5 * fullest)
        {
            self.period = Some(f64::from(w[1] / w[0]));
        }
    }
}

#[derive(Clone, Copy, Default)]
struct Slot {
    /// Hash of sensor and cell, never 0 (0 is an empty slot).
    tag: u64,
    /// The sensor's latest detection in the cell, and the first of its latest pass.
    last: f64,
    pass: f64,
}

/// The last time each sensor had a detection in each cell, for all sensors in a table of
/// fixed size (allocated at the first detection).
#[derive(Default)]
pub(super) struct Cells {
    slots: Vec<Slot>,
}

impl Cells {
    /// Notes a detection of `sensor` at `t` at `p` (metres in any flat frame), adding the
    /// interval since its previous pass of the cell to `rev` when this one starts a new pass.
    pub fn observe(&mut self, sensor: u32, t: f64, p: [f64; 2], rev: &mut Revisit) {
        if self.slots.is_empty() {
            self.slots = vec![Slot::default(); 1 << SLOTS_LOG2];
        }
        let mut h = FxHasher::default();
        (
            sensor,
            (p[0] / CELL_M).floor() as i64,
            (p[1] / CELL_M).floor() as i64,
        )
            .hash(&mut h);
        let hash = h.finish();
        let tag = hash | 1;
        let slot = &mut self.slots[(hash >> (64 - SLOTS_LOG2)) as usize];
        if slot.tag != tag {
            *slot = Slot {
                tag,
                last: t,
                pass: t,
            };
            return;
        }
        if t > slot.last {
            if t - slot.pass >= 0.5 * rev.period().unwrap_or(ASSUMED_S) {
                rev.add(t - slot.last);
                slot.pass = t;
            }
            slot.last = t;
        }
    }

    /// Slots in the table (fixed once allocated).
    #[cfg(test)]
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scans_of_one_time_give_their_period_and_misses_do_not_lengthen_it() {
        let (mut cells, mut rev) = (Cells::default(), Revisit::default());
        for k in 0..200 {
            for i in 0..30 {
                // Each place seen in 7 scans of 10: intervals of 1, 2 and 3 scans.
                if (k + i) % 10 < 7 {
                    let p = [250.0 * i as f64, 40.0];
                    cells.observe(0, 2.5 * k as f64, p, &mut rev);
                }
            }
        }
        let p = rev.period().expect("learnt");
        assert!((p - 2.5).abs() < 1e-3, "period {p}");
    }

    #[test]
    fn a_crowd_in_one_cell_within_a_revolution_is_one_pass() {
        let (mut cells, mut rev) = (Cells::default(), Revisit::default());
        for k in 0..100 {
            // 40 detections of one cell spread over 0.3 s of each 4 s revolution.
            for i in 0..40 {
                let t = 4.0 * k as f64 + 0.3 * i as f64 / 40.0;
                cells.observe(3, t, [10.0 + i as f64, 20.0], &mut rev);
            }
        }
        let p = rev.period().expect("learnt");
        assert!((p - 4.0).abs() < 0.4, "period {p}");
    }

    #[test]
    fn the_table_stays_its_size_whatever_the_sensors_and_places() {
        let (mut cells, mut rev) = (Cells::default(), Revisit::default());
        for i in 0..1_000_000u32 {
            let p = [f64::from(i) * 150.0, f64::from(i % 977) * 150.0];
            cells.observe(i % 5000, f64::from(i) * 1e-3, p, &mut rev);
        }
        cells.observe(1, f64::NAN, [f64::NAN, f64::INFINITY], &mut rev);
        assert_eq!(cells.capacity(), 1 << SLOTS_LOG2);
    }
}
