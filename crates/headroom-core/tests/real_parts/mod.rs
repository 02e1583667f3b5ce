//! What a test does when a real part it needs (MLX, Prometheus, root, a tmpfs, another local
//! user) is missing.
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

/// Another local user for the drills that need one: `headroom-test` (created with `useradd`
/// when missing; root only). `None` after saying loudly that `drill` is skipped, or a failure
/// under `HEADROOM_E2E_REQUIRED=1`.
pub fn other_user(drill: &str) -> Option<(u32, u32)> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let skip = if unsafe { libc::geteuid() } != 0 {
        Some("needs root to create and act as another user".to_owned())
    } else {
        None
    };
    let id = |flag: &str| {
        std::process::Command::new("id")
            .args([flag, "headroom-test"])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
    };
    let found = skip.is_none().then(|| {
        if id("-u").is_none() {
            let _ = std::process::Command::new("useradd")
                .args([
                    "--system",
                    "--no-create-home",
                    "--shell",
                    "/usr/sbin/nologin",
                    "headroom-test",
                ])
                .status();
        }
        id("-u").zip(id("-g"))
    });
    match found.flatten() {
        Some(ids) => Some(ids),
        None => {
            let why = skip.unwrap_or_else(|| "useradd headroom-test failed".into());
            missing(drill, &why);
            None
        }
    }
}
