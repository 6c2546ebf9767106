//! `limes demo`: the seed's night on both shipped sites, with a summary table and a report.

use anyhow::{Context, Result};
use std::path::Path;
use std::time::Instant;

use limes_core::eval::Report;
use limes_core::run::{run_site, RunFiles, SiteRun};
use limes_core::site;

use crate::progress;

/// A shipped site, or the one of that name in `sites`.
pub fn open(sites: Option<&Path>, name: &str) -> Result<site::Site> {
    match sites {
        Some(dir) => {
            let file = dir.join(format!("{name}.toml"));
            site::load(&file).with_context(|| format!("loading site {}", file.display()))
        }
        None => site::open(name).with_context(|| format!("loading shipped site {name}")),
    }
}

/// Runs the frontier and the Ain Issa breakout through sim → track → rules → eval.
pub fn run(
    sites: Option<&Path>,
    out: &Path,
    seed: u64,
    write_detections: bool,
    console: crate::live_demo::Console,
) -> Result<()> {
    let started = Instant::now();
    let mut runs: Vec<SiteRun> = Vec::new();
    for name in ["frontier", "ain-issa"] {
        let site = open(sites, name)?;
        let bar = progress::bar(name);
        let mut tick = |f: f64| bar.set_position((f * 1000.0) as u64);
        let files = RunFiles {
            detections: write_detections,
            ..RunFiles::default()
        };
        let run = run_site(&site, None, seed, &out.join(name), files, &mut tick)
            .with_context(|| format!("running site {name}"))?;
        bar.finish_and_clear();
        runs.push(run);
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!("{}", table(&runs));
    println!("* identity switches of people and vehicles (Stone Soup's GOSPA switching term); animals in the report");
    let mut notes = vec![
        ("seed".to_string(), seed.to_string()),
        ("wall time".to_string(), format!("{elapsed:.1} s")),
    ];
    for r in &runs {
        for f in &r.facilities {
            notes.push((
                format!("{}: facility {}", r.site, f.id),
                format!("{:?}; about {} of {} left", f.status, f.exits, f.population),
            ));
        }
        notes.push((
            format!("{}: detections tracked", r.site),
            format!(
                "{} in {:.1} s (sim, tracker, rules and scoring interleaved)",
                r.tracker.detections, r.timings.total_s
            ),
        ));
    }
    let report = Report {
        title: "Limes demo: the night of 12–13 October 2019".into(),
        command: std::env::args().collect::<Vec<_>>().join(" "),
        sites: runs.into_iter().map(|r| r.figures).collect(),
        notes,
    };
    let path = report.write(out)?;
    println!("report: {}", path.display());
    println!("wall time {:.1} s", started.elapsed().as_secs_f64());
    crate::live_demo::run(sites, out, seed, console)?;
    Ok(())
}

fn table(runs: &[SiteRun]) -> String {
    let mut s = String::from(
        "site        detections  tracks  alerts  GOSPA(c=100,p=1)  per object  missed  false  ID sw.*  Pd(infil.)  TTA med  breakout count   nuisance\n",
    );
    for r in runs {
        let f = &r.figures;
        let infil = f.detection.get("infiltration");
        let pd = infil
            .and_then(|d| d.pd)
            .map_or("–".into(), |p| format!("{:.0} %", p * 100.0));
        let tta = f
            .detection
            .get("infiltration")
            .or_else(|| f.detection.get("breakout"))
            .and_then(|d| d.tta_median_s)
            .map_or("–".into(), |t| format!("{t:.0} s"));
        let breakout = f
            .incidents
            .iter()
            .find(|i| matches!(i.kind, limes_core::record::IncidentKind::Breakout))
            .map_or("–".into(), |i| {
                let est = i.count_estimate.unwrap_or(0);
                let err = (est as f64 - i.count as f64) / i.count.max(1) as f64 * 100.0;
                format!("{est}/{} ({err:+.1} %)", i.count)
            });
        s += &format!(
            "{:<11} {:>10}  {:>6}  {:>6}  {:>16.1}  {:>8.1} m  {:>6.1}  {:>5.1}  {:>6}   {:>10}  {:>7}  {:>15}  {:.2} {}\n",
            r.site,
            r.tracker.detections,
            r.tracker.tracks_confirmed,
            r.alerts,
            f.gospa_mean,
            f.gospa_per_truth_mean,
            f.gospa_missed_mean,
            f.gospa_false_mean,
            people_switches(f),
            pd,
            tta,
            breakout,
            f.nuisance_rate,
            f.rate_unit
        );
    }
    s
}

/// Identity switches of people and vehicles (animals in a flock swap tracks constantly and
/// are reported apart in the report).
fn people_switches(f: &limes_core::eval::SiteFigures) -> u64 {
    f.id_switches_by_role
        .iter()
        .filter(|(r, _)| !matches!(r.as_str(), "flock" | "stray"))
        .map(|(_, n)| n)
        .sum()
}
