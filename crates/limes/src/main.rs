//! `limes`: simulate, track, apply the rules to and score a frontier and its guarded facilities.

mod bench;
mod bench_accuracy;
mod bench_alarms;
mod bench_serve;
mod cert;
mod demo;
mod live_demo;
mod merged;
mod offline;
mod progress;
mod replay;
mod serve;
mod user;
mod witness;

use anyhow::Result;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

use limes_core::eval::EvalConfig;

#[derive(Parser)]
#[command(
    name = "limes",
    version,
    about = "Watch a frontier and the perimeters of guarded camps and prisons."
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Replay the seed's night (frontier + Ain Issa breakout): sim → track → rules → eval.
    Demo {
        /// Output folder.
        #[arg(long, default_value = "limes-out/demo")]
        out: PathBuf,
        /// Random seed.
        #[arg(long, default_value_t = 2019)]
        seed: u64,
        /// Folder with frontier.toml and ain-issa.toml (the shipped sites by default).
        #[arg(long)]
        sites: Option<PathBuf>,
        /// Also write every sensor record to detections.jsonl (about 600 MB for the frontier).
        #[arg(long)]
        detections: bool,
        /// Exit when done instead of keeping the live server up for the console (until Ctrl-C).
        #[arg(long)]
        no_wait: bool,
        /// Address of the live server and its console (127.0.0.1:8080 when free, else any port).
        #[arg(long)]
        console: Option<std::net::SocketAddr>,
    },
    /// Simulate a site's scenario: writes detections.jsonl and truth.jsonl.
    Sim {
        /// Site file, or the name of a shipped site (frontier, ain-issa).
        #[arg(long)]
        site: String,
        /// Random seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Output folder.
        #[arg(long)]
        out: PathBuf,
    },
    /// Track detections (JSON Lines) into tracks; with --site also raise alerts.
    Track {
        /// Detections files (sensor records, JSON Lines), each in its own time order (one
        /// sensor's log per file, say): several are merged by time; `-` is standard input.
        #[arg(long, num_args = 1.., required = true)]
        detections: Vec<PathBuf>,
        /// Tracks file to write.
        #[arg(long)]
        out: PathBuf,
        /// Site file or shipped site name: enables the alert rules and its `[tracker]` settings.
        #[arg(long)]
        site: Option<String>,
        /// Alerts file to write (needs --site).
        #[arg(long)]
        alerts: Option<PathBuf>,
        /// Events file to write: alarms assessed and kept from the operators (needs --site;
        /// default `events.jsonl` beside the alerts file).
        #[arg(long)]
        events: Option<PathBuf>,
        /// Also write tentative track states.
        #[arg(long)]
        all: bool,
    },
    /// Score tracks (and alerts) against ground truth: writes report.md, report.json, SVGs.
    Eval {
        /// Truth file.
        #[arg(long, required_unless_present = "runs")]
        truth: Option<PathBuf>,
        /// Tracks file.
        #[arg(long, required_unless_present = "runs")]
        tracks: Option<PathBuf>,
        /// Alarm quality over many runs instead: folders each holding `truth.jsonl` and
        /// `alerts.jsonl` (and optionally `events.jsonl`, and `detections.jsonl` for the
        /// single-sensor baselines, which need --site); writes alarms.md, alarms.json, roc.svg.
        #[arg(long, num_args = 1.., conflicts_with_all = ["truth", "tracks", "alerts"])]
        runs: Vec<PathBuf>,
        /// Alerts file.
        #[arg(long)]
        alerts: Option<PathBuf>,
        /// Name for the report section.
        #[arg(long, default_value = "run")]
        name: String,
        /// Frontier length for nuisance rates, km (omit for a facility; taken from --site).
        #[arg(long, value_parser = positive)]
        frontier_km: Option<f64>,
        /// Site file or shipped site name: frontier length and the lines drawn on the map.
        #[arg(long)]
        site: Option<String>,
        /// GOSPA cut-off c, metres.
        #[arg(long, default_value_t = 100.0, value_parser = positive)]
        gospa_c: f64,
        /// GOSPA order p (1 to 10).
        #[arg(long, default_value_t = 1.0, value_parser = gospa_order)]
        gospa_p: f64,
        /// Stone Soup's GOSPA switching penalty, metres per identity switch (0 leaves it out).
        #[arg(long, default_value_t = 100.0, value_parser = not_negative)]
        switching_penalty: f64,
        /// Output folder.
        #[arg(long)]
        out: PathBuf,
    },
    /// Check a site file and print what it expands to.
    Site {
        /// Site file, or the name of a shipped site.
        file: String,
    },
    /// Run the live system: HTTP and CoT ingest, live tracking and alerts, release to partners.
    Serve(Box<limes_server::ServeConfig>),
    /// Administer people's accounts for the console.
    User {
        #[command(subcommand)]
        cmd: UserCmd,
    },
    /// Administer API tokens.
    Token {
        #[command(subcommand)]
        cmd: TokenCmd,
    },
    /// Device certificates for TAK clients and sensors, the server's certificate, TAK enrolment codes.
    Cert {
        #[command(subcommand)]
        cmd: cert::CertCmd,
    },
    /// Check the audit log (chain, Merkle tree, partners' checkpoints) or witness a server's.
    Audit {
        #[command(subcommand)]
        cmd: AuditCmd,
    },
    /// Feed a running server from a detections file, in real or accelerated time.
    Replay {
        /// Detections file (JSON Lines, e.g. from `limes sim`).
        file: PathBuf,
        /// Server address.
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        to: String,
        /// Token with the sensor role (or the LIMES_TOKEN environment variable).
        #[arg(long, env = "LIMES_TOKEN")]
        token: String,
        /// Speed: 1x (real time), 10x, … or max.
        #[arg(long, default_value = "1x")]
        speed: replay::Speed,
        /// Start this many minutes into the file.
        #[arg(long, default_value_t = 0.0)]
        from_min: f64,
        /// Replay this many minutes of records.
        #[arg(long)]
        for_min: Option<f64>,
        /// Records per request at most.
        #[arg(long, default_value_t = 5000)]
        batch: usize,
    },
    /// Measure the live system: durable ingest over HTTP and CoT, latency, server memory.
    BenchServe {
        /// Simulated minutes of the frontier night for the throughput runs.
        #[arg(long, default_value_t = 360.0)]
        minutes: f64,
        /// Seconds of each latency run.
        #[arg(long, default_value_t = 180.0)]
        latency_s: f64,
        /// Append the tables to this file.
        #[arg(long)]
        append: Option<PathBuf>,
        /// Reorder windows to measure latency with, seconds.
        #[arg(long, value_delimiter = ',', default_value = "2,0.25,0.02")]
        windows: Vec<f64>,
        /// Skip the throughput runs.
        #[arg(long)]
        no_throughput: bool,
        /// Skip the latency runs.
        #[arg(long)]
        no_latency: bool,
    },
    /// Measure tracker throughput and memory; writes a Markdown table. `bench accuracy`
    /// compares tracking accuracy with Stone Soup; `bench alarms` measures alarm quality.
    Bench {
        /// Simulated minutes of the frontier workload.
        #[arg(long, default_value_t = 60.0)]
        minutes: f64,
        /// Append the table to this file.
        #[arg(long)]
        append: Option<PathBuf>,
        /// What else to measure.
        #[command(subcommand)]
        what: Option<BenchCmd>,
    },
}

#[derive(Subcommand)]
enum BenchCmd {
    /// Limes beside Stone Soup's GNN and JPDA (EHM2) on one family of scenarios, scored with
    /// the same GOSPA (c = 50 m, p = 1) and switching term; see BENCHMARKS.md.
    Accuracy {
        /// Folder for the scenarios, the tracks and the table.
        #[arg(long, default_value = "limes-out/bench-accuracy")]
        out: PathBuf,
        /// Multiplies every scenario's number of scans.
        #[arg(long, default_value_t = 1.0)]
        scale: f64,
        /// Another draw of the same family (every scenario's seed raised by 100 × this; 0: the
        /// draw in BENCHMARKS.md), to see how much a result owes to one draw.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Skip Stone Soup (no Python needed).
        #[arg(long)]
        no_stonesoup: bool,
        /// Only these scenarios (t50, t200, t1000, breakout, hard).
        #[arg(long, value_delimiter = ',')]
        only: Vec<String>,
        /// Score Stone Soup's tracks of an earlier run in `out` instead of running it again.
        #[arg(long)]
        reuse_stonesoup: bool,
        /// A TOML file whose `[tracker]` table changes Limes' parameters (those of an unknown
        /// 1 Hz point sensor, which `limes track` prints) for this run.
        #[arg(long)]
        tracker: Option<PathBuf>,
        /// Stop each Stone Soup tracker after this long on one scenario, seconds.
        #[arg(long, default_value_t = 3600.0)]
        stonesoup_limit_s: f64,
        /// How the sensor stamps its detections: `scan` (each scan at one time) or `beam`
        /// (each detection as a turning sensor's beam passes it; folders `NAME-beam`).
        #[arg(long, value_enum, default_value = "scan")]
        stamp: bench_accuracy::Stamp,
    },
    /// Internal: run Limes on one scenario folder of `bench accuracy`.
    #[command(hide = true)]
    AccuracyRun {
        /// The scenario folder.
        #[arg(long)]
        dir: PathBuf,
        /// The sensor's detection probability.
        #[arg(long, default_value_t = 0.9)]
        pd: f64,
        /// Association of established tracks: gnn, jpda or mht.
        #[arg(long, default_value = "gnn")]
        association: limes_core::track::Association,
        /// A TOML file whose `[tracker]` table changes the parameters.
        #[arg(long)]
        tracker: Option<PathBuf>,
    },
    /// Alarm quality over many seeds of a frontier night built to fool the system: Pd per
    /// scenario kind, time to alert, nuisance and false alert rates, operating points, and the
    /// single-sensor baseline on the same nights.
    Alarms {
        /// Number of seeds.
        #[arg(long, default_value_t = 20)]
        seeds: u64,
        /// First seed.
        #[arg(long, default_value_t = 1)]
        first_seed: u64,
        /// Hours of frontier night per seed.
        #[arg(long, default_value_t = 12.0)]
        hours: f64,
        /// Times each adversarial scenario is staged per night.
        #[arg(long, default_value_t = 3)]
        each: u32,
        /// Folder with the site files (default: the shipped sites).
        #[arg(long)]
        sites: Option<PathBuf>,
        /// Output folder (alarms.md, alarms.json, roc.svg).
        #[arg(long, default_value = "limes-out/bench-alarms")]
        out: PathBuf,
        /// Only the site's own thresholds (no operating-point sweep).
        #[arg(long)]
        no_variants: bool,
        /// Seeds run at once, one thread each.
        #[arg(long, default_value_t = 1)]
        jobs: usize,
        /// Append the report to this file.
        #[arg(long)]
        append: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum TokenCmd {
    /// Create an API token (the server must not be running on the data directory).
    Create {
        /// Site file, or the name of a shipped site (names the organisations).
        #[arg(long, default_value = "frontier")]
        site: String,
        /// Data directory.
        #[arg(long, default_value = "limes-data")]
        data: PathBuf,
        /// Organisation id.
        #[arg(long)]
        org: String,
        /// sensor, viewer, operator, admin (of the organisation) or owner (of the deployment).
        #[arg(long)]
        role: String,
        /// A label for people.
        #[arg(long, default_value = "")]
        label: String,
    },
    /// Revoke an API token by its number (`token:N`; the server must not be running: while it
    /// runs, `DELETE /api/v1/tokens/N` with an admin's or the owner's token).
    Revoke {
        /// Data directory.
        #[arg(long, default_value = "limes-data")]
        data: PathBuf,
        /// The token's number.
        id: i64,
    },
}

#[derive(Subcommand)]
enum UserCmd {
    /// Add a person's account (the server must not be running on the data directory).
    Add {
        /// Site file, or the name of a shipped site (names the organisations).
        #[arg(long, default_value = "frontier")]
        site: String,
        /// Data directory.
        #[arg(long, default_value = "limes-data")]
        data: PathBuf,
        /// Organisation id.
        #[arg(long)]
        org: String,
        /// viewer, operator, admin (of the organisation) or owner (of the deployment).
        #[arg(long)]
        role: String,
        /// Read the password from the first line of standard input instead of asking for it.
        #[arg(long)]
        password_stdin: bool,
        /// Replace an existing account of that name (new password; its sessions end).
        #[arg(long)]
        replace: bool,
        /// Sign-in name (letters, digits, '.', '-', '_').
        name: String,
    },
}

#[derive(Subcommand)]
enum AuditCmd {
    /// Check the audit log of a data directory: the hash chain, the Merkle tree recomputed from
    /// the entries, and that the log extends each checkpoint given (truncation, forged or
    /// rewritten entries fail, naming what is wrong).
    Verify {
        /// Data directory.
        #[arg(long, default_value = "limes-data")]
        data: PathBuf,
        /// A checkpoint a partner holds (a signed note); may be repeated.
        #[arg(long)]
        checkpoint: Vec<PathBuf>,
        /// The verifier key the partner pinned (`<name>+<id>+<key>`, or a file holding it)
        /// [default: derived from the signing key].
        #[arg(long)]
        key: Option<String>,
        /// The signing key file, when --key is not given [default: DATA/audit.key].
        #[arg(long)]
        audit_key: Option<PathBuf>,
    },
    /// Print the verifier key of the audit checkpoints, for partners to pin.
    Key {
        /// Data directory.
        #[arg(long, default_value = "limes-data")]
        data: PathBuf,
        /// The signing key file [default: DATA/audit.key].
        #[arg(long)]
        audit_key: Option<PathBuf>,
    },
    /// As a partner: check that a server's latest checkpoint extends the one kept in --held
    /// (consistency proof and signature), then keep the newer one there.
    Witness {
        /// Server address.
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        server: String,
        /// Any token of the partner (or the LIMES_TOKEN environment variable).
        #[arg(long, env = "LIMES_TOKEN")]
        token: String,
        /// The verifier key pinned (`<name>+<id>+<key>`, or a file holding it).
        #[arg(long)]
        key: String,
        /// The checkpoint kept (made on the first run).
        #[arg(long)]
        held: PathBuf,
    },
}

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{}", error_text(&e));
            std::process::ExitCode::FAILURE
        }
    }
}

/// An error as the command line shows it: its message and each cause not already part of the
/// message before it — never a stack trace, whatever `RUST_BACKTRACE` says (anyhow's own
/// report adds one then).
fn error_text(e: &anyhow::Error) -> String {
    let mut text = format!("Error: {e}");
    let mut shown = e.to_string();
    let causes: Vec<String> = e
        .chain()
        .skip(1)
        .map(|c| c.to_string())
        .filter(|c| {
            let new = !shown.contains(c.as_str());
            shown = c.clone();
            new
        })
        .collect();
    if !causes.is_empty() {
        text.push_str("\n\nCaused by:");
        for c in causes {
            text.push_str("\n    ");
            text.push_str(&c);
        }
    }
    text
}

fn run() -> Result<()> {
    match Cli::parse().cmd {
        Cmd::Demo {
            out,
            seed,
            sites,
            detections,
            no_wait,
            console,
        } => demo::run(
            sites.as_deref(),
            &out,
            seed,
            detections,
            live_demo::Console {
                wait: !no_wait,
                addr: console,
            },
        ),
        Cmd::Sim { site, seed, out } => offline::sim(&site, seed, &out),
        Cmd::Track {
            detections,
            out,
            site,
            alerts,
            events,
            all,
        } => {
            let events =
                events.or_else(|| alerts.as_ref().map(|a| a.with_file_name("events.jsonl")));
            offline::track(
                &detections,
                &out,
                site.as_deref(),
                (alerts.as_deref(), events.as_deref()),
                all,
            )
        }
        Cmd::Eval {
            truth,
            tracks,
            runs,
            alerts,
            name,
            frontier_km,
            site,
            gospa_c,
            gospa_p,
            switching_penalty,
            out,
        } => match (truth, tracks) {
            (Some(truth), Some(tracks)) if runs.is_empty() => {
                if !gospa_c.powf(gospa_p).is_finite() {
                    anyhow::bail!(
                        "--gospa-c {gospa_c} to the power --gospa-p {gospa_p} is no number"
                    );
                }
                let cfg = EvalConfig {
                    gospa_c,
                    gospa_p,
                    switching_penalty,
                    ..EvalConfig::default()
                };
                offline::eval(
                    &truth,
                    &tracks,
                    alerts.as_deref(),
                    &name,
                    (frontier_km, site.as_deref()),
                    cfg,
                    &out,
                )
            }
            _ => bench_alarms::eval_runs(&runs, &name, (frontier_km, site.as_deref()), &out),
        },
        Cmd::Site { file } => offline::show_site(&file),
        Cmd::Bench {
            what:
                Some(BenchCmd::Accuracy {
                    out,
                    scale,
                    seed,
                    no_stonesoup,
                    only,
                    reuse_stonesoup,
                    tracker,
                    stonesoup_limit_s,
                    stamp,
                }),
            ..
        } => bench_accuracy::run(&bench_accuracy::Args {
            out,
            scale,
            seed,
            no_stonesoup,
            only,
            reuse_stonesoup,
            tracker,
            stonesoup_limit_s,
            stamp,
        }),
        Cmd::Bench {
            what:
                Some(BenchCmd::AccuracyRun {
                    dir,
                    pd,
                    association,
                    tracker,
                }),
            ..
        } => bench_accuracy::run_limes(&dir, pd, association, tracker.as_deref()),
        Cmd::Bench {
            what: None,
            minutes,
            append,
        } => bench::run(minutes, append.as_deref()),
        Cmd::Bench {
            what:
                Some(BenchCmd::Alarms {
                    seeds,
                    first_seed,
                    hours,
                    each,
                    sites,
                    out,
                    no_variants,
                    append,
                    jobs,
                }),
            ..
        } => bench_alarms::run(&bench_alarms::Args {
            jobs,
            seeds,
            first_seed,
            hours,
            each,
            sites,
            out,
            variants: !no_variants,
            append,
        }),
        Cmd::BenchServe {
            minutes,
            latency_s,
            append,
            windows,
            no_throughput,
            no_latency,
        } => bench_serve::run(bench_serve::Args {
            minutes,
            latency_s,
            append,
            windows: if no_latency { Vec::new() } else { windows },
            throughput: !no_throughput,
        }),
        Cmd::Serve(cfg) => serve::serve(*cfg),
        Cmd::Token {
            cmd:
                TokenCmd::Create {
                    site,
                    data,
                    org,
                    role,
                    label,
                },
        } => serve::token_create(&site, &data, &org, &role, &label),
        Cmd::Token {
            cmd: TokenCmd::Revoke { data, id },
        } => serve::token_revoke(&data, id),
        Cmd::Cert { cmd } => cert::run(cmd),
        Cmd::Audit { cmd } => match cmd {
            AuditCmd::Verify {
                data,
                checkpoint,
                key,
                audit_key,
            } => witness::verify(&data, &checkpoint, key.as_deref(), audit_key.as_deref()),
            AuditCmd::Key { data, audit_key } => witness::key(&data, audit_key.as_deref()),
            AuditCmd::Witness {
                server,
                token,
                key,
                held,
            } => tokio::runtime::Runtime::new()?
                .block_on(witness::witness(&server, &token, &key, &held)),
        },
        Cmd::User {
            cmd:
                UserCmd::Add {
                    site,
                    data,
                    org,
                    role,
                    password_stdin,
                    replace,
                    name,
                },
        } => user::add(&site, &data, &org, &role, &name, password_stdin, replace),
        Cmd::Replay {
            file,
            to,
            token,
            speed,
            from_min,
            for_min,
            batch,
        } => {
            let rt = tokio::runtime::Runtime::new()?;
            let s = rt.block_on(replay::replay(replay::ReplayArgs {
                file: &file,
                to: &to,
                token: &token,
                speed,
                from_min,
                for_min,
                batch: batch.max(1),
            }))?;
            println!(
                "replayed {} records in {:.1} s: {} accepted, {} refused, {} requests throttled (429)",
                s.sent, s.wall_s, s.accepted, s.refused, s.throttled
            );
            Ok(())
        }
    }
}

/// A number of the command line that `ok` accepts, or an error saying what was `expected`.
fn number_where(s: &str, ok: impl Fn(f64) -> bool, expected: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if ok(v) => Ok(v),
        _ => Err(format!("{s}: expected {expected}")),
    }
}

/// A finite number above 0 (a length, a distance), for the command line.
fn positive(s: &str) -> Result<f64, String> {
    number_where(s, |v| v.is_finite() && v > 0.0, "a finite number above 0")
}

/// A finite number of 0 or more, for the command line.
fn not_negative(s: &str) -> Result<f64, String> {
    number_where(
        s,
        |v| v.is_finite() && v >= 0.0,
        "a finite number, 0 or more",
    )
}

/// GOSPA's order p: 1 (Stone Soup's usual) to 10 (c^p must stay a number).
fn gospa_order(s: &str) -> Result<f64, String> {
    number_where(s, |p| (1.0..=10.0).contains(&p), "an order p from 1 to 10")
}
