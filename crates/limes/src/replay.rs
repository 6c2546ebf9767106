//! `limes replay`: feeds a running server from a detections file, with record times moved to
//! the server's clock, in real or accelerated time (or as fast as the server takes them).

use anyhow::{bail, Context, Result};
use limes_core::record::{SensorRecord, Time};
use std::io::BufRead;
use std::path::Path;
use std::time::{Duration, Instant};

/// How fast to replay.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Speed {
    /// This many record seconds per wall second.
    Times(f64),
    /// As fast as the server acknowledges.
    Max,
}

impl std::str::FromStr for Speed {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s == "max" {
            return Ok(Speed::Max);
        }
        let n: f64 = s
            .trim_end_matches('x')
            .parse()
            .map_err(|_| format!("{s:?}: give a factor like 10x, or max"))?;
        if !(n.is_finite() && n > 0.0) {
            return Err(format!("{s:?}: the factor must be positive"));
        }
        Ok(Speed::Times(n))
    }
}

/// What to replay and where.
pub struct ReplayArgs<'a> {
    /// Detections file.
    pub file: &'a Path,
    /// Server base address.
    pub to: &'a str,
    /// Bearer token with the sensor role.
    pub token: &'a str,
    /// Speed.
    pub speed: Speed,
    /// Skip records before this many minutes into the file.
    pub from_min: f64,
    /// Stop after this many minutes of records.
    pub for_min: Option<f64>,
    /// Records per request at most.
    pub batch: usize,
}

/// What a replay did.
#[derive(Debug, Default)]
pub struct ReplaySummary {
    /// Records sent.
    pub sent: u64,
    /// Records the server accepted.
    pub accepted: u64,
    /// Records the server refused.
    pub refused: u64,
    /// Requests answered 429 (retried).
    pub throttled: u64,
    /// Wall time, seconds.
    pub wall_s: f64,
}

fn load(file: &Path, from_min: f64, for_min: Option<f64>) -> Result<Vec<SensorRecord>> {
    let f = std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?;
    let mut recs = Vec::new();
    let mut t0 = None;
    for (i, line) in std::io::BufReader::new(f).lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let r: SensorRecord =
            serde_json::from_str(&line).with_context(|| format!("{}:{}", file.display(), i + 1))?;
        let t = r.time().0;
        let start = *t0.get_or_insert(t);
        let m = (t - start) / 60.0;
        if m < from_min {
            continue;
        }
        if for_min.is_some_and(|d| m > from_min + d) {
            continue;
        }
        recs.push(r);
    }
    recs.sort_by(|a, b| a.time().0.total_cmp(&b.time().0));
    Ok(recs)
}

/// Replays a file into a server; prints progress to stderr.
pub async fn replay(a: ReplayArgs<'_>) -> Result<ReplaySummary> {
    let mut recs = load(a.file, a.from_min, a.for_min)?;
    let (Some(first), Some(last)) = (
        recs.first().map(|r| r.time().0),
        recs.last().map(|r| r.time().0),
    ) else {
        bail!("{}: no records in the chosen window", a.file.display());
    };
    let client = reqwest::Client::new();
    let base = a.to.trim_end_matches('/');
    let clock: serde_json::Value = client
        .get(format!("{base}/api/v1/clock"))
        .send()
        .await
        .with_context(|| format!("reaching {base}"))?
        .json()
        .await?;
    let now = clock["unix"]
        .as_f64()
        .context("the server's /api/v1/clock has no `unix`")?;
    let server_speed = clock["speed"].as_f64().unwrap_or(1.0);
    if let Speed::Times(s) = a.speed {
        if (s - server_speed).abs() > 1e-9 {
            eprintln!("warning: replaying at {s}x but the server clock runs at {server_speed}x; records will drift from its clock");
        }
    }
    // Record times move to the server's clock. A paced replay sends each record a little
    // before its time comes (one wall second's worth of clock, at most a minute), so network
    // and batching delays never make it later than the tracker's reorder window allows. `max`
    // is for a frozen drill clock (`--clock-speed 0`): the file then starts at the clock.
    let lead = match a.speed {
        Speed::Times(x) => x.clamp(1.0, 60.0),
        Speed::Max => {
            if server_speed != 0.0 {
                eprintln!("warning: --speed max against a running clock: records older than the tracker's reorder window are refused; run the server with --clock-speed 0");
            }
            0.0
        }
    };
    let _ = last;
    let pace = Pacing {
        offset: now - first + lead,
        first,
    };
    for r in &mut recs {
        let t = pace.stamp(r.time().0);
        r.set_time(Time(t));
    }
    let start = Instant::now();
    let run: u64 = rand::random();
    let mut s = ReplaySummary::default();
    let mut i = 0;
    while i < recs.len() {
        let due = match a.speed {
            Speed::Max => recs.len(),
            Speed::Times(x) => {
                let elapsed = start.elapsed().as_secs_f64() * x;
                recs[i..].partition_point(|r| pace.due(r.time().0) <= elapsed) + i
            }
        };
        if due == i {
            tokio::time::sleep(Duration::from_millis(5)).await;
            continue;
        }
        let end = due.min(i + a.batch);
        let mut body = Vec::new();
        for r in &recs[i..end] {
            serde_json::to_writer(&mut body, r)?;
            body.push(b'\n');
        }
        // One key per batch: a retry after a lost reply is answered, not stored twice.
        let key = format!("replay-{run}-{i}");
        let mut tries = 0;
        loop {
            let sent = client
                .post(format!("{base}/api/v1/ingest"))
                .bearer_auth(a.token)
                .header("Content-Type", "application/x-ndjson")
                .header("Idempotency-Key", &key)
                .body(body.clone())
                .send()
                .await;
            let resp = match sent {
                Ok(r) => r,
                Err(e) if tries < 5 => {
                    tries += 1;
                    eprintln!("warning: {e}; retrying batch {i} with the same key");
                    tokio::time::sleep(Duration::from_millis(200 * tries)).await;
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            let status = resp.status();
            if status.as_u16() == 429 || status.as_u16() == 503 {
                s.throttled += 1;
                let wait = resp
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<f64>().ok())
                    .unwrap_or(1.0)
                    .min(5.0);
                tokio::time::sleep(Duration::from_secs_f64(wait.min(0.05))).await;
                continue;
            }
            let v: serde_json::Value = resp.json().await.unwrap_or_default();
            if !(status.is_success() || status.as_u16() == 422) {
                bail!("the server answered {status}: {v}");
            }
            let ok = v["accepted"].as_u64().unwrap_or(0);
            s.accepted += ok;
            s.refused += (end - i) as u64 - ok;
            if let Some(rej) = v["rejected"].as_array() {
                for e in rej.iter().take(3) {
                    eprintln!(
                        "refused: record {} field {}: {}",
                        e["index"], e["field"], e["message"]
                    );
                }
            }
            break;
        }
        s.sent += (end - i) as u64;
        i = end;
    }
    s.wall_s = start.elapsed().as_secs_f64();
    Ok(s)
}

/// Where a paced replay puts each record on the server's clock, and when it sends it.
#[derive(Clone, Copy, Debug)]
struct Pacing {
    /// Added to a file time to put it on the server's clock: the clock's reading when the
    /// replay starts, less the file's first time, plus the lead.
    offset: f64,
    /// The file's first time.
    first: f64,
}

impl Pacing {
    /// A file time moved to the server's clock.
    fn stamp(&self, file_time: f64) -> f64 {
        file_time + self.offset
    }

    /// Clock seconds after the replay starts at which the record stamped `stamped` is sent:
    /// its file time's distance from the first, so it leaves a lead ahead of its time.
    fn due(&self, stamped: f64) -> f64 {
        stamped - self.offset - self.first
    }
}

#[cfg(test)]
mod tests {
    use super::Pacing;

    /// Each record leaves `lead` clock seconds before its time comes on the server's clock
    /// (which read `now` when the replay started), so delivery may take that long.
    #[test]
    fn a_paced_record_is_sent_lead_seconds_before_its_time() {
        let (now, first, lead) = (1.0e9, 5_000.0, 60.0);
        let pace = Pacing {
            offset: now - first + lead,
            first,
        };
        for file_time in [first, first + 0.5, first + 1_200.0] {
            let stamped = pace.stamp(file_time);
            let clock_when_sent = now + pace.due(stamped);
            assert!(
                (stamped - clock_when_sent - lead).abs() < 1e-6,
                "record of {file_time} stamped {stamped}, sent at clock {clock_when_sent}"
            );
        }
    }
}
