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
