//! The rules: track updates, fence alarms and heartbeats in; one alert per incident out.
//!
//! Frontier evidence (a track approaching, a fence cut, a track crossing inward) joins one
//! incident alert whose kind escalates approach → fence cut → infiltration. Facility exits join
//! one facility alert that escalates perimeter breach → mass breakout, its count climbing.
//! Sensors that miss heartbeats join one sensor-offline alert per area and time.
//!
//! Fence alarms are fused as corroborating evidence, not as line measurements: a cut or climb
//! with a confirmed non-animal track within `fence_corroborate_m` is high severity, one without
//! is medium; vibration alarms alone never alert (they are the wind) but are counted per zone.

mod assess;
mod book;
mod facility;
mod fence;
mod frontier;
pub mod geometry;
mod health;

pub use book::{Alert, AlertBook, Hold};

use serde::{Deserialize, Serialize};
use std::collections::HashMap;

use crate::geo::{LonLat, Xy};
use crate::record::{
    AlertKind, AlertRecord, Ddr, Detection, EventRecord, FenceAlarm, Heartbeat, Position, Severity,
    Time,
};
use crate::site::{FacilityStatus, Site};
use crate::track::{Partition, TrackUpdate};
use geometry::GeoCache;

/// Rule thresholds (the `[rules]` table of a site file).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RulesConfig {
    /// A track must be this far on a side of the frontier to count as being there, metres.
    pub side_hysteresis_m: f64,
    /// A track whose animal probability exceeds this never raises infiltration or approach.
    pub max_animal_prob: f64,
    /// Minimum detections on a track before it can raise infiltration or approach.
    pub min_hits: u32,
    /// Approach: within this distance of the frontier, metres.
    pub approach_distance_m: f64,
    /// Approach: closing on the frontier at least this fast, m/s.
    pub approach_min_speed: f64,
    /// Approach: for at least this long, seconds.
    pub approach_min_duration_s: f64,
    /// ... having closed at least this distance, metres.
    pub approach_min_closing_m: f64,
    /// Evidence this close (metres) to an open alert of its family joins it.
    pub merge_m: f64,
    /// ... if that alert was touched within this many seconds.
    pub merge_s: f64,
    /// A track counts as having left a facility this far outside the perimeter, metres.
    pub exit_margin_m: f64,
    /// Exits within `breakout_window_s` that make a mass breakout.
    pub breakout_min_exits: u32,
    /// Window for counting exits, seconds.
    pub breakout_window_s: f64,
    /// During a breakout, a track first seen outside within this distance of the perimeter
    /// and moving away counts as an exit, metres.
    pub breakout_near_m: f64,
    /// A fence alarm is corroborated by a track within this distance, metres.
    pub fence_corroborate_m: f64,
    /// ... seen within this many seconds of the alarm.
    pub fence_corroborate_s: f64,
    /// A sensor is offline after this many missed heartbeat periods.
    pub offline_missed_heartbeats: f64,
    /// Alerts untouched this long are closed, seconds.
    pub close_after_s: f64,
    /// Publish a revision when the position moved this much, metres.
    pub revise_move_m: f64,
    /// ... or at least this often while evidence keeps coming, seconds.
    pub revise_every_s: f64,
    /// Minor changes (new track, moved centre, interruptibility) are published at most this
    /// often, seconds.
    pub revise_min_gap_s: f64,
    /// Walking speed assumed when a track's own is lower, m/s (time-to-line).
    pub nominal_speed: f64,
    /// Automatic alarm assessment: fence climbs that working cameras cover well and see no
    /// cause for, and approaches by herds or people turning back, become events, not alerts.
    pub assess: bool,
    /// A fence climb is watched this long for a cause, seconds.
    pub assess_window_s: f64,
    /// A place is covered well when the working cameras should detect a person there at least
    /// this many times in the window (Σ Pd per scan × window / scan period).
    pub assess_min_detections: f64,
    /// An approach is held this long before it reaches an operator, seconds.
    pub approach_hold_s: f64,
    /// A track among at least `herd_min_animals` animal-like tracks within `herd_radius_m`
    /// is part of a herd (or its herder).
    pub herd_min_animals: u32,
    /// Radius of that company, metres.
    pub herd_radius_m: f64,
    /// An approaching track moving away from the line at least this fast turned back, m/s.
    pub turned_back_speed: f64,
    /// A track seen outside, moving in, that is this far inside the line with something
    /// vouching for it (a fence cut or climb within `fence_corroborate_m` and
    /// `fence_corroborate_s`, or an open alert about the track) has crossed whatever its class,
    /// metres.
    pub fence_cross_m: f64,
    /// A herd's track (see `herd_min_animals`) seen outside that is this far inside the line
    /// and still moving in has crossed: a flock driven across the frontier, its herder (or
    /// people among the animals) with it, metres. A herd pressed against the line stays short
    /// of it.
    pub herd_cross_m: f64,
    /// ... or that is past `side_hysteresis_m` and has closed in at least this fast over the
    /// last 45 s or more, and at least half as fast over each 15 s of it: a flock being driven
    /// across, caught before it is `herd_cross_m` in. A herd pressed against the line stands:
    /// its tracks may stray inside by their position error, or leap when they swap animals,
    /// but they do not keep moving in, m/s.
    pub herd_drive_speed: f64,
    /// ... and no faster than this: a driven flock walks; a herd's track that slides across
    /// faster is the tracker swapping animals, not the animals moving, m/s.
    pub herd_drive_max_speed: f64,
    /// An approach whose track came within this many metres of the line before turning back
    /// is not downgraded as "turned back": at the fence and away again is how a probe looks
    /// when the fence does not sense the cut, metres.
    pub probe_m: f64,
}

impl Default for RulesConfig {
    fn default() -> Self {
        Self {
            side_hysteresis_m: 40.0,
            max_animal_prob: 0.5,
            min_hits: 6,
            approach_distance_m: 1500.0,
            approach_min_speed: 0.5,
            approach_min_duration_s: 90.0,
            approach_min_closing_m: 150.0,
            merge_m: 2000.0,
            merge_s: 1200.0,
            exit_margin_m: 25.0,
            breakout_min_exits: 5,
            breakout_window_s: 900.0,
            breakout_near_m: 80.0,
            fence_corroborate_m: 400.0,
            fence_corroborate_s: 300.0,
            offline_missed_heartbeats: 3.0,
            close_after_s: 1800.0,
            revise_move_m: 250.0,
            revise_every_s: 300.0,
            revise_min_gap_s: 30.0,
            nominal_speed: 1.2,
            assess: true,
            assess_window_s: 60.0,
            assess_min_detections: 6.0,
            approach_hold_s: 60.0,
            herd_min_animals: 5,
            herd_radius_m: 150.0,
            turned_back_speed: 0.2,
            fence_cross_m: 10.0,
            herd_cross_m: 100.0,
            herd_drive_speed: 0.35,
            herd_drive_max_speed: 1.5,
            probe_m: 100.0,
        }
    }
}

/// What the rules remember about one track.
#[derive(Clone, Debug, Default)]
struct Memo {
    part: Option<Partition>,
    xy: Xy,
    vel: Xy,
    t: f64,
    first_seen: f64,
    hits: u32,
    class: [f64; 3],
    /// +1 inside, -1 outside, 0 not yet known.
    side: i8,
    crossed_at: Option<(f64, Xy)>,
    /// When and at what signed distance the track entered the approach zone.
    approach_since: Option<(f64, f64)>,
    frontier_alert: Option<usize>,
    inside_facility: Option<usize>,
    exited: bool,
    /// Signed distance to the frontier (inside positive) now, and at the two samples before
    /// it kept at least 30 s apart: (time, s).
    s_now: Option<(f64, f64)>,
    s_prev: Option<(f64, f64)>,
    s_prev2: Option<(f64, f64)>,
    /// Signed distance to the frontier every 15 s or more, newest last (a driven flock's pace).
    s_steps: [Option<(f64, f64)>; 4],
    /// Crossed with something vouching for it (a fence alarm there, or an alert the
    /// operators already have about the track): infiltration whatever the class.
    vouched: bool,
    /// The nearest the track came to the line while outside (signed distance, inside
    /// positive).
    nearest_s: Option<f64>,
}

/// Live status of one facility as the rules see it.
#[derive(Clone, Debug, Serialize)]
pub struct FacilityState {
    /// Facility identifier.
    pub id: String,
    /// Status.
    pub status: FacilityStatus,
    /// Population on record before any breakout.
    pub population: u32,
    /// Estimated people who left, in all (each alert counts its own incident's).
    pub exits: u32,
}

/// Counters for the report.
#[derive(Clone, Debug, Default, Serialize)]
pub struct RulesStats {
    /// Fence vibration alarms per fence controller (nuisance, never alerted alone).
    pub vibration_alarms: crate::record::Counts,
    /// Fence alarms seen.
    pub fence_alarms: u64,
    /// Heartbeats seen.
    pub heartbeats: u64,
    /// Heartbeats from sensors the site does not know.
    pub unknown_sensor_heartbeats: u64,
    /// Events (alarms assessed and kept from the operators) per fence zone
    /// (`controller/zone`) or `approach`: the zones' nuisance statistics.
    pub events_by_zone: crate::record::Counts,
    /// Events per assessment reason.
    pub events_by_reason: crate::record::Counts,
}

/// The rules engine.
pub struct Rules {
    site: Site,
    cfg: RulesConfig,
    geo: GeoCache,
    memos: HashMap<u64, Memo>,
    book: AlertBook,
    facilities: Vec<FacilityState>,
    facility_alerts: Vec<Option<usize>>,
    /// Per facility: exits within `breakout_window_s`, and exits of the alert's incident.
    exit_times: Vec<Vec<f64>>,
    incident_exits: Vec<u32>,
    /// Per facility: time of its last exit.
    last_exit: Vec<f64>,
    health: health::Health,
    fences: Vec<frontier::PendingFence>,
    /// Fence climbs being assessed.
    pending: Vec<fence::PendingAlarm>,
    /// Recent fence cuts and climbs (time, partition, position), alerted or not.
    recent_alarms: Vec<(f64, Partition, Xy)>,
    events: Vec<EventRecord>,
    next_event: u64,
    now: f64,
    last_tick: f64,
    stats: RulesStats,
}

impl Rules {
    /// The rules for a site, with its `[rules]` thresholds.
    pub fn new(site: &Site) -> Self {
        let facilities = site
            .facilities
            .iter()
            .map(|f| FacilityState {
                id: f.id.clone(),
                status: f.status,
                population: f.population_total(),
                exits: 0,
            })
            .collect();
        Self {
            cfg: site.rules.clone(),
            geo: GeoCache::new(),
            memos: HashMap::new(),
            book: AlertBook::new(book::Cadence {
                move_m: site.rules.revise_move_m,
                every_s: site.rules.revise_every_s,
                min_gap_s: site.rules.revise_min_gap_s,
            }),
            facility_alerts: vec![None; site.facilities.len()],
            exit_times: vec![Vec::new(); site.facilities.len()],
            incident_exits: vec![0; site.facilities.len()],
            last_exit: vec![f64::NEG_INFINITY; site.facilities.len()],
            facilities,
            health: health::Health::new(site),
            fences: Vec::new(),
            pending: Vec::new(),
            recent_alarms: Vec::new(),
            events: Vec::new(),
            next_event: 0,
            now: f64::NEG_INFINITY,
            last_tick: f64::NEG_INFINITY,
            stats: RulesStats::default(),
            site: site.clone(),
        }
    }

    /// Every alert that reached the operators (held and suppressed ones are left out).
    pub fn alerts(&self) -> impl Iterator<Item = &Alert> {
        self.book.all().iter().filter(|a| a.rec.rev > 0)
    }

    /// Takes the events (assessed alarms kept from the operators) produced since the last call.
    pub fn take_events(&mut self) -> Vec<EventRecord> {
        std::mem::take(&mut self.events)
    }

    /// Facility states.
    pub fn facilities(&self) -> &[FacilityState] {
        &self.facilities
    }

    /// Counters.
    pub fn stats(&self) -> &RulesStats {
        &self.stats
    }

    fn clock(&mut self, t: f64, out: &mut Vec<AlertRecord>) {
        if t > self.now {
            self.now = t;
        }
        if self.pending.iter().any(|p| p.deadline <= self.now) {
            self.decide_fence_alarms(out);
        }
        if self.now - self.last_tick >= 10.0 {
            self.last_tick = self.now;
            self.tick(out);
        }
    }

    /// Periodic work: sensor health, stale alerts, forgotten tracks.
    fn tick(&mut self, out: &mut Vec<AlertRecord>) {
        let now = self.now;
        self.check_health(now, out);
        self.decide_approaches(now, out);
        self.book.close_stale(now, self.cfg.close_after_s, out);
        let keep = self.cfg.close_after_s;
        self.memos.retain(|_, m| now - m.t < keep);
        self.fences.retain(|f| now - f.time < 3600.0);
        let keep = self.cfg.fence_corroborate_s;
        self.recent_alarms.retain(|a| now - a.0 <= keep);
    }

    /// Feeds one track update.
    pub fn on_track(&mut self, u: &TrackUpdate, sensor: Option<&str>, out: &mut Vec<AlertRecord>) {
        self.clock(u.time, out);
        let mut memo = self.memos.remove(&u.id).unwrap_or(Memo {
            first_seen: u.first_seen,
            ..Memo::default()
        });
        // A track handed to another tile keeps its side of the frontier and its facility:
        // both are independent of the frame its coordinates are in.
        memo.part = Some(u.part);
        memo.xy = u.xy;
        memo.vel = u.vel;
        memo.t = u.time;
        memo.hits = u.hits;
        memo.class = u.class;
        if u.status == crate::record::TrackStatus::Deleted {
            return;
        }
        if !self.pending.is_empty() {
            self.watch_pending(u, out);
        }
        self.frontier_rules(u, &mut memo, sensor, out);
        self.facility_rules(u, &mut memo, sensor, out);
        self.memos.insert(u.id, memo);
    }

    /// Feeds one fence alarm.
    pub fn on_fence(&mut self, f: &FenceAlarm, out: &mut Vec<AlertRecord>) {
        self.clock(f.time.0, out);
        self.stats.fence_alarms += 1;
        self.fence_rule(f, out);
    }

    /// Feeds one heartbeat.
    pub fn on_heartbeat(&mut self, h: &Heartbeat, out: &mut Vec<AlertRecord>) {
        self.stats.heartbeats += 1;
        if !self.health.beat(&h.sensor, h.time.0) {
            self.stats.unknown_sensor_heartbeats += 1;
        }
        self.clock(h.time.0, out);
    }

    /// Feeds an observer's report (a detection with a head count): it never raises an alert
    /// on its own, but an open frontier incident within `merge_m` takes its count if larger.
    pub fn on_observer(&mut self, d: &Detection, out: &mut Vec<AlertRecord>) {
        let (Some(n), Position::LonLat { lon, lat }) = (d.count, d.pos) else {
            return;
        };
        let p = LonLat::new(lon, lat);
        if !p.is_valid() {
            return;
        }
        self.clock(d.time.0, out);
        let (part, xy) = Partition::locate(p);
        let e = book::Evidence {
            kind: AlertKind::Approach,
            severity: Severity::Low,
            time: d.time.0,
            part,
            xy,
            track: None,
            sensor: Some(&d.sensor),
            class: None,
            facility: None,
            sector: None,
        };
        let Some(i) = self.book.find(&e, self.cfg.merge_m, self.cfg.merge_s) else {
            return;
        };
        let a = self.book.get_mut(i);
        a.sensors.insert(d.sensor.clone());
        if n > a.observed {
            a.observed = n;
            if n > a.rec.count {
                a.rec.summary = format!("{} (observer {} counts {n})", a.rec.summary, d.sensor);
                self.book.set_count(i, n);
                self.book.publish(i, out);
            }
        }
    }

    /// Advances the clock without input (end of a replay).
    pub fn advance(&mut self, t: f64, out: &mut Vec<AlertRecord>) {
        self.clock(t, out);
    }

    /// Detect–delay–respond for an incident at `at` whose intruder needs `time_to_line_s`.
    fn ddr(
        &self,
        first: f64,
        at: Option<LonLat>,
        next_line: Option<String>,
        time_to_line_s: Option<f64>,
    ) -> Ddr {
        // The unit that gets there first: the exact (geodesic) time only for units whose cheap
        // lower bound could beat the best so far (this runs on every update of an alert).
        let best = at.and_then(|p| {
            let mut best: Option<(&str, f64)> = None;
            for u in &self.site.units {
                if best.is_some_and(|(_, b)| u.eta_lower_bound_s(p) > b) {
                    continue;
                }
                let e = u.eta_s(p);
                if best.is_none_or(|(_, b)| e < b) {
                    best = Some((&u.id, e));
                }
            }
            best.map(|(u, e)| (u.to_string(), e))
        });
        let (unit, eta) = match best {
            Some((u, e)) => (Some(u), Some(e.round())),
            None => (None, None),
        };
        Ddr {
            first_detected: Time(first),
            next_line,
            time_to_line_s: time_to_line_s.map(f64::round),
            interruptible: match (eta, time_to_line_s) {
                (Some(e), Some(t)) => Some(e < t),
                _ => None,
            },
            unit,
            unit_eta_s: eta,
        }
    }

    /// Time for a walker at `p` with velocity `v` to reach the nearest named line.
    fn next_line(&mut self, part: Partition, p: Xy, v: Xy) -> Option<(String, f64)> {
        let speed = v[0].hypot(v[1]).max(self.cfg.nominal_speed);
        let geo = self.geo.get(part, &self.site);
        geo.lines
            .iter()
            .filter_map(|(name, l)| l.nearest(p).map(|n| (name.clone(), n.distance / speed)))
            .min_by(|a, b| a.1.total_cmp(&b.1))
    }
}
