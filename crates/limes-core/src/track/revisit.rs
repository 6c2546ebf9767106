//! How often a sensor looks at the same place again — its revisit period —, learnt from where
//! its detections fall rather than from how often its timestamps change.
//!
//! A sensor that stamps a whole scan with one time revisits a place as often as its
//! timestamps change. One that stamps each detection (or each sector) with the instant its
//! beam passed — a rotating radar — changes its timestamps many times a revolution but looks
//! at one place once per revolution, and a track missed by it has missed one scan per
//! revolution, not one per timestamp. The tracker keeps, in one table of fixed size for all
//! sensors, the last time each sensor had a detection in each 400 m cell; the time until its
//! next detection there is a sample of its revisit period (one per cell and pass: detections
//! of one cell within half a period, and half a second, of the pass's first are the same
//! pass). The period is the shortest interval that is common among the samples (a missed scan
//! doubles one, clutter spreads them out).

use std::hash::{Hash, Hasher};

use rustc_hash::FxHasher;

/// Side of a cell, metres: larger than a vehicle moves between two looks of most sensors (25
/// m/s for 5 s is 125 m; with 100 m cells such a sensor's period read 33 s instead of 5 s),
/// so a moving object is usually seen in the same cell on the next look; and an object or
/// clutter point in the cell at the next look tells the same.
const CELL_M: f64 = 400.0;
/// The table holds 2^14 cells (384 KiB; 2,600 km² of one sensor's cells) for all sensors; a
/// cell of another sensor or place that hashes to the same slot replaces it.
const SLOTS_LOG2: u32 = 14;
/// Histogram bins per doubling of the interval (each about 19 % wide).
const BINS_PER_OCTAVE: f64 = 4.0;
/// Shortest interval counted, as a power of two of seconds (2^-8 s, about 4 ms).
const SHORTEST_LOG2: f64 = -8.0;
/// Bins from the shortest interval up, 20 doublings (the last ends at 2^11.875 s, 62 min).
const BINS: usize = 80;
/// Samples a sensor needs before its revisit period is trusted (with fewer, clutter coming
/// back to a cell can outnumber the objects doing so).
const MIN_SAMPLES: f32 = 50.0;
/// When the samples counted pass this, every count is halved: recent ones weigh more, and a
/// sensor that changes its period is followed within a few hundred samples.
const HALVE_AT: f32 = 512.0;
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
    /// holds at least half as many samples as the fullest window or a tenth of them all.
    /// Clutter falling in a cell now and then spreads many samples over long intervals, which
    /// can fill a wide window more than the period fills its own; nothing comes back to a
    /// place sooner than the sensor looks at it again.
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
            .find(|w| w[0] > 0.0 && w[0] >= (0.5 * fullest).min(0.1 * total))
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
            // One sample per pass of the cell, a pass lasting less than half a period and
            // less than half a second: were it as long as half a learnt period, a period read
            // too long would skip the shorter intervals and read itself longer still.
            let pass = rev.period().unwrap_or(ASSUMED_S).min(ASSUMED_S);
            if t - slot.pass >= 0.5 * pass {
                rev.add(t - slot.last);
                slot.pass = t;
            }
            slot.last = t;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scans_of_one_time_give_their_period_even_when_twice_it_is_more_common() {
        let (mut cells, mut rev) = (Cells::default(), Revisit::default());
        for k in 0..300 {
            for i in 0..30 {
                // Each place seen in scans 0, 1 and 3 of every 5: intervals of one scan a
                // third of the time, of two scans two thirds (the most common, not the period).
                if [0, 1, 3].contains(&((k + i) % 5)) {
                    let p = [1000.0 * i as f64, 40.0];
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
    fn times_and_places_that_are_not_numbers_teach_nothing() {
        let (mut cells, mut rev) = (Cells::default(), Revisit::default());
        for k in 0..100 {
            let t = if k % 2 == 0 { f64::NAN } else { f64::INFINITY };
            cells.observe(1, t, [f64::NAN, f64::INFINITY], &mut rev);
            cells.observe(1, k as f64, [f64::NAN, f64::NEG_INFINITY], &mut rev);
            cells.observe(1, k as f64, [1e300, -1e300], &mut rev);
        }
        // Every finite time in the same (saturated) cells once a second: a period of 1 s, and
        // nothing else.
        assert_eq!(rev.period().map(|p| (p * 1e3).round()), Some(1e3));
    }
}
