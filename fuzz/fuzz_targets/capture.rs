//! Capture loading (`headroom replay FILE`, fixtures): arbitrary documents are refused with a
//! message or loaded, and a loaded capture replays and re-encodes without panic.
#![no_main]

use headroom_core::capture::Capture;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(capture) = Capture::from_json(text) else {
        return;
    };
    let _ = capture.replay();
    let _ = capture.to_json();
});
