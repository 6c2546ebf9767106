//! The CoT event parser never panics; what it accepts has finite, in-range coordinates.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(ev) = limes_server::cot::parse(data) {
        assert!(ev.lat.is_finite() && (-90.0..=90.0).contains(&ev.lat));
        assert!(ev.lon.is_finite() && (-180.0..=180.0).contains(&ev.lon));
    }
});
