//! The one gate every sensor record passes, whatever path it came by (HTTP, CoT, a file for
//! `limes track`): a strict decoder that names the field at fault, and the value checks.
//!
//! The decoder reads a record's JSON object key by key, so a wrong type, an unknown key, a
//! duplicate key or a missing key is reported with that key's name, never guessed from an
//! error message. [`SensorRecord::validate`] then checks the values (finite, in range, a
//! detection with `ce` or `cov`, …); the tracker and the server call the same function.

use serde::de::{DeserializeOwned, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::value::RawValue;
use std::fmt;

use super::{
    ClassProbs, Detection, FenceAlarm, FenceAlarmKind, Heartbeat, Position, SensorRecord, Time,
};
use crate::geo::LonLat;

/// Longest sensor or zone identifier, bytes.
pub const MAX_ID_LEN: usize = 128;

/// Largest circular error a detection may carry, metres.
pub const MAX_CE_M: f64 = 100_000.0;

/// Largest heat-signature area, m².
pub const MAX_HEAT_M2: f64 = 10_000.0;

/// Largest head count one observer report may carry.
pub const MAX_COUNT: u32 = 100_000;

/// What is wrong with one field of one record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{}{message}", if field.is_empty() { String::new() } else { format!("field `{field}`: ") })]
pub struct FieldError {
    /// The field at fault, as a JSON path (`ce`, `class.person`, `cov[1]`); empty only when the
    /// text is not a JSON object at all.
    pub field: String,
    /// What is wrong, in one sentence.
    pub message: String,
}

impl FieldError {
    /// An error about `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// The keys of one JSON object and their raw values, in order.
struct Fields<'a>(Vec<(String, &'a RawValue)>);

impl<'de> Deserialize<'de> for Fields<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Fields<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(k) = map.next_key::<String>()? {
                    let v: &'de RawValue = map.next_value()?;
                    out.push((k, v));
                }
                Ok(Fields(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// Reads the fields of one record, each at most once, each by name.
struct Reader<'a> {
    fields: Vec<(String, &'a RawValue, bool)>,
}

impl<'a> Reader<'a> {
    fn new(f: Fields<'a>) -> Result<Self, FieldError> {
        let mut fields: Vec<(String, &'a RawValue, bool)> = Vec::with_capacity(f.0.len());
        for (k, v) in f.0 {
            if fields.iter().any(|x| x.0 == k) {
                return Err(FieldError::new(&k, "appears twice in the record"));
            }
            fields.push((k, v, false));
        }
        Ok(Self { fields })
    }

    fn raw(&mut self, name: &str) -> Option<&'a RawValue> {
        let f = self.fields.iter_mut().find(|f| f.0 == name)?;
        f.2 = true;
        // `null` reads as absent, as serde's `Option` does.
        (f.1.get() != "null").then_some(f.1)
    }

    fn opt<T: DeserializeOwned>(&mut self, name: &str) -> Result<Option<T>, FieldError> {
        let Some(raw) = self.raw(name) else {
            return Ok(None);
        };
        let de = &mut serde_json::Deserializer::from_str(raw.get());
        serde_path_to_error::deserialize(de).map(Some).map_err(|e| {
            let path = e.path().to_string();
            let field = if path.is_empty() || path == "." {
                name.to_string()
            } else if path.starts_with('[') {
                format!("{name}{path}")
            } else {
                format!("{name}.{path}")
            };
            FieldError::new(field, e.into_inner().to_string())
        })
    }

    fn req<T: DeserializeOwned>(&mut self, name: &str) -> Result<T, FieldError> {
        self.opt(name)?
            .ok_or_else(|| FieldError::new(name, "missing (required for this record type)"))
    }

    /// Refuses any key that was not read: unknown fields are not stored.
    fn finish(self, kind: &str) -> Result<(), FieldError> {
        match self.fields.iter().find(|f| !f.2) {
            Some(f) => Err(FieldError::new(
                &f.0,
                format!("unknown field for a {kind} record (see docs/schema.md)"),
            )),
            None => Ok(()),
        }
    }
}

/// The `type` of a sensor record.
#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum Kind {
    Detection,
    Fence,
    Heartbeat,
}

/// The strict (class) probabilities of a detection: unknown keys refused.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StrictClass {
    #[serde(default)]
    person: f64,
    #[serde(default)]
    vehicle: f64,
    #[serde(default)]
    animal: f64,
}

impl SensorRecord {
    /// Decodes one record from the text of one JSON object, naming the field at fault: a wrong
    /// type, an unknown, duplicate or missing key. Values are not checked here; see
    /// [`SensorRecord::validate`] (or [`SensorRecord::from_json_checked`] for both).
    pub fn from_json(text: &[u8]) -> Result<SensorRecord, FieldError> {
        let mut de = serde_json::Deserializer::from_slice(text);
        let fields = Fields::deserialize(&mut de).map_err(|e| syntax(text, &e))?;
        de.end()
            .map_err(|e| FieldError::new("", format!("text after the record: {e}")))?;
        let mut r = Reader::new(fields)?;
        let kind: Kind = r.req("type").map_err(|e| {
            FieldError::new(
                "type",
                format!(
                    "{}; one of \"detection\", \"fence\", \"heartbeat\"",
                    e.message
                ),
            )
        })?;
        let sensor: String = r.req("sensor")?;
        let time: Time = r.req("time")?;
        let rec = match kind {
            Kind::Detection => {
                let (lon, lat) = (r.opt::<f64>("lon")?, r.opt::<f64>("lat")?);
                let (x, y) = (r.opt::<f64>("x")?, r.opt::<f64>("y")?);
                let pos = match (lon, lat, x, y) {
                    (Some(lon), Some(lat), None, None) => Position::LonLat { lon, lat },
                    (None, None, Some(x), Some(y)) => Position::Local { x, y },
                    (Some(_), None, _, _) => return Err(FieldError::new("lat", "missing")),
                    (None, Some(_), _, _) => return Err(FieldError::new("lon", "missing")),
                    (None, None, Some(_), None) => return Err(FieldError::new("y", "missing")),
                    (None, None, None, Some(_)) => return Err(FieldError::new("x", "missing")),
                    (None, None, None, None) => {
                        return Err(FieldError::new(
                            "lon",
                            "a detection needs `lon` and `lat` (or `x` and `y`)",
                        ))
                    }
                    _ => {
                        return Err(FieldError::new(
                            "x",
                            "give `lon`/`lat` or `x`/`y`, not both",
                        ))
                    }
                };
                let class = r.opt::<StrictClass>("class")?.map(|c| ClassProbs {
                    person: c.person,
                    vehicle: c.vehicle,
                    animal: c.animal,
                });
                let d = Detection {
                    sensor,
                    time,
                    pos,
                    cov: r.opt("cov")?,
                    ce: r.opt("ce")?,
                    class,
                    heat_m2: r.opt("heat_m2")?,
                    count: r.opt("count")?,
                };
                r.finish("detection")?;
                SensorRecord::Detection(d)
            }
            Kind::Fence => {
                let f = FenceAlarm {
                    sensor,
                    time,
                    zone: r.req("zone")?,
                    alarm: r.req::<FenceAlarmKind>("alarm")?,
                    line: r.req("line")?,
                };
                r.finish("fence")?;
                SensorRecord::Fence(f)
            }
            Kind::Heartbeat => {
                r.finish("heartbeat")?;
                SensorRecord::Heartbeat(Heartbeat { sensor, time })
            }
        };
        Ok(rec)
    }

    /// [`SensorRecord::from_json`] then [`SensorRecord::validate`].
    pub fn from_json_checked(text: &[u8]) -> Result<SensorRecord, FieldError> {
        let r = Self::from_json(text)?;
        r.validate()?;
        Ok(r)
    }

    /// Checks the record's values: identifiers non-empty and short, a finite time, positions
    /// on the Earth (or finite local metres), a detection with `ce` or `cov` (finite, positive,
    /// `cov` positive definite), class probabilities in [0, 1], plausible heat and head count,
    /// a fence zone named and its line on the Earth. The tracker, the server and `limes track`
    /// all call this one function.
    pub fn validate(&self) -> Result<(), FieldError> {
        let (sensor, time) = match self {
            SensorRecord::Detection(d) => (&d.sensor, d.time),
            SensorRecord::Fence(f) => (&f.sensor, f.time),
            SensorRecord::Heartbeat(h) => (&h.sensor, h.time),
        };
        identifier("sensor", sensor)?;
        if !(time.0.is_finite() && (0.0..7_258_118_400.0).contains(&time.0)) {
            return Err(FieldError::new("time", "not a time between 1970 and 2200"));
        }
        match self {
            SensorRecord::Detection(d) => d.validate(),
            SensorRecord::Fence(f) => {
                identifier("zone", &f.zone)?;
                for (i, p) in f.line.iter().enumerate() {
                    LonLat::new(p[0], p[1])
                        .check()
                        .map_err(|m| FieldError::new(format!("line[{i}]"), m))?;
                }
                Ok(())
            }
            SensorRecord::Heartbeat(_) => Ok(()),
        }
    }
}

impl Position {
    /// Checks a position: WGS84 within its ranges, or finite metres; the error names the field.
    pub fn check(&self) -> Result<(), FieldError> {
        match *self {
            Position::LonLat { lon, lat } => LonLat::new(lon, lat).check().map_err(|m| {
                let field = if m.starts_with("lon") { "lon" } else { "lat" };
                FieldError::new(field, m)
            }),
            Position::Local { x, y } => {
                if !x.is_finite() {
                    return Err(FieldError::new("x", "must be a finite number of metres"));
                }
                if !y.is_finite() {
                    return Err(FieldError::new("y", "must be a finite number of metres"));
                }
                Ok(())
            }
        }
    }
}

impl Detection {
    /// Checks a detection's values (see [`SensorRecord::validate`]).
    pub fn validate(&self) -> Result<(), FieldError> {
        self.pos.check()?;
        match (self.cov, self.ce) {
            (None, None) => {
                return Err(FieldError::new(
                    "ce",
                    "a detection needs its position error: `ce` (metres) or `cov`",
                ))
            }
            (Some(c), _) => {
                let max = MAX_CE_M * MAX_CE_M;
                if !c.iter().all(|v| v.is_finite())
                    || c[0] <= 0.0
                    || c[2] <= 0.0
                    || c[0] > max
                    || c[2] > max
                    || c[1] * c[1] >= c[0] * c[2]
                {
                    return Err(FieldError::new(
                        "cov",
                        "must be a finite, positive-definite [var_east, cov_en, var_north] in m² (variances up to 1e10)",
                    ));
                }
            }
            (None, Some(_)) => {}
        }
        if let Some(ce) = self.ce {
            if !(ce.is_finite() && ce > 0.0 && ce <= MAX_CE_M) {
                return Err(FieldError::new(
                    "ce",
                    format!("{ce} is not a circular error in metres (0, {MAX_CE_M}]"),
                ));
            }
        }
        if let Some(c) = &self.class {
            for (name, p) in [
                ("person", c.person),
                ("vehicle", c.vehicle),
                ("animal", c.animal),
            ] {
                if !(p.is_finite() && (0.0..=1.0).contains(&p)) {
                    return Err(FieldError::new(
                        format!("class.{name}"),
                        format!("{p} is not a probability in [0, 1]"),
                    ));
                }
            }
        }
        if let Some(h) = self.heat_m2 {
            if !(h.is_finite() && (0.0..MAX_HEAT_M2).contains(&h)) {
                return Err(FieldError::new(
                    "heat_m2",
                    format!("{h} is not a heat area in m² [0, {MAX_HEAT_M2})"),
                ));
            }
        }
        if let Some(n) = self.count {
            if n > MAX_COUNT {
                return Err(FieldError::new(
                    "count",
                    format!("{n} people is not a plausible head count (at most {MAX_COUNT})"),
                ));
            }
        }
        Ok(())
    }
}

fn identifier(field: &str, s: &str) -> Result<(), FieldError> {
    if s.is_empty() {
        return Err(FieldError::new(field, "must not be empty"));
    }
    if s.len() > MAX_ID_LEN {
        return Err(FieldError::new(
            field,
            format!("longer than {MAX_ID_LEN} bytes"),
        ));
    }
    if s.chars().any(char::is_control) {
        return Err(FieldError::new(field, "contains control characters"));
    }
    Ok(())
}

/// A syntax error: names the key whose value holds the error (`"lon": NaN`), or none.
fn syntax(text: &[u8], e: &serde_json::Error) -> FieldError {
    let field = if e.line() <= 1 {
        key_before(text, e.column()).unwrap_or_default()
    } else {
        String::new()
    };
    let message = match e.classify() {
        serde_json::error::Category::Eof => format!("truncated: {e}"),
        serde_json::error::Category::Data => format!("{e}"),
        _ => format!("not JSON: {e}"),
    };
    FieldError { field, message }
}

/// The last `"key":` before a (1-based) column of a one-line record.
fn key_before(text: &[u8], column: usize) -> Option<String> {
    let upto = text.get(..column.min(text.len()))?;
    let s = String::from_utf8_lossy(upto);
    let colon = s.rfind(':')?;
    let before = s[..colon].trim_end().strip_suffix('"')?;
    let start = before.rfind('"')?;
    Some(before[start + 1..].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(text: &str) -> String {
        match SensorRecord::from_json_checked(text.as_bytes()) {
            Ok(r) => panic!("accepted {text}: {r:?}"),
            Err(e) => e.field,
        }
    }

    const OK: &str = r#"{"type":"detection","sensor":"cam","time":"2019-10-12T22:00:00Z","lon":38.9,"lat":36.4,"ce":10}"#;

    #[test]
    fn a_good_record_decodes_as_serde_would() {
        let a = SensorRecord::from_json_checked(OK.as_bytes()).unwrap();
        let b: SensorRecord = serde_json::from_str(OK).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn every_fault_names_its_field() {
        let d = |extra: &str| OK.replace(r#""ce":10"#, extra);
        assert_eq!(field(&d(r#""ce":"ten""#)), "ce");
        assert_eq!(field(&d(r#""ce":10,"heat_m2":"hot""#)), "heat_m2");
        assert_eq!(field(&d(r#""ce":10,"class":"person""#)), "class");
        assert_eq!(
            field(&d(r#""ce":10,"class":{"person":"x"}"#)),
            "class.person"
        );
        assert_eq!(field(&d(r#""ce":10,"class":{"human":1}"#)), "class.human");
        assert_eq!(field(&d(r#""cov":[1,"a",1]"#)), "cov[1]");
        assert_eq!(field(&d(r#""cov":[1,0]"#)), "cov");
        assert_eq!(field(&d(r#""ce":10,"count":-1"#)), "count");
        assert_eq!(field(&d(r#""ce":10,"ce":11"#)), "ce");
        assert_eq!(field(&d(r#""ce":10,"junk":1"#)), "junk");
        assert_eq!(field(&d(r#""ce":0"#)), "ce");
        assert_eq!(
            field(&d(r#""ce":10,"class":{"person":1.5}"#)),
            "class.person"
        );
        assert_eq!(field(&d(r#""heat_m2":1"#)), "ce");
        assert_eq!(field(&OK.replace("38.9", "NaN")), "lon");
        // Text that is no JSON object has no field to name, and the message says none.
        let e = SensorRecord::from_json(b"not json").expect_err("not a record");
        assert!(
            e.field.is_empty() && !e.to_string().contains("field"),
            "{e}"
        );
        assert_eq!(field(&OK.replace("38.9", "238.9")), "lon");
        assert_eq!(field(&OK.replace("36.4", "\"north\"")), "lat");
        assert_eq!(
            field(&OK.replace("2019-10-12T22:00:00Z", "yesterday")),
            "time"
        );
        assert_eq!(field(&OK.replace("detection", "radar")), "type");
        assert_eq!(field(&OK.replace(r#""sensor":"cam","#, "")), "sensor");
        let fence = r#"{"type":"fence","sensor":"f1","zone":"z1","time":"2019-10-12T22:00:00Z","alarm":"cut","line":[[38.9,36.4],[38.91,36.4]]}"#;
        assert!(SensorRecord::from_json_checked(fence.as_bytes()).is_ok());
        assert_eq!(field(&fence.replace("\"cut\"", "\"bogus\"")), "alarm");
        assert_eq!(field(&fence.replace("\"z1\"", "7")), "zone");
        assert_eq!(field(&fence.replace("\"z1\"", "\"\"")), "zone");
        assert_eq!(
            field(&fence.replace("[38.91,36.4]", "[38.91,96.4]")),
            "line[1]"
        );
    }

    #[test]
    fn truncated_text_is_an_error_not_a_panic() {
        for cut in 0..OK.len() {
            let _ = SensorRecord::from_json_checked(&OK.as_bytes()[..cut]);
        }
        assert!(SensorRecord::from_json(&OK.as_bytes()[..20])
            .unwrap_err()
            .message
            .starts_with("truncated"));
    }
}
