//! Alert scoring: match alerts to staged incidents, classify the rest as nuisance or false.

use serde::Serialize;
use std::collections::BTreeMap;

use super::{to_xy, EvalConfig};
use crate::geo::{dist, LocalFrame, Xy};
use crate::record::{AlertKind, AlertRecord, Incident, IncidentKind, TruthRecord, TruthState};

/// What an alert turned out to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// It matches a real incident, or was raised (or became its final kind) within
    /// `nuisance_m` of real infiltrators or escapees (their crossing after the scored night,
    /// or a second alert about them).
    True,
    /// A real but harmless stimulus caused it (animals, herders, wind, traffic).
    Nuisance,
    /// Nothing real caused it.
    False,
}

/// One alert's score.
#[derive(Clone, Debug, Serialize)]
pub struct AlertScore {
    /// Alert identifier.
    pub id: u64,
    /// Final kind.
    pub kind: AlertKind,
    /// Outcome.
    pub outcome: Outcome,
    /// Incident it matched.
    pub incident: Option<u64>,
    /// Revisions published.
    pub revisions: u32,
}

/// One staged incident's score.
#[derive(Clone, Debug, Serialize)]
pub struct IncidentScore {
    /// Incident identifier.
    pub id: u64,
    /// Kind.
    pub kind: IncidentKind,
    /// Start time.
    pub time: f64,
    /// People (or sensors) involved.
    pub count: u32,
    /// True when an alert of the right kind was raised.
    pub detected: bool,
    /// Seconds from the incident to the alert of the right kind.
    pub time_to_alert_s: Option<f64>,
    /// Seconds from the incident to the first alert about it of any kind (negative: warned before).
    pub first_warning_s: Option<f64>,
    /// The alert's final count estimate.
    pub count_estimate: Option<u32>,
    /// Alerts that matched it.
    pub alerts: Vec<u64>,
    /// The adversarial scenario that staged it, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scenario: Option<String>,
}

fn family_frontier(k: AlertKind) -> bool {
    matches!(
        k,
        AlertKind::Approach | AlertKind::FenceCut | AlertKind::Infiltration
    )
}

/// Scores every alert and incident.
pub fn score(
    cfg: &EvalConfig,
    frame: Option<LocalFrame>,
    truth: &[TruthRecord],
    alerts: &[AlertRecord],
    samples: &[(f64, Vec<TruthState>)],
) -> (Vec<AlertScore>, Vec<IncidentScore>) {
    let mut by_id: BTreeMap<u64, Vec<&AlertRecord>> = BTreeMap::new();
    for a in alerts {
        by_id.entry(a.id).or_default().push(a);
    }
    let incidents: Vec<&Incident> = truth
        .iter()
        .filter_map(|r| match r {
            TruthRecord::Incident(i) => Some(i),
            _ => None,
        })
        .collect();
    let mut matched: BTreeMap<u64, u64> = BTreeMap::new();
    let mut inc_scores = Vec::new();
    for inc in incidents
        .iter()
        .filter(|i| i.kind != IncidentKind::FenceNuisance)
    {
        let ip = to_xy(frame, inc.pos);
        let t0 = inc.time.0;
        let mut hits: Vec<(u64, &Vec<&AlertRecord>)> = Vec::new();
        for (id, revs) in &by_id {
            let last = revs[revs.len() - 1];
            let ok = match inc.kind {
                IncidentKind::Infiltration | IncidentKind::Probing => {
                    family_frontier(last.kind)
                        && revs.iter().any(|r| {
                            dist(to_xy(frame, r.pos), ip) <= cfg.match_m
                                && r.time.0 >= t0 - cfg.match_before_s
                                && r.time.0 <= t0 + cfg.match_after_s
                        })
                }
                IncidentKind::Breakout => {
                    matches!(
                        last.kind,
                        AlertKind::MassBreakout | AlertKind::PerimeterBreach
                    ) && last.facility.as_deref() == inc.subject.as_deref()
                }
                IncidentKind::SensorOffline => {
                    last.kind == AlertKind::SensorOffline
                        && revs
                            .iter()
                            .any(|r| inc.subject.as_ref().is_some_and(|s| r.sensors.contains(s)))
                        && revs[0].raised.0 >= t0 - 60.0
                        && revs[0].raised.0 <= inc.end.0.max(t0 + cfg.match_after_s)
                }
                IncidentKind::FenceNuisance => false,
            };
            if ok {
                hits.push((*id, revs));
            }
        }
        // The kinds that count as alerting it: a probe (a cut, nobody across) is alerted by a
        // fence-cut alert or anything above it, or by an approach alert about the people at
        // the line (all there is when the fence does not sense the cut).
        let wanted: &[AlertKind] = match inc.kind {
            IncidentKind::Infiltration => &[AlertKind::Infiltration],
            IncidentKind::Probing => &[
                AlertKind::FenceCut,
                AlertKind::Infiltration,
                AlertKind::Approach,
            ],
            IncidentKind::Breakout => &[AlertKind::MassBreakout],
            _ => &[AlertKind::SensorOffline],
        };
        let first_of_kind = hits
            .iter()
            .filter_map(|(_, revs)| {
                revs.iter()
                    .find(|r| wanted.contains(&r.kind))
                    .map(|r| r.time.0)
            })
            .min_by(f64::total_cmp);
        let first_any = hits
            .iter()
            .map(|(_, revs)| revs[0].raised.0)
            .min_by(f64::total_cmp);
        let count_estimate = hits
            .iter()
            .filter(|(_, revs)| wanted.contains(&revs[revs.len() - 1].kind))
            .map(|(_, revs)| revs[revs.len() - 1].count)
            .max();
        for (id, _) in &hits {
            matched.entry(*id).or_insert(inc.id);
        }
        inc_scores.push(IncidentScore {
            id: inc.id,
            kind: inc.kind,
            time: t0,
            count: inc.count,
            detected: first_of_kind.is_some(),
            time_to_alert_s: first_of_kind.map(|t| t - t0),
            first_warning_s: first_any.map(|t| t - t0),
            count_estimate,
            alerts: hits.iter().map(|h| h.0).collect(),
            scenario: inc.scenario.clone(),
        });
    }
    let nuisances: Vec<(Xy, f64)> = incidents
        .iter()
        .filter(|i| i.kind == IncidentKind::FenceNuisance)
        .map(|i| (to_xy(frame, i.pos), i.time.0))
        .collect();
    let alert_scores = by_id
        .iter()
        .map(|(id, revs)| {
            let first = revs[0];
            let last = revs[revs.len() - 1];
            let outcome = if matched.contains_key(id) {
                Outcome::True
            } else {
                let p = to_xy(frame, first.pos);
                let t = first.raised.0;
                // Raised by a fence alarm (or, for the baselines, by no track at all) where
                // wind or an animal shook the fence.
                let fence_nuisance = (last.kind == AlertKind::FenceCut || first.tracks.is_empty())
                    && nuisances
                        .iter()
                        .any(|(q, tq)| dist(*q, p) < 400.0 && (t - tq).abs() < 120.0);
                // What was there when it was raised, and when it became what it ended as (an
                // approach held for hours before it escalated is about what crossed then).
                let became = revs.iter().find(|r| r.kind == last.kind).unwrap_or(&first);
                let looks = [(t, p), (became.time.0, to_xy(frame, became.pos))];
                let near = |threat: bool| {
                    looks.iter().any(|&(t, p)| {
                        nearest_sample(samples, t).is_some_and(|s| {
                            s.iter().any(|x| {
                                x.role.is_threat() == threat
                                    && dist(to_xy(frame, x.pos), p) <= cfg.nuisance_m
                            })
                        })
                    })
                };
                if near(true) {
                    // About real infiltrators or escapees all the same: a group whose crossing
                    // falls after the night's end, or a second alert about a group.
                    Outcome::True
                } else if fence_nuisance || near(false) {
                    Outcome::Nuisance
                } else {
                    Outcome::False
                }
            };
            AlertScore {
                id: *id,
                kind: last.kind,
                outcome,
                incident: matched.get(id).copied(),
                revisions: revs.len() as u32,
            }
        })
        .collect();
    (alert_scores, inc_scores)
}

pub(super) fn nearest_sample(
    samples: &[(f64, Vec<TruthState>)],
    t: f64,
) -> Option<&Vec<TruthState>> {
    let k = samples.partition_point(|s| s.0 < t);
    let cands = [k.checked_sub(1), Some(k)];
    cands
        .iter()
        .flatten()
        .filter_map(|&i| samples.get(i))
        .filter(|s| (s.0 - t).abs() <= 60.0)
        .min_by(|a, b| (a.0 - t).abs().total_cmp(&(b.0 - t).abs()))
        .map(|s| &s.1)
}

/// Last known position and kind of every alert, for the map.
pub fn final_positions(frame: Option<LocalFrame>, alerts: &[AlertRecord]) -> Vec<(Xy, AlertKind)> {
    let mut last: BTreeMap<u64, &AlertRecord> = BTreeMap::new();
    for a in alerts {
        last.insert(a.id, a);
    }
    last.values()
        .map(|a| (to_xy(frame, a.pos), a.kind))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{AlertState, ObjectClass, Position, Severity, Time, TruthRole};

    fn revision(rev: u32, kind: AlertKind, time: f64, raised: f64, x: f64) -> AlertRecord {
        AlertRecord {
            id: 7,
            rev,
            kind,
            severity: Severity::High,
            state: AlertState::Open,
            time: Time(time),
            raised: Time(raised),
            pos: Position::Local { x, y: 0.0 },
            count: 1,
            class: None,
            sector: None,
            facility: None,
            sensors: vec![],
            tracks: vec![1],
            ddr: None,
            summary: String::new(),
            assessment: None,
        }
    }

    fn animal_at(t: f64, x: f64) -> (f64, Vec<TruthState>) {
        let s = TruthState {
            id: 3,
            time: Time(t),
            pos: Position::Local { x, y: 0.0 },
            class: ObjectClass::Animal,
            role: TruthRole::Flock,
            visible: true,
        };
        (t, vec![s])
    }

    #[test]
    fn an_alert_escalated_hours_later_is_judged_where_it_escalated() {
        // Raised as an approach at 0 km beside nothing, escalated to an infiltration three
        // hours later 5 km on, where a flock was: a flock's nuisance, not a false alert.
        let alerts = [
            revision(1, AlertKind::Approach, 0.0, 0.0, 0.0),
            revision(2, AlertKind::Infiltration, 10_800.0, 0.0, 5_000.0),
        ];
        let samples = [animal_at(0.0, 20_000.0), animal_at(10_800.0, 5_050.0)];
        let (scores, _) = score(&EvalConfig::default(), None, &[], &alerts, &samples);
        assert_eq!(scores[0].outcome, Outcome::Nuisance);
        // With nothing real anywhere near it at either time, it is false.
        let empty = [animal_at(0.0, 20_000.0), animal_at(10_800.0, 20_000.0)];
        let (scores, _) = score(&EvalConfig::default(), None, &[], &alerts, &empty);
        assert_eq!(scores[0].outcome, Outcome::False);
    }
}
