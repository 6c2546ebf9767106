//! Tracker throughput on simulated workloads: `cargo bench -p limes-core`.
//!
//! (a) the sparse 600 km frontier (20 simulated minutes, 20 groups, strays, vehicles, clutter),
//! (a′) the demo's frontier with its herds, (b) the dense Ain Issa breakout
//! (785 people leaving within half an hour). Detections are converted into their tile frames
//! before timing ("core"), and timed with the conversion ("end to end").

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
use divan::counter::ItemsCount;
use divan::Bencher;
use limes_core::record::{Detection, SensorRecord};
use limes_core::sim::{simulate, VecSink};
use limes_core::site;
use limes_core::track::{Tracker, TrackerConfig};
use std::path::Path;
use std::sync::LazyLock;

fn detections(
    name: &str,
    minutes: f64,
    breakout_only: bool,
    herds: bool,
) -> (TrackerConfig, Vec<Detection>) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../sites")
        .join(format!("{name}.toml"));
    let site = site::load(&path).expect("shipped site");
    let mut cfg = site.scenario.clone();
    cfg.duration_h = minutes / 60.0;
    if !herds {
        cfg.flocks = 0;
        cfg.infiltrator_groups = 20;
    }
    if breakout_only {
        if let Some(b) = &mut cfg.breakout {
            b.shelling_at_min = 0.0;
            b.gates_forced_after_min = 1.0;
        }
    }
    let mut sink = VecSink::default();
    simulate(&site, Some(&cfg), 7, &mut sink).expect("simulates");
    let dets = sink
        .sensor
        .into_iter()
        .filter_map(|r| match r {
            SensorRecord::Detection(d) => Some(d),
            _ => None,
        })
        .collect();
    (site.tracker, dets)
}

static FRONTIER: LazyLock<(TrackerConfig, Vec<Detection>)> =
    LazyLock::new(|| detections("frontier", 20.0, false, false));
static HERDS: LazyLock<(TrackerConfig, Vec<Detection>)> =
    LazyLock::new(|| detections("frontier", 20.0, false, true));
static BREAKOUT: LazyLock<(TrackerConfig, Vec<Detection>)> =
    LazyLock::new(|| detections("ain-issa", 30.0, true, true));

fn core(bencher: Bencher, w: &(TrackerConfig, Vec<Detection>)) {
    bencher
        .counter(ItemsCount::new(w.1.len()))
        .with_inputs(|| {
            let mut tr = Tracker::new(w.0.clone());
            let prepared: Vec<_> = w.1.iter().filter_map(|d| tr.prepare(d).ok()).collect();
            (tr, prepared)
        })
        .bench_local_values(|(mut tr, prepared)| {
            let mut out = Vec::with_capacity(1024);
            for (part, m) in prepared {
                tr.push_prepared(part, m, &mut out);
                out.clear();
            }
            tr.flush(&mut out);
            out.len()
        });
}

fn end_to_end(bencher: Bencher, w: &(TrackerConfig, Vec<Detection>)) {
    bencher
        .counter(ItemsCount::new(w.1.len()))
        .with_inputs(|| Tracker::new(w.0.clone()))
        .bench_local_values(|mut tr| {
            let mut out = Vec::with_capacity(1024);
            for d in &w.1 {
                let _ = tr.push(d, &mut out);
                out.clear();
            }
            tr.flush(&mut out);
            out.len()
        });
}

#[divan::bench(sample_count = 5, sample_size = 1)]
fn frontier_core(b: Bencher) {
    core(b, &FRONTIER);
}

#[divan::bench(sample_count = 5, sample_size = 1)]
fn frontier_end_to_end(b: Bencher) {
    end_to_end(b, &FRONTIER);
}

#[divan::bench(sample_count = 5, sample_size = 1)]
fn herds_core(b: Bencher) {
    core(b, &HERDS);
}

#[divan::bench(sample_count = 5, sample_size = 1)]
fn breakout_core(b: Bencher) {
    core(b, &BREAKOUT);
}

#[divan::bench(sample_count = 5, sample_size = 1)]
fn breakout_end_to_end(b: Bencher) {
    end_to_end(b, &BREAKOUT);
}

fn main() {
    divan::main();
}
