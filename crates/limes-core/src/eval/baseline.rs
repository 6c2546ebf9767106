//! The single-sensor baseline: what the same sensors raise without fusion or assessment.
//!
//! Every camera detection within [`NEAR_LINE_M`] of the frontier (either side, any class,
//! clutter included) and every fence alarm (cut, climb or vibration) is an alert. Evidence
//! within the site's `merge_m` and `merge_s` of an open baseline alert of the same book joins it,
//! as in Limes' own alert book, so both are counted one alert per incident; an alert untouched
//! for `close_after_s` closes. Three books: cameras only, fences only, and both.

use std::collections::HashSet;

use crate::geo::{dist, LonLat, Xy};
use crate::record::{AlertKind, AlertRecord, AlertState, Position, SensorRecord, Severity, Time};
use crate::rules::geometry::GeoCache;
use crate::site::{SensorKind, Site};
use crate::track::Partition;

/// A camera detection this close to the frontier (metres, either side) is a baseline alert.
pub const NEAR_LINE_M: f64 = 500.0;

struct Open {
    idx: usize,
    part: Partition,
    xy: Xy,
    touched: f64,
    published: f64,
}

/// One book of baseline alerts.
struct Book {
    name: &'static str,
    open: Vec<Open>,
    out: Vec<AlertRecord>,
    next_id: u64,
}

impl Book {
    fn new(name: &'static str) -> Self {
        Self {
            name,
            open: Vec::new(),
            out: Vec::new(),
            next_id: 0,
        }
    }

    fn evidence(&mut self, part: Partition, xy: Xy, t: f64, sensor: &str, merge: (f64, f64)) {
        let hit = self
            .open
            .iter_mut()
            .find(|o| o.part == part && dist(o.xy, xy) <= merge.0 && t - o.touched <= merge.1);
        match hit {
            Some(o) => {
                o.touched = o.touched.max(t);
                o.xy = xy;
                // A revision every five minutes while evidence keeps coming.
                if t - o.published >= 300.0 {
                    o.published = t;
                    let mut r = self.out[o.idx].clone();
                    r.rev += 1;
                    r.time = Time(t);
                    r.pos = part.position(xy);
                    self.out.push(r);
                    o.idx = self.out.len() - 1;
                }
            }
            None => {
                self.next_id += 1;
                self.out.push(AlertRecord {
                    id: self.next_id,
                    rev: 1,
                    kind: AlertKind::Infiltration,
                    severity: Severity::High,
                    state: AlertState::Open,
                    time: Time(t),
                    raised: Time(t),
                    pos: part.position(xy),
                    count: 1,
                    class: None,
                    sector: None,
                    facility: None,
                    sensors: vec![sensor.to_string()],
                    tracks: vec![],
                    ddr: None,
                    summary: format!("baseline ({}): {sensor}", self.name),
                    assessment: None,
                });
                self.open.push(Open {
                    idx: self.out.len() - 1,
                    part,
                    xy,
                    touched: t,
                    published: t,
                });
            }
        }
    }

    fn close_stale(&mut self, now: f64, after: f64) {
        let out = &mut self.out;
        self.open.retain(|o| {
            if now - o.touched <= after {
                return true;
            }
            let mut r = out[o.idx].clone();
            r.rev += 1;
            r.state = AlertState::Closed;
            r.time = Time(now);
            out.push(r);
            false
        });
    }
}

/// The three baseline books fed with the night's sensor records.
pub struct Baseline {
    site: Site,
    geo: GeoCache,
    cameras: HashSet<String>,
    books: [Book; 3],
    last_tick: f64,
}

impl Baseline {
    /// A baseline for `site` (its frontier and its `merge_m`, `merge_s`, `close_after_s`).
    pub fn new(site: &Site) -> Self {
        Self {
            cameras: site
                .sensors
                .iter()
                .filter(|s| matches!(s.kind, SensorKind::Camera(_)))
                .map(|s| s.id.clone())
                .collect(),
            site: site.clone(),
            geo: GeoCache::new(),
            books: [
                Book::new("camera only"),
                Book::new("fence only"),
                Book::new("camera or fence"),
            ],
            last_tick: f64::NEG_INFINITY,
        }
    }

    /// Feeds one sensor record.
    pub fn on_record(&mut self, rec: &SensorRecord) {
        let merge = (self.site.rules.merge_m, self.site.rules.merge_s);
        let t = rec.time().0;
        if t - self.last_tick >= 10.0 {
            self.last_tick = t;
            for b in &mut self.books {
                b.close_stale(t, self.site.rules.close_after_s);
            }
        }
        match rec {
            SensorRecord::Detection(d) if self.cameras.contains(&d.sensor) => {
                let Position::LonLat { lon, lat } = d.pos else {
                    return;
                };
                let p = LonLat::new(lon, lat);
                if !p.is_valid() {
                    return;
                }
                let (part, xy) = Partition::locate(p);
                let near = self
                    .geo
                    .get(part, &self.site)
                    .frontier
                    .as_ref()
                    .and_then(|l| l.nearest(xy))
                    .is_some_and(|n| n.distance <= NEAR_LINE_M);
                if near {
                    self.books[0].evidence(part, xy, t, &d.sensor, merge);
                    self.books[2].evidence(part, xy, t, &d.sensor, merge);
                }
            }
            SensorRecord::Fence(f) => {
                let mid = LonLat::new(
                    (f.line[0][0] + f.line[1][0]) / 2.0,
                    (f.line[0][1] + f.line[1][1]) / 2.0,
                );
                if !mid.is_valid() {
                    return;
                }
                let (part, xy) = Partition::locate(mid);
                self.books[1].evidence(part, xy, t, &f.sensor, merge);
                self.books[2].evidence(part, xy, t, &f.sensor, merge);
            }
            _ => {}
        }
    }

    /// Closes what is still open at `t`; every book's alert revisions, by name.
    pub fn finish(mut self, t: f64) -> Vec<(&'static str, Vec<AlertRecord>)> {
        for b in &mut self.books {
            b.close_stale(
                t + self.site.rules.close_after_s + 1.0,
                self.site.rules.close_after_s,
            );
        }
        self.books.into_iter().map(|b| (b.name, b.out)).collect()
    }
}
