//! Embeds the Python agent (`agent/headroom_agent/` and `agent/_headroom_hook.py`) in the
//! library, so `headroom agent enable` can copy it into Headroom's data directory without
//! anything being pip-installed: it writes `$OUT_DIR/agent_files.rs`, a list of
//! `(relative path, include_str!(absolute path))` for every file of the package.

use std::path::{Path, PathBuf};

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let agent = manifest.join("../../agent");
    let package = agent.join("headroom_agent");
    println!("cargo:rerun-if-changed={}", package.display());
    let hook = agent.join("_headroom_hook.py");
    println!("cargo:rerun-if-changed={}", hook.display());
    let mut files = vec![("_headroom_hook.py".to_string(), hook)];
    let mut names: Vec<PathBuf> = std::fs::read_dir(&package)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    names.sort();
    for path in names {
        if is_agent_file(&path) {
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
            files.push((format!("headroom_agent/{}", name.unwrap_or_default()), path));
        }
    }
    let mut out = String::from("&[\n");
    for (rel, path) in &files {
        let abs = path.canonicalize().unwrap_or_else(|_| path.clone());
        out.push_str(&format!(
            "    ({rel:?}, include_str!({:?})),\n",
            abs.display().to_string()
        ));
    }
    out.push_str("]\n");
    let dest =
        PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_default()).join("agent_files.rs");
    if let Err(e) = std::fs::write(&dest, out) {
        panic!("cannot write {}: {e}", dest.display());
    }
}

/// The package's own files: Python sources and the `py.typed` marker (no caches).
fn is_agent_file(path: &Path) -> bool {
    path.is_file()
        && matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("py") | Some("typed")
        )
}
