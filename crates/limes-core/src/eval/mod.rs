//! The evaluator: tracks, alerts and ground truth in; GOSPA over time and alert scores out.
//!
//! Tracks are scored at every truth sample time: the estimate set is every confirmed (or
//! coasting) track updated within `max_track_age_s`, predicted to the sample time; the truth set
//! is every object a working sensor could see. Alerts are matched to staged incidents; the
//! unmatched are nuisance (a harmless real object or fence stimulus nearby) or false.

mod alerts;
pub mod baseline;
pub mod gospa;
mod plot;
pub mod quality;
mod report;

pub use alerts::{AlertScore, IncidentScore, Outcome};
pub use report::{percentile, Report, SiteFigures};

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

use crate::geo::{LocalFrame, LonLat, Xy};
use crate::record::{
    AlertRecord, EventRecord, Position, TrackRecord, TrackStatus, TruthRecord, TruthState,
};
use crate::track::{Partition, TrackUpdate};

/// Scoring settings.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct EvalConfig {
    /// GOSPA cut-off distance c, metres.
    pub gospa_c: f64,
    /// GOSPA order p.
    pub gospa_p: f64,
    /// Tracks older than this at a sample time are left out, seconds.
    pub max_track_age_s: f64,
    /// An alert within this distance of an incident can match it, metres.
    pub match_m: f64,
    /// ... raised at most this long before the incident, seconds.
    pub match_before_s: f64,
    /// ... or at most this long after it, seconds.
    pub match_after_s: f64,
    /// An unmatched alert with a harmless real object this close is a nuisance, metres.
    pub nuisance_m: f64,
    /// Stone Soup's GOSPA `switching_penalty` (metres per full identity switch).
    pub switching_penalty: f64,
}

impl Default for EvalConfig {
    fn default() -> Self {
        Self {
            gospa_c: 100.0,
            gospa_p: 1.0,
            max_track_age_s: 15.0,
            match_m: 3000.0,
            match_before_s: 1800.0,
            match_after_s: 1800.0,
            nuisance_m: 500.0,
            switching_penalty: 100.0,
        }
    }
}

/// GOSPA at one sample time.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct GospaSample {
    /// Sample time, seconds since the epoch.
    pub t: f64,
    /// The metric.
    #[serde(flatten)]
    pub g: gospa::Gospa,
    /// The switching term at this sample (identity switches since the previous one).
    pub switching: gospa::SwitchStep,
    /// Visible truths.
    pub truths: usize,
    /// Track estimates.
    pub tracks: usize,
}

#[derive(Clone, Copy)]
struct Latest {
    part: Partition,
    xy: Xy,
    vel: Xy,
    /// Time of the state.
    t: f64,
    /// Time of the last detection behind it.
    updated: f64,
    confirmed: bool,
    class: [f64; 3],
}

/// Ground truth held for scoring: object states grouped by sample time, and the incidents.
#[derive(Default)]
pub struct Truth {
    frame: Option<LocalFrame>,
    samples: Vec<(f64, Vec<TruthState>)>,
    incidents: Vec<TruthRecord>,
}

impl Truth {
    /// Adds one truth record; states must come in time order. Returns the state's position in
    /// the scoring frame.
    pub fn push(&mut self, r: TruthRecord) -> Option<Xy> {
        match r {
            TruthRecord::State(s) => {
                if self.frame.is_none() {
                    if let Position::LonLat { lon, lat } = s.pos {
                        self.frame = Some(LocalFrame::new(LonLat::new(lon, lat)));
                    }
                }
                let xy = to_xy(self.frame, s.pos);
                let t = s.time.0;
                match self.samples.last_mut() {
                    Some((lt, v)) if (*lt - t).abs() < 1e-3 => v.push(s),
                    _ => self.samples.push((t, vec![s])),
                }
                Some(xy)
            }
            TruthRecord::Incident(_) => {
                self.incidents.push(r);
                None
            }
        }
    }

    /// The frame distances are measured in (centred on the first truth position).
    pub fn frame(&self) -> Option<LocalFrame> {
        self.frame
    }

    /// Matches `alerts` (every revision) to the staged incidents and classifies the rest.
    pub fn score(
        &self,
        cfg: &EvalConfig,
        alerts: &[AlertRecord],
    ) -> (Vec<AlertScore>, Vec<IncidentScore>) {
        alerts::score(cfg, self.frame, &self.incidents, alerts, &self.samples)
    }

    /// The real object nearest `pos` at the truth sample nearest `t` (within a minute): its
    /// role, id and distance in metres. For explaining an alert nothing staged matches.
    pub fn nearest(&self, t: f64, pos: Position) -> Option<(crate::record::TruthRole, u64, f64)> {
        let p = to_xy(self.frame, pos);
        alerts::nearest_sample(&self.samples, t)?
            .iter()
            .map(|s| (s.role, s.id, crate::geo::dist(to_xy(self.frame, s.pos), p)))
            .min_by(|a, b| a.2.total_cmp(&b.2))
    }

    /// The staged incident nearest `pos` (by distance): its kind, scenario, distance in metres
    /// and time from the incident to `t` in seconds. For explaining an alert nothing matches.
    pub fn nearest_incident(&self, t: f64, pos: Position) -> Option<(String, f64, f64)> {
        let p = to_xy(self.frame, pos);
        self.incidents
            .iter()
            .filter_map(|r| match r {
                TruthRecord::Incident(i) => Some(i),
                TruthRecord::State(_) => None,
            })
            .map(|i| {
                let name = format!(
                    "{:?}/{}",
                    i.kind,
                    i.scenario.as_deref().unwrap_or("ordinary")
                );
                (
                    name,
                    crate::geo::dist(to_xy(self.frame, i.pos), p),
                    t - i.time.0,
                )
            })
            .min_by(|a, b| a.1.total_cmp(&b.1))
    }

    /// Hours between the first and the last truth sample.
    pub fn hours(&self) -> f64 {
        match (self.samples.first(), self.samples.last()) {
            (Some(a), Some(b)) => (b.0 - a.0) / 3600.0,
            _ => 0.0,
        }
    }
}

/// Scores one run; feed it tracks in time order, then alerts, then call [`Evaluator::finish`].
pub struct Evaluator {
    cfg: EvalConfig,
    truth: Truth,
    next_sample: usize,
    latest: HashMap<u64, Latest>,
    gospa: Vec<GospaSample>,
    switching: gospa::Switching,
    /// Full identity switches by the truth's role.
    switches_by_role: BTreeMap<crate::record::TruthRole, u64>,
    alerts: Vec<AlertRecord>,
    track_paths: BTreeMap<u64, Vec<Xy>>,
    truth_paths: BTreeMap<u64, (crate::record::TruthRole, Vec<Xy>)>,
    backdrop: Vec<Vec<LonLat>>,
    /// Class estimates over assigned (track, truth) pairs, by the truth's role: counts of
    /// person, vehicle, animal.
    confusion: BTreeMap<crate::record::TruthRole, [u64; 3]>,
    /// Events by assessment reason.
    events: BTreeMap<String, u64>,
}

impl Evaluator {
    /// An evaluator; feed truth with [`Evaluator::on_truth`] in time order, ahead of the tracks.
    pub fn new(cfg: EvalConfig) -> Self {
        Self {
            switching: gospa::Switching::new(cfg.switching_penalty, cfg.gospa_p),
            cfg,
            truth: Truth::default(),
            next_sample: 0,
            latest: HashMap::new(),
            gospa: Vec::new(),
            switches_by_role: BTreeMap::new(),
            alerts: Vec::new(),
            track_paths: BTreeMap::new(),
            truth_paths: BTreeMap::new(),
            backdrop: Vec::new(),
            confusion: BTreeMap::new(),
            events: BTreeMap::new(),
        }
    }

    /// Lines drawn under the map: the frontier, facility perimeters, roads.
    pub fn set_backdrop(&mut self, lines: Vec<Vec<LonLat>>) {
        self.backdrop = lines;
    }

    /// An evaluator over a whole truth file (sorted here by time).
    pub fn with_truth(cfg: EvalConfig, mut truth: Vec<TruthRecord>) -> Self {
        truth.sort_by(|a, b| truth_time(a).total_cmp(&truth_time(b)));
        let mut ev = Self::new(cfg);
        for r in truth {
            ev.on_truth(r);
        }
        ev
    }

    /// Feeds one truth record; states must come in time order.
    pub fn on_truth(&mut self, r: TruthRecord) {
        let who = match &r {
            TruthRecord::State(s) => Some((s.id, s.role)),
            TruthRecord::Incident(_) => None,
        };
        if let (Some(xy), Some((id, role))) = (self.truth.push(r), who) {
            let e = self.truth_paths.entry(id).or_insert((role, Vec::new()));
            if e.1.len() < 2000 {
                e.1.push(xy);
            }
        }
    }

    /// The frame GOSPA distances are measured in (centred on the first truth position).
    pub fn frame(&self) -> Option<LocalFrame> {
        self.truth.frame
    }

    /// Feeds one track update from the live pipeline.
    pub fn on_update(&mut self, u: &TrackUpdate) {
        self.catch_up(u.time - 5.0);
        if u.status == TrackStatus::Deleted {
            self.latest.remove(&u.id);
            return;
        }
        // Only confirmed tracks are scored; tentative ones are not even remembered.
        if u.status == TrackStatus::Tentative {
            return;
        }
        self.latest.insert(
            u.id,
            Latest {
                part: u.part,
                xy: u.xy,
                vel: u.vel,
                t: u.time,
                updated: u.updated,
                confirmed: u.status != TrackStatus::Tentative,
                class: u.class,
            },
        );
    }

    /// Feeds one track record read from a file.
    pub fn on_record(&mut self, r: &TrackRecord) {
        let (part, xy) = match r.pos {
            Position::LonLat { lon, lat } => Partition::locate(LonLat::new(lon, lat)),
            Position::Local { x, y } => (Partition::Flat, [x, y]),
        };
        self.on_update(&TrackUpdate {
            id: r.id,
            time: r.time.0,
            updated: r.updated.map_or(r.time.0, |t| t.0),
            status: r.status,
            part,
            xy,
            vel: r.vel,
            cov: r.cov,
            class: r.class.as_array(),
            hits: r.hits,
            first_seen: r.first_seen.0,
            sensor: None,
            was_confirmed: r.status != TrackStatus::Tentative,
        });
    }

    /// Feeds one alert revision.
    pub fn on_alert(&mut self, a: &AlertRecord) {
        self.alerts.push(a.clone());
    }

    /// Feeds one event (an assessed alarm kept from the operators): counted by reason.
    pub fn on_event(&mut self, e: &EventRecord) {
        *self
            .events
            .entry(e.assessment.reason.name().to_string())
            .or_default() += 1;
    }

    fn catch_up(&mut self, upto: f64) {
        while self.next_sample < self.truth.samples.len()
            && self.truth.samples[self.next_sample].0 <= upto
        {
            self.score_sample(self.next_sample);
            self.next_sample += 1;
        }
    }

    fn score_sample(&mut self, k: usize) {
        let t = self.truth.samples[k].0;
        let frame = self.truth.frame;
        let visible: Vec<&TruthState> = self.truth.samples[k]
            .1
            .iter()
            .filter(|s| s.visible)
            .collect();
        let truths: Vec<Xy> = visible.iter().map(|s| to_xy(frame, s.pos)).collect();
        let mut tracks = Vec::new();
        let mut ids = Vec::new();
        let mut classes = Vec::new();
        for (id, l) in &self.latest {
            if !l.confirmed || t - l.updated > self.cfg.max_track_age_s || l.t > t + 5.0 {
                continue;
            }
            let dt = t - l.t;
            let p = [l.xy[0] + l.vel[0] * dt, l.xy[1] + l.vel[1] * dt];
            let xy = match (l.part.lonlat(p), frame) {
                (Some(ll), Some(f)) => f.to_local(ll),
                _ => p,
            };
            tracks.push(xy);
            ids.push(*id);
            classes.push(l.class);
            let path = self.track_paths.entry(*id).or_default();
            if path.len() < 400 {
                path.push(xy);
            }
        }
        let (g, pairs) =
            gospa::gospa_with_pairs(&tracks, &truths, self.cfg.gospa_c, self.cfg.gospa_p);
        // Stone Soup passes no assignment at a time without tracks or without truths.
        let switching = if tracks.is_empty() || truths.is_empty() {
            self.switching.add([])
        } else {
            let mut of_truth: Vec<Option<u64>> = vec![None; truths.len()];
            for &(i, j) in &pairs {
                of_truth[j] = Some(ids[i]);
            }
            self.switching
                .add(visible.iter().zip(of_truth).map(|(s, k)| (s.id, k)))
        };
        for id in &self.switching.switched {
            if let Some(s) = visible.iter().find(|s| s.id == *id) {
                *self.switches_by_role.entry(s.role).or_default() += 1;
            }
        }
        for (i, j) in pairs {
            let est = crate::record::ClassProbs::from_array(classes[i]).best();
            self.confusion.entry(visible[j].role).or_default()[class_index(est)] += 1;
        }
        self.gospa.push(GospaSample {
            t,
            g,
            switching,
            truths: truths.len(),
            tracks: tracks.len(),
        });
    }

    /// Scores what is left and builds the figures for one site.
    pub fn finish(mut self, site: &str, frontier_km: Option<f64>) -> SiteFigures {
        self.catch_up(f64::INFINITY);
        for (_, (_, pts)) in self.truth_paths.iter_mut() {
            let step = pts.len().div_ceil(200).max(1);
            *pts = pts.iter().step_by(step).copied().collect();
        }
        let scores = self.truth.score(&self.cfg, &self.alerts);
        report::figures(
            site,
            frontier_km,
            &self.cfg,
            &self.gospa,
            report::Scored {
                alerts: scores.0,
                incidents: scores.1,
                confusion: std::mem::take(&mut self.confusion),
                events: std::mem::take(&mut self.events),
                switches_by_role: std::mem::take(&mut self.switches_by_role),
                alert_log: alert_log(&self.alerts),
                map: plot::MapData {
                    truth: std::mem::take(&mut self.truth_paths),
                    tracks: std::mem::take(&mut self.track_paths),
                    alerts: alerts::final_positions(self.truth.frame, &self.alerts),
                    backdrop: self
                        .backdrop
                        .iter()
                        .map(|l| {
                            l.iter()
                                .map(|p| {
                                    to_xy(
                                        self.truth.frame,
                                        Position::LonLat {
                                            lon: p.lon,
                                            lat: p.lat,
                                        },
                                    )
                                })
                                .collect()
                        })
                        .collect(),
                },
            },
        )
    }
}

/// The last revision of every alert, in the order they were raised.
fn alert_log(alerts: &[AlertRecord]) -> Vec<AlertRecord> {
    let mut last: BTreeMap<u64, &AlertRecord> = BTreeMap::new();
    for a in alerts {
        last.insert(a.id, a);
    }
    last.into_values().cloned().collect()
}

fn class_index(c: crate::record::ObjectClass) -> usize {
    match c {
        crate::record::ObjectClass::Person => 0,
        crate::record::ObjectClass::Vehicle => 1,
        crate::record::ObjectClass::Animal => 2,
    }
}

fn truth_time(r: &TruthRecord) -> f64 {
    match r {
        TruthRecord::State(s) => s.time.0,
        TruthRecord::Incident(i) => i.time.0,
    }
}

fn to_xy(frame: Option<LocalFrame>, p: Position) -> Xy {
    match (p, frame) {
        (Position::LonLat { lon, lat }, Some(f)) => f.to_local(LonLat::new(lon, lat)),
        (Position::LonLat { lon, lat }, None) => [lon, lat],
        (Position::Local { x, y }, _) => [x, y],
    }
}
