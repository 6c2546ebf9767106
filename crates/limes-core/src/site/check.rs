//! Checks a sensor record against the site: the sensor exists, the record is of a kind that
//! sensor sends, and a fence alarm names one of its controller's zones. Together with
//! [`SensorRecord::validate`] this is the whole of what a record must satisfy; the server and
//! `limes track --site` use the same [`SiteCheck`].

use std::collections::{HashMap, HashSet};

use super::{SensorKind, Site};
use crate::record::{FieldError, SensorRecord};

/// What each sensor of a site may send.
#[derive(Clone, Debug)]
enum Sends {
    /// A camera or observer: detections and heartbeats.
    Detections,
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
        let sensors = site
            .sensors
            .iter()
            .map(|s| {
                let sends = match &s.kind {
                    SensorKind::Fence(f) => {
                        Sends::Fence(f.zones.iter().map(|z| z.id.clone()).collect())
                    }
                    SensorKind::Camera(_) | SensorKind::Observer(_) => Sends::Detections,
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
            (SensorRecord::Detection(_), Sends::Detections) => Ok(()),
            (SensorRecord::Detection(_), Sends::Fence(_)) => Err(FieldError::new(
                "type",
                format!("{sensor:?} is a fence controller: it sends fence alarms and heartbeats"),
            )),
            (SensorRecord::Fence(_), Sends::Detections) => Err(FieldError::new(
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
