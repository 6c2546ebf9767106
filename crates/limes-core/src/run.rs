//! The demo's site run: simulator → engine → evaluator, writing tracks, alerts and truth.

use serde::Serialize;
use std::path::Path;
use std::time::Instant;

use crate::engine::{Engine, FileOutput, Output};
use crate::eval::{EvalConfig, Evaluator, SiteFigures};
use crate::record::{AlertRecord, EventRecord, JsonlWriter, SensorRecord, TruthRecord};
use crate::sim::{self, ScenarioConfig, SimSummary, Sink};
use crate::site::Site;
use crate::track::{TrackUpdate, Tracker, TrackerStats};

/// Wall-clock time of each part of a site run, seconds.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Timings {
    /// Simulation plus tracking, rules and scoring, interleaved.
    pub total_s: f64,
}

/// What one site run produced.
#[derive(Serialize)]
pub struct SiteRun {
    /// Site name.
    pub site: String,
    /// The simulator's summary.
    pub sim: SimSummary,
    /// The tracker's counters.
    pub tracker: TrackerStats,
    /// Final state of each facility.
    pub facilities: Vec<crate::rules::FacilityState>,
    /// Every alert's last revision.
    pub final_alerts: Vec<AlertRecord>,
    /// Alert revisions written.
    pub alert_revisions: u64,
    /// Records the engine refused (zero for simulated input unless something is wrong).
    pub refused: u64,
    /// Distinct alerts.
    pub alerts: usize,
    /// Timings.
    pub timings: Timings,
    /// Evaluation figures.
    pub figures: SiteFigures,
}

/// Scores everything on its way to the files (the demo's output).
struct Scoring<'a> {
    eval: &'a mut Evaluator,
    files: &'a mut FileOutput,
}

impl Output for Scoring<'_> {
    fn track(&mut self, u: &TrackUpdate, tracker: &Tracker) {
        self.eval.on_update(u);
        self.files.track(u, tracker);
    }
    fn alert(&mut self, a: &AlertRecord) {
        self.eval.on_alert(a);
        self.files.alert(a);
    }
    fn event(&mut self, e: &EventRecord) {
        self.eval.on_event(e);
        self.files.event(e);
    }
}

struct Live<'a> {
    engine: Engine,
    eval: Evaluator,
    det_out: Option<JsonlWriter>,
    truth_out: Option<JsonlWriter>,
    files: FileOutput,
    last_t: f64,
    progress: &'a mut dyn FnMut(f64),
    error: Option<std::io::Error>,
}

impl Sink for Live<'_> {
    fn sensor(&mut self, rec: SensorRecord) {
        if let Some(w) = &mut self.det_out {
            if let Err(e) = w.write(&rec) {
                self.error.get_or_insert(e);
            }
        }
        self.last_t = self.last_t.max(rec.time().0);
        let mut out = Scoring {
            eval: &mut self.eval,
            files: &mut self.files,
        };
        // Simulated records are valid by construction; a refusal would be a bug, counted.
        let _ = self.engine.feed(&rec, &mut out);
    }
    fn truth(&mut self, rec: TruthRecord) {
        if let Some(w) = &mut self.truth_out {
            if let Err(e) = w.write(&rec) {
                self.error.get_or_insert(e);
            }
        }
        self.eval.on_truth(rec);
    }
    fn progress(&mut self, f: f64) {
        (self.progress)(f);
    }
}

/// A site run failed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The scenario is wrong.
    #[error(transparent)]
    Sim(#[from] sim::SimError),
    /// An output file could not be written.
    #[error("writing output: {0}")]
    Io(#[from] std::io::Error),
}

/// What [`run_site`] writes besides `alerts.jsonl` and `tracks.jsonl`.
#[derive(Clone, Copy, Debug)]
pub struct RunFiles {
    /// Write `detections.jsonl` (large: every sensor record).
    pub detections: bool,
    /// Write `truth.jsonl`.
    pub truth: bool,
    /// Write at most one state per confirmed track per this many seconds (0: every update).
    pub track_every_s: f64,
}

impl Default for RunFiles {
    fn default() -> Self {
        Self {
            detections: false,
            truth: true,
            track_every_s: 10.0,
        }
    }
}

/// Simulates a site's scenario and runs it through tracker, rules and evaluator, writing
/// `tracks.jsonl` (confirmed tracks), `alerts.jsonl`, `events.jsonl` and, as `files` says, `truth.jsonl` and
/// `detections.jsonl` into `dir`.
pub fn run_site(
    site: &Site,
    scenario: Option<&ScenarioConfig>,
    seed: u64,
    dir: &Path,
    files: RunFiles,
    progress: &mut dyn FnMut(f64),
) -> Result<SiteRun, RunError> {
    std::fs::create_dir_all(dir)?;
    let started = Instant::now();
    let mut eval = Evaluator::new(EvalConfig::default());
    eval.set_backdrop(site.backdrop());
    let mut live = Live {
        engine: Engine::new(site.tracker.clone(), Some(site)),
        eval,
        det_out: if files.detections {
            Some(JsonlWriter::create(&dir.join("detections.jsonl"))?)
        } else {
            None
        },
        truth_out: if files.truth {
            Some(JsonlWriter::create(&dir.join("truth.jsonl"))?)
        } else {
            None
        },
        files: FileOutput::create(
            &dir.join("tracks.jsonl"),
            Some(&dir.join("alerts.jsonl")),
            false,
            files.track_every_s,
        )?
        .with_events(&dir.join("events.jsonl"))?,
        last_t: 0.0,
        progress,
        error: None,
    };
    let summary = sim::simulate(site, scenario, seed, &mut live)?;
    let t = live.last_t;
    {
        let mut out = Scoring {
            eval: &mut live.eval,
            files: &mut live.files,
        };
        live.engine.finish(t, &mut out);
    }
    if let Some(e) = live.error.take() {
        return Err(e.into());
    }
    if let Some(w) = live.det_out.take() {
        w.finish()?;
    }
    if let Some(w) = live.truth_out.take() {
        w.finish()?;
    }
    let alert_revisions = live.files.alert_lines;
    live.files.finish()?;
    let alerts = live.engine.rules.as_ref().map_or(0, |j| j.alerts().count());
    let final_alerts = live
        .engine
        .rules
        .as_ref()
        .map(|j| j.alerts().map(|a| a.rec.clone()).collect())
        .unwrap_or_default();
    let facilities = live
        .engine
        .rules
        .as_ref()
        .map(|j| j.facilities().to_vec())
        .unwrap_or_default();
    let stats = live.engine.tracker.stats();
    let frontier_km = site.frontier_km();
    let figures = live.eval.finish(&site.name, frontier_km);
    Ok(SiteRun {
        site: site.name.clone(),
        sim: summary,
        tracker: stats,
        facilities,
        final_alerts,
        alert_revisions,
        refused: live.engine.invalid,
        alerts,
        timings: Timings {
            total_s: started.elapsed().as_secs_f64(),
        },
        figures,
    })
}
