//! `limes bench accuracy`: Limes beside Stone Soup on one family of multi-target scenarios.
//!
//! Each scenario (see [`scenario`]) is written as `detections.jsonl` (Limes sensor records in
//! a flat x/y frame, docs/schema.md) and `truth.jsonl` (`{"t", "id", "x", "y"}` per target per
//! scan). Limes runs in a child process (`limes bench accuracy-run`), Stone Soup's GNN and
//! JPDA (EHM2) in Python (`stonesoup_run.py`, PyPI `stonesoup` in a virtual environment under
//! `target/`); each writes the tracks it holds after every scan as
//! `{"t": scan, "tracks": [[id, x, y], …]}` and its own timing and peak memory. All are scored
//! here with the same GOSPA (c = 50 m, p = 1, α = 2) and Stone Soup's switching term.
//! With `--stamp beam` the sensor stamps each detection as the beam of a radar turning once a
//! scan passed it: Limes reads the file as it is, Stone Soup is given each turn as a scan.

mod scenario;

use anyhow::{bail, Context, Result};
use serde_json::json;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;
use wait_timeout::ChildExt;

use limes_core::eval::gospa::{gospa_with_pairs, with_switching, Switching};
use limes_core::record::{Detection, Position, SensorRecord, Time};
use limes_core::track::{Association, Tracker, TrackerConfig};

/// GOSPA cut-off, order and switching penalty (metres per full switch).
const C: f64 = 50.0;
const P: f64 = 1.0;
const SWITCH_PENALTY: f64 = 50.0;
/// Time of scan 0.
const T0: f64 = 1_570_906_800.0;

/// The Stone Soup runner, written next to the scenarios at run time.
const STONESOUP_PY: &str = include_str!("stonesoup_run.py");
/// The Stone Soup release the bench installs.
const STONESOUP: &str = "stonesoup==1.9.1";

/// Options of `limes bench accuracy`.
pub struct Args {
    /// Folder for scenarios, tracks and the table.
    pub out: PathBuf,
    /// Multiplies every scenario's number of scans.
    pub scale: f64,
    /// Draw of the family: every scenario's seed raised by 100 × this (0: the documented one).
    pub seed: u64,
    /// Skip Stone Soup.
    pub no_stonesoup: bool,
    /// Only these scenarios.
    pub only: Vec<String>,
    /// Score Stone Soup's tracks from an earlier run of the same scenarios instead of
    /// running it again.
    pub reuse_stonesoup: bool,
    /// A TOML file whose `[tracker]` table changes Limes' parameters.
    pub tracker: Option<PathBuf>,
    /// Stone Soup is stopped after this long on one scenario, seconds.
    pub stonesoup_limit_s: f64,
    /// How the sensor stamps its detections.
    pub stamp: Stamp,
}

/// How the benchmark's sensor stamps its detections (`--stamp`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Stamp {
    /// Every detection of a scan with the scan's time.
    Scan,
    /// Each detection with the instant the beam of a sensor turning once a second at the
    /// strip's centre passed it (over 90 % of the turn), as many radars report; Limes has
    /// to learn that a scan is a turn. Stone Soup is given the turns as its scans.
    Beam,
}

/// One track's estimate at one scan: id, x, y.
type Estimate = (u64, f64, f64);

/// Scores of one tracker on one scenario.
#[derive(Default, Clone)]
struct Score {
    gospa: f64,
    loc: f64,
    missed: f64,
    false_: f64,
    switching: f64,
    full: u64,
    half: u64,
    det_s: f64,
    rss_mib: f64,
    /// Stone Soup's own GOSPAMetric mean over the same tracks, when it was asked for.
    check: Option<f64>,
}

/// Runs the benchmark and prints the table (also written to `out/accuracy.md`).
pub fn run(a: &Args) -> Result<()> {
    std::fs::create_dir_all(&a.out)?;
    let stonesoup_limit = std::time::Duration::try_from_secs_f64(a.stonesoup_limit_s)
        .ok()
        .filter(|d| !d.is_zero())
        .with_context(|| {
            format!(
                "--stonesoup-limit-s {}: expected a positive number of seconds",
                a.stonesoup_limit_s
            )
        })?;
    let python = if a.no_stonesoup { None } else { Some(venv()?) };
    let mut md = String::from(
        "| scenario | scans | targets (mean) | clutter/scan | Pd | tracker | GOSPA mean | localisation | missed | false | switching | ID switches (full/half) | det/s | peak RSS MiB |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    let mut notes: Vec<String> = Vec::new();
    for spec in scenario::family(a.scale, a.seed) {
        if !a.only.is_empty() && !a.only.iter().any(|o| o == spec.name) {
            continue;
        }
        // Another draw goes to its own folder, so Stone Soup's tracks of one draw are never
        // reused against another's truth.
        let mut dir = match a.seed {
            0 => spec.name.to_string(),
            n => format!("{}-seed{n}", spec.name),
        };
        if a.stamp == Stamp::Beam {
            dir += "-beam";
        }
        let dir = a.out.join(dir);
        std::fs::create_dir_all(&dir)?;
        let sc = scenario::generate(&spec, a.stamp == Stamp::Beam);
        write_scenario(&dir, &spec, &sc)?;
        let truth = &sc.truth;
        let mean_targets =
            truth.iter().map(Vec::len).sum::<usize>() as f64 / truth.len().max(1) as f64;
        let mut rows: Vec<(String, Score)> = Vec::new();
        // Limes in its own process, so its peak memory is its own.
        let exe = std::env::current_exe()?;
        for assoc in Association::ALL {
            let name = assoc.name();
            let st = std::process::Command::new(&exe)
                .args(["bench", "accuracy-run", "--dir"])
                .arg(&dir)
                .args(["--pd", &spec.pd.to_string()])
                .args(["--association", name])
                .args(
                    a.tracker
                        .iter()
                        .flat_map(|f| [std::ffi::OsStr::new("--tracker"), f.as_os_str()]),
                )
                .status()?;
            if !st.success() {
                bail!("limes bench accuracy-run failed on {}", dir.display());
            }
            let default = TrackerConfig::unknown_sensor().association == assoc;
            rows.push((
                format!(
                    "Limes {}{}",
                    name.to_uppercase(),
                    if default { " (default)" } else { "" }
                ),
                score(&dir, &format!("limes-{name}"), truth)?,
            ));
        }
        if let Some(py) = &python {
            for tracker in ["gnn", "jpda"] {
                let t = Instant::now();
                let done = dir.join(format!("ss-{tracker}.stats.json"));
                if a.reuse_stonesoup {
                    if done.exists() {
                        let sc = score(&dir, &format!("ss-{tracker}"), truth)?;
                        rows.push((format!("Stone Soup {}", tracker.to_uppercase()), sc));
                    }
                    continue;
                }
                let mut child = std::process::Command::new(py)
                    .arg(dir.join("stonesoup_run.py"))
                    .args(["--dir"])
                    .arg(&dir)
                    .args(["--tracker", tracker])
                    .args(["--pd", &spec.pd.to_string()])
                    .args(["--sigma", &spec.sigma.to_string()])
                    .args([
                        "--clutter-density",
                        &(spec.clutter / (scenario::AREA[0] * scenario::AREA[1])).to_string(),
                    ])
                    .args(if spec.name == "t50" {
                        &["--check-metric"][..]
                    } else {
                        &[][..]
                    })
                    .args(if a.stamp == Stamp::Beam {
                        &["--scan-s", "1"][..]
                    } else {
                        &[][..]
                    })
                    .spawn()?;
                let Some(st) = child.wait_timeout(stonesoup_limit)? else {
                    child.kill()?;
                    child.wait()?;
                    let note = format!(
                        "Stone Soup {} on {}: stopped after {:.0} s (`--stonesoup-limit-s`), not scored.",
                        tracker.to_uppercase(),
                        spec.name,
                        a.stonesoup_limit_s
                    );
                    eprintln!("{note}");
                    notes.push(note);
                    continue;
                };
                if !st.success() {
                    bail!("Stone Soup {tracker} failed on {}", dir.display());
                }
                eprintln!(
                    "{}: Stone Soup {tracker} took {:.0} s",
                    spec.name,
                    t.elapsed().as_secs_f64()
                );
                let name = format!("ss-{tracker}");
                let sc = score(&dir, &name, truth)?;
                if let Some(theirs) = sc.check {
                    // Stone Soup's own GOSPAMetric on the same tracks against ours.
                    eprintln!(
                        "{}: Stone Soup {tracker}: GOSPA mean by Stone Soup's GOSPAMetric {theirs:.4}, by limes {:.4}",
                        spec.name, sc.gospa
                    );
                    if (theirs - sc.gospa).abs() > 1e-6 * theirs.max(1.0) {
                        bail!("the GOSPA of limes and of Stone Soup differ on the same tracks");
                    }
                }
                rows.push((format!("Stone Soup {}", tracker.to_uppercase()), sc));
            }
        }
        for (name, s) in &rows {
            let row = format!(
                "| {} | {} | {:.0} | {:.0} | {} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {}/{} | {:.0} | {:.0} |\n",
                spec.name,
                spec.scans,
                mean_targets,
                spec.clutter,
                spec.pd,
                name,
                s.gospa,
                s.loc,
                s.missed,
                s.false_,
                s.switching,
                s.full,
                s.half,
                s.det_s,
                s.rss_mib
            );
            print!("{row}");
            md += &row;
        }
    }
    for note in &notes {
        md.push_str(&format!("\n{note}\n"));
    }
    std::fs::write(a.out.join("accuracy.md"), &md)?;
    println!("\n{md}\ntable: {}", a.out.join("accuracy.md").display());
    Ok(())
}

fn write_scenario(dir: &Path, spec: &scenario::Spec, sc: &scenario::Scenario) -> Result<()> {
    let mut d = std::io::BufWriter::new(std::fs::File::create(dir.join("detections.jsonl"))?);
    for (k, scan) in sc.detections.iter().enumerate() {
        for &(x, y, dt) in scan {
            let rec = SensorRecord::Detection(Detection {
                sensor: "radar".into(),
                time: Time(T0 + k as f64 + dt),
                pos: Position::Local { x, y },
                cov: None,
                ce: Some(spec.sigma),
                class: None,
                heat_m2: None,
                count: None,
            });
            serde_json::to_writer(&mut d, &rec)?;
            d.write_all(b"\n")?;
        }
    }
    d.flush()?;
    let mut t = std::io::BufWriter::new(std::fs::File::create(dir.join("truth.jsonl"))?);
    for (k, scan) in sc.truth.iter().enumerate() {
        for &(id, x, y) in scan {
            serde_json::to_writer(&mut t, &json!({"t": k, "id": id, "x": x, "y": y}))?;
            t.write_all(b"\n")?;
        }
    }
    t.flush()?;
    std::fs::write(dir.join("stonesoup_run.py"), STONESOUP_PY)?;
    Ok(())
}

/// `limes bench accuracy-run --dir D`: tracks `D/detections.jsonl` with the parameters for an
/// unknown 1 Hz point sensor with the given association; writes `D/limes-A.tracks.jsonl` and
/// `D/limes-A.stats.json` (A: gnn, jpda or mht).
pub fn run_limes(dir: &Path, pd: f64, assoc: Association, tracker: Option<&Path>) -> Result<()> {
    let name = assoc.name();
    let f = std::io::BufReader::new(std::fs::File::open(dir.join("detections.jsonl"))?);
    let mut dets: Vec<Detection> = Vec::new();
    for (n, line) in f.lines().enumerate() {
        let line = line?;
        match serde_json::from_str::<SensorRecord>(&line)
            .with_context(|| format!("detections.jsonl:{}", n + 1))?
        {
            SensorRecord::Detection(d) => dets.push(d),
            _ => continue,
        }
    }
    let cfg = with_changes(
        TrackerConfig {
            detection_probability: pd,
            association: assoc,
            ..TrackerConfig::unknown_sensor()
        },
        tracker,
    )?;
    let mut tr = Tracker::new(cfg);
    let mut out = Vec::with_capacity(4096);
    let mut scans: Vec<(f64, Vec<Estimate>)> = Vec::new();
    let started = Instant::now();
    // A scan is a second of the file (one turn of a sensor that stamps each detection as
    // its beam passes; one time otherwise): its picture is read at its start, the truth's time.
    let scan_of = |d: &Detection| (d.time.0 - T0).floor();
    let mut k = 0;
    while k < dets.len() {
        let scan = scan_of(&dets[k]);
        let mut last = dets[k].time.0;
        while k < dets.len() && scan_of(&dets[k]) == scan {
            let _ = tr.push(&dets[k], &mut out);
            last = dets[k].time.0;
            k += 1;
        }
        // The scan is complete: release it and read the picture.
        tr.advance(last + tr.config().reorder_window_s, &mut out);
        out.clear();
        let snap = tr.snapshot(T0 + scan);
        scans.push((
            T0 + scan,
            snap.iter().map(|u| (u.id, u.xy[0], u.xy[1])).collect(),
        ));
    }
    let secs = started.elapsed().as_secs_f64();
    let mut w = std::io::BufWriter::new(std::fs::File::create(
        dir.join(format!("limes-{name}.tracks.jsonl")),
    )?);
    for (t, tracks) in &scans {
        let v: Vec<[f64; 3]> = tracks.iter().map(|&(i, x, y)| [i as f64, x, y]).collect();
        serde_json::to_writer(&mut w, &json!({"t": (t - T0).round(), "tracks": v}))?;
        w.write_all(b"\n")?;
    }
    w.flush()?;
    let stats = json!({
        "detections": dets.len(),
        "seconds": secs,
        "det_per_s": dets.len() as f64 / secs.max(1e-9),
        "peak_rss_mib": peak_rss_mib(),
    });
    std::fs::write(
        dir.join(format!("limes-{name}.stats.json")),
        stats.to_string(),
    )?;
    Ok(())
}

/// `cfg` with the keys of the `[tracker]` table of the TOML file `changes` (if any) replaced.
fn with_changes(cfg: TrackerConfig, changes: Option<&Path>) -> Result<TrackerConfig> {
    let Some(path) = changes else {
        return Ok(cfg);
    };
    let text = std::fs::read_to_string(path).with_context(|| path.display().to_string())?;
    let file: toml::Table = toml::from_str(&text).with_context(|| path.display().to_string())?;
    let Some(toml::Value::Table(new)) = file.get("tracker") else {
        bail!("{}: no [tracker] table", path.display());
    };
    let mut merged = toml::Table::try_from(&cfg)?;
    merge(&mut merged, new);
    toml::Value::Table(merged)
        .try_into()
        .with_context(|| format!("{}: [tracker]", path.display()))
}

/// Replaces the keys of `base` by those of `new`, table by table.
fn merge(base: &mut toml::Table, new: &toml::Table) {
    for (k, v) in new {
        match (base.get_mut(k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(n)) => merge(b, n),
            _ => {
                base.insert(k.clone(), v.clone());
            }
        }
    }
}

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
            line.split_whitespace().nth(1)?.parse::<f64>().ok()
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// Scores `dir/NAME.tracks.jsonl` against the truth with GOSPA and the switching term.
fn score(dir: &Path, name: &str, truth: &[Vec<(u64, f64, f64)>]) -> Result<Score> {
    let f = std::io::BufReader::new(
        std::fs::File::open(dir.join(format!("{name}.tracks.jsonl")))
            .with_context(|| format!("{name}.tracks.jsonl"))?,
    );
    let mut by_scan: Vec<Vec<(u64, [f64; 2])>> = vec![Vec::new(); truth.len()];
    for line in f.lines() {
        let v: serde_json::Value = serde_json::from_str(&line?)?;
        let k = v["t"].as_f64().unwrap_or(-1.0).round() as i64;
        if k < 0 || k as usize >= truth.len() {
            continue;
        }
        let tracks = v["tracks"].as_array().cloned().unwrap_or_default();
        by_scan[k as usize] = tracks
            .iter()
            .filter_map(|t| {
                let a = t.as_array()?;
                Some((
                    a.first()?.as_f64()? as u64,
                    [a.get(1)?.as_f64()?, a.get(2)?.as_f64()?],
                ))
            })
            .collect();
    }
    let mut sw = Switching::new(SWITCH_PENALTY, P);
    let mut s = Score::default();
    for (k, tr) in truth.iter().enumerate() {
        let est: Vec<[f64; 2]> = by_scan[k].iter().map(|e| e.1).collect();
        let pts: Vec<[f64; 2]> = tr.iter().map(|&(_, x, y)| [x, y]).collect();
        let (g, pairs) = gospa_with_pairs(&est, &pts, C, P);
        let step = if est.is_empty() || pts.is_empty() {
            sw.add([])
        } else {
            let mut of: Vec<Option<u64>> = vec![None; pts.len()];
            for &(i, j) in &pairs {
                of[j] = Some(by_scan[k][i].0);
            }
            sw.add(tr.iter().zip(of).map(|(t, o)| (t.0, o)))
        };
        s.gospa += with_switching(g.distance, step.loss);
        s.loc += g.localisation;
        s.missed += g.missed;
        s.false_ += g.false_tracks;
        s.switching += step.loss;
    }
    let n = truth.len().max(1) as f64;
    for v in [
        &mut s.gospa,
        &mut s.loc,
        &mut s.missed,
        &mut s.false_,
        &mut s.switching,
    ] {
        *v /= n;
    }
    s.full = sw.full;
    s.half = sw.half;
    let stats: serde_json::Value = std::fs::read_to_string(dir.join(format!("{name}.stats.json")))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    s.det_s = stats["det_per_s"].as_f64().unwrap_or(f64::NAN);
    s.rss_mib = stats["peak_rss_mib"].as_f64().unwrap_or(f64::NAN);
    s.check = stats["stonesoup_gospa_mean"].as_f64();
    Ok(s)
}

/// The Python of the virtual environment under `target/` with Stone Soup installed; created
/// (and `stonesoup` installed from PyPI) on first use.
fn venv() -> Result<PathBuf> {
    let dir = Path::new("target/stonesoup-venv");
    let py = dir.join("bin/python");
    let ok = |py: &Path| {
        std::process::Command::new(py)
            .args(["-c", "import stonesoup"])
            .status()
            .is_ok_and(|s| s.success())
    };
    if py.exists() && ok(&py) {
        return Ok(py);
    }
    eprintln!("installing {STONESOUP} into {}", dir.display());
    let st = std::process::Command::new("python3")
        .args(["-m", "venv"])
        .arg(dir)
        .status()?;
    if !st.success() {
        bail!("python3 -m venv {} failed", dir.display());
    }
    let st = std::process::Command::new(dir.join("bin/pip"))
        .args(["install", "-q", STONESOUP])
        .status()?;
    if !st.success() || !ok(&py) {
        bail!("installing {STONESOUP} failed");
    }
    Ok(py)
}
