//! The console's benchmark (not part of the test command; BENCHMARKS.md gives its figures):
//! `limes serve` (in process, with the console) publishes N live tracks, each updated every
//! second, to a border-force operator's page in headless Chromium; `web/e2e/bench.mjs` measures
//! update-to-drawn latency, stream bytes per second and page memory.
//!
//! ```sh
//! LIMES_TRACKS=5000 LIMES_SECONDS=1800 cargo test --release -p limes --test console_bench -- --ignored --nocapture
//! ```
//!
//! The tracks are published straight into the server's hub (the tracker is not what is measured
//! here): every stage after it — the release policy, the event stream, the page — is the real one.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use limes_core::geo::LonLat;
use limes_core::record::{ClassProbs, Position, Time, TrackRecord, TrackStatus};
use limes_server::auth::Role;
use limes_server::{ServeConfig, Server};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

static ALERT_EVENTS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn env(k: &str, d: f64) -> f64 {
    std::env::var(k)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(d)
}

/// Track `i`'s state at time `t`: strung along the frontier, each walking a small circle.
fn track(i: u64, n: u64, line: &[LonLat], t: f64, first: f64) -> TrackRecord {
    let f = i as f64 / n as f64 * (line.len() - 1) as f64;
    let (k, r) = (f.floor() as usize, f.fract());
    let a = line[k];
    let b = line[(k + 1).min(line.len() - 1)];
    let phase = t / 120.0 + i as f64;
    let lon =
        a.lon + (b.lon - a.lon) * r + 0.01 * phase.cos() + 0.02 * ((i % 7) as f64 - 3.0) / 3.0;
    let lat = a.lat + (b.lat - a.lat) * r + 0.01 * phase.sin();
    let class = match i % 4 {
        0 => ClassProbs {
            person: 0.8,
            vehicle: 0.1,
            animal: 0.1,
        },
        1 => ClassProbs {
            person: 0.1,
            vehicle: 0.8,
            animal: 0.1,
        },
        2 => ClassProbs {
            person: 0.1,
            vehicle: 0.1,
            animal: 0.8,
        },
        _ => ClassProbs::UNIFORM,
    };
    TrackRecord {
        id: i + 1,
        time: Time(t),
        status: TrackStatus::Confirmed,
        pos: Position::LonLat { lon, lat },
        vel: [1.2 * phase.sin(), -1.2 * phase.cos()],
        cov: [400.0, 50.0, 300.0],
        class,
        hits: 12,
        first_seen: Time(first),
        sensor: Some(format!("cam-{}", i % 50)),
        updated: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark; see the module documentation"]
async fn console_draws_live_tracks() {
    let n = env("LIMES_TRACKS", 5000.0) as u64;
    let seconds = env("LIMES_SECONDS", 120.0);
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = ServeConfig::new("frontier", dir.path().join("data")).on_free_ports();
    cfg.no_cot = true;
    cfg.cot = None;
    let server = Server::start_with(cfg, limes_web::router())
        .await
        .expect("server");
    let password = "benchmark password";
    limes_server::console::users::add(
        &server.state.store,
        "bench",
        "ibf",
        Role::Operator,
        password,
        "bench",
    )
    .await
    .expect("user");
    let line = server
        .state
        .site
        .frontier
        .as_ref()
        .expect("frontier")
        .line
        .clone();
    // Every sensor beats through the real ingest API, so the night is a normal one (no sensor
    // offline, no coverage gaps drawn); LIMES_SILENT=1 leaves them silent instead.
    let silent = std::env::var("LIMES_SILENT").is_ok_and(|v| v == "1");
    let sensor_token = limes_server::auth::create(
        &server.state.store,
        Some(&server.state.tokens),
        "ibf",
        Role::Sensor,
        "bench",
        "bench",
    )
    .await
    .expect("token")
    .token;
    let sensor_ids: Vec<String> = server
        .state
        .site
        .sensors
        .iter()
        .map(|s| s.id.clone())
        .collect();
    let beats = {
        let (clock, base) = (
            server.state.clock.clone(),
            format!("http://{}", server.http),
        );
        tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut every = tokio::time::interval(Duration::from_secs(10));
            loop {
                every.tick().await;
                if silent {
                    continue;
                }
                let now = Time(clock.now());
                let mut body = String::new();
                for id in &sensor_ids {
                    body.push_str(
                        &serde_json::json!({"type": "heartbeat", "sensor": id, "time": now})
                            .to_string(),
                    );
                    body.push('\n');
                }
                let _ = http
                    .post(format!("{base}/api/v1/ingest"))
                    .bearer_auth(&sensor_token)
                    .body(body)
                    .send()
                    .await;
            }
        })
    };
    let (hub, clock) = (server.state.hub.clone(), server.state.clock.clone());
    // Every track once a second, spread over the second in 20 slices.
    let publisher = tokio::spawn(async move {
        let first = clock.now();
        let mut tick = tokio::time::interval(Duration::from_millis(50));
        let mut slice = 0u64;
        loop {
            tick.tick().await;
            let now = clock.now();
            for i in (slice % 20..n).step_by(20) {
                hub.track(track(i, n, &line, now, first));
            }
            slice += 1;
        }
    });
    // A second subscriber of the same organisation counts what the server sends one page.
    let base = format!("http://{}", server.http);
    let http = reqwest::Client::new();
    let r = http
        .post(format!("{base}/api/v1/session"))
        .json(&serde_json::json!({ "user": "bench", "password": password }))
        .send()
        .await
        .expect("sign in");
    let cookie = r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let counted = std::sync::Arc::new(std::sync::Mutex::new(Vec::<(f64, u64)>::new()));
    let counter = {
        let counted = counted.clone();
        tokio::spawn(async move {
            use futures_util::StreamExt;
            let mut s = http
                .get(format!("{base}/api/v1/stream"))
                .header("cookie", cookie)
                .send()
                .await
                .expect("stream")
                .bytes_stream();
            let mut total = 0u64;
            let mut last = 0.0;
            while let Some(Ok(chunk)) = s.next().await {
                total += chunk.len() as u64;
                let alerts = chunk.windows(12).filter(|w| w == b"event: alert").count();
                ALERT_EVENTS.fetch_add(alerts as u64, std::sync::atomic::Ordering::Relaxed);
                let now = limes_server::clock::wall_now();
                if now - last >= 0.5 {
                    counted.lock().unwrap().push((now, total));
                    last = now;
                }
            }
        })
    };
    let mut node = Command::new("node");
    node.arg("e2e/bench.mjs")
        .current_dir(root.join("web"))
        .env("LIMES_URL", format!("http://{}", server.http))
        .env("LIMES_USER", "bench")
        .env("LIMES_PASSWORD", password)
        .env("LIMES_SECONDS", seconds.to_string());
    let out = tokio::task::spawn_blocking(move || node.output())
        .await
        .expect("joined")
        .expect("node runs");
    publisher.abort();
    counter.abort();
    beats.abort();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let result: serde_json::Value =
        serde_json::from_str(stdout.trim().lines().last().unwrap_or("{}")).unwrap_or_default();
    let at = |k: &str| result[k].as_f64().unwrap_or(0.0) / 1000.0;
    let (t0, t1) = (at("t0_epoch_ms"), at("t1_epoch_ms"));
    let samples = counted.lock().unwrap().clone();
    let bytes_at = |t: f64| {
        samples
            .iter()
            .rev()
            .find(|(ts, _)| *ts <= t)
            .map_or(0, |(_, b)| *b)
    };
    let rate = (bytes_at(t1) - bytes_at(t0)) as f64 / (t1 - t0).max(1.0);
    println!(
        "server -> one page (a second subscriber of the same organisation): {rate:.0} bytes/s"
    );
    assert!(
        out.status.success(),
        "bench.mjs failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cpu = Command::new("sh")
        .args(["-c", "grep -m1 'model name' /proc/cpuinfo; nproc"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).replace('\n', " "))
        .unwrap_or_default();
    let offline = server.state.hub.with(|p| {
        p.alerts
            .values()
            .filter(|a| {
                a.alert.kind == limes_core::record::AlertKind::SensorOffline
                    && a.alert.state == limes_core::record::AlertState::Open
            })
            .map(|a| a.alert.count)
            .sum::<u32>()
    });
    println!("{n} tracks, 1 update/s each; sensors offline at the end: {offline}; machine: {cpu}\n{stdout}");
}
