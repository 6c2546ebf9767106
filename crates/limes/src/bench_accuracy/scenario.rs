//! The accuracy benchmark's scenarios: constant-velocity walkers and vehicles in a flat
//! 20 km × 5 km strip, one point-detection sensor scanning at 1 Hz, with births, deaths and
//! Poisson clutter. Deterministic from a seed (ChaCha8).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Poisson, StandardNormal};

/// Width and height of the strip, metres.
pub const AREA: [f64; 2] = [20_000.0, 5_000.0];

/// One scenario of the family.
#[derive(Clone, Debug)]
pub struct Spec {
    /// Short name.
    pub name: &'static str,
    /// Targets alive at the start, and the mean number alive (births balance deaths).
    pub targets: usize,
    /// Scans (one per second).
    pub scans: usize,
    /// Detection probability.
    pub pd: f64,
    /// Measurement error, 1 sigma per axis, metres.
    pub sigma: f64,
    /// Mean clutter detections per scan, uniform over the strip.
    pub clutter: f64,
    /// Mean lifetime of a target, seconds (exponential).
    pub life_s: f64,
    /// Targets walk in groups of this many (1: alone).
    pub group: (usize, usize),
    /// Groups are born in pairs heading for a common point, so they cross.
    pub crossing: bool,
    /// All births at one point (a camp's gate), radiating outward in groups.
    pub breakout: bool,
    /// Seed.
    pub seed: u64,
}

/// The benchmark family; `scale` multiplies the number of scans (1.0: the documented size,
/// chosen so that Stone Soup, whose hypothesisers compare every track with every detection in
/// Python, finishes the whole family in about half an hour on two cores); draw `seed` raises
/// every scenario's seed by 100 × `seed` (0: the documented draw).
pub fn family(scale: f64, seed: u64) -> Vec<Spec> {
    let n = |s: usize| ((s as f64 * scale).round() as usize).max(5);
    let base = Spec {
        name: "",
        targets: 50,
        scans: 300,
        pd: 0.9,
        sigma: 5.0,
        clutter: 20.0,
        life_s: 600.0,
        group: (1, 1),
        crossing: false,
        breakout: false,
        seed: 1,
    };
    let mut family = vec![
        Spec {
            name: "t50",
            scans: n(120),
            ..base.clone()
        },
        Spec {
            name: "t200",
            targets: 200,
            scans: n(30),
            clutter: 100.0,
            seed: 2,
            ..base.clone()
        },
        Spec {
            name: "t1000",
            targets: 1000,
            scans: n(6),
            clutter: 500.0,
            seed: 3,
            ..base.clone()
        },
        Spec {
            name: "breakout",
            targets: 200,
            scans: n(40),
            clutter: 100.0,
            group: (5, 20),
            breakout: true,
            seed: 4,
            ..base.clone()
        },
        Spec {
            name: "hard",
            targets: 200,
            scans: n(6),
            pd: 0.7,
            clutter: 500.0,
            group: (2, 6),
            crossing: true,
            seed: 5,
            ..base
        },
    ];
    for s in &mut family {
        s.seed = s.seed.saturating_add(seed.saturating_mul(100));
    }
    family
}

/// One target.
struct Target {
    id: u64,
    x: [f64; 4],
    death: f64,
}

/// What a scenario produced: per scan, the truth and the detections.
pub struct Scenario {
    /// Truth per scan: `(id, x, y)`.
    pub truth: Vec<Vec<(u64, f64, f64)>>,
    /// Detections per scan: `(x, y, s)`, `s` seconds after the scan's start (0 unless the
    /// sensor stamps each detection as its beam passes).
    pub detections: Vec<Vec<(f64, f64, f64)>>,
}

/// Share of a scan over which a rotating sensor's beam passes the strip (the rest of the turn
/// looks elsewhere).
const BEAM_SWEEP: f64 = 0.9;

/// When the beam of a sensor turning once a second at the strip's centre passes `p`, seconds
/// after the start of the turn.
fn beam_offset(p: [f64; 2]) -> f64 {
    let az = (p[1] - AREA[1] / 2.0).atan2(p[0] - AREA[0] / 2.0);
    BEAM_SWEEP * (az + std::f64::consts::PI) / std::f64::consts::TAU
}

/// Process noise of the targets (white-noise acceleration), m²/s³.
pub const Q: f64 = 0.05;

/// Generates a scenario. With `beam`, the sensor turns once a scan and stamps each
/// detection with the instant its beam passed it (a target's detection is where the target
/// was then); otherwise every detection of a scan has its start time. The draw is the same.
pub fn generate(s: &Spec, beam: bool) -> Scenario {
    let mut rng = ChaCha8Rng::seed_from_u64(s.seed);
    let unit = |rng: &mut ChaCha8Rng| -> f64 { rng.sample(StandardNormal) };
    let mut live: Vec<Target> = Vec::new();
    let mut next_id = 1u64;
    let birth_rate = s.targets as f64 / s.life_s;
    let centre = [AREA[0] / 2.0, AREA[1] / 2.0];
    let mut out = Scenario {
        truth: Vec::with_capacity(s.scans),
        detections: Vec::with_capacity(s.scans),
    };
    // Births: groups of walkers (15 % vehicles when alone).
    let mut spawn = |live: &mut Vec<Target>, t: f64, rng: &mut ChaCha8Rng, count: usize| {
        let mut made = 0;
        while made < count {
            let size = rng
                .random_range(s.group.0..=s.group.1)
                .min(count - made)
                .max(1);
            let vehicle = s.group.1 == 1 && rng.random::<f64>() < 0.15;
            let speed = if vehicle {
                rng.random_range(5.0..15.0)
            } else {
                rng.random_range(1.0..1.6)
            };
            let heading = rng.random_range(0.0..std::f64::consts::TAU);
            let v = [speed * heading.cos(), speed * heading.sin()];
            let start = if s.breakout {
                centre
            } else {
                [
                    rng.random_range(0.0..AREA[0]),
                    rng.random_range(0.0..AREA[1]),
                ]
            };
            // Crossing pairs: a second group starts where the first will be in 60–120 s,
            // heading back along its path, so the two meet and pass through each other.
            let mut starts = vec![(start, v)];
            if s.crossing && size > 1 {
                let meet = rng.random_range(30.0..60.0);
                let p = [start[0] + 2.0 * meet * v[0], start[1] + 2.0 * meet * v[1]];
                starts.push((p, [-v[0], -v[1]]));
            }
            for (p, v) in starts {
                let life = -s.life_s * rng.random::<f64>().max(1e-12).ln();
                for _ in 0..size {
                    let off = [rng.random_range(-6.0..6.0), rng.random_range(-6.0..6.0)];
                    live.push(Target {
                        id: next_id,
                        x: [p[0] + off[0], p[1] + off[1], v[0], v[1]],
                        death: t + life,
                    });
                    next_id += 1;
                    made += 1;
                }
            }
        }
    };
    if !s.breakout {
        spawn(&mut live, 0.0, &mut rng, s.targets);
    }
    let poisson =
        |m: f64, rng: &mut ChaCha8Rng| Poisson::new(m).map_or(0, |p| p.sample(rng) as usize);
    for k in 0..s.scans {
        let t = k as f64;
        if k > 0 {
            // Move: constant velocity with white-noise acceleration.
            for tg in &mut live {
                let a = [Q.sqrt() * unit(&mut rng), Q.sqrt() * unit(&mut rng)];
                tg.x[0] += tg.x[2] + 0.5 * a[0];
                tg.x[1] += tg.x[3] + 0.5 * a[1];
                tg.x[2] += a[0];
                tg.x[3] += a[1];
            }
        }
        live.retain(|tg| {
            tg.death > t && (0.0..=AREA[0]).contains(&tg.x[0]) && (0.0..=AREA[1]).contains(&tg.x[1])
        });
        let births = if s.breakout {
            // The crowd leaves through the gate during the first 60 % of the run.
            if (k as f64) < 0.6 * s.scans as f64 {
                poisson(s.targets as f64 / (0.6 * s.scans as f64), &mut rng)
            } else {
                0
            }
        } else {
            poisson(birth_rate, &mut rng)
        };
        if births > 0 {
            spawn(&mut live, t, &mut rng, births);
        }
        out.truth
            .push(live.iter().map(|tg| (tg.id, tg.x[0], tg.x[1])).collect());
        let mut dets = Vec::new();
        for tg in &live {
            if rng.random::<f64>() < s.pd {
                let dt = if beam {
                    beam_offset([tg.x[0], tg.x[1]])
                } else {
                    0.0
                };
                dets.push((
                    tg.x[0] + dt * tg.x[2] + s.sigma * unit(&mut rng),
                    tg.x[1] + dt * tg.x[3] + s.sigma * unit(&mut rng),
                    dt,
                ));
            }
        }
        for _ in 0..poisson(s.clutter, &mut rng) {
            let p = [
                rng.random_range(0.0..AREA[0]),
                rng.random_range(0.0..AREA[1]),
            ];
            dets.push((p[0], p[1], if beam { beam_offset(p) } else { 0.0 }));
        }
        // Sensors do not report in object order (a turning one in the order its beam passes).
        for i in (1..dets.len()).rev() {
            dets.swap(i, rng.random_range(0..=i));
        }
        if beam {
            dets.sort_by(|a, b| a.2.total_cmp(&b.2));
        }
        out.detections.push(dets);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A turning sensor's scenario is the same draw: the same truth, and each detection the
    /// scan-stamped one moved along its target's velocity to the instant the beam passed,
    /// stamped within the first 90 % of the turn and in the order the beam passes.
    #[test]
    fn a_beam_stamped_draw_is_the_scan_stamped_one_spread_over_each_turn() {
        let spec = family(0.5, 0)
            .into_iter()
            .find(|s| s.name == "t50")
            .expect("t50");
        let (scan, beam) = (generate(&spec, false), generate(&spec, true));
        assert_eq!(scan.truth, beam.truth);
        let mut spread = 0.0f64;
        for (a, b) in scan.detections.iter().zip(&beam.detections) {
            assert_eq!(a.len(), b.len());
            assert!(a.iter().all(|d| d.2 == 0.0));
            assert!(b.windows(2).all(|w| w[0].2 <= w[1].2), "in beam order");
            for d in b {
                assert!((0.0..=BEAM_SWEEP).contains(&d.2));
                spread = spread.max(d.2);
                // Targets start at 15 m/s or less and their speed drifts a few m/s: each
                // detection is within 0.9 s of travel of its scan-stamped twin.
                let near = a
                    .iter()
                    .any(|e| (e.0 - d.0).hypot(e.1 - d.1) <= 30.0 * BEAM_SWEEP);
                assert!(near, "a detection far from every scan-stamped one");
            }
        }
        assert!(
            spread > 0.8,
            "stamps spread over the turn (latest {spread:.2} s)"
        );
    }
}
