//! Report figures per site, and the Markdown + JSON + SVG report.

use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::alerts::{AlertScore, IncidentScore, Outcome};
use super::plot::{self, MapData};
use super::{EvalConfig, GospaSample};
use crate::record::{AlertRecord, IncidentKind};

/// Alert counts of one kind.
#[derive(Clone, Debug, Default, Serialize)]
pub struct KindFigures {
    /// Alerts of this final kind.
    pub alerts: u32,
    /// Matched to a real incident.
    pub true_alerts: u32,
    /// Caused by a harmless stimulus.
    pub nuisance: u32,
    /// Caused by nothing.
    pub false_alerts: u32,
}

/// Detection figures for one incident kind.
#[derive(Clone, Debug, Default, Serialize)]
pub struct DetectionFigures {
    /// Incidents staged.
    pub staged: u32,
    /// Incidents alerted with the right kind.
    pub detected: u32,
    /// detected / staged.
    pub pd: Option<f64>,
    /// Median time to alert, seconds.
    pub tta_median_s: Option<f64>,
    /// 95th percentile time to alert, seconds.
    pub tta_p95_s: Option<f64>,
    /// Median first warning (any alert about it), seconds from the incident; negative: before.
    pub first_warning_median_s: Option<f64>,
}

impl DetectionFigures {
    /// Figures over a set of scored incidents.
    pub fn of(of: &[&IncidentScore]) -> Self {
        let mut tta: Vec<f64> = of.iter().filter_map(|i| i.time_to_alert_s).collect();
        let mut warn: Vec<f64> = of.iter().filter_map(|i| i.first_warning_s).collect();
        let detected = of.iter().filter(|i| i.detected).count() as u32;
        DetectionFigures {
            staged: of.len() as u32,
            detected,
            pd: (!of.is_empty()).then(|| detected as f64 / of.len() as f64),
            tta_median_s: percentile(&mut tta, 0.5),
            tta_p95_s: percentile(&mut tta, 0.95),
            first_warning_median_s: percentile(&mut warn, 0.5),
        }
    }
}

/// Everything measured on one site's run.
#[derive(Clone, Debug, Serialize)]
pub struct SiteFigures {
    /// Site name.
    pub site: String,
    /// Hours of simulated time scored.
    pub hours: f64,
    /// Frontier length, km (None for facility-only sites).
    pub frontier_km: Option<f64>,
    /// GOSPA cut-off c and order p.
    pub gospa_c: f64,
    /// GOSPA order.
    pub gospa_p: f64,
    /// Mean GOSPA distance over samples.
    pub gospa_mean: f64,
    /// Mean localisation part.
    pub gospa_localisation_mean: f64,
    /// Mean missed part.
    pub gospa_missed_mean: f64,
    /// Mean false part.
    pub gospa_false_mean: f64,
    /// Mean OSPA distance.
    pub ospa_mean: f64,
    /// Identity switches (a truth taken over by another track), Stone Soup's full switches.
    pub id_switches: u64,
    /// Half switches (a truth lost by its track, or picked up by one after being lost).
    pub half_switches: u64,
    /// Mean switching term (`switching_penalty` per full switch).
    pub switching_mean: f64,
    /// Stone Soup's switching penalty used, metres per full switch.
    pub switching_penalty: f64,
    /// Identity switches by the truth's role (animals in a flock swap tracks constantly).
    pub id_switches_by_role: BTreeMap<String, u64>,
    /// Mean of GOSPA divided by the number of visible truths (samples with any), metres.
    pub gospa_per_truth_mean: f64,
    /// Mean visible truths per sample.
    pub truths_mean: f64,
    /// Mean track estimates per sample.
    pub tracks_mean: f64,
    /// GOSPA samples.
    pub gospa_series: Vec<GospaSample>,
    /// Per incident kind.
    pub detection: BTreeMap<String, DetectionFigures>,
    /// Per adversarial scenario (`ordinary` for infiltrations no scenario staged).
    pub by_scenario: BTreeMap<String, DetectionFigures>,
    /// Per alert kind.
    pub alerts_by_kind: BTreeMap<String, KindFigures>,
    /// Nuisance alerts per 100 km per day (per site per day without a frontier).
    pub nuisance_rate: f64,
    /// False alerts per 100 km per day (per site per day without a frontier).
    pub false_rate: f64,
    /// Unit of the two rates.
    pub rate_unit: String,
    /// Assessed alarms kept from the operators (events), by assessment reason.
    pub events_by_reason: BTreeMap<String, u64>,
    /// |estimate − truth| / truth for the breakout count.
    pub breakout_count_error: Option<f64>,
    /// Class estimates over GOSPA-assigned pairs by truth role: person, vehicle, animal.
    pub class_confusion: BTreeMap<String, [u64; 3]>,
    /// Share of assigned pairs whose most likely class is the true one.
    pub class_accuracy: Option<f64>,
    /// The last revision of every alert: what the operator saw.
    pub alert_log: Vec<AlertRecord>,
    /// Incident scores.
    pub incidents: Vec<IncidentScore>,
    /// Alert scores.
    pub alerts: Vec<AlertScore>,
    #[serde(skip)]
    map: MapData,
}

/// The scenario an incident is reported under: its adversarial scenario, `ordinary` for an
/// infiltration nobody built to fool the system, none for other kinds.
pub fn scenario_name(i: &IncidentScore) -> Option<String> {
    match (&i.scenario, i.kind) {
        (Some(s), IncidentKind::Infiltration | IncidentKind::Probing) => Some(s.clone()),
        (None, IncidentKind::Infiltration) => Some("ordinary".into()),
        _ => None,
    }
}

/// The `q` quantile (nearest rank) of `v`, sorting it.
pub fn percentile(v: &mut [f64], q: f64) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let k = ((v.len() - 1) as f64 * q).round() as usize;
    Some(v[k])
}

/// What the evaluator scored, besides GOSPA, ready to be summarised.
pub(super) struct Scored {
    pub alerts: Vec<AlertScore>,
    pub incidents: Vec<IncidentScore>,
    pub confusion: BTreeMap<crate::record::TruthRole, [u64; 3]>,
    pub events: BTreeMap<String, u64>,
    pub switches_by_role: BTreeMap<crate::record::TruthRole, u64>,
    pub alert_log: Vec<AlertRecord>,
    pub map: MapData,
}

pub(super) fn figures(
    site: &str,
    frontier_km: Option<f64>,
    cfg: &EvalConfig,
    series: &[GospaSample],
    scored: Scored,
) -> SiteFigures {
    let Scored {
        alerts,
        incidents,
        confusion,
        events,
        switches_by_role,
        alert_log,
        map,
    } = scored;
    let n = series.len().max(1) as f64;
    let mean = |f: &dyn Fn(&GospaSample) -> f64| series.iter().map(f).sum::<f64>() / n;
    let hours = match (series.first(), series.last()) {
        (Some(a), Some(b)) => (b.t - a.t) / 3600.0,
        _ => 0.0,
    };
    let mut detection: BTreeMap<String, DetectionFigures> = BTreeMap::new();
    for kind in [
        IncidentKind::Infiltration,
        IncidentKind::Probing,
        IncidentKind::Breakout,
        IncidentKind::SensorOffline,
    ] {
        let of: Vec<&IncidentScore> = incidents.iter().filter(|i| i.kind == kind).collect();
        if of.is_empty() {
            continue;
        }
        detection.insert(
            serde_json::to_value(kind)
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default(),
            DetectionFigures::of(&of),
        );
    }
    let mut by_scenario: BTreeMap<String, Vec<&IncidentScore>> = BTreeMap::new();
    for i in &incidents {
        if let Some(name) = scenario_name(i) {
            by_scenario.entry(name).or_default().push(i);
        }
    }
    let by_scenario = if by_scenario.keys().any(|k| k != "ordinary") {
        by_scenario
            .into_iter()
            .map(|(k, v)| (k, DetectionFigures::of(&v)))
            .collect()
    } else {
        BTreeMap::new()
    };
    let mut by_kind: BTreeMap<String, KindFigures> = BTreeMap::new();
    for a in &alerts {
        let k = by_kind.entry(a.kind.name().to_string()).or_default();
        k.alerts += 1;
        match a.outcome {
            Outcome::True => k.true_alerts += 1,
            Outcome::Nuisance => k.nuisance += 1,
            Outcome::False => k.false_alerts += 1,
        }
    }
    let days = (hours / 24.0).max(1e-9);
    let (scale, unit) = match frontier_km {
        Some(km) => (100.0 / km.max(1e-9), "per 100 km per day"),
        None => (1.0, "per site per day"),
    };
    let count = |o: Outcome| alerts.iter().filter(|a| a.outcome == o).count() as f64;
    let breakout_count_error = incidents
        .iter()
        .find(|i| i.kind == IncidentKind::Breakout)
        .and_then(|i| {
            i.count_estimate
                .map(|e| (e as f64 - i.count as f64).abs() / i.count.max(1) as f64)
        });
    SiteFigures {
        site: site.to_string(),
        hours,
        frontier_km,
        gospa_c: cfg.gospa_c,
        gospa_p: cfg.gospa_p,
        gospa_mean: mean(&|s| s.g.distance),
        gospa_localisation_mean: mean(&|s| s.g.localisation),
        gospa_missed_mean: mean(&|s| s.g.missed),
        gospa_false_mean: mean(&|s| s.g.false_tracks),
        id_switches: series.iter().map(|s| u64::from(s.switching.full)).sum(),
        half_switches: series.iter().map(|s| u64::from(s.switching.half)).sum(),
        switching_mean: mean(&|s| s.switching.loss),
        switching_penalty: cfg.switching_penalty,
        id_switches_by_role: switches_by_role
            .iter()
            .map(|(r, n)| (r.name().to_string(), *n))
            .collect(),
        ospa_mean: mean(&|s| s.g.ospa),
        gospa_per_truth_mean: {
            let v: Vec<f64> = series
                .iter()
                .filter(|s| s.truths > 0)
                .map(|s| s.g.distance / s.truths as f64)
                .collect();
            v.iter().sum::<f64>() / v.len().max(1) as f64
        },
        truths_mean: mean(&|s| s.truths as f64),
        tracks_mean: mean(&|s| s.tracks as f64),
        gospa_series: series.to_vec(),
        detection,
        by_scenario,
        alerts_by_kind: by_kind,
        nuisance_rate: count(Outcome::Nuisance) * scale / days,
        false_rate: count(Outcome::False) * scale / days,
        rate_unit: unit.to_string(),
        events_by_reason: events,
        breakout_count_error,
        class_accuracy: {
            let total: u64 = confusion.values().flatten().sum();
            let right: u64 = confusion
                .iter()
                .map(|(role, c)| match role.class() {
                    crate::record::ObjectClass::Person => c[0],
                    crate::record::ObjectClass::Vehicle => c[1],
                    crate::record::ObjectClass::Animal => c[2],
                })
                .sum();
            (total > 0).then(|| right as f64 / total as f64)
        },
        class_confusion: confusion
            .into_iter()
            .map(|(r, c)| (r.name().to_string(), c))
            .collect(),
        alert_log,
        incidents,
        alerts,
        map,
    }
}

/// The whole report of a run over one or more sites.
#[derive(Serialize)]
pub struct Report {
    /// Title.
    pub title: String,
    /// The command that produced it.
    pub command: String,
    /// Per site.
    pub sites: Vec<SiteFigures>,
    /// Extra rows for the run summary (stage timings, throughput).
    pub notes: Vec<(String, String)>,
}

fn fmt_opt(v: Option<f64>, unit: &str) -> String {
    v.map_or("–".into(), |x| format!("{x:.0} {unit}"))
}

impl Report {
    /// Writes `report.md`, `report.json` and the SVG pictures into `dir`; returns the Markdown path.
    pub fn write(&self, dir: &Path) -> std::io::Result<PathBuf> {
        std::fs::create_dir_all(dir)?;
        let json = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        std::fs::write(dir.join("report.json"), json)?;
        let mut md = String::new();
        let _ = writeln!(md, "# {}\n\nProduced by `{}`.\n", self.title, self.command);
        if !self.notes.is_empty() {
            let _ = writeln!(md, "| run | |\n|---|---|");
            for (k, v) in &self.notes {
                let _ = writeln!(md, "| {k} | {v} |");
            }
            md.push('\n');
        }
        let mut tta_all = Vec::new();
        for s in &self.sites {
            let _ = writeln!(md, "## Site `{}` ({:.1} h scored)\n", s.site, s.hours);
            let _ = writeln!(
                md,
                "### Tracking\n\nGOSPA (c = {} m, p = {}, α = 2), mean over {} samples: **{:.1}** \
                 (localisation {:.1}, missed {:.1}, false {:.1}), i.e. {:.1} m per visible object; OSPA {:.1} m. \
                 Visible truths per sample {:.1}, track estimates {:.1}. \
                 Identity switches (Stone Soup's switching term between samples): **{}** full, {} half \
                 (switching term {:.1} per sample at {} m per switch); by role: {}.\n\n![GOSPA over time](gospa-{}.svg)\n",
                s.gospa_c, s.gospa_p, s.gospa_series.len(), s.gospa_mean, s.gospa_localisation_mean,
                s.gospa_missed_mean, s.gospa_false_mean, s.gospa_per_truth_mean, s.ospa_mean, s.truths_mean, s.tracks_mean,
                s.id_switches, s.half_switches, s.switching_mean, s.switching_penalty,
                s.id_switches_by_role.iter().map(|(r, n)| format!("{r} {n}")).collect::<Vec<_>>().join(", "), s.site
            );
            if let Some(acc) = s.class_accuracy {
                let _ = writeln!(
                    md,
                    "Most likely class of the tracks assigned to a truth: **{:.1} %** right.\n\n| truth role | → person | → vehicle | → animal |\n|---|---|---|---|",
                    acc * 100.0
                );
                for (role, c) in &s.class_confusion {
                    let _ = writeln!(md, "| {role} | {} | {} | {} |", c[0], c[1], c[2]);
                }
                md.push('\n');
            }
            let _ = writeln!(md, "### Detection\n\n| incident | staged | detected | Pd | time to alert median | p95 |\n|---|---|---|---|---|---|");
            for (k, d) in &s.detection {
                let _ = writeln!(
                    md,
                    "| {k} | {} | {} | {} | {} | {} |",
                    d.staged,
                    d.detected,
                    d.pd.map_or("–".into(), |p| format!("{:.0} %", p * 100.0)),
                    fmt_opt(d.tta_median_s, "s"),
                    fmt_opt(d.tta_p95_s, "s")
                );
            }
            if !s.by_scenario.is_empty() {
                let _ = writeln!(md, "\n| scenario | staged | detected | Pd | time to alert median | p95 | first warning median |\n|---|---|---|---|---|---|---|");
                for (k, d) in &s.by_scenario {
                    let _ = writeln!(
                        md,
                        "| {k} | {} | {} | {} | {} | {} | {} |",
                        d.staged,
                        d.detected,
                        d.pd.map_or("–".into(), |p| format!("{:.0} %", p * 100.0)),
                        fmt_opt(d.tta_median_s, "s"),
                        fmt_opt(d.tta_p95_s, "s"),
                        fmt_opt(d.first_warning_median_s, "s")
                    );
                }
            }
            if let Some(e) = s.breakout_count_error {
                let _ = writeln!(md, "\nBreakout count error: **{:.1} %**.", e * 100.0);
            }
            let _ = writeln!(
                md,
                "\n### Alerts\n\nNuisance alerts: **{:.2}** {}; false alerts: {:.2} {}.\n",
                s.nuisance_rate, s.rate_unit, s.false_rate, s.rate_unit
            );
            if !s.events_by_reason.is_empty() {
                let total: u64 = s.events_by_reason.values().sum();
                let parts: Vec<String> = s
                    .events_by_reason
                    .iter()
                    .map(|(k, n)| format!("{k} {n}"))
                    .collect();
                let _ = writeln!(
                    md,
                    "Alarms assessed and kept from the operators (events, in `events.jsonl`): {total} ({}).\n",
                    parts.join(", ")
                );
            }
            let _ = writeln!(
                md,
                "| kind | alerts | true | nuisance | false |\n|---|---|---|---|---|"
            );
            for (k, f) in &s.alerts_by_kind {
                let _ = writeln!(
                    md,
                    "| {k} | {} | {} | {} | {} |",
                    f.alerts, f.true_alerts, f.nuisance, f.false_alerts
                );
            }
            let _ = writeln!(md, "\n| incident | kind | count | alerted | time to alert | first warning | count estimate |\n|---|---|---|---|---|---|---|");
            for i in &s.incidents {
                let _ = writeln!(
                    md,
                    "| {} | {:?} | {} | {} | {} | {} | {} |",
                    i.id,
                    i.kind,
                    i.count,
                    if i.detected { "yes" } else { "no" },
                    fmt_opt(i.time_to_alert_s, "s"),
                    fmt_opt(i.first_warning_s, "s"),
                    i.count_estimate.map_or("–".into(), |c| c.to_string())
                );
                tta_all.extend(i.time_to_alert_s);
            }
            let _ = writeln!(
                md,
                "\n#### Alert log (last revision of each)\n\n| id | kind | severity | state | raised | revisions | count | summary |\n|---|---|---|---|---|---|---|---|"
            );
            for a in &s.alert_log {
                let _ = writeln!(
                    md,
                    "| {} | {} | {:?} | {:?} | {} | {} | {} | {} |",
                    a.id,
                    a.kind.name(),
                    a.severity,
                    a.state,
                    a.raised,
                    a.rev,
                    a.count,
                    a.summary
                );
            }
            let _ = writeln!(
                md,
                "\n![Map: truth (grey), confirmed tracks (blue), alerts (red)](map-{}.svg)\n",
                s.site
            );
            plot::gospa(&dir.join(format!("gospa-{}.svg", s.site)), &s.gospa_series)
                .map_err(std::io::Error::other)?;
            plot::map(&dir.join(format!("map-{}.svg", s.site)), &s.map)
                .map_err(std::io::Error::other)?;
        }
        plot::histogram(&dir.join("time-to-alert.svg"), &tta_all).map_err(std::io::Error::other)?;
        let _ = writeln!(
            md,
            "## Time to alert, all sites\n\n![Time to alert](time-to-alert.svg)\n"
        );
        let path = dir.join("report.md");
        std::fs::write(&path, md)?;
        Ok(path)
    }
}
