//! Checks a sensor record against the site: the sensor exists, the record is of a kind that
//! sensor sends, a fence alarm names one of its controller's zones, and a detection lies where
//! its camera or observer can see (a partner's credential cannot place tracks beyond its own
//! sensors' sight, and swapped coordinates are caught). Together with
//! [`SensorRecord::validate`] this is the whole of what a record must satisfy; the server and
//! `limes track --site` use the same [`SiteCheck`].

use std::collections::{HashMap, HashSet};

use super::{Sensor, SensorKind, Site};
use crate::geo::LonLat;
use crate::record::{Detection, FieldError, Position, SensorRecord};

/// What each sensor of a site may send.
#[derive(Clone, Debug)]
enum Sends {
    /// A camera or observer: detections (within its reach) and heartbeats.
    Detections(Reach),
    /// A fence controller: alarms of these zones, and heartbeats.
    Fence(HashSet<String>),
}

/// The site's sensors, indexed for checking records.
#[derive(Clone, Debug)]
pub struct SiteCheck {
    sensors: HashMap<String, Sends>,
}

impl SiteCheck {
    /// Indexes a site's sensors.
    pub fn new(site: &Site) -> Self {
        Self::for_sensors(&site.sensors)
    }

    /// Indexes these sensors.
    pub fn for_sensors(sensors: &[Sensor]) -> Self {
        let sensors = sensors
            .iter()
            .map(|s| {
                let sends = match &s.kind {
                    SensorKind::Fence(f) => {
                        Sends::Fence(f.zones.iter().map(|z| z.id.clone()).collect())
                    }
                    SensorKind::Camera(c) => Sends::Detections(Reach {
                        at: s.pos,
                        range_m: c.range_m,
                        // Five standard deviations of the position error at full range, and
                        // never less than 500 m (a tower's surveyed position may be rough).
                        margin_m: (5.0 * c.sigma(c.range_m)).max(500.0),
                        azimuth_deg: c.azimuth_deg,
                        fov_deg: c.fov_deg,
                    }),
                    SensorKind::Observer(o) => Sends::Detections(Reach {
                        at: s.pos,
                        range_m: o.range_m,
                        margin_m: (5.0 * o.ce_m).max(500.0),
                        azimuth_deg: 0.0,
                        fov_deg: 360.0,
                    }),
                };
                (s.id.clone(), sends)
            })
            .collect();
        Self { sensors }
    }

    /// Whether the site has this sensor.
    pub fn knows(&self, sensor: &str) -> bool {
        self.sensors.contains_key(sensor)
    }

    /// Validates the record ([`SensorRecord::validate`]) and checks it against the site.
    pub fn check(&self, rec: &SensorRecord) -> Result<(), FieldError> {
        rec.validate()?;
        let sensor = match rec {
            SensorRecord::Detection(d) => &d.sensor,
            SensorRecord::Fence(f) => &f.sensor,
            SensorRecord::Heartbeat(h) => &h.sensor,
        };
        let Some(sends) = self.sensors.get(sensor) else {
            return Err(FieldError::new(
                "sensor",
                format!("unknown sensor {sensor:?}: not in the site file"),
            ));
        };
        match (rec, sends) {
            (SensorRecord::Heartbeat(_), _) => Ok(()),
            (SensorRecord::Detection(d), Sends::Detections(reach)) => reach.check(sensor, d),
            (SensorRecord::Detection(_), Sends::Fence(_)) => Err(FieldError::new(
                "type",
                format!("{sensor:?} is a fence controller: it sends fence alarms and heartbeats"),
            )),
            (SensorRecord::Fence(_), Sends::Detections(_)) => Err(FieldError::new(
                "type",
                format!("{sensor:?} is not a fence controller: it sends detections and heartbeats"),
            )),
            (SensorRecord::Fence(f), Sends::Fence(zones)) => {
                if zones.contains(&f.zone) {
                    Ok(())
                } else {
                    Err(FieldError::new(
                        "zone",
                        format!("fence controller {sensor:?} has no zone {:?}", f.zone),
                    ))
                }
            }
        }
    }
}

/// Where a camera or observer can place a detection: within its range and field of regard,
/// widened by a margin for its position error.
#[derive(Clone, Debug)]
struct Reach {
    at: LonLat,
    range_m: f64,
    margin_m: f64,
    azimuth_deg: f64,
    fov_deg: f64,
}

impl Reach {
    /// Refuses a detection its sensor could not have made; the error names `lon` (the pair is
    /// at fault, not one coordinate) and says how far out it is.
    fn check(&self, sensor: &str, d: &Detection) -> Result<(), FieldError> {
        // Local x/y have no place on the Earth without the file's frame; the server refuses
        // them, and a file of them is checked against nothing here.
        let Position::LonLat { lon, lat } = d.pos else {
            return Ok(());
        };
        // A stated error wider than the margin would let the detection feed tracks far from
        // where its sensor sees (the tracker gates by it).
        let stated = match (d.cov, d.ce) {
            (Some(c), _) => Some(("cov", c[0].max(c[2]).sqrt())),
            (None, Some(ce)) => Some(("ce", ce)),
            (None, None) => None,
        };
        if let Some((field, sd)) = stated.filter(|&(_, sd)| sd > self.margin_m) {
            return Err(FieldError::new(
                field,
                format!(
                    "a position error of {sd:.0} m is more than sensor {sensor:?} can make ({:.0} m at most)",
                    self.margin_m
                ),
            ));
        }
        let p = LonLat::new(lon, lat);
        let dist = self.at.sphere_distance_m(&p);
        if dist > self.range_m + self.margin_m {
            let swapped = LonLat::new(lat, lon);
            let hint = if swapped.is_valid()
                && self.at.sphere_distance_m(&swapped) <= self.range_m + self.margin_m
            {
                "; lon and lat look swapped"
            } else {
                ""
            };
            return Err(FieldError::new(
                "lon",
                format!(
                    "({lon}, {lat}) is {:.1} km from sensor {sensor:?}, which sees {:.1} km at most{hint}",
                    dist / 1000.0,
                    (self.range_m + self.margin_m) / 1000.0
                ),
            ));
        }
        if self.fov_deg >= 360.0 {
            return Ok(());
        }
        let bearing = self.at.sphere_bearing_deg(&p);
        let off = ((bearing - self.azimuth_deg + 540.0).rem_euclid(360.0) - 180.0).abs()
            - self.fov_deg / 2.0;
        let aside = if off <= 0.0 {
            0.0
        } else {
            dist * off.min(90.0).to_radians().sin()
        };
        if aside > self.margin_m {
            return Err(FieldError::new(
                "lon",
                format!(
                    "({lon}, {lat}) lies at bearing {bearing:.0}° from sensor {sensor:?}, outside its field of regard ({:.0}° wide about {:.0}°)",
                    self.fov_deg, self.azimuth_deg
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Time;
    use crate::site::{CameraModel, ObserverModel};

    fn sensors() -> Vec<Sensor> {
        let mut sensors = Vec::new();
        let tower = LonLat::new(41.0, 34.5);
        let camera = CameraModel {
            azimuth_deg: 90.0,
            fov_deg: 90.0,
            range_m: 5_000.0,
            ..CameraModel::default()
        };
        for (id, kind) in [
            ("cam", SensorKind::Camera(camera)),
            ("obs", SensorKind::Observer(ObserverModel::default())),
        ] {
            sensors.push(Sensor {
                id: id.into(),
                org: None,
                pos: tower,
                heartbeat_s: 30.0,
                kind,
            });
        }
        sensors
    }

    fn at(sensor: &str, east_m: f64, north_m: f64) -> SensorRecord {
        let p = crate::geo::LocalFrame::new(LonLat::new(41.0, 34.5)).to_lonlat([east_m, north_m]);
        SensorRecord::Detection(Detection {
            sensor: sensor.into(),
            time: Time(0.0),
            pos: Position::LonLat {
                lon: p.lon,
                lat: p.lat,
            },
            cov: None,
            ce: Some(10.0),
            class: None,
            heat_m2: None,
            count: None,
        })
    }

    #[test]
    fn a_detection_must_lie_where_its_sensor_sees() {
        let check = SiteCheck::for_sensors(&sensors());
        // In range and view, and just past the range within the position-error margin.
        for (e, n) in [
            (4_000.0, 0.0),
            (5_300.0, 0.0),
            (3_000.0, 2_900.0),
            (50.0, 0.0),
        ] {
            assert_eq!(check.check(&at("cam", e, n)), Ok(()), "{e} {n}");
        }
        // Beyond range; behind the camera; far to one side of its field of regard.
        for (e, n) in [(7_000.0, 0.0), (-3_000.0, 0.0), (1_000.0, 3_000.0)] {
            let err = check.check(&at("cam", e, n)).err();
            assert_eq!(err.map(|e| e.field), Some("lon".into()), "{e} {n}");
        }
        // An observer sees all round, to its range and its report's error.
        assert_eq!(check.check(&at("obs", 0.0, -4_000.0)), Ok(()));
        assert!(check.check(&at("obs", 0.0, -9_000.0)).is_err());
        // Nor may a detection claim an error that reaches beyond.
        let SensorRecord::Detection(mut d) = at("cam", 1_000.0, 0.0) else {
            unreachable!()
        };
        d.ce = Some(20_000.0);
        let err = check.check(&SensorRecord::Detection(d.clone())).err();
        assert_eq!(err.map(|e| e.field), Some("ce".into()));
        d.cov = Some([1e8, 0.0, 1.0]);
        let err = check.check(&SensorRecord::Detection(d)).err();
        assert_eq!(err.map(|e| e.field), Some("cov".into()));
    }

    #[test]
    fn swapped_coordinates_are_named() {
        let check = SiteCheck::for_sensors(&sensors());
        let SensorRecord::Detection(mut d) = at("obs", 100.0, 0.0) else {
            unreachable!()
        };
        let Position::LonLat { lon, lat } = d.pos else {
            unreachable!()
        };
        d.pos = Position::LonLat { lon: lat, lat: lon };
        let err = check.check(&SensorRecord::Detection(d));
        let message = err.err().map(|e| e.message).unwrap_or_default();
        assert!(message.contains("swapped"), "{message}");
    }
}
