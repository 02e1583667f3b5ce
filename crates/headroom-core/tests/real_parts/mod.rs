//! What a test does when a real part it needs (MLX, Prometheus, root, a tmpfs) is missing.
//! The README's test command (`scripts/test.sh`) sets `HEADROOM_E2E_REQUIRED=1`: there the
//! test fails, so it can never pass by skipping. Elsewhere it says loudly that it is skipped.
#![allow(dead_code)]

/// Whether missing real parts are failures (`HEADROOM_E2E_REQUIRED=1`).
pub fn required() -> bool {
    std::env::var("HEADROOM_E2E_REQUIRED").is_ok_and(|v| v == "1")
}

/// Reports that `test` cannot run without `what`; panics under `HEADROOM_E2E_REQUIRED=1`.
/// The caller returns after it (the test is skipped) when it does not panic.
pub fn missing(test: &str, what: &str) {
    assert!(
        !required(),
        "{test}: {what}, and HEADROOM_E2E_REQUIRED=1 forbids skipping"
    );
    eprintln!("\n*** SKIPPED {test}: {what} ***\n");
}
