//! The HTTP ingest parser never panics and keeps every accepted record re-parseable.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let checker = limes_server::ingest::testing_checker();
    let b = limes_server::ingest::body::parse(data, &checker, &|_| true);
    for line in b.body.split(|&c| c == b'\n').filter(|l| !l.is_empty()) {
        assert!(serde_json::from_slice::<limes_core::record::SensorRecord>(line).is_ok());
    }
});
