//! The adversarial scenarios while the night runs: herds driven against the line, probes that
//! stop at the fence and cut it, crawlers' and runners' pace, and the fence alarms they cause.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Poisson};

use super::{Probe, Push};
use crate::geo::{dist, Side, Xy};
use crate::record::{
    FenceAlarm, FenceAlarmKind, Incident, IncidentKind, ObjectClass, Position, Time, TruthRole,
};
use crate::sim::actors::{Actor, Behaviour, Flock};
use crate::sim::scenario::{walk, SimWorld};

impl SimWorld {
    /// A herd (and its herder) driven against the line at `chainage`, arriving at `arrive`.
    pub(in crate::sim) fn push_herd(
        &mut self,
        chainage: f64,
        arrive: f64,
        t0: f64,
        end: f64,
        outside: Side,
        rng: &mut ChaCha8Rng,
    ) {
        let Some((line, _)) = self.frontier.clone() else {
            return;
        };
        let radius = rng.random_range(40.0..70.0);
        let hold_m = radius + 25.0;
        // Start where a 0.25 m/s drive reaches the line at `arrive`.
        let start_off = (hold_m + 0.25 * (arrive - t0)).min(2000.0);
        let f = self.flocks.len();
        self.flocks.push(Flock {
            centre: line.offset_point(chainage, start_off, outside),
            heading: 0.0,
            radius,
            route: Default::default(),
            drive: (0.0, 0.0),
        });
        self.adv.pushes.insert(
            f,
            Push {
                chainage,
                hold_m,
                arrive,
                leave: (arrive + rng.random_range(1200.0..3600.0)).min(end),
            },
        );
        for k in 0..26 {
            let herder = k == 25;
            let id = self.next_id();
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
                pos: self.flocks[f].centre,
                from: t0,
                to: end,
                heat_m2: if herder {
                    0.7
                } else {
                    rng.random_range(0.25..0.45)
                },
                behaviour: Behaviour::Graze {
                    flock: f,
                    offset: [rng.random_range(-30.0..30.0), rng.random_range(-30.0..30.0)],
                },
                group: None,
                done: false,
            });
        }
    }

    /// One or two people who walk to the line, cut the fence and walk back.
    pub(in crate::sim) fn probe(
        &mut self,
        chainage: f64,
        t_cut: f64,
        t0: f64,
        end: f64,
        outside: Side,
        rng: &mut ChaCha8Rng,
    ) {
        let Some((line, _)) = self.frontier.clone() else {
            return;
        };
        let speed = rng.random_range(1.0..1.4);
        let out_m = rng.random_range(3000.0..4000.0);
        let stop_m = rng.random_range(30.0..60.0);
        let a = line.offset_point(chainage, out_m, outside);
        let p = line.offset_point(chainage, stop_m, outside);
        let arrive = (t_cut - 30.0).max(t0 + (out_m - stop_m) / speed);
        let start_t = arrive - (out_m - stop_m) / speed;
        let stay = rng.random_range(120.0..300.0);
        let g = self.pauses.len();
        self.pauses.push(vec![(arrive, (arrive + stay).min(end))]);
        let size = rng.random_range(1..=2);
        self.group_sizes.push(size);
        self.adv.scenario_of_group.insert(g, "probing");
        for m in 0..size {
            let id = self.next_id();
            let jitter = [rng.random_range(-5.0..5.0), rng.random_range(-5.0..5.0)];
            let start = [a[0] + jitter[0], a[1] + jitter[1]];
            // The group stops on the pause schedule, wherever each member is; then back out.
            let way = vec![[p[0] + jitter[0], p[1] + jitter[1]], a];
            let from = start_t + m as f64 * rng.random_range(3.0..6.0);
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
        self.adv.probes.push(Probe {
            group: g,
            at: arrive + 30.0,
            place: p,
            done: false,
        });
    }

    /// Moves pushed herds, sets crawlers' and runners' pace, and raises the fence alarms the
    /// scenarios cause (herd against the fence, probes' cuts).
    pub(in crate::sim) fn adversarial_step(
        &mut self,
        t: f64,
        dt: f64,
        rng: &mut ChaCha8Rng,
        fence: &mut dyn FnMut(FenceAlarm),
    ) {
        let Some((line, out_sign)) = self.frontier.clone() else {
            return;
        };
        let outside = if out_sign > 0.0 {
            Side::Left
        } else {
            Side::Right
        };
        let pushes: Vec<(usize, Push)> = self
            .adv
            .pushes
            .iter()
            .map(|(k, p)| (*k, p.clone()))
            .collect();
        for (k, p) in pushes {
            let c = self.flocks[k].centre;
            let off = line.nearest(c).map_or(0.0, |n| n.signed * out_sign);
            // Driven in at 0.25 m/s until held against the line, then back out to 600 m.
            let target = if t < p.leave { p.hold_m } else { 600.0 };
            let step = 0.25 * dt;
            let next = if (off - target).abs() <= step {
                target
            } else if off > target {
                off - step
            } else {
                off + step
            };
            self.flocks[k].centre = line.offset_point(p.chainage, next, outside);
            if t >= p.arrive.min(p.leave) && t < p.leave && next <= p.hold_m + 15.0 {
                // The animals shake the fence: mostly vibration, now and then a "climb".
                let vib = Poisson::new(2.0 / 60.0 * dt).map_or(0.0, |d| d.sample(rng)) as u32;
                let climb = Poisson::new(dt / 600.0).map_or(0.0, |d| d.sample(rng)) as u32;
                let near = line.at(p.chainage).0;
                for kind in std::iter::repeat_n(FenceAlarmKind::Vibration, vib as usize)
                    .chain(std::iter::repeat_n(FenceAlarmKind::Climb, climb as usize))
                {
                    let jitter = [rng.random_range(-80.0..80.0), rng.random_range(-80.0..80.0)];
                    let q = [near[0] + jitter[0], near[1] + jitter[1]];
                    self.fence_alarm_near(q, t, kind, Some("decoy"), fence);
                }
            }
        }
        if !self.adv.bands.is_empty() {
            let inward = -out_sign;
            for b in &self.adv.bands {
                let a = &mut self.actors[b.actor];
                let s = line
                    .nearest(a.pos)
                    .map_or(f64::NEG_INFINITY, |n| n.signed * inward);
                let (v, heat, scale) = if s >= -b.from_out && s <= b.to_in {
                    b.inside
                } else {
                    b.outside
                };
                if let Behaviour::Route { speed, .. } = &mut a.behaviour {
                    *speed = v;
                }
                a.heat_m2 = heat;
                if let Some(x) = self.adv.pd_scale.get_mut(b.actor) {
                    *x = scale;
                }
            }
        }
        for k in 0..self.adv.probes.len() {
            let p = self.adv.probes[k].clone();
            if p.done || t < p.at {
                continue;
            }
            self.adv.probes[k].done = true;
            let size = self.group_sizes.get(p.group).copied().unwrap_or(1);
            let ll = self.frame.to_lonlat(p.place);
            self.incidents.push(Incident {
                id: 0,
                kind: IncidentKind::Probing,
                time: Time(t),
                end: Time(t),
                pos: Position::LonLat {
                    lon: ll.lon,
                    lat: ll.lat,
                },
                count: size,
                subject: Some(format!("group-{}", p.group)),
                scenario: Some("probing".into()),
            });
            let pd = self
                .nearest_zone(p.place)
                .map_or(0.0, |z| self.zones[z].pd_cut);
            if rng.random::<f64>() < pd {
                self.fence_alarm_near(p.place, t, FenceAlarmKind::Cut, None, fence);
            }
        }
    }

    fn nearest_zone(&self, p: Xy) -> Option<usize> {
        (0..self.zones.len())
            .min_by(|&a, &b| dist(self.zones[a].mid, p).total_cmp(&dist(self.zones[b].mid, p)))
            .filter(|&z| dist(self.zones[z].mid, p) < 800.0)
    }

    /// A fence alarm at the zone nearest `p` (if its controller works); a nuisance one is also
    /// written to the truth as a `fence_nuisance` incident.
    fn fence_alarm_near(
        &mut self,
        p: Xy,
        t: f64,
        alarm: FenceAlarmKind,
        nuisance: Option<&str>,
        fence: &mut dyn FnMut(FenceAlarm),
    ) {
        let Some(z) = self.nearest_zone(p) else {
            return;
        };
        let z = &self.zones[z];
        if !self.sensors[z.sensor].up(t) {
            return;
        }
        let rec = FenceAlarm {
            sensor: self.sensors[z.sensor].id.clone(),
            zone: z.id.clone(),
            time: Time(t),
            alarm,
            line: z.line,
        };
        if let Some(scenario) = nuisance {
            self.incidents.push(Incident {
                id: 0,
                kind: IncidentKind::FenceNuisance,
                time: Time(t),
                end: Time(t),
                pos: Position::LonLat {
                    lon: (z.line[0][0] + z.line[1][0]) / 2.0,
                    lat: (z.line[0][1] + z.line[1][1]) / 2.0,
                },
                count: 0,
                subject: Some(format!("{}/{}", rec.sensor, rec.zone)),
                scenario: Some(scenario.into()),
            });
        }
        fence(rec);
    }
}
