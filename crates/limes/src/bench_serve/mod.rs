//! `limes bench-serve`: the live system measured as a separate `limes serve` process on
//! loopback: sustained durable ingest over HTTP and over CoT, ingest-to-alert latency at a
//! paced rate, and the server's memory while it holds the 600 km frontier live.

mod latency;

use anyhow::{bail, Context, Result};
use latency::{latency_load, latency_run};
use limes_core::record::{SensorRecord, Time};
use limes_core::sim::{simulate, VecSink};
use limes_core::site;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
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

struct Proc {
    child: Child,
    http: String,
    cot: String,
    pid: u32,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn status_kib(pid: u32, key: &str) -> Option<f64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s.lines().find(|l| l.starts_with(key))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn limes() -> Result<PathBuf> {
    std::env::current_exe().context("locating the limes binary")
}

fn token(site: &Path, data: &Path, role: &str) -> Result<String> {
    let out = Command::new(limes()?)
        .args(["token", "create", "--site"])
        .arg(site)
        .arg("--data")
        .arg(data)
        .args(["--org", "ibf", "--role", role])
        .stderr(Stdio::null())
        .output()?;
    if !out.status.success() {
        bail!("limes token create failed");
    }
    Ok(String::from_utf8(out.stdout)?.trim().to_string())
}

fn serve(site: &Path, data: &Path, extra: &[&str]) -> Result<Proc> {
    let (h, c) = (port()?, port()?);
    let mut child = Command::new(limes()?)
        .arg("serve")
        .arg("--site")
        .arg(site)
        .arg("--data")
        .arg(data)
        .args([
            "--http",
            &format!("127.0.0.1:{h}"),
            "--cot",
            &format!("127.0.0.1:{c}"),
        ])
        .args(extra)
        .env("RUST_LOG", "error")
        .stdout(Stdio::piped())
        .spawn()?;
    let out = child.stdout.take().context("stdout")?;
    use std::io::BufRead;
    let mut lines = std::io::BufReader::new(out).lines();
    for l in lines.by_ref() {
        if l? == "ready" {
            break;
        }
    }
    std::thread::spawn(move || for _ in lines {});
    let pid = child.id();
    Ok(Proc {
        child,
        http: format!("http://127.0.0.1:{h}"),
        cot: format!("127.0.0.1:{c}"),
        pid,
    })
}

async fn stats(http: &str, token: &str) -> Result<serde_json::Value> {
    Ok(reqwest::Client::new()
        .get(format!("{http}/api/v1/stats"))
        .bearer_auth(token)
        .send()
        .await?
        .json()
        .await?)
}

/// Waits until the engine has processed everything logged; returns when it did.
async fn drained(http: &str, token: &str, records: u64) -> Result<Instant> {
    loop {
        let s = stats(http, token).await?;
        if s["store"]["records"].as_u64() >= Some(records)
            && s["processed_seq"].as_i64() >= s["store"]["last_batch_seq"].as_i64()
        {
            return Ok(Instant::now());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn frontier_night(
    minutes: f64,
    flocks: u32,
    groups: u32,
    seed: u64,
) -> Result<(site::Site, Vec<SensorRecord>)> {
    let site = site::load(Path::new("sites/frontier.toml"))?;
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

fn cot_event(r: &SensorRecord) -> Option<(String, String)> {
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
            Some((
                d.sensor.clone(),
                format!(
                    r#"<event version="2.0" uid="det" type="a-u-G" how="m-r" time="{t}" start="{t}" stale="{t}"><point lat="{lat:.7}" lon="{lon:.7}" hae="0" ce="{ce:.1}" le="9999999"/><detail><limes{class}{count}/></detail></event>"#,
                    t = iso(d.time.0),
                    ce = d.ce.unwrap_or(5.0)
                ),
            ))
        }
        SensorRecord::Heartbeat(h) => Some((
            h.sensor.clone(),
            format!(
                r#"<event version="2.0" uid="{s}" type="a-f-G-E-S" how="h-e" time="{t}" start="{t}" stale="{t}"><point lat="0" lon="0" hae="0" ce="9999999" le="9999999"/><detail/></event>"#,
                s = h.sensor,
                t = iso(h.time.0)
            ),
        )),
        SensorRecord::Fence(_) => None,
    }
}

struct Throughput {
    records: u64,
    durable_s: f64,
    processed_s: f64,
    rss_mib: f64,
    tracks: u64,
    late: u64,
}

/// A server whose clock stands still at `start`, taking a whole recorded night; with a sensor
/// and an admin token.
fn frozen(site_file: &Path, data: &Path, start: f64) -> Result<(Proc, String, String)> {
    let sensor = token(site_file, data, "sensor")?;
    let admin = token(site_file, data, "admin")?;
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
    Ok((p, sensor, admin))
}

async fn http_run(
    site_file: &Path,
    recs: &[SensorRecord],
    start: f64,
    dir: &Path,
) -> Result<Throughput> {
    let (p, sensor, admin) = frozen(site_file, &dir.join("http"), start)?;
    let batches: Vec<Vec<u8>> = recs
        .chunks(10_000)
        .map(|c| {
            let mut b = Vec::with_capacity(c.len() * 200);
            for r in c {
                let _ = serde_json::to_writer(&mut b, r);
                b.push(b'\n');
            }
            b
        })
        .collect();
    let client = reqwest::Client::new();
    let t0 = Instant::now();
    for b in batches {
        loop {
            let r = client
                .post(format!("{}/api/v1/ingest", p.http))
                .bearer_auth(&sensor)
                .body(b.clone())
                .send()
                .await?;
            match r.status().as_u16() {
                200 => break,
                429 => tokio::time::sleep(Duration::from_millis(5)).await,
                s => bail!("ingest answered {s}: {}", r.text().await?),
            }
        }
    }
    let durable_s = t0.elapsed().as_secs_f64();
    let done = drained(&p.http, &admin, recs.len() as u64).await?;
    let s = stats(&p.http, &admin).await?;
    Ok(Throughput {
        records: s["store"]["records"].as_u64().unwrap_or(0),
        durable_s,
        processed_s: (done - t0).as_secs_f64(),
        rss_mib: status_kib(p.pid, "VmHWM:").unwrap_or(f64::NAN) / 1024.0,
        tracks: s["live_tracks"].as_u64().unwrap_or(0),
        late: s["late_dropped"].as_u64().unwrap_or(0),
    })
}

async fn cot_run(
    site_file: &Path,
    recs: &[SensorRecord],
    start: f64,
    dir: &Path,
) -> Result<Throughput> {
    let (p, sensor, admin) = frozen(site_file, &dir.join("cot"), start)?;
    // One connection per sensor, opened with its own heartbeat carrying the token.
    let events: Vec<(String, String)> = recs.iter().filter_map(cot_event).collect();
    let n = events.len() as u64;
    let mut conns: std::collections::HashMap<String, tokio::io::BufWriter<tokio::net::TcpStream>> =
        Default::default();
    for (s, _) in &events {
        if !conns.contains_key(s) {
            let mut c = tokio::io::BufWriter::with_capacity(
                256 * 1024,
                tokio::net::TcpStream::connect(&p.cot).await?,
            );
            let hello = format!(
                r#"<event version="2.0" uid="{s}" type="a-f-G-E-S" how="h-e" time="{t}" start="{t}" stale="{t}"><point lat="0" lon="0" hae="0" ce="9999999" le="9999999"/><detail><limes token="{sensor}"/></detail></event>"#,
                t = iso(start)
            );
            c.write_all(hello.as_bytes()).await?;
            conns.insert(s.clone(), c);
        }
    }
    let hellos = conns.len() as u64;
    let t0 = Instant::now();
    for (i, (s, e)) in events.iter().enumerate() {
        if let Some(c) = conns.get_mut(s) {
            c.write_all(e.as_bytes()).await?;
        }
        // Flush often enough that the connections stay within the reorder window of each other.
        if i % 200 == 199 {
            for c in conns.values_mut() {
                c.flush().await?;
            }
        }
    }
    for c in conns.values_mut() {
        c.flush().await?;
    }
    // CoT has no acknowledgement: durable means in the store's log.
    loop {
        let s = stats(&p.http, &admin).await?;
        if s["store"]["records"].as_u64().unwrap_or(0) >= n + hellos {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let durable_s = t0.elapsed().as_secs_f64();
    let done = drained(&p.http, &admin, n).await?;
    let s = stats(&p.http, &admin).await?;
    Ok(Throughput {
        records: n,
        durable_s,
        processed_s: (done - t0).as_secs_f64(),
        rss_mib: status_kib(p.pid, "VmHWM:").unwrap_or(f64::NAN) / 1024.0,
        tracks: s["live_tracks"].as_u64().unwrap_or(0),
        late: s["late_dropped"].as_u64().unwrap_or(0),
    })
}

/// Runs the three measurements and prints (and optionally appends) Markdown.
pub fn run(a: Args) -> Result<()> {
    let rt = tokio::runtime::Runtime::new()?;
    let dir = tempfile_dir()?;
    rt.block_on(async move {
        let mut through = Vec::new();
        if a.throughput {
            let (_, recs) = frontier_night(a.minutes, 8, 6, 7)?;
            let start = recs.first().map(|r| r.time().0).unwrap_or(0.0) - 1.0;
            let dets = recs.iter().filter(|r| matches!(r, SensorRecord::Detection(_))).count();
            eprintln!("frontier night: {} minutes, {} records ({dets} detections)", a.minutes, recs.len());
            through.push(("HTTP NDJSON, 10 000-record batches, one connection", http_run(Path::new("sites/frontier.toml"), &recs, start, &dir).await?));
            through.push(("CoT over TCP, one connection per sensor", cot_run(Path::new("sites/frontier.toml"), &recs, start, &dir).await?));
        }
        // The latency load: the frontier with enough herds in view to make about 10 000 det/s,
        // and probe intruders crossing the line, whose infiltration alerts are timed.
        let dense = if a.windows.is_empty() { Vec::new() } else { latency_load(a.latency_s)? };
        let span = dense.last().map(|r| r.time().0).unwrap_or(0.0) - dense.first().map(|r| r.time().0).unwrap_or(0.0);
        eprintln!("latency load: {:.0} records/s of record time", dense.len() as f64 / span.max(1.0));
        let mut lat = Vec::new();
        for w in &a.windows {
            lat.push(latency_run(&dense, a.latency_s, *w, &dir).await?);
        }
        let cpu = std::fs::read_to_string("/proc/cpuinfo").ok().and_then(|s| s.lines().find(|l| l.starts_with("model name")).map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())).unwrap_or_default();
        let mut md = format!(
            "Machine: {cpu}, {} cores. `limes serve` is a separate process on loopback; the load generator shares the machine.\n\n",
            std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0)
        );
        if !through.is_empty() {
            md += "| transport | records | durable (records/s) | through tracker and rules (records/s) | live tracks at end | late (dropped by the reorder window) | server peak RSS |\n|---|---|---|---|---|---|---|\n";
        }
        for (name, t) in &through {
            md += &format!(
                "| {name} | {} | {:.0} | {:.0} | {} | {} | {:.0} MiB |\n",
                t.records,
                t.records as f64 / t.durable_s,
                t.records as f64 / t.processed_s,
                t.tracks,
                t.late,
                t.rss_mib
            );
        }
        if !lat.is_empty() {
            md += "\n| reorder window | paced rate (det/s) | run | HTTP ack p50 / p99 (durable) | track updates | record → track on the stream p50 / p99 | alert revisions | record → alert on the stream p50 / p99 |\n|---|---|---|---|---|---|---|---|\n";
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
    })?;
    Ok(())
}

fn tempfile_dir() -> Result<PathBuf> {
    let d = std::env::temp_dir().join(format!("limes-bench-serve-{}", std::process::id()));
    if d.exists() {
        std::fs::remove_dir_all(&d)?;
    }
    std::fs::create_dir_all(&d)?;
    Ok(d)
}
