//! The live half of `limes demo`: `limes serve` on the embedded store, fed by `limes replay`
//! with twenty minutes of the Ain Issa night at 60× (the gates are forced at minute 55), then
//! what each partner organisation receives and whether the audit chain holds.

use anyhow::{Context, Result};
use limes_core::record::{JsonlWriter, SensorRecord};
use limes_core::sim::{self, VecSink};
use limes_server::auth::{self, Role};
use limes_server::{ServeConfig, Server};
use std::path::Path;

use crate::replay::{self, ReplayArgs, Speed};

/// Minutes of the night replayed, and how fast.
const FROM_MIN: f64 = 50.0;
const FOR_MIN: f64 = 20.0;
const SPEED: f64 = 60.0;

async fn token(server: &Server, org: &str, role: Role) -> Result<String> {
    let st = &server.state;
    Ok(auth::create(
        &st.store,
        Some(&st.tokens),
        org,
        role,
        "demo",
        "local/limes-demo",
    )
    .await?
    .token)
}

/// People who sign in to the demo's console: (name, organisation, role).
const DEMO_USERS: [(&str, &str, Role); 3] = [
    ("ibf-operator", "ibf", Role::Operator),
    ("sdf-operator", "sdf", Role::Operator),
    ("humanitarian", "humanitarian", Role::Viewer),
];

/// A password for a demo account, random each run.
fn demo_password() -> String {
    use rand::Rng;
    let b: [u8; 8] = rand::rng().random();
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// What the demo does with its live server once the replay is done.
#[derive(Debug, Clone, Copy)]
pub struct Console {
    /// Keep the server up for the console until Ctrl-C (else stop and exit).
    pub wait: bool,
    /// Where the server listens (default: 127.0.0.1:8080 when free and waiting, else any port).
    pub addr: Option<std::net::SocketAddr>,
}

/// Runs the live part and prints what happened; with `console.wait`, keeps the server up for
/// the console until Ctrl-C.
pub fn run(sites: Option<&Path>, out: &Path, seed: u64, console: Console) -> Result<()> {
    let wait = console.wait;
    let site = crate::demo::open(sites, "ain-issa")?;
    let site_arg = match sites {
        Some(d) => d.join("ain-issa.toml").display().to_string(),
        None => "ain-issa".to_string(),
    };
    let dir = out.join("live");
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("clearing {}", dir.display()))?;
    }
    std::fs::create_dir_all(&dir)?;
    let mut sink = VecSink::default();
    sim::simulate(&site, None, seed, &mut sink)?;
    let mut recs: Vec<SensorRecord> = sink.sensor;
    recs.sort_by(|a, b| a.time().0.total_cmp(&b.time().0));
    let t0 = recs.first().map(|r| r.time().0).unwrap_or(0.0);
    let det = dir.join("detections.jsonl");
    let mut w = JsonlWriter::create(&det)?;
    for r in recs.iter().filter(|r| {
        let m = (r.time().0 - t0) / 60.0;
        (FROM_MIN..FROM_MIN + FOR_MIN).contains(&m)
    }) {
        w.write(r)?;
    }
    w.finish()?;

    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async move {
        let mut cfg = ServeConfig::new(site_arg, dir.join("data")).on_free_ports();
        // The console on the usual port when it is free (a person opens it), else any port.
        if let Some(addr) = console.addr {
            cfg.http = addr;
        } else if wait && std::net::TcpListener::bind("127.0.0.1:8080").is_ok() {
            cfg.http = "127.0.0.1:8080".parse()?;
        }
        cfg.clock_speed = SPEED;
        let server = Server::start_with(cfg, limes_web::router()).await?;
        let base = format!("http://{}", server.http);
        let sensor = token(&server, "sdf", Role::Sensor).await?;
        let s = replay::replay(ReplayArgs {
            file: &det,
            to: &base,
            token: &sensor,
            speed: Speed::Times(SPEED),
            from_min: 0.0,
            for_min: None,
            batch: 5000,
        })
        .await?;
        println!(
            "\nlive: limes serve (SQLite store in {}) fed by limes replay, Ain Issa minutes {FROM_MIN:.0}–{:.0} at {SPEED:.0}×",
            dir.join("data").display(),
            FROM_MIN + FOR_MIN
        );
        println!(
            "  {} records in {:.1} s: {} acknowledged durable, {} refused, {} throttled",
            s.sent, s.wall_s, s.accepted, s.refused, s.throttled
        );
        let http = reqwest::Client::new();
        let admin = token(&server, "ibf", Role::Admin).await?;
        let alerts: serde_json::Value = http.get(format!("{base}/api/v1/alerts")).bearer_auth(&admin).send().await?.json().await?;
        for a in alerts["alerts"].as_array().into_iter().flatten() {
            println!("  alert {} rev {}: {} ({}), {}", a["id"], a["rev"], a["kind"].as_str().unwrap_or(""), a["severity"].as_str().unwrap_or(""), a["summary"].as_str().unwrap_or(""));
        }
        println!("  what each partner receives now (alerts / live tracks / facilities, by REST):");
        for org in &server.state.site.orgs {
            let t = token(&server, &org.id, Role::Viewer).await?;
            let mut n = Vec::new();
            for (path, key) in [("alerts", "alerts"), ("tracks", "tracks"), ("facilities", "facilities")] {
                let v: serde_json::Value = http.get(format!("{base}/api/v1/{path}")).bearer_auth(&t).send().await?.json().await?;
                n.push(v[key].as_array().map_or(0, Vec::len));
            }
            println!("    {:<13} {:>3} / {:>4} / {}   ({})", org.id, n[0], n[1], n[2], org.name);
        }
        let db = server.state.store.path().to_path_buf();
        let conn = rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
        let n = limes_server::audit::verify(&conn)?;
        println!("  audit chain intact: {n} entries (`limes audit verify --data {}`)", dir.join("data").display());
        if !wait {
            server.stop().await;
            return anyhow::Ok(());
        }
        println!("\nthe operator's console: {base}/  (open it in a browser; sign in as)");
        for (name, org, role) in DEMO_USERS {
            let pw = demo_password();
            limes_server::console::users::add(&server.state.store, name, org, role, &pw, "local/limes-demo").await?;
            println!("  {name:<13} password {pw}   ({org}, {})", role.name());
        }
        println!("the live server keeps running (drill clock at {SPEED:.0}×; scrub back with the time slider); Ctrl-C stops it (`limes demo --no-wait` exits instead)");
        let failed = tokio::select! {
            r = tokio::signal::ctrl_c() => { r?; None }
            r = server.wait() => r.err(),
        };
        server.stop().await;
        if let Some(why) = failed {
            anyhow::bail!("the live server failed: {why}");
        }
        println!("stopped");
        anyhow::Ok(())
    })
}
