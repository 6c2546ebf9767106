//! `limes bench`: tracker throughput on the sparse frontier and the dense breakout, one core.

use anyhow::Result;
use std::path::Path;
use std::time::Instant;

use limes_core::record::SensorRecord;
use limes_core::sim::{simulate, VecSink};
use limes_core::site;
use limes_core::track::{TrackUpdate, Tracker};

fn peak_rss_mib() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

struct Row {
    name: String,
    detections: usize,
    end_to_end: f64,
    core: f64,
    live_peak: usize,
    largest_cluster: usize,
}

fn measure(name: &str, site: &site::Site, records: &[SensorRecord]) -> Row {
    let dets: Vec<_> = records
        .iter()
        .filter_map(|r| match r {
            SensorRecord::Detection(d) => Some(d.clone()),
            _ => None,
        })
        .collect();
    let mut out: Vec<TrackUpdate> = Vec::with_capacity(1 << 16);
    // End to end: validation, lon/lat → tile frame, reorder, tracking.
    let mut tr = Tracker::new(site.tracker.clone());
    let mut live_peak = 0;
    let t = Instant::now();
    for (i, d) in dets.iter().enumerate() {
        let _ = tr.push(d, &mut out);
        out.clear();
        if i % 50_000 == 0 {
            live_peak = live_peak.max(tr.live_tracks());
        }
    }
    tr.flush(&mut out);
    let end_to_end = t.elapsed().as_secs_f64();
    let largest_cluster = tr.stats().largest_cluster;
    // Core: detections already in their tile frames.
    let mut tr = Tracker::new(site.tracker.clone());
    let prepared: Vec<_> = dets.iter().filter_map(|d| tr.prepare(d).ok()).collect();
    let t = Instant::now();
    for (part, m) in prepared {
        tr.push_prepared(part, m, &mut out);
        out.clear();
    }
    tr.flush(&mut out);
    let core = t.elapsed().as_secs_f64();
    Row {
        name: name.into(),
        detections: dets.len(),
        end_to_end,
        core,
        live_peak,
        largest_cluster,
    }
}

/// Runs both workloads and prints (and optionally appends) a Markdown table.
pub fn run(minutes: f64, append: Option<&Path>) -> Result<()> {
    let frontier = site::open("frontier")?;
    let mut cfg = frontier.scenario.clone();
    cfg.duration_h = minutes / 60.0;
    cfg.flocks = 0;
    cfg.infiltrator_groups = 20;
    let mut sink = VecSink::default();
    simulate(&frontier, Some(&cfg), 7, &mut sink)?;
    let a = measure(
        "(a) sparse 600 km frontier: 20 groups, strays, vehicles, clutter",
        &frontier,
        &sink.sensor,
    );
    drop(sink);
    let mut cfg = frontier.scenario.clone();
    cfg.duration_h = minutes / 60.0;
    let mut sink = VecSink::default();
    simulate(&frontier, Some(&cfg), 7, &mut sink)?;
    let herds = measure(
        "(a′) the demo's frontier night, with 8 herds of 25 animals",
        &frontier,
        &sink.sensor,
    );
    drop(sink);
    let camp = site::open("ain-issa")?;
    let mut cfg = camp.scenario.clone();
    // Only the breakout: from the gates being forced until the last wave has scattered.
    if let Some(b) = &mut cfg.breakout {
        b.shelling_at_min = 0.0;
        b.gates_forced_after_min = 1.0;
    }
    cfg.duration_h = 1.0;
    let mut sink = VecSink::default();
    simulate(&camp, Some(&cfg), 7, &mut sink)?;
    let b = measure("(b) dense breakout, 785 people", &camp, &sink.sensor);
    let peak = peak_rss_mib();
    let mut md = String::from("| workload | detections | end to end (det/s) | tracker core (det/s) | peak live tracks | largest gated cluster (tracks × detections) |\n|---|---|---|---|---|---|\n");
    for r in [&a, &herds, &b] {
        md += &format!(
            "| {} | {} | {:.0} | {:.0} | {} | {} |\n",
            r.name,
            r.detections,
            r.detections as f64 / r.end_to_end,
            r.detections as f64 / r.core,
            r.live_peak,
            r.largest_cluster
        );
    }
    md += &format!(
        "\nPeak resident memory of the bench process (including the simulated input held in memory): {:.0} MiB.\n",
        peak.unwrap_or(f64::NAN)
    );
    println!("{md}");
    if let Some(p) = append {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)?;
        writeln!(f, "{md}")?;
    }
    Ok(())
}
