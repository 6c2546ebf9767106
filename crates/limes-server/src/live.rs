//! The live engine: one thread that owns the core [`Engine`] (the same tracker and rules as
//! `limes track`), replays the durable log at start-up, hands the writer its admission state,
//! then follows the log as it is committed, publishing tracks, alerts, assessed events and
//! facility status to the hub and persisting alert revisions (with their webhook deliveries)
//! and events.
//!
//! The thread is supervised ([`supervise`]): if it stops or panics, the server's health fails
//! with the reason, `/readyz` says so, ingest is refused and `limes serve` exits non-zero.

use crossbeam_channel::Receiver;
use limes_core::engine::{Engine, Output};
use limes_core::record::{AlertRecord, EventRecord, TrackStatus};
use limes_core::site::Site;
use limes_core::track::{TrackUpdate, Tracker};
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use crate::health::Health;
use crate::hub::Hub;
use crate::metrics::Metrics;
use crate::release::{Item, Policy};
use crate::store::{self, AlertWrite, Fed, Feed, OutboxRow, Store};

/// Everything the live thread needs.
pub struct Live {
    /// The site.
    pub site: Arc<Site>,
    /// The store.
    pub store: Store,
    /// The hub.
    pub hub: Hub,
    /// The release policy (for webhook bodies).
    pub policy: Arc<Policy>,
    /// Health, shared with the API.
    pub health: Health,
    /// Metrics.
    pub metrics: Metrics,
}

/// Watches a thread the server cannot run without: when it ends (a panic, or a return), the
/// server's health fails with the reason and the log says why.
/// Returns a receiver that resolves once the thread has ended.
pub fn supervise(
    name: &'static str,
    handle: std::thread::JoinHandle<Result<(), String>>,
    health: Health,
    shutdown: tokio_util::sync::CancellationToken,
) -> std::io::Result<tokio::sync::oneshot::Receiver<()>> {
    let (ended, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name(format!("limes-watch-{name}"))
        .spawn(move || {
            let reason = match handle.join() {
                Ok(Ok(())) => format!("the {name} thread stopped"),
                Ok(Err(e)) => format!("the {name} thread stopped: {e}"),
                Err(panic) => {
                    let msg = panic
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_else(|| "no message".into());
                    format!("the {name} thread panicked: {msg}")
                }
            };
            if shutdown.is_cancelled() {
                tracing::info!("{reason} (shutting down)");
            } else {
                tracing::error!("{reason}; the server cannot go on");
                health.fail(reason);
            }
            let _ = ended.send(());
        })
        .map(|_| rx)
}

impl Live {
    /// Starts the thread: replays the log, marks the server ready, then follows `feed` until
    /// `stop` is dropped (shutdown).
    pub fn spawn(
        self,
        feed: Receiver<Fed>,
        stop: Receiver<()>,
    ) -> std::io::Result<std::thread::JoinHandle<Result<(), String>>> {
        std::thread::Builder::new()
            .name("limes-live".into())
            .spawn(move || self.run(feed, stop))
    }

    fn run(self, feed: Receiver<Fed>, stop: Receiver<()>) -> Result<(), String> {
        let mut engine = Engine::new(self.site.tracker.clone(), Some(&self.site));
        let stored_events = self
            .store
            .read_blocking(store::events::max_id)
            .map_err(|e| format!("reading the stored events: {e}"))?;
        let mut out = LiveOut {
            live: &self,
            last_pub: HashMap::new(),
            now: 0.0,
            stored_events,
        };
        let started = Instant::now();
        let seq = store::replay_log(self.store.path(), |f| out.handle(&mut engine, f, None))
            .map_err(|e| format!("replaying the log: {e}"))?;
        tracing::info!(
            "replayed the log to #{seq} in {:.1} s; {} live tracks",
            started.elapsed().as_secs_f64(),
            engine.tracker.live_tracks()
        );
        out.publish_facilities(&engine);
        self.store
            .ready(engine.admission().clone())
            .map_err(|e| e.to_string())?;
        self.health.set_ready();
        loop {
            crossbeam_channel::select! {
                recv(feed) -> f => match f {
                    Ok((f, received)) => out.handle(&mut engine, f, received),
                    Err(_) => return Err("the log writer stopped feeding it".into()),
                },
                recv(stop) -> _ => return Ok(()),
            }
        }
    }
}

/// Which kind of log entry was handled.
enum FeedKind {
    Tick,
    Other,
}

struct LiveOut<'a> {
    live: &'a Live,
    last_pub: HashMap<u64, (f64, TrackStatus)>,
    now: f64,
    /// The highest event id stored before this start: the replay decides those again, and they
    /// are not logged or counted twice.
    stored_events: u64,
}

impl LiveOut<'_> {
    /// Compares the tracker's flooding sensors with the last flagged set: the metric, a WARN
    /// line when a sensor starts or stops flooding, and the list `/readyz` shows.
    fn flag_floods(&self, engine: &Engine) {
        let now: std::collections::BTreeSet<String> = engine
            .tracker
            .flooding_sensors()
            .map(str::to_string)
            .collect();
        self.live.metrics.flooding_sensors.set(now.len() as i64);
        let (new, gone) = self.live.health.set_flooding(now);
        for s in new {
            let rate = engine.tracker.sensor_rate_hz(&s).unwrap_or(0.0);
            tracing::warn!(
                "sensor {s} floods ({rate:.0} detections/s of record time): its detections no longer start tracks"
            );
        }
        for s in gone {
            tracing::warn!("sensor {s} no longer floods");
        }
    }

    fn handle(&mut self, engine: &mut Engine, f: Feed, received: Option<Instant>) {
        let f_kind = match &f {
            Feed::Tick(_) => FeedKind::Tick,
            _ => FeedKind::Other,
        };
        let m = &self.live.metrics;
        let mut facility_alert = false;
        match f {
            Feed::Records { seq, records } => {
                fail::fail_point!("live-records");
                let mut alerts = EngineOutput {
                    inner: self,
                    facility: false,
                };
                for (i, r) in records.iter().enumerate() {
                    // The writer refuses what the engine would: a refusal here is a defect.
                    let took = engine.feed(r, &mut alerts);
                    if let Err(e) = &took {
                        m.engine_refused.inc();
                        tracing::error!("log entry #{seq}, record {i}: the engine refused it: {e}");
                    }
                    alerts.inner.live.health.engine_took(took.is_ok());
                    alerts.inner.now = alerts.inner.now.max(r.time().0);
                }
                facility_alert = alerts.facility;
                m.engine_records.inc_by(records.len() as u64);
                self.live.health.processed.store(seq, Ordering::SeqCst);
                if let Some(t0) = received {
                    m.pipeline_seconds.observe(t0.elapsed().as_secs_f64());
                }
            }
            Feed::Tick(t) => {
                self.now = self.now.max(t);
                let mut alerts = EngineOutput {
                    inner: self,
                    facility: false,
                };
                engine.tick(t, &mut alerts);
                facility_alert = alerts.facility;
                self.live.hub.prune(t, 6.0 * 3600.0);
                self.last_pub.retain(|_, (lt, _)| t - *lt < 300.0);
            }
            Feed::Corrupt { seq, message } => {
                m.engine_refused.inc();
                tracing::error!("log entry #{seq} skipped: {message}")
            }
        }
        m.live_tracks.set(engine.tracker.live_tracks() as i64);
        let stats = engine.tracker.stats();
        m.late_dropped.set(stats.late_dropped as i64);
        m.tracks_shed
            .set((stats.tentative_shed + stats.confirmed_shed) as i64);
        m.flood_refused.set(stats.flood_refused as i64);
        if matches!(f_kind, FeedKind::Tick) {
            self.flag_floods(engine);
        }
        if facility_alert {
            self.publish_facilities(engine);
        }
    }

    fn publish_facilities(&mut self, engine: &Engine) {
        let Some(j) = &engine.rules else { return };
        for st in j.facilities() {
            self.live
                .hub
                .facility_rules(&st.id, st.status, st.exits, self.now);
        }
    }
}

/// The engine's output: tracks (at most one per track per second, plus status changes), alerts
/// and assessed events.
struct EngineOutput<'a, 'b> {
    inner: &'a mut LiveOut<'b>,
    facility: bool,
}

impl Output for EngineOutput<'_, '_> {
    fn track(&mut self, u: &TrackUpdate, tracker: &Tracker) {
        if u.status == TrackStatus::Tentative {
            return;
        }
        let due = match self.inner.last_pub.get(&u.id) {
            Some(&(t, s)) => s != u.status || u.time - t >= 1.0,
            None => true,
        };
        if !due {
            return;
        }
        if u.status == TrackStatus::Deleted {
            self.inner.last_pub.remove(&u.id);
        } else {
            self.inner.last_pub.insert(u.id, (u.time, u.status));
        }
        self.inner.live.hub.track(tracker.to_record(u));
    }

    fn alert(&mut self, a: &AlertRecord) {
        let live = self.inner.live;
        live.metrics.alert_revisions.inc();
        if a.facility.is_some() {
            self.facility = true;
        }
        let view = live.hub.alert_revision(a.clone());
        let item = Item::Alert(view);
        let outbox = live
            .policy
            .orgs()
            .filter_map(|o| {
                let url = o.webhook.as_ref()?;
                let r = live.policy.release(&o.id, &item)?;
                Some(OutboxRow {
                    org: o.id.clone(),
                    url: url.clone(),
                    key: format!("{}:{}:{}", o.id, r.out.id(), a.rev),
                    body: serde_json::to_string(&r.out).ok()?,
                })
            })
            .collect();
        if let Err(e) = live.store.alert(AlertWrite {
            rec: a.clone(),
            outbox,
        }) {
            tracing::error!("alert {} revision {} not stored: {e}", a.id, a.rev);
        }
    }

    fn event(&mut self, e: &EventRecord) {
        let live = self.inner.live;
        if e.id > self.inner.stored_events {
            live.metrics.assessed_event(e);
            tracing::info!(
                "event {} ({}, {}): {}; {}",
                e.id,
                e.source.name(),
                e.assessment.reason.name(),
                e.summary,
                e.assessment.detail
            );
        }
        live.hub.event(e.clone());
        if let Err(err) = live.store.event(e.clone()) {
            tracing::error!("event {} not stored: {err}", e.id);
        }
    }
}
