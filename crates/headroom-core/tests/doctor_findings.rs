#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `headroom doctor`'s checks on replayed snapshots (Linux fixture trees, a macOS capture)
//! and recorded agent answers: each finding, the healthy case and "could not check".

use chrono::Utc;
use headroom_core::agents::protocol::{decode_result, Stats};
use headroom_core::agents::MlxMonitor;
use headroom_core::capture::Capture;
use headroom_core::doctor::{self, DoctorContext, Severity, Trend};
use headroom_core::history::{HistoryPoint, HistoryQuery};
use headroom_core::ops::{Backend, ErrorKind, Local};
use headroom_core::platform::linux::LinuxReader;
use headroom_core::platform::{derive, derive_with_rates, RateTracker, TimedRaw};
use headroom_core::snapshot::{MlxProcess, Platform, PressureLevel, Snapshot};
use headroom_core::top::TopRow;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

const MIB: u64 = 1024 * 1024;
const GIB: u64 = 1024 * MIB;

fn linux_fixture(name: &str) -> Snapshot {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/linux")
        .join(name);
    let raw = LinuxReader::new(root.join("proc"), root.join("sys")).read();
    derive(&raw, Utc::now()).snapshot
}

/// A healthy 64 GiB Mac with rates known.
fn healthy_mac() -> Snapshot {
    let mut s = Snapshot::empty(Platform::Macos, Utc::now());
    s.memory.total = Some(64 * GIB);
    s.memory.available = Some(30 * GIB);
    s.memory.compressed = Some(GIB);
    s.pressure.level = Some(PressureLevel::Normal);
    s.pressure.free_percent = Some(45.0);
    s.rates.swapouts = Some(0.0);
    s.rates.swapins = Some(0.0);
    s.swap.used = Some(0);
    s.gpu.wired_limit = Some(0);
    s.gpu.recommended_working_set = Some(48 * GIB);
    s
}

/// A process as the monitor builds it from a recorded `stats` answer.
fn from_stats(answer: Value) -> (MlxProcess, Vec<String>) {
    let cmdline = doctor::cmdline_from_stats(&answer);
    let st: Stats = decode_result("stats", answer).unwrap();
    let p = MlxProcess {
        pid: st.pid.unwrap(),
        name: st.name.clone().unwrap_or_default(),
        attached: true,
        active: st.active,
        cache: st.cache,
        peak: st.peak,
        cache_limit: st.cache_limit,
        memory_limit: st.memory_limit,
        wired_limit: st.wired_limit,
        working_set: st.recommended_working_set(),
        backend: st.backend.clone(),
        ..MlxProcess::default()
    };
    (p, cmdline)
}

/// The `stats` answer of docs/PROTOCOL.md §6.2 with some fields replaced.
fn stats(pid: u32, cmdline: &[&str], active: u64, cache: u64, peak: u64, wired: u64) -> Value {
    json!({"pid": pid, "name": "python3.12", "cmdline": cmdline, "target": null,
        "mlx_version": "0.32.4", "backend": "gpu", "accelerator": "metal",
        "device_info": {"architecture": "applegpu_g15s", "memory_size": 68719476736u64,
            "max_recommended_working_set_size": 48 * GIB},
        "physical_memory": 68719476736u64, "active": active, "cache": cache, "peak": peak,
        "memory_limit": 100 * GIB, "cache_limit": 64 * GIB, "wired_limit": wired,
        "cooperative": false, "pending": [], "agent_version": "0.1.0", "protocol": 1})
}

fn ids(s: &Snapshot, ctx: &DoctorContext) -> Vec<String> {
    doctor::diagnose(s, ctx).into_iter().map(|f| f.id).collect()
}

#[test]
fn healthy_machine_has_no_findings() {
    let (p, cmd) = from_stats(stats(
        7,
        &["python", "train.py"],
        10 * GIB,
        50 * MIB,
        12 * GIB,
        0,
    ));
    let mut s = healthy_mac();
    let mut p = p;
    // A footprint MLX accounts for but 300 MiB (libraries, interpreter): not a finding.
    p.footprint = Some(12 * GIB + 50 * MIB + 300 * MIB);
    p.outside_mlx = Some(300 * MIB);
    s.mlx.push(p);
    let ctx = DoctorContext {
        top: Some(vec![TopRow {
            name: "Safari".into(),
            footprint: 3 * GIB,
            pid: Some(9),
            pids: None,
        }]),
        cmdlines: HashMap::from([(7, cmd)]),
        // One day of steady readings: no drift.
        process_history: HashMap::from([(
            7,
            (0..24)
                .map(|h| headroom_core::restart::ProcessPoint {
                    t: h * 3_600_000,
                    active: Some(8 * GIB),
                    cache: Some(100 * MIB),
                    footprint: Some(9 * GIB),
                })
                .collect(),
        )]),
        ..DoctorContext::default()
    };
    let r = doctor::report(&s, &ctx);
    assert_eq!(r.status, "healthy", "{:?}", r.findings);
    assert_eq!(r.exit_code(), 0);
    assert_eq!(r.checks.len(), 12);
    assert!(r.checks.iter().all(|c| c.status == "ok"), "{:?}", r.checks);
    assert!(doctor::top_finding(&s, &ctx).is_none());
}

#[test]
fn nothing_known_is_exit_2() {
    let s = Snapshot::empty(Platform::Linux, Utc::now());
    let r = doctor::report(&s, &DoctorContext::default());
    assert_eq!(r.status, "unknown");
    assert_eq!(r.exit_code(), 2);
    assert!(
        r.checks.iter().all(|c| c.status == "skipped"),
        "{:?}",
        r.checks
    );
}

#[test]
fn pressure_from_linux_fixture_trees() {
    let s = linux_fixture("tiny-vm");
    let f = doctor::diagnose(&s, &DoctorContext::default());
    assert_eq!(f[0].id, "pressure");
    assert_eq!(f[0].severity, Severity::Critical);
    assert!(
        f[0].evidence.iter().any(|e| e.name == "free_percent"),
        "{:?}",
        f[0].evidence
    );
    let s = linux_fixture("zswap-active");
    let f = doctor::diagnose(&s, &DoctorContext::default());
    assert_eq!(f[0].id, "pressure");
    assert_eq!(f[0].severity, Severity::Warning);
    assert_eq!(f[0].command.as_deref(), Some("headroom top"));
    let r = doctor::report(&linux_fixture("host-vm-24g"), &DoctorContext::default());
    assert!(
        !r.findings.iter().any(|f| f.id == "pressure"),
        "{:?}",
        r.findings
    );
    let skipped: Vec<&str> = r
        .checks
        .iter()
        .filter(|c| c.status == "skipped")
        .map(|c| c.id.as_str())
        .collect();
    assert!(
        skipped.contains(&"swapping"),
        "one sample has no rates: {skipped:?}"
    );
}

#[test]
fn swapping_from_two_samples() {
    // Two samples of the zswap tree, one second apart, 64 MiB more swapped out.
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/linux/zswap-active");
    let raw = LinuxReader::new(root.join("proc"), root.join("sys")).read();
    let mut tracker = RateTracker::default();
    let first = TimedRaw {
        monotonic_ns: 0,
        at: Utc::now(),
        raw: raw.clone(),
    };
    derive_with_rates(&mut tracker, &first);
    let mut text = serde_json::to_value(&raw).unwrap();
    let vmstat = text["vmstat"].as_str().unwrap().to_string();
    let pswpout: u64 = vmstat
        .lines()
        .find_map(|l| l.strip_prefix("pswpout "))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let bumped = vmstat.replace(
        &format!("pswpout {pswpout}"),
        &format!("pswpout {}", pswpout + 16384),
    );
    text["vmstat"] = Value::String(bumped);
    let second = TimedRaw {
        monotonic_ns: 1_000_000_000,
        at: Utc::now(),
        raw: serde_json::from_value(text).unwrap(),
    };
    let s = derive_with_rates(&mut tracker, &second);
    let f = doctor::diagnose(&s, &DoctorContext::default());
    let swap = f.iter().find(|f| f.id == "swapping").expect("swapping");
    assert_eq!(swap.severity, Severity::Warning);
    let rate = swap
        .evidence
        .iter()
        .find(|e| e.name == "swapout_rate")
        .unwrap();
    assert_eq!(rate.value, 64.0 * MIB as f64);
    assert_eq!(rate.unit, "bytes/s");
}

#[test]
fn compressed_from_a_macos_capture_and_from_a_trend() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../captures/macos-24gb-compressed-swap-nodeterm-135.json");
    let cap = Capture::from_json(&std::fs::read_to_string(file).unwrap()).unwrap();
    let s = cap.replay().remove(0);
    let f = doctor::diagnose(&s, &DoctorContext::default());
    let c = f.iter().find(|f| f.id == "compressed").expect("compressed");
    assert!(c.evidence[0].value > 5.0 * GIB as f64, "{:?}", c.evidence);
    assert!(
        c.command
            .as_deref()
            .unwrap()
            .starts_with("headroom limit wired "),
        "{c:?}"
    );
    // 3 GB compressed is below 5 GB, but growing 2 GB in an hour is a finding.
    let mut s = healthy_mac();
    s.memory.compressed = Some(3 * GIB);
    assert!(ids(&s, &DoctorContext::default()).is_empty());
    let ctx = DoctorContext {
        compressed_trend: Some(Trend {
            first: GIB,
            last: 3 * GIB,
            secs: 3600.0,
            source: "history".into(),
        }),
        ..DoctorContext::default()
    };
    let f = doctor::diagnose(&s, &ctx);
    assert_eq!(f[0].id, "compressed");
    assert!(f[0].title.contains("growing"), "{}", f[0].title);
    // The cap is 70 % of memory but never above the recommended working set.
    assert_eq!(
        f[0].command.as_deref(),
        Some("headroom limit wired 45056MiB")
    );
}

#[test]
fn mlx_cache_above_512_mib() {
    let (p, cmd) = from_stats(stats(
        41,
        &["python", "-m", "mlx_lm.generate"],
        20 * GIB,
        3 * GIB,
        21 * GIB,
        0,
    ));
    let mut s = healthy_mac();
    s.mlx.push(p);
    let ctx = DoctorContext {
        cmdlines: HashMap::from([(41, cmd)]),
        ..DoctorContext::default()
    };
    let f = doctor::diagnose(&s, &ctx);
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0].id, "mlx_cache_high");
    assert_eq!(f[0].pid, Some(41));
    assert_eq!(
        f[0].command.as_deref(),
        Some("headroom clear-cache --pid 41")
    );
    assert!(f[0]
        .evidence
        .iter()
        .any(|e| e.name == "cache" && e.value == 3.0 * GIB as f64));
}

#[test]
fn wired_limit_lower_than_mlx_needs() {
    let (p, _) = from_stats(stats(42, &["python", "big.py"], 46 * GIB, 0, 50 * GIB, 0));
    let mut s = healthy_mac();
    s.mlx.push(p);
    let f = doctor::diagnose(&s, &DoctorContext::default());
    assert_eq!(f[0].id, "wired_limit_low", "{f:?}");
    assert_eq!(f[0].severity, Severity::Critical);
    // 50 GiB × 1.1 rounded up to whole GiB = 55 GiB, within 64 − 8.
    assert_eq!(
        f[0].command.as_deref(),
        Some("headroom wired-limit set 56320")
    );
    // Near (within 10 %) but below: a warning.
    let (p, _) = from_stats(stats(43, &["python", "big.py"], 44 * GIB, 0, 44 * GIB, 0));
    let mut s = healthy_mac();
    s.mlx.push(p);
    assert_eq!(
        doctor::diagnose(&s, &DoctorContext::default())[0].severity,
        Severity::Warning
    );
}

#[test]
fn a_process_started_before_the_limit_was_raised_must_restart() {
    // It read 48 GiB at start; iogpu.wired_limit_mb is now 57344 (56 GiB).
    let (p, _) = from_stats(stats(42, &["python", "big.py"], 10 * GIB, 0, 12 * GIB, 0));
    let mut s = healthy_mac();
    s.gpu.wired_limit = Some(57_344 * MIB);
    s.mlx.push(p);
    headroom_core::wired::mark_restart_needed(&mut s);
    let f = doctor::diagnose(&s, &DoctorContext::default());
    let restart: Vec<_> = f.iter().filter(|f| f.id == "wired_limit_restart").collect();
    assert_eq!(restart.len(), 1, "{f:?}");
    assert!(
        restart[0].title.contains("restart to use the new limit"),
        "{}",
        restart[0].title
    );
    assert!(restart[0].title.contains("48.0 GB") && restart[0].title.contains("56.0 GB"));
    assert_eq!(restart[0].pid, Some(42));
    // Started after: its ceiling is the new limit, nothing to say.
    let mut fresh = stats(43, &["python", "big.py"], 10 * GIB, 0, 12 * GIB, 0);
    fresh["device_info"]["max_recommended_working_set_size"] = (57_344 * MIB).into();
    let (p, _) = from_stats(fresh);
    s.mlx = vec![p];
    headroom_core::wired::mark_restart_needed(&mut s);
    assert!(!ids(&s, &DoctorContext::default()).contains(&"wired_limit_restart".to_string()));
}

#[test]
fn raising_the_limit_for_a_running_process_says_to_restart_it() {
    let (p, _) = from_stats(stats(42, &["python", "big.py"], 46 * GIB, 0, 50 * GIB, 0));
    let mut s = healthy_mac();
    s.mlx.push(p);
    let f = doctor::diagnose(&s, &DoctorContext::default());
    assert!(
        f[0].action
            .contains("then restart python3.12 to use the new limit"),
        "{}",
        f[0].action
    );
}

#[test]
fn other_apps_only_when_memory_is_tight() {
    let top = vec![
        TopRow {
            name: "python3.12".into(),
            footprint: 30 * GIB,
            pid: Some(42),
            pids: None,
        },
        TopRow {
            name: "Google Chrome".into(),
            footprint: 4 * GIB,
            pid: None,
            pids: Some(vec![5, 6]),
        },
        TopRow {
            name: "Slack".into(),
            footprint: 1536 * MIB,
            pid: Some(8),
            pids: None,
        },
        TopRow {
            name: "Finder".into(),
            footprint: 100 * MIB,
            pid: Some(9),
            pids: None,
        },
    ];
    let (p, _) = from_stats(stats(42, &["python", "x.py"], GIB, 0, GIB, 0));
    let mut s = healthy_mac();
    s.mlx.push(p);
    let ctx = DoctorContext {
        top: Some(top),
        ..DoctorContext::default()
    };
    assert!(ids(&s, &ctx).is_empty(), "not tight: nothing to say");
    s.pressure.level = Some(PressureLevel::Warn);
    let f = doctor::diagnose(&s, &ctx);
    assert_eq!(ids(&s, &ctx), ["pressure", "other_apps"]);
    let apps = &f[1];
    let names: Vec<&str> = apps.evidence.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(
        names,
        ["Google Chrome", "Slack"],
        "MLX itself and small apps are left out"
    );
    assert!(
        apps.action.contains("close Google Chrome"),
        "{}",
        apps.action
    );
    assert_eq!(doctor::top_finding(&s, &ctx).unwrap().id, "pressure");
}

#[test]
fn mlx_lm_server_raised_its_wired_limit() {
    let server = [
        "/Users/me/.venv/bin/python",
        "-m",
        "headroom_agent",
        "run",
        "-m",
        "mlx_lm.server",
    ];
    let (p, cmd) = from_stats(stats(
        29803,
        &server,
        40 * GIB,
        16 * MIB,
        41 * GIB,
        48 * GIB,
    ));
    let mut s = healthy_mac();
    s.mlx.push(p);
    let ctx = DoctorContext {
        cmdlines: HashMap::from([(29803, cmd)]),
        ..DoctorContext::default()
    };
    let f = doctor::diagnose(&s, &ctx);
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0].id, "mlx_server_wired");
    assert_eq!(f[0].severity, Severity::Info);
    assert_eq!(
        f[0].command.as_deref(),
        Some("headroom limit wired 0 --pid 29803")
    );
    // The same wired limit in another program is its own business.
    let (p, cmd) = from_stats(stats(
        50,
        &["python", "train.py"],
        40 * GIB,
        16 * MIB,
        41 * GIB,
        48 * GIB,
    ));
    let mut s = healthy_mac();
    s.mlx.push(p);
    let ctx = DoctorContext {
        cmdlines: HashMap::from([(50, cmd)]),
        ..DoctorContext::default()
    };
    assert!(ids(&s, &ctx).is_empty());
    assert!(doctor::is_mlx_server(&[
        "mlx_lm.server".into(),
        "--model".into(),
        "x".into()
    ]));
    assert!(doctor::is_mlx_server(&["/opt/bin/mlx_lm.server".into()]));
    assert!(doctor::is_mlx_server(&["mlx_lm".into(), "server".into()]));
    assert!(!doctor::is_mlx_server(&[
        "python".into(),
        "mlx_lm_server_notes.py".into()
    ]));
}

#[test]
fn json_shape_of_a_finding() {
    let mut s = healthy_mac();
    s.pressure.level = Some(PressureLevel::Critical);
    let v = serde_json::to_value(doctor::report(&s, &DoctorContext::default())).unwrap();
    assert_eq!(v["status"], "findings");
    let f = &v["findings"][0];
    for k in ["id", "severity", "title", "evidence", "action", "command"] {
        assert!(f.get(k).is_some(), "{k}: {f}");
    }
    assert_eq!(f["severity"], "critical");
    assert_eq!(f["evidence"][0]["unit"], "level");
}

#[tokio::test]
async fn compressed_trend_from_the_history_database() {
    use headroom_core::history::{HistoryLimits, HistoryStore};
    let tmp = tempfile::tempdir().unwrap();
    let now = Utc::now();
    let store = HistoryStore::open(tmp.path(), &HistoryLimits::default());
    for (mins_ago, gib) in [(40, 1), (20, 2), (1, 3)] {
        let mut s = healthy_mac();
        s.at = now - chrono::Duration::minutes(mins_ago);
        s.memory.compressed = Some(gib * GIB);
        store.record(&s);
    }
    store.flush().await;
    // The command line's host reads the database directly.
    let local = |dir: std::path::PathBuf| {
        Local::new(
            tmp.path().join("config.toml"),
            dir,
            MlxMonitor::new(tmp.path().join("run")),
        )
    };
    let q = |until: chrono::DateTime<Utc>| HistoryQuery {
        since_ms: Some((until - chrono::Duration::hours(1)).timestamp_millis()),
        until_ms: Some(until.timestamp_millis()),
        max_points: Some(120),
    };
    let points = local(tmp.path().into()).history(q(now)).await.unwrap();
    let t = doctor::trend_from_history(&points).expect("a trend");
    assert_eq!(
        (t.first, t.last, t.source.as_str()),
        (GIB, 3 * GIB, "history")
    );
    assert!((t.secs - 39.0 * 60.0).abs() < 2.0, "{}", t.secs);
    let mut s = healthy_mac();
    s.memory.compressed = Some(3 * GIB);
    let ctx = DoctorContext {
        compressed_trend: Some(t),
        ..DoctorContext::default()
    };
    assert_eq!(ids(&s, &ctx), ["compressed"]);
    // One point is no trend; two points less than ten minutes apart are the "two samples" one.
    let earlier = q(now - chrono::Duration::minutes(25));
    let one = local(tmp.path().into()).history(earlier).await.unwrap();
    assert_eq!(one.len(), 1);
    assert!(doctor::trend_from_history(&one).is_none());
    let close = [(0, GIB), (2_000, 2 * GIB)]
        .map(|(t, c)| HistoryPoint::new(t, 1).with("compressed", Some(c as f64)));
    let t = doctor::trend_from_history(&close).expect("two samples");
    assert_eq!((t.secs, t.source.as_str()), (2.0, "two samples"));
    // No database: an error saying so (not an empty history).
    let e = local(tmp.path().join("none"))
        .history(q(now))
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotFound);
}

/// ml-explore/mlx #3896: a 110 GB footprint against MLX's own counters (46 GB peak).
#[test]
fn memory_outside_mlx_is_a_finding_when_large_and_growing() {
    let (mut p, _) = from_stats(stats(
        3896,
        &["mlx_lm.server"],
        40 * GIB,
        6 * GIB,
        46 * GIB,
        0,
    ));
    p.footprint = Some(110 * GIB);
    p.outside_mlx = Some(110 * GIB - 46 * GIB);
    let mut s = healthy_mac();
    s.memory.total = Some(128 * GIB);
    s.mlx.push(p);
    let grew = DoctorContext {
        outside_mlx_before: HashMap::from([(3896, (60 * GIB, 60.0))]),
        ..DoctorContext::default()
    };
    let f = doctor::diagnose(&s, &grew);
    let o = f
        .iter()
        .find(|f| f.id == "outside_mlx_high")
        .expect("finding");
    assert_eq!(o.pid, Some(3896));
    assert!(
        o.title.contains("64.0 GB outside MLX") && o.title.contains("and growing (240.0 GB/h)"),
        "{}",
        o.title
    );
    assert!(o
        .evidence
        .iter()
        .any(|e| e.name == "counted_by_mlx" && e.value == (46 * GIB) as f64));
    // Shrinking since the earlier reading: not a finding.
    let shrank = DoctorContext {
        outside_mlx_before: HashMap::from([(3896, (70 * GIB, 60.0))]),
        ..DoctorContext::default()
    };
    assert!(!ids(&s, &shrank).contains(&"outside_mlx_high".to_string()));
    // No earlier reading: the finding says growth was not measured.
    let f = doctor::diagnose(&s, &DoctorContext::default());
    let o = f
        .iter()
        .find(|f| f.id == "outside_mlx_high")
        .expect("finding");
    assert!(o.title.contains("(growth not measured)"), "{}", o.title);
    // Small next to what MLX counts: nothing.
    s.mlx[0].outside_mlx = Some(GIB);
    assert!(!ids(&s, &grew).contains(&"outside_mlx_high".to_string()));
}

#[test]
fn an_mlx_process_without_the_agent_gets_the_enable_command() {
    let mut s = healthy_mac();
    s.mlx.push(MlxProcess {
        pid: 4242,
        name: "mlx_lm.server".into(),
        footprint: Some(9 * GIB),
        ..MlxProcess::default()
    });
    let f = doctor::diagnose(&s, &DoctorContext::default());
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0].id, "mlx_without_agent");
    assert_eq!(
        f[0].command.as_deref(),
        Some("headroom agent enable --pid 4242")
    );
    assert_eq!(f[0].severity, doctor::Severity::Info);
}
