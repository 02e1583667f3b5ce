//! Configuration validation on arbitrary JSON documents (the body of `PUT /api/config` and
//! the Tauri `put_config` command). What validates, validates again the same after a round
//! trip through JSON.
#![no_main]

use headroom_core::config::validate_json;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(doc) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let Ok(config) = validate_json(&doc) else {
        return;
    };
    assert!(config.issues().is_empty(), "validated config has issues");
    let again = serde_json::to_value(&config).unwrap_or_else(|e| panic!("encode: {e}"));
    match validate_json(&again) {
        Ok(c) => assert_eq!(c, config, "JSON round trip changed the configuration"),
        Err(issues) => panic!("re-validation failed: {issues:?}"),
    }
});
