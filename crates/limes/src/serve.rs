//! `limes serve`, `limes token` and `limes audit`: running the live system and administering
//! its store.

use anyhow::{bail, Context, Result};
use std::path::Path;

use limes_server::auth::{self, Role};
use limes_server::store::Store;
use limes_server::{ServeConfig, Server};

/// How the start-up line giving the API's address begins (followed by `host:port/`).
pub const HTTP_LINE: &str = "  HTTP  http://";
/// How the start-up line giving the operations listener's address begins.
pub const OPS_LINE: &str = "  ops   http://";
/// How the start-up line giving the plain-TCP CoT listener's address begins.
pub const COT_LINE: &str = "  CoT   tcp://";

/// Runs the server until interrupted (exit 0) or until a thread it cannot run without fails
/// (an error, so the process exits non-zero and a supervisor restarts it).
pub fn serve(cfg: ServeConfig) -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async move {
        let server = Server::start_with(cfg.clone(), limes_web::router())
            .await
            .with_context(|| format!("starting on {}", cfg.data.display()))?;
        println!(
            "limes serve: site {}, data {}",
            server.state.site.name,
            cfg.data.display()
        );
        println!(
            "{HTTP_LINE}{}/  (the console; OpenAPI at /api/v1/openapi.json)",
            server.http
        );
        println!("{OPS_LINE}{}/metrics, /readyz", server.ops);
        if let Some(c) = server.cot {
            println!("{COT_LINE}{c}");
        }
        if let Some(c) = server.cot_tls {
            println!("  CoT   tls://{c}  (device certificates: limes cert)");
        }
        if let Some(e) = server.enroll {
            println!("  enrol https://{e}/Marti/api/tls/  (TAK certificate enrolment)");
        }
        println!(
            "  audit checkpoints signed by {}  (partners pin this key)",
            server.state.checkpoints.key().verifier_key()
        );
        println!("ready");
        let failed = tokio::select! {
            r = server.wait() => r.err(),
            _ = shutdown_signal() => None,
        };
        server.stop().await;
        match failed {
            Some(reason) => bail!("stopped: {reason}"),
            None => {
                println!("stopped; every acknowledged record is on disk");
                Ok(())
            }
        }
    })
}

/// SIGINT or SIGTERM.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// Creates a token in a data directory the server is not running on, and prints it.
pub fn token_create(site: &str, data: &Path, org: &str, role: &str, label: &str) -> Result<()> {
    let site = limes_core::site::open(site)?;
    if !site.orgs.iter().any(|o| o.id == org) {
        let known: Vec<&str> = site.orgs.iter().map(|o| o.id.as_str()).collect();
        bail!("no organisation {org:?} in {}; known: {known:?}", site.name);
    }
    let Some(role) = Role::parse(role) else {
        bail!("role {role:?} is not one of sensor, viewer, operator, admin, owner");
    };
    let (feed, _rx) = crossbeam_feed();
    let (store, _writer) = Store::open(data, 1, feed)?;
    let rt = tokio::runtime::Runtime::new()?;
    let t = rt.block_on(auth::create(
        &store,
        None,
        org,
        role,
        label,
        "local/limes-token",
    ))?;
    eprintln!(
        "token {} for {org} ({}) stored hashed in {}; it is shown only now:",
        t.id,
        role.name(),
        data.display()
    );
    println!("{}", t.token);
    Ok(())
}

/// `limes token revoke`: marks a token revoked (the server is not running).
pub fn token_revoke(data: &Path, id: i64) -> Result<()> {
    let (feed, _rx) = crossbeam_feed();
    let (store, _writer) = Store::open(data, 1, feed)?;
    let rt = tokio::runtime::Runtime::new()?;
    match rt.block_on(auth::revoke(&store, id, None, "local/limes-token"))? {
        Some(org) => eprintln!("token {id} of {org} revoked"),
        None => bail!("no token {id} in {}", data.display()),
    }
    Ok(())
}

fn crossbeam_feed() -> (
    crossbeam_channel::Sender<limes_server::store::Fed>,
    crossbeam_channel::Receiver<limes_server::store::Fed>,
) {
    crossbeam_channel::unbounded()
}
