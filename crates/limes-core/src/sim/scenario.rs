//! Builds the simulated world from a site and a scenario, and keeps score of what happens.

use geo::{Contains, Coord, LineString, Point, Polygon};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::collections::VecDeque;

mod cover;

use super::actors::{Actor, Behaviour, Flock, World};
use super::sensors::{SimModel, SimSensor};
use super::{ScenarioConfig, SimError};
use crate::geo::{dist, LocalFrame, LonLat, Polyline, Xy};
use crate::record::{
    FenceAlarm, FenceAlarmKind, Incident, IncidentKind, ObjectClass, Position, Time, TruthRole,
};
use crate::site::{SensorKind, Site};

/// One fence zone in the simulation frame.
pub struct SimZone {
    pub sensor: usize,
    pub id: String,
    pub mid: Xy,
    pub line: [[f64; 2]; 2],
    pub pd_cut: f64,
}

struct Facility {
    polygon: Polygon<f64>,
    ring: Polyline,
    centre: Xy,
}

/// The simulated world.
pub struct SimWorld {
    pub frame: LocalFrame,
    pub actors: Vec<Actor>,
    pub sensors: Vec<SimSensor>,
    pub zones: Vec<SimZone>,
    pub nuisance_per_zone_h: f64,
    pub incidents: Vec<Incident>,
    pub(super) flocks: Vec<Flock>,
    roads: Vec<Polyline>,
    pub(super) pauses: Vec<Vec<(f64, f64)>>,
    pub(super) frontier: Option<(Polyline, f64)>,
    facility: Option<Facility>,
    pub(super) group_sizes: Vec<u32>,
    crossed: Vec<bool>,
    side: Vec<f64>,
    exits: Vec<f64>,
    exited: Vec<bool>,
    breakout_facility: Option<String>,
    /// What the adversarial scenarios need while the night runs.
    pub(super) adv: super::adversarial::Adversary,
}

/// A person walking a route during `(from, to)`.
pub(super) fn walk(
    id: u64,
    role: TruthRole,
    (from, to): (f64, f64),
    start: Xy,
    way: Vec<Xy>,
    speed: f64,
    group: Option<usize>,
) -> Actor {
    Actor {
        id,
        class: ObjectClass::Person,
        role,
        pos: start,
        from,
        to,
        heat_m2: 0.7,
        behaviour: Behaviour::Route {
            waypoints: VecDeque::from(way),
            speed,
            group,
        },
        group,
        done: false,
    }
}

impl SimWorld {
    pub fn build(
        site: &Site,
        cfg: &ScenarioConfig,
        t0: f64,
        rng: &mut ChaCha8Rng,
    ) -> Result<Self, SimError> {
        let centre = match (&site.frontier, site.facilities.first()) {
            (Some(f), _) => f.line[f.line.len() / 2],
            (None, Some(f)) => f.centre(),
            _ => site
                .sensors
                .first()
                .map(|s| s.pos)
                .unwrap_or(LonLat::new(0.0, 0.0)),
        };
        let frame = LocalFrame::new(centre);
        let end = t0 + cfg.duration_h * 3600.0;
        let frontier = site.frontier.as_ref().map(|f| {
            let line = Polyline::new(f.line.iter().map(|p| frame.to_local(*p)).collect());
            (line, f.outside.sign())
        });
        let roads: Vec<Polyline> = site
            .lines
            .iter()
            .map(|l| Polyline::new(l.line.iter().map(|p| frame.to_local(*p)).collect()))
            .collect();
        let mut sensors = Vec::new();
        let mut zones = Vec::new();
        let mut nuisance = 0.0;
        for s in &site.sensors {
            let model = match &s.kind {
                SensorKind::Camera(c) => SimModel::Camera(c.clone()),
                SensorKind::Observer(o) => SimModel::Observer(o.clone()),
                SensorKind::Fence(f) => {
                    nuisance = f.nuisance_per_zone_h;
                    for z in &f.zones {
                        let m = LonLat::new((z.a.lon + z.b.lon) / 2.0, (z.a.lat + z.b.lat) / 2.0);
                        zones.push(SimZone {
                            sensor: sensors.len(),
                            id: z.id.clone(),
                            mid: frame.to_local(m),
                            line: [[z.a.lon, z.a.lat], [z.b.lon, z.b.lat]],
                            pd_cut: f.pd_cut,
                        });
                    }
                    SimModel::Fence
                }
            };
            sensors.push(SimSensor {
                id: s.id.clone(),
                xy: frame.to_local(s.pos),
                heartbeat_s: s.heartbeat_s,
                phase: rng.random_range(0.0..s.heartbeat_s.min(5.0)).floor(),
                outages: Vec::new(),
                model,
            });
        }
        let mut w = SimWorld {
            frame,
            actors: Vec::new(),
            sensors,
            zones,
            nuisance_per_zone_h: nuisance,
            incidents: Vec::new(),
            flocks: Vec::new(),
            roads,
            pauses: Vec::new(),
            frontier,
            facility: None,
            group_sizes: Vec::new(),
            crossed: Vec::new(),
            side: Vec::new(),
            exits: Vec::new(),
            exited: Vec::new(),
            breakout_facility: None,
            adv: Default::default(),
        };
        w.add_frontier_actors(site, cfg, t0, end, rng);
        w.add_flock_crossings(site, cfg, t0, end, rng);
        w.add_roads(cfg, t0, end, rng);
        w.add_outages(cfg, t0, end, rng);
        if let Some(b) = &cfg.breakout {
            w.add_breakout(site, b, t0, end, rng)?;
        }
        w.add_adversarial(site, &cfg.adversarial, t0, end, rng);
        w.crossed = vec![false; w.actors.len()];
        w.exited = vec![false; w.actors.len()];
        w.side = w
            .actors
            .iter()
            .map(|a| {
                w.frontier
                    .as_ref()
                    .and_then(|(l, _)| l.nearest(a.pos))
                    .map_or(0.0, |n| n.signed)
            })
            .collect();
        Ok(w)
    }

    pub(super) fn next_id(&self) -> u64 {
        self.actors.len() as u64 + 1
    }

    fn add_frontier_actors(
        &mut self,
        site: &Site,
        cfg: &ScenarioConfig,
        t0: f64,
        end: f64,
        rng: &mut ChaCha8Rng,
    ) {
        let Some((line, out_sign)) = self.frontier.clone() else {
            return;
        };
        let inside = if out_sign > 0.0 {
            crate::geo::Side::Right
        } else {
            crate::geo::Side::Left
        };
        let outside = inside.opposite();
        let len = line.length();
        let crossings: Vec<Xy> = site
            .crossings
            .iter()
            .map(|c| self.frame.to_local(LonLat::new(c.lon, c.lat)))
            .collect();
        let near_crossing = |p: Xy| crossings.iter().any(|c| dist(*c, p) < 6000.0);
        let dur = end - t0;
        // Infiltrator groups.
        for _ in 0..cfg.infiltrator_groups {
            let mut c = rng.random_range(10_000.0..len - 10_000.0);
            while near_crossing(line.at(c).0) {
                c = rng.random_range(10_000.0..len - 10_000.0);
            }
            let size = rng.random_range(1..=8u32);
            let start_t = t0 + rng.random_range(0.0..(dur * 0.45).max(1.0));
            let speed = rng.random_range(1.0..1.5);
            let a = line.offset_point(
                c + rng.random_range(-2000.0..2000.0),
                rng.random_range(3000.0..6000.0),
                outside,
            );
            let x = line.at(c).0;
            let b = line.offset_point(
                c + rng.random_range(-3000.0..3000.0),
                rng.random_range(5000.0..9000.0),
                inside,
            );
            let g = self.pauses.len();
            let mut pauses = Vec::new();
            let mut tp = start_t + rng.random_range(300.0..1200.0);
            while tp < end {
                let l = rng.random_range(60.0..300.0);
                pauses.push((tp, tp + l));
                tp += l + rng.random_range(600.0..1800.0);
            }
            self.pauses.push(pauses);
            self.group_sizes.push(size);
            for m in 0..size {
                let jitter = |p: Xy, rng: &mut ChaCha8Rng| {
                    [
                        p[0] + rng.random_range(-8.0..8.0),
                        p[1] + rng.random_range(-8.0..8.0),
                    ]
                };
                let start = jitter(a, rng);
                let way = vec![jitter(x, rng), jitter(b, rng)];
                let id = self.next_id();
                let from = start_t + m as f64 * rng.random_range(6.0..12.0);
                self.actors.push(walk(
                    id,
                    TruthRole::Infiltrator,
                    (from, end),
                    start,
                    way,
                    speed,
                    Some(g),
                ));
            }
        }
        // Flocks with their herders, staying outside.
        for _ in 0..cfg.flocks {
            let c = rng.random_range(0.0..len);
            let centre = line.offset_point(c, rng.random_range(400.0..2000.0), outside);
            let f = self.flocks.len();
            self.flocks.push(Flock {
                centre,
                heading: rng.random_range(0.0..std::f64::consts::TAU),
                radius: rng.random_range(40.0..90.0),
                route: VecDeque::new(),
                drive: (0.0, 0.0),
            });
            for k in 0..cfg.flock_size + 1 {
                let id = self.next_id();
                let herder = k == cfg.flock_size;
                self.actors.push(Actor {
                    id,
                    class: if herder {
                        ObjectClass::Person
                    } else {
                        ObjectClass::Animal
                    },
                    role: if herder {
                        TruthRole::Herder
                    } else {
                        TruthRole::Flock
                    },
                    pos: centre,
                    from: t0,
                    to: end,
                    heat_m2: if herder {
                        0.7
                    } else {
                        rng.random_range(0.25..0.45)
                    },
                    behaviour: Behaviour::Graze {
                        flock: f,
                        offset: [rng.random_range(-40.0..40.0), rng.random_range(-40.0..40.0)],
                    },
                    group: None,
                    done: false,
                });
            }
        }
        // Strays on both sides.
        for _ in 0..cfg.strays {
            let c = rng.random_range(0.0..len);
            let side = if rng.random::<bool>() {
                inside
            } else {
                outside
            };
            let id = self.next_id();
            self.actors.push(Actor {
                id,
                class: ObjectClass::Animal,
                role: TruthRole::Stray,
                pos: line.offset_point(c, rng.random_range(100.0..4000.0), side),
                from: t0,
                to: end,
                heat_m2: rng.random_range(0.2..0.5),
                behaviour: Behaviour::Wander {
                    heading: rng.random_range(0.0..std::f64::consts::TAU),
                    speed: rng.random_range(0.0..1.0),
                },
                group: None,
                done: false,
            });
        }
        // Legal crossings at the authorised crossing points.
        if !crossings.is_empty() {
            for _ in 0..cfg.legal_crossings {
                let cp = crossings[rng.random_range(0..crossings.len())];
                let Some(n) = line.nearest(cp) else { continue };
                let a = line.offset_point(n.chainage, 3000.0, outside);
                let b = line.offset_point(n.chainage, 4000.0, inside);
                let x = line.at(n.chainage).0;
                let id = self.next_id();
                let from = t0 + rng.random_range(0.0..dur * 0.7);
                let mut act = walk(id, TruthRole::Legal, (from, end), a, vec![x, b], 5.0, None);
                act.class = ObjectClass::Vehicle;
                act.heat_m2 = 6.0;
                self.actors.push(act);
            }
        }
    }

    fn add_roads(&mut self, cfg: &ScenarioConfig, t0: f64, end: f64, rng: &mut ChaCha8Rng) {
        if self.roads.is_empty() {
            return;
        }
        for _ in 0..cfg.vehicles {
            let r = rng.random_range(0..self.roads.len());
            let len = self.roads[r].length();
            let s = rng.random_range(0.0..len);
            let fwd = rng.random::<bool>();
            let v = rng.random_range(10.0..20.0) * if fwd { 1.0 } else { -1.0 };
            let until = if fwd {
                (s + 30_000.0).min(len)
            } else {
                (s - 30_000.0).max(0.0)
            };
            let id = self.next_id();
            self.actors.push(Actor {
                id,
                class: ObjectClass::Vehicle,
                role: TruthRole::Vehicle,
                pos: self.roads[r].at(s).0,
                from: t0 + rng.random_range(0.0..(end - t0) * 0.8),
                to: end,
                heat_m2: 7.0,
                behaviour: Behaviour::Drive {
                    road: r,
                    s,
                    v,
                    until,
                },
                group: None,
                done: false,
            });
        }
    }

    fn add_outages(&mut self, cfg: &ScenarioConfig, t0: f64, end: f64, rng: &mut ChaCha8Rng) {
        let cams: Vec<usize> = (0..self.sensors.len())
            .filter(|&i| matches!(self.sensors[i].model, SimModel::Camera(_)))
            .collect();
        for _ in 0..cfg.sensor_outages.min(cams.len() as u32) {
            let i = cams[rng.random_range(0..cams.len())];
            let a = t0 + rng.random_range(0.1..0.6) * (end - t0);
            let b = a + rng.random_range(1800.0..3600.0);
            self.down(i, a, b.min(end));
        }
    }

    pub(super) fn down(&mut self, i: usize, a: f64, b: f64) {
        let s = &mut self.sensors[i];
        s.outages.push((a, b));
        let ll = self.frame.to_lonlat(s.xy);
        // The alert can only know once heartbeats are missed: the incident starts at the last one.
        let last = a - ((a - s.phase) % s.heartbeat_s).max(0.0);
        self.incidents.push(Incident {
            id: 0,
            kind: IncidentKind::SensorOffline,
            time: Time(last),
            end: Time(b),
            pos: Position::LonLat {
                lon: ll.lon,
                lat: ll.lat,
            },
            count: 1,
            subject: Some(s.id.clone()),
            scenario: None,
        });
    }

    fn add_breakout(
        &mut self,
        site: &Site,
        b: &super::BreakoutConfig,
        t0: f64,
        end: f64,
        rng: &mut ChaCha8Rng,
    ) -> Result<(), SimError> {
        let fac = site
            .facilities
            .iter()
            .find(|f| f.id == b.facility)
            .ok_or_else(|| SimError::Config {
                field: "breakout.facility",
                message: format!("no facility {:?} in the site", b.facility),
            })?;
        let ring: Vec<Xy> = fac.ring().iter().map(|p| self.frame.to_local(*p)).collect();
        let centre = self.frame.to_local(fac.centre());
        let ls: LineString<f64> = ring.iter().map(|p| Coord { x: p[0], y: p[1] }).collect();
        self.facility = Some(Facility {
            polygon: Polygon::new(ls, vec![]),
            ring: Polyline::new(ring),
            centre,
        });
        self.breakout_facility = Some(fac.id.clone());
        let shell_t = t0 + b.shelling_at_min * 60.0;
        let shell = self
            .frame
            .to_local(LonLat::new(b.shelling_point[0], b.shelling_point[1]));
        for i in 0..self.sensors.len() {
            if dist(self.sensors[i].xy, shell) <= b.shelling_radius_m {
                self.down(i, shell_t, end);
            }
        }
        let gates: Vec<Xy> = fac
            .gates
            .iter()
            .map(|g| self.frame.to_local(LonLat::new(g[0], g[1])))
            .collect();
        if gates.is_empty() {
            return Err(SimError::Config {
                field: "breakout.facility",
                message: "the facility has no gates to force".into(),
            });
        }
        // Guards drive out of the first gate towards the nearest road.
        let leave = shell_t + b.guards_leave_after_min * 60.0;
        for k in 0..2 {
            let g = gates[0];
            let out = outward(centre, g);
            let id = self.next_id();
            let mut a = walk(
                id,
                TruthRole::Guard,
                (leave + k as f64 * 40.0, end),
                toward(g, centre, 60.0),
                vec![g, [g[0] + out[0] * 4000.0, g[1] + out[1] * 4000.0]],
                8.0,
                None,
            );
            a.class = ObjectClass::Vehicle;
            a.heat_m2 = 7.0;
            self.actors.push(a);
        }
        // Escapees leave in waves through the forced gates, then scatter.
        let forced = shell_t + b.gates_forced_after_min * 60.0;
        let per_wave = (b.escapees as f64 / b.waves.max(1) as f64).ceil() as u32;
        let mut left = b.escapees;
        for w in 0..b.waves.max(1) {
            let n = per_wave.min(left);
            left -= n;
            let ws = forced + w as f64 * b.wave_spacing_min * 60.0;
            for _ in 0..n {
                let g = gates[rng.random_range(0..gates.len())];
                let out = outward(centre, g);
                let heading = out[0].atan2(out[1]) + rng.random_range(-1.2..1.2);
                let far = rng.random_range(3000.0..8000.0);
                let start = toward(g, centre, rng.random_range(30.0..50.0));
                let start = [
                    start[0] + rng.random_range(-10.0..10.0),
                    start[1] + rng.random_range(-10.0..10.0),
                ];
                let spread = [
                    g[0] + out[0] * 60.0 + rng.random_range(-30.0..30.0),
                    g[1] + out[1] * 60.0 + rng.random_range(-30.0..30.0),
                ];
                let dest = [
                    spread[0] + heading.sin() * far,
                    spread[1] + heading.cos() * far,
                ];
                let id = self.next_id();
                let from = ws + rng.random_range(0.0..b.wave_duration_min * 60.0);
                let speed = rng.random_range(1.0..1.5);
                self.actors.push(walk(
                    id,
                    TruthRole::Escapee,
                    (from, end),
                    start,
                    vec![g, spread, dest],
                    speed,
                    None,
                ));
            }
        }
        Ok(())
    }

    /// Steps every actor and flock, recording crossings, exits and the fence alarms they cause.
    pub fn step(
        &mut self,
        t: f64,
        dt: f64,
        rng: &mut ChaCha8Rng,
        fence: &mut dyn FnMut(FenceAlarm),
    ) {
        let frontier = self.frontier.as_ref().map(|(l, s)| (l, *s));
        for (k, f) in self.flocks.iter_mut().enumerate() {
            if !self.adv.steers_flock(k) {
                f.step(t, dt, frontier, 250.0, rng);
            }
        }
        self.adversarial_step(t, dt, rng, fence);
        let world = World {
            flocks: &self.flocks,
            roads: &self.roads,
            pauses: &self.pauses,
        };
        for (i, a) in self.actors.iter_mut().enumerate() {
            if !a.active(t) {
                continue;
            }
            a.step(t, dt, &world, rng);
            // Infiltrators, and herders who drive their flock across (they have a group).
            let crosser = a.role == TruthRole::Infiltrator
                || (a.role == TruthRole::Herder && a.group.is_some());
            if crosser && !self.crossed[i] {
                if let Some((line, out_sign)) = &self.frontier {
                    if let Some(n) = line.nearest(a.pos) {
                        if self.side[i] * out_sign > 0.0 && n.signed * out_sign < 0.0 {
                            self.crossed[i] = true;
                            let g = a.group.unwrap_or(0);
                            let first = !self.incidents.iter().any(|x| {
                                x.kind == IncidentKind::Infiltration
                                    && x.subject.as_deref() == Some(&format!("group-{g}"))
                            });
                            if first {
                                let ll = self.frame.to_lonlat(a.pos);
                                self.incidents.push(Incident {
                                    id: 0,
                                    kind: IncidentKind::Infiltration,
                                    time: Time(t),
                                    end: Time(t),
                                    pos: Position::LonLat {
                                        lon: ll.lon,
                                        lat: ll.lat,
                                    },
                                    count: self.group_sizes.get(g).copied().unwrap_or(1),
                                    subject: Some(format!("group-{g}")),
                                    scenario: self.adv.scenario_of(g),
                                });
                                // The first of the group cuts (or climbs) the fence.
                                if let Some(z) = self.zones.iter().min_by(|x, y| {
                                    dist(x.mid, a.pos).total_cmp(&dist(y.mid, a.pos))
                                }) {
                                    if dist(z.mid, a.pos) < 800.0
                                        && self.sensors[z.sensor].up(t)
                                        && rng.random::<f64>() < z.pd_cut
                                    {
                                        fence(FenceAlarm {
                                            sensor: self.sensors[z.sensor].id.clone(),
                                            zone: z.id.clone(),
                                            time: Time(t),
                                            alarm: if rng.random::<f64>() < 0.6 {
                                                FenceAlarmKind::Cut
                                            } else {
                                                FenceAlarmKind::Climb
                                            },
                                            line: z.line,
                                        });
                                    }
                                }
                            }
                        }
                        self.side[i] = n.signed;
                    }
                }
            }
            if a.role == TruthRole::Escapee && !self.exited[i] {
                if let Some(f) = &self.facility {
                    let inside = f.polygon.contains(&Point::new(a.pos[0], a.pos[1]));
                    if !inside && f.ring.nearest(a.pos).is_some_and(|n| n.distance > 25.0) {
                        self.exited[i] = true;
                        self.exits.push(t);
                    }
                }
            }
        }
    }

    /// Groups an observer may report: infiltrator groups (centroid, size) and herders.
    pub fn groups(&self, t: f64) -> Vec<(Xy, u32)> {
        let mut acc: std::collections::BTreeMap<usize, (Xy, u32)> = Default::default();
        let mut out = Vec::new();
        for a in self.actors.iter().filter(|a| a.active(t)) {
            match (a.role, a.group) {
                (TruthRole::Infiltrator, Some(g)) => {
                    let e = acc.entry(g).or_insert(([0.0, 0.0], 0));
                    e.0[0] += a.pos[0];
                    e.0[1] += a.pos[1];
                    e.1 += 1;
                }
                (TruthRole::Herder, _) => out.push((a.pos, 1)),
                _ => {}
            }
        }
        out.extend(
            acc.into_values()
                .map(|(s, n)| ([s[0] / n as f64, s[1] / n as f64], n)),
        );
        out
    }

    /// Whether any working camera covers `p` (in range, in its field, detection probability ≥ 0.1).
    pub fn visible(&self, p: Xy, t: f64) -> bool {
        self.sensors.iter().any(|s| {
            s.up(t)
                && match (&s.model, s.covers(p)) {
                    (SimModel::Camera(c), Some(r)) => c.pd(r) >= 0.1,
                    _ => false,
                }
        })
    }

    /// The incidents, the breakout summarised as one.
    pub fn finish(mut self) -> Vec<Incident> {
        if let (Some(id), Some(f)) = (&self.breakout_facility, &self.facility) {
            if let (Some(first), Some(last)) = (self.exits.first(), self.exits.last()) {
                let ll = self.frame.to_lonlat(f.centre);
                self.incidents.push(Incident {
                    id: 0,
                    kind: IncidentKind::Breakout,
                    time: Time(*first),
                    end: Time(*last),
                    pos: Position::LonLat {
                        lon: ll.lon,
                        lat: ll.lat,
                    },
                    count: self.exits.len() as u32,
                    subject: Some(id.clone()),
                    scenario: None,
                });
            }
        }
        self.incidents
    }
}

fn outward(centre: Xy, g: Xy) -> Xy {
    let d = [g[0] - centre[0], g[1] - centre[1]];
    let l = d[0].hypot(d[1]).max(1e-9);
    [d[0] / l, d[1] / l]
}

fn toward(g: Xy, centre: Xy, m: f64) -> Xy {
    let o = outward(centre, g);
    [g[0] - o[0] * m, g[1] - o[1] * m]
}
