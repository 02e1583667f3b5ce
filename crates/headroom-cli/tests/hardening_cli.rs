//! The real `headroom` binary against hostile inputs and outputs: `capture -o` onto things that
//! are not regular files, `config init` onto a dangling link, a full stdout (`/dev/full`) for
//! every subcommand that prints, replays of `/dev/zero` and a 1 GB sparse file, and untrusted
//! text (agent names, process names, capture fields, journal messages) on a terminal.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failure is a test failure

#[path = "../../headroom-core/tests/agents_common/mod.rs"]
mod agents_common;

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// `headroom` with private config, data and runtime directories under `home`.
fn headroom(home: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_headroom"));
    c.env("HEADROOM_CONFIG", home.join("config.toml"))
        .env("HEADROOM_DATA_DIR", home.join("data"))
        .env("HEADROOM_RUNTIME_DIR", home.join("run"))
        .env("NO_COLOR", "1");
    c
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn run(mut c: Command, args: &[&str]) -> Output {
    c.args(args).output().expect("run headroom")
}

#[test]
fn capture_output_goes_only_to_a_regular_file() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path();
    let fifo = home.join("fifo");
    let status = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(status.success());
    let dir = home.join("dir");
    std::fs::create_dir(&dir).unwrap();
    let real = home.join("real.json");
    std::fs::write(&real, "keep me").unwrap();
    let link = home.join("link.json");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let mut cases = vec![
        (fifo.clone(), "a FIFO"),
        (dir.clone(), "a directory"),
        (link.clone(), "a symbolic link"),
    ];
    // A device node of our own (root only): never /dev/null itself, which a broken build
    // would replace.
    let dev = home.join("null");
    let made = Command::new("mknod")
        .arg(&dev)
        .args(["c", "1", "3"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if made {
        cases.push((dev.clone(), "a character device"));
    } else {
        eprintln!("capture_output_goes_only_to_a_regular_file: not root, no device node case");
    }
    for (path, what) in &cases {
        let out = run(
            headroom(home),
            &["capture", "--samples", "1", "-o", path.to_str().unwrap()],
        );
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{what}: {err}");
        assert!(
            err.contains(what) && err.contains("refused"),
            "{what}: {err}"
        );
        assert_eq!(err.lines().count(), 1, "{err}");
    }
    // A missing directory is refused before any sample is taken (a long capture is not lost).
    let nowhere = home.join("no/such/dir/c.json");
    let out = run(
        headroom(home),
        &[
            "capture",
            "--samples",
            "3600",
            "-o",
            nowhere.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("does not exist"),
        "{}",
        text(&out.stderr)
    );
    let kind = |p: &Path| std::fs::symlink_metadata(p).unwrap().file_type();
    assert!(kind(&fifo).is_fifo(), "the FIFO is still a FIFO");
    assert!(kind(&dir).is_dir());
    assert!(kind(&link).is_symlink(), "the link is still a link");
    assert_eq!(std::fs::read_to_string(&real).unwrap(), "keep me");
    if made {
        assert!(kind(&dev).is_char_device(), "the device is still a device");
    }
    // A regular file is replaced (0600: it may hold command lines); `-o -` is stdout.
    let out = run(
        headroom(home),
        &["capture", "--samples", "1", "-o", real.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(std::fs::read_to_string(&real)
        .unwrap()
        .contains("headroom-capture"));
    let mode = std::fs::metadata(&real).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let out = run(headroom(home), &["capture", "--samples", "1", "-o", "-"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("headroom-capture"));
    assert!(!home.join("-").exists());
}

#[test]
fn config_init_never_replaces_a_dangling_link() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path();
    let gone = home.join("dotfiles/headroom.toml");
    std::os::unix::fs::symlink(&gone, home.join("config.toml")).unwrap();
    let out = run(headroom(home), &["config", "init"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("symbolic link") && err.contains("does not exist"),
        "{err}"
    );
    let md = std::fs::symlink_metadata(home.join("config.toml")).unwrap();
    assert!(md.file_type().is_symlink(), "the link is kept");
    assert!(!gone.exists());
}

/// Every subcommand that prints: stdout on `/dev/full` (writes fail with ENOSPC) exits
/// non-zero with one line on stderr, never a panic (101) or an abort (134).
#[test]
fn a_full_stdout_is_one_line_on_stderr_and_a_non_zero_exit() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path();
    let capture = home.join("c.json");
    let out = run(
        headroom(home),
        &["capture", "--samples", "1", "-o", capture.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let replay = capture.to_str().unwrap();
    write_one_event(&home.join("data"), "an event");
    let commands: Vec<Vec<&str>> = vec![
        vec!["status"],
        vec!["status", "--json"],
        vec!["status", "--replay", replay],
        vec!["watch", "--count", "2", "--interval", "100ms"],
        vec!["watch", "--json", "--count", "2", "--interval", "100ms"],
        vec!["watch", "--replay", replay],
        vec!["top"],
        vec!["top", "--json"],
        vec!["config", "show"],
        vec!["config", "show", "--json"],
        vec!["config", "path"],
        vec!["config", "schema"],
        vec!["config", "check"],
        vec!["events"],
        vec!["events", "--json"],
        vec!["history", "--since", "1h"],
        vec!["capture", "--samples", "1"],
        vec!["fit", "--params", "7B", "--bits", "4"],
        vec!["wired-limit", "show"],
        vec!["selftest"],
        vec!["doctor"],
        vec!["doctor", "--json"],
    ];
    for args in commands {
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let out = headroom(home)
            .args(&args)
            .stdout(full)
            .output()
            .expect("run");
        let err = text(&out.stderr);
        let code = out.status.code();
        assert!(
            code.is_some_and(|c| c != 0 && c != 101),
            "{args:?}: exit {:?}: {err}",
            out.status
        );
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(
            err.contains("cannot write to standard output") && err.contains("No space left"),
            "{args:?}: {err}"
        );
    }
}

/// `--replay /dev/zero` and a 1 GB sparse file fail at once, with bounded memory (the child's
/// peak RSS from wait4), and a file above the 32 MiB cap is refused saying so. The child runs
/// with a 1 GiB address-space limit so that reading a whole 1 GB file cannot succeed.
#[test]
fn replay_of_dev_zero_and_a_sparse_gigabyte_fails_fast_in_bounded_memory() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path();
    let sparse = home.join("sparse.json");
    std::fs::File::create(&sparse)
        .unwrap()
        .set_len(1 << 30)
        .unwrap();
    let blanks = home.join("blanks.json");
    std::fs::write(&blanks, vec![b' '; (32 << 20) + 10]).unwrap();
    for (file, says) in [
        (Path::new("/dev/zero"), "not valid JSON"),
        (sparse.as_path(), "not valid JSON"),
        (blanks.as_path(), "larger than 33554432 bytes"),
    ] {
        let started = Instant::now();
        let (code, err, peak_kib) =
            run_limited(headroom(home).args(["status", "--replay", file.to_str().unwrap()]));
        let took = started.elapsed();
        assert_eq!(code, Some(2), "{file:?}: {err}");
        assert!(err.contains(says), "{file:?}: {err}");
        assert!(took < Duration::from_secs(20), "{file:?}: {took:?}");
        assert!(peak_kib < 64 * 1024, "{file:?}: peak RSS {peak_kib} KiB");
        eprintln!("{file:?}: {took:?}, peak RSS {peak_kib} KiB");
    }
}

/// Runs `cmd` under a 1 GiB RLIMIT_AS; returns its exit code, stderr and peak RSS in KiB.
#[allow(clippy::zombie_processes)] // reaped by wait4 below, which also returns its rusage
fn run_limited(cmd: &mut Command) -> (Option<i32>, String, i64) {
    use std::os::unix::process::CommandExt;
    // SAFETY: setrlimit is async-signal-safe and only changes the child's own limit.
    unsafe {
        cmd.pre_exec(|| {
            let lim = libc::rlimit {
                rlim_cur: 1 << 30,
                rlim_max: 1 << 30,
            };
            if libc::setrlimit(libc::RLIMIT_AS, &lim) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    let pid = libc::pid_t::try_from(child.id()).unwrap();
    let mut status = 0;
    // SAFETY: rusage is plain old data; all-zero bytes are a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `status` and `usage` are valid for writes; the pid is our unreaped child.
    let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(rc, pid);
    let code = libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status));
    (code, err, usage.ru_maxrss)
}

/// Writes one journal event through the real history store.
fn write_one_event(data_dir: &Path, message: &str) {
    use headroom_core::events::{Event, EventKind, Severity};
    use headroom_core::history::{HistoryLimits, HistoryStore};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = HistoryStore::open(data_dir, &HistoryLimits::default());
        store.journal(&Event {
            at: chrono::Utc::now(),
            severity: Severity::Info,
            kind: EventKind::AgentAttached {
                pid: 7,
                name: message.to_string(),
            },
            message: message.to_string(),
        });
        store.flush().await;
    });
}

/// No character a terminal would act on but the line breaks of the output itself: no C0
/// control, DEL, C1 control or bidirectional formatting character (written out here, not
/// taken from the code under test).
fn assert_terminal_safe(what: &str, out: &str) {
    let acts = |c: char| {
        c != '\n'
            && (c.is_control()
                || matches!(c, '\u{61c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'))
    };
    assert!(!out.chars().any(acts), "{what}: {out:?}");
}

/// Agent names, process names, capture host fields and journal messages reach the terminal
/// escaped, each on its own line: no ESC, no C1 control, no bidi override, no forged line.
#[test]
fn untrusted_text_is_escaped_in_status_events_top_and_replay() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path();
    let run_dir = home.join("run");
    std::fs::create_dir(&run_dir).unwrap();
    std::fs::set_permissions(&run_dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    let agent = agents_common::fake_agent_process(&run_dir, agents_common::Fake::HostileName);
    let out = run(headroom(home), &["status"]);
    let shown = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_terminal_safe("status", &shown);
    let line = shown
        .lines()
        .find(|l| l.contains(&agent.pid().to_string()))
        .unwrap_or_else(|| panic!("{shown}"));
    assert!(line.contains("mlx\\u{1b}]0;own"), "{line}");
    let out = run(headroom(home), &["status", "--json"]);
    assert_terminal_safe("status --json", &text(&out.stdout));
    drop(agent);

    // The journal: one stored line, printed as one line.
    let hostile = "Agent attached: x\n2026-01-01T00:00:00Z  critical  forged\u{1b}[2J\u{202e}";
    write_one_event(&home.join("data"), hostile);
    let out = run(headroom(home), &["events"]);
    let shown = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_terminal_safe("events", &shown);
    assert_eq!(shown.lines().count(), 1, "{shown}");
    assert!(
        !shown.contains("\n2026-01-01T00:00:00Z  critical"),
        "{shown}"
    );

    // A capture whose host fields carry escapes.
    let capture_file = home.join("c.json");
    let out = run(
        headroom(home),
        &[
            "capture",
            "--samples",
            "1",
            "-o",
            capture_file.to_str().unwrap(),
        ],
    );
    assert!(out.status.success());
    let mut doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&capture_file).unwrap()).unwrap();
    doc["host"]["chip"] = "M9\u{1b}]0;pwned\u{7}\nPressure    normal\u{9b}2J".into();
    doc["host"]["os_version"] = "\u{202e}15.0".into();
    std::fs::write(&capture_file, serde_json::to_string(&doc).unwrap()).unwrap();
    let out = run(
        headroom(home),
        &["status", "--replay", capture_file.to_str().unwrap()],
    );
    let shown = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_terminal_safe("status --replay", &shown);
    assert_eq!(
        shown.lines().filter(|l| l.starts_with("Pressure")).count(),
        1,
        "{shown}"
    );

    // `top`: a program whose file name carries an escape sequence and a newline.
    let evil = home.join("hr\u{1b}]0;x\u{7}\nzz");
    std::fs::copy("/bin/sleep", &evil).unwrap();
    let mut child = Command::new(&evil).arg("30").spawn().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let out = run(headroom(home), &["top", "-n", "1000"]);
    let _ = child.kill();
    let _ = child.wait();
    let shown = text(&out.stdout);
    assert_terminal_safe("top", &shown);
    assert!(shown.contains("hr\\u{1b}]0;x\\u{7}\\nzz"), "{shown}");
}

/// A same-user program listening on `agent-1.sock` is not shown as pid 1: `status` names the
/// refusal instead, and `clear-cache --pid 1` fails with `permission_denied`.
#[test]
fn status_and_clear_cache_refuse_a_socket_that_claims_pid_1() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path();
    let run_dir = home.join("run");
    std::fs::create_dir(&run_dir).unwrap();
    std::fs::set_permissions(&run_dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    agents_common::fake_agent(&run_dir, 1, agents_common::Fake::Good { delay_ms: 0 });
    let out = run(headroom(home), &["status"]);
    let shown = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        !shown.lines().any(|l| l.trim_start().starts_with("1  ")),
        "{shown}"
    );
    assert!(
        shown.contains("problem: agent socket refused:")
            && shown.contains("agent-1.sock is served by pid"),
        "{shown}"
    );
    let out = run(headroom(home), &["clear-cache", "--pid", "1", "--json"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        text(&out.stdout).contains("permission_denied"),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}
