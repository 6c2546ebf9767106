//! The stock `pytak` command-line client as a TAK device, configured only as pytak's own
//! documentation says (PYTAK_TLS_CLIENT_CERT = the `.p12` from `limes cert issue`,
//! PYTAK_TLS_CLIENT_PASSWORD, PYTAK_TLS_CLIENT_CAFILE, a `tls://` URL): it connects over TLS,
//! receives its organisation's tracks and alerts; a second device of the organisation gets
//! the first one's position when it joins and `t-x-d-d` when it leaves; after
//! `limes cert revoke` (server running) the first is cut off with a message, refused when it
//! comes back, and the server logs why at WARN.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod common;

use common::{breakout, camp_site, feed, token, wait_for, BIN};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Mutex};

/// The folder with pytak (installed by `cargo xtask test`; LIMES_PYDEPS when set).
fn pydeps() -> PathBuf {
    std::env::var_os("LIMES_PYDEPS")
        .map(PathBuf::from)
        .unwrap_or_else(common::python_packages)
}

fn limes(args: &[&str]) -> String {
    let out = Command::new(BIN).args(args).output().expect("limes runs");
    assert!(
        out.status.success(),
        "limes {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

/// `limes serve` on free loopback ports, its stderr (the log) kept in a file.
struct Serve {
    child: Child,
    http: String,
    tls: String,
}

impl Serve {
    fn start(site: &Path, data: &Path, log: &Path, listen: &[&str]) -> Option<Serve> {
        let mut child = Command::new(BIN)
            .arg("serve")
            .arg("--site")
            .arg(site)
            .arg("--data")
            .arg(data)
            .args(["--http", "127.0.0.1:0", "--ops", "127.0.0.1:0", "--no-cot"])
            .args(listen)
            .args(["--clock-speed", "30"])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(log).expect("log file"))
            .spawn()
            .expect("limes serve starts");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let (mut http, mut tls) = (None, None);
        loop {
            match lines.next() {
                Some(Ok(l)) if l == "ready" => break,
                Some(Ok(l)) => {
                    let l = l.trim();
                    if let Some(a) = l.strip_prefix("HTTP  http://") {
                        http = a.split('/').next().map(|a| format!("http://{a}"));
                    }
                    if let Some(a) = l.strip_prefix("CoT   tls://") {
                        tls = a.split_whitespace().next().map(str::to_string);
                    }
                }
                _ => {
                    let _ = child.wait();
                    return None;
                }
            }
        }
        std::thread::spawn(move || for _ in lines {});
        Some(Serve {
            child,
            http: http.expect("HTTP address printed"),
            tls: tls.expect("CoT TLS address printed"),
        })
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A running `pytak tls://…` with what it has printed so far.
struct Pytak {
    child: Child,
    stdin: Option<ChildStdin>,
    out: Arc<Mutex<String>>,
}

impl Pytak {
    /// Starts the stock CLI with a device's `.p12`, and sends the device's own position.
    fn start(url: &str, p12: &Path, password: &str, ca: &Path, uid: &str) -> Pytak {
        Self::run(
            &format!("tls://{url}"),
            &[
                ("PYTAK_TLS_CLIENT_CERT", p12.as_os_str()),
                ("PYTAK_TLS_CLIENT_PASSWORD", password.as_ref()),
                ("PYTAK_TLS_CLIENT_CAFILE", ca.as_os_str()),
            ],
            uid,
        )
    }

    /// Starts the stock CLI on `url` with `env`, and sends the device's own position.
    fn run(url: &str, env: &[(&str, &std::ffi::OsStr)], uid: &str) -> Pytak {
        let deps = pydeps();
        let mut child = Command::new("python3")
            .arg(deps.join("bin/pytak"))
            .arg(url)
            .env("PYTHONPATH", &deps)
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 runs pytak");
        let out = Arc::new(Mutex::new(String::new()));
        let (mut stdout, o) = (child.stdout.take().expect("stdout"), out.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 {
                    break;
                }
                o.lock()
                    .expect("lock")
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let mut stdin = child.stdin.take().expect("stdin");
        let now = chrono::Utc::now();
        let (t, stale) = (
            now.to_rfc3339(),
            (now + chrono::Duration::hours(2)).to_rfc3339(),
        );
        writeln!(
            stdin,
            r#"<event version="2.0" uid="{uid}" type="a-f-G-U-C" how="h-e" time="{t}" start="{t}" stale="{stale}"><point lat="36.39" lon="38.90" hae="0" ce="10" le="10"/><detail><contact callsign="{uid}"/></detail></event>"#
        )
        .expect("stdin");
        stdin.flush().expect("flush");
        Pytak {
            child,
            stdin: Some(stdin),
            out,
        }
    }

    fn output(&self) -> String {
        self.out.lock().expect("lock").clone()
    }

    /// Waits (at most 120 s) until the output holds every needle.
    fn wait_for(&self, needles: &[&str]) -> String {
        wait_for(120.0, || {
            let o = self.output();
            needles.iter().all(|n| o.contains(n)).then_some(o)
        })
        .unwrap_or_else(|| {
            panic!(
                "pytak never printed {needles:?}; it printed:\n{}",
                self.output()
            )
        })
    }
}

impl Drop for Pytak {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `limes cert issue`: the `.p12` path and its password.
fn issue(data: &Path, site: &Path, out: &Path, org: &str, name: &str) -> (PathBuf, String) {
    let password = limes(&[
        "cert",
        "issue",
        "--data",
        &data.display().to_string(),
        "--site",
        &site.display().to_string(),
        "--org",
        org,
        "--role",
        "viewer",
        "--out",
        &out.display().to_string(),
        name,
    ]);
    (out.join(format!("{name}.p12")), password.trim().to_string())
}

#[test]
fn stock_pytak_joins_over_tls_with_an_issued_certificate_and_is_cut_off_when_revoked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let site = camp_site(dir.path(), None);
    let data = dir.path().join("data");
    let out = dir.path().join("devices");
    std::fs::create_dir_all(&out).expect("out");
    let d = data.display().to_string();
    limes(&["cert", "server", "--data", &d, "--host", "127.0.0.1"]);
    let (alice, alice_pw) = issue(&data, &site, &out, "ibf", "tak-alice");
    let (carol, carol_pw) = issue(&data, &site, &out, "ibf", "tak-carol");
    let ca = out.join("limes-ca.pem");
    let sensors = token(&site, &data, "sdf", "sensor");
    let log = dir.path().join("serve.log");
    let srv = Serve::start(&site, &data, &log, &["--cot-tls", "127.0.0.1:0"])
        .expect("limes serve starts");

    let (stop, acked) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicU64::new(0)),
    );
    let feeder = {
        let (http, stop, acked) = (srv.http.clone(), stop.clone(), acked.clone());
        std::thread::spawn(move || feed(&http, &sensors, &breakout(), &stop, &acked))
    };

    // Tracks and alerts of the breakout reach the stock client.
    let a = Pytak::start(&srv.tls, &alice, &alice_pw, &ca, "ANDROID-alice");
    a.wait_for(&[".track.", "type=\"a-u-G\"", "type=\"b-a-"]);

    // A second device of the organisation is shown the first one's position as it joins.
    let c = Pytak::start(&srv.tls, &carol, &carol_pw, &ca, "ANDROID-carol");
    c.wait_for(&["uid=\"ANDROID-alice\""]);

    // Revoked while connected: the device is told and cut off; its colleague sees it leave.
    let revoked = limes(&["cert", "revoke", "--data", &d, "tak-alice"]);
    assert!(revoked.contains("revoked tak-alice"), "{revoked}");
    a.wait_for(&["Connection refused: your certificate has been revoked"]);
    c.wait_for(&["type=\"t-x-d-d\"", "<link uid=\"ANDROID-alice\""]);

    // Coming back with the revoked certificate: refused with a message.
    let again = Pytak::start(&srv.tls, &alice, &alice_pw, &ca, "ANDROID-alice");
    let said = again.wait_for(&["Connection refused"]);
    assert!(said.contains("was revoked"), "{said}");

    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let _ = feeder.join();
    drop((a, c, again));
    drop(srv);
    let log = std::fs::read_to_string(&log).expect("log");
    assert!(
        log.lines()
            .any(|l| l.contains("WARN") && l.contains("refused") && l.contains("revoked")),
        "the server logs the refusals at WARN:\n{log}"
    );
}

/// Enrolment as a stock client does it: pytak's `tak://` link (the one `limes cert
/// enroll-code` prints) enrols over HTTPS on port 8446 — fixed in the client, so the server
/// listens on a random loopback address — and connects over TLS on 8089 with the certificate.
#[test]
fn stock_pytak_enrolls_with_a_one_time_code_and_joins() {
    let dir = tempfile::tempdir().expect("tempdir");
    let site = camp_site(dir.path(), None);
    let data = dir.path().join("data");
    let d = data.display().to_string();
    let log = dir.path().join("serve.log");
    let mut tries = 0;
    let (srv, ip) = loop {
        let ip = format!(
            "127.{}.{}.{}",
            rand::random_range(1..=254u8),
            rand::random_range(1..=254u8),
            rand::random_range(2..=254u8)
        );
        let (tls, enroll) = (format!("{ip}:8089"), format!("{ip}:8446"));
        if !data.join("pki").exists() {
            limes(&["cert", "server", "--data", &d, "--host", "127.0.0.1"]);
        }
        let listen = ["--cot-tls", tls.as_str(), "--enroll", enroll.as_str()];
        if let Some(s) = Serve::start(&site, &data, &log, &listen) {
            break (s, ip);
        }
        tries += 1;
        assert!(
            tries < 5,
            "no free loopback address for ports 8089 and 8446"
        );
    };
    let printed = limes(&[
        "cert",
        "enroll-code",
        "--data",
        &d,
        "--site",
        &site.display().to_string(),
        "--org",
        "sdf",
        "--role",
        "viewer",
        "--server",
        &format!("{ip}:8089"),
        "sdf-tablet",
    ]);
    let link = printed
        .lines()
        .find_map(|l| l.strip_prefix("link: "))
        .unwrap_or_else(|| panic!("a tak:// link in {printed}"));
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).expect("home");
    let p = Pytak::run(link, &[("HOME", home.as_os_str())], "ANDROID-sdf-tablet");
    p.wait_for(&["type=\"a-n-G-I\""]);
    let list = limes(&["cert", "list", "--data", &d]);
    assert!(
        list.lines()
            .any(|l| l.contains("sdf-tablet") && l.contains(" sdf ") && l.contains("enroll")),
        "{list}"
    );
    drop(p);
    drop(srv);
}
