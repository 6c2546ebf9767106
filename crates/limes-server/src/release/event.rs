//! Assessed events as an organisation receives them. An event is released exactly as the alert
//! it would have been: the kind that alarm raises ([`EventSource::alert_kind`]) at the event's
//! place, through the same rule (`Policy::detail_at`), at the same detail, with the position
//! coarsened the same way and an opaque per-organisation id (`e…`). In full it carries the
//! assessment (cameras, expected detections, the tracks judged, under opaque ids), so every
//! downgrade can be explained; below full, no sensor, zone, camera or track is named.

use limes_core::record::{
    AlertKind, AssessReason, CameraView, EventRecord, EventSource, Position, Time,
};
use limes_core::site::{Detail, Org};
use serde::{Serialize, Serializer};

use super::{cell_radius, lonlat, IdKind, Out, Policy, Released, ALERT_AREA_M};

/// An event in full, coarsened or as a summary.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum EventOut {
    /// Everything, with the assessment.
    Full(Box<FullEvent>),
    /// The summary plus a snapped position.
    Coarse(CoarseEvent),
    /// Source, reason, times, sector and a plain summary.
    Summary(SummaryEvent),
}

impl EventOut {
    pub(super) fn base_id(&self) -> &str {
        match self {
            EventOut::Full(e) => &e.id,
            EventOut::Coarse(e) => &e.base.id,
            EventOut::Summary(e) => &e.id,
        }
    }

    /// Why it was kept from the operators.
    pub fn reason(&self) -> AssessReason {
        match self {
            EventOut::Full(e) => e.rec.assessment.reason,
            EventOut::Coarse(e) => e.base.reason,
            EventOut::Summary(e) => e.reason,
        }
    }
}

/// The fields of an event every detail carries; no position, sensor, zone, camera or track.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct SummaryEvent {
    /// Opaque id.
    pub id: String,
    /// The kind of alert it would have been.
    pub kind: AlertKind,
    /// What raised it.
    pub source: EventSource,
    /// Why it was kept from the operators.
    pub reason: AssessReason,
    /// Time of the alarm (or of the approach).
    pub time: Time,
    /// Time of the decision.
    pub decided: Time,
    /// Frontier sector, if on the frontier.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sector: Option<String>,
    /// A plain line with no sensor, zone, camera or track names.
    pub summary: String,
}

/// A coarsened event.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct CoarseEvent {
    /// The summary fields.
    #[serde(flatten)]
    pub base: SummaryEvent,
    /// Longitude of the grid cell's centre.
    pub lon: f64,
    /// Latitude of the grid cell's centre.
    pub lat: f64,
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
    /// Whether `org` receives events of this source at `pos` in full (the condition for
    /// counting them beside its nuisance resolutions): whether it receives that alert in full.
    pub fn full_event_at(&self, org: &str, source: EventSource, pos: &Position) -> bool {
        self.orgs
            .get(org)
            .and_then(|o| self.detail_at(o, source.alert_kind(), pos))
            .is_some_and(|d| d == Detail::Full)
    }

    /// Whether `org` receives this event in full.
    pub fn full_event(&self, org: &str, e: &EventRecord) -> bool {
        self.full_event_at(org, e.source, &e.pos)
    }

    pub(super) fn event(&self, o: &Org, e: &EventRecord) -> Option<Released> {
        let detail = self.detail_at(o, e.source.alert_kind(), &e.pos)?;
        let id = self.ids.public(IdKind::Event, &o.id, e.id);
        let summary = SummaryEvent {
            id: id.clone(),
            kind: e.source.alert_kind(),
            source: e.source,
            reason: e.assessment.reason,
            time: e.time,
            decided: e.decided,
            sector: e.sector.clone(),
            summary: plain_summary(e),
        };
        match detail {
            Detail::None => None,
            Detail::Summary => Some(Released {
                out: Out::Event(EventOut::Summary(summary)),
                detail,
                pos: None,
                radius_m: ALERT_AREA_M,
            }),
            Detail::Coarse => {
                let c = lonlat(&e.pos)?.snap(o.coarsen_m);
                Some(Released {
                    out: Out::Event(EventOut::Coarse(CoarseEvent {
                        base: summary,
                        lon: c.lon,
                        lat: c.lat,
                    })),
                    detail,
                    pos: Some(c),
                    radius_m: cell_radius(o.coarsen_m),
                })
            }
            Detail::Full => {
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
                    detail,
                    pos: lonlat(&e.pos),
                    radius_m: ALERT_AREA_M,
                })
            }
        }
    }
}

/// A summary line with no sensor, zone, camera or track names, for summary and coarse releases.
fn plain_summary(e: &EventRecord) -> String {
    let place = e
        .sector
        .as_deref()
        .map(|s| format!(" at {s}"))
        .unwrap_or_default();
    format!(
        "{}{place} assessed: {}",
        e.source.name().replace('_', " "),
        e.assessment.reason.name().replace('_', " ")
    )
    .to_lowercase()
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
                        assert_eq!(
                            ev.as_ref().map(|r| (r.detail, r.pos, r.radius_m)),
                            al.as_ref().map(|r| (r.detail, r.pos, r.radius_m)),
                            "{what}"
                        );
                        assert_eq!(
                            policy.full_event(&o.id, &e),
                            policy.full_alert(&o.id, &a),
                            "{what}"
                        );
                        let Some(r) = ev else { continue };
                        seen.insert(r.detail);
                        let json = serde_json::to_value(&r.out).expect("json");
                        let id = json["id"].as_str().expect("id");
                        assert!(id.starts_with('e') && id.len() == 33, "{what}: {json}");
                        assert_eq!(json["kind"], serde_json::json!(source.alert_kind()));
                        let text = json.to_string();
                        if r.detail == Detail::Full {
                            assert_eq!(json["assessment"]["cameras"][0]["sensor"], "t020-cam");
                            let t = json["assessment"]["tracks"][0].as_str().expect("track");
                            assert!(t.starts_with('t') && t.len() == 33, "{what}: {json}");
                        } else {
                            for leak in ["fc022", "t020", "assessment", "sensor", "zone"] {
                                assert!(!text.contains(leak), "{what}: {leak} in {text}");
                            }
                        }
                        if r.detail == Detail::Summary {
                            assert!(json.get("lon").is_none(), "{what}: {json}");
                        }
                    }
                }
            }
            assert!(seen.contains(&Detail::Full), "{name}: {seen:?}");
            if name == "ain-issa" {
                assert!(seen.contains(&Detail::Coarse), "{name}: {seen:?}");
            }
        }
    }
}
