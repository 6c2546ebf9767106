//! Starting the server: open the store, replay the log into the live engine, then listen for
//! HTTP and CoT, tick the clock and deliver webhooks.

use crossbeam_channel::bounded;
use limes_core::site::{self, Site};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

use crate::api::{self, AppState};
use crate::auth::Tokens;
use crate::clock::{wall_now, Clock};
use crate::cot::server::CotHub;
use crate::hub::Hub;
use crate::ingest::Checker;
use crate::live::{Live, Shared};
use crate::metrics::Metrics;
use crate::release::{Item, Policy};
use crate::store::{Store, StoreError};

/// How `limes serve` runs.
#[derive(Clone, Debug)]
pub struct ServeConfig {
    /// Site file.
    pub site: PathBuf,
    /// Data directory (created if missing).
    pub data: PathBuf,
    /// HTTP address.
    pub http: SocketAddr,
    /// CoT TCP address, if CoT is served.
    pub cot: Option<SocketAddr>,
    /// CoT over TLS with client certificates: address and files.
    pub cot_tls: Option<(SocketAddr, crate::cot::tls::TlsFiles)>,
    /// Drill clock: clock seconds per wall second (1: the wall clock).
    pub clock_speed: f64,
    /// Drill clock: its time at start, seconds since the epoch (resumes later if the log is newer).
    pub clock_start: Option<f64>,
    /// Records further ahead of the clock than this are refused, seconds.
    pub max_future_s: f64,
    /// Records further behind the clock than this are refused, seconds.
    pub max_past_s: f64,
    /// Ingest batches that may wait for the writer before callers get 429.
    pub queue: usize,
    /// Wall-clock seconds between clock ticks.
    pub tick_s: f64,
    /// The operator's console: sessions, history retention.
    pub console: crate::console::ConsoleConfig,
}

impl ServeConfig {
    /// Defaults for a site and data directory: loopback ports 8080 (HTTP) and 8087 (CoT).
    pub fn new(site: PathBuf, data: PathBuf) -> Self {
        Self {
            site,
            data,
            http: SocketAddr::from(([127, 0, 0, 1], 8080)),
            cot: Some(SocketAddr::from(([127, 0, 0, 1], 8087))),
            cot_tls: None,
            clock_speed: 1.0,
            clock_start: None,
            max_future_s: 120.0,
            max_past_s: 3600.0,
            queue: 64,
            tick_s: 0.1,
            console: crate::console::ConsoleConfig::default(),
        }
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
    /// A thread could not be started.
    #[error("starting a thread: {0}")]
    Thread(std::io::Error),
}

/// A running server.
pub struct Server {
    /// Bound HTTP address.
    pub http: SocketAddr,
    /// Bound CoT address.
    pub cot: Option<SocketAddr>,
    /// Bound CoT TLS address.
    pub cot_tls: Option<SocketAddr>,
    /// Shared state (for in-process tests and benchmarks).
    pub state: AppState,
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

impl Server {
    /// Starts everything; returns once the log is replayed and the listeners are bound.
    pub async fn start(cfg: ServeConfig) -> Result<Server, ServerError> {
        Self::start_with(cfg, axum::Router::new()).await
    }

    /// As [`Server::start`], also serving `web` (the console's page and assets) on the HTTP port.
    pub async fn start_with(cfg: ServeConfig, web: axum::Router) -> Result<Server, ServerError> {
        let site: Site = site::load(&cfg.site)?;
        let (feed_tx, feed_rx) = bounded(64);
        let store = Store::open(&cfg.data, cfg.queue, feed_tx)?;
        let tokens = store.read_blocking(Tokens::load)?;
        let shared = Shared::default();
        let ops = store.read_blocking(api::load_facility_ops)?;
        if let Ok(mut m) = shared.facility_ops.lock() {
            *m = ops;
        }
        let hub = Hub::new();
        let alerts = store.read_blocking(|c| {
            let mut stmt = c.prepare(
                "SELECT body, status, unit, resolution, note, changed_by FROM alerts ORDER BY id",
            )?;
            let rows = stmt.query_map([], crate::lifecycle::row_view)?;
            Ok(rows.filter_map(|r| r.ok().flatten()).collect::<Vec<_>>())
        })?;
        for a in alerts {
            hub.publish(Item::Alert(Box::new(a)), None);
        }
        let clock = if cfg.clock_speed == 1.0 && cfg.clock_start.is_none() {
            Clock::wall()
        } else {
            let start = cfg.clock_start.unwrap_or_else(wall_now);
            let resume = last_logged_time(&store)?.unwrap_or(start).max(start);
            Clock::drill(resume, cfg.clock_speed)
        };
        let policy = Arc::new(Policy::new(&site));
        let metrics = Metrics::new();
        let checker = Arc::new(Checker::new(
            &site,
            clock.clone(),
            cfg.max_future_s,
            cfg.max_past_s,
        ));
        let site = Arc::new(site);
        let console = crate::console::Console::open(&store, &cfg.data, cfg.console.clone())?;
        let state = AppState {
            site: site.clone(),
            store: store.clone(),
            hub: hub.clone(),
            policy: policy.clone(),
            tokens,
            checker,
            metrics: metrics.clone(),
            shared: shared.clone(),
            clock: clock.clone(),
            console,
        };
        Live {
            site: (*site).clone(),
            store: store.clone(),
            hub,
            policy,
            shared: shared.clone(),
            metrics: metrics.clone(),
        }
        .spawn(feed_rx)
        .map_err(ServerError::Thread)?;
        while !shared.ready.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let listener = TcpListener::bind(cfg.http)
            .await
            .map_err(|source| ServerError::Bind {
                addr: cfg.http,
                source,
            })?;
        let http = listener.local_addr().map_err(|source| ServerError::Bind {
            addr: cfg.http,
            source,
        })?;
        state.console.start(&state);
        let app = api::router(state.clone())
            .merge(crate::console::router(state.clone()))
            .merge(web)
            .layer(axum::middleware::from_fn(crate::console::api_headers));
        // Small replies must not wait for Nagle's algorithm (a 40 ms stall per request).
        let listener =
            axum::serve::ListenerExt::tap_io(listener, |tcp: &mut tokio::net::TcpStream| {
                let _ = tcp.set_nodelay(true);
            });
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!("HTTP server stopped: {e}");
            }
        });
        let cot_hub = CotHub::new(state.clone());
        let cot = match cfg.cot {
            Some(addr) => {
                let l = TcpListener::bind(addr)
                    .await
                    .map_err(|source| ServerError::Bind { addr, source })?;
                let bound = l
                    .local_addr()
                    .map_err(|source| ServerError::Bind { addr, source })?;
                tokio::spawn(cot_hub.clone().serve(l));
                Some(bound)
            }
            None => None,
        };
        let cot_tls = match &cfg.cot_tls {
            Some((addr, files)) => {
                let acceptor = crate::cot::tls::acceptor(files)?;
                let l = TcpListener::bind(addr)
                    .await
                    .map_err(|source| ServerError::Bind {
                        addr: *addr,
                        source,
                    })?;
                let bound = l.local_addr().map_err(|source| ServerError::Bind {
                    addr: *addr,
                    source,
                })?;
                tokio::spawn(cot_hub.clone().serve_tls(l, acceptor));
                Some(bound)
            }
            None => None,
        };
        let (tick_store, tick_clock) = (store.clone(), clock.clone());
        let tick = Duration::from_secs_f64(cfg.tick_s.max(0.05));
        tokio::spawn(async move {
            let mut every = tokio::time::interval(tick);
            loop {
                every.tick().await;
                tick_store.tick(tick_clock.now());
            }
        });
        tokio::spawn(crate::webhook::run(store, metrics));
        Ok(Server {
            http,
            cot,
            cot_tls,
            state,
        })
    }
}
