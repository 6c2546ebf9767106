//! `GET /api/v1/site`: the site's geometry as released to the caller's organisation. The frontier,
//! its sectors, crossings and roads are public map data; facility outlines go to those released
//! facilities; sensor positions (with health), camera fields of view, fence zones and unit posts
//! only to organisations whose `geometry` names them, and only within their release area.

use axum::extract::State;
use axum::Json;
use limes_core::geo::LonLat;
use limes_core::record::{AlertKind, AlertState};
use limes_core::site::{Detail, Geometry, Org, SensorKind, Site};
use serde_json::{json, Value};
use std::collections::HashSet;

use crate::api::{ApiError, AppState};
use crate::auth::Principal;

/// Sector labels along the frontier: one at the start of each `sector_km` (geodesic chainage
/// from the line's first vertex, as the rules number them).
pub fn sector_marks(line: &[LonLat], sector_km: f64) -> Vec<(String, LonLat)> {
    let step = sector_km * 1000.0;
    if line.len() < 2 || step <= 0.0 {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut next = 0.0;
    let mut done = 0.0;
    for w in line.windows(2) {
        let len = w[0].distance_m(&w[1]);
        while len > 0.0 && next <= done + len {
            let f = (next - done) / len;
            let p = LonLat::new(
                w[0].lon + (w[1].lon - w[0].lon) * f,
                w[0].lat + (w[1].lat - w[0].lat) * f,
            );
            out.push((format!("S{:03}", out.len() + 1), p));
            next += step;
        }
        done += len;
    }
    out
}

fn ll(p: LonLat) -> Value {
    json!([p.lon, p.lat])
}

/// Sensors in an open offline alert now.
fn silent_sensors(s: &AppState) -> HashSet<String> {
    s.hub.with(|pic| {
        pic.alerts
            .values()
            .filter(|a| {
                a.alert.kind == AlertKind::SensorOffline && a.alert.state == AlertState::Open
            })
            .flat_map(|a| a.alert.sensors.iter().cloned())
            .collect()
    })
}

/// The geometry released to `org` (the response body, without auditing).
pub fn released(s: &AppState, site: &Site, o: &Org) -> Value {
    let in_area = |p: LonLat| s.policy.releases_position(&o.id, p);
    let mut out = json!({
        "name": site.name,
        "description": site.description,
        "released": {
            "tracks": o.tracks, "alerts": o.alerts, "facilities": o.facilities,
            "sensors": o.sees(Geometry::Sensors),
            "fields_of_view": o.sees(Geometry::FieldsOfView),
            "fence_zones": o.sees(Geometry::FenceZones),
            "units": o.sees(Geometry::Units),
        },
        "crossings": site.crossings.iter().map(|c| json!({
            "id": c.id, "name": c.name, "lon": c.lon, "lat": c.lat, "radius_m": c.radius_m,
        })).collect::<Vec<_>>(),
        "lines": site.lines.iter().map(|l| json!({
            "id": l.id, "name": l.name, "line": l.line.iter().map(|p| ll(*p)).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    });
    if let Some(f) = &site.frontier {
        out["frontier"] = json!({
            "name": f.name,
            "line": f.line.iter().map(|p| ll(*p)).collect::<Vec<_>>(),
            "sectors": sector_marks(&f.line, f.sector_km).into_iter()
                .map(|(name, at)| json!({ "name": name, "at": ll(at) })).collect::<Vec<_>>(),
        });
    }
    let facilities: Vec<Value> = if o.facilities >= Detail::Summary {
        site.facilities
            .iter()
            .map(|f| {
                let mut v = json!({ "id": f.id, "name": f.name, "perimeter": f.perimeter });
                if o.facilities >= Detail::Coarse {
                    v["population"] = json!(f.population);
                }
                if o.facilities == Detail::Full {
                    v["gates"] = json!(f.gates);
                }
                v
            })
            .collect()
    } else {
        Vec::new()
    };
    out["facilities"] = json!(facilities);
    if o.sees(Geometry::Sensors) {
        let health = o.receives_kind(AlertKind::SensorOffline);
        let silent = if health {
            silent_sensors(s)
        } else {
            HashSet::new()
        };
        let fov = o.sees(Geometry::FieldsOfView);
        let sensors: Vec<Value> = site
            .sensors
            .iter()
            .filter(|x| in_area(x.pos))
            .map(|x| {
                let mut v = json!({ "id": x.id, "kind": x.kind.name(), "lon": x.pos.lon, "lat": x.pos.lat });
                if health {
                    v["silent"] = json!(silent.contains(&x.id));
                }
                if let (true, SensorKind::Camera(c)) = (fov, &x.kind) {
                    v["camera"] = json!({ "azimuth_deg": c.azimuth_deg, "fov_deg": c.fov_deg, "range_m": c.range_m });
                }
                v
            })
            .collect();
        out["sensors"] = json!(sensors);
    }
    if o.sees(Geometry::FenceZones) {
        let zones: Vec<Value> =
            site.sensors
                .iter()
                .filter_map(|x| match &x.kind {
                    SensorKind::Fence(f) => Some((x, f)),
                    _ => None,
                })
                .flat_map(|(x, f)| {
                    f.zones.iter().filter(|z| in_area(z.a) && in_area(z.b)).map(
                        |z| json!({ "sensor": x.id, "zone": z.id, "line": [ll(z.a), ll(z.b)] }),
                    )
                })
                .collect();
        out["fence_zones"] = json!(zones);
    }
    if o.sees(Geometry::Units) {
        let units: Vec<Value> = site
            .units
            .iter()
            .filter(|u| in_area(u.pos()))
            .map(|u| json!({ "id": u.id, "name": u.name, "lon": u.lon, "lat": u.lat, "speed_kmh": u.speed_kmh }))
            .collect();
        out["units"] = json!(units);
    }
    out
}

/// The handler.
pub async fn site(State(s): State<AppState>, p: Principal) -> Result<Json<Value>, ApiError> {
    if !p.role.can_read() {
        return Err(ApiError::forbidden("read the site"));
    }
    let o = s
        .policy
        .org(&p.org)
        .cloned()
        .ok_or_else(|| ApiError::forbidden("read the site"))?;
    let site = s.site.clone();
    let body = released(&s, &site, &o);
    let n = |k: &str| body[k].as_array().map_or(0, Vec::len);
    s.audit(
        &p,
        "read.site",
        "site",
        json!({ "sensors": n("sensors"), "fence_zones": n("fence_zones"), "units": n("units") }),
    )
    .await?;
    Ok(Json(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sectors_are_marked_every_sector_length_along_the_line() {
        let line = [LonLat::new(40.0, 35.0), LonLat::new(40.0, 35.3)];
        let len = line[0].distance_m(&line[1]);
        let marks = sector_marks(&line, 10.0);
        assert_eq!(marks.len(), (len / 10_000.0).floor() as usize + 1);
        assert_eq!(marks[0].0, "S001");
        assert!((marks[1].1.distance_m(&line[0]) - 10_000.0).abs() < 50.0);
        assert!(sector_marks(&line[..1], 10.0).is_empty());
    }
}
