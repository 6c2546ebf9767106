//! The alarm-quality report over many seeds: per scenario kind, Pd with a Wilson interval, time
//! to alert, first warning; nuisance and false alert rates per 100 km per day with Poisson
//! intervals; Limes beside the single-sensor baselines; and a receiver-operating picture (Pd
//! against the nuisance rate) over the rules variants.

use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use super::alerts::Outcome;
use super::report::{percentile, scenario_name};
use super::IncidentScore;
use crate::alarms::{Night, Scored};
use crate::record::IncidentKind;

/// z for two-sided 95 % intervals.
const Z95: f64 = 1.959_964;

/// Wilson score interval for `k` successes in `n` trials (95 %).
pub fn wilson(k: u32, n: u32) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let (k, n, z) = (k as f64, n as f64, Z95);
    let p = k / n;
    let d = 1.0 + z * z / n;
    let c = (p + z * z / (2.0 * n)) / d;
    let h = z * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt() / d;
    ((c - h).max(0.0), (c + h).min(1.0))
}

/// 95 % interval for a Poisson count `k` (Wilson–Hilferty approximation of the exact,
/// Garwood, interval; within a few per cent of it from k = 1).
pub fn poisson(k: u64) -> (f64, f64) {
    let z = Z95;
    let lo = if k == 0 {
        0.0
    } else {
        let k = k as f64;
        k * (1.0 - 1.0 / (9.0 * k) - z / (3.0 * k.sqrt())).powi(3)
    };
    let k1 = k as f64 + 1.0;
    let hi = k1 * (1.0 - 1.0 / (9.0 * k1) + z / (3.0 * k1.sqrt())).powi(3);
    (lo.max(0.0), hi)
}

/// Detection figures of one scenario kind, pooled over the seeds.
#[derive(Clone, Debug, Serialize)]
pub struct KindRow {
    /// Scenario kind (`ordinary`, `crawl`, …, or `all infiltrations`).
    pub name: String,
    /// Incidents staged.
    pub staged: u32,
    /// Of which alerted with the right kind.
    pub detected: u32,
    /// detected / staged, with its 95 % Wilson interval.
    pub pd: f64,
    /// Lower end of the interval.
    pub pd_lo: f64,
    /// Upper end.
    pub pd_hi: f64,
    /// Median time to alert, seconds.
    pub tta_median_s: Option<f64>,
    /// 95th percentile time to alert, seconds.
    pub tta_p95_s: Option<f64>,
    /// Median first warning, seconds (negative: before the crossing).
    pub warning_median_s: Option<f64>,
}

fn kind_row(name: &str, of: &[&IncidentScore]) -> KindRow {
    let detected = of.iter().filter(|i| i.detected).count() as u32;
    let staged = of.len() as u32;
    let (lo, hi) = wilson(detected, staged);
    let mut tta: Vec<f64> = of.iter().filter_map(|i| i.time_to_alert_s).collect();
    let mut warn: Vec<f64> = of.iter().filter_map(|i| i.first_warning_s).collect();
    KindRow {
        name: name.to_string(),
        staged,
        detected,
        pd: if staged > 0 {
            detected as f64 / staged as f64
        } else {
            0.0
        },
        pd_lo: lo,
        pd_hi: hi,
        tta_median_s: percentile(&mut tta, 0.5),
        tta_p95_s: percentile(&mut tta, 0.95),
        warning_median_s: percentile(&mut warn, 0.5),
    }
}

/// Alert rates of one system, pooled over the seeds.
#[derive(Clone, Debug, Serialize)]
pub struct RateRow {
    /// System (rules variant or baseline).
    pub name: String,
    /// Alerts raised.
    pub alerts: u64,
    /// Nuisance alerts.
    pub nuisance: u64,
    /// False alerts.
    pub false_alerts: u64,
    /// Events (assessed and kept from the operators).
    pub events: u64,
    /// Nuisance alerts per 100 km per day, with its 95 % interval.
    pub nar: f64,
    /// Lower end.
    pub nar_lo: f64,
    /// Upper end.
    pub nar_hi: f64,
    /// False alerts per 100 km per day, with its 95 % interval.
    pub far: f64,
    /// Lower end.
    pub far_lo: f64,
    /// Upper end.
    pub far_hi: f64,
    /// Pd over every infiltration and probe.
    pub pd: KindRow,
}

/// One system over all nights: its detection rows and its rates.
#[derive(Clone, Debug, Serialize)]
pub struct SystemFigures {
    /// Rates and overall Pd.
    pub rates: RateRow,
    /// Per scenario kind, `all infiltrations` first.
    pub kinds: Vec<KindRow>,
}

/// A facility breakout night (Ain Issa): time to the mass-breakout alert and count error.
#[derive(Clone, Debug, Serialize)]
pub struct BreakoutRow {
    /// Seed.
    pub seed: u64,
    /// Seconds from the first exit to the mass-breakout alert.
    pub tta_s: Option<f64>,
    /// |estimate − truth| / truth.
    pub count_error: Option<f64>,
}

/// The report's figures.
#[derive(Clone, Debug, Serialize)]
pub struct Quality {
    /// Seeds run.
    pub seeds: Vec<u64>,
    /// Hours of frontier night scored, all seeds.
    pub hours: f64,
    /// Frontier length, km.
    pub frontier_km: f64,
    /// Rules variants, the site's own first.
    pub variants: Vec<SystemFigures>,
    /// Single-sensor baselines.
    pub baselines: Vec<SystemFigures>,
    /// Breakout nights.
    pub breakouts: Vec<BreakoutRow>,
    /// The site thresholds' alerts that matched no incident (seed, outcome, kind, summary).
    pub unmatched: Vec<String>,
    /// The site thresholds' missed infiltrations and probes (seed, scenario, time).
    pub missed: Vec<String>,
}

fn system(name: &str, scored: &[&Scored], exposure: f64) -> SystemFigures {
    let incidents: Vec<&IncidentScore> = scored.iter().flat_map(|s| s.incidents.iter()).collect();
    let mut kinds = Vec::new();
    let threats: Vec<&IncidentScore> = incidents
        .iter()
        .copied()
        .filter(|i| matches!(i.kind, IncidentKind::Infiltration | IncidentKind::Probing))
        .collect();
    let infil: Vec<&IncidentScore> = threats
        .iter()
        .copied()
        .filter(|i| i.kind == IncidentKind::Infiltration)
        .collect();
    kinds.push(kind_row("all infiltrations", &infil));
    let mut by: BTreeMap<String, Vec<&IncidentScore>> = BTreeMap::new();
    for i in &threats {
        if let Some(n) = scenario_name(i) {
            by.entry(n).or_default().push(i);
        }
    }
    // Ordinary first, then the adversarial kinds in the configuration's order.
    let order = std::iter::once("ordinary").chain(crate::site::AdversarialConfig::NAMES);
    for n in order {
        if let Some(v) = by.remove(n) {
            kinds.push(kind_row(n, &v));
        }
    }
    for (n, v) in by {
        kinds.push(kind_row(&n, &v));
    }
    let count = |o: Outcome| {
        scored
            .iter()
            .flat_map(|s| s.alerts.iter())
            .filter(|a| a.outcome == o)
            .count() as u64
    };
    let (nuisance, false_alerts) = (count(Outcome::Nuisance), count(Outcome::False));
    let (nl, nh) = poisson(nuisance);
    let (fl, fh) = poisson(false_alerts);
    let e = exposure.max(1e-9);
    SystemFigures {
        rates: RateRow {
            name: name.to_string(),
            alerts: scored.iter().map(|s| s.alerts.len() as u64).sum(),
            nuisance,
            false_alerts,
            events: scored.iter().map(|s| s.events).sum(),
            nar: nuisance as f64 / e,
            nar_lo: nl / e,
            nar_hi: nh / e,
            far: false_alerts as f64 / e,
            far_lo: fl / e,
            far_hi: fh / e,
            pd: kind_row("infiltrations and probes", &threats),
        },
        kinds,
    }
}

impl Quality {
    /// Pools the nights (variant `k` of every night is one system; likewise the baselines).
    pub fn of(nights: &[Night], frontier_km: f64, breakouts: Vec<BreakoutRow>) -> Self {
        let hours: f64 = nights.iter().map(|n| n.hours).sum();
        let exposure = hours / 24.0 * frontier_km / 100.0;
        let pool = |pick: &dyn Fn(&Night) -> &[Scored]| -> Vec<SystemFigures> {
            let n = nights.first().map_or(0, |x| pick(x).len());
            (0..n)
                .map(|k| {
                    let scored: Vec<&Scored> =
                        nights.iter().filter_map(|x| pick(x).get(k)).collect();
                    let name = scored.first().map_or(String::new(), |s| s.name.clone());
                    system(&name, &scored, exposure)
                })
                .collect()
        };
        Quality {
            seeds: nights.iter().map(|n| n.seed).collect(),
            hours,
            frontier_km,
            variants: pool(&|n: &Night| n.variants.as_slice()),
            baselines: pool(&|n: &Night| n.baselines.as_slice()),
            breakouts,
            unmatched: nights
                .iter()
                .flat_map(|n| {
                    n.variants.iter().take(1).flat_map(move |v| {
                        v.unmatched
                            .iter()
                            .map(move |u| format!("seed {}: {u}", n.seed))
                    })
                })
                .collect(),
            missed: nights
                .iter()
                .flat_map(|n| {
                    n.variants.iter().take(1).flat_map(move |v| {
                        v.incidents
                            .iter()
                            .filter(|i| {
                                !i.detected
                                    && matches!(
                                        i.kind,
                                        IncidentKind::Infiltration | IncidentKind::Probing
                                    )
                            })
                            .map(move |i| {
                                format!(
                                    "seed {}: {} ({} people) at {}, first warning {}",
                                    n.seed,
                                    scenario_name(i).unwrap_or_default(),
                                    i.count,
                                    crate::record::Time(i.time),
                                    i.first_warning_s
                                        .map_or("none".into(), |w| format!("{w:.0} s"))
                                )
                            })
                    })
                })
                .collect(),
        }
    }

    /// The report as Markdown (the picture is `roc_svg`'s file, linked as `svg`).
    pub fn markdown(&self, svg: &str) -> String {
        let mut md = String::new();
        let fmt_s = |v: Option<f64>| v.map_or("–".to_string(), |x| format!("{x:.0} s"));
        let pd = |r: &KindRow| {
            format!(
                "{}/{} = {:.3} [{:.3}, {:.3}]",
                r.detected, r.staged, r.pd, r.pd_lo, r.pd_hi
            )
        };
        let _ = writeln!(
            md,
            "{} seeds ({:?}), {:.0} h of the {:.0} km frontier in all; intervals are 95 % (Wilson for Pd, Poisson for rates).\n",
            self.seeds.len(),
            self.seeds,
            self.hours,
            self.frontier_km
        );
        if let Some(v) = self.variants.first() {
            let _ = writeln!(
                md,
                "Limes with the site's thresholds (`{}`), per scenario kind:\n\n| scenario | Pd [95 % CI] | time to alert median | p95 | first warning median |\n|---|---|---|---|---|",
                v.rates.name
            );
            for r in &v.kinds {
                let _ = writeln!(
                    md,
                    "| {} | {} | {} | {} | {} |",
                    r.name,
                    pd(r),
                    fmt_s(r.tta_median_s),
                    fmt_s(r.tta_p95_s),
                    fmt_s(r.warning_median_s)
                );
            }
        }
        let _ = writeln!(
            md,
            "\nSide by side on the same nights (Pd over every infiltration and probe; rates per 100 km per day):\n\n| system | Pd [95 % CI] | time to alert median / p95 | alerts | NAR [95 % CI] | FAR [95 % CI] | events |\n|---|---|---|---|---|---|---|"
        );
        for s in self.variants.iter().take(1).chain(&self.baselines) {
            let r = &s.rates;
            let _ = writeln!(
                md,
                "| {} | {} | {} / {} | {} | {:.2} [{:.2}, {:.2}] | {:.3} [{:.3}, {:.3}] | {} |",
                r.name,
                pd(&r.pd),
                fmt_s(r.pd.tta_median_s),
                fmt_s(r.pd.tta_p95_s),
                r.alerts,
                r.nar,
                r.nar_lo,
                r.nar_hi,
                r.far,
                r.far_lo,
                r.far_hi,
                r.events
            );
        }
        if let (Some(v), false) = (self.variants.first(), self.baselines.is_empty()) {
            let names: Vec<&str> = self
                .baselines
                .iter()
                .map(|b| b.rates.name.as_str())
                .collect();
            let _ = writeln!(
                md,
                "\nPd per scenario kind, Limes and the baselines:\n\n| scenario | Limes | {} |\n|---|---|{}",
                names.join(" | "),
                "---|".repeat(names.len())
            );
            for r in &v.kinds {
                let mut line = format!("| {} | {:.3} |", r.name, r.pd);
                for b in &self.baselines {
                    let x = b.kinds.iter().find(|k| k.name == r.name);
                    line += &format!(" {} |", x.map_or("–".into(), |k| format!("{:.3}", k.pd)));
                }
                let _ = writeln!(md, "{line}");
            }
        }
        let _ = writeln!(
            md,
            "\nOperating points (the site's `[rules]` thresholds varied; the tracker the same):\n\n| thresholds | Pd [95 % CI] | time to alert p95 | NAR [95 % CI] | FAR | events |\n|---|---|---|---|---|---|"
        );
        for s in &self.variants {
            let r = &s.rates;
            let _ = writeln!(
                md,
                "| {} | {} | {} | {:.2} [{:.2}, {:.2}] | {:.3} | {} |",
                r.name,
                pd(&r.pd),
                fmt_s(r.pd.tta_p95_s),
                r.nar,
                r.nar_lo,
                r.nar_hi,
                r.far,
                r.events
            );
        }
        let _ = writeln!(md, "\n![Pd against nuisance rate]({svg})\n");
        let _ = writeln!(
            md,
            "Missed by the site's thresholds: {}.\n",
            if self.missed.is_empty() {
                "none".to_string()
            } else {
                self.missed.join("; ")
            }
        );
        let _ = writeln!(
            md,
            "Alerts of the site's thresholds that matched no staged incident: {}.\n",
            if self.unmatched.is_empty() {
                "none".to_string()
            } else {
                self.unmatched.join("; ")
            }
        );
        if !self.breakouts.is_empty() {
            let mut tta: Vec<f64> = self.breakouts.iter().filter_map(|b| b.tta_s).collect();
            let errs: Vec<f64> = self
                .breakouts
                .iter()
                .filter_map(|b| b.count_error)
                .collect();
            let worst = errs.iter().copied().fold(0.0, f64::max);
            let alerted = self.breakouts.iter().filter(|b| b.tta_s.is_some()).count();
            let _ = writeln!(
                md,
                "Ain Issa breakout, same seeds: mass-breakout alert on {alerted}/{} nights, {} after the first exit (median; worst {}), count error at most {:.1} %.\n",
                self.breakouts.len(),
                fmt_s(percentile(&mut tta, 0.5)),
                fmt_s(tta.last().copied()),
                worst * 100.0
            );
        }
        md
    }

    /// Draws Pd against the nuisance rate for every variant and baseline.
    pub fn roc_svg(&self, path: &Path) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let pts: Vec<(String, f64, f64, bool)> = self
            .variants
            .iter()
            .map(|s| (s.rates.name.clone(), s.rates.nar, s.rates.pd.pd, false))
            .chain(
                self.baselines
                    .iter()
                    .map(|s| (s.rates.name.clone(), s.rates.nar, s.rates.pd.pd, true)),
            )
            .collect();
        super::plot::roc(path, &pts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_match_published_values() {
        // Wilson 95 % for 0/10 is [0, 0.2775]; for 48/48 the lower end is 0.926.
        let (lo, hi) = wilson(0, 10);
        assert!(lo == 0.0 && (hi - 0.2775).abs() < 1e-3, "{lo} {hi}");
        let (lo, hi) = wilson(48, 48);
        assert!((lo - 0.926).abs() < 1e-3 && hi == 1.0, "{lo} {hi}");
        // Exact (Garwood) Poisson 95 %: 0 → [0, 3.689], 10 → [4.795, 18.390].
        let (lo, hi) = poisson(0);
        assert!(lo == 0.0 && (hi - 3.689).abs() < 0.05, "{hi}");
        let (lo, hi) = poisson(10);
        assert!(
            (lo - 4.795).abs() < 0.05 && (hi - 18.39).abs() < 0.1,
            "{lo} {hi}"
        );
    }
}
