//! The hub: the live picture (latest state of every track, alert and facility, and the most
//! recent assessed events) and a broadcast of every change, which streams and CoT connections
//! subscribe to and filter through the release policy.
//!
//! The hub owns every merge, under its lock: an alert revision from the rules keeps the
//! operators' life cycle; a life-cycle change keeps the latest revision and only replaces an
//! older change; a facility's view is rebuilt from the site, the rules' status and exits and
//! the operators' updates. Changes are broadcast under the same lock, so subscribers see them
//! in the order the picture took them.

use limes_core::record::{AlertRecord, AlertState, EventRecord, TrackRecord, TrackStatus};
use limes_core::site::{FacilityStatus, Site};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::broadcast;

use crate::release::{AlertLife, AlertView, FacilityView, Item, Lifecycle, TrackItem};

/// Changes a slow subscriber may fall behind by before it is told it missed some.
const BACKLOG: usize = 8192;

/// Tracks not updated for this long leave the picture, seconds.
pub const TRACK_STALE_S: f64 = 120.0;

/// Assessed events the hub keeps (the most recent); older ones are read from the store.
pub const EVENT_WINDOW: usize = 1024;

/// Operator-set facility fields (head count, guards, status), kept beside the rules' estimate.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FacilityOps {
    /// Status set by an operator, and when (server clock).
    pub status: Option<(FacilityStatus, f64)>,
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
    /// Number of changes so far; an update only replaces an older one.
    pub version: u64,
}

/// The rules' view of a facility.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct RulesFacility {
    status: Option<(FacilityStatus, f64)>,
    exits: u32,
}

/// The latest state of everything.
#[derive(Default)]
pub struct Picture {
    /// Live tracks by id.
    pub tracks: HashMap<u64, Arc<TrackItem>>,
    /// Alerts by id.
    pub alerts: BTreeMap<u64, Arc<AlertView>>,
    /// Facilities by id.
    pub facilities: BTreeMap<String, Arc<FacilityView>>,
    /// The most recent assessed events, oldest first (at most [`EVENT_WINDOW`]).
    pub events: VecDeque<Arc<EventRecord>>,
    ops: HashMap<String, FacilityOps>,
    rules: HashMap<String, RulesFacility>,
    /// Open hostile-kind alerts by the tracks they contain.
    hostile: HashMap<u64, Vec<u64>>,
}

impl Picture {
    /// Keeps the track → hostile alert index in step with an alert's new revision.
    fn index_hostile(&mut self, old: Option<&AlertView>, new: &AlertView) {
        let id = new.alert.id;
        if let Some(o) = old {
            for t in &o.alert.tracks {
                if let Some(v) = self.hostile.get_mut(t) {
                    v.retain(|a| *a != id);
                    if v.is_empty() {
                        self.hostile.remove(t);
                    }
                }
            }
        }
        if new.alert.state == AlertState::Open && new.alert.kind.marks_tracks_hostile() {
            for t in &new.alert.tracks {
                self.hostile.entry(*t).or_default().push(id);
            }
        }
    }
}

/// The live picture and its change feed; cheap to clone.
#[derive(Clone)]
pub struct Hub {
    tx: broadcast::Sender<Item>,
    state: Arc<Mutex<Picture>>,
    site: Arc<Site>,
}

impl Hub {
    /// A hub for a site, with every facility at its site values.
    pub fn new(site: Arc<Site>) -> Self {
        let (tx, _) = broadcast::channel(BACKLOG);
        let hub = Self {
            tx,
            state: Arc::new(Mutex::new(Picture::default())),
            site,
        };
        {
            let mut p = hub.lock();
            for f in &hub.site.facilities {
                hub.rebuild_facility(&mut p, &f.id);
            }
        }
        hub
    }

    fn lock(&self) -> MutexGuard<'_, Picture> {
        // A panic elsewhere while holding the lock leaves the picture as it was; keep serving.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn send(&self, item: Item) {
        // No subscribers is not an error.
        let _ = self.tx.send(item);
    }

    /// Subscribes to changes from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Item> {
        self.tx.subscribe()
    }

    /// Subscribes and takes the current picture (not stale at `now`) at the same instant, so
    /// nothing falls between the snapshot and the changes.
    pub fn subscribe_with_snapshot(&self, now: f64) -> (Vec<Item>, broadcast::Receiver<Item>) {
        let p = self.lock();
        let rx = self.tx.subscribe();
        (snapshot(&p, now), rx)
    }

    /// Runs `f` on the current picture.
    pub fn with<T>(&self, f: impl FnOnce(&Picture) -> T) -> T {
        f(&self.lock())
    }

    /// Every item in the picture that is not stale at `now`, alerts first.
    pub fn snapshot(&self, now: f64) -> Vec<Item> {
        snapshot(&self.lock(), now)
    }

    /// Publishes a track state; a deleted track leaves the picture. Whether it is part of an
    /// open hostile-kind alert is decided here, once.
    pub fn track(&self, rec: TrackRecord) {
        let mut p = self.lock();
        let hostile_in = p
            .hostile
            .get(&rec.id)
            .map(|ids| {
                ids.iter()
                    .filter_map(|a| p.alerts.get(a).cloned())
                    .collect()
            })
            .unwrap_or_default();
        let item = Arc::new(TrackItem { rec, hostile_in });
        if item.rec.status == TrackStatus::Deleted {
            p.tracks.remove(&item.rec.id);
        } else {
            p.tracks.insert(item.rec.id, item.clone());
        }
        self.send(Item::Track(item));
    }

    /// Publishes an alert revision from the rules, keeping its life cycle; returns the view.
    pub fn alert_revision(&self, rec: AlertRecord) -> Arc<AlertView> {
        let mut p = self.lock();
        let old = p.alerts.get(&rec.id).cloned();
        let life = old.as_ref().map(|a| a.life.clone()).unwrap_or_default();
        let v = Arc::new(AlertView { alert: rec, life });
        p.index_hostile(old.as_deref(), &v);
        p.alerts.insert(v.alert.id, v.clone());
        self.send(Item::Alert(v.clone()));
        v
    }

    /// Publishes a life-cycle change, keeping the latest revision; a change older than the
    /// one the picture holds is ignored. Returns the view as published.
    pub fn alert_life(&self, id: u64, life: AlertLife) -> Option<Arc<AlertView>> {
        let mut p = self.lock();
        let cur = p.alerts.get(&id)?;
        if cur.life.version >= life.version {
            return Some(cur.clone());
        }
        let v = Arc::new(AlertView {
            alert: cur.alert.clone(),
            life,
        });
        p.alerts.insert(id, v.clone());
        self.send(Item::AlertLife(v.clone()));
        Some(v)
    }

    /// Loads a stored alert at start-up (not broadcast).
    pub fn load_alert(&self, v: AlertView) {
        let mut p = self.lock();
        let old = p.alerts.get(&v.alert.id).cloned();
        p.index_hostile(old.as_deref(), &v);
        p.alerts.insert(v.alert.id, Arc::new(v));
    }

    /// The alert with this id, if in the picture.
    pub fn alert(&self, id: u64) -> Option<Arc<AlertView>> {
        self.lock().alerts.get(&id).cloned()
    }

    /// Publishes an assessed event and keeps it among the most recent [`EVENT_WINDOW`]. Events
    /// are changes, not state: they are not in the snapshot a subscriber starts from.
    pub fn event(&self, rec: EventRecord) -> Arc<EventRecord> {
        let mut p = self.lock();
        let e = Arc::new(rec);
        if p.events.len() >= EVENT_WINDOW {
            p.events.pop_front();
        }
        p.events.push_back(e.clone());
        self.send(Item::Event(e.clone()));
        e
    }

    /// The event with this id, if among the most recent.
    pub fn event_by_id(&self, id: u64) -> Option<Arc<EventRecord>> {
        self.lock()
            .events
            .iter()
            .rev()
            .find(|e| e.id == id)
            .cloned()
    }

    /// The rules' status and exit count of a facility, at clock time `t`.
    pub fn facility_rules(&self, id: &str, status: FacilityStatus, exits: u32, t: f64) {
        let mut p = self.lock();
        let r = p.rules.entry(id.to_string()).or_default();
        let changed = r.status.map(|s| s.0) != Some(status);
        if !changed && r.exits == exits {
            return;
        }
        if changed {
            r.status = Some((status, t));
        }
        r.exits = exits;
        self.rebuild_facility(&mut p, id);
    }

    /// An operators' update to a facility; one older than the picture's is ignored.
    pub fn facility_ops(&self, id: &str, ops: FacilityOps) -> Option<Arc<FacilityView>> {
        let mut p = self.lock();
        if p.ops.get(id).is_some_and(|o| o.version >= ops.version) {
            return p.facilities.get(id).cloned();
        }
        p.ops.insert(id.to_string(), ops);
        self.rebuild_facility(&mut p, id)
    }

    /// Loads stored operator updates at start-up (not broadcast).
    pub fn load_facility_ops(&self, all: HashMap<String, FacilityOps>) {
        let mut p = self.lock();
        for (id, ops) in all {
            p.ops.insert(id.clone(), ops);
            if let Some(v) = facility_view(&self.site, &p, &id) {
                p.facilities.insert(id, Arc::new(v));
            }
        }
    }

    /// The operators' fields and the rules' exit count of a facility.
    pub fn facility_state(&self, id: &str) -> (FacilityOps, u32) {
        let p = self.lock();
        (
            p.ops.get(id).cloned().unwrap_or_default(),
            p.rules.get(id).map_or(0, |r| r.exits),
        )
    }

    fn rebuild_facility(&self, p: &mut Picture, id: &str) -> Option<Arc<FacilityView>> {
        let v = Arc::new(facility_view(&self.site, p, id)?);
        if p.facilities.get(id).is_some_and(|old| **old == *v) {
            return Some(v);
        }
        p.facilities.insert(id.to_string(), v.clone());
        self.send(Item::Facility(v.clone()));
        Some(v)
    }

    /// Forgets tracks not updated within [`TRACK_STALE_S`] of `now`, and alerts that are
    /// resolved or closed and older than `keep_s`.
    pub fn prune(&self, now: f64, keep_s: f64) {
        let mut p = self.lock();
        p.tracks.retain(|_, t| now - t.rec.time.0 < TRACK_STALE_S);
        let gone: Vec<Arc<AlertView>> = p
            .alerts
            .values()
            .filter(|a| {
                let done =
                    a.life.status == Lifecycle::Resolved || a.alert.state == AlertState::Closed;
                done && now - a.alert.time.0 > keep_s
            })
            .cloned()
            .collect();
        for a in gone {
            let closed = AlertView {
                alert: AlertRecord {
                    state: AlertState::Closed,
                    ..a.alert.clone()
                },
                life: a.life.clone(),
            };
            p.index_hostile(Some(&a), &closed);
            p.alerts.remove(&a.alert.id);
        }
    }
}

fn snapshot(p: &Picture, now: f64) -> Vec<Item> {
    let mut v: Vec<Item> = p.alerts.values().cloned().map(Item::Alert).collect();
    v.extend(p.facilities.values().cloned().map(Item::Facility));
    v.extend(
        p.tracks
            .values()
            .filter(|t| now - t.rec.time.0 < TRACK_STALE_S)
            .cloned()
            .map(Item::Track),
    );
    v
}

/// A facility's view from the site, the rules and operators' updates. An operator's status
/// stands until the rules see a later change; the estimate is the last head count minus the
/// exits counted since it was taken.
fn facility_view(site: &Site, p: &Picture, id: &str) -> Option<FacilityView> {
    let f = site.facilities.iter().find(|f| f.id == id)?;
    let ops = p.ops.get(id).cloned().unwrap_or_default();
    let rules = p.rules.get(id).copied().unwrap_or_default();
    let population = ops.head_count.unwrap_or_else(|| f.population_total());
    let since = rules.exits.saturating_sub(ops.exits_at_count);
    let status = match (ops.status, rules.status) {
        (Some(o), Some(r)) if o.1 >= r.1 => o.0,
        (_, Some(r)) => r.0,
        (Some(o), None) => o.0,
        (None, None) => f.status,
    };
    let c = f.centre();
    let radius_m = f.ring().iter().map(|p| c.distance_m(p)).fold(0.0, f64::max);
    Some(FacilityView {
        id: f.id.clone(),
        name: f.name.clone(),
        status,
        population,
        exits: since,
        estimate: population.saturating_sub(since),
        guards: ops.guards.unwrap_or(f.guards),
        note: ops.note,
        changed_by: ops.changed_by,
        lon: c.lon,
        lat: c.lat,
        radius_m,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn a_flood_of_events_keeps_only_the_most_recent_window_and_broadcasts_each() {
        let site = Arc::new(limes_core::site::open("ain-issa").expect("site"));
        let hub = Hub::new(site);
        let mut rx = hub.subscribe();
        let e: EventRecord = serde_json::from_str(
            r#"{"id":0,"source":"fence_vibration","time":1570000000,"decided":1570000000,
                "lon":38.87,"lat":36.38,"assessment":{"reason":"vibration","window_s":0,
                "expected_detections":0,"detail":"wind"},"summary":"wind"}"#,
        )
        .expect("an event");
        let n = 3 * EVENT_WINDOW as u64;
        for id in 1..=n {
            hub.event(EventRecord { id, ..e.clone() });
        }
        let kept = hub.with(|p| p.events.len());
        assert_eq!(kept, EVENT_WINDOW);
        assert!(hub.event_by_id(n).is_some());
        assert!(hub.event_by_id(n - EVENT_WINDOW as u64 + 1).is_some());
        assert!(hub.event_by_id(n - EVENT_WINDOW as u64).is_none());
        assert!(matches!(rx.try_recv(), Ok(Item::Event(x)) if x.id == 1));
        let snap = hub.snapshot(1_570_000_000.0);
        assert!(!snap.iter().any(|i| matches!(i, Item::Event(_))));
    }

    #[test]
    fn a_life_cycle_change_is_published_as_one_and_a_revision_as_an_alert() {
        // The release tells them apart (a change of the life cycle reaches only organisations
        // given the alert in full); published as an alert, it went to every partner.
        let site = Arc::new(limes_core::site::open("ain-issa").expect("site"));
        let hub = Hub::new(site);
        let mut rx = hub.subscribe();
        let rec: AlertRecord = serde_json::from_value(serde_json::json!({
            "id": 4, "rev": 1, "kind": "mass_breakout", "severity": "critical",
            "state": "open", "time": "2019-10-13T00:00:00Z", "raised": "2019-10-13T00:00:00Z",
            "lon": 38.872, "lat": 36.382, "count": 30, "sensors": [], "tracks": [],
            "summary": "x",
        }))
        .expect("an alert");
        hub.alert_revision(rec);
        assert!(matches!(rx.try_recv(), Ok(Item::Alert(_))));
        let life = AlertLife {
            status: Lifecycle::Acknowledged,
            version: 1,
            ..AlertLife::default()
        };
        hub.alert_life(4, life);
        assert!(matches!(rx.try_recv(), Ok(Item::AlertLife(a)) if a.alert.id == 4));
    }
}
