//! Embeds the web UI built by `npm run build` (`ui/dist`) into the binary.
//!
//! Copies the files into `$OUT_DIR/ui/` (so a UI rebuild racing with this build cannot leave
//! the compiler reading files that vanished) and writes `$OUT_DIR/ui_assets.rs` with one
//! `include_bytes!` per copy. When `ui/dist` is
//! missing (a clean clone without Node), it embeds a small page saying how to build the UI
//! instead of failing, so `cargo build` always works. `HEADROOM_UI_DIST` overrides the folder.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::{env, fs};

const MISSING_PAGE: &str = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<title>Headroom</title></head><body style=\"font-family:system-ui;margin:2rem;max-width:40rem\">\
<h1>Headroom</h1><p>UI not built: run <code>scripts/setup.sh</code> (or <code>npm ci &amp;&amp; \
npm run build</code> in <code>ui/</code>), then rebuild <code>headroom</code>.</p>\
<p>The API works without it: <a href=\"api/snapshot\">api/snapshot</a>, \
<a href=\"metrics\">metrics</a>.</p></body></html>";

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=HEADROOM_UI_DIST");
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let ui = manifest.join("../../ui");
    let dist = env::var_os("HEADROOM_UI_DIST")
        .map(PathBuf::from)
        .unwrap_or_else(|| ui.join("dist"));
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").unwrap_or_default());
    let mut files = Vec::new();
    if dist.join("index.html").is_file() {
        println!("cargo:rerun-if-changed={}", dist.display());
        let copies = out_dir.join("ui");
        let _ = fs::remove_dir_all(&copies);
        collect(&dist, &dist, &copies, &mut files);
        files.sort();
    } else {
        // Rebuild when `ui/dist` appears (creating it changes `ui`).
        println!("cargo:rerun-if-changed={}", ui.display());
        println!(
            "cargo:warning=web UI not built ({} has no index.html): embedding a placeholder \
             page; run scripts/setup.sh to build it",
            dist.display()
        );
    }
    let mut code = String::from("/// Embedded UI files: path relative to `ui/dist`, bytes.\n");
    code.push_str("pub static ASSETS: &[(&str, &[u8])] = &[\n");
    for (rel, abs) in &files {
        let _ = writeln!(code, "    ({rel:?}, include_bytes!({abs:?})),");
    }
    if files.is_empty() {
        let _ = writeln!(code, "    (\"index.html\", {:?}.as_bytes()),", MISSING_PAGE);
    }
    code.push_str("];\n");
    let _ = writeln!(
        code,
        "/// Whether `ui/dist` was present at build time.\npub const UI_BUILT: bool = {};",
        !files.is_empty()
    );
    let out = out_dir.join("ui_assets.rs");
    if let Err(e) = fs::write(&out, code) {
        panic!("cannot write {}: {e}", out.display());
    }
}

/// Copies every file under `dir` to `copies`, listing (path relative to `root`, copy path).
fn collect(root: &Path, dir: &Path, copies: &Path, out: &mut Vec<(String, String)>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(root, &path, copies, out);
            continue;
        }
        let Ok(rel) = path.strip_prefix(root) else {
            continue;
        };
        let copy = copies.join(rel);
        let copied = copy
            .parent()
            .map_or(Ok(()), fs::create_dir_all)
            .and_then(|()| fs::copy(&path, &copy));
        match copied {
            Ok(_) => out.push((
                rel.to_string_lossy().replace('\\', "/"),
                copy.to_string_lossy().into_owned(),
            )),
            Err(e) => println!("cargo:warning=skipping UI file {}: {e}", path.display()),
        }
    }
}
