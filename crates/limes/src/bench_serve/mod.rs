//! `limes bench-serve`: the live system measured as a separate `limes serve` process on
//! loopback: sustained durable ingest over HTTP and over CoT, ingest-to-alert latency at a
//! paced rate, and the server's memory while it holds the 600 km frontier live.

mod latency;

use anyhow::{bail, Context, Result};
use latency::{latency_load, latency_run, Load};
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
    ops: String,
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
    let (h, o, c) = (port()?, port()?, port()?);
    let mut child = Command::new(limes()?)
        .arg("serve")
        .arg("--site")
        .arg(site)
        .arg("--data")
        .arg(data)
        .args([
            "--http",
            &format!("127.0.0.1:{h}"),
            "--ops",
            &format!("127.0.0.1:{o}"),
            "--cot",
            &format!("127.0.0.1:{c}"),
        ])
        .args(extra)
        // The servers log errors only, unless `LIMES_BENCH_SERVER_LOG` asks for more.
        .env(
            "RUST_LOG",
            std::env::var("LIMES_BENCH_SERVER_LOG").unwrap_or_else(|_| "error".into()),
        )
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
        ops: format!("http://127.0.0.1:{o}"),
        cot: format!("127.0.0.1:{c}"),
        pid,
    })
}

/// The server's `/api/v1/stats` (an owner's token); any other answer than 200 is an error, so a
/// wait on a count never spins on a refusal.
async fn stats(http: &str, token: &str) -> Result<serde_json::Value> {
    let resp = reqwest::Client::new()
        .get(format!("{http}/api/v1/stats"))
        .bearer_auth(token)
        .send()
        .await?;
    if !resp.status().is_success() {
        bail!("stats answered {}: {}", resp.status(), resp.text().await?);
    }
    Ok(resp.json().await?)
}

/// How long the server's counts may stand still before a wait on them gives up.
const STALL: Duration = Duration::from_secs(120);

/// Watches a server's counts while waiting on them: a wait that sees no change for `STALL`
/// ends with an error naming the counts, rather than waiting for ever on a stuck server.
struct Progress {
    last: Option<(u64, i64)>,
    since: Instant,
}

impl Progress {
    fn new() -> Self {
        Self {
            last: None,
            since: Instant::now(),
        }
    }

    /// Notes the counts `now`; an error naming `what` once they have not moved for `STALL`.
    fn note(&mut self, now: (u64, i64), what: impl FnOnce() -> String) -> Result<()> {
        if self.last != Some(now) {
            self.last = Some(now);
            self.since = Instant::now();
        } else if self.since.elapsed() > STALL {
            bail!(
                "the server made no progress for {} s: {}",
                STALL.as_secs(),
                what()
            );
        }
        Ok(())
    }
}

/// Records the server has taken from sensors so far: stored, and refused (each refusal is
/// named in its log), from its operations listener's `/metrics`.
async fn taken(ops: &str) -> Result<(u64, u64)> {
    let resp = reqwest::Client::new()
        .get(format!("{ops}/metrics"))
        .send()
        .await?;
    if !resp.status().is_success() {
        bail!("metrics answered {}", resp.status());
    }
    let text = resp.text().await?;
    let value = |name: &str| {
        text.lines()
            .find_map(|l| {
                l.strip_prefix(name)?
                    .strip_prefix(' ')?
                    .trim()
                    .parse::<f64>()
                    .ok()
            })
            .map(|v| v as u64)
            .with_context(|| format!("{name} is not in the server's metrics"))
    };
    Ok((
        value("limes_ingest_records_total")?,
        value("limes_ingest_rejected_total")?,
    ))
}

/// Waits until the server has taken (stored or refused) `n` records from sensors; returns
/// what it stored and refused.
async fn taken_all(ops: &str, n: u64) -> Result<(u64, u64)> {
    let mut progress = Progress::new();
    loop {
        let (stored, refused) = taken(ops).await?;
        if stored + refused >= n {
            return Ok((stored, refused));
        }
        progress.note((stored, refused as i64), || {
            format!("{stored} records stored and {refused} refused of {n} sent")
        })?;
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Waits until the engine has processed everything logged; returns when it did.
async fn drained(http: &str, token: &str, records: u64) -> Result<Instant> {
    let mut progress = Progress::new();
    loop {
        let s = stats(http, token).await?;
        if s["store"]["records"].as_u64() >= Some(records)
            && s["processed_seq"].as_i64() >= s["store"]["last_batch_seq"].as_i64()
        {
            return Ok(Instant::now());
        }
        let now = (
            s["store"]["records"].as_u64().unwrap_or(0),
            s["processed_seq"].as_i64().unwrap_or(i64::MIN),
        );
        progress.note(now, || {
            format!(
                "{} records stored, processed up to {}, last batch {}",
                now.0, now.1, s["store"]["last_batch_seq"]
            )
        })?;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

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
    refused: u64,
}

/// A server whose clock stands still at `start`, taking a whole recorded night; with a sensor
/// and an owner token (statistics are the deployment owner's).
fn frozen(site_file: &Path, data: &Path, start: f64) -> Result<(Proc, String, String)> {
    let sensor = token(site_file, data, "sensor")?;
    let admin = token(site_file, data, "owner")?;
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
    let (mut stored, mut refused) = (0u64, 0u64);
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
                200 => {
                    let reply: serde_json::Value = r.json().await?;
                    stored += reply["accepted"].as_u64().context("the reply's accepted")?;
                    refused += reply["rejected"].as_array().map_or(0, |v| v.len() as u64);
                    break;
                }
                429 | 503 => tokio::time::sleep(Duration::from_millis(5)).await,
                s => bail!("ingest answered {s}: {}", r.text().await?),
            }
        }
    }
    let durable_s = t0.elapsed().as_secs_f64();
    let done = drained(&p.http, &admin, stored).await?;
    let s = stats(&p.http, &admin).await?;
    Ok(Throughput {
        records: stored,
        durable_s,
        processed_s: (done - t0).as_secs_f64(),
        rss_mib: status_kib(p.pid, "VmHWM:").unwrap_or(f64::NAN) / 1024.0,
        tracks: s["live_tracks"].as_u64().unwrap_or(0),
        refused,
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
    let times: Vec<f64> = recs
        .iter()
        .filter(|r| cot_event(r).is_some())
        .map(|r| r.time().0.floor())
        .collect();
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
    for c in conns.values_mut() {
        c.flush().await?;
    }
    let hellos = conns.len() as u64;
    taken_all(&p.ops, hellos).await?;
    // CoT has no acknowledgement, and each connection is read at its own pace: a sensor whose
    // records fell more than the reorder window (2 s) behind the others' would have them
    // refused as late. Real sensors send as they see; this load runs hundreds of times faster
    // than record time, so a connection one group commit behind the others would be seconds
    // of record time behind. The load is therefore sent one second of record time at a time,
    // and a second goes out once the server has taken (stored or refused) everything before it.
    let seconds: Vec<usize> = (0..times.len())
        .filter(|&i| i == 0 || times[i] != times[i - 1])
        .collect();
    let t0 = Instant::now();
    let mut touched = std::collections::HashSet::new();
    for (k, &from) in seconds.iter().enumerate() {
        if k > 0 {
            taken_all(&p.ops, hellos + from as u64).await?;
        }
        let to = seconds.get(k + 1).copied().unwrap_or(events.len());
        for (s, e) in &events[from..to] {
            if let Some(c) = conns.get_mut(s) {
                c.write_all(e.as_bytes()).await?;
                touched.insert(s.clone());
            }
        }
        for s in touched.drain() {
            if let Some(c) = conns.get_mut(&s) {
                c.flush().await?;
            }
        }
    }
    let (stored, refused) = taken_all(&p.ops, hellos + n).await?;
    let durable_s = t0.elapsed().as_secs_f64();
    let done = drained(&p.http, &admin, stored).await?;
    let s = stats(&p.http, &admin).await?;
    Ok(Throughput {
        records: stored - hellos,
        durable_s,
        processed_s: (done - t0).as_secs_f64(),
        rss_mib: status_kib(p.pid, "VmHWM:").unwrap_or(f64::NAN) / 1024.0,
        tracks: s["live_tracks"].as_u64().unwrap_or(0),
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
            through.push(("CoT over TCP, one connection per sensor", cot_run(&frontier, &recs, start, dir).await?));
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
            md += "\n| reorder window | paced rate (det/s) | run | HTTP ack p50 / p99 (durable) | refused as late | track updates | record → track on the stream p50 / p99 | alert revisions | record → alert on the stream p50 / p99 | probes alerted | probe's crossing → its first alert p50 / p99 |\n|---|---|---|---|---|---|---|---|---|---|---|\n";
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
    site::write_shipped(&d)
        .with_context(|| format!("writing the shipped sites to {}", d.display()))?;
    Ok(d)
}
