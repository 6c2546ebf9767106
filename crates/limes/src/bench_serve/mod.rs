//! `limes bench-serve`: the live system measured as a separate `limes serve` process on
//! loopback: sustained durable ingest over HTTP and over CoT, ingest-to-alert latency at a
//! paced rate, and the server's memory while it holds the 600 km frontier live.

mod latency;
mod server;

use anyhow::{bail, Context, Result};
use latency::{latency_load, latency_run, Load};
use limes_core::record::{Heartbeat, SensorRecord, Time};
use limes_core::sim::{simulate, VecSink};
use limes_core::site;
use server::{client, drained, peak_rss_mib, serve, stats, taken_all, token, Proc, STALL};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;

/// What to measure.
pub struct Args {
    /// Simulated minutes of the frontier night for the throughput runs.
    pub minutes: f64,
    /// Seconds of the latency run.
    pub latency_s: f64,
    /// Append the Markdown to this file.
    pub append: Option<PathBuf>,
    /// Reorder windows to measure latency with, seconds.
    pub windows: Vec<f64>,
    /// Also measure throughput.
    pub throughput: bool,
}

/// Simulates `minutes` of the shipped frontier with `flocks` herds and `groups` infiltrator
/// groups; its records in time order.
fn frontier_night(
    minutes: f64,
    flocks: u32,
    groups: u32,
    seed: u64,
) -> Result<(site::Site, Vec<SensorRecord>)> {
    let site = site::shipped("frontier").context("the frontier site is shipped")??;
    let mut cfg = site.scenario.clone();
    cfg.duration_h = minutes / 60.0;
    cfg.flocks = flocks;
    cfg.infiltrator_groups = groups;
    let mut sink = VecSink::default();
    simulate(&site, Some(&cfg), seed, &mut sink)?;
    let mut v = sink.sensor;
    v.sort_by(|a, b| a.time().0.total_cmp(&b.time().0));
    Ok((site, v))
}

fn iso(t: f64) -> String {
    Time(t).to_string()
}

/// A sensor's heartbeat as a CoT event (`detail` inside `<detail>`: the token of a
/// connection's first event, or nothing).
fn heartbeat_xml(sensor: &str, t: f64, detail: &str) -> String {
    format!(
        r#"<event version="2.0" uid="{sensor}" type="a-f-G-E-S" how="h-e" time="{t}" start="{t}" stale="{t}"><point lat="0" lon="0" hae="0" ce="9999999" le="9999999"/><detail>{detail}</detail></event>"#,
        t = iso(t)
    )
}

/// One record as its sensor would send it over CoT.
struct CotEvent {
    sensor: String,
    /// The record's time.
    time: f64,
    xml: String,
}

/// A detection or heartbeat as a CoT event; fence alarms have no CoT form here.
fn cot_event(r: &SensorRecord) -> Option<CotEvent> {
    match r {
        SensorRecord::Detection(d) => {
            let (lon, lat) = match d.pos {
                limes_core::record::Position::LonLat { lon, lat } => (lon, lat),
                _ => return None,
            };
            let class = d
                .class
                .map(|c| format!(r#" class="{}""#, c.best().name()))
                .unwrap_or_default();
            let count = d
                .count
                .map(|n| format!(r#" count="{n}""#))
                .unwrap_or_default();
            Some(CotEvent {
                sensor: d.sensor.clone(),
                time: d.time.0,
                xml: format!(
                    r#"<event version="2.0" uid="det" type="a-u-G" how="m-r" time="{t}" start="{t}" stale="{t}"><point lat="{lat:.7}" lon="{lon:.7}" hae="0" ce="{ce:.1}" le="9999999"/><detail><limes{class}{count}/></detail></event>"#,
                    t = iso(d.time.0),
                    ce = d.ce.unwrap_or(5.0)
                ),
            })
        }
        SensorRecord::Heartbeat(h) => Some(CotEvent {
            sensor: h.sensor.clone(),
            time: h.time.0,
            xml: heartbeat_xml(&h.sensor, h.time.0, ""),
        }),
        SensorRecord::Fence(_) => None,
    }
}

/// Record time per step of the CoT capacity run, seconds (its row's name says 300 s).
const COT_STEP_S: f64 = 300.0;

/// What one throughput run measured.
struct Throughput {
    /// Records stored.
    records: u64,
    /// Seconds until the last was stored.
    durable_s: f64,
    /// Seconds until the engine had processed the last.
    processed_s: f64,
    /// The server's peak resident memory, MiB.
    rss_mib: f64,
    /// Live tracks at the end.
    tracks: u64,
    /// Records the server refused (each named in a reply or its log).
    refused: u64,
}

/// A server whose clock stands still at `start`, taking a whole recorded night; with a sensor
/// and an owner token (statistics are the deployment owner's).
fn frozen(site_file: &Path, data: &Path, start: f64) -> Result<(Proc, String, String)> {
    let sensor = token(site_file, data, "sensor")?;
    let owner = token(site_file, data, "owner")?;
    let window = ["--max-past-s", "90000", "--max-future-s", "90000"];
    let p = serve(
        site_file,
        data,
        &[
            &["--clock-speed", "0", "--clock-start", &iso(start)][..],
            &window[..],
        ]
        .concat(),
    )?;
    Ok((p, sensor, owner))
}

/// The shipped frontier's reorder window, seconds.
const SHIPPED_WINDOW_S: f64 = 2.0;

/// A heartbeat of the night's last heartbeating sensor, `window_s` + 1 s after the night's
/// last record. The bench's server clock stands still, so only a later record moves the
/// tracker past its reorder window and has it process the night's last `window_s` seconds;
/// it is sent after the night and not counted in it.
fn flush(recs: &[SensorRecord], window_s: f64) -> Result<SensorRecord> {
    let last = recs
        .iter()
        .map(|r| r.time().0)
        .fold(f64::NEG_INFINITY, f64::max);
    let sensor = recs
        .iter()
        .rev()
        .find_map(|r| match r {
            SensorRecord::Heartbeat(h) => Some(h.sensor.clone()),
            _ => None,
        })
        .context("the night has no heartbeat to end it with")?;
    Ok(SensorRecord::Heartbeat(Heartbeat {
        sensor,
        time: Time(last + window_s + 1.0),
    }))
}

/// The night over HTTP in 10,000-record NDJSON batches on one connection, each sent when the
/// last was acknowledged (durable); a batch the server has no room for (429, 503) is sent
/// again, for at most `STALL`.
async fn http_run(
    site_file: &Path,
    recs: &[SensorRecord],
    start: f64,
    dir: &Path,
) -> Result<Throughput> {
    let (p, sensor, owner) = frozen(site_file, &dir.join("http"), start)?;
    let ndjson = |c: &[SensorRecord]| {
        let mut b = Vec::with_capacity(c.len() * 200);
        for r in c {
            let _ = serde_json::to_writer(&mut b, r);
            b.push(b'\n');
        }
        b
    };
    let mut batches: Vec<Vec<u8>> = recs.chunks(10_000).map(ndjson).collect();
    batches.push(ndjson(&[flush(recs, SHIPPED_WINDOW_S)?]));
    let (mut stored, mut refused) = (0u64, 0u64);
    let t0 = Instant::now();
    for b in batches {
        let first_try = Instant::now();
        loop {
            let r = client()?
                .post(format!("{}/api/v1/ingest", p.http))
                .bearer_auth(&sensor)
                .body(b.clone())
                .send()
                .await?;
            match r.status().as_u16() {
                // 422: some records refused, each named; the rest stored.
                200 | 422 => {
                    let reply: limes_server::ingest::IngestReply = r.json().await?;
                    stored += reply.accepted as u64;
                    refused += reply
                        .rejected
                        .iter()
                        .map(limes_server::ingest::RecordError::records)
                        .sum::<usize>() as u64;
                    break;
                }
                429 | 503 if first_try.elapsed() < STALL => {
                    tokio::time::sleep(Duration::from_millis(5)).await
                }
                s => bail!("ingest answered {s}: {}", r.text().await?),
            }
        }
    }
    let durable_s = t0.elapsed().as_secs_f64();
    let done = drained(&p.http, &owner, stored).await?;
    let s = stats(&p.http, &owner).await?;
    Ok(Throughput {
        // Not the flush.
        records: stored.saturating_sub(1),
        durable_s,
        processed_s: (done - t0).as_secs_f64(),
        rss_mib: peak_rss_mib(p.pid),
        tracks: s.live_tracks as u64,
        refused,
    })
}

/// The shipped frontier with another reorder window, written beside it in `dir/sites/`.
fn frontier_with_window(dir: &Path, window_s: f64) -> Result<PathBuf> {
    let sites = dir.join("sites");
    let shipped = std::fs::read_to_string(sites.join("frontier.toml"))?;
    let window = format!("reorder_window_s = {SHIPPED_WINDOW_S:.1}");
    if !shipped.contains(&window) {
        bail!("the shipped frontier no longer says `{window}`: the bench cannot set its window");
    }
    let text = shipped.replace(&window, &format!("reorder_window_s = {window_s}"));
    let site_file = sites.join(format!(".bench-frontier-{window_s}.toml"));
    std::fs::write(&site_file, text)?;
    Ok(site_file)
}

/// `f`, or an error naming `what` when it takes longer than `STALL`.
async fn bounded<T>(
    what: &str,
    f: impl std::future::Future<Output = std::io::Result<T>>,
) -> Result<T> {
    match tokio::time::timeout(STALL, f).await {
        Ok(r) => Ok(r.with_context(|| what.to_string())?),
        Err(_) => bail!("{what}: the server took nothing for {} s", STALL.as_secs()),
    }
}

/// The night over CoT, one TCP connection per sensor, `step_s` seconds of record time at a
/// time (see the comment inside for why), on a site whose reorder window (`window_s`) is longer
/// than a step.
async fn cot_run(
    site_file: &Path,
    recs: &[SensorRecord],
    start: f64,
    dir: &Path,
    (step_s, window_s): (f64, f64),
) -> Result<Throughput> {
    let (p, sensor, owner) = frozen(site_file, &dir.join(format!("cot-{step_s}")), start)?;
    let events: Vec<CotEvent> = recs.iter().filter_map(cot_event).collect();
    let n = events.len() as u64;
    // One connection per sensor, opened with its own heartbeat carrying the token.
    let mut conns: std::collections::HashMap<&str, tokio::io::BufWriter<tokio::net::TcpStream>> =
        Default::default();
    for e in &events {
        if !conns.contains_key(e.sensor.as_str()) {
            let stream = bounded("connecting", tokio::net::TcpStream::connect(&p.cot)).await?;
            let mut c = tokio::io::BufWriter::with_capacity(256 * 1024, stream);
            let hello = heartbeat_xml(&e.sensor, start, &format!(r#"<limes token="{sensor}"/>"#));
            bounded("sending", c.write_all(hello.as_bytes())).await?;
            conns.insert(&e.sensor, c);
        }
    }
    for c in conns.values_mut() {
        bounded("sending", c.flush()).await?;
    }
    let hellos = conns.len() as u64;
    taken_all(&p.ops, hellos).await?;
    // CoT has no acknowledgement, and each connection is read at its own pace: a sensor whose
    // records fell more than the reorder window behind the others' would have them refused
    // as late. Real sensors send as they see; this load runs hundreds of times faster than
    // record time, so a connection one group commit behind the others would be seconds of
    // record time behind. The load is therefore sent `step_s` seconds of record time at a
    // time, and a step goes out once the server has taken (stored or refused) everything
    // before it.
    let step = |t: f64| (t / step_s).floor();
    let seconds: Vec<usize> = (0..events.len())
        .filter(|&i| i == 0 || step(events[i].time) != step(events[i - 1].time))
        .collect();
    let t0 = Instant::now();
    let mut touched = std::collections::HashSet::new();
    for (k, &from) in seconds.iter().enumerate() {
        if k > 0 {
            taken_all(&p.ops, hellos + from as u64).await?;
        }
        let to = seconds.get(k + 1).copied().unwrap_or(events.len());
        for e in &events[from..to] {
            if let Some(c) = conns.get_mut(e.sensor.as_str()) {
                bounded("sending", c.write_all(e.xml.as_bytes())).await?;
                touched.insert(e.sensor.as_str());
            }
        }
        for s in touched.drain() {
            if let Some(c) = conns.get_mut(s) {
                bounded("sending", c.flush()).await?;
            }
        }
    }
    let (stored, refused) = taken_all(&p.ops, hellos + n).await?;
    let durable_s = t0.elapsed().as_secs_f64();
    // Once the whole night is taken: the heartbeat that lets the tracker finish it.
    let end = cot_event(&flush(recs, window_s)?).context("a heartbeat has a CoT form")?;
    let c = conns
        .get_mut(end.sensor.as_str())
        .context("the last heartbeating sensor's connection")?;
    bounded("sending", c.write_all(end.xml.as_bytes())).await?;
    bounded("sending", c.flush()).await?;
    let (all, _) = taken_all(&p.ops, hellos + n + 1).await?;
    let done = drained(&p.http, &owner, all).await?;
    let s = stats(&p.http, &owner).await?;
    Ok(Throughput {
        records: stored.saturating_sub(hellos),
        durable_s,
        processed_s: (done - t0).as_secs_f64(),
        rss_mib: peak_rss_mib(p.pid),
        tracks: s.live_tracks as u64,
        refused,
    })
}

/// Runs the three measurements and prints (and optionally appends) Markdown.
pub fn run(a: Args) -> Result<()> {
    let rt = tokio::runtime::Runtime::new()?;
    let work = tempfile_dir()?;
    let dir = &work;
    let outcome = rt.block_on(async move {
        let mut through = Vec::new();
        if a.throughput {
            let (_, recs) = frontier_night(a.minutes, 8, 6, 7)?;
            let start = recs.first().map(|r| r.time().0).unwrap_or(0.0) - 1.0;
            let dets = recs.iter().filter(|r| matches!(r, SensorRecord::Detection(_))).count();
            eprintln!("frontier night: {} minutes, {} records ({dets} detections)", a.minutes, recs.len());
            let frontier = dir.join("sites").join("frontier.toml");
            through.push(("HTTP NDJSON, 10 000-record batches, one connection", http_run(&frontier, &recs, start, dir).await?));
            through.push(("CoT over TCP, one connection per sensor, one second of record time per step", cot_run(&frontier, &recs, start, dir, (1.0, SHIPPED_WINDOW_S)).await?));
            // Capacity: steps long enough that their round trips cost nothing, on a site whose
            // reorder window (twice a step) lets the connections drift apart within one.
            let wide = frontier_with_window(dir, 2.0 * COT_STEP_S)?;
            through.push(("CoT over TCP, one connection per sensor, 300 s of record time per step (reorder window 600 s)", cot_run(&wide, &recs, start, dir, (COT_STEP_S, 2.0 * COT_STEP_S)).await?));
        }
        // The latency load: the frontier with enough herds in view to make about 10 000 det/s,
        // and probe intruders crossing the line, whose infiltration alerts are timed.
        let dense = if a.windows.is_empty() { Load::default() } else { latency_load(a.latency_s)? };
        let span = dense.recs.last().map(|r| r.time().0).unwrap_or(0.0) - dense.recs.first().map(|r| r.time().0).unwrap_or(0.0);
        if !dense.recs.is_empty() {
            eprintln!("latency load: {:.0} records/s of record time, {} probes", dense.recs.len() as f64 / span.max(1.0), dense.probes.len());
        }
        let mut lat = Vec::new();
        for w in &a.windows {
            lat.push(latency_run(&dense, a.latency_s, *w, dir).await?);
        }
        let cpu = std::fs::read_to_string("/proc/cpuinfo").ok().and_then(|s| s.lines().find(|l| l.starts_with("model name")).map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())).unwrap_or_default();
        let mut md = format!(
            "Machine: {cpu}, {} cores. `limes serve` is a separate process on loopback; the load generator shares the machine.\n\n",
            std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0)
        );
        if !through.is_empty() {
            md += "| transport | records | durable (records/s) | through tracker and rules (records/s) | live tracks at end | refused at ingest | server peak RSS |\n|---|---|---|---|---|---|---|\n";
        }
        for (name, t) in &through {
            md += &format!(
                "| {name} | {} | {:.0} | {:.0} | {} | {} | {:.0} MiB |\n",
                t.records,
                t.records as f64 / t.durable_s,
                t.records as f64 / t.processed_s,
                t.tracks,
                t.refused,
                t.rss_mib
            );
        }
        if !lat.is_empty() {
            md += "\n| reorder window | paced rate (records/s) | run | HTTP ack p50 / p99 (durable) | refused as late | track updates | record → track on the stream p50 / p99 | alert revisions | record → alert on the stream p50 / p99 | probes alerted | probe's crossing → its first alert p50 / p99 |\n|---|---|---|---|---|---|---|---|---|---|---|\n";
        }
        for l in &lat {
            md += &l.row();
        }
        println!("{md}");
        if let Some(p) = &a.append {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new().create(true).append(true).open(p)?;
            writeln!(f, "{md}")?;
        }
        anyhow::Ok(())
    });
    // The servers are stopped by now (each `Proc` kills its process when dropped).
    if let Err(e) = std::fs::remove_dir_all(&work) {
        eprintln!("could not remove {}: {e}", work.display());
    }
    outcome
}

/// A fresh folder for the servers' data, with the shipped site files written into `sites/`
/// (the servers are other processes and read their site from disk).
fn tempfile_dir() -> Result<PathBuf> {
    let d = std::env::temp_dir().join(format!("limes-bench-serve-{}", std::process::id()));
    if d.exists() {
        std::fs::remove_dir_all(&d)?;
    }
    std::fs::create_dir_all(&d)?;
    if let Err(e) = site::write_shipped(&d) {
        let _ = std::fs::remove_dir_all(&d);
        return Err(e).with_context(|| format!("writing the shipped sites to {}", d.display()));
    }
    Ok(d)
}
