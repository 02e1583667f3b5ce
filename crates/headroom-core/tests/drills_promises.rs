//! Source audit behind two promises of docs/RELIABILITY.md:
//!
//! - **No process is ever killed.** Headroom asks MLX processes, through their agent, to clear
//!   caches or set limits; it never sends a signal that ends a process. The only `kill` in the
//!   product code is `kill(pid, 0)`, a liveness probe.
//! - **No privilege beyond one command.** The only privileged operation is raising the GPU wired
//!   limit on macOS, through one fixed command (`/usr/sbin/sysctl -w iogpu.wired_limit_mb=N`
//!   via `osascript … with administrator privileges`) in `crates/headroom-core/src/wired.rs`;
//!   no other product file asks for privileges, runs `sudo`, or changes its user.
//!   (The agent re-raising a fatal signal at its own process after cleaning up is not a kill:
//!   the host process was already dying of that signal.)
//!
//! The audit reads every product source file (Rust crates, the Tauri app, the Python agent,
//! the web UI), skipping tests. It fails when a new file starts killing or escalating: then
//! either the change breaks a promise, or the promise and this list must change together.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failure is a test failure

use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Product source files: `*.rs` under `crates/*/src` and `src-tauri/src`, `*.py` under
/// `agent/headroom_agent`, `*.ts`/`*.tsx` under `ui/src`.
fn product_files() -> Vec<PathBuf> {
    let mut roots = vec![
        repo().join("src-tauri/src"),
        repo().join("agent/headroom_agent"),
        repo().join("ui/src"),
    ];
    for c in std::fs::read_dir(repo().join("crates")).unwrap().flatten() {
        roots.push(c.path().join("src"));
    }
    let mut out = Vec::new();
    for r in roots {
        walk(&r, &mut out);
    }
    out
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if p.is_dir() {
            if !matches!(
                name.as_str(),
                "tests" | "bindings" | "__pycache__" | "node_modules"
            ) {
                walk(&p, out);
            }
        } else if [".rs", ".py", ".ts", ".tsx"]
            .iter()
            .any(|x| name.ends_with(x))
            && !name.contains("test")
        {
            out.push(p);
        }
    }
}

/// Lines of product code (outside `#[cfg(test)]` modules) containing one of `needles`.
fn find(needles: &[&str]) -> Vec<String> {
    let mut hits = Vec::new();
    for f in product_files() {
        let text = std::fs::read_to_string(&f).unwrap_or_default();
        let text = text.split("#[cfg(test)]").next().unwrap_or("");
        for (i, line) in text.lines().enumerate() {
            let code = line.trim_start();
            if code.starts_with("//")
                || code.starts_with('#') && f.extension().is_some_and(|e| e == "py")
            {
                continue;
            }
            if needles.iter().any(|n| line.contains(n)) {
                let rel = f.strip_prefix(repo()).unwrap_or(&f).display().to_string();
                hits.push(format!("{rel}:{}: {}", i + 1, line.trim()));
            }
        }
    }
    hits
}

#[test]
fn the_audit_sees_the_product_code() {
    let files = product_files();
    assert!(files.len() > 30, "only {} product files found", files.len());
    assert!(files.iter().any(|f| f.ends_with("wired.rs")));
}

#[test]
fn no_product_code_kills_a_process() {
    let hits: Vec<String> = find(&[
        "libc::kill(",
        ".kill()",
        "SIGKILL",
        "os.kill(",
        "killpg",
        "pkill",
        "killall",
        "Command::new(\"kill\")",
        "process.kill",
    ])
    .into_iter()
    // kill(pid, 0) only asks whether the process exists; the agent re-raises a fatal signal
    // the host process already received, after removing its socket.
    .filter(|h| !(h.contains("libc::kill(") && h.contains(", 0)")))
    .filter(|h| !h.contains("os.kill(os.getpid(), signum)"))
    // The app ends its own child, WebKit's idle network process, once no web view is left
    // (never a monitored process: only pids listed in /proc/self/task/*/children).
    .filter(|h| {
        !(h.starts_with("src-tauri/src/trim.rs:") && h.contains("libc::kill(raw, libc::SIGTERM)"))
    })
    .collect();
    assert!(
        hits.is_empty(),
        "process-killing calls in product code:\n{}",
        hits.join("\n")
    );
}

#[test]
fn privileges_are_asked_for_one_command_in_one_file() {
    let hits = find(&[
        "administrator privileges",
        "sudo ",
        "Command::new(\"sudo\")",
        "setuid(",
        "seteuid(",
        "pkexec",
        "AuthorizationExecuteWithPrivileges",
    ]);
    assert!(
        hits.iter()
            .any(|h| h.starts_with("crates/headroom-core/src/wired.rs:")),
        "the one privileged command is not where the promise says: {hits:#?}"
    );
    let outside: Vec<&String> = hits
        .iter()
        .filter(|h| !h.starts_with("crates/headroom-core/src/wired.rs:"))
        .collect();
    assert!(
        outside.is_empty(),
        "privileged operations outside wired.rs:\n{outside:#?}"
    );
}
