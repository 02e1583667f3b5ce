//! The workspace's `headroom` binary for the drills that run it as a real process.

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
