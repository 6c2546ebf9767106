//! Expands generators (`[[tower_lines]]`, `[[fence_lines]]`, offset lines) into plain items.

use super::load::{RawSite, SiteError, Validator};
use super::model::*;
use crate::geo::{LocalFrame, LonLat, Polyline, Xy};

/// The frontier projected into one frame centred on its middle, used only to place things.
struct Placer {
    frame: LocalFrame,
    line: Polyline,
    inside: crate::geo::Side,
}

impl Placer {
    fn new(f: &Frontier) -> Self {
        let mid = f.line[f.line.len() / 2];
        let frame = LocalFrame::new(mid);
        let line = Polyline::new(f.line.iter().map(|p| frame.to_local(*p)).collect());
        Self {
            frame,
            line,
            inside: f.outside.opposite(),
        }
    }

    fn inside_point(&self, chainage: f64, offset: f64) -> LonLat {
        self.frame
            .to_lonlat(self.line.offset_point(chainage, offset, self.inside))
    }

    /// Bearing (degrees from north) pointing across the line to the outside, at a chainage.
    fn outward_bearing(&self, chainage: f64) -> f64 {
        let (_, d) = self.line.at(chainage);
        let out = match self.inside {
            crate::geo::Side::Left => [d[1], -d[0]],
            crate::geo::Side::Right => [-d[1], d[0]],
        };
        out[0].atan2(out[1]).to_degrees().rem_euclid(360.0)
    }
}

pub(super) fn expand(
    raw: RawSite,
    frontier: Option<Frontier>,
    v: &Validator,
) -> Result<Site, SiteError> {
    let placer = frontier.as_ref().map(Placer::new);
    let mut sensors = Vec::new();
    for (i, s) in raw.sensors.iter().enumerate() {
        let kind = match s.kind.as_str() {
            "thermal_camera" => SensorKind::Camera(s.camera.clone().unwrap_or_default()),
            "observer" => SensorKind::Observer(s.observer.clone().unwrap_or_default()),
            other => {
                return Err(v.err(
                    format!("sensors[{i}]"),
                    "kind",
                    format!("unknown kind {other:?}"),
                ))
            }
        };
        sensors.push(Sensor {
            id: s.id.clone(),
            org: s.org.clone().or(raw.sensor_org.clone()),
            pos: LonLat::new(s.lon, s.lat),
            heartbeat_s: s.heartbeat_s,
            kind,
        });
    }
    if let Some(p) = &placer {
        for t in &raw.tower_lines {
            let end = t
                .to_km
                .map_or(p.line.length(), |k| k * 1000.0)
                .min(p.line.length());
            let mut c = t.from_km * 1000.0 + t.spacing_km * 500.0;
            let mut n = 0;
            while c <= end {
                n += 1;
                let pos = p.inside_point(c, t.offset_m);
                let mut cam = t.camera.clone();
                cam.azimuth_deg = p.outward_bearing(c);
                sensors.push(Sensor {
                    id: format!("{}{:03}-cam", t.prefix, n),
                    org: t.org.clone().or(raw.sensor_org.clone()),
                    pos,
                    heartbeat_s: t.heartbeat_s,
                    kind: SensorKind::Camera(cam),
                });
                if t.observer_every > 0 && n % t.observer_every == 0 {
                    sensors.push(Sensor {
                        id: format!("{}{:03}-obs", t.prefix, n),
                        org: t.org.clone().or(raw.sensor_org.clone()),
                        pos,
                        heartbeat_s: t.heartbeat_s * 4.0,
                        kind: SensorKind::Observer(t.observer.clone()),
                    });
                }
                c += t.spacing_km * 1000.0;
            }
        }
    }
    for (i, f) in raw.fence_lines.iter().enumerate() {
        let (frame, line, offset_side) = match &f.facility {
            Some(id) => {
                let fac = raw.facilities.iter().find(|x| &x.id == id).ok_or_else(|| {
                    v.err(format!("fence_lines[{i}]"), "facility", "unknown facility")
                })?;
                let frame = LocalFrame::new(fac.centre());
                let pts: Vec<Xy> = fac.ring().iter().map(|q| frame.to_local(*q)).collect();
                (frame, Polyline::new(pts), None)
            }
            None => match &placer {
                Some(p) => (p.frame, p.line.clone(), Some(p.inside)),
                None => return Err(v.err(format!("fence_lines[{i}]"), "facility", "no frontier")),
            },
        };
        let end = f
            .to_km
            .map_or(line.length(), |k| k * 1000.0)
            .min(line.length());
        let start = f.from_km * 1000.0;
        let nzones = ((end - start) / f.zone_m).floor().max(0.0) as usize;
        let at = |c: f64| -> LonLat {
            match offset_side {
                Some(side) => frame.to_lonlat(line.offset_point(c, f.offset_m, side)),
                None => frame.to_lonlat(line.at(c).0),
            }
        };
        for (ctrl, chunk) in (0..nzones)
            .collect::<Vec<_>>()
            .chunks(f.zones_per_controller)
            .enumerate()
        {
            let mut model = f.fence.clone();
            model.zones = chunk
                .iter()
                .map(|&z| {
                    let c0 = start + z as f64 * f.zone_m;
                    FenceZone {
                        id: format!("z{:02}", z % f.zones_per_controller + 1),
                        a: at(c0),
                        b: at(c0 + f.zone_m),
                    }
                })
                .collect();
            let mid = &model.zones[model.zones.len() / 2];
            sensors.push(Sensor {
                id: format!("{}{:03}", f.prefix, ctrl + 1),
                org: f.org.clone().or(raw.sensor_org.clone()),
                pos: LonLat::new((mid.a.lon + mid.b.lon) / 2.0, (mid.a.lat + mid.b.lat) / 2.0),
                heartbeat_s: f.heartbeat_s,
                kind: SensorKind::Fence(model),
            });
        }
    }
    let mut lines = Vec::new();
    for l in &raw.lines {
        let line = match (l.frontier_offset_m, &placer) {
            (Some(off), Some(p)) => {
                let step = 2000.0;
                let n = (p.line.length() / step).ceil() as usize;
                (0..=n)
                    .map(|k| p.inside_point(k as f64 * step, off))
                    .collect()
            }
            _ => l.coords.iter().map(|c| LonLat::new(c[0], c[1])).collect(),
        };
        lines.push(NamedLine {
            id: l.id.clone(),
            name: l.name.clone(),
            line,
        });
    }
    Ok(Site {
        name: raw.name,
        description: raw.description,
        frontier,
        crossings: raw.crossings,
        facilities: raw.facilities,
        lines,
        units: raw.units,
        sensors,
        tracker: raw.tracker,
        rules: raw.rules,
        scenario: raw.scenario,
        orgs: raw.orgs,
    })
}
