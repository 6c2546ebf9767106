//! The reorder buffer: holds detections for a window so late ones are processed in time order.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::{Meas, Partition};

struct Pending {
    key: (i64, u32, u64),
    part: Partition,
    meas: Meas,
}

impl PartialEq for Pending {
    fn eq(&self, o: &Self) -> bool {
        self.key == o.key
    }
}
impl Eq for Pending {}
impl PartialOrd for Pending {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Pending {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        self.key.cmp(&o.key)
    }
}

/// One sensor's detections at one time, grouped by partition.
pub(super) type Scan = Vec<(Partition, Vec<Meas>)>;

/// Orders detections by (time in ms, sensor, arrival) and releases whole scans.
pub(super) struct ReorderBuffer {
    window: f64,
    heap: BinaryHeap<Reverse<Pending>>,
    newest: f64,
    released: f64,
    seq: u64,
}

impl ReorderBuffer {
    pub fn new(window: f64) -> Self {
        Self {
            window,
            heap: BinaryHeap::new(),
            newest: f64::NEG_INFINITY,
            released: f64::NEG_INFINITY,
            seq: 0,
        }
    }

    /// The time up to which detections may be released once `t` has been seen.
    pub fn watermark(&mut self, t: f64) -> f64 {
        if t > self.newest {
            self.newest = t;
        }
        self.newest - self.window
    }

    /// Queues a detection; false when it is older than what was already released.
    pub fn push(&mut self, part: Partition, meas: Meas) -> bool {
        if meas.t < self.released {
            return false;
        }
        self.seq += 1;
        let key = ((meas.t * 1000.0).round() as i64, meas.sensor, self.seq);
        self.heap.push(Reverse(Pending { key, part, meas }));
        true
    }

    /// Detections held.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// Time of the oldest detection held.
    pub fn oldest(&self) -> Option<f64> {
        self.heap.peek().map(|p| p.0.meas.t)
    }

    /// Pops the oldest scan (same time and sensor, at most `max` detections; the rest stay for
    /// the next call) if it is at or before `upto`, grouped by partition.
    pub fn pop_scan(&mut self, upto: f64, max: usize) -> Option<(f64, Scan)> {
        let first = self.heap.peek()?;
        if first.0.meas.t > upto {
            return None;
        }
        let (ms, sensor) = (first.0.key.0, first.0.key.1);
        let t = first.0.meas.t;
        let mut groups: Vec<(Partition, Vec<Meas>)> = Vec::new();
        let mut n = 0;
        while let Some(p) = self.heap.peek() {
            if p.0.key.0 != ms || p.0.key.1 != sensor || n >= max.max(1) {
                break;
            }
            n += 1;
            let Some(Reverse(p)) = self.heap.pop() else {
                break;
            };
            match groups.iter_mut().find(|g| g.0 == p.part) {
                Some(g) => g.1.push(p.meas),
                None => groups.push((p.part, vec![p.meas])),
            }
        }
        self.released = self.released.max(t);
        Some((t, groups))
    }
}
