//! The alert book: one alert per incident, revised as it evolves, rate-limited, closed when stale.

use std::collections::{BTreeMap, BTreeSet};

use crate::geo::{dist, Xy};
use crate::record::{AlertKind, AlertRecord, AlertState, Ddr, ObjectClass, Severity, Time};
use crate::track::Partition;

/// A live alert and what the rules know about it.
#[derive(Clone, Debug)]
pub struct Alert {
    /// The record as last published.
    pub rec: AlertRecord,
    /// Partition of `xy`.
    pub part: Partition,
    /// Latest position in the partition frame.
    pub xy: Xy,
    /// Contributing tracks.
    pub tracks: BTreeSet<u64>,
    /// Contributing sensors.
    pub sensors: BTreeSet<String>,
    /// Last time any evidence touched it.
    pub touched: f64,
    /// Largest head count a human observer reported for it.
    pub observed: u32,
    /// Latest position of each contributing track or sensor (`t:<id>` / `s:<id>`).
    members: BTreeMap<String, (Partition, Xy)>,
    /// Position at the last published revision.
    published_xy: Xy,
    /// Time of the last published revision.
    published_t: f64,
    /// Count at the last published revision.
    published_count: u32,
    /// Kind, severity or state changed: publish now.
    major: bool,
    /// Something an operator may want to see changed (new track, interruptibility).
    minor: bool,
    /// Whether it may reach the operators yet.
    pub hold: Hold,
}

/// Whether an alert may reach the operators.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Hold {
    /// Published as it changes.
    Released,
    /// Being assessed until this time: nothing is published yet.
    Until(f64),
    /// Assessed as harmless: kept so that evidence keeps joining it, published only if it is
    /// released (it escalates).
    Suppressed,
}

/// How often an alert is revised.
#[derive(Clone, Copy, Debug)]
pub struct Cadence {
    /// A move of the incident's centre by this much is worth a revision, metres.
    pub move_m: f64,
    /// Publish at least this often while evidence keeps coming, seconds.
    pub every_s: f64,
    /// Never publish minor changes more often than this, seconds.
    pub min_gap_s: f64,
}

/// All alerts of a run.
pub struct AlertBook {
    alerts: Vec<Alert>,
    next_id: u64,
    cadence: Cadence,
}

/// What a rule wants to say about an incident.
pub struct Evidence<'a> {
    /// Kind of evidence (the alert's kind escalates to the highest).
    pub kind: AlertKind,
    /// Severity it warrants.
    pub severity: Severity,
    /// Time.
    pub time: f64,
    /// Partition and position.
    pub part: Partition,
    /// Position in the partition frame.
    pub xy: Xy,
    /// Track behind it.
    pub track: Option<u64>,
    /// Sensor behind it.
    pub sensor: Option<&'a str>,
    /// Class, if known.
    pub class: Option<ObjectClass>,
    /// Facility, if any.
    pub facility: Option<&'a str>,
    /// Sector, if any.
    pub sector: Option<String>,
}

/// Escalation order within one incident family.
fn rank(k: AlertKind) -> u8 {
    match k {
        AlertKind::Approach => 1,
        AlertKind::FenceCut => 2,
        AlertKind::Infiltration => 3,
        AlertKind::PerimeterBreach => 1,
        AlertKind::MassBreakout => 2,
        AlertKind::SensorOffline => 1,
    }
}

/// Incident families: evidence of one family can join one alert.
fn family(k: AlertKind) -> u8 {
    match k {
        AlertKind::Approach | AlertKind::FenceCut | AlertKind::Infiltration => 0,
        AlertKind::PerimeterBreach | AlertKind::MassBreakout => 1,
        AlertKind::SensorOffline => 2,
    }
}

impl AlertBook {
    /// An empty book revising alerts at `cadence`.
    pub fn new(cadence: Cadence) -> Self {
        Self {
            alerts: Vec::new(),
            next_id: 0,
            cadence,
        }
    }

    /// Open alerts.
    pub fn open(&self) -> impl Iterator<Item = &Alert> {
        self.alerts
            .iter()
            .filter(|a| a.rec.state == AlertState::Open)
    }

    /// Finds the open alert this evidence belongs to: same family, and the same facility, or
    /// (without one) the same partition within `merge_m` metres and `merge_s` seconds.
    pub fn find(&self, e: &Evidence, merge_m: f64, merge_s: f64) -> Option<usize> {
        self.alerts.iter().position(|a| {
            a.rec.state == AlertState::Open
                && family(a.rec.kind) == family(e.kind)
                && match e.facility {
                    Some(f) => a.rec.facility.as_deref() == Some(f),
                    None => {
                        a.part == e.part
                            && dist(a.xy, e.xy) <= merge_m
                            && e.time - a.touched <= merge_s
                    }
                }
        })
    }

    /// Access by index.
    pub fn get_mut(&mut self, i: usize) -> &mut Alert {
        &mut self.alerts[i]
    }

    /// Adds evidence to alert `i` (or a new alert when `None`); returns the alert's index.
    pub fn add(
        &mut self,
        i: Option<usize>,
        e: &Evidence,
        summary: impl FnOnce() -> String,
    ) -> usize {
        let i = match i {
            Some(i) => i,
            None => {
                self.next_id += 1;
                let pos = e.part.position(e.xy);
                self.alerts.push(Alert {
                    rec: AlertRecord {
                        id: self.next_id,
                        rev: 0,
                        kind: e.kind,
                        severity: e.severity,
                        state: AlertState::Open,
                        time: Time(e.time),
                        raised: Time(e.time),
                        pos,
                        count: 0,
                        class: e.class,
                        sector: e.sector.clone(),
                        facility: e.facility.map(str::to_string),
                        sensors: vec![],
                        tracks: vec![],
                        ddr: None,
                        summary: String::new(),
                        assessment: None,
                    },
                    part: e.part,
                    xy: e.xy,
                    tracks: BTreeSet::new(),
                    sensors: BTreeSet::new(),
                    observed: 0,
                    touched: e.time,
                    members: BTreeMap::new(),
                    published_xy: [f64::INFINITY, f64::INFINITY],
                    published_t: e.time,
                    published_count: 0,
                    major: true,
                    minor: false,
                    hold: Hold::Released,
                });
                self.alerts.len() - 1
            }
        };
        let a = &mut self.alerts[i];
        if rank(e.kind) > rank(a.rec.kind) {
            a.rec.kind = e.kind;
            a.major = true;
        }
        if e.severity > a.rec.severity {
            a.rec.severity = e.severity;
            a.major = true;
        }
        if let Some(t) = e.track {
            a.minor |= a.tracks.insert(t);
        }
        if let Some(s) = e.sensor {
            if !a.sensors.contains(s) {
                a.sensors.insert(s.to_string());
            }
        }
        if e.class.is_some() && a.rec.class != e.class && e.kind == a.rec.kind {
            a.rec.class = e.class;
        }
        if a.rec.sector.is_none() {
            a.rec.sector = e.sector.clone();
        }
        let key = match (e.track, e.sensor) {
            (Some(t), _) => format!("t:{t}"),
            (None, Some(s)) => format!("s:{s}"),
            (None, None) => "-".to_string(),
        };
        a.members.insert(key, (e.part, e.xy));
        // The incident is where its members are: their centre, in the newest evidence's frame.
        let (n, sx, sy) = a
            .members
            .values()
            .filter(|m| m.0 == e.part)
            .fold((0.0, 0.0, 0.0), |acc, m| {
                (acc.0 + 1.0, acc.1 + m.1[0], acc.2 + m.1[1])
            });
        a.part = e.part;
        a.xy = [sx / n, sy / n];
        a.touched = a.touched.max(e.time);
        a.rec.time = Time(a.touched);
        a.rec.summary = summary();
        i
    }

    /// Publishes a revision when it matters: at once for a new alert, a change of kind,
    /// severity or state, or a count change of 10 % (at least one); for a new track, a change of
    /// interruptibility or a move of the centre by `move_m`, at most every `min_gap_s`; and at
    /// least every `every_s` while evidence keeps coming.
    pub fn publish(&mut self, i: usize, out: &mut Vec<AlertRecord>) {
        let c = self.cadence;
        let a = &mut self.alerts[i];
        if a.hold != Hold::Released {
            return;
        }
        let since = a.touched - a.published_t;
        let dc = a.rec.count.abs_diff(a.published_count);
        let count_major =
            dc >= 1 && (dc as f64 >= 0.1 * a.published_count as f64 || a.published_count < 10);
        let minor = a.minor || dist(a.published_xy, a.xy) > c.move_m || dc > 0;
        if a.rec.rev == 0
            || a.major
            || count_major
            || (minor && since >= c.min_gap_s)
            || since >= c.every_s
        {
            emit(a, out);
        }
    }

    /// Holds a new (never published) alert for assessment until `until`.
    pub fn hold(&mut self, i: usize, until: f64) {
        let a = &mut self.alerts[i];
        if a.rec.rev == 0 {
            a.hold = Hold::Until(until);
        }
    }

    /// Keeps a held alert from the operators (it was assessed as harmless).
    pub fn suppress(&mut self, i: usize) {
        let a = &mut self.alerts[i];
        if a.hold != Hold::Released {
            a.hold = Hold::Suppressed;
        }
    }

    /// Lets a held or suppressed alert reach the operators now.
    pub fn release(&mut self, i: usize, out: &mut Vec<AlertRecord>) {
        let a = &mut self.alerts[i];
        if a.hold != Hold::Released {
            a.hold = Hold::Released;
            if a.rec.state == AlertState::Open {
                emit(a, out);
            }
        }
    }

    /// Alerts whose assessment hold ended by `now`.
    pub fn due(&self, now: f64) -> Vec<usize> {
        (0..self.alerts.len())
            .filter(|&i| {
                matches!(self.alerts[i].hold, Hold::Until(t) if t <= now)
                    && self.alerts[i].rec.state == AlertState::Open
            })
            .collect()
    }

    /// Sets the count (published by the next [`AlertBook::publish`] that finds it worth it).
    pub fn set_count(&mut self, i: usize, count: u32) {
        self.alerts[i].rec.count = count;
    }

    /// Sets detect–delay–respond figures (published with the next revision).
    pub fn set_ddr(&mut self, i: usize, ddr: Ddr) {
        let a = &mut self.alerts[i];
        if let Some(old) = &a.rec.ddr {
            if old.interruptible != ddr.interruptible {
                a.minor = true;
            }
        }
        a.rec.ddr = Some(ddr);
    }

    /// Closes alerts (other than sensor-offline ones) untouched for `after_s`.
    pub fn close_stale(&mut self, now: f64, after_s: f64, out: &mut Vec<AlertRecord>) {
        for a in &mut self.alerts {
            if a.rec.state == AlertState::Open
                && now - a.touched > after_s
                && a.rec.kind != AlertKind::SensorOffline
            {
                a.rec.state = AlertState::Closed;
                a.rec.time = Time(now);
                if a.rec.rev > 0 {
                    emit(a, out);
                }
            }
        }
    }

    /// Closes alert `i` now.
    pub fn close(&mut self, i: usize, now: f64, summary: String, out: &mut Vec<AlertRecord>) {
        let a = &mut self.alerts[i];
        if a.rec.state == AlertState::Open {
            a.rec.state = AlertState::Closed;
            a.rec.time = Time(now);
            a.rec.summary = summary;
            if a.rec.rev > 0 {
                emit(a, out);
            }
        }
    }

    /// Every alert, open or closed.
    pub fn all(&self) -> &[Alert] {
        &self.alerts
    }
}

fn emit(a: &mut Alert, out: &mut Vec<AlertRecord>) {
    a.rec.rev += 1;
    a.rec.tracks = a.tracks.iter().copied().collect();
    a.rec.sensors = a.sensors.iter().cloned().collect();
    a.rec.pos = a.part.position(a.xy);
    a.published_xy = a.xy;
    a.published_t = a.touched;
    a.published_count = a.rec.count;
    a.major = false;
    a.minor = false;
    out.push(a.rec.clone());
}
