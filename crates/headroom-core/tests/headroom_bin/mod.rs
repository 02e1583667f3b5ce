//! The workspace's `headroom` binary for the drills that run it as a real process, and another
//! local user for the drills that need one.
#![allow(dead_code)] // each test file uses part of it

use std::path::{Path, PathBuf};

/// The newest `target/{debug,release}/headroom` (built by `cargo test --workspace`), or `None`
/// after saying loudly that `drill` is skipped.
pub fn binary(drill: &str) -> Option<PathBuf> {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"),
        PathBuf::from,
    );
    let found = ["debug", "release"]
        .iter()
        .map(|p| target.join(p).join("headroom"))
        .filter(|p| p.exists())
        .max_by_key(|p| p.metadata().and_then(|m| m.modified()).ok());
    if found.is_none() {
        eprintln!(
            "\n*** SKIPPED {drill}: no headroom binary in {}; run `cargo build -p headroom-cli` \
             (cargo test --workspace builds it) ***\n",
            target.display()
        );
    }
    found
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
            assert!(
                std::env::var("HEADROOM_E2E_REQUIRED").as_deref() != Ok("1"),
                "{drill}: {why} (HEADROOM_E2E_REQUIRED=1)"
            );
            eprintln!("\n*** SKIPPED {drill}: {why} ***\n");
            None
        }
    }
}
