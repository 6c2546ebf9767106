//! The console end to end, in real headless Chromium: `limes serve` replays the Ain Issa breakout
//! at 20×; `web/e2e/console.e2e.mjs` (playwright-core driving Debian's `chromium`) signs in as
//! border-force operators and the humanitarian agency and checks what the "Done when"
//! asks. `cargo xtask test` installs Chromium with apt-get when missing. Screenshots: target/e2e-console/.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

const PASSWORD: &str = "night shift password";
const CHROMIUM: &str = "/usr/bin/chromium";

/// Debian's chromium, which `cargo xtask test` (the README's test command) installs when missing.
fn chromium() {
    assert!(
        Path::new(CHROMIUM).exists(),
        "no {CHROMIUM}: run the suite with `cargo xtask test`, which installs Debian's chromium \
         with apt-get, or install it yourself"
    );
}

/// The web folder, with its npm packages (the build script ran `npm ci` unless a bundle was
/// given with LIMES_WEB_DIST).
fn web() -> PathBuf {
    let web = root().join("web");
    if !web.join("node_modules/playwright-core").exists() {
        let st = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&web)
            .status()
            .expect("npm runs");
        assert!(st.success(), "npm ci failed");
    }
    web
}

fn add_user(site: &Path, data: &Path, org: &str, role: &str, name: &str) {
    let mut child = Command::new(BIN)
        .args(["user", "add", "--password-stdin", "--site"])
        .arg(site)
        .arg("--data")
        .arg(data)
        .args(["--org", org, "--role", role, name])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("limes user add runs");
    writeln!(child.stdin.take().expect("stdin"), "{PASSWORD}").expect("password");
    let out = child.wait_with_output().expect("waits");
    assert!(
        out.status.success(),
        "limes user add: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_console_runs_a_breakout_night_in_headless_chromium() {
    chromium();
    let web = web();
    let dir = tempfile::tempdir().expect("temp dir");
    let site = camp_site(dir.path(), None);
    let data = dir.path().join("data");
    for (org, role, name) in [
        ("ibf", "operator", "op1"),
        ("ibf", "operator", "op2"),
        ("humanitarian", "viewer", "hum1"),
    ] {
        add_user(&site, &data, org, role, name);
    }
    let admin = token(&site, &data, "ibf", "admin");
    // The deployment owner reads every organisation's audit entries.
    let owner = token(&site, &data, "ibf", "owner");
    // The camp's sensors belong to the SDF (the site's sensor_org): only its credentials send as them.
    let sensor = token(&site, &data, "sdf", "sensor");
    // 20×: the ten minutes of the breakout last 30 s, long enough to see its tracks.
    let srv = Srv::start(&site, &data, 20.0);

    // The breakout, fed at the drill clock's pace while the browser works.
    let recs = breakout();
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(AtomicU64::new(0));
    let feeder = {
        let (http, stop, acked) = (srv.http.clone(), stop.clone(), acked.clone());
        std::thread::spawn(move || feed(&http, &sensor, &recs, &stop, &acked))
    };

    let shots = root().join("target/e2e-console");
    let mut cmd = Command::new("node");
    cmd.arg("e2e/console.e2e.mjs")
        .current_dir(&web)
        .env("LIMES_URL", &srv.http)
        .env("LIMES_ADMIN_TOKEN", &admin)
        .env("LIMES_PASSWORD", PASSWORD)
        .env("LIMES_SHOTS", &shots)
        .env("LIMES_CHROMIUM", CHROMIUM);
    if let Ok(p) = std::env::var("LIMES_DOCS_SHOT") {
        cmd.env("LIMES_DOCS_SHOT", p);
    }
    let out = cmd.output().expect("node runs");
    stop.store(true, Ordering::SeqCst);
    let _ = feeder.join();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "the end-to-end scenario failed (screenshots in {}):\n{stdout}\n{stderr}",
        shots.display()
    );
    assert!(acked.load(Ordering::SeqCst) > 0, "the breakout was fed");

    // The audit log holds the sign-ins and the acknowledgement by name, and its chain holds.
    let (st, audit) = srv.get(&owner, "/api/v1/audit?limit=10000");
    assert_eq!(st, 200);
    let entries = audit["entries"].as_array().expect("entries");
    assert!(entries
        .iter()
        .any(|e| e["action"] == "alert.ack" && e["actor"] == "ibf/user:op1"));
    assert!(entries
        .iter()
        .any(|e| e["action"] == "session.open" && e["actor"] == "humanitarian/user:hum1"));
    for f in ["operator.png", "history.png", "humanitarian.png"] {
        assert!(shots.join(f).exists(), "screenshot {f}");
    }
    drop(srv);
    let v = Command::new(BIN)
        .args(["audit", "verify", "--data"])
        .arg(&data)
        .output()
        .expect("limes audit verify");
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stderr));
}
