//! Fault drill: the MLX runtime directory made writable by others, or handed to
//! another user, while an "agent" listens in it. The clients (`headroom clear-cache`,
//! `headroom status --json`; `serve` and the app use the same monitor) refuse to talk to it:
//! the listener never sees a connection, and the refusal names the mode or the owner.
//!
//! Runs the `headroom` binary cargo built for this test run (`CARGO_BIN_EXE_headroom`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failure is a test failure

#[path = "../../headroom-core/tests/real_parts/mod.rs"]
mod real_parts;

use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};

/// A live process whose pid names the bait socket; killed on drop.
struct Holder(Child);

impl Drop for Holder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A runtime directory with a listening bait socket named after a live pid.
struct Bait {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    listener: UnixListener,
    _holder: Holder,
}

impl Bait {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("run");
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        let holder = Holder(Command::new("sleep").arg("600").spawn().unwrap());
        let sock = dir.join(format!("agent-{}.sock", holder.0.id()));
        let listener = UnixListener::bind(&sock).unwrap();
        std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o600)).unwrap();
        listener.set_nonblocking(true).unwrap();
        Self {
            _tmp: tmp,
            dir,
            listener,
            _holder: holder,
        }
    }

    fn run(&self, bin: &Path, args: &[&str]) -> Output {
        let home = self.dir.parent().unwrap();
        Command::new(bin)
            .args(args)
            .env("HEADROOM_RUNTIME_DIR", &self.dir)
            .env("HEADROOM_CONFIG", home.join("config.toml"))
            .env("HEADROOM_DATA_DIR", home.join("data"))
            .output()
            .unwrap()
    }

    /// Whether any client connected to the bait.
    fn touched(&self) -> bool {
        self.listener.accept().is_ok()
    }
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Checks every client against a bait directory made unsafe by `spoil`; `word` must appear in
/// the refusal.
fn drill(bin: &Path, spoil: impl Fn(&Path), word: &str) {
    let bait = Bait::new();
    // Sanity: with a safe directory the CLI does reach the bait (else the drill proves nothing).
    let _ = bait.run(bin, &["status", "--json"]);
    assert!(
        bait.touched(),
        "the bait is not reached even from a safe directory"
    );
    while bait.touched() {}
    spoil(&bait.dir);
    let clear = bait.run(bin, &["clear-cache"]);
    let out = text(&clear);
    assert!(!clear.status.success(), "clear-cache succeeded: {out}");
    assert!(
        out.contains(word),
        "clear-cache refusal does not say {word:?}: {out}"
    );
    let status = bait.run(bin, &["status", "--json"]);
    let out = text(&status);
    assert!(
        out.contains(word),
        "status --json does not report {word:?}: {out}"
    );
    assert!(
        !bait.touched(),
        "a client connected through an unsafe runtime directory"
    );
}

#[test]
fn world_writable_runtime_directory_is_refused() {
    let bin = binary();
    drill(
        &bin,
        |d| std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o777)).unwrap(),
        "0777",
    );
}

#[test]
fn runtime_directory_owned_by_someone_else_is_refused() {
    let bin = binary();
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return real_parts::missing(
            "foreign runtime dir drill",
            "chown to another user needs root",
        );
    }
    drill(
        &bin,
        |d| std::os::unix::fs::chown(d, Some(65534), Some(65534)).unwrap(),
        "uid",
    );
}

/// The `headroom` binary cargo built for this test run.
fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_headroom"))
}
