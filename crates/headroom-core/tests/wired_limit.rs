#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The system wired limit: validation tables, the exact privileged argv, the runner's
//! cancel / mismatch / failure paths, the suggestion against seed 003's table.

use chrono::Utc;
use headroom_core::config::WiredLimitConfig;
use headroom_core::snapshot::{Platform, Snapshot};
use headroom_core::wired::{self, ApplyOutcome, CheckedMb, RunOutput, Runner};

const MIB: u64 = 1024 * 1024;
const GIB: u64 = 1024 * MIB;

#[test]
fn sizes_parse_to_whole_mb() {
    let ok = [
        ("49152", 49152),
        ("48GB", 49152),
        ("48G", 49152),
        ("48gib", 49152),
        ("49152MB", 49152),
        ("1.5G", 1536),
        (" 2048 ", 2048),
    ];
    for (input, mb) in ok {
        assert_eq!(wired::parse_mb(input), Ok(mb), "{input}");
    }
    let bad = [
        ("", "invalid wired limit"),
        ("abc", "invalid wired limit"),
        ("-5", "invalid wired limit"),
        ("1.0001G", "not a whole number of MB"),
        ("1000KB", "not a whole number of MB"),
        ("99999999999999999999999", "too large"),
    ];
    for (input, want) in bad {
        let e = wired::parse_mb(input).unwrap_err().0;
        assert!(e.contains(want), "{input}: {e}");
        assert!(e.contains(&format!("{input:?}")), "names the value: {e}");
    }
}

#[test]
fn validation_table() {
    // (physical, MB, Ok or an error fragment)
    let cases: [(u64, u64, Result<u64, &str>); 10] = [
        (64 * GIB, 49152, Ok(49152)),
        (64 * GIB, 57344, Ok(57344)), // 64 − 8 GiB: the largest
        (64 * GIB, 57345, Err("would leave macOS less than 8.0 GB")),
        (64 * GIB, 1024, Ok(1024)), // the floor
        (64 * GIB, 1023, Err("below the floor of 1024 MB")),
        (64 * GIB, 48, Err("did you mean 48 GB = 49152 MB?")),
        (64 * GIB, 0, Err("headroom wired-limit reset")),
        (16 * GIB, 12288, Ok(12288)), // 16 − 25 %
        (16 * GIB, 12289, Err("allowed: 1024..=12288 MB")),
        (GIB, 1024, Err("too small to raise")),
    ];
    for (physical, mb, want) in cases {
        match (wired::validate(mb, physical), want) {
            (Ok(c), Ok(w)) => assert_eq!(c.get(), w),
            (Err(e), Err(frag)) => assert!(e.0.contains(frag), "{mb} on {physical}: {e}"),
            (got, want) => panic!("{mb} MB on {physical}: got {got:?}, want {want:?}"),
        }
    }
    let e = wired::check("48GB", None).unwrap_err().0;
    assert!(e.contains("physical memory size is unknown"), "{e}");
    assert_eq!(wired::check("48GB", Some(64 * GIB)).unwrap().get(), 49152);
}

#[test]
fn the_privileged_command_is_fixed_but_for_one_checked_integer() {
    let mb = wired::validate(49152, 64 * GIB).unwrap();
    assert_eq!(
        wired::set_argv(mb),
        vec![
            "/usr/bin/osascript".to_string(),
            "-e".into(),
            "do shell script \"/usr/sbin/sysctl -w iogpu.wired_limit_mb=49152\" with administrator privileges".into(),
        ]
    );
    assert_eq!(
        wired::set_argv(CheckedMb::RESET)[2],
        "do shell script \"/usr/sbin/sysctl -w iogpu.wired_limit_mb=0\" with administrator privileges"
    );
    assert_eq!(
        wired::read_argv(),
        vec!["/usr/sbin/sysctl", "-n", "iogpu.wired_limit_mb"]
    );
    // Anything that is not a plain integer never reaches the command.
    for evil in [
        "49152; rm -rf /",
        "49152\" & do shell script \"id",
        "$(id)",
        "4e4",
    ] {
        assert!(wired::check(evil, Some(64 * GIB)).is_err(), "{evil}");
    }
}

/// A runner that answers from a script and records every argv.
struct Fake {
    answers: Vec<std::io::Result<RunOutput>>,
    seen: Vec<Vec<String>>,
}

impl Fake {
    fn new(answers: Vec<std::io::Result<RunOutput>>) -> Self {
        Self {
            answers,
            seen: Vec::new(),
        }
    }
}

impl Runner for Fake {
    fn run(&mut self, argv: &[String]) -> std::io::Result<RunOutput> {
        self.seen.push(argv.to_vec());
        self.answers.remove(0)
    }
}

fn out(code: i32, stdout: &str, stderr: &str) -> std::io::Result<RunOutput> {
    Ok(RunOutput {
        code: Some(code),
        stdout: stdout.into(),
        stderr: stderr.into(),
    })
}

#[test]
fn applied_when_the_value_reads_back() {
    let mb = wired::validate(49152, 64 * GIB).unwrap();
    let mut r = Fake::new(vec![out(0, "", ""), out(0, "49152\n", "")]);
    let o = wired::apply(&mut r, mb);
    assert_eq!(o, ApplyOutcome::Applied { mb: 49152 });
    assert!(o.is_applied());
    assert_eq!(r.seen, vec![wired::set_argv(mb), wired::read_argv()]);
    assert!(
        o.describe().contains("now 49152 (48.0 GB)"),
        "{}",
        o.describe()
    );
}

#[test]
fn mismatch_is_reported() {
    let mb = wired::validate(49152, 64 * GIB).unwrap();
    let mut r = Fake::new(vec![out(0, "", ""), out(0, "0\n", "")]);
    let o = wired::apply(&mut r, mb);
    assert_eq!(
        o,
        ApplyOutcome::Mismatch {
            requested_mb: 49152,
            read_back_mb: 0
        }
    );
    assert!(o.describe().contains("reads back 0 MB"), "{}", o.describe());
}

#[test]
fn cancelling_the_password_prompt_changes_nothing() {
    let mb = wired::validate(49152, 64 * GIB).unwrap();
    let mut r = Fake::new(vec![out(
        1,
        "",
        "0:94: execution error: User canceled. (-128)\n",
    )]);
    let o = wired::apply(&mut r, mb);
    assert_eq!(o, ApplyOutcome::Cancelled);
    assert_eq!(r.seen.len(), 1, "nothing is read back after a cancel");
    assert!(o.describe().contains("nothing changed"));
}

#[test]
fn failures_and_unverified_values() {
    let mb = wired::validate(8192, 64 * GIB).unwrap();
    let mut r = Fake::new(vec![out(
        1,
        "",
        "sysctl: unknown oid 'iogpu.wired_limit_mb'",
    )]);
    match wired::apply(&mut r, mb) {
        ApplyOutcome::Failed { message } => assert!(message.contains("unknown oid"), "{message}"),
        o => panic!("{o:?}"),
    }
    let mut r = Fake::new(vec![Err(std::io::Error::new(
        std::io::ErrorKind::NotFound,
        "no such file",
    ))]);
    match wired::apply(&mut r, mb) {
        ApplyOutcome::Failed { message } => {
            assert!(message.contains("/usr/bin/osascript"), "{message}")
        }
        o => panic!("{o:?}"),
    }
    let mut r = Fake::new(vec![out(0, "", ""), out(0, "garbage", "")]);
    match wired::apply(&mut r, mb) {
        ApplyOutcome::Unverified {
            requested_mb,
            message,
        } => {
            assert_eq!(requested_mb, 8192);
            assert!(message.contains("\"garbage\""), "{message}");
        }
        o => panic!("{o:?}"),
    }
}

#[test]
fn suggestion_matches_seed_003_table() {
    // Seed 003: 24 GB → 16384, 32 GB → 24576, 64 GB → 49152, 96 GB → 73728.
    for (gb, mb) in [(24, 16384), (32, 24576), (64, 49152), (96, 73728)] {
        let s = wired::suggest(gb * GIB, None, true);
        assert_eq!(s.mb, mb, "{gb} GB: {:?}", s.reasoning);
        assert!(s.reasoning[0].contains("seed 003"));
    }
    // A default that is already higher is kept (16 GB: ~10.7 GB; 128 GiB: ~107.5 GiB).
    let s = wired::suggest(16 * GIB, Some(11_453_251_584), true);
    assert_eq!(s.mb, 0, "{:?}", s.reasoning);
    assert!(s.reasoning.iter().any(|r| r.contains("keep it")));
    assert_eq!(wired::suggest(128 * GIB, Some(115_448_725_504), true).mb, 0);
    // A lower limit in force is raised.
    assert_eq!(wired::suggest(64 * GIB, Some(40 * GIB), true).mb, 49152);
}

fn mac_snapshot(wired_mb: u64, ws: Option<u64>) -> Snapshot {
    let mut s = Snapshot::empty(Platform::Macos, Utc::now());
    s.memory.total = Some(64 * GIB);
    s.gpu.wired_limit = Some(wired_mb * MIB);
    s.gpu.recommended_working_set = ws;
    s
}

#[test]
fn info_reads_the_effective_value_from_an_agent() {
    let cfg = WiredLimitConfig {
        reapply_on_start: true,
        value_mb: Some(49152),
    };
    let i = wired::info(&mac_snapshot(0, Some(48 * GIB)), &cfg);
    assert!(i.supported);
    assert_eq!(i.current_mb, Some(0));
    assert_eq!(i.effective, Some(48 * GIB));
    assert!(i
        .effective_source
        .contains("max_recommended_working_set_size"));
    assert_eq!(i.max_mb, Some(57344));
    assert!(i.reapply_on_start);
    assert!(i.resets_at_reboot.contains("reboot"));
    let i = wired::info(&mac_snapshot(0, None), &cfg);
    assert_eq!(i.effective, None);
    assert!(i.effective_source.starts_with("unknown"));
    let i = wired::info(&mac_snapshot(40960, None), &cfg);
    assert_eq!(i.effective, Some(40 * GIB));
    let mut linux = Snapshot::empty(Platform::Linux, Utc::now());
    linux.memory.total = Some(32 * GIB);
    let i = wired::info(&linux, &cfg);
    assert!(!i.supported);
    assert_eq!(i.suggestion.unwrap().mb, 24576);
    let json = serde_json::to_value(wired::info(&mac_snapshot(0, None), &cfg)).unwrap();
    for k in [
        "current_mb",
        "effective",
        "physical",
        "suggestion",
        "max_mb",
    ] {
        assert!(json.get(k).is_some(), "{k}");
    }
}

#[test]
fn reapply_only_when_opted_in_and_different() {
    let on = WiredLimitConfig {
        reapply_on_start: true,
        value_mb: Some(49152),
    };
    let p = Some(64 * GIB);
    assert_eq!(
        wired::reapply_plan(&on, Some(0), p).map(CheckedMb::get),
        Some(49152)
    );
    assert_eq!(wired::reapply_plan(&on, Some(49152), p), None);
    let off = WiredLimitConfig {
        reapply_on_start: false,
        ..on.clone()
    };
    assert_eq!(wired::reapply_plan(&off, Some(0), p), None);
    let too_big = WiredLimitConfig {
        value_mb: Some(65536),
        ..on
    };
    assert_eq!(wired::reapply_plan(&too_big, Some(0), p), None);
}

#[test]
fn the_sysctl_found_decides_name_and_unit() {
    // macOS 14+: iogpu.wired_limit_mb in MB; it wins when both answer.
    let (s, bytes) = wired::wired_limit_from_sysctls(Some(57_344), Some(1)).unwrap();
    assert_eq!(
        (s.name, bytes, s.settable),
        ("iogpu.wired_limit_mb", 57_344 * MIB, true)
    );
    assert_eq!(s.unit, wired::SysctlUnit::Megabytes);
    // macOS 13 (as reported): debug.iogpu.wired_limit in bytes, shown but never written.
    let (s, bytes) = wired::wired_limit_from_sysctls(None, Some(60_129_542_144)).unwrap();
    assert_eq!(
        (s.name, bytes, s.settable),
        ("debug.iogpu.wired_limit", 60_129_542_144, false)
    );
    assert_eq!(s.unit.to_bytes(5), 5);
    assert_eq!(wired::SysctlUnit::Megabytes.to_bytes(3), 3 * MIB);
    assert_eq!(wired::wired_limit_from_sysctls(None, None), None);
    assert_eq!(
        wired::sysctl_named("iogpu.wired_limit_mb"),
        Some(wired::IOGPU_WIRED_LIMIT_MB)
    );
    assert_eq!(wired::sysctl_named("kern.hostname"), None);
}

#[test]
fn on_macos_13_the_limit_is_shown_but_cannot_be_set() {
    let mut s = mac_snapshot(0, None);
    s.gpu.wired_limit = Some(60_129_542_144);
    s.gpu.wired_limit_sysctl = Some(wired::MACOS13_SYSCTL_NAME.into());
    let i = wired::info(&s, &WiredLimitConfig::default());
    assert!(!i.supported);
    assert_eq!(i.sysctl.as_deref(), Some("debug.iogpu.wired_limit"));
    assert_eq!(i.current_mb, Some(57_344));
    s.gpu.wired_limit_sysctl = Some(wired::SYSCTL_NAME.into());
    assert!(wired::info(&s, &WiredLimitConfig::default()).supported);
}

/// An attached Metal process that read `ws` bytes as its ceiling when it started.
fn metal_process(pid: u32, ws: u64) -> headroom_core::snapshot::MlxProcess {
    headroom_core::snapshot::MlxProcess {
        pid,
        name: format!("python{pid}"),
        attached: true,
        working_set: Some(ws),
        ..Default::default()
    }
}

#[test]
fn running_processes_are_marked_to_restart_after_the_limit_changes() {
    // A 64 GiB Mac: a process read a 48 GiB ceiling at start; then iogpu.wired_limit_mb is
    // raised to 57344 MB (56 GiB = 60129542144 bytes). It keeps 48 GiB; one started after
    // reads 56 GiB.
    assert!(wired::restart_needed(Some(48 * GIB), Some(57_344 * MIB)));
    assert!(!wired::restart_needed(
        Some(57_344 * MIB),
        Some(57_344 * MIB)
    ));
    assert!(!wired::restart_needed(
        Some(57_344 * MIB - 10 * MIB),
        Some(57_344 * MIB)
    ));
    assert!(
        wired::restart_needed(Some(60 * GIB), Some(57_344 * MIB)),
        "lowered too"
    );
    // Under the macOS default (0) the new ceiling is unknown: nothing is marked.
    assert!(!wired::restart_needed(Some(48 * GIB), Some(0)));
    assert!(!wired::restart_needed(None, Some(57_344 * MIB)));
    assert!(!wired::restart_needed(Some(48 * GIB), None));

    let mut s = mac_snapshot(57_344, Some(57_344 * MIB));
    s.mlx = vec![metal_process(10, 48 * GIB), metal_process(11, 57_344 * MIB)];
    wired::mark_restart_needed(&mut s);
    assert!(s.mlx[0].restart_for_wired_limit && !s.mlx[1].restart_for_wired_limit);
    let i = wired::info(&s, &WiredLimitConfig::default());
    // The limit for new processes is the sysctl's, not the stale ceiling of process 10.
    assert_eq!(i.effective, Some(57_344 * MIB));
    assert!(
        i.effective_source.contains("started now"),
        "{}",
        i.effective_source
    );
    assert_eq!(i.running.len(), 2);
    assert!(i.running[0].restart_needed && !i.running[1].restart_needed);
    assert_eq!(i.running[0].working_set, Some(48 * GIB));
    let json = serde_json::to_value(&s.mlx[0]).unwrap();
    assert_eq!(json["restart_for_wired_limit"], true);
    assert_eq!(json["working_set"], 48 * GIB);
}

#[test]
fn sudo_over_ssh_with_a_terminal_else_the_command_is_printed() {
    use wired::PrivilegeRoute::*;
    assert_eq!(wired::privilege_route(true, true), AdminDialog);
    assert_eq!(wired::privilege_route(true, false), AdminDialog);
    assert_eq!(wired::privilege_route(false, true), Sudo);
    assert_eq!(wired::privilege_route(false, false), PrintCommand);
    let env = |set: &'static [(&'static str, &'static str)]| {
        move |k: &str| {
            set.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_string())
        }
    };
    assert!(wired::gui_session_from_env(env(&[("HOME", "/Users/me")])));
    assert!(wired::gui_session_from_env(env(&[("SSH_TTY", "")])));
    for var in ["SSH_CONNECTION", "SSH_CLIENT", "SSH_TTY"] {
        let set: &'static [(&'static str, &'static str)] = match var {
            "SSH_CONNECTION" => &[("SSH_CONNECTION", "10.0.0.2 5000 10.0.0.1 22")],
            "SSH_CLIENT" => &[("SSH_CLIENT", "10.0.0.2 5000 22")],
            _ => &[("SSH_TTY", "/dev/ttys003")],
        };
        assert!(!wired::gui_session_from_env(env(set)), "{var}");
    }
}

#[test]
fn every_route_runs_the_same_fixed_sysctl_argv() {
    let mb = wired::validate(49152, 64 * GIB).unwrap();
    let sysctl = vec![
        "/usr/sbin/sysctl".to_string(),
        "-w".into(),
        "iogpu.wired_limit_mb=49152".into(),
    ];
    assert_eq!(wired::sysctl_set_argv(mb), sysctl);
    let sudo = wired::privileged_argv(wired::PrivilegeRoute::Sudo, mb).unwrap();
    assert_eq!(sudo[0], "/usr/bin/sudo");
    assert_eq!(sudo[1..], sysctl[..]);
    let dialog = wired::privileged_argv(wired::PrivilegeRoute::AdminDialog, mb).unwrap();
    assert_eq!(dialog, wired::set_argv(mb));
    assert!(dialog[2].contains(&sysctl.join(" ")), "{dialog:?}");
    assert_eq!(
        wired::privileged_argv(wired::PrivilegeRoute::PrintCommand, mb),
        None
    );
    assert_eq!(
        wired::manual_command(mb),
        "sudo /usr/sbin/sysctl -w iogpu.wired_limit_mb=49152"
    );

    // Through sudo: run on the terminal, then read back.
    struct Terminal(Vec<(bool, Vec<String>)>);
    impl Runner for Terminal {
        fn run(&mut self, argv: &[String]) -> std::io::Result<RunOutput> {
            self.0.push((false, argv.to_vec()));
            out(0, "49152\n", "")
        }
        fn run_on_terminal(&mut self, argv: &[String]) -> std::io::Result<RunOutput> {
            self.0.push((true, argv.to_vec()));
            out(0, "", "")
        }
    }
    let mut t = Terminal(Vec::new());
    let o = wired::apply_via(&mut t, mb, wired::PrivilegeRoute::Sudo);
    assert_eq!(o, ApplyOutcome::Applied { mb: 49152 });
    assert_eq!(t.0, vec![(true, sudo), (false, wired::read_argv())]);
    // A wrong sudo password: sudo exits 1, nothing is read back.
    struct Refused;
    impl Runner for Refused {
        fn run(&mut self, _: &[String]) -> std::io::Result<RunOutput> {
            panic!("nothing to read back after a refusal")
        }
        fn run_on_terminal(&mut self, _: &[String]) -> std::io::Result<RunOutput> {
            out(1, "", "")
        }
    }
    let o = wired::apply_via(&mut Refused, mb, wired::PrivilegeRoute::Sudo);
    assert!(
        matches!(o, ApplyOutcome::Failed { ref message } if message.contains("/usr/bin/sudo exited with 1")),
        "{o:?}"
    );
    let o = wired::apply_via(&mut Refused, mb, wired::PrivilegeRoute::PrintCommand);
    assert!(o
        .describe()
        .contains("sudo /usr/sbin/sysctl -w iogpu.wired_limit_mb=49152"));
}
