//! Sensors in: the record checks shared by every ingest path, and the HTTP body parser.
//! (CoT ingest lives in [`crate::cot`] and ends in the same [`Checker`].)

pub mod check;
pub mod ndjson;

pub use check::{Checker, RecordError};

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
