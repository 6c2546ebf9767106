//! The simulator: a site and a scenario in, sensor records and ground truth out.
//!
//! Deterministic from a seed (ChaCha8). Actors move in one local frame centred on the site;
//! sensor models turn their true positions into detections with per-sensor detection
//! probability, range-dependent noise, Poisson clutter, class confusion, heat size, fence alarms
//! with wind nuisance, heartbeats and outages. Detections reach the output after a random
//! delivery latency, so files arrive slightly out of time order as real feeds do.

mod actors;
mod adversarial;
mod scenario;
mod sensors;

pub use actors::{Actor, Behaviour, Flock};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Poisson};
use rstar::primitives::GeomWithData;
use rstar::RTree;
use serde::Serialize;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::geo::Xy;
use crate::record::{
    FenceAlarm, FenceAlarmKind, Heartbeat, Incident, IncidentKind, Position, SensorRecord, Time,
    TruthRecord, TruthRole, TruthState,
};
use crate::site::Site;
pub use crate::site::{AdversarialConfig, BreakoutConfig, ScenarioConfig};
use scenario::SimWorld;
use sensors::SimModel;

/// Where the simulator's records go, in the order they are produced.
pub trait Sink {
    /// A sensor record, in delivery order.
    fn sensor(&mut self, rec: SensorRecord);
    /// A truth record, in time order (incidents come last).
    fn truth(&mut self, rec: TruthRecord);
    /// Fraction of the period simulated, for progress bars.
    fn progress(&mut self, _fraction: f64) {}
}

/// Collects everything in memory (tests, small runs).
#[derive(Default)]
pub struct VecSink {
    /// Sensor records.
    pub sensor: Vec<SensorRecord>,
    /// Truth records.
    pub truth: Vec<TruthRecord>,
}

impl Sink for VecSink {
    fn sensor(&mut self, rec: SensorRecord) {
        self.sensor.push(rec);
    }
    fn truth(&mut self, rec: TruthRecord) {
        self.truth.push(rec);
    }
}

/// The scenario could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// A setting is wrong.
    #[error("scenario: field `{field}`: {message}")]
    Config {
        /// The field.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
}

struct Delivery {
    at: i64,
    seq: u64,
    rec: SensorRecord,
}
impl PartialEq for Delivery {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.seq) == (o.at, o.seq)
    }
}
impl Eq for Delivery {}
impl PartialOrd for Delivery {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Delivery {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(o.at, o.seq))
    }
}

/// Runs the scenario of `site` (or `cfg` when given) with `seed`, writing into `sink`.
pub fn simulate(
    site: &Site,
    cfg: Option<&ScenarioConfig>,
    seed: u64,
    sink: &mut dyn Sink,
) -> Result<SimSummary, SimError> {
    let cfg = cfg.unwrap_or(&site.scenario).clone();
    let t0 = Time::parse(&cfg.start)
        .ok_or_else(|| SimError::Config {
            field: "start",
            message: format!("{:?} is not an RFC 3339 time", cfg.start),
        })?
        .0;
    if !(cfg.duration_h > 0.0 && cfg.step_s > 0.0 && cfg.truth_every_s > 0.0) {
        return Err(SimError::Config {
            field: "duration_h",
            message: "duration_h, step_s and truth_every_s must be positive".into(),
        });
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut w = SimWorld::build(site, &cfg, t0, &mut rng)?;
    let end = t0 + cfg.duration_h * 3600.0;
    let dt = cfg.step_s;
    let steps = ((end - t0) / dt).round() as u64;
    let truth_every = (cfg.truth_every_s / dt).round().max(1.0) as u64;
    let mut queue: BinaryHeap<Reverse<Delivery>> = BinaryHeap::new();
    let mut seq = 0u64;
    let mut dets = Vec::new();
    let mut summary = SimSummary::default();
    let mut deliver =
        |queue: &mut BinaryHeap<Reverse<Delivery>>, rec: SensorRecord, latency: f64| {
            seq += 1;
            let at = ((rec.time().0 + latency) * 1000.0).round() as i64;
            queue.push(Reverse(Delivery { at, seq, rec }));
        };
    let nuisance_rate: f64 = w.zones.len() as f64 * w.nuisance_per_zone_h / 3600.0;
    // The period is [start, end): an outage lasting "until the end" must not end with a beat.
    for k in 0..steps {
        let t = t0 + k as f64 * dt;
        w.step(t, dt, &mut rng, &mut |rec| {
            deliver(&mut queue, SensorRecord::Fence(rec), 0.5)
        });
        // Index the active actors once per step.
        let active: Vec<usize> = (0..w.actors.len())
            .filter(|&i| w.actors[i].active(t))
            .collect();
        let tree: RTree<GeomWithData<Xy, usize>> = RTree::bulk_load(
            active
                .iter()
                .map(|&i| GeomWithData::new(w.actors[i].pos, i))
                .collect(),
        );
        let mut cand = Vec::new();
        for si in 0..w.sensors.len() {
            let s = &w.sensors[si];
            if !s.up(t) {
                continue;
            }
            let rel = t - t0 - s.phase;
            if rel >= 0.0 && rel % s.heartbeat_s < dt {
                deliver(
                    &mut queue,
                    SensorRecord::Heartbeat(Heartbeat {
                        sensor: s.id.clone(),
                        time: Time(t),
                    }),
                    0.2,
                );
                summary.heartbeats += 1;
            }
            dets.clear();
            match &s.model {
                SimModel::Camera(c) if rel >= 0.0 && rel % c.scan_s < dt => {
                    cand.clear();
                    cand.extend(
                        tree.locate_within_distance(s.xy, c.range_m * c.range_m)
                            .map(|e| e.data),
                    );
                    cand.sort_unstable();
                    let seen = sensors::Seen {
                        actors: &w.actors,
                        candidates: &cand,
                        pd_scale: &w.adv.pd_scale,
                    };
                    sensors::camera_scan(s, c, t, &seen, &w.frame, &mut rng, &mut dets);
                }
                SimModel::Observer(o) if rel >= 0.0 && rel % o.report_s < dt => {
                    let groups = w.groups(t);
                    sensors::observer_report(s, o, t, &groups, &w.frame, &mut rng, &mut dets);
                }
                _ => {}
            }
            for d in dets.drain(..) {
                summary.detections += 1;
                let lat = rng.random_range(0.0..cfg.latency_max_s.max(1e-9));
                deliver(&mut queue, SensorRecord::Detection(d), lat);
            }
        }
        // Wind and animals on the fence.
        if nuisance_rate > 0.0 && !w.zones.is_empty() {
            let n = Poisson::new(nuisance_rate * dt).map_or(0.0, |p| p.sample(&mut rng)) as usize;
            for _ in 0..n {
                let z = &w.zones[rng.random_range(0..w.zones.len())];
                if !w.sensors[z.sensor].up(t) {
                    continue;
                }
                let alarm = if rng.random::<f64>() < 0.05 {
                    FenceAlarmKind::Climb
                } else {
                    FenceAlarmKind::Vibration
                };
                let rec = FenceAlarm {
                    sensor: w.sensors[z.sensor].id.clone(),
                    zone: z.id.clone(),
                    time: Time(t),
                    alarm,
                    line: z.line,
                };
                w.incidents.push(Incident {
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
                    scenario: None,
                });
                deliver(&mut queue, SensorRecord::Fence(rec), 0.5);
            }
        }
        if k % truth_every == 0 {
            for &i in &active {
                let a = &w.actors[i];
                let visible = w.visible(a.pos, t);
                let ll = w.frame.to_lonlat(a.pos);
                summary.truth_states += 1;
                sink.truth(TruthRecord::State(TruthState {
                    id: a.id,
                    time: Time(t),
                    pos: Position::LonLat {
                        lon: ll.lon,
                        lat: ll.lat,
                    },
                    class: a.class,
                    role: a.role,
                    visible,
                }));
            }
        }
        let now = (t * 1000.0).round() as i64;
        while queue.peek().is_some_and(|d| d.0.at <= now) {
            if let Some(Reverse(d)) = queue.pop() {
                sink.sensor(d.rec);
            }
        }
        if k % 600 == 0 {
            sink.progress(k as f64 / steps as f64);
        }
    }
    while let Some(Reverse(d)) = queue.pop() {
        sink.sensor(d.rec);
    }
    summary.actors = w.actors.len();
    summary.escapees = w
        .actors
        .iter()
        .filter(|a| a.role == TruthRole::Escapee)
        .count();
    let mut incidents = w.finish();
    incidents.sort_by(|a, b| a.time.0.total_cmp(&b.time.0));
    for (i, mut inc) in incidents.into_iter().enumerate() {
        inc.id = i as u64 + 1;
        summary.incidents.push((inc.kind, inc.count));
        sink.truth(TruthRecord::Incident(inc));
    }
    sink.progress(1.0);
    Ok(summary)
}

/// What a simulation produced, for the summary table.
#[derive(Clone, Debug, Default, Serialize)]
pub struct SimSummary {
    /// Actors in the scenario.
    pub actors: usize,
    /// Of which escapees.
    pub escapees: usize,
    /// Detections produced.
    pub detections: u64,
    /// Heartbeats produced.
    pub heartbeats: u64,
    /// Truth states written.
    pub truth_states: u64,
    /// Incidents staged (kind, count).
    pub incidents: Vec<(IncidentKind, u32)>,
}
