//! Class fusion: person / vehicle / animal evidence from sensors, speed, heat size and company.

/// Accumulated log-probabilities of person, vehicle, animal from the track's own evidence
/// (sensor guesses, heat, speed), and apart from it the evidence of its company.
///
/// A herder is a person walking with animals: company says "flock" but must never override
/// what the track's own detections say. So company evidence counts only while the track's own
/// evidence does not favour a person over an animal.
#[derive(Clone, Copy, Debug)]
pub struct ClassBelief {
    log: [f64; 3],
    /// Log-odds added to "animal" by slow company (≥ 0).
    company: f64,
    /// The track's own heat signature: the mean and variance of the log of its object's
    /// apparent heat area, and how many detections with a heat size it has had.
    signature: (f64, f64, u32),
}

impl Default for ClassBelief {
    fn default() -> Self {
        Self {
            log: [(1.0f64 / 3.0).ln(); 3],
            company: 0.0,
            signature: (0.0, f64::INFINITY, 0),
        }
    }
}

/// Detections with a heat size a track needs before its own signature, rather than its class,
/// says which heat fits it.
const SIGNATURE_AFTER: u32 = 3;

/// Weights of the evidence sources (tempering for correlated frames of one object).
#[derive(Clone, Copy, Debug, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClassConfig {
    /// Exponent applied to a sensor's class likelihoods.
    pub sensor_weight: f64,
    /// Exponent applied to heat-size likelihoods.
    pub heat_weight: f64,
    /// Exponent applied to speed likelihoods.
    pub speed_weight: f64,
    /// Baseline of the sustained-speed estimate, and time between two speed or company
    /// updates of one track, seconds.
    pub kinematic_period_s: f64,
    /// Share of the accumulated evidence forgotten at each detection, so the belief reflects
    /// roughly the last 1/forget observations and can change its mind.
    pub forget: f64,
    /// Tracks within this radius count as company.
    pub company_radius_m: f64,
    /// Slow company of at least this size is a flock.
    pub flock_size: usize,
    /// Feature-aided association: exponent of a detection's heat likelihoods in the
    /// association cost where tracks compete (1: a physical measurement of one object,
    /// untempered; class guesses get `sensor_weight` times this), a pair they push past the
    /// gate being no pair. 0 turns it off, the default: at 1 herders inside flocks keep person
    /// tracks in 48 % of their samples on the demo's night (0.4 % at 0), but decoy herds
    /// pressed against the fence then raise false infiltrations (see docs/design.md).
    pub feature_weight: f64,
    /// Spread of one detection's log heat area around its object's (a thermal camera's
    /// apparent size varies with pose and range): how far a heat size may stray from a
    /// track's own signature in feature-aided association.
    pub heat_sd: f64,
    /// How far a track's heat signature may drift between two of its detections (log units).
    pub heat_drift: f64,
}

impl Default for ClassConfig {
    fn default() -> Self {
        Self {
            sensor_weight: 0.35,
            heat_weight: 0.3,
            speed_weight: 0.8,
            kinematic_period_s: 60.0,
            forget: 0.03,
            company_radius_m: 120.0,
            flock_size: 8,
            feature_weight: 0.0,
            heat_sd: 0.3,
            heat_drift: 0.05,
        }
    }
}

impl ClassConfig {
    /// The variance of one detection's log heat area around its object's (`heat_sd`, kept
    /// within 0.01–10 so that no setting divides by zero).
    fn heat_var(&self) -> f64 {
        squared_within(self.heat_sd, (0.01, 10.0), 0.3)
    }

    /// The variance of a track's heat signature's drift between two of its detections
    /// (`heat_drift`, kept within 0–1).
    fn drift_var(&self) -> f64 {
        squared_within(self.heat_drift, (0.0, 1.0), 0.0)
    }
}

/// The square of a setting kept within `(lo, hi)`, or of `fallback` when it is no number.
fn squared_within(v: f64, (lo, hi): (f64, f64), fallback: f64) -> f64 {
    let v = if v.is_finite() {
        v.clamp(lo, hi)
    } else {
        fallback
    };
    v * v
}

fn ln_normal(x: f64, mu: f64, sd: f64) -> f64 {
    let z = (x - mu) / sd;
    -0.5 * z * z - sd.ln()
}

impl ClassBelief {
    /// Normalised probabilities, person / vehicle / animal.
    pub fn probs(&self) -> [f64; 3] {
        let mut log = self.log;
        if log[0] <= log[2] {
            log[2] += self.company;
        }
        let m = log.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let e = log.map(|l| (l - m).exp());
        let s: f64 = e.iter().sum();
        e.map(|x| x / s)
    }

    fn add(&mut self, ll: [f64; 3], w: f64) {
        for (l, x) in self.log.iter_mut().zip(ll) {
            *l += w * x;
        }
        let m = self.log.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let lse = m + self.log.iter().map(|l| (l - m).exp()).sum::<f64>().ln();
        for l in &mut self.log {
            *l = (*l - lse).max(-12.0);
        }
    }

    /// Fuses a sensor's class guess (after fading old evidence by `cfg.forget`).
    pub fn sensor(&mut self, probs: [f64; 3], cfg: &ClassConfig) {
        // Log-probabilities are ≤ 0 and normalised; scaling them towards 0 fades towards uniform.
        for l in &mut self.log {
            *l *= 1.0 - cfg.forget;
        }
        self.company *= 1.0 - cfg.forget;
        self.add(probs.map(|p| p.clamp(0.02, 1.0).ln()), cfg.sensor_weight);
    }

    /// How much worse than a class-blind match a detection's class guess and heat fit this
    /// track, in units of squared Mahalanobis distance (−2 ln of the likelihood ratio, tempered
    /// like the fusion). Negative when they fit better: feature-aided association keeps a
    /// herder's warm, person-like detections on the herder's track inside a flock.
    pub fn feature_cost(
        &self,
        class: Option<[f64; 3]>,
        heat: Option<f64>,
        cfg: &ClassConfig,
    ) -> f64 {
        if cfg.feature_weight <= 0.0 {
            return 0.0;
        }
        let pi = self.probs();
        let mut ln_ratio = 0.0;
        if let Some(c) = class {
            let l = c.map(|p| {
                p.clamp(0.02, 1.0)
                    .powf(cfg.sensor_weight * cfg.feature_weight)
            });
            let fit: f64 = pi.iter().zip(&l).map(|(a, b)| a * b).sum();
            let blind: f64 = l.iter().sum::<f64>() / 3.0;
            ln_ratio += (fit / blind).ln();
        }
        if let Some(h) = heat.filter(|h| *h > 0.0 && h.is_finite()) {
            let l = heat_ll(h).map(|x| (x * cfg.feature_weight).exp());
            let blind: f64 = l.iter().sum::<f64>() / 3.0;
            let (mean, var, n) = self.signature;
            // Once the track has its own signature, it says what heat fits this very object
            // (one animal of a flock from another, the herder from the animals); until then
            // its class does.
            let fit = if n >= SIGNATURE_AFTER {
                let sd = (var + cfg.heat_var()).sqrt();
                (ln_normal(h.ln(), mean, sd) * cfg.feature_weight).exp()
            } else {
                pi.iter().zip(&l).map(|(a, b)| a * b).sum()
            };
            ln_ratio += (fit.max(f64::MIN_POSITIVE) / blind).ln();
        }
        // A heat size no class could have (every likelihood underflows) says nothing.
        if ln_ratio.is_finite() {
            -2.0 * ln_ratio
        } else {
            0.0
        }
    }

    /// Fuses an apparent heat-signature area in m² (log-normal per class).
    pub fn heat(&mut self, m2: f64, cfg: &ClassConfig) {
        if !(m2.is_finite() && m2 > 0.0) {
            return;
        }
        self.add(heat_ll(m2), cfg.heat_weight);
        // The signature (read only by feature-aided association): a scalar Kalman filter on a
        // slow random walk of the log area.
        if cfg.feature_weight <= 0.0 {
            return;
        }
        let z = m2.ln();
        let r = cfg.heat_var();
        let (mean, var, n) = self.signature;
        self.signature = if n == 0 || !var.is_finite() {
            (z, r, 1)
        } else {
            let prior = var + cfg.drift_var();
            let gain = prior / (prior + r);
            (
                mean + gain * (z - mean),
                (1.0 - gain) * prior,
                n.saturating_add(1),
            )
        };
    }

    /// Fuses a speed estimate (m/s, with its 1-sigma) and the number of slow neighbours.
    ///
    /// Standing still says nothing about person versus animal (people pause, animals graze);
    /// a walking pace favours people, a trot animals, a driving speed vehicles. A slow track in
    /// slow company of `flock_size` or more is likely part of a flock.
    pub fn kinematics(
        &mut self,
        speed: f64,
        speed_sd: f64,
        slow_company: usize,
        cfg: &ClassConfig,
    ) {
        if speed_sd > 0.5 {
            return;
        }
        // Likelihoods per band, person / vehicle / animal.
        let l = if speed < 0.5 {
            [1.0, 0.3, 1.0]
        } else if speed < 0.9 {
            [0.7, 0.1, 1.0]
        } else if speed < 2.2 {
            [1.0, 0.15, 0.35]
        } else if speed < 4.0 {
            [0.3, 0.5, 0.4]
        } else {
            [0.02, 1.0, 0.05]
        };
        self.add(l.map(f64::ln), cfg.speed_weight);
        if slow_company >= cfg.flock_size && speed < 0.7 {
            self.company += 1.0;
        }
    }
}

/// Log-likelihoods of an apparent heat area (m²) for person, vehicle, animal (log-normal).
fn heat_ll(m2: f64) -> [f64; 3] {
    let l = m2.ln();
    [
        ln_normal(l, 0.7f64.ln(), 0.35),
        ln_normal(l, 7.0f64.ln(), 0.5),
        ln_normal(l, 0.35f64.ln(), 0.45),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slow_company_reads_as_a_flock_and_a_walker_as_a_person() {
        let cfg = ClassConfig::default();
        let mut sheep = ClassBelief::default();
        let mut walker = ClassBelief::default();
        for _ in 0..5 {
            sheep.kinematics(0.25, 0.1, 30, &cfg);
            walker.kinematics(1.3, 0.1, 0, &cfg);
        }
        // A walker who stops for a long while is still a walker.
        for _ in 0..20 {
            walker.kinematics(0.05, 0.1, 3, &cfg);
        }
        assert!(sheep.probs()[2] > 0.9, "{:?}", sheep.probs());
        assert!(walker.probs()[0] > 0.8, "{:?}", walker.probs());
    }

    #[test]
    fn company_never_makes_a_person_an_animal() {
        let cfg = ClassConfig::default();
        let mut herder = ClassBelief::default();
        let mut sheep = ClassBelief::default();
        // Both graze in a flock of 25 for an hour: slow, in slow company, seen every 5 s.
        for k in 0..720 {
            herder.heat(0.7, &cfg);
            sheep.heat(0.35, &cfg);
            // The camera's guess is right 70 % of the time.
            let right = k % 10 < 7;
            herder.sensor(
                if right {
                    [0.7, 0.15, 0.15]
                } else {
                    [0.15, 0.15, 0.7]
                },
                &cfg,
            );
            sheep.sensor(
                if right {
                    [0.15, 0.15, 0.7]
                } else {
                    [0.7, 0.15, 0.15]
                },
                &cfg,
            );
            if k % 12 == 0 {
                herder.kinematics(0.3, 0.1, 25, &cfg);
                sheep.kinematics(0.3, 0.1, 25, &cfg);
            }
        }
        assert!(herder.probs()[0] > 0.8, "herder {:?}", herder.probs());
        assert!(sheep.probs()[2] > 0.9, "sheep {:?}", sheep.probs());
        // A warm, person-like detection fits the herder better than the sheep.
        let cfg = ClassConfig {
            feature_weight: 1.0,
            ..cfg
        };
        let (c, h) = (Some([0.7, 0.15, 0.15]), Some(0.75));
        assert!(herder.feature_cost(c, h, &cfg) < 0.0);
        assert!(sheep.feature_cost(c, h, &cfg) > herder.feature_cost(c, h, &cfg) + 2.0);
    }

    #[test]
    fn a_belief_can_change_its_mind() {
        let cfg = ClassConfig::default();
        let mut b = ClassBelief::default();
        for _ in 0..2000 {
            b.sensor([0.1, 0.1, 0.8], &cfg);
        }
        assert!(b.probs()[2] > 0.9);
        for _ in 0..200 {
            b.sensor([0.8, 0.1, 0.1], &cfg);
        }
        assert!(b.probs()[0] > 0.9, "{:?}", b.probs());
    }

    #[test]
    fn a_fast_track_reads_as_a_vehicle() {
        let cfg = ClassConfig::default();
        let mut b = ClassBelief::default();
        b.kinematics(14.0, 0.5, 0, &cfg);
        b.heat(6.0, &cfg);
        assert!(b.probs()[1] > 0.9, "{:?}", b.probs());
    }

    #[test]
    fn its_own_heat_signature_tells_one_animal_of_a_flock_from_another() {
        let cfg = ClassConfig {
            feature_weight: 1.0,
            ..ClassConfig::default()
        };
        // Two animals of one flock, both classed animal, one small (0.27 m²), one large (0.43).
        let (mut small, mut large) = (ClassBelief::default(), ClassBelief::default());
        for k in 0..20 {
            let wobble = if k % 2 == 0 { 1.1 } else { 0.9 };
            small.heat(0.27 * wobble, &cfg);
            large.heat(0.43 * wobble, &cfg);
            small.sensor([0.1, 0.1, 0.8], &cfg);
            large.sensor([0.1, 0.1, 0.8], &cfg);
        }
        let cost = |b: &ClassBelief, h: f64| b.feature_cost(None, Some(h), &cfg);
        // Each fits its own heat better than the other's: swapping them costs.
        let swap = cost(&small, 0.43) + cost(&large, 0.27);
        let keep = cost(&small, 0.27) + cost(&large, 0.43);
        assert!(swap > keep + 2.0, "swap {swap}, keep {keep}");
        // The herder's warm signature finds an animal's heat further off than a person's
        // class alone does.
        let (mut herder, mut person) = (ClassBelief::default(), ClassBelief::default());
        for _ in 0..20 {
            herder.heat(0.7, &cfg);
            herder.sensor([0.8, 0.1, 0.1], &cfg);
            person.sensor([0.8, 0.1, 0.1], &cfg);
        }
        assert!(person.probs()[0] > 0.95 && herder.probs()[0] > 0.95);
        let (own, class) = (cost(&herder, 0.3), cost(&person, 0.3));
        assert!(own > class + 0.5, "own {own}, class {class}");
    }

    #[test]
    fn a_heat_size_that_is_no_number_teaches_nothing_and_no_setting_makes_a_cost_nan() {
        let mut b = ClassBelief::default();
        let cfg = ClassConfig {
            feature_weight: 1.0,
            ..ClassConfig::default()
        };
        for _ in 0..5 {
            b.heat(0.7, &cfg);
        }
        let before = b.signature;
        for h in [f64::NAN, f64::INFINITY, 0.0, -1.0] {
            b.heat(h, &cfg);
        }
        assert_eq!(before.2, b.signature.2);
        assert_eq!(before.0.to_bits(), b.signature.0.to_bits());
        for (sd, drift) in [(0.0, 0.0), (f64::NAN, f64::NAN), (-1.0, f64::INFINITY)] {
            let odd = ClassConfig {
                heat_sd: sd,
                heat_drift: drift,
                ..cfg
            };
            let mut c = ClassBelief::default();
            for _ in 0..5 {
                c.heat(0.7, &odd);
            }
            for h in [0.7, 0.3, 1e-300, 1e300, f64::MAX] {
                let f = c.feature_cost(None, Some(h), &odd);
                assert!(f.is_finite(), "heat_sd {sd}, drift {drift}, heat {h}: {f}");
            }
        }
    }
}
