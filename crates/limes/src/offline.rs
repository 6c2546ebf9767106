//! The file-to-file commands: `limes sim`, `limes track`, `limes eval` and `limes site`.

use anyhow::{bail, Context, Result};
use std::collections::VecDeque;
use std::path::{Path, PathBuf};

use crate::merged::{Merged, Read};
use crate::progress;
use limes_core::engine::{Engine, FileOutput, FileTime};
use limes_core::eval::{EvalConfig, Evaluator, Report};
use limes_core::record::{
    read_jsonl, AlertRecord, FieldError, JsonlWriter, SensorRecord, Time, TrackRecord, TruthRecord,
};
use limes_core::site;
use limes_core::track::TrackerConfig;

/// `limes sim`: a site's scenario into detections.jsonl and truth.jsonl in `out`.
pub fn sim(site_file: &str, seed: u64, out: &Path) -> Result<()> {
    let site = site::open(site_file)?;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    struct Files {
        det: JsonlWriter,
        truth: JsonlWriter,
        bar: indicatif::ProgressBar,
        err: Option<std::io::Error>,
    }
    impl limes_core::sim::Sink for Files {
        fn sensor(&mut self, r: SensorRecord) {
            if let Err(e) = self.det.write(&r) {
                self.err.get_or_insert(e);
            }
        }
        fn truth(&mut self, r: TruthRecord) {
            if let Err(e) = self.truth.write(&r) {
                self.err.get_or_insert(e);
            }
        }
        fn progress(&mut self, f: f64) {
            self.bar.set_position((f * 1000.0) as u64);
        }
    }
    let mut files = Files {
        det: JsonlWriter::create(&out.join("detections.jsonl"))?,
        truth: JsonlWriter::create(&out.join("truth.jsonl"))?,
        bar: progress::bar(&format!("sim {}", site.name)),
        err: None,
    };
    let summary = limes_core::sim::simulate(&site, None, seed, &mut files)?;
    files.bar.finish_and_clear();
    if let Some(e) = files.err {
        return Err(e).context("writing simulator output");
    }
    let d = files.det.finish()?;
    let t = files.truth.finish()?;
    println!(
        "{} actors, {} detections, {} heartbeats, {} truth states, {} incidents\n{}\n{}",
        summary.actors,
        summary.detections,
        summary.heartbeats,
        summary.truth_states,
        summary.incidents.len(),
        d.display(),
        t.display()
    );
    Ok(())
}

/// Records `limes track` reads ahead of the one it feeds: enough to outvote one record with a
/// wrong clock, few enough to hold whatever the file.
const LOOK_AHEAD: usize = 16;

/// Sensors whose learnt figures `limes track` prints at most.
const SENSORS_SHOWN: usize = 20;

/// Whether two paths name one existing file — by device and inode where there are such, so a
/// hard link, a symlink, `/dev/stdin` or `-` (standard input) is seen for what it is (a path
/// that does not exist yet is no input).
fn same_file(a: &Path, b: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let id = |p: &Path| {
            let p = if p == Path::new("-") {
                Path::new("/dev/stdin")
            } else {
                p
            };
            std::fs::metadata(p).ok().map(|m| (m.dev(), m.ino()))
        };
        matches!((id(a), id(b)), (Some(x), Some(y)) if x == y)
    }
    #[cfg(not(unix))]
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// Whether two paths, existing or not, name one file.
fn same_path(a: &Path, b: &Path) -> bool {
    same_file(a, b)
        || matches!((std::path::absolute(a), std::path::absolute(b)), (Ok(a), Ok(b)) if a == b)
}

/// Tracker parameters as the `[tracker]` table of a site file (with its subtables).
fn tracker_table(cfg: &TrackerConfig) -> Result<String> {
    #[derive(serde::Serialize)]
    struct Table<'a> {
        tracker: &'a TrackerConfig,
    }
    toml::to_string(&Table { tracker: cfg }).context("printing the tracker parameters")
}

/// `limes track`: detections into tracks (and, with a site, alerts and events); several
/// detections files are merged by time (see [`Merged`]).
pub fn track(
    detections: &[PathBuf],
    out: &Path,
    site_file: Option<&str>,
    (alerts, events): (Option<&Path>, Option<&Path>),
    all: bool,
) -> Result<()> {
    if alerts.is_some() && site_file.is_none() {
        bail!("--alerts needs --site: the alert rules come from the site file");
    }
    if events.is_some() && site_file.is_none() {
        bail!("--events needs --site: the alert rules come from the site file");
    }
    // One file given twice would be every record twice.
    for (k, d) in detections.iter().enumerate() {
        if detections[k + 1..].iter().any(|e| same_path(d, e)) {
            bail!("{} is given twice as --detections", d.display());
        }
    }
    // An output that is the input would be emptied before it is read; two outputs that are
    // one file would overwrite each other.
    let outputs = [
        ("--out", Some(out)),
        ("--alerts", alerts),
        ("the events file", events),
    ];
    for (k, (what, path)) in outputs.iter().enumerate() {
        let Some(p) = path else { continue };
        if detections.iter().any(|d| same_file(p, d)) {
            bail!(
                "{what} ({}) is the detections file: it would be overwritten before it is read",
                p.display()
            );
        }
        for (other, q) in &outputs[k + 1..] {
            if q.is_some_and(|q| same_path(p, q)) {
                bail!("{what} and {other} are one file ({})", p.display());
            }
        }
    }
    let site = site_file.map(site::open).transpose()?;
    let cfg = match &site {
        Some(s) => s.tracker.clone(),
        None => {
            let cfg = TrackerConfig::unknown_sensor();
            eprintln!(
                "# no --site: tracking with the parameters for an unknown point sensor at about 1 Hz.\n\
                 # This is a site file that sets them: save it, change what your sensor needs\n\
                 # (docs/site.md, \"Setting the tracker\"), and pass it with --site.\n\
                 name = \"unknown-sensor\"\n\n{}",
                tracker_table(&cfg)?
            );
            cfg
        }
    };
    // The inputs are opened before any output is created: one that cannot be read leaves an
    // earlier run's files as they were.
    let mut input = Merged::open(detections, cfg.reorder_window_s)?;
    let mut engine = Engine::new(cfg, site.as_ref());
    // Every update of a confirmed track (and of tentative ones with --all).
    let mut files = FileOutput::create(out, alerts, all, 0.0)?;
    if let Some(e) = events {
        files = files.with_events(e)?;
    }
    let size = detections
        .iter()
        .map(|d| std::fs::metadata(d).map_or(0, |m| m.len()))
        .sum::<u64>()
        .max(1);
    let names: Vec<String> = detections.iter().map(|d| d.display().to_string()).collect();
    let bar = progress::bar("track");
    let mut last_t = f64::NEG_INFINITY;
    let (mut refused, mut gaps) = (0u64, 0u64);
    // Bad records are reported and skipped; everything else is tracked. Read as the server
    // reads a sensor's record: unknown, duplicate or mistyped fields refused, by name. A
    // file has no clock: each record is judged by the LOOK_AHEAD records after it, so a gap
    // in the file's time is crossed and a record with a wrong clock is refused rather than
    // everything after it (see `FileTime`).
    let mut ahead: VecDeque<Read> = VecDeque::with_capacity(LOOK_AHEAD + 1);
    let mut feed_first = |ahead: &mut VecDeque<Read>| {
        let Some(Read { file, line, rec }) = ahead.pop_front() else {
            return;
        };
        let name = &names[file];
        let res = rec.and_then(|r| {
            // A record refused anyway is neither judged nor allowed to move the file's time.
            r.validate()
                .and_then(|()| engine.admission().check_frame(&r))
                .map_err(|e| e.to_string())?;
            let t = r.time().0;
            let next = ahead.iter().filter_map(|r| r.rec.as_ref().ok());
            let newest = engine.admission().newest();
            match engine.admission().judge_in_file(&r, next) {
                FileTime::InOrder => {}
                FileTime::AheadOfFile { behind, of } => {
                    return Err(FieldError::new(
                        "time",
                        format!(
                            "{} is ahead of the detections after it ({behind} of the next {of} are more than the {} s reorder window before it); is a clock wrong? Taking it would make them late",
                            Time(t),
                            engine.admission().window()
                        ),
                    )
                    .to_string());
                }
                FileTime::Gap => {
                    gaps += 1;
                    if gaps <= 20 {
                        eprintln!(
                            "{name}:{line}: a gap in the file's time, {} to {}: the records after it go on from there, so the tracks before it end",
                            Time(newest.unwrap_or(t)),
                            Time(t)
                        );
                    }
                    engine.tick(t, &mut files);
                }
            }
            last_t = last_t.max(t);
            engine.feed(&r, &mut files).map_err(|e| e.to_string())
        });
        if let Err(e) = res {
            refused += 1;
            if refused <= 20 {
                eprintln!("{name}:{line}: {e}");
            }
        }
    };
    let mut read = 0u64;
    while let Some(r) = input.next_read()? {
        ahead.push_back(r);
        if ahead.len() > LOOK_AHEAD {
            feed_first(&mut ahead);
        }
        read += 1;
        if read.is_multiple_of(10_000) {
            bar.set_position((input.bytes() * 1000 / size).min(1000));
        }
    }
    while !ahead.is_empty() {
        feed_first(&mut ahead);
    }
    let all_inputs = names.join(", ");
    if gaps > 20 {
        eprintln!("{gaps} gaps in the time of {all_inputs} crossed (the first 20 listed above)");
    }
    engine.finish(last_t, &mut files);
    bar.finish_and_clear();
    let (track_lines, alert_lines, event_lines) =
        (files.track_lines, files.alert_lines, files.event_lines);
    files.finish().context("writing output")?;
    let s = engine.tracker.stats();
    let late = engine.admission().late_refused() + s.late_dropped;
    println!(
        "{} detections tracked ({late} refused as later than the {} s reorder window), {} tracks started, {} confirmed ({} of them continuing a lost track's id); {} track lines, {} alert lines, {} event lines",
        s.detections, engine.tracker.config().reorder_window_s, s.tracks_started, s.tracks_confirmed, s.tracks_continued, track_lines, alert_lines, event_lines
    );
    // A limit of `[tracker.limits]` reached is said, not left to the counters.
    if s.tentative_shed + s.confirmed_shed + s.flood_refused + s.buffer_overflows > 0 {
        eprintln!(
            "warning: the tracker's limits ([tracker.limits]) were reached: {} tentative tracks shed or not started, {} confirmed tracks shed, {} detections of flooding sensors started no track, the reorder buffer full {} times",
            s.tentative_shed, s.confirmed_shed, s.flood_refused, s.buffer_overflows
        );
    }
    // What it learnt of each sensor, when it learns (as comments of the table above).
    if engine.tracker.config().learn_detection_probability {
        let estimates: Vec<_> = engine.tracker.sensor_estimates().collect();
        let n = estimates.len();
        if n > SENSORS_SHOWN {
            eprintln!("# {n} sensors; the first {SENSORS_SHOWN}:");
        }
        for e in estimates.into_iter().take(SENSORS_SHOWN) {
            let spread = if e.spreads_scans {
                format!(
                    " (how often it looks at one place: it spreads each look over timestamps {:.3} s apart)",
                    e.timestamp_gap_s
                )
            } else {
                String::new()
            };
            eprintln!(
                "# sensor {}: scan period {:.2} s{spread}, detection probability {:.2} (from {:.0} track scans), clutter {:.2e} per m² per scan",
                e.sensor, e.period_s, e.detection_probability, e.track_scans, e.clutter_density
            );
        }
    }
    if refused > 0 {
        // A file holding one sensor's log after another's reads as the second log being late.
        let hint = if late > 0 && detections.len() == 1 {
            "; records behind the file's time are late: a file holding one log after another \
             can be given as one --detections file per log, which are merged by time"
        } else {
            ""
        };
        bail!(
            "{refused} record(s) of {all_inputs} refused (first ones listed above); the rest were tracked{hint}"
        );
    }
    Ok(())
}

/// Fastest velocity component a tracks file may give, m/s (faster than anything on the ground
/// or in the air that Limes tracks, and far from overflowing a prediction).
const MAX_SPEED: f64 = 1.0e4;

/// `limes eval`: tracks and alerts scored against the simulator's truth.
pub fn eval(
    truth: &Path,
    tracks: &Path,
    alerts: Option<&Path>,
    name: &str,
    (frontier_km, site_file): (Option<f64>, Option<&str>),
    cfg: EvalConfig,
    out: &Path,
) -> Result<()> {
    let site = site_file.map(site::open).transpose()?;
    let frontier_km = frontier_km.or_else(|| site.as_ref().and_then(|s| s.frontier_km()));
    let truths: Vec<TruthRecord> = read_jsonl(truth)?;
    let mut records: Vec<TrackRecord> = read_jsonl(tracks)?;
    // A position or velocity that is no place (latitude 100, a speed of 1e308) is refused by
    // record and field rather than scored as something.
    for (k, r) in truths.iter().enumerate() {
        let pos = match r {
            TruthRecord::State(s) => s.pos,
            TruthRecord::Incident(i) => i.pos,
        };
        pos.check()
            .with_context(|| format!("{}: record {}", truth.display(), k + 1))?;
    }
    for (k, r) in records.iter().enumerate() {
        let at = || format!("{}: record {} (track {})", tracks.display(), k + 1, r.id);
        r.pos.check().with_context(at)?;
        if !r.vel.iter().all(|v| v.is_finite() && v.abs() < MAX_SPEED) {
            bail!(
                "{}: field `vel`: expected metres per second below {MAX_SPEED}",
                at()
            );
        }
    }
    records.sort_by(|a, b| a.time.0.total_cmp(&b.time.0));
    // Tracks of another night (or another clock) would be scored as nothing but misses.
    let truth_span = truths
        .iter()
        .filter_map(|r| match r {
            TruthRecord::State(s) => Some(s.time.0),
            TruthRecord::Incident(_) => None,
        })
        .fold(None, |span: Option<(f64, f64)>, t| {
            Some(span.map_or((t, t), |(a, b)| (a.min(t), b.max(t))))
        });
    if let (Some((a, b)), Some(first), Some(last)) = (truth_span, records.first(), records.last()) {
        if last.time.0 < a || first.time.0 > b {
            eprintln!(
                "warning: the tracks ({} to {}) and the truth ({} to {}) do not overlap in time: every truth will be scored as missed and every track as false",
                first.time, last.time, Time(a), Time(b)
            );
        }
    }
    let mut ev = Evaluator::with_truth(cfg, truths);
    if let Some(s) = &site {
        ev.set_backdrop(s.backdrop());
    }
    for t in &records {
        ev.on_record(t);
    }
    if let Some(a) = alerts {
        for r in read_jsonl::<AlertRecord>(a)? {
            ev.on_alert(&r);
        }
    }
    let figures = ev.finish(name, frontier_km);
    let report = Report {
        title: format!("Limes evaluation: {name}"),
        command: std::env::args().collect::<Vec<_>>().join(" "),
        sites: vec![figures],
        notes: vec![],
    };
    let path = report.write(out)?;
    let s = &report.sites[0];
    println!(
        "GOSPA mean {:.1} (loc {:.1}, missed {:.1}, false {:.1}), OSPA {:.1}; identity switches {} (half {}, switching term {:.1})\nreport: {}",
        s.gospa_mean,
        s.gospa_localisation_mean,
        s.gospa_missed_mean,
        s.gospa_false_mean,
        s.ospa_mean,
        s.id_switches,
        s.half_switches,
        s.switching_mean,
        path.display()
    );
    Ok(())
}

/// `limes site`: what a site file holds, as the tracker and rules read it.
pub fn show_site(file: &str) -> Result<()> {
    let s = site::open(file)?;
    let count = |k: &str| s.sensors.iter().filter(|x| x.kind.name() == k).count();
    let zones: usize = s
        .sensors
        .iter()
        .map(|x| match &x.kind {
            site::SensorKind::Fence(f) => f.zones.len(),
            _ => 0,
        })
        .sum();
    println!("site {}: {}", s.name, s.description);
    if let Some(f) = &s.frontier {
        let km = s.frontier_km().unwrap_or(0.0);
        println!(
            "  frontier {}: {:.1} km, {} vertices, outside on the {:?}",
            f.name,
            km,
            f.line.len(),
            f.outside
        );
    }
    println!(
        "  {} thermal cameras, {} observers, {} fence controllers with {} zones",
        count("thermal_camera"),
        count("observer"),
        count("fence"),
        zones
    );
    println!(
        "  {} facilities, {} crossings, {} lines, {} response units",
        s.facilities.len(),
        s.crossings.len(),
        s.lines.len(),
        s.units.len()
    );
    Ok(())
}
