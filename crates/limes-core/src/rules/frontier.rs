//! Frontier rules: approach, fence cut/climb, infiltration — one incident alert that escalates.

use super::book::{Evidence, Hold};
use super::{Memo, Rules};
use crate::geo::{dist, Xy};
use crate::record::{AlertKind, AlertRecord, AlertState, ObjectClass, Severity, TrackStatus};
use crate::track::{Partition, TrackUpdate};

/// A fence alarm still waiting for a track to corroborate it.
pub(super) struct PendingFence {
    pub time: f64,
    pub part: Partition,
    pub xy: Xy,
    pub alert: usize,
    pub sensor: String,
    pub corroborated: bool,
}

fn class_of(p: [f64; 3]) -> ObjectClass {
    crate::record::ClassProbs::from_array(p).best()
}

impl Rules {
    pub(super) fn frontier_rules(
        &mut self,
        u: &TrackUpdate,
        memo: &mut Memo,
        sensor: Option<&str>,
        out: &mut Vec<AlertRecord>,
    ) {
        let Some(frontier) = &self.site.frontier else {
            return;
        };
        let (outside, sector_m) = (frontier.outside, frontier.sector_km * 1000.0);
        let c = &self.cfg;
        let (hyst, approach_m, min_speed, min_dur, min_closed) = (
            c.side_hysteresis_m,
            c.approach_distance_m,
            c.approach_min_speed,
            c.approach_min_duration_s,
            c.approach_min_closing_m,
        );
        let established = u.status != TrackStatus::Tentative && u.hits >= c.min_hits;
        let credible = established && u.class[2] <= c.max_animal_prob;
        let (fence_cross_m, fence_m, fence_s) = (
            c.fence_cross_m,
            c.fence_corroborate_m,
            c.fence_corroborate_s,
        );
        let geo = self.geo.get(u.part, &self.site);
        let Some(line) = &geo.frontier else { return };
        let Some(n) = line.nearest(u.xy) else { return };
        let inward = outside.opposite().sign();
        let s = n.signed * inward;
        let at_crossing = geo.at_crossing(u.xy);
        // Traffic heading for an authorised crossing is not an approach.
        let near_crossing = geo.crossings.iter().any(|(c, r)| dist(*c, u.xy) <= 2.0 * r);
        let sector = sector_name(n.chainage, sector_m);
        let prev = memo.side;
        if s > hyst {
            memo.side = 1;
        } else if s < -hyst {
            memo.side = -1;
        }
        memo.s_now = Some((u.time, s));
        if memo.side == -1 {
            memo.nearest_s = Some(memo.nearest_s.map_or(s, |n| n.max(s)));
        }
        if memo.s_steps[3].is_none_or(|p| u.time - p.0 >= 15.0) {
            memo.s_steps.rotate_left(1);
            memo.s_steps[3] = Some((u.time, s));
        }
        if memo.s_prev.is_none_or(|p| u.time - p.0 >= 30.0) {
            memo.s_prev2 = memo.s_prev;
            memo.s_prev = Some((u.time, s));
        }
        if prev == -1 && memo.side == 1 && !at_crossing && memo.crossed_at.is_none() {
            memo.crossed_at = Some((u.time, u.xy));
        }
        // A crossing whatever the track looks like now (a crawler can look like an animal),
        // when something vouches for it: the fence alarmed where it came through (just before
        // or just after), or the operators already have an alert about this very track (it
        // approached as a person). It must be moving in, and not one of a herd.
        let crossing = !at_crossing
            && !memo.vouched
            && memo.side != 0
            && match memo.crossed_at {
                None => memo.side == -1 && s > fence_cross_m,
                Some((tc, _)) => tc.is_finite(),
            };
        if crossing && moving_in(memo, 0.1) {
            let alerted = memo.frontier_alert.is_some_and(|i| {
                let a = &self.book.all()[i];
                a.rec.state == AlertState::Open && a.hold == Hold::Released
            });
            let fence = || {
                self.recent_alarms.iter().any(|a| {
                    a.1 == u.part && (u.time - a.0).abs() <= fence_s && dist(a.2, u.xy) <= fence_m
                })
            };
            let herd = self.in_herd(u.id, u.part, u.xy, u.time);
            if (alerted || fence()) && !herd {
                memo.crossed_at.get_or_insert((u.time, u.xy));
                memo.vouched = true;
            }
            // A flock driven across: seen outside, now deep inside with its herd and still
            // moving in, or past the hysteresis and moving in steadily at a drover's pace (a
            // herd pressed against the line never gets this far, nor keeps moving in).
            let driven = matches!(memo.crossed_at, Some((tc, _)) if tc.is_finite());
            if driven && herd && self.herd_deep(memo, s) && established {
                memo.vouched = true;
            }
        }
        // Average closing speed since the track entered the approach zone (robust to the
        // noise of the filter's instantaneous velocity and to pauses). The baseline slides
        // forward when the track lingers without closing in (a herd grazing near the line).
        let closing = if memo.side == -1 && -s < approach_m {
            let (t0, s0) = *memo.approach_since.get_or_insert((u.time, s));
            let dt = u.time - t0;
            let avg = if dt > 0.0 { (s - s0) / dt } else { 0.0 };
            if dt > 4.0 * min_dur && avg < min_speed {
                memo.approach_since = Some((u.time, s));
            }
            Some((avg, dt, s - s0))
        } else {
            memo.approach_since = None;
            None
        };
        let corroborates: Vec<usize> = self
            .fences
            .iter()
            .enumerate()
            .filter(|(_, f)| {
                !f.corroborated
                    && f.part == u.part
                    && (u.time - f.time).abs() <= self.cfg.fence_corroborate_s
                    && dist(f.xy, u.xy) <= self.cfg.fence_corroborate_m
            })
            .map(|(k, _)| k)
            .collect();

        // Infiltration: crossed inward outside a crossing, once the track is credible.
        if let Some((tc, _)) = memo.crossed_at {
            // ... and is inside now: a track that wandered across and back (a herd pressed
            // against the line) is no infiltration when its class flickers.
            // A person-like track among a herd crosses only as the herd does (deep, or driven
            // in): a herder's track that takes an animal's detections leaps with it, and a
            // herd pressed against the line has animals at the line.
            let with_herd = || {
                !memo.vouched
                    && !self.herd_deep(memo, s)
                    && self.in_herd(u.id, u.part, u.xy, u.time)
            };
            if (credible || (memo.vouched && established))
                && s > 0.0
                && u.time - tc < 600.0
                && !with_herd()
            {
                memo.crossed_at = Some((f64::INFINITY, u.xy));
                let next = self.next_line(u.part, u.xy, u.vel);
                self.frontier_evidence(
                    AlertKind::Infiltration,
                    Severity::Critical,
                    u,
                    memo,
                    sensor,
                    sector.clone(),
                    next,
                    out,
                );
                return;
            }
        }
        // Approach: outside, close, closing in for long enough.
        if let Some((v, dt, closed)) = closing {
            if credible && !near_crossing && v >= min_speed && dt >= min_dur && closed >= min_closed
            {
                let ttl = Some(("frontier".to_string(), (-s).max(0.0) / v));
                self.frontier_evidence(
                    AlertKind::Approach,
                    Severity::High,
                    u,
                    memo,
                    sensor,
                    sector.clone(),
                    ttl,
                    out,
                );
                return;
            }
        }
        // Corroborate waiting fence alarms.
        if credible {
            for k in corroborates {
                let f = &mut self.fences[k];
                f.corroborated = true;
                let (alert, fsensor) = (f.alert, f.sensor.clone());
                let e = Evidence {
                    kind: AlertKind::FenceCut,
                    severity: Severity::High,
                    time: u.time,
                    part: u.part,
                    xy: u.xy,
                    track: Some(u.id),
                    sensor: Some(&fsensor),
                    class: Some(class_of(u.class)),
                    facility: None,
                    sector: Some(sector.clone()),
                };
                let idx = self.book.add(Some(alert), &e, || {
                    format!(
                        "Fence alarm corroborated by track {} in sector {sector}",
                        u.id
                    )
                });
                self.book.release(idx, out);
                self.book.publish(idx, out);
                memo.frontier_alert = Some(idx);
            }
        }
        // Keep an incident this track belongs to up to date.
        if let Some(i) = memo.frontier_alert {
            if self.book.all()[i].rec.state == AlertState::Open {
                let kind = self.book.all()[i].rec.kind;
                let next = if kind == AlertKind::Approach {
                    let v = closing.map_or(0.0, |c| c.0).max(self.cfg.nominal_speed);
                    Some(("frontier".to_string(), (-s).max(0.0) / v))
                } else {
                    self.next_line(u.part, u.xy, u.vel)
                };
                self.frontier_evidence(
                    AlertKind::Approach,
                    Severity::Low,
                    u,
                    memo,
                    sensor,
                    sector,
                    next,
                    out,
                );
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn frontier_evidence(
        &mut self,
        kind: AlertKind,
        severity: Severity,
        u: &TrackUpdate,
        memo: &mut Memo,
        sensor: Option<&str>,
        sector: String,
        next: Option<(String, f64)>,
        out: &mut Vec<AlertRecord>,
    ) {
        let open = memo
            .frontier_alert
            .filter(|&i| self.book.all()[i].rec.state == AlertState::Open);
        let ll = self.geo.get(u.part, &self.site).lonlat(u.xy);
        let e = Evidence {
            kind,
            severity,
            time: u.time,
            part: u.part,
            xy: u.xy,
            track: Some(u.id),
            sensor,
            class: Some(class_of(u.class)),
            facility: None,
            sector: Some(sector.clone()),
        };
        let target = open.or_else(|| self.book.find(&e, self.cfg.merge_m, self.cfg.merge_s));
        let new_track = target.is_none_or(|i| !self.book.all()[i].tracks.contains(&u.id));
        let idx = self.book.add(target, &e, String::new);
        memo.frontier_alert = Some(idx);
        let a = &self.book.all()[idx];
        // People: the tracks, or more if an observer counted more.
        let (akind, count) = (a.rec.kind, (a.tracks.len().max(1) as u32).max(a.observed));
        let first = a
            .rec
            .ddr
            .as_ref()
            .map_or(memo.first_seen, |d| d.first_detected.0.min(memo.first_seen));
        let (line_name, ttl) = match next {
            Some((n, t)) => (Some(n), Some(t)),
            None => (None, None),
        };
        let ddr = self.ddr(first, ll, line_name.clone(), ttl);
        let summary = frontier_summary(akind, count, &sector, &ddr);
        self.book.set_count(idx, count);
        self.book.set_ddr(idx, ddr);
        self.book.get_mut(idx).rec.summary = summary;
        self.hold_or_release(idx, kind, new_track, u.time, out);
        self.book.publish(idx, out);
    }

    /// Whether a herd's track at `s` metres inside has crossed as a driven flock does: deep
    /// inside, or past the hysteresis and moving in steadily at a drover's pace.
    fn herd_deep(&self, memo: &Memo, s: f64) -> bool {
        let c = &self.cfg;
        s > c.herd_cross_m
            || (s > c.side_hysteresis_m
                && driven_in(memo, c.herd_drive_speed, c.herd_drive_max_speed))
    }
}

/// Whether the track has closed in at `speed` to `max` over its last four 15-second samples
/// (45 s or more), and at half of `speed` or more over each step: steady, not one leap.
fn driven_in(memo: &Memo, speed: f64, max: f64) -> bool {
    let Some(steps) = memo.s_steps.iter().copied().collect::<Option<Vec<_>>>() else {
        return false;
    };
    let rate = |a: (f64, f64), b: (f64, f64)| (b.1 - a.1) / (b.0 - a.0).max(1e-9);
    steps.windows(2).all(|w| rate(w[0], w[1]) >= 0.5 * speed)
        && (speed..=max).contains(&rate(steps[0], steps[3]))
}

/// True when the track has been moving inward at `speed` m/s or more over the last half
/// minute to minute and a half.
fn moving_in(memo: &Memo, speed: f64) -> bool {
    match (memo.s_now, memo.s_prev2) {
        (Some((t1, s1)), Some((t0, s0))) if t1 - t0 >= 20.0 => (s1 - s0) / (t1 - t0) >= speed,
        _ => false,
    }
}

/// Sector name (`S001`, …) of a chainage along the frontier, sectors `sector_m` long.
pub(super) fn sector_name(chainage: f64, sector_m: f64) -> String {
    format!("S{:03}", (chainage / sector_m) as u32 + 1)
}

fn frontier_summary(kind: AlertKind, count: u32, sector: &str, d: &crate::record::Ddr) -> String {
    let what = match kind {
        AlertKind::Infiltration => "Infiltration",
        AlertKind::FenceCut => "Fence cut",
        _ => "Approach to the frontier",
    };
    let mut s = format!("{what} in sector {sector}: {count} track(s)");
    if let (Some(line), Some(ttl)) = (&d.next_line, d.time_to_line_s) {
        s += &format!("; {:.0} min to {line}", ttl / 60.0);
    }
    if let (Some(u), Some(eta)) = (&d.unit, d.unit_eta_s) {
        s += &format!("; {u} ETA {:.0} min", eta / 60.0);
    }
    match d.interruptible {
        Some(true) => s += " — interruptible",
        Some(false) => s += " — NOT interruptible",
        None => {}
    }
    s
}
