//! Build script: Tauri's code generation, with a fallback page when the web UI is not built.
//!
//! `tauri.conf.json` embeds `../ui/dist`. A clean clone that has not run `npm run build` yet
//! still compiles: the build then embeds `fallback-ui/` (a page that says how to build the
//! UI) by handing Tauri a config override through `TAURI_CONFIG`, which both `tauri-build`
//! and the `generate_context!` macro merge into the file's config.

use std::path::Path;

const UI_DIST: &str = "../ui/dist";
const FALLBACK: &str = "fallback-ui";

/// The app's commands; each gets an `allow-<name>` permission that `capabilities/` grants.
const COMMANDS: [&str; 13] = [
    "get_snapshot",
    "get_history",
    "get_events",
    "get_config",
    "put_config",
    "clear_cache",
    "set_limit",
    // Issue 7 (src/insights.rs).
    "get_wired_limit",
    "get_fit",
    "get_doctor",
    "get_top",
    "check_wired_limit",
    "set_wired_limit",
];

fn main() {
    println!("cargo:rerun-if-changed={UI_DIST}");
    println!("cargo:rerun-if-changed={FALLBACK}");
    if !Path::new(UI_DIST).join("index.html").is_file() {
        let patch = format!(r#"{{"build":{{"frontendDist":"{FALLBACK}"}}}}"#);
        println!("cargo:warning=ui/dist is missing: embedding {FALLBACK}/ (run `cd ui && npm ci && npm run build`, then rebuild)");
        std::env::set_var("TAURI_CONFIG", &patch);
        println!("cargo:rustc-env=TAURI_CONFIG={patch}");
    }
    let manifest = tauri_build::AppManifest::new().commands(&COMMANDS);
    if let Err(e) = tauri_build::try_build(tauri_build::Attributes::new().app_manifest(manifest)) {
        println!("cargo:warning=tauri-build failed: {e:#}");
        std::process::exit(1);
    }
}
