//! The engine: sensor records → tracker → rules → outputs.
//!
//! [`Engine`] is the one path from sensor records to track updates and alerts; `limes track`,
//! `limes demo` and `limes serve` all call it, so there is no second copy of the logic. The
//! demo's orchestration (simulator → engine → evaluator) is in `run`, behind the `sim` feature.

use std::path::Path;

use crate::record::{AlertRecord, EventRecord, JsonlWriter, SensorRecord, Time, TrackStatus};
use crate::rules::Rules;
use crate::site::Site;
use crate::track::{InputError, TrackUpdate, Tracker, TrackerConfig};

/// Receives what the engine produces.
pub trait Output {
    /// A track update (the tracker is passed to name sensors and convert frames).
    fn track(&mut self, u: &TrackUpdate, tracker: &Tracker);
    /// An alert revision.
    fn alert(&mut self, a: &AlertRecord);
    /// An assessed alarm kept from the operators (logged and counted, not alerted).
    fn event(&mut self, _e: &EventRecord) {}
}

/// Tracker plus (optionally) rules, fed one sensor record at a time.
pub struct Engine {
    /// The tracker.
    pub tracker: Tracker,
    /// The rules, when a site is known.
    pub rules: Option<Rules>,
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
            rules: site.map(Rules::new),
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
                if let (Ok(()), Some(j), Some(_)) = (&res, &mut self.rules, d.count) {
                    j.on_observer(d, &mut self.alerts);
                }
                res
            }
            SensorRecord::Fence(f) => {
                if let Some(j) = &mut self.rules {
                    j.on_fence(f, &mut self.alerts);
                }
                Ok(())
            }
            SensorRecord::Heartbeat(h) => {
                self.tracker.advance(h.time.0, &mut self.updates);
                if let Some(j) = &mut self.rules {
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
        if let Some(j) = &mut self.rules {
            j.advance(t, &mut self.alerts);
        }
        self.drain(out);
    }

    /// Processes everything still buffered (end of input at time `t`).
    pub fn finish(&mut self, t: f64, out: &mut dyn Output) {
        self.tracker.flush(&mut self.updates);
        if let Some(j) = &mut self.rules {
            j.advance(t, &mut self.alerts);
        }
        self.drain(out);
    }

    fn drain(&mut self, out: &mut dyn Output) {
        for u in self.updates.drain(..) {
            if let Some(j) = &mut self.rules {
                let name = u.sensor.map(|s| self.tracker.sensor_name(s));
                j.on_track(&u, name, &mut self.alerts);
            }
            out.track(&u, &self.tracker);
        }
        for a in self.alerts.drain(..) {
            out.alert(&a);
        }
        if let Some(j) = &mut self.rules {
            for e in j.take_events() {
                out.event(&e);
            }
        }
    }
}

/// Writes track and alert lines to JSON Lines files; an I/O error is kept and returned by
/// [`FileOutput::finish`], so the engine's path never fails halfway through a record.
pub struct FileOutput {
    tracks: JsonlWriter,
    alerts: Option<JsonlWriter>,
    events: Option<JsonlWriter>,
    tentative: bool,
    every_s: f64,
    /// Time of the last line written per track.
    last_line: std::collections::HashMap<u64, f64>,
    /// Track lines written.
    pub track_lines: u64,
    /// Alert lines written.
    pub alert_lines: u64,
    /// Event lines written.
    pub event_lines: u64,
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
            events: None,
            tentative,
            every_s,
            last_line: Default::default(),
            track_lines: 0,
            alert_lines: 0,
            event_lines: 0,
            error: None,
        })
    }

    /// Also writes events (assessed alarms kept from the operators) to `path`.
    pub fn with_events(mut self, path: &Path) -> std::io::Result<Self> {
        self.events = Some(JsonlWriter::create(path)?);
        Ok(self)
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
        if let Some(e) = self.events {
            e.finish()?;
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
    fn event(&mut self, e: &EventRecord) {
        if let Some(w) = &mut self.events {
            self.event_lines += 1;
            if let Err(err) = w.write(e) {
                self.error.get_or_insert(err);
            }
        }
    }
}
