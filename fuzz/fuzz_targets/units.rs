//! The size and duration parsers (CLI arguments, config values, `"size"` in HTTP bodies).
//! Never panics; a parsed size formats without panic.
#![no_main]

use headroom_core::units::{format_bytes, format_rate, parse_duration, parse_size};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(n) = parse_size(text) {
        let _ = format_bytes(n);
        let _ = format_rate(n as f64);
    }
    let _ = parse_duration(text);
});
