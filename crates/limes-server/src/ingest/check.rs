//! Checks one sensor record against the site and the server's clock: the one gate that HTTP
//! and CoT ingest both pass through.

use limes_core::record::{Position, SensorRecord, Time};
use limes_core::site::Site;
use serde::Serialize;
use std::collections::HashSet;

use crate::clock::Clock;

/// Why one record of a batch was refused.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RecordError {
    /// Position of the record in the batch, from 0.
    pub index: usize,
    /// The field at fault (`time`, `lon`, `sensor`, …; empty when the record does not parse).
    pub field: String,
    /// What is wrong.
    pub message: String,
}

/// Validates records against the site's sensors and a window around the server's clock.
#[derive(Clone, Debug)]
pub struct Checker {
    sensors: HashSet<String>,
    clock: Clock,
    max_future_s: f64,
    max_past_s: f64,
}

type Fault = (&'static str, String);

impl Checker {
    /// A checker for the site's sensors; records more than `max_future_s` ahead of the clock or
    /// `max_past_s` behind it are refused.
    pub fn new(site: &Site, clock: Clock, max_future_s: f64, max_past_s: f64) -> Self {
        Self {
            sensors: site.sensors.iter().map(|s| s.id.clone()).collect(),
            clock,
            max_future_s,
            max_past_s,
        }
    }

    /// Whether the site knows this sensor.
    pub fn knows(&self, sensor: &str) -> bool {
        self.sensors.contains(sensor)
    }

    /// Checks one record; the error names the field.
    pub fn check(&self, rec: &SensorRecord) -> Result<(), Fault> {
        let (sensor, time) = match rec {
            SensorRecord::Detection(d) => (&d.sensor, d.time),
            SensorRecord::Fence(f) => (&f.sensor, f.time),
            SensorRecord::Heartbeat(h) => (&h.sensor, h.time),
        };
        if !self.sensors.contains(sensor) {
            return Err((
                "sensor",
                format!("unknown sensor {sensor:?}: not in the site file"),
            ));
        }
        self.time(time)?;
        match rec {
            SensorRecord::Detection(d) => {
                position(&d.pos)?;
                if let Some(c) = d.cov {
                    if !c.iter().all(|v| v.is_finite())
                        || c[0] <= 0.0
                        || c[2] <= 0.0
                        || c[1] * c[1] >= c[0] * c[2]
                    {
                        return Err((
                            "cov",
                            "must be finite and positive definite [var_e, cov_en, var_n] in m²"
                                .into(),
                        ));
                    }
                }
                if let Some(ce) = d.ce {
                    if !(ce.is_finite() && ce > 0.0 && ce < 100_000.0) {
                        return Err((
                            "ce",
                            format!("{ce} is not a circular error in metres (0, 100000)"),
                        ));
                    }
                }
                if let Some(c) = &d.class {
                    if !c
                        .as_array()
                        .iter()
                        .all(|p| p.is_finite() && (0.0..=1.0).contains(p))
                    {
                        return Err(("class", "probabilities must lie in [0, 1]".into()));
                    }
                }
                if let Some(h) = d.heat_m2 {
                    if !(0.0..10_000.0).contains(&h) {
                        return Err((
                            "heat_m2",
                            format!("{h} is not a heat area in m² [0, 10000)"),
                        ));
                    }
                }
                if let Some(n) = d.count {
                    if n > 100_000 {
                        return Err(("count", format!("{n} people is not a plausible head count")));
                    }
                }
                Ok(())
            }
            SensorRecord::Fence(f) => {
                if f.zone.is_empty() {
                    return Err(("zone", "must not be empty".into()));
                }
                for p in &f.line {
                    lonlat(p[0], p[1]).map_err(|m| ("line", m))?;
                }
                Ok(())
            }
            SensorRecord::Heartbeat(_) => Ok(()),
        }
    }

    fn time(&self, t: Time) -> Result<(), Fault> {
        let now = self.clock.now();
        if !t.0.is_finite() {
            return Err(("time", "not a time".into()));
        }
        if t.0 > now + self.max_future_s {
            return Err((
                "time",
                format!(
                    "{t} is {:.0} s ahead of the server clock ({}); is the sensor's clock wrong?",
                    t.0 - now,
                    Time(now)
                ),
            ));
        }
        if t.0 < now - self.max_past_s {
            return Err((
                "time",
                format!(
                    "{t} is {:.0} s behind the server clock ({}); too old to track",
                    now - t.0,
                    Time(now)
                ),
            ));
        }
        Ok(())
    }
}

fn position(p: &Position) -> Result<(), Fault> {
    match *p {
        Position::LonLat { lon, lat } => lonlat(lon, lat).map_err(|m| {
            if m.starts_with("lon") {
                ("lon", m)
            } else {
                ("lat", m)
            }
        }),
        Position::Local { .. } => {
            Err(("x", "the server takes WGS84 lon/lat, not local x/y".into()))
        }
    }
}

fn lonlat(lon: f64, lat: f64) -> Result<(), String> {
    if !(lon.is_finite() && (-180.0..=180.0).contains(&lon)) {
        return Err(format!("lon {lon} is not a longitude in [-180, 180]"));
    }
    if !(lat.is_finite() && (-90.0..=90.0).contains(&lat)) {
        return Err(format!("lat {lat} is not a latitude in [-90, 90]"));
    }
    Ok(())
}
