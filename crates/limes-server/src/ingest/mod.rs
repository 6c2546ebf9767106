//! Sensors in: the record checks shared by every ingest path, and the HTTP body parser.
//! (CoT ingest lives in [`crate::cot`] and ends in the same [`Checker`].)

pub mod check;
pub mod ndjson;

pub use check::{Checker, RecordError};
