//! Starting and stopping the server: open the store, replay the log into the live engine
//! (supervised), then listen for HTTP, operations and CoT within their connection caps, tick
//! the clock and deliver webhooks. One [`CancellationToken`] is the shutdown broadcast every
//! task listens to; [`Server::stop`] cancels it and waits for them.

use clap::Args;
use crossbeam_channel::bounded;
use limes_core::site::{self, Site};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::api::{self, AppState, Limits};
use crate::audit::checkpoint::{origin_name, LogKey};
use crate::audit::publish::Checkpoints;
use crate::audit::AuditSink;
use crate::auth::Tokens;
use crate::clock::{wall_now, Clock};
use crate::cot::CotServer;
use crate::health::Health;
use crate::http::{self, HttpLimits};
use crate::hub::Hub;
use crate::ingest::Checker;
use crate::live::{supervise, Live};
use crate::metrics::Metrics;
use crate::release::{Ids, Policy};
use crate::store::{Store, StoreError};

/// How `limes serve` runs: its command-line flags.
#[derive(Clone, Debug, Args)]
pub struct ServeConfig {
    /// Site file, or the name of a shipped site (frontier, ain-issa).
    #[arg(long, default_value = "frontier")]
    pub site: String,
    /// Data directory (created if missing).
    #[arg(long, default_value = "limes-data")]
    pub data: PathBuf,
    /// HTTP address of the API (partners, sensors, operators).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub http: SocketAddr,
    /// Operations address: /metrics, and /readyz with its reasons (keep it on loopback).
    #[arg(long, default_value = "127.0.0.1:9464")]
    pub ops: SocketAddr,
    /// CoT over plain TCP, for sensors on a trusted network segment (a token in their first
    /// event); TAK clients are refused there unless --cot-clients.
    #[arg(long, default_value = "127.0.0.1:8087")]
    pub cot: Option<SocketAddr>,
    /// Also take TAK clients (with a token in their first event) on plain-TCP CoT; by default
    /// plain TCP is for sensors on a trusted segment and clients must use TLS.
    #[arg(long)]
    pub cot_clients: bool,
    /// Serve no plain-TCP CoT.
    #[arg(long, conflicts_with = "cot")]
    pub no_cot: bool,
    /// CoT over TLS with per-device client certificates (`limes cert`; the server's
    /// certificate from `limes cert server`).
    #[arg(long)]
    pub cot_tls: Option<SocketAddr>,
    /// TAK certificate enrolment over HTTPS (ATAK/WinTAK/iTAK enrol here with a one-time code
    /// from `limes cert enroll-code`; TAK clients expect port 8446).
    #[arg(long)]
    pub enroll: Option<SocketAddr>,
    /// Server certificate chain, PEM [default: DATA/pki/server.pem].
    #[arg(long)]
    pub tls_cert: Option<PathBuf>,
    /// Server private key, PEM [default: DATA/pki/server.key].
    #[arg(long)]
    pub tls_key: Option<PathBuf>,
    /// The deployment's CA certificate, PEM [default: DATA/pki/ca.pem].
    #[arg(long)]
    pub ca_cert: Option<PathBuf>,
    /// The deployment's CA key, PEM, for --enroll [default: DATA/pki/ca.key].
    #[arg(long)]
    pub ca_key: Option<PathBuf>,
    /// Drill clock: clock seconds per wall second (1: the wall clock; 0: frozen).
    #[arg(long, default_value_t = 1.0)]
    pub clock_speed: f64,
    /// Drill clock: its time at start, RFC 3339 (resumes from the log when that is newer).
    #[arg(long)]
    pub clock_start: Option<String>,
    /// Records further ahead of the clock than this are refused, seconds.
    #[arg(long, default_value_t = 120.0)]
    pub max_future_s: f64,
    /// Records further behind the clock than this are refused, seconds.
    #[arg(long, default_value_t = 3600.0)]
    pub max_past_s: f64,
    /// Ingest batches that may wait for the writer before callers get 429.
    #[arg(long, default_value_t = 64)]
    pub queue: usize,
    /// Wall-clock seconds between clock ticks.
    #[arg(long, default_value_t = 0.1)]
    pub tick_s: f64,
    /// HTTP connections open at once (lowered to fit the file-descriptor limit).
    #[arg(long, default_value_t = 1024)]
    pub max_http_connections: usize,
    /// HTTP connections open at once from one address.
    #[arg(long, default_value_t = 64)]
    pub max_per_address: usize,
    /// MiB of request bodies each organisation's requests hold at once (one credential half
    /// of it; raised to hold two of the largest), counted as their bytes arrive until their
    /// request is answered. A request that finds no room within a second gets 429.
    #[arg(long, default_value_t = 64)]
    pub max_body_memory_mib: usize,
    /// CoT connections open at once, plain and TLS (lowered to fit the descriptor limit).
    #[arg(long, default_value_t = 1024)]
    pub max_cot_connections: usize,
    /// CoT connections open at once from one address (sensors behind one gateway share it).
    #[arg(long, default_value_t = 256)]
    pub max_cot_per_address: usize,
    /// Seconds a client has to send a whole HTTP request head (and the idle limit).
    #[arg(long, default_value_t = 10)]
    pub header_timeout_s: u64,
    /// The operator's console: sessions, history.
    #[command(flatten)]
    pub console: crate::console::ConsoleConfig,
    /// Seconds a client has to send a whole request body.
    #[arg(long, default_value_t = 30)]
    pub body_timeout_s: u64,
    /// Seconds a CoT connection has to send its first (authenticating) event.
    #[arg(long, default_value_t = 10)]
    pub cot_first_event_s: u64,
    /// Key that signs the audit log's checkpoints (made, mode 0600, when missing). Keep it
    /// apart from the data directory and its backups [default: DATA/audit.key].
    #[arg(long)]
    pub audit_key: Option<PathBuf>,
    /// Name of the audit log in its checkpoints and key [default: limes/SITE].
    #[arg(long)]
    pub audit_origin: Option<String>,
    /// Seconds between audit checkpoints (signed at whole multiples on the wall clock).
    #[arg(long, default_value_t = 60)]
    pub checkpoint_interval_s: u64,
}

impl ServeConfig {
    /// The defaults, for a site and data directory, on the given addresses.
    pub fn new(site: impl Into<String>, data: PathBuf) -> Self {
        use clap::Parser;
        #[derive(clap::Parser)]
        struct P {
            #[command(flatten)]
            c: ServeConfig,
        }
        let mut c = P::parse_from(["limes"]).c;
        c.site = site.into();
        c.data = data;
        c
    }

    /// Loopback port 0 for every listener (tests and benchmarks read the bound addresses).
    pub fn on_free_ports(mut self) -> Self {
        let any = SocketAddr::from(([127, 0, 0, 1], 0));
        self.http = any;
        self.ops = any;
        if self.cot.is_some() {
            self.cot = Some(any);
        }
        if self.cot_tls.is_some() {
            self.cot_tls = Some(any);
        }
        if self.enroll.is_some() {
            self.enroll = Some(any);
        }
        self
    }

    /// Where the CA and the server's certificate are.
    pub fn pki_paths(&self) -> crate::pki::Paths {
        crate::pki::Paths::with(
            &self.data,
            self.ca_cert.as_deref(),
            self.ca_key.as_deref(),
            self.tls_cert.as_deref(),
            self.tls_key.as_deref(),
        )
    }
}

/// The server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The site file is wrong.
    #[error(transparent)]
    Site(#[from] site::SiteError),
    /// The store could not be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A listener could not be bound.
    #[error("{addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Underlying error.
        source: std::io::Error,
    },
    /// TLS could not be set up.
    #[error(transparent)]
    Tls(#[from] crate::cot::tls::TlsError),
    /// The CA or the server's certificate is missing or unreadable.
    #[error("{0} (make them with: limes cert server --data DIR --host NAME)")]
    Pki(#[from] crate::pki::PkiError),
    /// A thread could not be started.
    #[error("starting a thread: {0}")]
    Thread(std::io::Error),
    /// The id key could not be read or made.
    #[error(transparent)]
    Key(#[from] crate::release::ids::KeyError),
    /// The engine failed while replaying the log.
    #[error("the engine failed at start-up: {0}")]
    Engine(String),
    /// The audit signing key could not be read or made.
    #[error(transparent)]
    AuditKey(#[from] crate::audit::checkpoint::KeyError),
    /// The audit log does not extend the last checkpoint signed (or could not be read).
    #[error("audit log: {0}")]
    Checkpoint(crate::audit::publish::PublishError),
    /// A setting is wrong.
    #[error("--{flag}: {message}")]
    Config {
        /// The flag.
        flag: &'static str,
        /// What is wrong.
        message: String,
    },
}

/// A running server.
pub struct Server {
    /// Bound HTTP address.
    pub http: SocketAddr,
    /// Bound operations address.
    pub ops: SocketAddr,
    /// Bound CoT address.
    pub cot: Option<SocketAddr>,
    /// Bound CoT TLS address.
    pub cot_tls: Option<SocketAddr>,
    /// Bound enrolment (HTTPS) address.
    pub enroll: Option<SocketAddr>,
    /// Shared state (for in-process tests and benchmarks).
    pub state: AppState,
    tasks: Vec<JoinHandle<()>>,
    stop_live: crossbeam_channel::Sender<()>,
    ended: Vec<tokio::sync::oneshot::Receiver<()>>,
}

fn last_logged_time(store: &Store) -> Result<Option<f64>, StoreError> {
    store.read_blocking(|c| {
        use rusqlite::OptionalExtension;
        let body: Option<Vec<u8>> = c
            .query_row(
                "SELECT body FROM log WHERE kind = 1 ORDER BY seq DESC LIMIT 1",
                [],
                |r| r.get(0),
            )
            .optional()?;
        Ok(body
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| s.parse().ok()))
    })
}

/// `path` if it exists; otherwise the error naming it.
fn existing(path: &std::path::Path) -> Result<PathBuf, crate::pki::PkiError> {
    if path.exists() {
        Ok(path.to_path_buf())
    } else {
        Err(crate::pki::PkiError::File {
            path: path.to_path_buf(),
            message: "missing".into(),
        })
    }
}

async fn bind(addr: SocketAddr) -> Result<(TcpListener, SocketAddr), ServerError> {
    let l = TcpListener::bind(addr)
        .await
        .map_err(|source| ServerError::Bind { addr, source })?;
    let bound = l
        .local_addr()
        .map_err(|source| ServerError::Bind { addr, source })?;
    Ok((l, bound))
}

/// Raises the file-descriptor limit as far as allowed and fits the connection caps under it,
/// keeping room for the store, the listeners and the operations listener.
fn limits(cfg: &ServeConfig) -> Limits {
    let nofile = rlimit::increase_nofile_limit(u64::MAX).unwrap_or(1024) as usize;
    let room = nofile.saturating_sub(96);
    let limits = Limits {
        http_connections: cfg.max_http_connections.min(room / 2).max(8),
        cot_connections: cfg.max_cot_connections.min(room * 2 / 5).max(8),
        body_timeout: Duration::from_secs(30),
        cot_first_event: Duration::from_secs(10),
        body_shares: api::BodyShares::new(cfg.max_body_memory_mib.min(1 << 20) << 20),
        feed_builds: Default::default(),
    };
    tracing::info!(
        "file-descriptor limit {nofile}: at most {} HTTP and {} CoT connections",
        limits.http_connections,
        limits.cot_connections
    );
    limits
}

impl Server {
    /// Starts everything; returns once the log is replayed and the listeners are bound.
    pub async fn start(cfg: ServeConfig) -> Result<Server, ServerError> {
        Self::start_with(cfg, axum::Router::new()).await
    }

    /// As [`Server::start`], also serving `web` (the console's page and assets) on the HTTP port.
    pub async fn start_with(cfg: ServeConfig, web: axum::Router) -> Result<Server, ServerError> {
        let site: Arc<Site> = Arc::new(site::open(&cfg.site)?);
        let shutdown = CancellationToken::new();
        let health = Health::new();
        let (feed_tx, feed_rx) = bounded(64);
        let (store, writer) = Store::open(&cfg.data, cfg.queue, feed_tx)?;
        health.watch_writer(store.writer_status().clone());
        let writer_ended = supervise("log writer", writer, health.clone(), shutdown.clone())
            .map_err(ServerError::Thread)?;
        let tokens = store.read_blocking(Tokens::load)?;
        let hub = Hub::new(site.clone());
        hub.load_facility_ops(store.read_blocking(api::load_facility_ops)?);
        let alerts = store.read_blocking(|c| {
            let mut stmt = c.prepare(&format!(
                "SELECT {} FROM alerts ORDER BY id",
                crate::lifecycle::ALERT_COLUMNS
            ))?;
            let rows = stmt.query_map([], crate::lifecycle::row_view)?;
            Ok(rows.filter_map(|r| r.ok().flatten()).collect::<Vec<_>>())
        })?;
        for a in alerts {
            hub.load_alert(a);
        }
        let clock = if cfg.clock_speed == 1.0 && cfg.clock_start.is_none() {
            Clock::wall()
        } else {
            let start = match &cfg.clock_start {
                Some(s) => {
                    limes_core::record::Time::parse(s)
                        .ok_or_else(|| ServerError::Config {
                            flag: "clock-start",
                            message: format!("{s:?} is not an RFC 3339 time"),
                        })?
                        .0
                }
                None => wall_now(),
            };
            let resume = last_logged_time(&store)?.unwrap_or(start).max(start);
            Clock::drill(resume, cfg.clock_speed)
        };
        let policy = Arc::new(Policy::new(&site, Ids::load_or_create(&cfg.data)?));
        let metrics = Metrics::with_writer(store.writer_status());
        let checker = Arc::new(Checker::new(
            &site,
            clock.clone(),
            cfg.max_future_s,
            cfg.max_past_s,
        ));
        let mut limits = limits(&cfg);
        limits.body_timeout = Duration::from_secs(cfg.body_timeout_s.max(1));
        limits.cot_first_event = Duration::from_secs(cfg.cot_first_event_s.max(1));
        let key = LogKey::load_or_create(
            &cfg.audit_key
                .clone()
                .unwrap_or_else(|| cfg.data.join("audit.key")),
            cfg.audit_origin.as_deref(),
            &origin_name(&format!("limes/{}", site.name)),
        )?;
        let checkpoints =
            Checkpoints::new(key, &cfg.data, metrics.clone()).map_err(ServerError::Checkpoint)?;
        // Refuses to start on a log that does not extend the last checkpoint signed.
        if let Err(e) = checkpoints.publish(&store).await {
            shutdown.cancel();
            return Err(ServerError::Checkpoint(e));
        }
        let console =
            crate::console::Console::open(&store, &cfg.data, cfg.console.clone(), &metrics)?;
        let state = AppState {
            site: site.clone(),
            store: store.clone(),
            hub: hub.clone(),
            policy: policy.clone(),
            tokens,
            checker,
            metrics: metrics.clone(),
            health: health.clone(),
            clock: clock.clone(),
            // The sink's task ends after every handle on it: the writer, which ends after the
            // sink's handle on the store, is what `stop` waits for.
            audit_sink: AuditSink::spawn(store.clone(), shutdown.clone()).0,
            shutdown: shutdown.clone(),
            tasks: TaskTracker::new(),
            limits: limits.clone(),
            console,
            checkpoints: checkpoints.clone(),
        };
        // The clock's time at start, logged before the engine's replay hands the writer its
        // admission state: records sent the moment the server listens are judged against it,
        // not against the last record before a long stop (refused as too far ahead).
        store.tick(clock.now());
        let (stop_live, stop_rx) = bounded::<()>(0);
        let live = Live {
            site: site.clone(),
            store: store.clone(),
            hub,
            policy,
            health: health.clone(),
            metrics: metrics.clone(),
        }
        .spawn(feed_rx, stop_rx)
        .map_err(ServerError::Thread)?;
        let live_ended = supervise("engine", live, health.clone(), shutdown.clone())
            .map_err(ServerError::Thread)?;
        if let Err(e) = health.wait_started().await {
            // Release the store (and the directory's lock) before reporting the failure.
            shutdown.cancel();
            drop((stop_live, state, store));
            let _ = tokio::time::timeout(Duration::from_secs(10), writer_ended).await;
            return Err(ServerError::Engine(e));
        }
        state.console.start(&state);

        let mut tasks = Vec::new();
        let grace = Duration::from_secs(5);
        let (l, http) = bind(cfg.http).await?;
        let app = api::router(state.clone())
            .merge(crate::console::router(state.clone()))
            .merge(web)
            .layer(axum::middleware::from_fn_with_state(
                state.clone(),
                api::refused::audit,
            ))
            .layer(axum::middleware::from_fn(crate::console::api_headers));
        tasks.push(tokio::spawn(http::serve(
            l,
            app,
            HttpLimits {
                connections: limits.http_connections,
                per_address: cfg.max_per_address,
                header_timeout: Duration::from_secs(cfg.header_timeout_s.max(1)),
            },
            metrics.clone(),
            shutdown.clone(),
            grace,
        )));
        let (l, ops) = bind(cfg.ops).await?;
        tasks.push(tokio::spawn(http::serve(
            l,
            api::ops_router(state.clone()),
            HttpLimits {
                connections: 16,
                per_address: 16,
                header_timeout: Duration::from_secs(cfg.header_timeout_s.max(1)),
            },
            metrics.clone(),
            shutdown.clone(),
            grace,
        )));
        let cot_server = CotServer::new(
            state.clone(),
            limits.cot_connections,
            cfg.max_cot_per_address,
        );
        let cot = match cfg.cot.filter(|_| !cfg.no_cot) {
            Some(addr) => {
                let (l, bound) = bind(addr).await?;
                tasks.push(tokio::spawn(cot_server.clone().serve(l, cfg.cot_clients)));
                Some(bound)
            }
            None => None,
        };
        let pki = cfg.pki_paths();
        let cot_tls = match cfg.cot_tls {
            Some(addr) => {
                let acceptor = crate::cot::tls::acceptor(&crate::cot::tls::TlsFiles {
                    cert: existing(&pki.server_cert)?,
                    key: existing(&pki.server_key)?,
                    client_ca: existing(&pki.ca_cert)?,
                })?;
                let (l, bound) = bind(addr).await?;
                tasks.push(tokio::spawn(cot_server.clone().serve_tls(l, acceptor)));
                Some(bound)
            }
            None => None,
        };
        tasks.push(tokio::spawn(crate::pki::revoke::watch(
            store.clone(),
            cot_server.sessions(),
            shutdown.clone(),
        )));
        let enroll = match cfg.enroll {
            Some(addr) => {
                let ca = crate::pki::ca::Ca::load(&pki)?;
                let router = crate::pki::enroll::router(crate::pki::enroll::Enrollment {
                    store: store.clone(),
                    site: site.clone(),
                    ca: Arc::new(ca),
                    limiter: Arc::default(),
                    metrics: metrics.clone(),
                });
                let (l, bound) = bind(addr).await?;
                tasks.push(tokio::spawn(http::serve_tls(
                    l,
                    crate::cot::tls::server_only(
                        &existing(&pki.server_cert)?,
                        &existing(&pki.server_key)?,
                    )?,
                    router,
                    HttpLimits {
                        connections: 64,
                        per_address: 8,
                        header_timeout: Duration::from_secs(cfg.header_timeout_s.max(1)),
                    },
                    metrics.clone(),
                    shutdown.clone(),
                    grace,
                )));
                Some(bound)
            }
            None => None,
        };
        let (tick_store, tick_clock, tick_stop) = (store.clone(), clock, shutdown.clone());
        let tick = Duration::from_secs_f64(cfg.tick_s.max(0.05));
        tasks.push(tokio::spawn(async move {
            let mut every = tokio::time::interval(tick);
            loop {
                tokio::select! {
                    _ = every.tick() => tick_store.tick(tick_clock.now()),
                    () = tick_stop.cancelled() => return,
                }
            }
        }));
        let (cp, cp_store, cp_stop) = (checkpoints.clone(), store.clone(), shutdown.clone());
        tasks.push(tokio::spawn(async move {
            tokio::select! {
                () = cp.check_entries(&cp_store) => {}
                () = cp_stop.cancelled() => {}
            }
        }));
        tasks.push(tokio::spawn(checkpoints.clone().run(
            store.clone(),
            Duration::from_secs(cfg.checkpoint_interval_s.max(1)),
            shutdown.clone(),
        )));
        // Every organisation gets its own delivery loop (its rows wait only on its receiver).
        let hooked = site.orgs.iter().map(|o| o.id.clone()).collect();
        tasks.push(tokio::spawn(crate::deliver::webhook::run(
            hooked,
            store,
            metrics,
            checkpoints,
            shutdown.clone(),
        )));
        Ok(Server {
            http,
            ops,
            cot,
            cot_tls,
            enroll,
            state,
            tasks,
            stop_live,
            ended: vec![live_ended, writer_ended],
        })
    }

    /// Waits until the server is stopped (`Ok`) or a thread it cannot run without has failed
    /// (`Err` with the reason; `limes serve` then exits non-zero).
    pub async fn wait(&self) -> Result<(), String> {
        tokio::select! {
            r = self.state.health.wait_failed() => Err(r),
            () = self.state.shutdown.cancelled() => Ok(()),
        }
    }

    /// A handle that stops the server when cancelled.
    pub fn shutdown_handle(&self) -> CancellationToken {
        self.state.shutdown.clone()
    }

    /// Stops accepting, closes streams and connections (waiting at most a few seconds for
    /// them), and returns. Everything acknowledged is already durable.
    pub async fn stop(self) {
        self.state.shutdown.cancel();
        for t in self.tasks {
            let _ = t.await;
        }
        self.state.tasks.close();
        if tokio::time::timeout(Duration::from_secs(5), self.state.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!("connections still open after 5 s; leaving them");
        }
        // The engine stops, then, with every handle on the store gone, the writer drains and
        // ends, and the data directory's lock is released.
        drop(self.stop_live);
        drop(self.state);
        for e in self.ended {
            if tokio::time::timeout(Duration::from_secs(10), e)
                .await
                .is_err()
            {
                tracing::warn!("a server thread is still running after 10 s");
            }
        }
    }
}
