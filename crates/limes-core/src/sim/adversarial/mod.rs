//! Adversarial scenarios: nights built to fool the system, each a named scenario with ground
//! truth (`[scenario.adversarial]`). Every staged group is an infiltrator group whose incident
//! carries the scenario's name, so the evaluator scores each kind on its own.
//!
//! * `camera_offline`: the camera nearest the crossing point is down from 10–20 min before the
//!   crossing until 20–40 min after it; fence and neighbouring towers must carry it.
//! * `decoy`: a herd is pushed against the line (fence alarms: vibration and the odd climb) while
//!   a group crosses two sectors away within ten minutes of the herd's arrival.
//! * `crawl`: people walk from 2–3 km out to 0.6–1 km of the line, then crawl (0.2–0.4 m/s, heat 0.25–0.4 m²,
//!   cameras see them 40 % less often) until 350–500 m inside, then walk on.
//! * `sprint`: people walk to 0.5–0.8 km of the line and run (3–4 m/s) to 1.5–2.5 km inside.
//! * `vehicle_run`: one vehicle drives across the line at 12–20 m/s, ≥ 10 km from any crossing.
//! * `crossing_edge`: a group crosses 3–15 % outside an authorised crossing point's radius.
//! * `probing`: one or two people walk to 30–60 m of the line, stop, cut the fence, walk back
//!   (the incident kind is `probing`: nobody crosses, yet it must alert).
//! * `saturation`: five groups cross in five different sectors, ≥ 20 km apart, within ten minutes.
//!
//! The crossings under a flock's cover (`herder_crossings`, `flock_infiltrations`, staged in
//! `sim/scenario/cover.rs`) carry the names `herder_drive` and `inside_flock`.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;

mod night;

use super::scenario::{walk, SimWorld};
use super::sensors::SimModel;
use crate::geo::{dist, LonLat, Side, Xy};
use crate::record::{ObjectClass, TruthRole};
use crate::site::{AdversarialConfig, Site};

/// A speed (and look) that applies while an actor is within a band around the line.
#[derive(Clone, Debug)]
struct Band {
    actor: usize,
    /// From this far outside the line, metres.
    from_out: f64,
    /// ... to this far inside it.
    to_in: f64,
    /// Speed, heat and detection-probability factor within the band.
    inside: (f64, f64, f64),
    /// ... and outside it.
    outside: (f64, f64, f64),
}

/// A herd pushed against the line.
#[derive(Clone, Debug)]
struct Push {
    /// Where on the line (chainage) it is pushed.
    chainage: f64,
    /// Centre stops this far outside the line, metres.
    hold_m: f64,
    /// Time it reaches the line and time it is driven back.
    arrive: f64,
    leave: f64,
}

/// A probe: a cut at a time and place, by a group that never crosses.
#[derive(Clone, Debug)]
struct Probe {
    group: usize,
    at: f64,
    place: Xy,
    done: bool,
}

/// What the adversarial scenarios need while the night runs.
#[derive(Clone, Debug, Default)]
pub struct Adversary {
    scenario_of_group: BTreeMap<usize, &'static str>,
    pushes: BTreeMap<usize, Push>,
    bands: Vec<Band>,
    probes: Vec<Probe>,
    /// Detection-probability factor per actor (empty: every actor 1).
    pub pd_scale: Vec<f64>,
}

impl Adversary {
    /// The scenario that staged group `g`, if any.
    pub fn scenario_of(&self, g: usize) -> Option<String> {
        self.scenario_of_group.get(&g).map(|s| s.to_string())
    }

    /// Names the scenario that staged group `g` (for groups staged outside this module).
    pub(crate) fn label(&mut self, g: usize, scenario: &'static str) {
        self.scenario_of_group.insert(g, scenario);
    }

    /// True when the scenario, not the usual drift, moves flock `k`.
    pub fn steers_flock(&self, k: usize) -> bool {
        self.pushes.contains_key(&k)
    }
}

/// One group to stage: where it crosses, when, how.
struct Plan {
    scenario: &'static str,
    chainage: f64,
    t_cross: f64,
    size: u32,
    speed: f64,
    out_m: f64,
    in_m: f64,
    class: ObjectClass,
    heat: f64,
}

impl SimWorld {
    /// Stages the adversarial scenarios of `cfg` (nothing, and no random draws, when all are 0).
    pub(super) fn add_adversarial(
        &mut self,
        site: &Site,
        cfg: &AdversarialConfig,
        t0: f64,
        end: f64,
        rng: &mut ChaCha8Rng,
    ) {
        let Some((line, out_sign)) = self.frontier.clone() else {
            return;
        };
        let len = line.length();
        if len < 60_000.0 {
            return;
        }
        let crossings: Vec<(Xy, f64)> = site
            .crossings
            .iter()
            .map(|c| (self.frame.to_local(LonLat::new(c.lon, c.lat)), c.radius_m))
            .collect();
        let sector = site
            .frontier
            .as_ref()
            .map_or(10_000.0, |f| f.sector_km * 1000.0);
        let outside = if out_sign > 0.0 {
            Side::Left
        } else {
            Side::Right
        };
        let clear = |c: f64| {
            let p = line.at(c).0;
            crossings.iter().all(|(q, _)| dist(*q, p) > 10_000.0)
        };
        let pick = |rng: &mut ChaCha8Rng| loop {
            let c = rng.random_range(10_000.0..len - 10_000.0);
            if clear(c) {
                break c;
            }
        };
        // Crossing times: away from the ends of the night so the whole run is inside it.
        let when = |rng: &mut ChaCha8Rng| {
            let d = end - t0;
            let lo = t0 + (0.4 * d).min(5400.0);
            let hi = (end - (0.25 * d).min(3600.0)).max(lo + 1.0);
            rng.random_range(lo..hi)
        };
        let walker = |scenario, chainage, t_cross, rng: &mut ChaCha8Rng| Plan {
            scenario,
            chainage,
            t_cross,
            size: rng.random_range(2..=6),
            speed: rng.random_range(1.0..1.5),
            out_m: rng.random_range(3000.0..5000.0),
            in_m: rng.random_range(5000.0..9000.0),
            class: ObjectClass::Person,
            heat: 0.7,
        };
        for _ in 0..cfg.camera_offline {
            let (c, t) = (pick(rng), when(rng));
            let plan = walker("camera_offline", c, t, rng);
            self.stage(&plan, t0, rng);
            let x = line.at(c).0;
            let cam = (0..self.sensors.len())
                .filter(|&i| matches!(self.sensors[i].model, SimModel::Camera(_)))
                .min_by(|&a, &b| {
                    dist(self.sensors[a].xy, x).total_cmp(&dist(self.sensors[b].xy, x))
                });
            if let Some(i) = cam {
                let a = t - rng.random_range(600.0..1200.0);
                let b = t + rng.random_range(1200.0..2400.0);
                self.down(i, a.max(t0), b.min(end));
            }
        }
        for _ in 0..cfg.decoy {
            let t = when(rng);
            let (cd, cg) = loop {
                let cd = pick(rng);
                let cg = cd + 2.0 * sector * if rng.random::<bool>() { 1.0 } else { -1.0 };
                if cg > 10_000.0 && cg < len - 10_000.0 && clear(cg) {
                    break (cd, cg);
                }
            };
            self.push_herd(cd, t - rng.random_range(0.0..600.0), t0, end, outside, rng);
            let plan = walker("decoy", cg, t, rng);
            self.stage(&plan, t0, rng);
        }
        for _ in 0..cfg.crawl {
            let (c, t) = (pick(rng), when(rng));
            let walk_v = rng.random_range(1.0..1.4);
            let crawl_v = rng.random_range(0.2..0.4);
            let from_out = rng.random_range(600.0..1000.0);
            let to_in = rng.random_range(350.0..500.0);
            let mut plan = walker("crawl", c, t, rng);
            plan.size = rng.random_range(1..=3);
            plan.speed = walk_v;
            plan.out_m = rng.random_range(2000.0..3000.0);
            // Walk to the band, crawl to the line: the crossing is at `t`.
            let lead = (plan.out_m - from_out) / walk_v + from_out / crawl_v;
            plan.t_cross = t.max(t0 + lead + 60.0);
            let heat = rng.random_range(0.25..0.4);
            let members = self.stage_timed(&plan, t0, lead, rng);
            for a in members {
                self.adv.bands.push(Band {
                    actor: a,
                    from_out,
                    to_in,
                    inside: (crawl_v, heat, 0.6),
                    outside: (walk_v, 0.7, 1.0),
                });
            }
        }
        for _ in 0..cfg.sprint {
            let (c, t) = (pick(rng), when(rng));
            let walk_v = rng.random_range(1.0..1.4);
            let run_v = rng.random_range(3.0..4.0);
            let from_out = rng.random_range(500.0..800.0);
            let to_in = rng.random_range(1500.0..2500.0);
            let mut plan = walker("sprint", c, t, rng);
            plan.size = rng.random_range(1..=4);
            plan.speed = walk_v;
            let lead = (plan.out_m - from_out) / walk_v + from_out / run_v;
            plan.t_cross = t.max(t0 + lead + 60.0);
            let members = self.stage_timed(&plan, t0, lead, rng);
            for a in members {
                self.adv.bands.push(Band {
                    actor: a,
                    from_out,
                    to_in,
                    inside: (run_v, 0.8, 1.0),
                    outside: (walk_v, 0.7, 1.0),
                });
            }
        }
        for _ in 0..cfg.vehicle_run {
            let (c, t) = (pick(rng), when(rng));
            let plan = Plan {
                scenario: "vehicle_run",
                chainage: c,
                t_cross: t,
                size: 1,
                speed: rng.random_range(12.0..20.0),
                out_m: rng.random_range(5000.0..8000.0),
                in_m: rng.random_range(8000.0..12_000.0),
                class: ObjectClass::Vehicle,
                heat: rng.random_range(6.0..8.0),
            };
            self.stage(&plan, t0, rng);
        }
        for _ in 0..cfg.crossing_edge {
            let t = when(rng);
            let Some(c) = edge_chainage(&line, &crossings, rng) else {
                continue;
            };
            let plan = walker("crossing_edge", c, t, rng);
            self.stage(&plan, t0, rng);
        }
        for _ in 0..cfg.probing {
            let (c, t) = (pick(rng), when(rng));
            self.probe(c, t, t0, end, outside, rng);
        }
        for _ in 0..cfg.saturation {
            let t = when(rng);
            let mut used: Vec<f64> = Vec::new();
            while used.len() < 5 {
                let c = pick(rng);
                let apart = used.iter().all(|u| {
                    (u - c).abs() >= 20_000.0 && (u / sector).floor() != (c / sector).floor()
                });
                if apart {
                    used.push(c);
                }
            }
            for c in used {
                let tc = t + rng.random_range(0.0..600.0);
                let plan = walker("saturation", c, tc, rng);
                self.stage(&plan, t0, rng);
            }
        }
        if !self.adv.bands.is_empty() {
            self.adv.pd_scale = vec![1.0; self.actors.len()];
        }
    }

    /// Stages a group that walks straight across at `plan.speed` and crosses at `t_cross`.
    fn stage(&mut self, plan: &Plan, t0: f64, rng: &mut ChaCha8Rng) -> Vec<usize> {
        let lead = plan.out_m / plan.speed;
        self.stage_timed(plan, t0, lead, rng)
    }

    /// Stages a group that needs `lead` seconds from its start to the line.
    fn stage_timed(&mut self, plan: &Plan, t0: f64, lead: f64, rng: &mut ChaCha8Rng) -> Vec<usize> {
        let Some((line, out_sign)) = self.frontier.clone() else {
            return Vec::new();
        };
        let (outside, inside) = if out_sign > 0.0 {
            (Side::Left, Side::Right)
        } else {
            (Side::Right, Side::Left)
        };
        let a = line.offset_point(plan.chainage, plan.out_m, outside);
        let x = line.at(plan.chainage).0;
        let b = line.offset_point(plan.chainage, plan.in_m, inside);
        let g = self.pauses.len();
        self.pauses.push(Vec::new());
        self.group_sizes.push(plan.size);
        self.adv.scenario_of_group.insert(g, plan.scenario);
        let start_t = (plan.t_cross - lead).max(t0);
        let mut out = Vec::new();
        for m in 0..plan.size {
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
            let mut act = walk(
                id,
                TruthRole::Infiltrator,
                (from, f64::INFINITY),
                start,
                way,
                plan.speed,
                Some(g),
            );
            act.class = plan.class;
            act.heat_m2 = plan.heat;
            out.push(self.actors.len());
            self.actors.push(act);
        }
        out
    }
}

/// A chainage where the line passes 3–15 % outside a crossing point's radius.
fn edge_chainage(
    line: &crate::geo::Polyline,
    crossings: &[(Xy, f64)],
    rng: &mut ChaCha8Rng,
) -> Option<f64> {
    if crossings.is_empty() {
        return None;
    }
    for _ in 0..20 {
        let (cp, r) = crossings[rng.random_range(0..crossings.len())];
        let n = line.nearest(cp)?;
        let want = r * rng.random_range(1.03..1.15);
        let dir = if rng.random::<bool>() { 1.0 } else { -1.0 };
        // Walk along the line until the distance to the crossing point reaches `want`.
        let (mut lo, mut hi) = (0.0, 3.0 * want);
        if dist(line.at(n.chainage + dir * hi).0, cp) < want {
            continue;
        }
        for _ in 0..50 {
            let mid = 0.5 * (lo + hi);
            if dist(line.at(n.chainage + dir * mid).0, cp) < want {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        let c = n.chainage + dir * hi;
        if c > 1000.0 && c < line.length() - 1000.0 {
            return Some(c);
        }
    }
    None
}
