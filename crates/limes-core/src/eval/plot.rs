//! SVG pictures with plotters: the map, GOSPA over time, the time-to-alert histogram.

use plotters::prelude::*;
use std::collections::BTreeMap;
use std::path::Path;

use super::GospaSample;
use crate::geo::Xy;
use crate::record::{AlertKind, TruthRole};

/// What the map draws, in the evaluation frame (metres).
#[derive(Clone, Debug, Default)]
pub struct MapData {
    /// Truth paths by object.
    pub truth: BTreeMap<u64, (TruthRole, Vec<Xy>)>,
    /// Confirmed track paths by track.
    pub tracks: BTreeMap<u64, Vec<Xy>>,
    /// Last alert positions.
    pub alerts: Vec<(Xy, AlertKind)>,
    /// Frontier, perimeters and roads.
    pub backdrop: Vec<Vec<Xy>>,
}

/// A named, coloured GOSPA component.
type Series = (&'static str, RGBColor, fn(&GospaSample) -> f64);

type PlotResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

fn err<E: std::fmt::Display>(e: E) -> Box<dyn std::error::Error + Send + Sync> {
    e.to_string().into()
}

pub fn map(path: &Path, m: &MapData) -> PlotResult {
    let pts = m
        .truth
        .values()
        .flat_map(|(_, p)| p.iter())
        .chain(m.tracks.values().flatten());
    let (mut x0, mut y0, mut x1, mut y1) = (
        f64::INFINITY,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NEG_INFINITY,
    );
    for p in pts {
        x0 = x0.min(p[0]);
        x1 = x1.max(p[0]);
        y0 = y0.min(p[1]);
        y1 = y1.max(p[1]);
    }
    if !x0.is_finite() {
        (x0, x1, y0, y1) = (-1000.0, 1000.0, -1000.0, 1000.0);
    }
    let pad = ((x1 - x0).max(y1 - y0) * 0.05).max(100.0);
    let km = |v: f64| v / 1000.0;
    let root = SVGBackend::new(path, (1000, 900)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Truth (grey; threats dark), confirmed tracks (blue), alerts (red), lines (brown)",
            ("sans-serif", 20),
        )
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(45)
        .build_cartesian_2d(km(x0 - pad)..km(x1 + pad), km(y0 - pad)..km(y1 + pad))
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("km east")
        .y_desc("km north")
        .draw()
        .map_err(err)?;
    let inside =
        |q: &Xy| q[0] >= x0 - pad && q[0] <= x1 + pad && q[1] >= y0 - pad && q[1] <= y1 + pad;
    for line in &m.backdrop {
        // Clip to the view: the frontier is far longer than a camp's surroundings.
        for run in line.split(|q| !inside(q)).filter(|r| r.len() > 1) {
            chart
                .draw_series(LineSeries::new(
                    run.iter().map(|q| (km(q[0]), km(q[1]))),
                    RGBColor(150, 110, 40).stroke_width(2),
                ))
                .map_err(err)?;
        }
    }
    for (role, p) in m.truth.values() {
        let color = if role.is_threat() {
            RGBColor(90, 90, 90)
        } else {
            RGBColor(190, 190, 190)
        };
        chart
            .draw_series(LineSeries::new(
                p.iter().map(|q| (km(q[0]), km(q[1]))),
                color.stroke_width(1),
            ))
            .map_err(err)?;
    }
    for p in m.tracks.values() {
        chart
            .draw_series(LineSeries::new(
                p.iter().map(|q| (km(q[0]), km(q[1]))),
                BLUE.mix(0.6).stroke_width(1),
            ))
            .map_err(err)?;
    }
    chart
        .draw_series(m.alerts.iter().map(|(p, k)| {
            let size = if matches!(k, AlertKind::Infiltration | AlertKind::MassBreakout) {
                7
            } else {
                4
            };
            TriangleMarker::new((km(p[0]), km(p[1])), size, RED.filled())
        }))
        .map_err(err)?;
    root.present().map_err(err)?;
    Ok(())
}

pub fn gospa(path: &Path, s: &[GospaSample]) -> PlotResult {
    let root = SVGBackend::new(path, (1000, 420)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let t0 = s.first().map_or(0.0, |x| x.t);
    let hours = |t: f64| (t - t0) / 3600.0;
    let xmax = s.last().map_or(1.0, |x| hours(x.t)).max(0.01);
    let ymax = s
        .iter()
        .map(|x| x.g.distance.max(x.g.missed).max(x.g.false_tracks))
        .fold(1.0, f64::max)
        * 1.1;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "GOSPA over time (distance; missed, false and localisation parts)",
            ("sans-serif", 18),
        )
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(55)
        .build_cartesian_2d(0.0..xmax, 0.0..ymax)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("hours")
        .y_desc("GOSPA")
        .draw()
        .map_err(err)?;
    let series: [Series; 4] = [
        ("distance", BLACK, |x| x.g.distance),
        ("missed", RED, |x| x.g.missed),
        ("false", BLUE, |x| x.g.false_tracks),
        ("localisation", GREEN, |x| x.g.localisation),
    ];
    for (name, color, f) in series {
        chart
            .draw_series(LineSeries::new(
                s.iter().map(|x| (hours(x.t), f(x))),
                color.stroke_width(1),
            ))
            .map_err(err)?
            .label(name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(err)?;
    root.present().map_err(err)?;
    Ok(())
}

pub fn histogram(path: &Path, tta: &[f64]) -> PlotResult {
    let root = SVGBackend::new(path, (800, 380)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let bin = 30.0;
    let mut bins: BTreeMap<i64, u32> = BTreeMap::new();
    for t in tta {
        *bins.entry((t / bin).floor() as i64).or_default() += 1;
    }
    let lo = bins.keys().next().copied().unwrap_or(0).min(0);
    let hi = bins.keys().last().copied().unwrap_or(10).max(lo + 4) + 1;
    let ymax = bins.values().copied().max().unwrap_or(1) + 1;
    let mut chart = ChartBuilder::on(&root)
        .caption("Time to alert (s, 30 s bins)", ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(40)
        .build_cartesian_2d((lo * 30) as f64..(hi * 30) as f64, 0u32..ymax)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("seconds")
        .y_desc("incidents")
        .draw()
        .map_err(err)?;
    chart
        .draw_series(bins.iter().map(|(b, n)| {
            let x = *b as f64 * bin;
            Rectangle::new([(x, 0), (x + bin, *n)], BLUE.mix(0.6).filled())
        }))
        .map_err(err)?;
    root.present().map_err(err)?;
    Ok(())
}

/// Pd against the nuisance rate: one point per rules variant (blue) and baseline (red),
/// labelled; the rate axis is logarithmic (0 is drawn at its left edge).
pub fn roc(path: &Path, pts: &[(String, f64, f64, bool)]) -> PlotResult {
    let root = SVGBackend::new(path, (900, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let floor = 0.01;
    let xmax = pts.iter().map(|p| p.1).fold(10.0, f64::max) * 2.0;
    let ymin = pts.iter().map(|p| p.2).fold(1.0, f64::min).min(0.9) - 0.02;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Pd (infiltrations and probes) against nuisance alerts per 100 km per day",
            ("sans-serif", 18),
        )
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(55)
        .build_cartesian_2d((floor..xmax).log_scale(), ymin.max(0.0)..1.005)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("nuisance alerts per 100 km per day (log; 0 drawn at 0.01)")
        .y_desc("Pd")
        .draw()
        .map_err(err)?;
    for (name, nar, pd, baseline) in pts {
        let color = if *baseline { RED } else { BLUE };
        let x = nar.max(floor);
        chart
            .draw_series(std::iter::once(Circle::new((x, *pd), 5, color.filled())))
            .map_err(err)?;
        chart
            .draw_series(std::iter::once(Text::new(
                name.clone(),
                (x, *pd),
                ("sans-serif", 13).into_font().color(&color),
            )))
            .map_err(err)?;
    }
    root.present().map_err(err)?;
    Ok(())
}
