//! Fence alarms, assessed as a PIDS operator would: a cut always alerts (wind and animals do not
//! cut wire); a climb with a person- or vehicle-like track near it alerts at once; a climb that
//! working cameras cover well is watched for `assess_window_s` and, when they see nothing that
//! could have caused it (or only animals, or a herd), becomes an event; a climb the cameras
//! cannot vouch for (out of range, offline, a gap) stays an alert and says why. Vibration is
//! counted and logged as an event, never alerted.

use std::collections::BTreeMap;

use super::book::Evidence;
use super::frontier::{sector_name, PendingFence};
use super::Rules;
use crate::geo::{dist, LonLat, Xy};
use crate::record::{
    AlertKind, AlertRecord, AssessReason, Assessment, EventSource, FenceAlarm, FenceAlarmKind,
    Severity,
};
use crate::track::{Partition, TrackUpdate};

/// What a track near an alarm looked like.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Look {
    /// Too few detections to say.
    Unclear,
    /// Animal-like.
    Animal,
    /// Part of a herd (an animal or its herder).
    Herd,
}

/// A fence climb being assessed.
pub(super) struct PendingAlarm {
    pub time: f64,
    pub deadline: f64,
    pub part: Partition,
    pub xy: Xy,
    pub sensor: String,
    pub zone: String,
    pub sector: Option<String>,
    /// Tracks seen near it in the window, and how they looked.
    pub seen: BTreeMap<u64, Look>,
}

/// Where an alarm is and what it is called.
struct Place {
    part: Partition,
    xy: Xy,
    sector: Option<String>,
    zone: String,
}

impl Rules {
    pub(super) fn fence_rule(&mut self, f: &FenceAlarm, out: &mut Vec<AlertRecord>) {
        let mid = LonLat::new(
            (f.line[0][0] + f.line[1][0]) / 2.0,
            (f.line[0][1] + f.line[1][1]) / 2.0,
        );
        if !mid.is_valid() {
            return;
        }
        let (part, xy) = Partition::locate(mid);
        let t = f.time.0;
        let sector = self.site.frontier.as_ref().and_then(|fr| {
            let geo = self.geo.get(part, &self.site);
            let n = geo.frontier.as_ref()?.nearest(xy)?;
            Some(sector_name(n.chainage, fr.sector_km * 1000.0))
        });
        let place = Place {
            part,
            xy,
            sector,
            zone: format!("{}/{}", f.sensor, f.zone),
        };
        if f.alarm == FenceAlarmKind::Vibration {
            *self
                .stats
                .vibration_alarms
                .entry(f.sensor.clone())
                .or_default() += 1;
            if self.cfg.assess {
                let a = Assessment {
                    reason: AssessReason::Vibration,
                    window_s: 0.0,
                    expected_detections: 0.0,
                    cameras: vec![],
                    tracks: vec![],
                    detail: "vibration alone never alerts".into(),
                };
                let summary = format!("Fence vibration at {}", place.zone);
                self.fence_event(
                    EventSource::FenceVibration,
                    t,
                    &place,
                    &f.sensor,
                    a,
                    summary,
                );
            }
            return;
        }
        self.recent_alarms.push((t, part, xy));
        let (credible, looks) = self.tracks_at(part, xy, t);
        let window = self.cfg.assess_window_s;
        if f.alarm == FenceAlarmKind::Cut || credible.is_some() || !self.cfg.assess {
            let reason = if credible.is_some() {
                AssessReason::Corroborated
            } else if f.alarm == FenceAlarmKind::Cut {
                AssessReason::Cut
            } else {
                AssessReason::CameraGap
            };
            let assessment = self.cfg.assess.then(|| {
                let (cameras, expected) = self.camera_view(part, xy, t, t + window, t);
                let detail = match (reason, credible) {
                    (AssessReason::Corroborated, Some(id)) => format!("track {id} is there"),
                    _ => "a cut is never downgraded".to_string(),
                };
                Assessment {
                    reason,
                    window_s: window,
                    expected_detections: round1(expected),
                    cameras,
                    tracks: credible.into_iter().collect(),
                    detail,
                }
            });
            self.fence_alert(f.alarm, &f.sensor, &place, t, credible, assessment, out);
            return;
        }
        let (cameras, expected) = self.camera_view(part, xy, t, t + window, t);
        if expected < self.cfg.assess_min_detections {
            let detail = format!(
                "no working camera covers it well: {} (expect {:.1} detections in {window:.0} s, need {:.0})",
                describe(&cameras),
                expected,
                self.cfg.assess_min_detections
            );
            let assessment = Assessment {
                reason: AssessReason::CameraGap,
                window_s: window,
                expected_detections: round1(expected),
                cameras,
                tracks: vec![],
                detail,
            };
            self.fence_alert(f.alarm, &f.sensor, &place, t, None, Some(assessment), out);
            return;
        }
        self.pending.push(PendingAlarm {
            time: t,
            // Track updates lag the alarm by the tracker's reorder window: allow for it.
            deadline: t + window + self.site.tracker.reorder_window_s + 3.0,
            part,
            xy,
            sensor: f.sensor.clone(),
            zone: f.zone.clone(),
            sector: place.sector,
            seen: looks.into_iter().collect(),
        });
    }

    /// Tracks near a fence alarm at `t` (from what the rules remember): the nearest credible,
    /// non-herd one (ties by id), and how the others looked.
    fn tracks_at(&self, part: Partition, xy: Xy, t: f64) -> (Option<u64>, Vec<(u64, Look)>) {
        let c = &self.cfg;
        let mut near: Vec<(f64, u64, Look, bool)> = Vec::new();
        for (id, m) in &self.memos {
            if m.part != Some(part)
                || (t - m.t).abs() > c.fence_corroborate_s
                || dist(m.xy, xy) > c.fence_corroborate_m
                || m.hits < 3
            {
                continue;
            }
            let look = self.look(*id, part, m.xy, m.t, m.class);
            near.push((dist(m.xy, xy), *id, look, look == Look::Unclear));
        }
        near.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let credible = near.iter().find(|n| n.3).map(|n| n.1);
        let looks = near.iter().filter(|n| !n.3).map(|n| (n.1, n.2)).collect();
        (credible, looks)
    }

    /// How a track looks: `Unclear` (person- or vehicle-like, a possible cause), an animal, or
    /// one of a herd.
    fn look(&self, id: u64, part: Partition, xy: Xy, t: f64, class: [f64; 3]) -> Look {
        if self.cfg.assess && self.in_herd(id, part, xy, t) {
            Look::Herd
        } else if class[2] > self.cfg.max_animal_prob {
            Look::Animal
        } else {
            Look::Unclear
        }
    }

    /// A track update near climbs being assessed: a credible one raises the alert at once.
    pub(super) fn watch_pending(&mut self, u: &TrackUpdate, out: &mut Vec<AlertRecord>) {
        if u.hits < 3 {
            return;
        }
        let (cm, cs) = (self.cfg.fence_corroborate_m, self.cfg.fence_corroborate_s);
        let hits: Vec<usize> = (0..self.pending.len())
            .filter(|&k| {
                let p = &self.pending[k];
                p.part == u.part && dist(p.xy, u.xy) <= cm && (u.time - p.time).abs() <= cs
            })
            .collect();
        if hits.is_empty() {
            return;
        }
        let look = self.look(u.id, u.part, u.xy, u.time, u.class);
        for &k in hits.iter().rev() {
            if look != Look::Unclear {
                self.pending[k].seen.insert(u.id, look);
                continue;
            }
            let p = self.pending.remove(k);
            let window = self.cfg.assess_window_s;
            let (cameras, expected) =
                self.camera_view(p.part, p.xy, p.time, p.time + window, u.time);
            let a = Assessment {
                reason: AssessReason::Corroborated,
                window_s: window,
                expected_detections: round1(expected),
                cameras,
                tracks: vec![u.id],
                detail: format!(
                    "track {} turned up {:.0} s after the alarm",
                    u.id,
                    u.time - p.time
                ),
            };
            let place = Place {
                part: p.part,
                xy: p.xy,
                sector: p.sector,
                zone: format!("{}/{}", p.sensor, p.zone),
            };
            self.fence_alert(
                FenceAlarmKind::Climb,
                &p.sensor,
                &place,
                u.time,
                Some(u.id),
                Some(a),
                out,
            );
        }
    }

    /// Climbs whose window is over: an event when the cameras kept watching and saw no cause,
    /// an alert when they could not (a covering camera went silent).
    pub(super) fn decide_fence_alarms(&mut self, out: &mut Vec<AlertRecord>) {
        let now = self.now;
        let due: Vec<PendingAlarm>;
        (due, self.pending) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|p| p.deadline <= now);
        let window = self.cfg.assess_window_s;
        for p in due {
            let (cameras, expected) = self.camera_view(p.part, p.xy, p.time, p.time + window, now);
            let place = Place {
                part: p.part,
                xy: p.xy,
                sector: p.sector,
                zone: format!("{}/{}", p.sensor, p.zone),
            };
            let tracks: Vec<u64> = p.seen.keys().copied().collect();
            if expected < self.cfg.assess_min_detections {
                let a = Assessment {
                    reason: AssessReason::CameraGap,
                    window_s: window,
                    expected_detections: round1(expected),
                    detail: format!(
                        "the cameras could not watch the whole window: {} (expect {:.1} detections, need {:.0})",
                        describe(&cameras),
                        expected,
                        self.cfg.assess_min_detections
                    ),
                    cameras,
                    tracks,
                };
                self.fence_alert(
                    FenceAlarmKind::Climb,
                    &p.sensor,
                    &place,
                    now,
                    None,
                    Some(a),
                    out,
                );
                continue;
            }
            let worst = p.seen.values().copied().max();
            let (reason, what) = match worst {
                Some(Look::Herd) => (AssessReason::Herd, "a herd at the fence"),
                Some(Look::Animal) => (AssessReason::Animals, "only animals at the fence"),
                _ => (AssessReason::NothingSeen, "nothing there"),
            };
            let detail = format!(
                "{what}: {} watched {window:.0} s (expect {expected:.1} detections of a person)",
                describe(&cameras)
            );
            let summary = format!("Fence climb at {} assessed: {what}", place.zone);
            let a = Assessment {
                reason,
                window_s: window,
                expected_detections: round1(expected),
                cameras,
                tracks,
                detail,
            };
            self.fence_event(
                EventSource::FenceClimb,
                p.time,
                &place,
                &p.sensor,
                a,
                summary,
            );
        }
    }

    fn fence_event(
        &mut self,
        source: EventSource,
        t: f64,
        place: &Place,
        sensor: &str,
        a: Assessment,
        summary: String,
    ) {
        let e = super::assess::EventDraft {
            source,
            time: t,
            part: place.part,
            xy: place.xy,
            sector: place.sector.clone(),
            sensor: Some(sensor.to_string()),
            zone: Some(place.zone.clone()),
            alert: None,
        };
        self.emit_event(e, a, summary);
    }

    /// Raises (or joins) the frontier alert for a fence alarm that reached the operators.
    #[allow(clippy::too_many_arguments)]
    fn fence_alert(
        &mut self,
        alarm: FenceAlarmKind,
        sensor: &str,
        place: &Place,
        t: f64,
        corroborating: Option<u64>,
        assessment: Option<Assessment>,
        out: &mut Vec<AlertRecord>,
    ) {
        let severity = match (corroborating.is_some(), alarm) {
            (true, _) => Severity::High,
            (false, FenceAlarmKind::Cut) => Severity::Medium,
            _ => Severity::Low,
        };
        let e = Evidence {
            kind: AlertKind::FenceCut,
            severity,
            time: t,
            part: place.part,
            xy: place.xy,
            track: corroborating,
            sensor: Some(sensor),
            class: None,
            facility: None,
            sector: place.sector.clone(),
        };
        let target = self.book.find(&e, self.cfg.merge_m, self.cfg.merge_s);
        let what = match alarm {
            FenceAlarmKind::Cut => "cut",
            _ => "climb",
        };
        let why = match (&assessment, corroborating) {
            (_, Some(_)) => ", corroborated by a track".to_string(),
            (Some(a), None) if a.reason == AssessReason::CameraGap => {
                format!(", no track yet — {}", a.detail)
            }
            _ => ", no track yet".to_string(),
        };
        let zone = place.zone.clone();
        let idx = self
            .book
            .add(target, &e, || format!("Fence {what} at {zone}{why}"));
        if self.book.all()[idx].rec.count == 0 {
            self.book.set_count(idx, 1);
        }
        if corroborating.is_none() {
            self.fences.push(PendingFence {
                time: t,
                part: place.part,
                xy: place.xy,
                alert: idx,
                sensor: sensor.to_string(),
                corroborated: false,
            });
        }
        if assessment.is_some() {
            self.book.get_mut(idx).rec.assessment = assessment;
        }
        // An alarm that reached this point reaches the operators, even inside a held incident.
        self.book.release(idx, out);
        self.book.publish(idx, out);
    }
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// "t017-cam at 2.1 km (Pd 0.91, worked 60 s), …" for a detail line.
fn describe(cameras: &[crate::record::CameraView]) -> String {
    if cameras.is_empty() {
        return "no camera in range".into();
    }
    cameras
        .iter()
        .map(|c| {
            let state = if c.working_s > 0.0 {
                format!("worked {:.0} s", c.working_s)
            } else {
                "offline".to_string()
            };
            format!(
                "{} at {:.1} km (Pd {:.2}, {state})",
                c.sensor,
                c.range_m / 1000.0,
                c.pd
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}
