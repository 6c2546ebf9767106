//! Timestamps: seconds since the Unix epoch inside, RFC 3339 in files.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{de, Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// A UTC instant as seconds since the Unix epoch (millisecond precision in files).
#[derive(Clone, Copy, Debug, Default, PartialEq, PartialOrd)]
pub struct Time(pub f64);

impl Time {
    /// Seconds since the Unix epoch.
    pub fn secs(self) -> f64 {
        self.0
    }

    /// Parses an RFC 3339 timestamp such as `2019-10-12T22:00:00+03:00`.
    pub fn parse(s: &str) -> Option<Time> {
        DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|t| Time(t.timestamp_millis() as f64 / 1000.0))
    }

    /// Formats as RFC 3339 UTC with milliseconds.
    pub fn to_rfc3339(self) -> String {
        let ms = (self.0 * 1000.0).round() as i64;
        match DateTime::<Utc>::from_timestamp_millis(ms) {
            Some(t) => t.to_rfc3339_opts(SecondsFormat::Millis, true),
            None => format!("{}", self.0),
        }
    }

    /// This time plus `s` seconds.
    pub fn plus(self, s: f64) -> Time {
        Time(self.0 + s)
    }

    /// Seconds from `earlier` to `self`.
    pub fn since(self, earlier: Time) -> f64 {
        self.0 - earlier.0
    }
}

impl fmt::Display for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl Serialize for Time {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_rfc3339())
    }
}

impl<'de> Deserialize<'de> for Time {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = Time;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an RFC 3339 timestamp or seconds since the Unix epoch")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Time, E> {
                Time::parse(v).ok_or_else(|| E::custom(format!("not an RFC 3339 timestamp: {v:?}")))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Time, E> {
                if v.is_finite() {
                    Ok(Time(v))
                } else {
                    Err(E::custom("time is not finite"))
                }
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Time, E> {
                Ok(Time(v as f64))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Time, E> {
                Ok(Time(v as f64))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for Time {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                utoipa::openapi::KnownFormat::DateTime,
            )))
            .description(Some("RFC 3339 time, e.g. 2019-10-12T22:00:00Z"))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for Time {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_rfc3339() {
        let t = Time::parse("2019-10-12T22:00:00.250+03:00").expect("valid");
        assert_eq!(t.to_rfc3339(), "2019-10-12T19:00:00.250Z");
        assert_eq!(Time::parse(&t.to_rfc3339()), Some(t));
    }
}
