//! The release policy: the one function that decides what each organisation receives of each
//! item, at what detail. Every delivery (REST, the event stream, CoT, CAP, webhooks) encodes
//! only what [`Policy::release`] returns, so no path can leak more than the site file allows.
//!
//! What it returns is typed ([`Out`]): a full, coarse or summary form of a track, an alert or
//! a facility, with the position as released, its uncertainty, and whether the track is
//! hostile to that organisation. Ids are opaque and per organisation ([`ids`]). An assessed
//! event is released as the alert it would have been ([`event`]).

pub mod event;
pub mod ids;
mod item;
mod out;

pub use event::{EventOut, FullEvent};
pub use ids::{IdKind, Ids};
pub use item::{AlertLife, AlertView, DataKind, FacilityView, Item, Lifecycle, TrackItem};
pub use out::{
    AlertOut, CoarseAlert, CoarseDdr, CoarseTrack, FacilityOut, FacilitySummary, FullAlert,
    FullTrack, Out, SummaryAlert, TrackOut,
};

use limes_core::geo::LonLat;
use limes_core::record::{AlertKind, AlertRecord, Position, TrackRecord};
use limes_core::site::{Detail, FrontierIndex, FrontierSide, Geometry, Org, Site};
use std::collections::HashMap;

use crate::auth::{Principal, Role};

/// Radius of the area a full alert stands for, metres (CAP circle, CoT `ce`).
pub const ALERT_AREA_M: f64 = 500.0;

/// What one organisation may see of one item.
#[derive(Clone, Debug, PartialEq)]
pub struct Released {
    /// The released fields, typed.
    pub out: Out,
    /// The detail it was released at.
    pub detail: Detail,
    /// Position as released (coarsened where the policy says), if the organisation may see one.
    pub pos: Option<LonLat>,
    /// Radius of uncertainty around `pos`, metres: a track's 1-sigma error, a full alert's
    /// area, a coarse cell's circumscribed circle, a facility's extent.
    pub radius_m: f64,
}

impl Released {
    /// The kind of data.
    pub fn kind(&self) -> DataKind {
        match &self.out {
            Out::Track(_) => DataKind::Track,
            Out::Alert(_) => DataKind::Alert,
            Out::Facility(_) => DataKind::Facility,
            Out::Event(_) => DataKind::Event,
        }
    }
}

/// The site's release policy, ready to apply.
pub struct Policy {
    orgs: HashMap<String, Org>,
    sensor_org: HashMap<String, Option<String>>,
    frontier: Option<FrontierIndex>,
    facilities: HashMap<String, LonLat>,
    ids: Ids,
}

impl Policy {
    /// The policy of a site's `[[orgs]]`, with the deployment's id key.
    pub fn new(site: &Site, ids: Ids) -> Self {
        let reach_m = site
            .orgs
            .iter()
            .filter_map(|o| o.area.as_ref()?.frontier_km)
            .fold(0.0, f64::max)
            * 1000.0;
        Self {
            orgs: site
                .orgs
                .iter()
                .map(|o| (o.id.clone(), o.clone()))
                .collect(),
            sensor_org: site
                .sensors
                .iter()
                .map(|s| (s.id.clone(), s.org.clone()))
                .collect(),
            frontier: site
                .frontier
                .as_ref()
                .filter(|_| reach_m > 0.0)
                .map(|f| FrontierIndex::new(f, reach_m)),
            facilities: site
                .facilities
                .iter()
                .map(|f| (f.id.clone(), f.centre()))
                .collect(),
            ids,
        }
    }

    /// The organisation, if the site names it.
    pub fn org(&self, id: &str) -> Option<&Org> {
        self.orgs.get(id)
    }

    /// All organisations.
    pub fn orgs(&self) -> impl Iterator<Item = &Org> {
        self.orgs.values()
    }

    /// The opaque ids.
    pub fn ids(&self) -> &Ids {
        &self.ids
    }

    /// Whether `p` may send records as `sensor`: a sensor's own certificate for itself, an
    /// ingesting credential of the organisation that owns the sensor, or the deployment owner.
    pub fn may_send(&self, p: &Principal, sensor: &str) -> bool {
        let Some(owner) = self.sensor_org.get(sensor) else {
            return false;
        };
        if !p.role.can_ingest() || p.sensor.as_deref().is_some_and(|s| s != sensor) {
            return false;
        }
        p.role == Role::Owner || owner.as_deref() == Some(p.org.as_str())
    }

    /// What `org` may receive of `item`; `None` when nothing.
    pub fn release(&self, org: &str, item: &Item) -> Option<Released> {
        let o = self.orgs.get(org)?;
        match item {
            Item::Track(t) => self.track(o, t),
            Item::Alert(a) => self.alert(o, a),
            Item::AlertLife(a) => self
                .alert(o, a)
                .filter(|r| r.detail == Detail::Full || a.life.status == Lifecycle::Resolved),
            Item::Facility(f) => self.facility(o, f),
            Item::Event(e) => self.event(o, e),
        }
    }

    /// Whether `org` receives this alert in full (the condition for acting on it).
    pub fn full_alert(&self, org: &str, v: &AlertView) -> bool {
        self.orgs
            .get(org)
            .and_then(|o| self.alert_detail(o, v))
            .is_some_and(|d| d == Detail::Full)
    }

    /// Whether a position lies in `org`'s release area (anywhere when it has none; nowhere for
    /// an organisation the site does not name). The console's site geometry uses it.
    pub fn releases_position(&self, org: &str, p: LonLat) -> bool {
        self.orgs.get(org).is_some_and(|o| self.in_area(o, p))
    }

    fn in_area(&self, o: &Org, p: LonLat) -> bool {
        let Some(a) = &o.area else { return true };
        if let Some(km) = a.frontier_km {
            let Some(n) = self.frontier.as_ref().and_then(|f| f.locate(p)) else {
                return false;
            };
            let side_ok = match a.side {
                None => true,
                Some(FrontierSide::Outside) => n.outside,
                Some(FrontierSide::Inside) => !n.outside,
            };
            return side_ok && n.distance_m <= km * 1000.0;
        }
        if let (Some(id), Some(km)) = (&a.facility, a.facility_km) {
            return self
                .facilities
                .get(id)
                .is_some_and(|c| c.distance_m(&p) <= km * 1000.0);
        }
        false
    }

    fn track(&self, o: &Org, t: &TrackItem) -> Option<Released> {
        let rec = &t.rec;
        let p = lonlat(&rec.pos)?;
        if o.tracks < Detail::Coarse || !self.in_area(o, p) {
            return None;
        }
        let id = self.ids.public(IdKind::Track, &o.id, rec.id);
        let hostile = t
            .hostile_in
            .iter()
            .any(|a| self.alert_detail(o, a).is_some());
        if o.tracks == Detail::Full {
            return Some(Released {
                radius_m: sigma_m(&rec.cov),
                out: Out::Track(TrackOut::Full(FullTrack {
                    id,
                    hostile,
                    rec: rec.clone(),
                })),
                detail: Detail::Full,
                pos: Some(p),
            });
        }
        let c = p.snap(o.coarsen_m);
        Some(Released {
            out: Out::Track(TrackOut::Coarse(CoarseTrack {
                id,
                time: rec.time,
                status: rec.status,
                lon: c.lon,
                lat: c.lat,
                speed: (rec.vel[0].hypot(rec.vel[1]) * 2.0).round() / 2.0,
                class: rec.class.best(),
                first_seen: rec.first_seen,
                hostile,
            })),
            detail: Detail::Coarse,
            pos: Some(c),
            radius_m: cell_radius(o.coarsen_m),
        })
    }

    /// The detail at which `o` receives an alert of `kind` at `pos`, if at all: the one rule
    /// for alerts and for the assessed events they would have been.
    fn detail_at(&self, o: &Org, kind: AlertKind, pos: &Position) -> Option<Detail> {
        if !o.receives_kind(kind) {
            return None;
        }
        if o.alerts >= Detail::Coarse && !lonlat(pos).is_some_and(|p| self.in_area(o, p)) {
            return None;
        }
        (o.alerts > Detail::None).then_some(o.alerts)
    }

    /// The detail at which `o` receives alert `v`, if at all.
    fn alert_detail(&self, o: &Org, v: &AlertView) -> Option<Detail> {
        let d = self.detail_at(o, v.alert.kind, &v.alert.pos)?;
        // A sensor-offline alert names the silent sensors and sits at them: where cameras were
        // covering and are now blind. In full only to an organisation given where the sensors
        // are (as assessed events are); to others a summary (no names, no position).
        if v.alert.kind == AlertKind::SensorOffline && !o.sees(Geometry::Sensors) {
            return Some(d.min(Detail::Summary));
        }
        Some(d)
    }

    fn alert(&self, o: &Org, v: &AlertView) -> Option<Released> {
        let detail = self.alert_detail(o, v)?;
        let a = &v.alert;
        let id = self.ids.public(IdKind::Alert, &o.id, a.id);
        let summary = SummaryAlert {
            id: id.clone(),
            rev: a.rev,
            kind: a.kind,
            severity: a.severity,
            state: a.state,
            time: a.time,
            raised: a.raised,
            count: a.count,
            status: partner_status(detail, v.life.status),
            facility: a.facility.clone(),
            sector: a.sector.clone(),
            summary: plain_summary(a),
        };
        match detail {
            Detail::None => None,
            Detail::Summary => {
                // Placed at its facility when the organisation may see where the facility is.
                let pos = a
                    .facility
                    .as_ref()
                    .filter(|_| o.facilities >= Detail::Coarse)
                    .and_then(|f| self.facilities.get(f).copied());
                Some(Released {
                    out: Out::Alert(AlertOut::Summary(summary)),
                    detail,
                    pos,
                    radius_m: ALERT_AREA_M,
                })
            }
            Detail::Coarse => {
                let c = lonlat(&a.pos)?.snap(o.coarsen_m);
                Some(Released {
                    out: Out::Alert(AlertOut::Coarse(CoarseAlert {
                        base: summary,
                        lon: c.lon,
                        lat: c.lat,
                        class: a.class,
                        ddr: a.ddr.as_ref().map(|d| CoarseDdr {
                            first_detected: d.first_detected,
                            time_to_line_s: d.time_to_line_s,
                        }),
                    })),
                    detail,
                    pos: Some(c),
                    radius_m: cell_radius(o.coarsen_m),
                })
            }
            Detail::Full => {
                let tracks = a
                    .tracks
                    .iter()
                    .map(|t| self.ids.public(IdKind::Track, &o.id, *t))
                    .collect();
                Some(Released {
                    out: Out::Alert(AlertOut::Full(Box::new(FullAlert {
                        id,
                        tracks,
                        view: AlertView {
                            alert: v.alert.clone(),
                            life: life_for(&o.id, &v.life),
                        },
                    }))),
                    detail,
                    pos: lonlat(&a.pos),
                    radius_m: ALERT_AREA_M,
                })
            }
        }
    }

    fn facility(&self, o: &Org, f: &FacilityView) -> Option<Released> {
        let (out, pos) = match o.facilities {
            Detail::None => return None,
            Detail::Summary => (
                FacilityOut::Summary(FacilitySummary {
                    id: f.id.clone(),
                    name: f.name.clone(),
                    status: f.status,
                    population: f.population,
                    exits: f.exits,
                    estimate: f.estimate,
                }),
                None,
            ),
            Detail::Coarse | Detail::Full => {
                // The note is a field of the facility (the site's `facility_writes` says who
                // may set it, for everyone released the facility to read); who set it is
                // named as for alerts.
                let (changed_by, _) = attribution_for(&o.id, f.changed_by.as_deref(), None);
                (
                    FacilityOut::Full(FacilityView {
                        changed_by,
                        ..f.clone()
                    }),
                    Some(LonLat::new(f.lon, f.lat)),
                )
            }
        };
        Some(Released {
            out: Out::Facility(out),
            detail: o.facilities,
            pos,
            radius_m: f.radius_m,
        })
    }
}

/// A summary line with no sensor, track or unit names, for summary and coarse releases.
fn plain_summary(a: &AlertRecord) -> String {
    let place = a
        .facility
        .as_deref()
        .or(a.sector.as_deref())
        .map(|s| format!(" at {s}"))
        .unwrap_or_default();
    format!(
        "{}{place}: {} ({:?})",
        a.kind.name().replace('_', " "),
        a.count,
        a.severity
    )
    .to_lowercase()
}

fn lonlat(p: &Position) -> Option<LonLat> {
    match *p {
        Position::LonLat { lon, lat } => Some(LonLat { lon, lat }),
        Position::Local { .. } => None,
    }
}

/// The circle around a coarse cell's centre that covers the whole cell.
fn cell_radius(grid_m: f64) -> f64 {
    grid_m * std::f64::consts::FRAC_1_SQRT_2
}

/// One sigma of a position covariance's larger axis, metres.
fn sigma_m(c: &[f64; 3]) -> f64 {
    let (a, b, d) = (c[0], c[1], c[2]);
    let mean = (a + d) / 2.0;
    let half = (((a - d) / 2.0).powi(2) + b * b).sqrt();
    (mean + half).max(0.0).sqrt()
}

#[doc(hidden)]
/// A track record's released form for tests: the full release of `rec` to `org`.
pub fn track_item(rec: TrackRecord) -> Item {
    Item::Track(std::sync::Arc::new(TrackItem {
        rec,
        hostile_in: Vec::new(),
    }))
}

/// The life-cycle state an organisation released an alert below full detail sees: whether it
/// is resolved, not when another organisation acknowledged it or sent a unit.
fn partner_status(detail: Detail, status: Lifecycle) -> Lifecycle {
    match (detail, status) {
        (Detail::Full, s) => s,
        (_, Lifecycle::Resolved) => Lifecycle::Resolved,
        _ => Lifecycle::New,
    }
}

/// The life cycle as organisation `org` sees it in full: who changed it and the note as
/// [`attribution_for`] gives them.
fn life_for(org: &str, life: &AlertLife) -> AlertLife {
    let (changed_by, note) = attribution_for(org, life.changed_by.as_deref(), life.note.as_deref());
    AlertLife {
        changed_by,
        note,
        ..life.clone()
    }
}

/// Who changed something (`org/token:N`, `org/user:NAME`) and their note, as organisation
/// `org` is given them: in full when it was `org` itself; otherwise the organisation only
/// (never another organisation's token number or user name) and no note.
fn attribution_for(
    org: &str,
    changed_by: Option<&str>,
    note: Option<&str>,
) -> (Option<String>, Option<String>) {
    let by_org = changed_by.and_then(|c| c.split('/').next());
    if by_org == Some(org) {
        return (changed_by.map(str::to_string), note.map(str::to_string));
    }
    (by_org.map(str::to_string), None)
}
