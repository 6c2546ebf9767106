//! The hub: the live picture (latest state of every track, alert and facility) and a broadcast
//! of every change, which streams and CoT connections subscribe to and filter through the
//! release policy.

use limes_core::record::{TrackRecord, TrackStatus};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;

use crate::release::{AlertView, FacilityView, Item};

/// Changes a slow subscriber may fall behind by before it is told it missed some.
const BACKLOG: usize = 8192;

/// Tracks not updated for this long leave the picture.
const TRACK_STALE_S: f64 = 120.0;

/// A published change, with the connection it came from (never echoed back to it).
#[derive(Clone, Debug)]
pub struct Event {
    /// The item.
    pub item: Item,
    /// The CoT connection that sent it, if a client did.
    pub origin: Option<u64>,
}

/// The live picture and its change feed.
#[derive(Clone)]
pub struct Hub {
    tx: broadcast::Sender<Arc<Event>>,
    state: Arc<Mutex<Picture>>,
}

/// The latest state of everything.
#[derive(Default)]
pub struct Picture {
    /// Live tracks by id.
    pub tracks: HashMap<u64, TrackRecord>,
    /// Alerts by id.
    pub alerts: BTreeMap<u64, AlertView>,
    /// Facilities by id.
    pub facilities: BTreeMap<String, FacilityView>,
}

impl Default for Hub {
    fn default() -> Self {
        Self::new()
    }
}

impl Hub {
    /// An empty hub.
    pub fn new() -> Self {
        let (tx, _) = broadcast::channel(BACKLOG);
        Self {
            tx,
            state: Arc::new(Mutex::new(Picture::default())),
        }
    }

    /// Subscribes to changes from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.tx.subscribe()
    }

    /// Runs `f` on the current picture.
    pub fn with<T>(&self, f: impl FnOnce(&Picture) -> T) -> T {
        match self.state.lock() {
            Ok(p) => f(&p),
            Err(poisoned) => f(&poisoned.into_inner()),
        }
    }

    /// Every item in the picture that is not stale at `now`, alerts first.
    pub fn snapshot(&self, now: f64) -> Vec<Item> {
        self.with(|p| {
            let mut v: Vec<Item> = p
                .alerts
                .values()
                .cloned()
                .map(|a| Item::Alert(Box::new(a)))
                .collect();
            v.extend(p.facilities.values().cloned().map(Item::Facility));
            v.extend(
                p.tracks
                    .values()
                    .filter(|t| now - t.time.0 < TRACK_STALE_S)
                    .cloned()
                    .map(Item::Track),
            );
            v
        })
    }

    /// Records and publishes a change.
    pub fn publish(&self, item: Item, origin: Option<u64>) {
        if let Ok(mut p) = self.state.lock() {
            match &item {
                Item::Track(t) if t.status == TrackStatus::Deleted => {
                    p.tracks.remove(&t.id);
                }
                Item::Track(t) => {
                    p.tracks.insert(t.id, t.clone());
                }
                Item::Alert(a) => {
                    p.alerts.insert(a.alert.id, (**a).clone());
                }
                Item::Facility(f) => {
                    p.facilities.insert(f.id.clone(), f.clone());
                }
            }
        }
        // No subscribers is not an error.
        let _ = self.tx.send(Arc::new(Event { item, origin }));
    }

    /// Forgets tracks not updated since `now - 120 s` and closed, resolved alerts older than `keep_s`.
    pub fn prune(&self, now: f64, keep_s: f64) {
        if let Ok(mut p) = self.state.lock() {
            p.tracks.retain(|_, t| now - t.time.0 < TRACK_STALE_S);
            p.alerts.retain(|_, a| {
                !(a.status == crate::release::Lifecycle::Resolved && now - a.alert.time.0 > keep_s)
            });
        }
    }

    /// The alert with this id, if in the picture.
    pub fn alert(&self, id: u64) -> Option<AlertView> {
        self.with(|p| p.alerts.get(&id).cloned())
    }
}
