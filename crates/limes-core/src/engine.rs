//! The engine: sensor records → tracker → rules → outputs.
//!
//! [`Engine`] is the one path from sensor records to track updates and alerts; `limes track`,
//! `limes demo` and `limes serve` all call it, so there is no second copy of the logic. The
//! demo's orchestration (simulator → engine → evaluator) is in `run`, behind the `sim` feature.

use std::path::Path;

use crate::record::{
    AlertRecord, EventRecord, FieldError, JsonlWriter, SensorRecord, Time, TrackStatus,
};
use crate::rules::Rules;
use crate::site::Site;
use crate::track::{TrackUpdate, Tracker, TrackerConfig};

/// Receives what the engine produces.
pub trait Output {
    /// A track update (the tracker is passed to name sensors and convert frames).
    fn track(&mut self, u: &TrackUpdate, tracker: &Tracker);
    /// An alert revision.
    fn alert(&mut self, a: &AlertRecord);
    /// An assessed alarm kept from the operators (logged and counted, not alerted).
    fn event(&mut self, _e: &EventRecord) {}
}

/// Which records the engine takes, given what it has already seen: the one rule in one place.
///
/// A record is refused when it is more than `max_time_jump_s` ahead of the newest record or
/// clock tick (a wrong clock would make everything after it late), and a detection when it is
/// older than the tracker's reorder window allows (the tracker could no longer use it) or in
/// another frame than the first detection's (WGS84 and a local x/y frame have no common
/// place: tracks of both would be one picture of two unrelated maps). The server's log writer
/// keeps a copy of this state and runs it over the same log order, so it never acknowledges
/// a record the engine would refuse.
#[derive(Clone, Debug)]
pub struct Admission {
    /// Newest time of any record or tick seen.
    newest: f64,
    /// Newest time the tracker's reorder buffer has seen (detections, heartbeats, ticks).
    tracker_newest: f64,
    window: f64,
    jump: f64,
    /// Whether the first detection taken was in a local x/y frame (none taken yet: `None`).
    local: Option<bool>,
    /// Detections refused for arriving later than the reorder window.
    late: u64,
}

impl Admission {
    /// The rule for a tracker's settings.
    pub fn new(cfg: &TrackerConfig) -> Self {
        Self {
            newest: f64::NEG_INFINITY,
            tracker_newest: f64::NEG_INFINITY,
            window: cfg.reorder_window_s,
            jump: cfg.max_time_jump_s,
            local: None,
            late: 0,
        }
    }

    /// Whether `rec` would be taken now; the error names the field (`time`, or the position's).
    pub fn check(&self, rec: &SensorRecord) -> Result<(), FieldError> {
        let t = rec.time().0;
        if self.newest.is_finite() && t > self.newest + self.jump {
            return Err(FieldError::new(
                "time",
                format!(
                    "{} is more than {} s ahead of the newest record or clock tick ({}); is the sensor's clock wrong?",
                    Time(t),
                    self.jump,
                    Time(self.newest)
                ),
            ));
        }
        self.check_frame(rec)?;
        if self.is_late(rec) {
            return Err(FieldError::new(
                "time",
                format!(
                    "{} is {:.1} s behind the tracker's time ({}); detections later than its {} s reorder window cannot be tracked",
                    Time(t),
                    self.tracker_newest - t,
                    Time(self.tracker_newest),
                    self.window
                ),
            ));
        }
        Ok(())
    }

    /// Whether `rec`, a detection, is in the frame of the first detection taken (WGS84 or a
    /// local x/y frame); the error names the position's field.
    pub fn check_frame(&self, rec: &SensorRecord) -> Result<(), FieldError> {
        if let (SensorRecord::Detection(d), Some(local)) = (rec, self.local) {
            if is_local(d) != local {
                let (field, theirs, ours) = if local {
                    ("lon", "lon/lat", "a local x/y frame")
                } else {
                    ("x", "local x/y", "WGS84 lon/lat")
                };
                return Err(FieldError::new(
                    field,
                    format!(
                        "a {theirs} position among detections in {ours} (the first detection's frame): one frame for all of them"
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Whether `rec` is a detection older than the reorder window allows.
    fn is_late(&self, rec: &SensorRecord) -> bool {
        matches!(rec, SensorRecord::Detection(_))
            && self.tracker_newest.is_finite()
            && rec.time().0 < self.tracker_newest - self.window
    }

    /// Detections refused so far for arriving later than the reorder window.
    pub fn late_refused(&self) -> u64 {
        self.late
    }

    /// Checks `rec` and, when it is taken, notes its time (and, for the first detection, its
    /// frame); counts a detection refused for lateness.
    pub fn admit(&mut self, rec: &SensorRecord) -> Result<(), FieldError> {
        if let Err(e) = self.check(rec) {
            if self.is_late(rec) {
                self.late += 1;
            }
            return Err(e);
        }
        if let SensorRecord::Detection(d) = rec {
            self.local.get_or_insert(is_local(d));
        }
        let t = rec.time().0;
        self.newest = self.newest.max(t);
        if !matches!(rec, SensorRecord::Fence(_)) {
            self.tracker_newest = self.tracker_newest.max(t);
        }
        Ok(())
    }

    /// Notes a live clock tick at `t`.
    pub fn tick(&mut self, t: f64) {
        if t.is_finite() {
            self.newest = self.newest.max(t);
            self.tracker_newest = self.tracker_newest.max(t);
        }
    }
}

/// What a record's time says when the records that follow it in a file are known too
/// ([`Admission::judge_in_file`]): a file has no live clock to tell a gap from a wrong one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileTime {
    /// Nothing to decide: the record is admitted (or refused) as the live rule says.
    InOrder,
    /// More than `max_time_jump_s` ahead, and the detections after it go on from its time
    /// (three in four at least): the sensors were silent for a while (two nights in one
    /// file), not wrong. The file's time moves on to it ([`Engine::tick`]) before it is fed.
    Gap,
    /// Ahead of the newest record by more than the reorder window, and more than one in four
    /// of the detections after it are more than the window before it: taking it would make
    /// them late, so it is refused instead (its clock, or theirs, is wrong).
    AheadOfFile {
        /// Detections after it that lie more than the window before it.
        behind: usize,
        /// Detections after it looked at.
        of: usize,
    },
}

impl Admission {
    /// Judges `rec` by the records `next` that follow it in its file (a bounded look ahead):
    /// see [`FileTime`]. Only detections and heartbeats are judged (they move the tracker's
    /// time; a fence alarm never makes a detection late), only by the detections after them
    /// (what a wrong time would make late), and only when more than the reorder window ahead
    /// of the newest record (or the first one); with no detection after it to judge by, the
    /// live rule decides.
    pub fn judge_in_file<'a>(
        &self,
        rec: &SensorRecord,
        next: impl Iterator<Item = &'a SensorRecord>,
    ) -> FileTime {
        let t = rec.time().0;
        let first = !self.newest.is_finite();
        if matches!(rec, SensorRecord::Fence(_)) || (!first && t <= self.newest + self.window) {
            return FileTime::InOrder;
        }
        let (mut behind, mut of) = (0, 0);
        for r in next.filter(|r| matches!(r, SensorRecord::Detection(_))) {
            of += 1;
            if r.time().0 < t - self.window {
                behind += 1;
            }
        }
        if of == 0 {
            FileTime::InOrder
        } else if 4 * behind > of {
            FileTime::AheadOfFile { behind, of }
        } else if !first && t > self.newest + self.jump {
            FileTime::Gap
        } else {
            FileTime::InOrder
        }
    }

    /// The newest time of any record or clock tick taken, if any.
    pub fn newest(&self) -> Option<f64> {
        self.newest.is_finite().then_some(self.newest)
    }

    /// The tracker's reorder window, seconds: how far behind the newest time a detection
    /// may still be.
    pub fn window(&self) -> f64 {
        self.window
    }
}

/// Whether a detection's position is in a local x/y frame rather than WGS84.
fn is_local(d: &crate::record::Detection) -> bool {
    matches!(d.pos, crate::record::Position::Local { .. })
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
    admission: Admission,
}

impl Engine {
    /// An engine with a tracker and, for a site, its rules.
    pub fn new(cfg: TrackerConfig, site: Option<&Site>) -> Self {
        Self {
            admission: Admission::new(&cfg),
            tracker: Tracker::new(cfg),
            rules: site.map(Rules::new),
            updates: Vec::new(),
            alerts: Vec::new(),
            invalid: 0,
        }
    }

    /// The admission rule's current state (the server's writer starts from a copy).
    pub fn admission(&self) -> &Admission {
        &self.admission
    }

    /// Feeds one sensor record. A record that fails [`SensorRecord::validate`] or the
    /// [`Admission`] rule is counted and returned as an error naming the field.
    pub fn feed(&mut self, rec: &SensorRecord, out: &mut dyn Output) -> Result<(), FieldError> {
        if let Err(e) = rec.validate().and_then(|()| self.admission.admit(rec)) {
            self.invalid += 1;
            return Err(e);
        }
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
        self.admission.tick(t);
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
            // The end of a track that was never confirmed is for the rules (to forget it),
            // not for outputs of confirmed tracks.
            if u.status == TrackStatus::Deleted && !u.was_confirmed {
                continue;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Detection, Position};

    fn det(t: f64, pos: Position) -> SensorRecord {
        SensorRecord::Detection(Detection {
            sensor: "s1".into(),
            time: Time(t),
            pos,
            cov: None,
            ce: Some(5.0),
            class: None,
            heat_m2: None,
            count: None,
        })
    }

    #[test]
    fn detections_in_another_frame_than_the_first_are_refused_by_name() {
        let local = Position::Local { x: 10.0, y: 20.0 };
        let wgs84 = Position::LonLat {
            lon: 41.0,
            lat: 34.0,
        };
        for (first, other, field) in [(local, wgs84, "lon"), (wgs84, local, "x")] {
            let mut a = Admission::new(&TrackerConfig::default());
            a.admit(&det(100.0, first))
                .expect("the first frame is taken");
            let e = a.admit(&det(101.0, other)).expect_err("another frame");
            assert_eq!(e.field, field, "{e}");
            a.admit(&det(102.0, first))
                .expect("the first frame still is");
        }
    }

    #[test]
    fn a_file_record_is_judged_by_the_detections_after_it() {
        let cfg = TrackerConfig::default(); // window 2 s, jump 3600 s
        let mut a = Admission::new(&cfg);
        let here = Position::Local { x: 0.0, y: 0.0 };
        let at = |t: f64| det(t, here);
        let after = |from: f64, n: usize| (0..n).map(move |k| at(from + k as f64));
        let judge =
            |a: &Admission, t: f64, next: Vec<SensorRecord>| a.judge_in_file(&at(t), next.iter());
        // The first record, when the detections after it are more than the window before it.
        assert_eq!(
            judge(&a, 5000.0, after(100.0, 16).collect()),
            FileTime::AheadOfFile { behind: 16, of: 16 }
        );
        assert_eq!(
            judge(&a, 100.0, after(101.0, 16).collect()),
            FileTime::InOrder
        );
        a.admit(&at(100.0)).expect("taken");
        // Within the window nothing is decided.
        assert_eq!(
            judge(&a, 101.5, after(0.0, 16).collect()),
            FileTime::InOrder
        );
        // Ahead, and more than one in four after it behind: refused, within `jump` or beyond.
        assert_eq!(
            judge(&a, 3000.0, after(101.0, 16).collect()),
            FileTime::AheadOfFile { behind: 16, of: 16 }
        );
        let half: Vec<_> = after(101.0, 8).chain(after(8000.0, 8)).collect();
        assert_eq!(
            judge(&a, 8000.0, half),
            FileTime::AheadOfFile { behind: 8, of: 16 }
        );
        // Beyond `jump`, with three in four after it going on from it: a gap.
        let most: Vec<_> = after(101.0, 4).chain(after(8000.0, 12)).collect();
        assert_eq!(judge(&a, 8000.0, most), FileTime::Gap);
        // With no detection after it to judge by (the end of the file, or fence alarms
        // only), the live rule decides.
        assert_eq!(judge(&a, 8000.0, Vec::new()), FileTime::InOrder);
        // A fence alarm is not judged: it never makes a detection late.
        let fence = SensorRecord::Fence(crate::record::FenceAlarm {
            sensor: "f1".into(),
            zone: "z1".into(),
            time: Time(3000.0),
            alarm: crate::record::FenceAlarmKind::Cut,
            line: [[38.9, 36.4], [38.91, 36.4]],
        });
        assert_eq!(
            a.judge_in_file(&fence, after(101.0, 16).collect::<Vec<_>>().iter()),
            FileTime::InOrder
        );
        assert_eq!(
            a.judge_in_file(&at(3000.0), std::iter::repeat_n(&fence, 16)),
            FileTime::InOrder
        );
    }

    #[test]
    fn detections_later_than_the_window_are_refused_and_counted() {
        let cfg = TrackerConfig::default();
        let mut a = Admission::new(&cfg);
        let here = Position::Local { x: 0.0, y: 0.0 };
        a.admit(&det(100.0, here)).expect("taken");
        a.admit(&det(100.0 - cfg.reorder_window_s / 2.0, here))
            .expect("within the window");
        assert_eq!(a.late_refused(), 0);
        let e = a
            .admit(&det(100.0 - cfg.reorder_window_s - 0.1, here))
            .expect_err("late");
        assert_eq!(e.field, "time");
        assert_eq!(a.late_refused(), 1);
        // Refused for another reason: not counted as late.
        assert!(a.admit(&det(1e9, here)).is_err());
        assert_eq!(a.late_refused(), 1);
    }
}
