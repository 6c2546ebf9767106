//! The CoT framer never panics, never yields an event past its bound, and always ends events
//! with `</event>`, whatever the bytes and however they are split.
#![no_main]
use libfuzzer_sys::fuzz_target;
use limes_server::cot::Framer;

fuzz_target!(|data: &[u8]| {
    let mut f = Framer::new(4096);
    let cut = data.first().copied().unwrap_or(1).max(1) as usize;
    for chunk in data.chunks(cut) {
        f.push(chunk);
        while let Ok(Some(ev)) = f.next_event() {
            assert!(ev.ends_with(b"</event>"));
            assert!(ev.len() <= 4096 + chunk.len());
        }
    }
});
