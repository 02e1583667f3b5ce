//! The agent protocol decoder: any line an agent (or something squatting its socket) sends.
//! Decoding never panics; a decoded `result` decodes into every answer type without panic.
#![no_main]

use headroom_core::agents::protocol::{decode_response, decode_result, ActionResult, Hello, Stats};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let id = data.first().map_or(1, |&b| u64::from(b));
    if let Ok(result) = decode_response(data, id) {
        let _ = decode_result::<Hello>("hello", result.clone());
        if let Ok(stats) = decode_result::<Stats>("stats", result.clone()) {
            let _ = stats.recommended_working_set();
        }
        let _ = decode_result::<ActionResult>("clear_cache", result);
    }
});
