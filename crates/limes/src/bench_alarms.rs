//! `limes bench alarms`: alarm quality over many seeds of a frontier night built to fool the
//! system (every adversarial scenario staged several times on top of the usual traffic), with
//! the rules' operating points and the single-sensor baseline on the same nights, and the Ain
//! Issa breakout on the same seeds.

use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::time::Instant;

use limes_core::alarms::{operating_points, run_night, Night, Variant};
use limes_core::eval::quality::{BreakoutRow, Quality};
use limes_core::record::IncidentKind;
use limes_core::site::AdversarialConfig;

use crate::progress;

/// What to run.
pub struct Args {
    /// Number of seeds.
    pub seeds: u64,
    /// First seed.
    pub first_seed: u64,
    /// Hours of frontier night per seed.
    pub hours: f64,
    /// Times each adversarial scenario is staged per night.
    pub each: u32,
    /// Folder with the site files (the shipped sites when absent).
    pub sites: Option<PathBuf>,
    /// Output folder.
    pub out: PathBuf,
    /// Also score the other operating points.
    pub variants: bool,
    /// Append the report to this file.
    pub append: Option<PathBuf>,
    /// Seeds run at once (threads).
    pub jobs: usize,
}

/// Runs the nights and writes `alarms.md`, `alarms.json` and `roc.svg` into `out`.
pub fn run(a: &Args) -> Result<()> {
    let started = Instant::now();
    let frontier = crate::demo::open(a.sites.as_deref(), "frontier")?;
    let camp = crate::demo::open(a.sites.as_deref(), "ain-issa")?;
    let mut night = frontier.scenario.clone();
    // The usual traffic, scaled from the site's night to this one's length; flocks and strays
    // are there all night whatever its length.
    let scale = a.hours / night.duration_h.max(0.1);
    let times = |n: u32| (n as f64 * scale).round() as u32;
    night.infiltrator_groups = times(night.infiltrator_groups);
    night.vehicles = times(night.vehicles);
    night.legal_crossings = times(night.legal_crossings);
    night.sensor_outages = times(night.sensor_outages);
    night.duration_h = a.hours;
    night.adversarial = AdversarialConfig::each(a.each);
    // The crossings under a flock's cover (the tracker's class-fusion scenarios) too.
    night.herder_crossings += a.each;
    night.flock_infiltrations += a.each;
    let variants: Vec<Variant> = if a.variants {
        operating_points(&frontier.rules)
    } else {
        operating_points(&frontier.rules)
            .into_iter()
            .take(1)
            .collect()
    };
    let site_only = &variants[..1];
    // One seed: the frontier night (every variant and the baselines) and the breakout night.
    let one = |seed: u64| -> Result<(Night, BreakoutRow)> {
        let bar = progress::bar(&format!("seed {seed}"));
        if a.jobs > 1 {
            bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
        }
        let b = bar.clone();
        let n = run_night(
            &frontier,
            &night,
            seed,
            &variants,
            Box::new(move |f| b.set_position((f * 1000.0) as u64)),
        )
        .with_context(|| format!("frontier night, seed {seed}"))?;
        bar.finish_and_clear();
        let c = run_night(&camp, &camp.scenario, seed, site_only, Box::new(|_| {}))
            .with_context(|| format!("Ain Issa night, seed {seed}"))?;
        let br = c.variants[0]
            .incidents
            .iter()
            .find(|i| i.kind == IncidentKind::Breakout);
        let row = BreakoutRow {
            seed,
            tta_s: br.and_then(|i| i.time_to_alert_s),
            count_error: br.and_then(|i| {
                i.count_estimate
                    .map(|e| (e as f64 - i.count as f64).abs() / i.count.max(1) as f64)
            }),
        };
        let s = &n.variants[0];
        let missed: Vec<String> = s
            .incidents
            .iter()
            .filter(|i| !i.detected && i.kind != IncidentKind::SensorOffline)
            .map(|i| {
                format!(
                    "{:?}/{}",
                    i.kind,
                    i.scenario.as_deref().unwrap_or("ordinary")
                )
            })
            .collect();
        let mut log = format!(
            "seed {seed}: {} incidents, missed {missed:?}; {} alerts, {} events ({:.0} s so far)",
            s.incidents.len(),
            s.alerts.len(),
            s.events,
            started.elapsed().as_secs_f64()
        );
        for u in &s.unmatched {
            log += &format!("\n  seed {seed}: {u}");
        }
        eprintln!("{log}");
        Ok((n, row))
    };
    // Seeds are independent: `jobs` threads take the next seed until none is left.
    let next = std::sync::atomic::AtomicU64::new(a.first_seed);
    let end = a.first_seed + a.seeds;
    let results: Vec<Result<(Night, BreakoutRow)>> = std::thread::scope(|sc| {
        let workers: Vec<_> = (0..a.jobs.max(1))
            .map(|_| {
                sc.spawn(|| {
                    let mut got = Vec::new();
                    loop {
                        let seed = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        if seed >= end {
                            break got;
                        }
                        let r = one(seed);
                        let failed = r.is_err();
                        got.push(r);
                        if failed {
                            break got;
                        }
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| {
                w.join()
                    .unwrap_or_else(|_| vec![Err(anyhow::anyhow!("a bench thread panicked"))])
            })
            .collect()
    });
    let mut pairs = results.into_iter().collect::<Result<Vec<_>>>()?;
    pairs.sort_by_key(|(n, _)| n.seed);
    let (nights, breakouts): (Vec<Night>, Vec<BreakoutRow>) = pairs.into_iter().unzip();
    let km = frontier.frontier_km().unwrap_or(0.0);
    let q = Quality::of(&nights, km, breakouts);
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    q.roc_svg(&a.out.join("roc.svg"))
        .map_err(|e| anyhow::anyhow!("drawing roc.svg: {e}"))?;
    let cmd = std::env::args().collect::<Vec<_>>().join(" ");
    let md = format!(
        "Command: `{cmd}` ({:.0} s wall). Frontier night: {} h, the site's usual traffic scaled to it ({} ordinary groups, {} flocks of {}, {} strays, {} vehicles, {} legal crossings, {} camera outages) and every adversarial scenario staged {} times (saturation: {} waves of five groups; `herder_drive` and `inside_flock`: the crossings under a flock's cover); {} seed(s) at once on `{}` ({} logical CPUs).\n\n{}",
        started.elapsed().as_secs_f64(),
        a.hours,
        night.infiltrator_groups,
        night.flocks,
        night.flock_size,
        night.strays,
        night.vehicles,
        night.legal_crossings,
        night.sensor_outages,
        a.each,
        a.each,
        a.jobs,
        machine(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        q.markdown("roc.svg")
    );
    std::fs::write(a.out.join("alarms.md"), &md)?;
    std::fs::write(a.out.join("alarms.json"), serde_json::to_string_pretty(&q)?)?;
    println!("{md}\nreport: {}", a.out.join("alarms.md").display());
    if let Some(p) = &a.append {
        append(p, &md)?;
    }
    Ok(())
}

/// The CPU model, from /proc/cpuinfo where there is one.
fn machine() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string())
}

fn append(path: &Path, md: &str) -> Result<()> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    writeln!(f, "{md}")?;
    Ok(())
}

/// `limes eval --runs DIR…`: the alarm-quality report over runs written to files.
pub fn eval_runs(
    runs: &[PathBuf],
    name: &str,
    (frontier_km, site): (Option<f64>, Option<&str>),
    out: &Path,
) -> Result<()> {
    let site = site.map(limes_core::site::open).transpose()?;
    let km = frontier_km
        .or_else(|| site.as_ref().and_then(|s| s.frontier_km()))
        .context("--runs needs the frontier length: give --site or --frontier-km")?;
    let mut nights = Vec::new();
    for (k, dir) in runs.iter().enumerate() {
        nights.push(
            limes_core::alarms::night_from_files(site.as_ref(), dir, name, k as u64 + 1)
                .with_context(|| format!("reading the run in {}", dir.display()))?,
        );
    }
    let q = Quality::of(&nights, km, Vec::new());
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    q.roc_svg(&out.join("roc.svg"))
        .map_err(|e| anyhow::anyhow!("drawing roc.svg: {e}"))?;
    let runs_list: Vec<String> = runs.iter().map(|r| r.display().to_string()).collect();
    let md = format!(
        "Runs (seed numbers below are their order): {}\n\n{}",
        runs_list.join(", "),
        q.markdown("roc.svg")
    );
    std::fs::write(out.join("alarms.md"), &md)?;
    std::fs::write(out.join("alarms.json"), serde_json::to_string_pretty(&q)?)?;
    println!("{md}\nreport: {}", out.join("alarms.md").display());
    Ok(())
}
