//! Every stage runs on its own, on files: sim → track → eval through the `limes` binary.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

fn limes(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_limes"))
        .args(args)
        .output()
        .expect("limes runs")
}

/// Runs `limes` expecting it to fail; its stderr.
fn fails(args: &[&str]) -> String {
    let out = limes(args);
    let said = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "limes {args:?} succeeded:\n{said}");
    said
}

fn ok(args: &[&str]) -> String {
    let out = limes(args);
    assert!(
        out.status.success(),
        "limes {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

const CAMP: &str = r#"
name = "small-camp"
[[facilities]]
id = "camp"
name = "Small camp"
perimeter = [[38.8675, 36.3793], [38.8765, 36.3793], [38.8765, 36.3847], [38.8675, 36.3847], [38.8675, 36.3793]]
gates = [[38.8720, 36.3847], [38.8700, 36.3793]]
population = { women = 40, children = 60 }
[[lines]]
id = "road"
name = "road"
coords = [[38.80, 36.40], [38.95, 36.40]]
[[sensors]]
id = "cam-n"
kind = "thermal_camera"
lon = 38.8720
lat = 36.3851
camera = { range_m = 3000, range_half_m = 2500, sigma0_m = 1.0, sigma_per_km = 1.5, scan_s = 3.0 }
[[sensors]]
id = "cam-s"
kind = "thermal_camera"
lon = 38.8720
lat = 36.3789
camera = { range_m = 3000, range_half_m = 2500, sigma0_m = 1.0, sigma_per_km = 1.5, scan_s = 3.0 }
[[units]]
id = "qrf"
name = "QRF"
lon = 38.85
lat = 36.40
speed_kmh = 40
[scenario]
duration_h = 1.0
infiltrator_groups = 0
flocks = 0
strays = 0
vehicles = 0
legal_crossings = 0
sensor_outages = 0
[scenario.breakout]
facility = "camp"
shelling_at_min = 5
shelling_point = [38.90, 36.42]
shelling_radius_m = 100
gates_forced_after_min = 5
escapees = 60
waves = 2
wave_spacing_min = 5
wave_duration_min = 4
"#;

#[test]
fn sim_track_and_eval_run_on_their_own_files() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    let site = d.join("camp.toml");
    std::fs::write(&site, CAMP).expect("write site");
    let s = |p: &Path| p.to_str().expect("utf-8 path").to_string();
    ok(&["sim", "--site", &s(&site), "--seed", "4", "--out", &s(d)]);
    let tracks = d.join("tracks.jsonl");
    let alerts = d.join("alerts.jsonl");
    let printed = ok(&[
        "track",
        "--detections",
        &s(&d.join("detections.jsonl")),
        "--out",
        &s(&tracks),
        "--site",
        &s(&site),
        "--alerts",
        &s(&alerts),
    ]);
    assert!(printed.contains("tracks started"), "{printed}");
    // Alarms assessed and kept from the operators go to events.jsonl beside the alerts.
    let events = std::fs::read_to_string(d.join("events.jsonl")).expect("events written");
    for line in events.lines() {
        serde_json::from_str::<limes_core::record::EventRecord>(line).expect("an event line");
    }
    let alert_text = std::fs::read_to_string(&alerts).expect("alerts written");
    assert!(
        alert_text.contains("\"mass_breakout\""),
        "the breakout is alerted from files too:\n{alert_text}"
    );
    ok(&[
        "eval",
        "--truth",
        &s(&d.join("truth.jsonl")),
        "--tracks",
        &s(&tracks),
        "--alerts",
        &s(&alerts),
        "--out",
        &s(&d.join("report")),
    ]);
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(d.join("report/report.json")).expect("report.json"),
    )
    .expect("json");
    let site0 = &report["sites"][0];
    assert_eq!(site0["detection"]["breakout"]["detected"], 1, "{site0:#}");
    assert!(site0["gospa_mean"].as_f64().expect("number") > 0.0);
    assert!(d.join("report/map-run.svg").exists() && d.join("report/report.md").exists());
    // The alarm-quality report over runs on files (here one run, with its detections for
    // the single-sensor baselines).
    let printed = ok(&[
        "eval",
        "--runs",
        &s(d),
        "--site",
        &s(&site),
        "--frontier-km",
        "1",
        "--out",
        &s(&d.join("quality")),
    ]);
    assert!(printed.contains("fence only"), "{printed}");
    assert!(d.join("quality/roc.svg").exists() && d.join("quality/alarms.json").exists());
}

#[test]
fn a_flat_local_frame_is_tracked_and_scored_in_metres() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    let mut det = String::new();
    let mut truth = String::new();
    // Two walkers 500 m apart, walking east at 1.2 m/s; one sensor every 2 s, small noise.
    for k in 0..150 {
        let t = 1_000_000.0 + 2.0 * k as f64;
        for (id, y) in [(1, 0.0), (2, 500.0)] {
            let x = 1.2 * 2.0 * k as f64;
            let jitter = ((k * 7 + id * 3) % 5) as f64 - 2.0;
            det += &format!("{{\"type\":\"detection\",\"sensor\":\"s1\",\"time\":{t},\"x\":{},\"y\":{},\"ce\":3.0}}\n", x + jitter, y - jitter);
            if k % 5 == 0 {
                truth += &format!("{{\"type\":\"state\",\"id\":{id},\"time\":{t},\"x\":{x},\"y\":{y},\"class\":\"person\",\"role\":\"infiltrator\",\"visible\":true}}\n");
            }
        }
    }
    std::fs::write(d.join("det.jsonl"), det).expect("write");
    std::fs::write(d.join("truth.jsonl"), truth).expect("write");
    let s = |n: &str| d.join(n).to_str().expect("utf-8").to_string();
    let out = limes(&[
        "track",
        "--detections",
        &s("det.jsonl"),
        "--out",
        &s("tracks.jsonl"),
    ]);
    assert!(out.status.success());
    // Without a site it says which parameters it used, as a whole site file: saved as it is
    // and given back with --site, it tracks the same.
    let said = String::from_utf8_lossy(&out.stderr);
    let table: toml::Table = toml::from_str(&said).expect("what it says parses as TOML");
    let used: limes_core::track::TrackerConfig = table["tracker"]
        .clone()
        .try_into()
        .expect("a [tracker] table");
    assert_eq!(
        used.confirm_score,
        limes_core::track::TrackerConfig::unknown_sensor().confirm_score
    );
    // ... and what it learnt of the sensor (comments of that table): every scan saw both.
    assert!(
        said.contains("# sensor s1: scan period 2.00 s, detection probability 0.99"),
        "{said}"
    );
    let first = std::fs::read_to_string(d.join("tracks.jsonl")).expect("tracks");
    std::fs::write(d.join("printed.toml"), said.as_bytes()).expect("write");
    let again = limes(&[
        "track",
        "--detections",
        &s("det.jsonl"),
        "--out",
        &s("again.jsonl"),
        "--site",
        &s("printed.toml"),
    ]);
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(d.join("again.jsonl")).expect("tracks"),
        first,
        "the printed site file tracks as the run without a site did"
    );
    let line: serde_json::Value =
        serde_json::from_str(first.lines().next().expect("a track line")).expect("json");
    assert!(
        line.get("x").is_some() && line.get("lon").is_none(),
        "flat in, flat out: {line}"
    );
    ok(&[
        "eval",
        "--truth",
        &s("truth.jsonl"),
        "--tracks",
        &s("tracks.jsonl"),
        "--gospa-c",
        "20",
        "--out",
        &s("report"),
    ]);
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(d.join("report/report.json")).expect("report"),
    )
    .expect("json");
    let g = report["sites"][0]["gospa_mean"].as_f64().expect("number");
    // Two confirmed tracks within a few metres once initiated: far below one miss (c/2 = 10).
    assert!(g < 10.0, "mean GOSPA {g}");
}

#[test]
fn a_bad_site_file_fails_naming_the_field_and_a_bad_record_names_the_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let site = dir.path().join("bad.toml");
    std::fs::write(&site, CAMP.replace("lat = 36.3851", "lat = 136.3851")).expect("write");
    let out = limes(&["site", site.to_str().expect("utf-8")]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("sensors[0] \"cam-n\"") && err.contains("`lat`"),
        "{err}"
    );

    let det = dir.path().join("det.jsonl");
    std::fs::write(&det, "{\"type\":\"detection\",\"sensor\":\"s\",\"time\":1,\"x\":1,\"y\":2,\"ce\":3}\n{\"type\":\"detection\",\"sensor\":\"s\",\"time\":\"yesterday\",\"x\":1,\"y\":2,\"ce\":3}\n").expect("write");
    let tracks = dir.path().join("t.jsonl");
    let track_det = || {
        limes(&[
            "track",
            "--detections",
            det.to_str().expect("utf-8"),
            "--out",
            tracks.to_str().expect("utf-8"),
        ])
    };
    let out = track_det();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("det.jsonl:2") && err.contains("yesterday"),
        "{err}"
    );

    // Read as the server reads a sensor: a position given twice, an unknown field, a frame
    // other than the first detection's and a detection later than the reorder window are each
    // refused by line and field; the good records around them are tracked and counted.
    let good = |t: u32| {
        format!(
            "{{\"type\":\"detection\",\"sensor\":\"s\",\"time\":{t},\"x\":{t},\"y\":0,\"ce\":3}}\n"
        )
    };
    let mut text: String = (100..110).map(good).collect();
    text.push_str("{\"type\":\"detection\",\"sensor\":\"s\",\"time\":110,\"x\":1,\"y\":2,\"lon\":41,\"lat\":34,\"ce\":3}\n");
    text.push_str("{\"type\":\"detection\",\"sensor\":\"s\",\"time\":110,\"x\":1,\"y\":2,\"ce\":3,\"note\":\"hi\"}\n");
    text.push_str(
        "{\"type\":\"detection\",\"sensor\":\"s\",\"time\":110,\"lon\":41,\"lat\":34,\"ce\":3}\n",
    );
    text.push_str(&good(90));
    text.extend((110..115).map(good));
    std::fs::write(&det, text).expect("write");
    let out = track_det();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    for (line, field) in [(11, "x"), (12, "note"), (13, "lon"), (14, "time")] {
        assert!(
            err.contains(&format!("det.jsonl:{line}: field `{field}`")),
            "line {line}, field {field}: {err}"
        );
    }
    assert!(err.contains("4 record(s)"), "{err}");
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(
        summary.contains("15 detections tracked (1 refused as later than the 2 s reorder window)"),
        "{summary}"
    );

    // A scan of 25,000 detections fills a tile's tentative tracks (20,000): the summary says
    // the limit was reached instead of leaving it to the counters.
    let crowd: String = (0..25_000)
        .map(|i| {
            let (x, y) = (f64::from(i % 500) * 40.0, f64::from(i / 500) * 40.0);
            format!("{{\"type\":\"detection\",\"sensor\":\"s\",\"time\":100,\"x\":{x},\"y\":{y},\"ce\":3}}\n")
        })
        .collect();
    std::fs::write(&det, crowd).expect("write");
    let out = track_det();
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("limits ([tracker.limits]) were reached: 5000 tentative tracks shed"),
        "{err}"
    );

    // An output named like the input (here the default events file beside the alerts) is
    // refused before anything is written: the input is not emptied.
    let events = dir.path().join("events.jsonl");
    std::fs::copy(&det, &events).expect("copy");
    let before = std::fs::read(&events).expect("read");
    let out = limes(&[
        "track",
        "--site",
        "ain-issa",
        "--detections",
        events.to_str().expect("utf-8"),
        "--out",
        tracks.to_str().expect("utf-8"),
        "--alerts",
        dir.path().join("alerts.jsonl").to_str().expect("utf-8"),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is the detections file"), "{err}");
    assert_eq!(std::fs::read(&events).expect("read"), before);
}

#[test]
fn the_demo_runs_anywhere_and_reports_what_the_readme_promises() {
    // Run from an empty folder: the binary carries its sites and their geometry.
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("demo");
    let errors = dir.path().join("demo-stderr.txt");
    // As a person runs it: it prints the console's address and keeps the server up until
    // Ctrl-C (here on any free port instead of 8080).
    let mut child = Command::new(env!("CARGO_BIN_EXE_limes"))
        .current_dir(dir.path())
        .args(["demo", "--out", "demo", "--console", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&errors).expect("stderr file"))
        .spawn()
        .expect("limes runs");
    let errors_text = || std::fs::read_to_string(&errors).unwrap_or_default();
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut printed = String::new();
    let url = loop {
        let Some(Ok(line)) = lines.next() else {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "limes demo ended before printing the console's address:\n{printed}\n{}",
                errors_text()
            );
        };
        printed.push_str(&line);
        printed.push('\n');
        if let Some(rest) = line.strip_prefix("the operator's console: ") {
            break rest.split_whitespace().next().expect("url").to_string();
        }
    };
    // Until the waiting line: the demo accounts, then the server stays up.
    for line in lines.by_ref() {
        let line = line.expect("stdout");
        printed.push_str(&line);
        printed.push('\n');
        if line.contains("Ctrl-C stops it") {
            break;
        }
    }
    assert!(printed.contains("password"), "{printed}");
    let page = reqwest::blocking::get(&url).expect("the console answers");
    assert_eq!(page.status(), 200, "GET {url}");
    assert!(
        page.text().expect("page").contains("<html"),
        "the console's page"
    );
    // Ctrl-C: the demo stops its server and exits cleanly.
    let st = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(st.success());
    for line in lines {
        printed.push_str(&line.expect("stdout"));
        printed.push('\n');
    }
    let status = child.wait().expect("waits");
    assert!(status.success(), "limes demo failed:\n{}", errors_text());
    assert!(printed.trim_end().ends_with("stopped"), "{printed}");
    assert!(
        reqwest::blocking::get(&url).is_err(),
        "the server is down after Ctrl-C"
    );
    assert!(
        printed.contains("frontier") && printed.contains("ain-issa") && printed.contains("report:"),
        "{printed}"
    );
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("report.json")).expect("report.json"),
    )
    .expect("json");
    let site = |name: &str| {
        report["sites"]
            .as_array()
            .expect("sites")
            .iter()
            .find(|s| s["site"] == name)
            .cloned()
            .expect("site present")
    };
    let frontier = site("frontier");
    assert!(
        frontier["detection"]["infiltration"]["pd"]
            .as_f64()
            .expect("pd")
            >= 0.8,
        "{:#}",
        frontier["detection"]
    );
    assert_eq!(
        frontier["alerts_by_kind"]["infiltration"]["false_alerts"],
        0
    );
    let camp = site("ain-issa");
    assert!(camp["breakout_count_error"].as_f64().expect("count error") <= 0.10);
    for f in [
        "report.md",
        "map-frontier.svg",
        "map-ain-issa.svg",
        "gospa-frontier.svg",
        "time-to-alert.svg",
        "frontier/alerts.jsonl",
        "ain-issa/tracks.jsonl",
        "ain-issa/truth.jsonl",
    ] {
        assert!(out.join(f).exists(), "{f} written");
    }
}

/// A file has no clock: a gap of two hours in its time is crossed (two nights in one file),
/// and one record whose clock is 50 minutes ahead is refused rather than every record after
/// it (each would otherwise be "late").
#[test]
fn a_gap_in_a_files_time_is_crossed_and_one_wrong_clock_does_not_make_the_rest_late() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    let rec = |t: f64, x: f64, y: f64| {
        format!("{{\"type\":\"detection\",\"sensor\":\"s1\",\"time\":{t},\"x\":{x},\"y\":{y},\"ce\":5.0}}\n")
    };
    let mut det = String::new();
    for (start, y) in [(1_000_000.0, 0.0), (1_000_000.0 + 7200.0, 400.0)] {
        for k in 0..30 {
            if start == 1_000_000.0 && k == 10 {
                det += &rec(start + 3000.0, 1.3 * 10.0, y); // line 11
            }
            det += &rec(start + f64::from(k), 1.3 * f64::from(k), y);
        }
    }
    std::fs::write(d.join("det.jsonl"), det).expect("write");
    let s = |n: &str| d.join(n).to_str().expect("utf-8").to_string();
    let out = limes(&[
        "track",
        "--detections",
        &s("det.jsonl"),
        "--out",
        &s("tracks.jsonl"),
    ]);
    let (said, summary) = (
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout),
    );
    // The one bad record is named, by line and field, and fails the run...
    assert!(!out.status.success(), "{said}");
    assert!(
        said.contains("det.jsonl:11: field `time`")
            && said.contains("ahead of the detections after it"),
        "{said}"
    );
    assert!(said.contains("1 record(s) of"), "{said}");
    // ... the gap is said, not refused, and all 60 others are tracked.
    assert!(
        said.contains("det.jsonl:32: a gap in the file's time"),
        "{said}"
    );
    assert!(
        summary.starts_with("60 detections tracked (0 refused"),
        "{summary}"
    );
    let tracks = std::fs::read_to_string(d.join("tracks.jsonl")).expect("tracks");
    let after_gap = tracks
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("json"))
        .filter(|v| v["status"] == "confirmed" && v["y"].as_f64().is_some_and(|y| y > 300.0))
        .count();
    assert!(after_gap >= 20, "{after_gap} confirmed lines after the gap");
}

/// Tracks of another day than the truth's are scored (all missed, all false) with a warning
/// that says so, not silently.
#[test]
fn eval_warns_when_the_tracks_and_the_truth_do_not_overlap_in_time() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    let (mut det, mut truth) = (String::new(), String::new());
    for k in 0..30 {
        let t = 1_000_000.0 + f64::from(k);
        let x = 1.3 * f64::from(k);
        det += &format!("{{\"type\":\"detection\",\"sensor\":\"s1\",\"time\":{t},\"x\":{x},\"y\":0,\"ce\":3.0}}\n");
        // The truth a day later: another night's file.
        truth += &format!("{{\"type\":\"state\",\"id\":1,\"time\":{},\"x\":{x},\"y\":0,\"class\":\"person\",\"role\":\"infiltrator\",\"visible\":true}}\n", t + 86_400.0);
    }
    std::fs::write(d.join("det.jsonl"), det).expect("write");
    std::fs::write(d.join("truth.jsonl"), truth).expect("write");
    let s = |n: &str| d.join(n).to_str().expect("utf-8").to_string();
    ok(&[
        "track",
        "--detections",
        &s("det.jsonl"),
        "--out",
        &s("tracks.jsonl"),
    ]);
    let out = limes(&[
        "eval",
        "--truth",
        &s("truth.jsonl"),
        "--tracks",
        &s("tracks.jsonl"),
        "--out",
        &s("report"),
    ]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains("warning: the tracks (") && said.contains("do not overlap in time"),
        "{said}"
    );
}

/// An error on the command line is its message and causes, never a stack trace, even where
/// the environment asks Rust for backtraces (`RUST_BACKTRACE=1` is common on build machines).
#[test]
fn an_error_says_what_went_wrong_without_a_backtrace() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(env!("CARGO_BIN_EXE_limes"))
        .args(["track", "--out"])
        .arg(dir.path().join("out"))
        .arg("--detections")
        .arg(dir.path().join("no-such-file.jsonl"))
        .env("RUST_BACKTRACE", "1")
        .env("RUST_LIB_BACKTRACE", "1")
        .output()
        .expect("limes runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("no-such-file.jsonl"), "{err}");
    assert!(
        !err.to_lowercase().contains("backtrace") && !err.contains("at ./"),
        "{err}"
    );
}

/// Two sensors' logs, each in its own time order, are tracked together when given as two
/// `--detections` files (merged by time); one file holding one log after the other loses the
/// second log as late, and the error says how to give them instead.
#[test]
fn several_detection_files_are_merged_by_time() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    let log = |sensor: &str, y: f64| {
        (0..40)
            .map(|k| {
                let t = 1_000_000.0 + f64::from(k);
                format!("{{\"type\":\"detection\",\"sensor\":\"{sensor}\",\"time\":{t},\"x\":{},\"y\":{y},\"ce\":5.0}}\n", 1.3 * f64::from(k))
            })
            .collect::<String>()
    };
    let (a, b) = (log("s1", 0.0), log("s2", 500.0));
    std::fs::write(d.join("a.jsonl"), &a).expect("write");
    std::fs::write(d.join("b.jsonl"), &b).expect("write");
    std::fs::write(d.join("ab.jsonl"), format!("{a}{b}")).expect("write");
    let s = |n: &str| d.join(n).to_str().expect("utf-8").to_string();
    let out = limes(&[
        "track",
        "--detections",
        &s("a.jsonl"),
        &s("b.jsonl"),
        "--out",
        &s("tracks.jsonl"),
    ]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}");
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(
        summary.starts_with("80 detections tracked (0 refused"),
        "{summary}"
    );
    let tracks = std::fs::read_to_string(d.join("tracks.jsonl")).expect("tracks");
    let confirmed_ys: std::collections::BTreeSet<i64> = tracks
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("json"))
        .filter(|v| v["status"] == "confirmed")
        .filter_map(|v| v["y"].as_f64().map(|y| (y / 100.0).round() as i64))
        .collect();
    assert_eq!(
        confirmed_ys.into_iter().collect::<Vec<_>>(),
        [0, 5],
        "both walkers tracked"
    );
    // `-` is standard input, merged like a file.
    let mut child = Command::new(env!("CARGO_BIN_EXE_limes"))
        .args([
            "track",
            "--out",
            &s("tracks4.jsonl"),
            "--detections",
            &s("a.jsonl"),
            "-",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("limes runs");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(b.as_bytes()).expect("write stdin");
    }
    let out = child.wait_with_output().expect("limes ends");
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && summary.starts_with("80 detections tracked (0 refused"),
        "{summary}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // One record with a wrong clock in one file is refused where it stands; it does not hold
    // its file back behind the other and make the rest of it late.
    let mut c: Vec<&str> = a.lines().collect();
    let wrong = c[10].replace("\"time\":1000010", "\"time\":1007210");
    c.insert(11, &wrong);
    std::fs::write(d.join("c.jsonl"), c.join("\n") + "\n").expect("write");
    let out = limes(&[
        "track",
        "--detections",
        &s("c.jsonl"),
        &s("b.jsonl"),
        "--out",
        &s("tracks5.jsonl"),
    ]);
    let said = String::from_utf8_lossy(&out.stderr);
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("c.jsonl:12: field `time`") && said.contains("1 record(s) of"),
        "{said}"
    );
    assert!(
        summary.starts_with("80 detections tracked (0 refused"),
        "{summary}"
    );
    // One file given twice is refused, not tracked twice.
    let said = fails(&[
        "track",
        "--detections",
        &s("a.jsonl"),
        &s("a.jsonl"),
        "--out",
        &s("tracks3.jsonl"),
    ]);
    assert!(said.contains("given twice"), "{said}");
    // Files read side by side are bounded (each holds a descriptor and buffers).
    let many: Vec<String> = (0..65)
        .map(|k| {
            let p = s(&format!("m{k}.jsonl"));
            std::fs::write(&p, "").expect("write");
            p
        })
        .collect();
    let unused = s("unused.jsonl");
    let mut args = vec!["track", "--out", &unused, "--detections"];
    args.extend(many.iter().map(String::as_str));
    let said = fails(&args);
    assert!(said.contains("65 detections files: at most 64"), "{said}");
    assert!(
        !d.join("unused.jsonl").exists(),
        "no output for a run refused at its inputs"
    );
    // A hard link is the same file: refused as given twice, and as an output.
    std::fs::hard_link(d.join("a.jsonl"), d.join("a-link.jsonl")).expect("link");
    let said = fails(&[
        "track",
        "--detections",
        &s("a.jsonl"),
        &s("a-link.jsonl"),
        "--out",
        &s("tracks6.jsonl"),
    ]);
    assert!(said.contains("given twice"), "{said}");
    let said = fails(&[
        "track",
        "--detections",
        &s("a.jsonl"),
        "--out",
        &s("a-link.jsonl"),
    ]);
    assert!(said.contains("is the detections file"), "{said}");
    assert_eq!(std::fs::read_to_string(d.join("a.jsonl")).expect("a"), a);
    // One file, one log after the other: the second is late, and the error says what to do.
    let out = limes(&[
        "track",
        "--detections",
        &s("ab.jsonl"),
        "--out",
        &s("tracks2.jsonl"),
    ]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{said}");
    assert!(
        said.contains("ab.jsonl:4") && said.contains("one --detections file per log"),
        "{said}"
    );
}

/// An output that cannot be created, or written (a full disk: `/dev/full`), fails the run with
/// an error that names the file.
#[test]
fn an_output_that_cannot_be_written_is_named() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    let detections = (0..5)
        .map(|k| {
            format!(
                "{{\"type\":\"detection\",\"sensor\":\"s1\",\"time\":{},\"x\":{},\"y\":0.0,\"ce\":5.0}}\n",
                1_000_000 + k,
                1.3 * f64::from(k)
            )
        })
        .collect::<String>();
    std::fs::write(d.join("det.jsonl"), detections).expect("write");
    let s = |n: &str| d.join(n).to_str().expect("utf-8").to_string();
    let missing = s("no-such-dir/tracks.jsonl");
    let said = fails(&["track", "--detections", &s("det.jsonl"), "--out", &missing]);
    assert!(said.contains(&missing), "{said}");
    if Path::new("/dev/full").exists() {
        let said = fails(&[
            "track",
            "--detections",
            &s("det.jsonl"),
            "--out",
            "/dev/full",
            "--all",
        ]);
        assert!(said.contains("/dev/full"), "{said}");
    }
}

/// `limes bench-serve` drives separate servers, HTTP, CoT and a paced latency run, from any
/// folder; a short night must end with every record stored and none refused, and the latency
/// run must read its event stream. (It once waited for ever: the statistics it polled had
/// become the deployment owner's and the refusal read as "not there yet"; then CoT
/// connections, read at their own pace, fell behind each other by more than the reorder window
/// and their records were refused as late.)
#[test]
fn bench_serve_runs_anywhere_and_stores_every_record() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = Command::new(env!("CARGO_BIN_EXE_limes"))
        .current_dir(dir.path())
        .args([
            "bench-serve",
            "--minutes",
            "1",
            "--latency-s",
            "15",
            "--windows",
            "2",
        ])
        .output()
        .expect("limes runs");
    let (text, err) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "bench-serve failed:\n{err}");
    // "frontier night: 1 minutes, N records (…)"
    let night: u64 = err
        .lines()
        .find_map(|l| l.strip_prefix("frontier night: 1 minutes, "))
        .and_then(|l| l.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no night size in:\n{err}"));
    let rows = |first: &str| -> Vec<Vec<String>> {
        text.lines()
            .filter(|l| l.starts_with(first))
            .map(|l| l.split('|').map(|c| c.trim().to_string()).collect())
            .collect()
    };
    let (http, cot) = (rows("| HTTP"), rows("| CoT"));
    // HTTP, then CoT stepped by a second and by 300 s (its capacity).
    assert_eq!((http.len(), cot.len()), (1, 2), "{text}");
    assert_eq!(http[0][2], night.to_string(), "HTTP stores the whole night");
    assert_eq!(http[0][6], "0", "records refused over HTTP: {:?}", http[0]);
    // CoT sends detections and heartbeats (fence alarms are HTTP only), and stores them all,
    // however it is stepped.
    let sent: u64 = cot[0][2].parse().expect("records");
    assert!(sent > 0 && sent <= night, "{:?} of {night}", cot[0]);
    for row in &cot {
        assert_eq!(
            row[2],
            sent.to_string(),
            "CoT stores the same night: {row:?}"
        );
        assert_eq!(row[6], "0", "records refused over CoT: {row:?}");
    }
    // Every row's night went through the tracker to its end, not only into the store (with the
    // server's clock held still, the last reorder window of records waits for a later one).
    for row in http.iter().chain(&cot) {
        let live: u64 = row[5].parse().expect("live tracks");
        assert!(live > 0, "no live tracks at the end: {row:?}");
    }
    // The latency run read track updates from its stream (a debug build is too slow for its
    // figures to mean anything).
    let latency = rows("| 2.00 s");
    assert_eq!(latency.len(), 1, "{text}");
    let updates: u64 = latency[0][6].parse().expect("track updates");
    assert!(
        updates > 0,
        "no track updates on the stream: {:?}",
        latency[0]
    );
}
