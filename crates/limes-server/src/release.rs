//! The release policy: the one function that decides what each organisation receives of each
//! item, at what detail. Every read path (REST, stream, CoT, CAP, webhooks) serialises only what
//! [`Policy::release`] returns, so no path can leak more than the site file allows.

use limes_core::geo::{LocalFrame, LonLat, Polyline};
use limes_core::record::{AlertRecord, Position, TrackRecord};
use limes_core::site::{Detail, FrontierSide, Org, Site};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::HashMap;

/// An alert with its life cycle, as the store and the hub hold it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlertView {
    /// The latest revision from the rules.
    #[serde(flatten)]
    pub alert: AlertRecord,
    /// Life-cycle state set by operators.
    pub status: Lifecycle,
    /// Response unit assigned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// Why it was resolved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution: Option<String>,
    /// Operator's note.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Who made the last life-cycle change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changed_by: Option<String>,
}

/// Where an alert is in its life: new → acknowledged → assigned → resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lifecycle {
    /// Nobody has looked at it.
    New,
    /// An operator has seen it.
    Acknowledged,
    /// A response unit is on it.
    Assigned,
    /// Closed by an operator, with a reason.
    Resolved,
}

/// A facility's live status: the site's record, operators' updates and the rules' estimate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FacilityView {
    /// Identifier.
    pub id: String,
    /// Name.
    pub name: String,
    /// Status (`secure`, `degraded`, `breached`, `abandoned`).
    pub status: String,
    /// Population on record (site file, or the last head count).
    pub population: u32,
    /// Estimated people who left since that count.
    pub exits: u32,
    /// Estimated population now.
    pub estimate: u32,
    /// Guards on duty, as last reported.
    pub guards: u32,
    /// Operator's note.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Who made the last change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changed_by: Option<String>,
    /// Centre of the facility.
    pub lon: f64,
    /// Centre of the facility.
    pub lat: f64,
}

/// Anything the server publishes.
#[derive(Clone, Debug)]
pub enum Item {
    /// A track state.
    Track(TrackRecord),
    /// An alert (latest revision and life cycle).
    Alert(Box<AlertView>),
    /// A facility's status.
    Facility(FacilityView),
}

/// The three kinds of data the policy distinguishes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DataKind {
    /// Tracks.
    Track,
    /// Alerts.
    Alert,
    /// Facility status.
    Facility,
}

impl Item {
    /// The item's kind.
    pub fn kind(&self) -> DataKind {
        match self {
            Item::Track(_) => DataKind::Track,
            Item::Alert(_) => DataKind::Alert,
            Item::Facility(_) => DataKind::Facility,
        }
    }
}

/// What one organisation may see of one item.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Released {
    /// Kind of data.
    pub kind: DataKind,
    /// The detail it was released at.
    pub detail: Detail,
    /// Position as released (coarsened where the policy says), if any.
    #[serde(skip)]
    pub pos: Option<LonLat>,
    /// The released fields.
    pub body: Value,
}

/// The site's release policy, ready to apply.
pub struct Policy {
    orgs: HashMap<String, Org>,
    frontier: Option<FrontierGeo>,
    facilities: HashMap<String, LonLat>,
}

struct FrontierGeo {
    frame: LocalFrame,
    line: Polyline,
    outside_sign: f64,
}

impl Policy {
    /// The policy of a site's `[[orgs]]`.
    pub fn new(site: &Site) -> Self {
        let frontier = site.frontier.as_ref().map(|f| {
            let frame = LocalFrame::new(f.line[f.line.len() / 2]);
            let line = Polyline::new(f.line.iter().map(|p| frame.to_local(*p)).collect());
            FrontierGeo {
                frame,
                line,
                outside_sign: f.outside.sign(),
            }
        });
        Self {
            orgs: site
                .orgs
                .iter()
                .map(|o| (o.id.clone(), o.clone()))
                .collect(),
            frontier,
            facilities: site
                .facilities
                .iter()
                .map(|f| (f.id.clone(), f.centre()))
                .collect(),
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

    /// What `org` may receive of `item`; `None` when nothing.
    pub fn release(&self, org: &str, item: &Item) -> Option<Released> {
        let o = self.orgs.get(org)?;
        match item {
            Item::Track(t) => self.track(o, t),
            Item::Alert(a) => self.alert(o, a),
            Item::Facility(f) => facility(o, f),
        }
    }

    /// Whether a position lies in `org`'s release area (anywhere when it has none; nowhere for
    /// an organisation the site does not name). The console's site geometry uses it.
    pub fn releases_position(&self, org: &str, p: LonLat) -> bool {
        self.orgs.get(org).is_some_and(|o| self.in_area(o, p))
    }

    fn in_area(&self, o: &Org, p: LonLat) -> bool {
        let Some(a) = &o.area else { return true };
        if let (Some(km), Some(f)) = (a.frontier_km, &self.frontier) {
            let Some(n) = f.line.nearest(f.frame.to_local(p)) else {
                return false;
            };
            let outside = n.signed * f.outside_sign > 0.0;
            let side_ok = match a.side {
                None => true,
                Some(FrontierSide::Outside) => outside,
                Some(FrontierSide::Inside) => !outside,
            };
            return side_ok && n.distance <= km * 1000.0;
        }
        if let (Some(id), Some(km)) = (&a.facility, a.facility_km) {
            return self
                .facilities
                .get(id)
                .is_some_and(|c| c.distance_m(&p) <= km * 1000.0);
        }
        false
    }

    fn track(&self, o: &Org, t: &TrackRecord) -> Option<Released> {
        let p = lonlat(&t.pos)?;
        if o.tracks < Detail::Coarse || !self.in_area(o, p) {
            return None;
        }
        if o.tracks == Detail::Full {
            return Some(Released {
                kind: DataKind::Track,
                detail: Detail::Full,
                pos: Some(p),
                body: serde_json::to_value(t).ok()?,
            });
        }
        let c = coarsen(p, o.coarsen_m);
        Some(Released {
            kind: DataKind::Track,
            detail: Detail::Coarse,
            pos: Some(c),
            body: json!({
                "id": t.id, "time": t.time, "status": t.status, "lon": c.lon, "lat": c.lat,
                "speed": (t.vel[0].hypot(t.vel[1]) * 2.0).round() / 2.0,
                "class": t.class.best(), "first_seen": t.first_seen,
            }),
        })
    }

    fn alert(&self, o: &Org, v: &AlertView) -> Option<Released> {
        let a = &v.alert;
        if !o.receives_kind(a.kind) {
            return None;
        }
        let p = lonlat(&a.pos);
        if o.alerts >= Detail::Coarse && !p.is_some_and(|p| self.in_area(o, p)) {
            return None;
        }
        let mut body = json!({
            "id": a.id, "rev": a.rev, "kind": a.kind, "severity": a.severity, "state": a.state,
            "time": a.time, "raised": a.raised, "count": a.count, "status": v.status,
        });
        if let Some(f) = &a.facility {
            body["facility"] = json!(f);
        }
        if let Some(s) = &a.sector {
            body["sector"] = json!(s);
        }
        match o.alerts {
            Detail::None => None,
            Detail::Summary => {
                body["summary"] = json!(plain_summary(a));
                Some(Released {
                    kind: DataKind::Alert,
                    detail: Detail::Summary,
                    pos: None,
                    body,
                })
            }
            Detail::Coarse => {
                let c = coarsen(p?, o.coarsen_m);
                body["lon"] = json!(c.lon);
                body["lat"] = json!(c.lat);
                body["class"] = json!(a.class);
                body["summary"] = json!(plain_summary(a));
                if let Some(d) = &a.ddr {
                    body["ddr"] = json!({"first_detected": d.first_detected, "time_to_line_s": d.time_to_line_s});
                }
                Some(Released {
                    kind: DataKind::Alert,
                    detail: Detail::Coarse,
                    pos: Some(c),
                    body,
                })
            }
            Detail::Full => Some(Released {
                kind: DataKind::Alert,
                detail: Detail::Full,
                pos: p,
                body: serde_json::to_value(v).ok()?,
            }),
        }
    }
}

fn facility(o: &Org, f: &FacilityView) -> Option<Released> {
    let body = match o.facilities {
        Detail::None => return None,
        Detail::Summary => json!({
            "id": f.id, "name": f.name, "status": f.status, "population": f.population,
            "exits": f.exits, "estimate": f.estimate,
        }),
        Detail::Coarse | Detail::Full => serde_json::to_value(f).ok()?,
    };
    Some(Released {
        kind: DataKind::Facility,
        detail: o.facilities,
        pos: Some(LonLat {
            lon: f.lon,
            lat: f.lat,
        }),
        body,
    })
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

/// Snaps a position to the centre of a `grid_m` square cell.
pub fn coarsen(p: LonLat, grid_m: f64) -> LonLat {
    const M_PER_DEG: f64 = 111_320.0;
    let dlat = grid_m / M_PER_DEG;
    let lat = ((p.lat / dlat).floor() + 0.5) * dlat;
    let dlon = grid_m / (M_PER_DEG * lat.to_radians().cos().max(0.01));
    let lon = ((p.lon / dlon).floor() + 0.5) * dlon;
    LonLat { lon, lat }
}
