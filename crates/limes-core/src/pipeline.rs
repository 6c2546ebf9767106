//! Wires the stages: sensor records → tracker → rules → outputs, and the demo's site run.
//!
//! [`Engine`] is the one path from sensor records to track updates and alerts; `limes track`,
//! `limes demo` and the future server all call it, so there is no second copy of the logic.

use serde::Serialize;
use std::path::Path;
use std::time::Instant;

use crate::eval::{EvalConfig, Evaluator, SiteFigures};
use crate::judge::Judge;
use crate::record::{AlertRecord, JsonlWriter, SensorRecord, Time, TrackStatus, TruthRecord};
use crate::sim::{self, ScenarioConfig, SimSummary, Sink};
use crate::site::Site;
use crate::track::{InputError, TrackUpdate, Tracker, TrackerConfig, TrackerStats};

/// Receives what the engine produces.
pub trait Output {
    /// A track update (the tracker is passed to name sensors and convert frames).
    fn track(&mut self, u: &TrackUpdate, tracker: &Tracker);
    /// An alert revision.
    fn alert(&mut self, a: &AlertRecord);
}

/// Tracker plus (optionally) rules, fed one sensor record at a time.
pub struct Engine {
    /// The tracker.
    pub tracker: Tracker,
    /// The rules, when a site is known.
    pub judge: Option<Judge>,
    updates: Vec<TrackUpdate>,
    alerts: Vec<AlertRecord>,
    /// Records refused as invalid.
    pub invalid: u64,
    /// Newest record time accepted.
    newest: f64,
}

impl Engine {
    /// An engine with a tracker and, for a site, its rules.
    pub fn new(cfg: TrackerConfig, site: Option<&Site>) -> Self {
        Self {
            tracker: Tracker::new(cfg),
            judge: site.map(Judge::new),
            updates: Vec::new(),
            alerts: Vec::new(),
            invalid: 0,
            newest: f64::NEG_INFINITY,
        }
    }

    /// Feeds one sensor record; invalid detections are counted and returned as errors.
    pub fn feed(&mut self, rec: &SensorRecord, out: &mut dyn Output) -> Result<(), InputError> {
        let t = rec.time().0;
        let jump = self.tracker.config().max_time_jump_s;
        if self.newest.is_finite() && t > self.newest + jump {
            self.invalid += 1;
            return Err(InputError {
                field: "time",
                message: format!(
                    "{} is more than {jump} s ahead of the newest record ({}); is the sensor's clock wrong?",
                    Time(t),
                    Time(self.newest)
                ),
            });
        }
        self.newest = self.newest.max(t);
        let res = match rec {
            SensorRecord::Detection(d) => {
                let res = self.tracker.push(d, &mut self.updates);
                if let (Ok(()), Some(j), Some(_)) = (&res, &mut self.judge, d.count) {
                    j.on_observer(d, &mut self.alerts);
                }
                res
            }
            SensorRecord::Fence(f) => {
                if let Some(j) = &mut self.judge {
                    j.on_fence(f, &mut self.alerts);
                }
                Ok(())
            }
            SensorRecord::Heartbeat(h) => {
                self.tracker.advance(h.time.0, &mut self.updates);
                if let Some(j) = &mut self.judge {
                    j.on_heartbeat(h, &mut self.alerts);
                }
                Ok(())
            }
        };
        if res.is_err() {
            self.invalid += 1;
        }
        self.drain(out);
        res
    }

    /// A live clock tick: the time is now `t` even if no sensor spoke. Releases the reorder
    /// buffer, ages tracks and runs the rules' periodic work (sensor health, stale alerts).
    pub fn tick(&mut self, t: f64, out: &mut dyn Output) {
        self.tracker.tick(t, &mut self.updates);
        if let Some(j) = &mut self.judge {
            j.advance(t, &mut self.alerts);
        }
        self.drain(out);
    }

    /// Processes everything still buffered (end of input at time `t`).
    pub fn finish(&mut self, t: f64, out: &mut dyn Output) {
        self.tracker.flush(&mut self.updates);
        if let Some(j) = &mut self.judge {
            j.advance(t, &mut self.alerts);
        }
        self.drain(out);
    }

    fn drain(&mut self, out: &mut dyn Output) {
        for u in self.updates.drain(..) {
            if let Some(j) = &mut self.judge {
                let name = u.sensor.map(|s| self.tracker.sensor_name(s));
                j.on_track(&u, name, &mut self.alerts);
            }
            out.track(&u, &self.tracker);
        }
        for a in self.alerts.drain(..) {
            out.alert(&a);
        }
    }
}

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
    pub facilities: Vec<crate::judge::FacilityState>,
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

/// Writes track and alert lines to JSON Lines files; an I/O error is kept and returned by
/// [`FileOutput::finish`], so the engine's path never fails halfway through a record.
pub struct FileOutput {
    tracks: JsonlWriter,
    alerts: Option<JsonlWriter>,
    tentative: bool,
    every_s: f64,
    /// Time of the last line written per track.
    last_line: std::collections::HashMap<u64, f64>,
    /// Track lines written.
    pub track_lines: u64,
    /// Alert lines written.
    pub alert_lines: u64,
    error: Option<std::io::Error>,
}

impl FileOutput {
    /// Creates the files. Tentative tracks are written only with `tentative`; a track gets at
    /// most one line per `every_s` seconds (0: every update) plus every deletion.
    pub fn create(
        tracks: &Path,
        alerts: Option<&Path>,
        tentative: bool,
        every_s: f64,
    ) -> std::io::Result<Self> {
        Ok(Self {
            tracks: JsonlWriter::create(tracks)?,
            alerts: alerts.map(JsonlWriter::create).transpose()?,
            tentative,
            every_s,
            last_line: Default::default(),
            track_lines: 0,
            alert_lines: 0,
            error: None,
        })
    }

    fn due(&mut self, u: &TrackUpdate) -> bool {
        if u.status == TrackStatus::Tentative && !self.tentative {
            return false;
        }
        if u.status == TrackStatus::Deleted {
            self.last_line.remove(&u.id);
            return true;
        }
        match self.last_line.get(&u.id) {
            Some(&t) if u.time - t < self.every_s => false,
            _ => {
                self.last_line.insert(u.id, u.time);
                true
            }
        }
    }

    /// Flushes both files, or returns the first error met while writing.
    pub fn finish(self) -> std::io::Result<()> {
        if let Some(e) = self.error {
            return Err(e);
        }
        self.tracks.finish()?;
        if let Some(a) = self.alerts {
            a.finish()?;
        }
        Ok(())
    }
}

impl Output for FileOutput {
    fn track(&mut self, u: &TrackUpdate, tracker: &Tracker) {
        if self.due(u) {
            self.track_lines += 1;
            if let Err(e) = self.tracks.write(&tracker.to_record(u)) {
                self.error.get_or_insert(e);
            }
        }
    }
    fn alert(&mut self, a: &AlertRecord) {
        if let Some(w) = &mut self.alerts {
            self.alert_lines += 1;
            if let Err(e) = w.write(a) {
                self.error.get_or_insert(e);
            }
        }
    }
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
/// `tracks.jsonl` (confirmed tracks), `alerts.jsonl` and, as `files` says, `truth.jsonl` and
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
        )?,
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
    let alerts = live.engine.judge.as_ref().map_or(0, |j| j.alerts().len());
    let final_alerts = live
        .engine
        .judge
        .as_ref()
        .map(|j| j.alerts().iter().map(|a| a.rec.clone()).collect())
        .unwrap_or_default();
    let facilities = live
        .engine
        .judge
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
