//! Ground-truth actors and how they move.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::collections::VecDeque;

use crate::geo::{Polyline, Xy};
use crate::record::{ObjectClass, TruthRole};

/// How an actor moves.
#[derive(Clone, Debug)]
pub enum Behaviour {
    /// Walk (or drive) through waypoints at a speed, pausing when its group pauses.
    Route {
        /// Remaining waypoints.
        waypoints: VecDeque<Xy>,
        /// Speed, m/s.
        speed: f64,
        /// Index into the group pause schedules, if it pauses with a group.
        group: Option<usize>,
    },
    /// Graze around a flock centre that drifts.
    Graze {
        /// Index of the flock.
        flock: usize,
        /// Offset from the flock centre.
        offset: Xy,
    },
    /// Wander erratically.
    Wander {
        /// Current heading, radians.
        heading: f64,
        /// Current speed, m/s.
        speed: f64,
    },
    /// Drive along a road.
    Drive {
        /// Index of the road.
        road: usize,
        /// Chainage along it.
        s: f64,
        /// Signed speed along the road, m/s.
        v: f64,
        /// Chainage where it leaves the road.
        until: f64,
    },
}

/// One real object.
#[derive(Clone, Debug)]
pub struct Actor {
    /// Object identifier in the truth file.
    pub id: u64,
    /// True class.
    pub class: ObjectClass,
    /// Role in the scenario.
    pub role: TruthRole,
    /// Position in the simulation frame.
    pub pos: Xy,
    /// Active (present in the world) from this time.
    pub from: f64,
    /// ... until this time.
    pub to: f64,
    /// True heat-signature area, m².
    pub heat_m2: f64,
    /// Movement.
    pub behaviour: Behaviour,
    /// Infiltrator group or escape wave this actor belongs to.
    pub group: Option<usize>,
    /// True once it has finished its route.
    pub done: bool,
}

/// A flock's drifting centre, kept outside the frontier.
#[derive(Clone, Debug)]
pub struct Flock {
    /// Centre in the simulation frame.
    pub centre: Xy,
    /// Drift heading, radians.
    pub heading: f64,
    /// Spread of the animals around the centre, metres.
    pub radius: f64,
    /// A driven flock: waypoints its centre is driven through (across the frontier too),
    /// from `drive.1` on at `drive.0` m/s; empty for a grazing flock.
    pub route: VecDeque<Xy>,
    /// Driving speed (m/s) and start time of a driven flock.
    pub drive: (f64, f64),
}

/// Shared state the movement rules need.
pub struct World<'a> {
    /// Flocks.
    pub flocks: &'a [Flock],
    /// Roads.
    pub roads: &'a [Polyline],
    /// Pause windows per group, `(start, end)` times.
    pub pauses: &'a [Vec<(f64, f64)>],
}

impl Actor {
    /// True when the actor is in the world at time `t`.
    pub fn active(&self, t: f64) -> bool {
        t >= self.from && t < self.to && !self.done
    }

    /// Moves the actor by one step of `dt` seconds ending at `t`.
    pub fn step(&mut self, t: f64, dt: f64, world: &World, rng: &mut ChaCha8Rng) {
        match &mut self.behaviour {
            Behaviour::Route {
                waypoints,
                speed,
                group,
            } => {
                if let Some(g) = group {
                    if world.pauses[*g].iter().any(|&(a, b)| t >= a && t < b) {
                        return;
                    }
                }
                let mut budget = *speed * dt;
                while budget > 0.0 {
                    let Some(&w) = waypoints.front() else {
                        self.done = true;
                        return;
                    };
                    let d = [w[0] - self.pos[0], w[1] - self.pos[1]];
                    let len = d[0].hypot(d[1]);
                    if len <= budget {
                        self.pos = w;
                        budget -= len;
                        waypoints.pop_front();
                    } else {
                        self.pos[0] += d[0] / len * budget;
                        self.pos[1] += d[1] / len * budget;
                        budget = 0.0;
                    }
                }
                // A little lateral sway.
                self.pos[0] += rng.random_range(-0.15..0.15);
                self.pos[1] += rng.random_range(-0.15..0.15);
            }
            Behaviour::Graze { flock, offset } => {
                let f = &world.flocks[*flock];
                offset[0] += rng.random_range(-0.4..0.4) * dt;
                offset[1] += rng.random_range(-0.4..0.4) * dt;
                let r = offset[0].hypot(offset[1]);
                if r > f.radius {
                    offset[0] *= f.radius / r;
                    offset[1] *= f.radius / r;
                }
                self.pos = [f.centre[0] + offset[0], f.centre[1] + offset[1]];
            }
            Behaviour::Wander { heading, speed } => {
                *heading += rng.random_range(-0.6..0.6) * dt;
                if rng.random::<f64>() < 0.02 * dt {
                    *speed = rng.random_range(0.0..1.2);
                }
                self.pos[0] += heading.sin() * *speed * dt;
                self.pos[1] += heading.cos() * *speed * dt;
            }
            Behaviour::Drive { road, s, v, until } => {
                *s += *v * dt;
                let road = &world.roads[*road];
                if (*v > 0.0 && *s >= *until)
                    || (*v < 0.0 && *s <= *until)
                    || *s < 0.0
                    || *s > road.length()
                {
                    self.done = true;
                    return;
                }
                self.pos = road.at(*s).0;
            }
        }
    }
}

impl Flock {
    /// Drifts the centre, steering away from the frontier when closer than `keep_out` metres.
    pub fn step(
        &mut self,
        t: f64,
        dt: f64,
        frontier: Option<(&Polyline, f64)>,
        keep_out: f64,
        rng: &mut ChaCha8Rng,
    ) {
        if self.drive.0 > 0.0 {
            // Driven: through the waypoints once it is time, then it stays where it ends.
            if t < self.drive.1 {
                return;
            }
            let Some(&w) = self.route.front() else { return };
            let d = [w[0] - self.centre[0], w[1] - self.centre[1]];
            let len = d[0].hypot(d[1]);
            let step = self.drive.0 * dt;
            if len <= step {
                self.centre = w;
                self.route.pop_front();
            } else {
                self.centre[0] += d[0] / len * step;
                self.centre[1] += d[1] / len * step;
            }
            return;
        }
        self.heading += rng.random_range(-0.05..0.05) * dt;
        let speed = 0.25;
        let next = [
            self.centre[0] + self.heading.sin() * speed * dt,
            self.centre[1] + self.heading.cos() * speed * dt,
        ];
        if let Some((line, outward)) = frontier {
            if let Some(n) = line.nearest(next) {
                // `outward` is the sign of the signed distance on the outside.
                if n.signed * outward < keep_out {
                    self.heading += std::f64::consts::PI;
                    return;
                }
            }
        }
        self.centre = next;
    }
}
