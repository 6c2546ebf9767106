//! The latency half of `limes bench-serve`: a paced load with probe intruders, and the time
//! from a record to the track update and the alert on the event stream.

use anyhow::{bail, Result};
use limes_core::geo::LonLat;
use limes_core::record::{SensorRecord, Time};
use limes_core::site;
use std::path::Path;
use std::time::{Duration, Instant};

use super::frontier_night;
use super::server::{client, serve, stats, token};

/// A probe intruder: where and when it crosses the line.
pub(super) struct Probe {
    /// Record time of the crossing.
    cross_t: f64,
    /// The camera that sees it.
    camera: String,
    /// The crossing point.
    at: LonLat,
}

/// The latency load: records in time order, and the probes among them.
#[derive(Default)]
pub(super) struct Load {
    /// Every record, in time order.
    pub(super) recs: Vec<SensorRecord>,
    /// The probe intruders whose alerts are timed.
    pub(super) probes: Vec<Probe>,
}

/// How far from a probe's crossing point an alert may be and still be that probe's, metres.
const PROBE_MATCH_M: f64 = 1500.0;

/// Probe intruders: one person every 3 s, each at another stretch of the frontier, walking
/// across it from 100 m outside to 100 m inside at 1.5 m/s, seen by the nearest camera every
/// second. Their infiltration alerts are the ones timed (the rules call a person in once they
/// are `side_hysteresis_m`, 40 m, inside: about 27 s after the crossing at this pace).
fn probes(site: &site::Site, t0: f64, seconds: f64) -> (Vec<SensorRecord>, Vec<Probe>) {
    use limes_core::geo::LocalFrame;
    use limes_core::record::{ClassProbs, Detection, Position};
    let Some(f) = &site.frontier else {
        return (Vec::new(), Vec::new());
    };
    let mut out = Vec::new();
    let mut crossings = Vec::new();
    let n = ((seconds - 100.0) / 3.0).max(1.0) as usize;
    let mut placed = 0;
    let mut i = 2;
    while placed < n && i + 1 < f.line.len() {
        let (a, b) = (f.line[i], f.line[i + 1]);
        i += 1;
        let mid = LonLat {
            lon: (a.lon + b.lon) / 2.0,
            lat: (a.lat + b.lat) / 2.0,
        };
        if site.crossings.iter().any(|c| {
            LonLat {
                lon: c.lon,
                lat: c.lat,
            }
            .distance_m(&mid)
                < 5000.0
        }) {
            continue;
        }
        let Some(cam) = site
            .sensors
            .iter()
            .filter(|s| s.kind.name() == "thermal_camera")
            .min_by(|x, y| x.pos.distance_m(&mid).total_cmp(&y.pos.distance_m(&mid)))
        else {
            continue;
        };
        let frame = LocalFrame::new(mid);
        let (pa, pb) = (frame.to_local(a), frame.to_local(b));
        let len = (pb[0] - pa[0]).hypot(pb[1] - pa[1]).max(1e-9);
        let dir = [(pb[0] - pa[0]) / len, (pb[1] - pa[1]) / len];
        let s = f.outside.sign();
        let outward = [-dir[1] * s, dir[0] * s];
        let start = t0 + 5.0 + 3.0 * placed as f64;
        crossings.push(Probe {
            camera: cam.id.clone(),
            cross_t: start + 100.0 / 1.5,
            at: mid,
        });
        for j in 0..135 {
            let d = 100.0 - 1.5 * j as f64;
            let p = frame.to_lonlat([outward[0] * d, outward[1] * d]);
            out.push(SensorRecord::Detection(Detection {
                sensor: cam.id.clone(),
                time: Time(start + j as f64),
                pos: Position::LonLat {
                    lon: p.lon,
                    lat: p.lat,
                },
                cov: Some([4.0, 0.0, 4.0]),
                ce: None,
                class: Some(ClassProbs {
                    person: 0.9,
                    vehicle: 0.05,
                    animal: 0.05,
                }),
                heat_m2: Some(0.6),
                count: None,
            }));
        }
        placed += 1;
    }
    (out, crossings)
}

/// Herds that make the load about 10 000 det/s along the frontier, with probe intruders.
pub(super) fn latency_load(seconds: f64) -> Result<Load> {
    let lead = 0.0;
    let (site, groups) = frontier_night(lead + seconds / 60.0 + 1.0, 0, 0, 11)?;
    let g0 = groups.first().map(|r| r.time().0).unwrap_or(0.0) + lead * 60.0;
    let (_, herds) = frontier_night(seconds / 60.0 + 1.0, 780, 0, 12)?;
    let shift = g0 - herds.first().map(|r| r.time().0).unwrap_or(0.0);
    let mut v: Vec<SensorRecord> = groups.into_iter().filter(|r| r.time().0 >= g0).collect();
    let (probe_recs, probes) = probes(&site, g0, seconds);
    v.extend(probe_recs);
    v.extend(herds.into_iter().map(|mut r| {
        let t = r.time().0 + shift;
        r.set_time(Time(t));
        r
    }));
    // The simulator stamps a whole time step with one time; real sensors do not scan in step.
    // Spread each record over its second (at most 0.75 m of walking), so requests are small.
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
    for r in &mut v {
        let t = r.time().0 + rng.random_range(0.0..1.0);
        r.set_time(Time(t));
    }
    v.sort_by(|a, b| a.time().0.total_cmp(&b.time().0));
    Ok(Load { recs: v, probes })
}

/// What one latency run measured.
pub(super) struct Latency {
    /// Records sent per second of the run.
    rate: f64,
    /// Length of the run, seconds.
    seconds: f64,
    ack_p50_ms: f64,
    ack_p99_ms: f64,
    /// Records the server refused (late for the reorder window), each named in its reply.
    refused: usize,
    /// Alert revisions seen on the stream during the run.
    revisions: usize,
    /// Probes that crossed during the run.
    probes: usize,
    /// ... and of them, those with an infiltration alert.
    alerted: usize,
    cross_p50_s: f64,
    cross_p99_s: f64,
    alert_p50_ms: f64,
    alert_p99_ms: f64,
    /// Track updates seen on the stream during the run.
    tracks: usize,
    track_p50_ms: f64,
    track_p99_ms: f64,
    /// The reorder window under test, seconds.
    window_s: f64,
}

impl Latency {
    /// One Markdown table row.
    pub(super) fn row(&self) -> String {
        let l = self;
        format!(
            "| {:.2} s | {:.0} | {:.0} s | {:.1} / {:.1} ms | {} | {} | {:.0} / {:.0} ms | {} | {:.0} / {:.0} ms | {} of {} | {:.1} / {:.1} s |\n",
            l.window_s, l.rate, l.seconds, l.ack_p50_ms, l.ack_p99_ms, l.refused, l.tracks, l.track_p50_ms, l.track_p99_ms, l.revisions, l.alert_p50_ms, l.alert_p99_ms, l.alerted, l.probes, l.cross_p50_s, l.cross_p99_s
        )
    }
}

/// The `p` quantile of `v` (nearest rank; with fewer than 100 values the 0.99 quantile is the
/// largest); NaN (printed "NaN") when there is none.
fn pct(v: &mut [f64], p: f64) -> f64 {
    limes_core::eval::percentile(v, p).unwrap_or(f64::NAN)
}

/// An alert revision as it arrived on the event stream.
struct Arrival {
    /// Wall-clock arrival at the client.
    at: f64,
    /// The revision's time (that of the record that made it).
    time: f64,
    pos: LonLat,
    kind: String,
    sensors: Vec<String>,
}

/// What the stream reader saw, revisions made after `since` only (not the opening snapshot).
#[derive(Default)]
struct Seen {
    alerts: Vec<Arrival>,
    /// Track updates: arrival minus the update's time, seconds.
    tracks: Vec<f64>,
    /// Times the server said the stream had fallen behind (events were skipped).
    lagged: u64,
}

/// Reads the server-sent event stream of alerts and tracks into `seen` until it ends; an
/// error when it cannot be opened.
async fn read_stream(
    http: String,
    token: String,
    since: f64,
    seen: std::sync::Arc<std::sync::Mutex<Seen>>,
) -> Result<()> {
    use futures_util::StreamExt;
    let r = super::server::stream_client()?
        .get(format!("{http}/api/v1/stream?kinds=alert,track"))
        .bearer_auth(token)
        .send()
        .await?;
    if !r.status().is_success() {
        bail!("the event stream answered {}", r.status());
    }
    let mut body = r.bytes_stream();
    let mut buf = String::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk?;
        let at = limes_server::clock::wall_now();
        buf.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(i) = buf.find("\n\n") {
            let ev: String = buf.drain(..i + 2).collect();
            let name = ev.lines().find_map(|l| l.strip_prefix("event: "));
            let data = ev.lines().find_map(|l| l.strip_prefix("data: "));
            let Ok(mut seen) = seen.lock() else {
                bail!("the stream's record is poisoned")
            };
            let (name, data) = match (name, data) {
                (Some("lagged"), _) => {
                    seen.lagged += 1;
                    continue;
                }
                (Some(n @ ("alert" | "track")), Some(d)) => (n, d),
                _ => continue,
            };
            let v: serde_json::Value = serde_json::from_str(data).unwrap_or_default();
            let Some(t) = v["time"]
                .as_str()
                .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
                .map(|t| t.timestamp_micros() as f64 / 1e6)
            else {
                continue;
            };
            if t <= since {
                continue;
            }
            if name == "track" {
                seen.tracks.push(at - t);
            } else if let Some((lon, lat)) = v["lon"].as_f64().zip(v["lat"].as_f64()) {
                seen.alerts.push(Arrival {
                    at,
                    time: t,
                    pos: LonLat { lon, lat },
                    kind: v["kind"].as_str().unwrap_or_default().to_string(),
                    sensors: v["sensors"]
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .filter_map(|s| s.as_str().map(String::from))
                                .collect()
                        })
                        .unwrap_or_default(),
                });
            }
        }
    }
    Ok(())
}

/// A server on the wall clock with `window_s` as its reorder window, fed `load` in real time
/// for `seconds`; times the track updates and alerts on its event stream.
pub(super) async fn latency_run(
    load: &Load,
    seconds: f64,
    window_s: f64,
    dir: &Path,
) -> Result<Latency> {
    let data = dir.join(format!("latency-{window_s}"));
    std::fs::create_dir_all(&data)?;
    // The frontier with the reorder window under test.
    let site_file = super::frontier_with_window(dir, window_s)?;
    let sensor = token(&site_file, &data, "sensor")?;
    let admin = token(&site_file, &data, "admin")?;
    let owner = token(&site_file, &data, "owner")?;
    let p = serve(&site_file, &data, &[])?;
    let _ = std::fs::remove_file(&site_file);
    /// What the bench reads of the server's `/api/v1/clock`.
    #[derive(serde::Deserialize)]
    struct Clock {
        /// The server's time, Unix seconds.
        unix: f64,
    }
    let clock: Clock = client()?
        .get(format!("{}/api/v1/clock", p.http))
        .send()
        .await?
        .json()
        .await?;
    let now = clock.unix;
    let recs = &load.recs;
    let first = recs.first().map(|r| r.time().0).unwrap_or(0.0);
    let offset = now - first;
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Seen::default()));
    let reader = tokio::spawn(read_stream(p.http.clone(), admin, now, seen.clone()));
    let t0 = Instant::now();
    let mut acks = Vec::new();
    let mut i = 0;
    let mut sent = 0usize;
    let mut refused = 0usize;
    while i < recs.len() && t0.elapsed().as_secs_f64() < seconds {
        let due_t = first + t0.elapsed().as_secs_f64();
        let end = recs[i..].partition_point(|r| r.time().0 <= due_t) + i;
        if end == i {
            tokio::time::sleep(Duration::from_millis(2)).await;
            continue;
        }
        let mut b = Vec::new();
        for r in &recs[i..end] {
            let mut r = r.clone();
            let t = r.time().0 + offset;
            r.set_time(Time(t));
            serde_json::to_writer(&mut b, &r)?;
            b.push(b'\n');
        }
        let s = Instant::now();
        let resp = client()?
            .post(format!("{}/api/v1/ingest", p.http))
            .bearer_auth(&sensor)
            .body(b)
            .send()
            .await?;
        let status = resp.status();
        // 422: some records were refused (late for a short reorder window), each named; the
        // rest were stored. Anything else but 200 ends the run.
        if !status.is_success() && status != reqwest::StatusCode::UNPROCESSABLE_ENTITY {
            bail!("ingest answered {status}: {}", resp.text().await?);
        }
        acks.push(s.elapsed().as_secs_f64() * 1000.0);
        let reply: limes_server::ingest::IngestReply = resp.json().await?;
        refused += reply
            .rejected
            .iter()
            .map(limes_server::ingest::RecordError::records)
            .sum::<usize>();
        sent += end - i;
        i = end;
    }
    let run_s = t0.elapsed().as_secs_f64();
    // The last revisions leave the engine a reorder window after their records (a bench's
    // pause, not a synchronisation: whatever comes later is not counted).
    tokio::time::sleep(Duration::from_secs_f64(window_s + 2.0)).await;
    if reader.is_finished() {
        reader.await??;
        bail!("the event stream ended during the run");
    }
    reader.abort();
    let st = stats(&p.http, &owner).await?;
    let seen = std::mem::take(&mut *seen.lock().map_err(|_| anyhow::anyhow!("poisoned"))?);
    eprintln!(
        "latency run (window {window_s} s): {} alerts, {} revisions in the store; the stream fell behind {} times",
        st.store.alerts, st.store.alert_revisions, seen.lagged
    );
    // Each probe that crossed during the run: its first infiltration alert from its camera
    // near its crossing point, timed from the crossing (in wall-clock time, as the records
    // were sent; records are spread over their second, so the crossing is half a second on).
    let crossed: Vec<&Probe> = load
        .probes
        .iter()
        .filter(|p| p.cross_t - first < run_s)
        .collect();
    let mut al: Vec<f64> = seen
        .alerts
        .iter()
        .map(|a| (a.at - a.time) * 1000.0)
        .collect();
    let mut cl: Vec<f64> = crossed
        .iter()
        .filter_map(|p| {
            seen.alerts
                .iter()
                .filter(|a| {
                    a.kind == "infiltration"
                        && a.sensors.contains(&p.camera)
                        && a.pos.distance_m(&p.at) < PROBE_MATCH_M
                })
                .map(|a| a.at - (p.cross_t + 0.5 + offset))
                .min_by(f64::total_cmp)
        })
        .collect();
    let mut tl: Vec<f64> = seen.tracks.iter().map(|x| x * 1000.0).collect();
    Ok(Latency {
        tracks: tl.len(),
        track_p50_ms: pct(&mut tl, 0.5),
        track_p99_ms: pct(&mut tl, 0.99),
        rate: sent as f64 / run_s,
        seconds: run_s,
        ack_p50_ms: pct(&mut acks, 0.5),
        ack_p99_ms: pct(&mut acks, 0.99),
        refused,
        revisions: seen.alerts.len(),
        probes: crossed.len(),
        alerted: cl.len(),
        cross_p50_s: pct(&mut cl, 0.5),
        cross_p99_s: pct(&mut cl, 0.99),
        alert_p50_ms: pct(&mut al, 0.5),
        alert_p99_ms: pct(&mut al, 0.99),
        window_s,
    })
}
