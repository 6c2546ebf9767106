//! Checks one sensor record before it is logged: the core rules every path shares
//! ([`SiteCheck`]: the record's values, its sensor, its kind, its fence zone), the server's own
//! one (WGS84 only: the server has one geography), and a window around the server's clock.

use limes_core::record::{FieldError, Position, SensorRecord, Time};
use limes_core::site::{Site, SiteCheck};

use crate::clock::Clock;

/// Validates records against the site and a window around the server's clock.
#[derive(Clone, Debug)]
pub struct Checker {
    site: SiteCheck,
    clock: Clock,
    max_future_s: f64,
    max_past_s: f64,
}

impl Checker {
    /// A checker for the site's sensors; records more than `max_future_s` ahead of the clock or
    /// `max_past_s` behind it are refused.
    pub fn new(site: &Site, clock: Clock, max_future_s: f64, max_past_s: f64) -> Self {
        Self {
            site: SiteCheck::new(site),
            clock,
            max_future_s,
            max_past_s,
        }
    }

    /// Whether the site knows this sensor.
    pub fn knows(&self, sensor: &str) -> bool {
        self.site.knows(sensor)
    }

    /// Checks one record; the error names the field.
    pub fn check(&self, rec: &SensorRecord) -> Result<(), FieldError> {
        self.site.check(rec)?;
        if let SensorRecord::Detection(d) = rec {
            if let Position::Local { .. } = d.pos {
                return Err(FieldError::new(
                    "x",
                    "the server takes WGS84 lon/lat, not local x/y",
                ));
            }
        }
        self.time(rec.time())
    }

    fn time(&self, t: Time) -> Result<(), FieldError> {
        let now = self.clock.now();
        if t.0 > now + self.max_future_s {
            return Err(FieldError::new(
                "time",
                format!(
                    "{t} is {:.0} s ahead of the server clock ({}); is the sensor's clock wrong?",
                    t.0 - now,
                    Time(now)
                ),
            ));
        }
        if t.0 < now - self.max_past_s {
            return Err(FieldError::new(
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
