//! Sensor health from heartbeats: one offline alert per area and time, closed on recovery.

use std::collections::HashMap;

use super::book::Evidence;
use super::Rules;
use crate::geo::LonLat;
use crate::record::{AlertKind, AlertRecord, AlertState, Severity};
use crate::site::Site;
use crate::track::Partition;

struct SensorHealth {
    pos: LonLat,
    period: f64,
    last: Option<f64>,
    /// First heartbeat of the current unbroken run of heartbeats.
    since: f64,
    alert: Option<usize>,
}

pub(super) struct Health {
    sensors: HashMap<String, SensorHealth>,
    start: Option<f64>,
}

impl Health {
    pub fn new(site: &Site) -> Self {
        Self {
            sensors: site
                .sensors
                .iter()
                .map(|s| {
                    (
                        s.id.clone(),
                        SensorHealth {
                            pos: s.pos,
                            period: s.heartbeat_s,
                            last: None,
                            since: f64::INFINITY,
                            alert: None,
                        },
                    )
                })
                .collect(),
            start: None,
        }
    }

    /// Records a heartbeat; false when the sensor is unknown to the site.
    pub fn beat(&mut self, sensor: &str, t: f64) -> bool {
        self.start.get_or_insert(t);
        match self.sensors.get_mut(sensor) {
            Some(s) => {
                if s.last.is_none_or(|l| t - l > 1.5 * s.period) {
                    s.since = t;
                }
                s.last = Some(s.last.map_or(t, |l| l.max(t)));
                true
            }
            None => false,
        }
    }

    /// Seconds of `[from, to]` the sensor is known to have worked at `now`: from the first
    /// heartbeat of its current run to one period after its last; a sensor that is working now
    /// is assumed to go on working to `to`.
    pub fn working_s(&self, sensor: &str, from: f64, to: f64, now: f64) -> f64 {
        let Some(s) = self.sensors.get(sensor) else {
            return 0.0;
        };
        let Some(last) = s.last else { return 0.0 };
        let mut until = last + s.period;
        if now - last <= 1.5 * s.period {
            until = until.max(to);
        }
        (until.min(to) - from.max(s.since)).max(0.0)
    }
}

impl Rules {
    pub(super) fn check_health(&mut self, now: f64, out: &mut Vec<AlertRecord>) {
        let Some(start) = self.health.start else {
            return;
        };
        let missed = self.cfg.offline_missed_heartbeats;
        let mut went_down = Vec::new();
        let mut came_back = Vec::new();
        let mut ids: Vec<&String> = self.health.sensors.keys().collect();
        ids.sort();
        for id in ids {
            let s = &self.health.sensors[id];
            let last = s.last.unwrap_or(start);
            let down = now - last > missed * s.period;
            match (down, s.alert) {
                (true, None) => went_down.push((id.clone(), last)),
                (false, Some(a)) => came_back.push((id.clone(), a)),
                _ => {}
            }
        }
        for (id, last) in went_down {
            let pos = self.health.sensors[&id].pos;
            let (part, xy) = Partition::locate(pos);
            let e = Evidence {
                kind: AlertKind::SensorOffline,
                severity: Severity::Medium,
                time: now,
                part,
                xy,
                track: None,
                sensor: Some(&id),
                class: None,
                facility: None,
                sector: None,
            };
            // Sensors silenced together nearby are one coverage gap: one alert.
            let target = self.book.find(&e, 20_000.0, 600.0);
            let idx = self.book.add(target, &e, String::new);
            let a = self.book.get_mut(idx);
            let n = a.sensors.len() as u32;
            a.rec.summary = format!(
                "{n} sensor(s) silent (last heartbeat {}): coverage gap",
                crate::record::Time(last)
            );
            self.book.set_count(idx, n);
            if let Some(s) = self.health.sensors.get_mut(&id) {
                s.alert = Some(idx);
            }
            self.book.publish(idx, out);
        }
        for (id, idx) in came_back {
            if let Some(s) = self.health.sensors.get_mut(&id) {
                s.alert = None;
            }
            let still_down = self
                .health
                .sensors
                .values()
                .filter(|s| s.alert == Some(idx))
                .count() as u32;
            if self.book.all()[idx].rec.state != AlertState::Open {
                continue;
            }
            if still_down == 0 {
                self.book
                    .close(idx, now, "All sensors back online".into(), out);
            } else {
                self.book.set_count(idx, still_down);
                self.book.get_mut(idx).rec.summary = format!("{still_down} sensor(s) still silent");
                self.book.publish(idx, out);
            }
        }
    }
}
