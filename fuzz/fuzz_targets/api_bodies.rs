//! The JSON bodies of the operator endpoints and the alert filter never panic the parsers.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    limes_server::api::fuzz_bodies(data);
});
