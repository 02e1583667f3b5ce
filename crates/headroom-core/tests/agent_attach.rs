//! The bootstrap `headroom agent attach` hands to `sys.remote_exec`, executed in a real MLX
//! process the way PEP 768 runs it (the file's code, in the main thread of the target), with
//! the agent folder `headroom agent enable` installs.
#![allow(clippy::expect_used, clippy::unwrap_used)] // a failure is a test failure

use headroom_core::agents::{attach, install};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

#[test]
fn the_bootstrap_starts_the_agent_from_headrooms_folder() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let python = repo.join(".venv/bin/python");
    if !python.exists() {
        assert!(
            std::env::var("HEADROOM_E2E_REQUIRED").as_deref() != Ok("1"),
            ".venv missing"
        );
        eprintln!(
            "*** SKIPPED: {} missing; run scripts/setup.sh ***",
            python.display()
        );
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let runtime = tempfile::Builder::new()
        .prefix("hr-rt-")
        .tempdir_in("/tmp")
        .unwrap();
    std::fs::set_permissions(runtime.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let bundle = install::install_bundle(data.path()).unwrap();
    let script = data.path().join("bootstrap.py");
    std::fs::write(&script, attach::bootstrap_text(&bundle, &script)).unwrap();
    let code = "import os, sys\nimport mlx.core\n\
exec(compile(open(sys.argv[1]).read(), sys.argv[1], 'exec'), {'__name__': '__remote__'})\n\
print(os.path.exists(os.path.join(os.environ['HEADROOM_RUNTIME_DIR'], f'agent-{os.getpid()}.sock')))\n\
print(sys.modules['headroom_agent'].__file__)";
    let out = Command::new(&python)
        .args(["-I", "-c", code])
        .arg(&script)
        .env("HEADROOM_RUNTIME_DIR", runtime.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], "True", "{stdout}");
    assert_eq!(
        Path::new(lines[1]),
        bundle.join("headroom_agent/__init__.py"),
        "the agent comes from Headroom's folder"
    );
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
    // The target reads it at a moment only it knows, so it removes it itself.
    assert!(!script.exists(), "{} left behind", script.display());
}
