//! Sensors in: the typed batch every ingest path builds, the server-side record check (the
//! site and the server's clock), and the HTTP body parser. CoT ingest lives in [`crate::cot`]
//! and ends in the same [`Checker`] and [`Batch`].

pub mod body;
pub mod check;

pub use check::Checker;

use limes_core::record::{FieldError, SensorRecord};
use serde::{Deserialize, Serialize};

/// Why one record of a request was refused (or, with `last`, a run of records).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RecordError {
    /// Position of the record in the request, from 0.
    pub index: usize,
    /// For a run of records refused together (consecutive records refused for the same
    /// reason, or over the per-request limit), the last index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last: Option<usize>,
    /// The body could not be read past this point (broken or truncated): this record and
    /// everything after it in the body were not read, whatever they held.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub rest: bool,
    /// The field at fault (`time`, `lon`, `class.person`, …); empty only when the text is not
    /// a JSON object at all.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl RecordError {
    /// The error of record `index`.
    pub fn at(index: usize, e: FieldError) -> Self {
        Self {
            index,
            last: None,
            rest: false,
            field: e.field,
            message: e.message,
        }
    }

    /// How many records it names (a run names several; the unread rest of a body counts one).
    pub fn records(&self) -> usize {
        self.last
            .map_or(1, |l| l.saturating_add(1).saturating_sub(self.index).max(1))
    }
}

/// The checked records of one request, their log text, and the refusals so far.
#[derive(Clone, Debug, Default)]
pub struct Batch {
    /// Records that passed every check, in request order.
    pub records: Vec<SensorRecord>,
    /// Each record's position in the request.
    pub index: Vec<usize>,
    /// The records as NDJSON, one line each, as they are written to the durable log.
    pub body: Vec<u8>,
    /// Where each record's line ends in `body`.
    pub ends: Vec<usize>,
    /// The refusals.
    pub errors: Vec<RecordError>,
}

impl Batch {
    /// Adds a checked record with its one-line JSON text.
    pub fn push(&mut self, index: usize, rec: SensorRecord, line: &[u8]) {
        self.body.extend_from_slice(line);
        self.body.push(b'\n');
        self.ends.push(self.body.len());
        self.index.push(index);
        self.records.push(rec);
    }

    /// Adds a checked record, writing its JSON text.
    pub fn push_record(&mut self, index: usize, rec: SensorRecord) {
        if let Ok(line) = serde_json::to_vec(&rec) {
            self.push(index, rec, &line);
        }
    }

    /// Names a refused record, folding it into the previous refusal when that one is of the
    /// record just before for the same field and reason (a body of 100,000 records all wrong
    /// in one way is one run, not 100,000 entries in the reply).
    pub fn refuse(&mut self, e: RecordError) {
        if let Some(prev) = self.errors.last_mut() {
            let end = prev.last.unwrap_or(prev.index);
            if !prev.rest
                && !e.rest
                && e.last.is_none()
                && e.index == end + 1
                && e.field == prev.field
                && e.message == prev.message
            {
                prev.last = Some(e.index);
                return;
            }
        }
        self.errors.push(e);
    }

    /// The line of record `k` (without its newline).
    pub fn line(&self, k: usize) -> &[u8] {
        let start = if k == 0 { 0 } else { self.ends[k - 1] };
        &self.body[start..self.ends[k] - 1]
    }
}

/// What an ingest request achieved: stored once durable, or refused by index and field.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct IngestReply {
    /// Records stored.
    pub accepted: usize,
    /// Log sequence number of the stored batch, if any record was stored.
    pub seq: Option<i64>,
    /// The refused records.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rejected: Vec<RecordError>,
    /// True when this is the stored reply to an earlier request with the same idempotency key.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub replayed: bool,
}

/// An `Idempotency-Key` with who sent it and a digest of what they sent.
#[derive(Clone, Debug)]
pub struct IdempotencyKey {
    /// The caller (`org/token:N`): keys are per caller.
    pub principal: String,
    /// The key.
    pub key: String,
    /// SHA-256 of the request body: a reused key with another body is refused.
    pub digest: [u8; 32],
}

/// A checker for a one-camera site (`cam` at 38.87 E, 36.38 N) on the wall clock, accepting
/// records ±1 h; for fuzz targets and tests.
#[allow(clippy::expect_used)] // A constant that the tests show parses.
pub fn testing_checker() -> Checker {
    const SITE: &str = r#"
name = "fuzz"
[[sensors]]
id = "cam"
kind = "thermal_camera"
lon = 38.87
lat = 36.38
"#;
    let site = limes_core::site::parse(SITE, std::path::Path::new("fuzz.toml"))
        .expect("the built-in site parses");
    Checker::new(&site, crate::clock::Clock::wall(), 3600.0, 3600.0)
}
