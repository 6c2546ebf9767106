//! Sensor models: truth in, detections, fence alarms and heartbeats out.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Poisson, StandardNormal};

use super::actors::Actor;
use crate::geo::{LocalFrame, Xy};
use crate::record::{ClassProbs, Detection, ObjectClass, Position, Time};
use crate::site::{CameraModel, ObserverModel};

/// A sensor placed in the simulation frame.
pub struct SimSensor {
    /// Identifier.
    pub id: String,
    /// Position in the simulation frame.
    pub xy: Xy,
    /// Heartbeat period.
    pub heartbeat_s: f64,
    /// Phase of its scans and heartbeats, seconds.
    pub phase: f64,
    /// Down (no heartbeats, no output) during these windows.
    pub outages: Vec<(f64, f64)>,
    /// The model.
    pub model: SimModel,
}

/// The sensor model variants the simulator drives.
pub enum SimModel {
    /// A thermal camera.
    Camera(CameraModel),
    /// A tower observer.
    Observer(ObserverModel),
    /// A fence controller (alarms come from crossings and nuisance, not scans).
    Fence,
}

impl SimSensor {
    /// True when the sensor works at `t`.
    pub fn up(&self, t: f64) -> bool {
        !self.outages.iter().any(|&(a, b)| t >= a && t < b)
    }

    /// True when the camera can see a point at all (range and field of regard).
    pub fn covers(&self, p: Xy) -> Option<f64> {
        let SimModel::Camera(c) = &self.model else {
            return None;
        };
        let d = [p[0] - self.xy[0], p[1] - self.xy[1]];
        let r = d[0].hypot(d[1]);
        if r > c.range_m || !c.covers_bearing(d[0].atan2(d[1]).to_degrees()) {
            return None;
        }
        Some(r)
    }
}

/// A standard normal draw.
fn n01(rng: &mut ChaCha8Rng) -> f64 {
    rng.sample(StandardNormal)
}

fn class_index(c: ObjectClass) -> usize {
    match c {
        ObjectClass::Person => 0,
        ObjectClass::Vehicle => 1,
        ObjectClass::Animal => 2,
    }
}

/// A camera's class guess: right with `accuracy`, otherwise another class on top.
fn class_guess(truth: ObjectClass, accuracy: f64, rng: &mut ChaCha8Rng) -> ClassProbs {
    let t = class_index(truth);
    let top = if rng.random::<f64>() < accuracy {
        t
    } else {
        (t + rng.random_range(1..3)) % 3
    };
    let p = rng.random_range(0.5..0.85);
    let mut a = [(1.0 - p) / 2.0; 3];
    a[top] = p;
    ClassProbs::from_array(a)
}

/// What a camera may see in one scan.
pub struct Seen<'a> {
    /// Every actor.
    pub actors: &'a [Actor],
    /// Indices of the actors within the camera's range.
    pub candidates: &'a [usize],
    /// Detection-probability factor per actor (a crawler is harder to see); empty: all 1.
    pub pd_scale: &'a [f64],
}

/// Camera scan: one detection per actor seen, plus clutter.
pub fn camera_scan(
    s: &SimSensor,
    c: &CameraModel,
    t: f64,
    seen: &Seen,
    frame: &LocalFrame,
    rng: &mut ChaCha8Rng,
    out: &mut Vec<Detection>,
) {
    let make = |xy: Xy, sigma: f64, class: ClassProbs, heat: Option<f64>| {
        let ll = frame.to_lonlat(xy);
        Detection {
            sensor: s.id.clone(),
            time: Time(t),
            pos: Position::LonLat {
                lon: (ll.lon * 1e7).round() / 1e7,
                lat: (ll.lat * 1e7).round() / 1e7,
            },
            cov: None,
            ce: Some((sigma * 10.0).round() / 10.0),
            class: Some(class),
            heat_m2: heat,
            count: None,
        }
    };
    for &k in seen.candidates {
        let a = &seen.actors[k];
        let Some(r) = s.covers(a.pos) else { continue };
        let scale = seen.pd_scale.get(k).copied().unwrap_or(1.0);
        if rng.random::<f64>() >= c.pd(r) * scale {
            continue;
        }
        let sigma = c.sigma(r);
        let xy = [a.pos[0] + sigma * n01(rng), a.pos[1] + sigma * n01(rng)];
        let class = class_guess(a.class, c.class_accuracy, rng);
        let heat = (r < 6000.0).then(|| {
            let h = a.heat_m2 * (0.25 * n01(rng)).exp();
            (h * 100.0).round() / 100.0
        });
        out.push(make(xy, sigma, class, heat));
    }
    if c.clutter_per_scan > 0.0 {
        let n = Poisson::new(c.clutter_per_scan).map_or(0.0, |p| p.sample(rng)) as usize;
        for _ in 0..n {
            let r = c.range_m * rng.random::<f64>().sqrt();
            let half = c.fov_deg.min(360.0) / 2.0;
            let b = (c.azimuth_deg + rng.random_range(-half..=half)).to_radians();
            let xy = [s.xy[0] + r * b.sin(), s.xy[1] + r * b.cos()];
            let class = class_guess(
                [
                    ObjectClass::Person,
                    ObjectClass::Vehicle,
                    ObjectClass::Animal,
                ][rng.random_range(0..3)],
                1.0,
                rng,
            );
            let heat =
                (r < 6000.0).then(|| (rng.random_range(0.1..1.5f64) * 100.0).round() / 100.0);
            out.push(make(xy, c.sigma(r), class, heat));
        }
    }
}

/// Observer report: one coarse detection with a head count per group in sight.
pub fn observer_report(
    s: &SimSensor,
    o: &ObserverModel,
    t: f64,
    groups: &[(Xy, u32)],
    frame: &LocalFrame,
    rng: &mut ChaCha8Rng,
    out: &mut Vec<Detection>,
) {
    for &(c, n) in groups {
        let r = (c[0] - s.xy[0]).hypot(c[1] - s.xy[1]);
        if r > o.range_m || rng.random::<f64>() >= o.pd {
            continue;
        }
        let xy = [c[0] + o.ce_m * n01(rng), c[1] + o.ce_m * n01(rng)];
        let ll = frame.to_lonlat(xy);
        let count = (n as i64 + rng.random_range(-1..=1)).max(1) as u32;
        out.push(Detection {
            sensor: s.id.clone(),
            time: Time(t),
            pos: Position::LonLat {
                lon: ll.lon,
                lat: ll.lat,
            },
            cov: None,
            ce: Some(o.ce_m),
            class: Some(ClassProbs {
                person: 0.9,
                vehicle: 0.05,
                animal: 0.05,
            }),
            heat_m2: None,
            count: Some(count),
        });
    }
}
