//! Crossings under a flock's cover: a herder who drives the flock across the frontier, and an
//! infiltrator group that walks across inside a flock at its pace (`[scenario]`
//! `herder_crossings`, `flock_infiltrations`). Both are infiltrations; the animals are not.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::collections::VecDeque;

use super::{Actor, Behaviour, Flock, ScenarioConfig, SimWorld};
use crate::geo::{dist, LonLat, Side, Xy};
use crate::record::{ObjectClass, TruthRole};
use crate::site::Site;

/// Speed of a driven flock, m/s.
const DRIVE_SPEED: f64 = 0.6;

impl SimWorld {
    pub(super) fn add_flock_crossings(
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
            Side::Right
        } else {
            Side::Left
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
        for k in 0..cfg.herder_crossings + cfg.flock_infiltrations {
            let herder = k < cfg.herder_crossings;
            let mut c = rng.random_range(10_000.0..len - 10_000.0);
            while near_crossing(line.at(c).0) {
                c = rng.random_range(10_000.0..len - 10_000.0);
            }
            let a = line.offset_point(c, rng.random_range(1200.0..2000.0), outside);
            let x = line.at(c).0;
            let b = line.offset_point(
                c + rng.random_range(-500.0..500.0),
                rng.random_range(1200.0..2000.0),
                inside,
            );
            let start = t0 + rng.random_range(0.0..(dur * 0.25).max(1.0));
            let f = self.flocks.len();
            self.flocks.push(Flock {
                centre: a,
                heading: 0.0,
                radius: rng.random_range(40.0..70.0),
                route: VecDeque::from(vec![x, b]),
                drive: (DRIVE_SPEED, start),
            });
            for _ in 0..cfg.flock_size {
                let id = self.next_id();
                self.actors.push(Actor {
                    id,
                    class: ObjectClass::Animal,
                    role: TruthRole::Flock,
                    pos: a,
                    from: t0,
                    to: end,
                    heat_m2: rng.random_range(0.25..0.45),
                    behaviour: Behaviour::Graze {
                        flock: f,
                        offset: [rng.random_range(-40.0..40.0), rng.random_range(-40.0..40.0)],
                    },
                    group: None,
                    done: false,
                });
            }
            // The people: one herder, or a group of two to five infiltrators, among the animals.
            let g = self.pauses.len();
            let (role, n) = if herder {
                (TruthRole::Herder, 1)
            } else {
                (TruthRole::Infiltrator, rng.random_range(2..=5u32))
            };
            self.pauses.push(Vec::new());
            self.group_sizes.push(n);
            self.adv.label(
                g,
                if herder {
                    "herder_drive"
                } else {
                    "inside_flock"
                },
            );
            for _ in 0..n {
                let id = self.next_id();
                self.actors.push(Actor {
                    id,
                    class: ObjectClass::Person,
                    role,
                    pos: a,
                    from: t0,
                    to: end,
                    heat_m2: 0.7,
                    behaviour: Behaviour::Graze {
                        flock: f,
                        offset: [rng.random_range(-30.0..30.0), rng.random_range(-30.0..30.0)],
                    },
                    group: Some(g),
                    done: false,
                });
            }
        }
    }
}
