//! The alarm-quality night: one simulated night through one tracker and several sets of rule
//! thresholds side by side (the operating points of a receiver-operating picture), plus the
//! single-sensor baseline on the same sensor records, all scored against the same truth.
//!
//! The tracker runs once; every rules variant sees the same track updates, fence alarms,
//! observer reports and heartbeats in the same order as [`Engine`] gives them to its own rules,
//! so variant 0 (the site's own `[rules]`) is exactly what `limes track` and `limes demo` do.

use serde::Serialize;

use crate::engine::{Engine, Output};
use crate::eval::{baseline::Baseline, AlertScore, EvalConfig, IncidentScore, Outcome, Truth};
use crate::record::{
    for_each_jsonl, read_jsonl, AlertRecord, EventRecord, ReadError, SensorRecord, TruthRecord,
};
use crate::rules::{Rules, RulesConfig};
use crate::sim::{self, ScenarioConfig, Sink};
use crate::site::Site;
use crate::track::{TrackUpdate, Tracker};

/// One set of rule thresholds to score.
#[derive(Clone, Debug)]
pub struct Variant {
    /// Name in the report.
    pub name: String,
    /// The thresholds.
    pub rules: RulesConfig,
}

/// What one rules variant (or baseline) produced on one night, scored.
#[derive(Clone, Debug, Serialize)]
pub struct Scored {
    /// Variant or baseline name.
    pub name: String,
    /// Incident scores.
    pub incidents: Vec<IncidentScore>,
    /// Alert scores.
    pub alerts: Vec<AlertScore>,
    /// Assessed events (alarms that did not reach an operator).
    pub events: u64,
    /// Every alert that matched no incident: outcome, kind, raised, and its last summary.
    pub unmatched: Vec<String>,
}

/// One night, scored for every variant and baseline.
#[derive(Clone, Debug, Serialize)]
pub struct Night {
    /// Seed.
    pub seed: u64,
    /// Hours of truth scored.
    pub hours: f64,
    /// Rules variants, the site's own first.
    pub variants: Vec<Scored>,
    /// Single-sensor baselines.
    pub baselines: Vec<Scored>,
}

struct Variants {
    rules: Vec<Rules>,
    alerts: Vec<Vec<AlertRecord>>,
    events: Vec<u64>,
    buf: Vec<AlertRecord>,
}

/// Collects the engine's (variant 0's) output and passes track updates on to the others.
struct Fan<'a> {
    v: &'a mut Variants,
}

impl Output for Fan<'_> {
    fn track(&mut self, u: &TrackUpdate, tracker: &Tracker) {
        let name = u.sensor.map(|s| tracker.sensor_name(s));
        for k in 1..self.v.rules.len() {
            self.v.rules[k].on_track(u, name, &mut self.v.buf);
            self.v.alerts[k].append(&mut self.v.buf);
        }
    }
    fn alert(&mut self, a: &AlertRecord) {
        self.v.alerts[0].push(a.clone());
    }
    fn event(&mut self, _: &EventRecord) {
        self.v.events[0] += 1;
    }
}

struct NightSink {
    engine: Engine,
    v: Variants,
    truth: Truth,
    baseline: Baseline,
    last_t: f64,
    progress: Box<dyn FnMut(f64)>,
}

impl Sink for NightSink {
    fn sensor(&mut self, rec: SensorRecord) {
        self.last_t = self.last_t.max(rec.time().0);
        self.baseline.on_record(&rec);
        // The other variants see non-track records before the engine's track updates that
        // the same record releases, as the engine's own rules do; and only what it admits.
        let admitted = rec.validate().is_ok() && self.engine.admission().check(&rec).is_ok();
        let v = &mut self.v;
        for k in (1..v.rules.len()).filter(|_| admitted) {
            match &rec {
                SensorRecord::Detection(d) if d.count.is_some() => {
                    v.rules[k].on_observer(d, &mut v.buf)
                }
                SensorRecord::Fence(f) => v.rules[k].on_fence(f, &mut v.buf),
                SensorRecord::Heartbeat(h) => v.rules[k].on_heartbeat(h, &mut v.buf),
                SensorRecord::Detection(_) => {}
            }
            v.alerts[k].append(&mut v.buf);
        }
        let _ = self.engine.feed(&rec, &mut Fan { v: &mut self.v });
        for k in 1..self.v.rules.len() {
            self.v.events[k] += self.v.rules[k].take_events().len() as u64;
        }
    }
    fn truth(&mut self, rec: TruthRecord) {
        self.truth.push(rec);
    }
    fn progress(&mut self, f: f64) {
        (self.progress)(f);
    }
}

/// Simulates `scenario` on `site` with `seed` and scores every variant and the baselines.
pub fn run_night(
    site: &Site,
    scenario: &ScenarioConfig,
    seed: u64,
    variants: &[Variant],
    progress: Box<dyn FnMut(f64)>,
) -> Result<Night, sim::SimError> {
    let mut main = site.clone();
    if let Some(v) = variants.first() {
        main.rules = v.rules.clone();
    }
    let rules = variants
        .iter()
        .map(|v| {
            let mut s = site.clone();
            s.rules = v.rules.clone();
            Rules::new(&s)
        })
        .collect::<Vec<_>>();
    let n = rules.len().max(1);
    let mut sink = NightSink {
        engine: Engine::new(site.tracker.clone(), Some(&main)),
        v: Variants {
            rules,
            alerts: vec![Vec::new(); n],
            events: vec![0; n],
            buf: Vec::new(),
        },
        truth: Truth::default(),
        baseline: Baseline::new(site),
        last_t: 0.0,
        progress,
    };
    sim::simulate(site, Some(scenario), seed, &mut sink)?;
    let t = sink.last_t;
    sink.engine.finish(t, &mut Fan { v: &mut sink.v });
    for k in 1..sink.v.rules.len() {
        sink.v.rules[k].advance(t, &mut sink.v.buf);
        sink.v.alerts[k].append(&mut sink.v.buf);
        sink.v.events[k] += sink.v.rules[k].take_events().len() as u64;
    }
    let cfg = EvalConfig::default();
    let score = |name: &str, records: &[AlertRecord], events: u64, explain: bool| {
        let (alerts, incidents) = sink.truth.score(&cfg, records);
        let unmatched = if explain {
            let last: std::collections::BTreeMap<u64, &AlertRecord> =
                records.iter().map(|r| (r.id, r)).collect();
            alerts
                .iter()
                .filter(|a| a.outcome != Outcome::True)
                .filter_map(|a| {
                    last.get(&a.id).map(|r| {
                        let first = records.iter().find(|x| x.id == a.id).unwrap_or(r);
                        let nearest = |t: f64, pos| {
                            sink.truth
                                .nearest(t, pos)
                                .map_or(String::from("no truth near"), |(role, id, d)| {
                                    format!("nearest truth: {role:?} {id} at {d:.0} m")
                                })
                        };
                        let mut near = nearest(first.raised.0, first.pos);
                        // Scored also where it became what it ended as (see eval::alerts).
                        if let Some(b) = records
                            .iter()
                            .find(|x| x.id == a.id && x.kind == r.kind && x.kind != first.kind)
                        {
                            near += &format!(
                                "; {} from {}: {}",
                                b.kind.name(),
                                b.time,
                                nearest(b.time.0, b.pos)
                            );
                        }
                        let incident = sink
                            .truth
                            .nearest_incident(first.raised.0, first.pos)
                            .map_or(String::from("no incident"), |(name, d, dt)| {
                                format!("nearest incident: {name} at {d:.0} m, {dt:+.0} s")
                            });
                        format!(
                            "{:?} {} raised {}: {} ({near}; {incident})",
                            a.outcome,
                            r.kind.name(),
                            r.raised,
                            r.summary
                        )
                    })
                })
                .collect()
        } else {
            Vec::new()
        };
        Scored {
            name: name.to_string(),
            incidents,
            alerts,
            events,
            unmatched,
        }
    };
    let scored = variants
        .iter()
        .enumerate()
        .map(|(k, v)| score(&v.name, &sink.v.alerts[k], sink.v.events[k], k == 0))
        .collect();
    let baselines = sink
        .baseline
        .finish(t)
        .into_iter()
        .map(|(name, alerts)| score(name, &alerts, 0, false))
        .collect();
    Ok(Night {
        seed,
        hours: sink.truth.hours(),
        variants: scored,
        baselines,
    })
}

/// Operating points for the receiver-operating picture: the site's thresholds, the same
/// without automatic assessment, and the thresholds moved together in steps `k` from −3
/// (strict) to +2 (sensitive): P(animal) ceiling 0.5 + 0.15 k, detections before a track counts
/// 6 − 2k, side hysteresis 40 − 10 k m, vouched-crossing depth 10 − 3 k m, approach speed
/// 0.5 − 0.1 k m/s and closing 150 − 30 k m, the coverage a camera must give to downgrade a
/// climb 6 × 2^k detections in a window of 60 + 20 k s, animals that make a herd 5 + 2 k.
pub fn operating_points(site: &RulesConfig) -> Vec<Variant> {
    let mut v = vec![Variant {
        name: "site".into(),
        rules: site.clone(),
    }];
    let mut off = site.clone();
    off.assess = false;
    v.push(Variant {
        name: "no assessment".into(),
        rules: off,
    });
    for k in [-3i32, -2, -1, 1, 2] {
        let f = k as f64;
        let mut r = site.clone();
        r.max_animal_prob = (site.max_animal_prob + 0.15 * f).clamp(0.05, 0.95);
        r.min_hits = (site.min_hits as i32 - 2 * k).max(2) as u32;
        r.side_hysteresis_m = (site.side_hysteresis_m - 10.0 * f).max(10.0);
        r.fence_cross_m = (site.fence_cross_m - 3.0 * f).max(2.0);
        r.approach_min_speed = (site.approach_min_speed - 0.1 * f).max(0.1);
        r.approach_min_closing_m = (site.approach_min_closing_m - 30.0 * f).max(30.0);
        r.assess_min_detections = site.assess_min_detections * 2f64.powi(k);
        r.assess_window_s = (site.assess_window_s + 20.0 * f).max(15.0);
        r.herd_min_animals = (site.herd_min_animals as i32 + 2 * k).max(2) as u32;
        v.push(Variant {
            name: format!("k = {k:+}"),
            rules: r,
        });
    }
    v
}

/// One run read back from files in `dir` — `truth.jsonl` and `alerts.jsonl`, and when present
/// `events.jsonl` (counted) and `detections.jsonl` (for the single-sensor baselines, which need
/// the site) — scored like a simulated night (its alerts as the one variant, `name`).
pub fn night_from_files(
    site: Option<&Site>,
    dir: &std::path::Path,
    name: &str,
    seed: u64,
) -> Result<Night, ReadError> {
    let mut truth_recs: Vec<TruthRecord> = read_jsonl(&dir.join("truth.jsonl"))?;
    truth_recs.sort_by(|a, b| truth_time(a).total_cmp(&truth_time(b)));
    let mut truth = Truth::default();
    for r in truth_recs {
        truth.push(r);
    }
    let alerts: Vec<AlertRecord> = read_jsonl(&dir.join("alerts.jsonl"))?;
    let events_file = dir.join("events.jsonl");
    let events = if events_file.exists() {
        read_jsonl::<EventRecord>(&events_file)?.len() as u64
    } else {
        0
    };
    let cfg = EvalConfig::default();
    let (scores, incidents) = truth.score(&cfg, &alerts);
    let mut baselines = Vec::new();
    let det = dir.join("detections.jsonl");
    if let (Some(site), true) = (site, det.exists()) {
        let mut b = Baseline::new(site);
        let mut last = f64::NEG_INFINITY;
        for_each_jsonl::<SensorRecord>(&det, |_, r| {
            if let Ok(r) = r {
                last = last.max(r.time().0);
                b.on_record(&r);
            }
        })?;
        for (bname, recs) in b.finish(last) {
            let (alerts, incidents) = truth.score(&cfg, &recs);
            baselines.push(Scored {
                name: bname.to_string(),
                incidents,
                alerts,
                events: 0,
                unmatched: Vec::new(),
            });
        }
    }
    Ok(Night {
        seed,
        hours: truth.hours(),
        variants: vec![Scored {
            name: name.to_string(),
            incidents,
            alerts: scores,
            events,
            unmatched: Vec::new(),
        }],
        baselines,
    })
}

fn truth_time(r: &TruthRecord) -> f64 {
    match r {
        TruthRecord::State(s) => s.time.0,
        TruthRecord::Incident(i) => i.time.0,
    }
}
