//! The live engine: one thread that owns the core [`Engine`] (the same tracker and rules as
//! `limes track`), replays the durable log at start-up, then follows the log as it is committed,
//! publishing tracks, alerts and facility status to the hub and persisting alert revisions.

use crossbeam_channel::Receiver;
use limes_core::engine::{Engine, Output};
use limes_core::record::{AlertRecord, TrackStatus};
use limes_core::site::Site;
use limes_core::track::{TrackUpdate, Tracker};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::hub::Hub;
use crate::metrics::Metrics;
use crate::release::{AlertView, FacilityView, Item, Lifecycle, Policy};
use crate::store::{self, AlertWrite, Fed, Feed, OutboxRow, Store};

/// Operator-set facility fields (head count, guards, status), kept beside the rules' estimate.
#[derive(Clone, Debug, Default)]
pub struct FacilityOps {
    /// Status set by an operator.
    pub status: Option<String>,
    /// Last head count.
    pub head_count: Option<u32>,
    /// Exits the rules had counted when that head count was taken.
    pub exits_at_count: u32,
    /// Guards on duty.
    pub guards: Option<u32>,
    /// Note.
    pub note: Option<String>,
    /// Who changed it.
    pub changed_by: Option<String>,
}

/// State shared between the live thread and the API.
#[derive(Clone)]
pub struct Shared {
    /// True once the log has been replayed and the server takes input.
    pub ready: Arc<AtomicBool>,
    /// Last log sequence number the engine has processed.
    pub processed: Arc<AtomicI64>,
    /// Operator-set facility fields, by facility id.
    pub facility_ops: Arc<Mutex<HashMap<String, FacilityOps>>>,
    /// Exits counted by the rules, by facility id.
    pub exits: Arc<Mutex<HashMap<String, u32>>>,
}

impl Default for Shared {
    fn default() -> Self {
        Self {
            ready: Arc::new(AtomicBool::new(false)),
            processed: Arc::new(AtomicI64::new(0)),
            facility_ops: Default::default(),
            exits: Default::default(),
        }
    }
}

/// Builds the published view of a facility from the site, the rules and operators' updates.
pub fn facility_view(
    site: &Site,
    id: &str,
    rules_status: Option<&str>,
    exits: u32,
    ops: Option<&FacilityOps>,
) -> Option<FacilityView> {
    let f = site.facilities.iter().find(|f| f.id == id)?;
    let ops = ops.cloned().unwrap_or_default();
    let population = ops.head_count.unwrap_or_else(|| f.population_total());
    let since = exits.saturating_sub(ops.exits_at_count);
    let c = f.centre();
    Some(FacilityView {
        id: f.id.clone(),
        name: f.name.clone(),
        status: ops
            .status
            .clone()
            .or(rules_status.map(str::to_string))
            .unwrap_or_else(|| crate::snake(&f.status)),
        population,
        exits: since,
        estimate: population.saturating_sub(since),
        guards: ops.guards.unwrap_or(f.guards),
        note: ops.note,
        changed_by: ops.changed_by,
        lon: c.lon,
        lat: c.lat,
    })
}

/// Everything the live thread needs.
pub struct Live {
    /// The site.
    pub site: Site,
    /// The store.
    pub store: Store,
    /// The hub.
    pub hub: Hub,
    /// The release policy (for webhook bodies).
    pub policy: Arc<Policy>,
    /// Shared state.
    pub shared: Shared,
    /// Metrics.
    pub metrics: Metrics,
}

impl Live {
    /// Starts the thread: replays the log, marks the server ready, then follows `feed`.
    pub fn spawn(self, feed: Receiver<Fed>) -> std::io::Result<std::thread::JoinHandle<()>> {
        std::thread::Builder::new()
            .name("limes-live".into())
            .spawn(move || self.run(feed))
    }

    fn run(self, feed: Receiver<Fed>) {
        let mut engine = Engine::new(self.site.tracker.clone(), Some(&self.site));
        let mut out = LiveOut {
            live: &self,
            last_pub: HashMap::new(),
            rules_status: HashMap::new(),
        };
        let started = Instant::now();
        let db = self.store.path().to_path_buf();
        let res = store::replay_log(&db, |f| out.handle(&mut engine, f, None));
        match res {
            Ok(seq) => tracing::info!(
                "replayed the log to #{seq} in {:.1} s; {} live tracks",
                started.elapsed().as_secs_f64(),
                engine.tracker.live_tracks()
            ),
            Err(e) => tracing::error!("replaying the log: {e}"),
        }
        out.publish_facilities(&engine);
        self.shared.ready.store(true, Ordering::SeqCst);
        while let Ok((f, received)) = feed.recv() {
            out.handle(&mut engine, f, received);
        }
    }
}

struct LiveOut<'a> {
    live: &'a Live,
    last_pub: HashMap<u64, (f64, TrackStatus)>,
    rules_status: HashMap<String, String>,
}

impl LiveOut<'_> {
    fn handle(&mut self, engine: &mut Engine, f: Feed, received: Option<Instant>) {
        let m = &self.live.metrics;
        let mut facility_alert = false;
        match f {
            Feed::Records { seq, records } => {
                let mut alerts = EngineOutput {
                    inner: self,
                    facility: false,
                };
                for r in &records {
                    // The log holds only checked records; a refusal here is counted, not fatal.
                    if engine.feed(r, &mut alerts).is_err() {
                        m.engine_refused.inc();
                    }
                }
                facility_alert = alerts.facility;
                m.engine_records.inc_by(records.len() as u64);
                self.live.shared.processed.store(seq, Ordering::SeqCst);
                if let Some(t0) = received {
                    m.pipeline_seconds.observe(t0.elapsed().as_secs_f64());
                }
            }
            Feed::Tick(t) => {
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
                tracing::error!("log entry #{seq} skipped: {message}")
            }
        }
        m.live_tracks.set(engine.tracker.live_tracks() as i64);
        m.late_dropped
            .set(engine.tracker.stats().late_dropped as i64);
        if facility_alert {
            self.publish_facilities(engine);
        }
    }

    fn publish_facilities(&mut self, engine: &Engine) {
        let Some(j) = &engine.rules else { return };
        for st in j.facilities() {
            let status = crate::snake(&st.status);
            let changed = self.rules_status.get(&st.id) != Some(&status);
            if changed {
                self.rules_status.insert(st.id.clone(), status.clone());
            }
            let ops = {
                let mut ops = self
                    .live
                    .shared
                    .facility_ops
                    .lock()
                    .unwrap_or_else(|p| p.into_inner());
                // A status change seen by the rules supersedes an older operator status.
                if changed {
                    if let Some(o) = ops.get_mut(&st.id) {
                        o.status = None;
                    }
                }
                ops.get(&st.id).cloned()
            };
            if let Ok(mut e) = self.live.shared.exits.lock() {
                e.insert(st.id.clone(), st.exits);
            }
            if let Some(v) = facility_view(
                &self.live.site,
                &st.id,
                Some(&status),
                st.exits,
                ops.as_ref(),
            ) {
                self.live.hub.publish(Item::Facility(v), None);
            }
        }
    }
}

/// The engine's output: tracks (at most one per track per second, plus status changes) and alerts.
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
        self.inner
            .live
            .hub
            .publish(Item::Track(tracker.to_record(u)), None);
    }

    fn alert(&mut self, a: &AlertRecord) {
        let live = self.inner.live;
        live.metrics.alert_revisions.inc();
        if a.facility.is_some() {
            self.facility = true;
        }
        let view = match live.hub.alert(a.id) {
            Some(mut v) => {
                v.alert = a.clone();
                v
            }
            None => AlertView {
                alert: a.clone(),
                status: Lifecycle::New,
                unit: None,
                resolution: None,
                note: None,
                changed_by: None,
            },
        };
        let item = Item::Alert(Box::new(view));
        let outbox = live
            .policy
            .orgs()
            .filter_map(|o| {
                let url = o.webhook.as_ref()?;
                let r = live.policy.release(&o.id, &item)?;
                Some(OutboxRow {
                    org: o.id.clone(),
                    url: url.clone(),
                    key: format!("{}:alert:{}:{}", o.id, a.id, a.rev),
                    body: r.body.to_string(),
                })
            })
            .collect();
        live.store.alert(AlertWrite {
            rec: a.clone(),
            outbox,
        });
        live.hub.publish(item, None);
    }
}
