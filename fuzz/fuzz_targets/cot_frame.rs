//! The CoT framing codec never panics, never yields a frame past its bound, and always ends
//! frames with `</event>`, whatever the bytes and however they are split.
#![no_main]
use libfuzzer_sys::fuzz_target;
use limes_server::cot::frame::frame_all;

fuzz_target!(|data: &[u8]| {
    let cut = data.first().copied().unwrap_or(1).max(1) as usize;
    let (events, _) = frame_all(data, cut, 4096);
    for ev in events {
        assert!(ev.ends_with(b"</event>"));
        assert!(ev.len() <= 4096);
    }
});
