//! Build script: Tauri's code generation, with a fallback page when the web UI is not built.
//!
//! `tauri.conf.json` embeds `../ui/dist`. A clean clone that has not run `npm run build` yet
//! still compiles: the build then embeds `fallback-ui/` (a page that says how to build the
//! UI) by handing Tauri a config override through `TAURI_CONFIG`, which both `tauri-build`
//! and the `generate_context!` macro merge into the file's config.

use std::path::Path;

const UI_DIST: &str = "../ui/dist";
const FALLBACK: &str = "fallback-ui";

/// The operations table generated from `headroom_core::ops` (`cargo test -p headroom-core
/// export_bindings`): the app's commands are read from its `COMMANDS`.
const OPERATIONS: &str = "../ui/src/bindings/operations.ts";

/// The app's commands; each gets an `allow-<name>` permission that `capabilities/` grants
/// (a test checks both against the table).
fn commands() -> Vec<String> {
    let text = std::fs::read_to_string(OPERATIONS).unwrap_or_default();
    let Some(start) = text.find("export const COMMANDS = {") else {
        println!("cargo:warning={OPERATIONS} has no COMMANDS table");
        std::process::exit(1);
    };
    text[start..]
        .lines()
        .skip(1)
        .take_while(|l| !l.starts_with('}'))
        .filter_map(|l| l.split('\'').nth(1).map(str::to_owned))
        .collect()
}

fn main() {
    println!("cargo:rerun-if-changed={UI_DIST}");
    println!("cargo:rerun-if-changed={FALLBACK}");
    println!("cargo:rerun-if-changed={OPERATIONS}");
    if !Path::new(UI_DIST).join("index.html").is_file() {
        let patch = format!(r#"{{"build":{{"frontendDist":"{FALLBACK}"}}}}"#);
        println!("cargo:warning=ui/dist is missing: embedding {FALLBACK}/ (run `cd ui && npm ci && npm run build`, then rebuild)");
        std::env::set_var("TAURI_CONFIG", &patch);
        println!("cargo:rustc-env=TAURI_CONFIG={patch}");
    }
    // tauri-build wants `'static` names; a build script ends right after.
    let names: Vec<&'static str> = commands().into_iter().map(|c| &*c.leak()).collect();
    let manifest = tauri_build::AppManifest::new().commands(names.leak());
    if let Err(e) = tauri_build::try_build(tauri_build::Attributes::new().app_manifest(manifest)) {
        println!("cargo:warning=tauri-build failed: {e:#}");
        std::process::exit(1);
    }
}
