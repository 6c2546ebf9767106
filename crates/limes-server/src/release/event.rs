//! Assessed events as an organisation receives them. An event is an assessment of the sensors:
//! which cameras watched the place, how far off, whether they worked, what the tracker saw. So
//! it is released only to an organisation that receives the alert it would have been (the kind
//! that alarm raises, [`EventSource::alert_kind`], at the event's place, by `Policy::detail_at`)
//! in full *and* is released the site's sensors; to any other it does not exist, because even
//! its existence (or its reason) shows where cameras were covering and working. It goes out
//! under an opaque per-organisation id (`e…`), with the assessment (cameras, expected
//! detections, the tracks judged under opaque ids), so every downgrade can be explained.

use limes_core::record::{
    AlertKind, AssessReason, CameraView, EventRecord, EventSource, Position, Time,
};
use limes_core::site::{Detail, Geometry, Org};
use serde::{Serialize, Serializer};

use super::{lonlat, IdKind, Out, Policy, Released, ALERT_AREA_M};

/// An event as released (only ever in full: see the module's note).
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum EventOut {
    /// Everything, with the assessment.
    Full(Box<FullEvent>),
}

impl EventOut {
    pub(super) fn base_id(&self) -> &str {
        match self {
            EventOut::Full(e) => &e.id,
        }
    }

    /// Why it was kept from the operators.
    pub fn reason(&self) -> AssessReason {
        match self {
            EventOut::Full(e) => e.rec.assessment.reason,
        }
    }
}

/// An event in full, under opaque event, alert and track ids.
#[derive(Clone, Debug, PartialEq)]
pub struct FullEvent {
    /// Opaque id.
    pub id: String,
    /// The opaque id of the held approach alert it belongs to, if any.
    pub alert: Option<String>,
    /// The opaque ids of the tracks the assessment judged.
    pub tracks: Vec<String>,
    /// The record (its internal ids are never sent).
    pub rec: EventRecord,
}

/// How the alarm was assessed, as sent: the record's assessment under opaque track ids.
#[derive(Serialize, utoipa::ToSchema)]
struct AssessmentWire<'a> {
    /// The decision's reason.
    reason: AssessReason,
    /// Seconds the cameras were watched for a cause.
    window_s: f64,
    /// Detections of a person there the working cameras should have made in the window.
    expected_detections: f64,
    /// Cameras in range of the place (offline ones with `working_s` 0).
    cameras: &'a [CameraView],
    /// Tracks seen there and judged (opaque ids).
    tracks: &'a [String],
    /// One line for people.
    detail: &'a str,
}

#[derive(Serialize, utoipa::ToSchema)]
struct FullEventWire<'a> {
    id: &'a str,
    kind: AlertKind,
    source: EventSource,
    reason: AssessReason,
    time: Time,
    decided: Time,
    #[serde(flatten)]
    pos: &'a Position,
    #[serde(skip_serializing_if = "Option::is_none")]
    sector: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sensor: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    zone: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    alert: Option<&'a str>,
    assessment: AssessmentWire<'a>,
    summary: &'a str,
}

impl utoipa::PartialSchema for FullEvent {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        <FullEventWire<'static> as utoipa::PartialSchema>::schema()
    }
}

impl utoipa::ToSchema for FullEvent {
    fn schemas(
        schemas: &mut Vec<(
            String,
            utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
        )>,
    ) {
        <FullEventWire<'static> as utoipa::ToSchema>::schemas(schemas);
    }
}

impl Serialize for FullEvent {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let e = &self.rec;
        let a = &e.assessment;
        FullEventWire {
            id: &self.id,
            kind: e.source.alert_kind(),
            source: e.source,
            reason: a.reason,
            time: e.time,
            decided: e.decided,
            pos: &e.pos,
            sector: e.sector.as_deref(),
            sensor: e.sensor.as_deref(),
            zone: e.zone.as_deref(),
            alert: self.alert.as_deref(),
            assessment: AssessmentWire {
                reason: a.reason,
                window_s: a.window_s,
                expected_detections: a.expected_detections,
                cameras: &a.cameras,
                tracks: &self.tracks,
                detail: &a.detail,
            },
            summary: &e.summary,
        }
        .serialize(s)
    }
}

impl Policy {
    /// Whether `org` receives events of this source at `pos` (always in full): whether it
    /// receives that alert in full and is released the site's sensors. The one rule for the
    /// events it reads and the events counted beside its nuisance resolutions.
    pub fn full_event_at(&self, org: &str, source: EventSource, pos: &Position) -> bool {
        self.orgs
            .get(org)
            .is_some_and(|o| self.sees_events(o, source, pos))
    }

    /// Whether `org` could receive any event at all (so a listing for one that cannot need not
    /// read the table to find nothing).
    pub fn may_see_events(&self, org: &str) -> bool {
        self.orgs.get(org).is_some_and(|o| {
            o.sees(Geometry::Sensors)
                && o.alerts == Detail::Full
                && EventSource::ALL
                    .iter()
                    .any(|s| o.receives_kind(s.alert_kind()))
        })
    }

    fn sees_events(&self, o: &Org, source: EventSource, pos: &Position) -> bool {
        o.sees(Geometry::Sensors)
            && self.detail_at(o, source.alert_kind(), pos) == Some(Detail::Full)
    }

    /// Whether `org` receives this event in full.
    pub fn full_event(&self, org: &str, e: &EventRecord) -> bool {
        self.full_event_at(org, e.source, &e.pos)
    }

    pub(super) fn event(&self, o: &Org, e: &EventRecord) -> Option<Released> {
        if !self.sees_events(o, e.source, &e.pos) {
            return None;
        }
        let id = self.ids.public(IdKind::Event, &o.id, e.id);
        let tracks = e
            .assessment
            .tracks
            .iter()
            .map(|t| self.ids.public(IdKind::Track, &o.id, *t))
            .collect();
        let alert = e.alert.map(|a| self.ids.public(IdKind::Alert, &o.id, a));
        Some(Released {
            out: Out::Event(EventOut::Full(Box::new(FullEvent {
                id,
                alert,
                tracks,
                rec: e.clone(),
            }))),
            detail: Detail::Full,
            pos: lonlat(&e.pos),
            radius_m: ALERT_AREA_M,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::release::{AlertView, Ids, Item};
    use limes_core::geo::LonLat;
    use limes_core::record::{AlertRecord, Assessment};
    use std::sync::Arc;

    fn event(source: EventSource, p: LonLat) -> EventRecord {
        EventRecord {
            id: 9,
            source,
            time: Time(1_570_000_000.0),
            decided: Time(1_570_000_060.0),
            pos: Position::LonLat {
                lon: p.lon,
                lat: p.lat,
            },
            sector: Some("S011".into()),
            sensor: Some("fc022".into()),
            zone: Some("fc022/z13".into()),
            alert: (source == EventSource::Approach).then_some(4),
            assessment: Assessment {
                reason: AssessReason::NothingSeen,
                window_s: 60.0,
                expected_detections: 29.0,
                cameras: vec![CameraView {
                    sensor: "t020-cam".into(),
                    range_m: 559.0,
                    pd: 0.92,
                    working_s: 60.0,
                }],
                tracks: vec![17],
                detail: "nothing there".into(),
            },
            summary: "Fence climb at fc022/z13 assessed: nothing there".into(),
        }
    }

    /// The alert the event would have been, as the rules would have raised it.
    fn alert_of(e: &EventRecord) -> AlertView {
        let v = serde_json::json!({
            "id": 4, "rev": 1, "kind": e.source.alert_kind(), "severity": "low", "state": "open",
            "time": e.time, "raised": e.time, "pos_placeholder": 0, "count": 1,
            "sector": e.sector, "sensors": e.sensor.iter().collect::<Vec<_>>(), "tracks": [],
            "summary": "x",
        });
        let mut a: serde_json::Map<String, serde_json::Value> =
            serde_json::from_value(v).expect("object");
        a.remove("pos_placeholder");
        let pos = serde_json::to_value(e.pos).expect("pos");
        a.extend(pos.as_object().expect("object").clone());
        let alert: AlertRecord = serde_json::from_value(a.into()).expect("an alert");
        AlertView {
            alert,
            life: Default::default(),
        }
    }

    #[test]
    fn a_life_cycle_change_reaches_only_those_given_the_alert_in_full_until_it_is_resolved() {
        // An acknowledgement or assignment published to a partner given the alert below full
        // was the same alert again ("new"), which told it when the change was made.
        use crate::release::Lifecycle;
        let site = limes_core::site::open("ain-issa").expect("site");
        let policy = Policy::new(&site, Ids::new([3; 16]));
        let p = site.sensors[0].pos;
        let mut a = alert_of(&event(EventSource::FenceClimb, p));
        a.alert.kind = AlertKind::MassBreakout;
        let (mut full, mut reduced) = (0, 0);
        for o in &site.orgs {
            let Some(r) = policy.release(&o.id, &Item::Alert(Arc::new(a.clone()))) else {
                continue;
            };
            for status in [
                Lifecycle::Acknowledged,
                Lifecycle::Assigned,
                Lifecycle::Resolved,
            ] {
                let mut changed = a.clone();
                changed.life.status = status;
                let life = policy.release(&o.id, &Item::AlertLife(Arc::new(changed)));
                let want = r.detail == Detail::Full || status == Lifecycle::Resolved;
                assert_eq!(life.is_some(), want, "{} {status:?}", o.id);
            }
            full += usize::from(r.detail == Detail::Full);
            reduced += usize::from(r.detail != Detail::Full);
        }
        assert!(full > 0 && reduced > 0, "{full} full, {reduced} reduced");
    }

    #[test]
    fn every_organisation_gets_an_event_exactly_as_it_gets_the_alert_it_would_have_been() {
        for name in ["frontier", "ain-issa"] {
            let site = limes_core::site::open(name).expect("site");
            let policy = Policy::new(&site, Ids::new([3; 16]));
            let mut places: Vec<LonLat> = site.sensors.iter().map(|s| s.pos).collect();
            places.push(LonLat::new(10.0, 50.0));
            let mut seen = std::collections::BTreeSet::new();
            for o in &site.orgs {
                for source in EventSource::ALL {
                    for p in &places {
                        let e = event(source, *p);
                        let a = alert_of(&e);
                        let ev = policy.release(&o.id, &Item::Event(Arc::new(e.clone())));
                        let al = policy.release(&o.id, &Item::Alert(Arc::new(a.clone())));
                        let what = format!("{name}: {} {source:?} at {p:?}", o.id);
                        // In full where the alert is full and the sensors are released;
                        // otherwise not at all.
                        let full_alert = al.as_ref().is_some_and(|r| r.detail == Detail::Full);
                        assert_eq!(
                            ev.as_ref().map(|r| (r.detail, r.pos, r.radius_m)),
                            al.as_ref()
                                .filter(|_| full_alert && o.sees(Geometry::Sensors))
                                .map(|r| (r.detail, r.pos, r.radius_m)),
                            "{what}"
                        );
                        assert_eq!(
                            policy.full_event(&o.id, &e),
                            policy.full_alert(&o.id, &a) && o.sees(Geometry::Sensors),
                            "{what}"
                        );
                        assert!(ev.is_none() || policy.may_see_events(&o.id), "{what}");
                        let Some(r) = ev else { continue };
                        seen.insert(r.detail);
                        let json = serde_json::to_value(&r.out).expect("json");
                        let id = json["id"].as_str().expect("id");
                        assert!(id.starts_with('e') && id.len() == 33, "{what}: {json}");
                        assert_eq!(json["kind"], serde_json::json!(source.alert_kind()));
                        assert_eq!(r.detail, Detail::Full, "{what}");
                        assert_eq!(json["assessment"]["cameras"][0]["sensor"], "t020-cam");
                        let t = json["assessment"]["tracks"][0].as_str().expect("track");
                        assert!(t.starts_with('t') && t.len() == 33, "{what}: {json}");
                    }
                }
            }
            assert!(seen.contains(&Detail::Full), "{name}: {seen:?}");
        }
    }
}
