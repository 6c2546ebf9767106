//! Alarm assessment: which working cameras see a place and how well, whether a track is part of a
//! herd or turned back, and the events (assessed alarms kept from the operators) it produces.
//!
//! Coverage of a place over a window is the number of detections of a person there that the
//! cameras should make: Σ over cameras in range and field of Pd(range) × (seconds of the window
//! the camera is known to have worked, from its heartbeats) / scan period. The site's camera
//! models give Pd; the sensor-health rules give the heartbeats.

use super::book::Hold;
use super::Rules;
use crate::geo::{dist, Xy};
use crate::record::{
    AlertRecord, AssessReason, Assessment, CameraView, EventRecord, EventSource, Time,
};
use crate::site::SensorKind;
use crate::track::Partition;

/// An event before it has an id and its decision time.
pub(super) struct EventDraft {
    pub source: EventSource,
    pub time: f64,
    pub part: Partition,
    pub xy: Xy,
    pub sector: Option<String>,
    pub sensor: Option<String>,
    pub zone: Option<String>,
    pub alert: Option<u64>,
}

impl Rules {
    /// Cameras in range and field of `xy`, nearest first, with the detections of a person
    /// there they should make in `[from, to]` as known at `now`.
    pub(super) fn camera_view(
        &mut self,
        part: Partition,
        xy: Xy,
        from: f64,
        to: f64,
        now: f64,
    ) -> (Vec<CameraView>, f64) {
        let geo = self.geo.get(part, &self.site);
        let mut views = Vec::new();
        let mut expected = 0.0;
        for &(i, c) in &geo.cameras {
            let s = &self.site.sensors[i];
            let SensorKind::Camera(m) = &s.kind else {
                continue;
            };
            let d = [xy[0] - c[0], xy[1] - c[1]];
            let r = d[0].hypot(d[1]);
            if r > m.range_m || !m.covers_bearing(d[0].atan2(d[1]).to_degrees()) {
                continue;
            }
            let pd = m.pd(r);
            let working = self.health.working_s(&s.id, from, to, now);
            expected += pd * working / m.scan_s.max(0.1);
            views.push(CameraView {
                sensor: s.id.clone(),
                range_m: r.round(),
                pd: (pd * 100.0).round() / 100.0,
                working_s: working.round(),
            });
        }
        views.sort_by(|a, b| a.range_m.total_cmp(&b.range_m));
        (views, expected)
    }

    /// True when at least `herd_min_animals` other animal-like tracks seen within the last
    /// minute are within `herd_radius_m` of the track: it is one of a herd, or its herder.
    pub(super) fn in_herd(&self, id: u64, part: Partition, xy: Xy, t: f64) -> bool {
        let c = &self.cfg;
        let n = self
            .memos
            .iter()
            .filter(|(k, m)| {
                **k != id
                    && m.part == Some(part)
                    && m.class[2] > c.max_animal_prob
                    && (t - m.t).abs() <= 60.0
                    && dist(m.xy, xy) <= c.herd_radius_m
            })
            .count();
        n >= c.herd_min_animals as usize
    }

    /// Writes an event and counts it against its zone and reason.
    pub(super) fn emit_event(&mut self, e: EventDraft, a: Assessment, summary: String) {
        self.next_event += 1;
        let key = e
            .zone
            .clone()
            .unwrap_or_else(|| format!("approach/{}", e.sector.as_deref().unwrap_or("-")));
        *self.stats.events_by_zone.entry(key).or_default() += 1;
        *self
            .stats
            .events_by_reason
            .entry(a.reason.name().to_string())
            .or_default() += 1;
        self.events.push(EventRecord {
            id: self.next_event,
            source: e.source,
            time: Time(e.time),
            decided: Time(self.now.max(e.time)),
            pos: e.part.position(e.xy),
            sector: e.sector,
            sensor: e.sensor,
            zone: e.zone,
            alert: e.alert,
            assessment: a,
            summary,
        });
    }

    /// Approaches whose hold is over: a herd's or a track that turned back becomes an event
    /// (the alert is kept suppressed, so that the same tracks join it silently and it reaches
    /// the operators only if it escalates); any other reaches the operators.
    pub(super) fn decide_approaches(&mut self, now: f64, out: &mut Vec<AlertRecord>) {
        for i in self.book.due(now) {
            let a = &self.book.all()[i];
            let tracks: Vec<u64> = a.tracks.iter().copied().collect();
            let mut herd = Vec::new();
            let mut back = Vec::new();
            let mut other = Vec::new();
            for &id in &tracks {
                let Some(m) = self.memos.get(&id) else {
                    // Gone: it did not press on.
                    back.push(id);
                    continue;
                };
                let Some(part) = m.part else { continue };
                if self.in_herd(id, part, m.xy, m.t) || m.class[2] > self.cfg.max_animal_prob {
                    herd.push(id);
                } else if self.turned_back(m) {
                    back.push(id);
                } else {
                    other.push(id);
                }
            }
            let hold = self.cfg.approach_hold_s;
            if !other.is_empty() || tracks.is_empty() {
                let at_line = other
                    .iter()
                    .filter_map(|id| self.memos.get(id))
                    .any(|m| m.nearest_s.is_some_and(|s| s >= -self.cfg.probe_m));
                let detail = if at_line {
                    format!(
                        "came within {:.0} m of the line (a probe, if it goes back)",
                        self.cfg.probe_m
                    )
                } else {
                    format!("still closing on the line after {hold:.0} s")
                };
                let a = Assessment {
                    reason: AssessReason::Closing,
                    window_s: hold,
                    expected_detections: 0.0,
                    cameras: vec![],
                    tracks: other,
                    detail,
                };
                self.book.get_mut(i).rec.assessment = Some(a);
                self.book.release(i, out);
                continue;
            }
            let (reason, what) = if herd.len() >= back.len() {
                (AssessReason::Herd, "a herd (animals and their herder)")
            } else {
                (AssessReason::TurnedBack, "turned back")
            };
            self.book.suppress(i);
            let a = &self.book.all()[i];
            let (part, xy, id) = (a.part, a.xy, a.rec.id);
            let sector = a.rec.sector.clone();
            let summary = format!(
                "Approach in sector {} assessed: {what}",
                sector.as_deref().unwrap_or("-")
            );
            let assessment = Assessment {
                reason,
                window_s: hold,
                expected_detections: 0.0,
                cameras: vec![],
                tracks,
                // Counts, not the tracker's ids (they are in `tracks`): the line is shown to
                // people, and ids are released only as each organisation's own.
                detail: format!(
                    "{} of {} tracks in a herd, {} turned back or gone",
                    herd.len(),
                    herd.len() + back.len(),
                    back.len()
                ),
            };
            let draft = EventDraft {
                source: EventSource::Approach,
                time: a.rec.raised.0,
                part,
                xy,
                sector,
                sensor: None,
                zone: None,
                alert: Some(id),
            };
            self.emit_event(draft, assessment, summary);
        }
    }

    /// True when the track moved away from the line at `turned_back_speed` or more over the
    /// last half minute to minute and a half, having stayed farther than `probe_m` from it.
    fn turned_back(&self, m: &super::Memo) -> bool {
        if m.nearest_s.is_some_and(|s| s >= -self.cfg.probe_m) {
            // At the fence and away again: a probe, not someone who thought better of it.
            return false;
        }
        match (m.s_now, m.s_prev2) {
            (Some((t1, s1)), Some((t0, s0))) if t1 - t0 >= 20.0 => {
                (s1 - s0) / (t1 - t0) <= -self.cfg.turned_back_speed
            }
            _ => false,
        }
    }

    /// Holds a new approach alert for assessment, or re-assesses a suppressed one that a new
    /// track joined; infiltration evidence releases a held alert at once.
    pub(super) fn hold_or_release(
        &mut self,
        idx: usize,
        kind: crate::record::AlertKind,
        new_track: bool,
        t: f64,
        out: &mut Vec<AlertRecord>,
    ) {
        use crate::record::AlertKind;
        if !self.cfg.assess {
            return;
        }
        let hold = self.book.all()[idx].hold;
        match kind {
            AlertKind::Approach => {
                let fresh = self.book.all()[idx].rec.rev == 0 && hold == Hold::Released;
                if fresh || (hold == Hold::Suppressed && new_track) {
                    self.book.get_mut(idx).hold = Hold::Until(t + self.cfg.approach_hold_s);
                }
            }
            _ => self.book.release(idx, out),
        }
    }
}
