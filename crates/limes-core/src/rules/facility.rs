//! Facility rules: perimeter breach, escalating to mass breakout with a climbing count.

use super::book::Evidence;
use super::{Memo, Rules};
use crate::record::{AlertKind, AlertRecord, ObjectClass, Severity, TrackStatus};
use crate::site::FacilityStatus;
use crate::track::TrackUpdate;

/// Time without an exit after which a facility's next exit starts a new incident, counted
/// from one (a trickle of escapes, each after the last alert closed, still adds up).
const INCIDENT_QUIET_S: f64 = 6.0 * 3600.0;

impl Rules {
    pub(super) fn facility_rules(
        &mut self,
        u: &TrackUpdate,
        memo: &mut Memo,
        sensor: Option<&str>,
        out: &mut Vec<AlertRecord>,
    ) {
        if self.site.facilities.is_empty() || memo.exited {
            return;
        }
        let c = &self.cfg;
        let (margin, near) = (c.exit_margin_m, c.breakout_near_m);
        let geo = self.geo.get(u.part, &self.site);
        let mut exit_from = None;
        for f in &geo.facilities {
            if f.contains(u.xy) {
                memo.inside_facility = Some(f.index);
                return;
            }
            let d = f.distance_to_perimeter(u.xy);
            if memo.inside_facility == Some(f.index) && d > margin {
                exit_from = Some(f.index);
                break;
            }
            // During a breakout, a track born just outside and heading away is an exit we
            // did not see inside.
            let breakout_open = self.facility_alerts[f.index]
                .is_some_and(|i| self.book.all()[i].rec.state == crate::record::AlertState::Open);
            let born_near = u.time - u.first_seen < 60.0 && d <= near;
            if breakout_open && memo.inside_facility.is_none() && born_near {
                let ahead = [u.xy[0] + u.vel[0], u.xy[1] + u.vel[1]];
                if f.distance_to_perimeter(ahead) > d && !f.contains(ahead) {
                    memo.inside_facility = Some(f.index);
                }
            }
        }
        let Some(fi) = exit_from else { return };
        if u.status == TrackStatus::Tentative || u.class[1] > 0.5 || u.class[2] > 0.7 {
            // Wait until the track is confirmed and not a vehicle (guards leave by car).
            return;
        }
        memo.exited = true;
        let t = u.time;
        // Exits within the window (older ones go: memory stays bounded on a long watch).
        let window = self.cfg.breakout_window_s;
        let times = &mut self.exit_times[fi];
        times.retain(|&x| t - x <= window);
        times.push(t);
        let recent = times.len() as u32;
        let fac = &self.site.facilities[fi];
        let (fid, fname) = (fac.id.clone(), fac.name.clone());
        let target = self.facility_alerts[fi]
            .filter(|&i| self.book.all()[i].rec.state == crate::record::AlertState::Open);
        // The alert counts its incident's exits: once the facility's alert has closed and
        // nobody left for INCIDENT_QUIET_S, the next exit starts a new one, counted from one —
        // a camp watched for days must not call every later exit a mass breakout. The
        // facility keeps the total.
        // Only after a quiet night: a trickle of escapes half an hour apart is one incident.
        let exits = &mut self.incident_exits[fi];
        if target.is_none() && t - self.last_exit[fi] > INCIDENT_QUIET_S {
            *exits = 0;
        }
        self.last_exit[fi] = t;
        *exits += 1;
        let exits = *exits;
        let state = &mut self.facilities[fi];
        state.exits += 1;
        let total = state.exits;
        let mass = recent >= self.cfg.breakout_min_exits || exits >= self.cfg.breakout_min_exits;
        state.status = FacilityStatus::Breached;
        let (kind, severity) = if mass {
            (AlertKind::MassBreakout, Severity::Critical)
        } else {
            (AlertKind::PerimeterBreach, Severity::High)
        };
        let e = Evidence {
            kind,
            severity,
            time: t,
            part: u.part,
            xy: u.xy,
            track: Some(u.id),
            sensor,
            class: Some(ObjectClass::Person),
            facility: Some(&fid),
            sector: None,
        };
        let idx = self.book.add(target, &e, String::new);
        self.facility_alerts[fi] = Some(idx);
        let centre = Some(fac.centre());
        let first = self.book.all()[idx]
            .rec
            .ddr
            .as_ref()
            .map_or(memo.first_seen, |d| d.first_detected.0.min(memo.first_seen));
        let next = self.next_line(u.part, u.xy, u.vel);
        let (line, ttl) = match next {
            Some((n, s)) => (Some(n), Some(s)),
            None => (None, None),
        };
        let ddr = self.ddr(first, centre, line, ttl);
        let population = self.facilities[fi].population;
        let what = if mass {
            "MASS BREAKOUT"
        } else {
            "Perimeter breach"
        };
        let count = if total > exits {
            format!("about {exits} have left ({total} of {population} in all)")
        } else {
            format!("about {exits} of {population} have left")
        };
        let summary = format!(
            "{what} at {fname}: {count}{}",
            ddr.unit
                .as_ref()
                .map(|u| format!("; {u} ETA {:.0} min", ddr.unit_eta_s.unwrap_or(0.0) / 60.0))
                .unwrap_or_default()
        );
        self.book.set_count(idx, exits);
        self.book.set_ddr(idx, ddr);
        self.book.get_mut(idx).rec.summary = summary;
        self.book.publish(idx, out);
    }
}
