//! The configuration loader on arbitrary TOML text (what `config::load` reads from disk).
//! A configuration that loads is saved (`to_toml`) and loads again to the same value.
#![no_main]

use headroom_core::config::{parse_toml, to_toml};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(config) = parse_toml(text) else {
        return;
    };
    let _ = config.issues();
    let saved = to_toml(&config).unwrap_or_else(|e| panic!("a valid config does not save: {e}"));
    match parse_toml(&saved) {
        Ok(again) => assert_eq!(again, config, "save and load changed the configuration"),
        Err((e, _)) => panic!("a saved valid config does not load: {e}\n{saved}"),
    }
});
