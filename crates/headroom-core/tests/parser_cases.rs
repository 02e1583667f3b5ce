//! The size and parameter-count parsers against the test cases shared with the TypeScript
//! and Python implementations (`tests/cases/parsers.json`), so the three cannot drift.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use headroom_core::fit::parse_params;
use headroom_core::units::parse_size;
use serde_json::Value;

fn cases(kind: &str) -> Vec<(String, Option<u64>)> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/cases/parsers.json"
    );
    let all: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let list = all[kind].as_array().expect("a list of cases");
    assert!(list.len() >= 10, "{kind}: too few cases");
    list.iter()
        .map(|c| (c[0].as_str().unwrap().to_owned(), c[1].as_u64()))
        .collect()
}

#[test]
fn sizes_parse_as_the_shared_cases_say() {
    for (input, want) in cases("size") {
        assert_eq!(parse_size(&input).ok(), want, "parse_size({input:?})");
    }
}

#[test]
fn parameter_counts_parse_as_the_shared_cases_say() {
    for (input, want) in cases("params") {
        assert_eq!(parse_params(&input).ok(), want, "parse_params({input:?})");
    }
}
