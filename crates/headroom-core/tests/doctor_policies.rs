#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The doctor's policy checks: a refused policy limit (from the snapshot's policy state, or
//! from the journal) and restart drift found in the per-process history the engine records in
//! the real SQLite database, with the supervisor lines for that process.

use chrono::{Duration, Utc};
use headroom_core::agents::LimitKind;
use headroom_core::doctor::{self, DoctorContext};
use headroom_core::events::{Event, EventKind, LimitChange, Severity};
use headroom_core::history::{HistoryLimits, HistoryStore};
use headroom_core::policies::tracker::{LimitOrigin, LimitSource, PolicyStatus};
use headroom_core::snapshot::{MlxProcess, Platform, PressureLevel, Snapshot};
use std::collections::HashMap;

const MIB: u64 = 1024 * 1024;
const GIB: u64 = 1024 * MIB;

fn machine(mlx: Vec<MlxProcess>) -> Snapshot {
    let mut s = Snapshot::empty(Platform::Linux, Utc::now());
    s.memory.total = Some(64 * GIB);
    s.pressure.level = Some(PressureLevel::Normal);
    s.mlx = mlx;
    s
}

fn proc(pid: u32, active: u64, cache: u64, footprint: u64) -> MlxProcess {
    MlxProcess {
        pid,
        name: "python3.12".into(),
        attached: true,
        active: Some(active),
        cache: Some(cache),
        footprint: Some(footprint),
        ..MlxProcess::default()
    }
}

#[tokio::test]
async fn drift_recorded_in_history_points_at_the_supervisor_with_exact_lines() {
    let tmp = tempfile::tempdir().unwrap();
    let store = HistoryStore::open(tmp.path(), &HistoryLimits::default());
    let now = Utc::now();
    // Four days, one reading per hour: pid 4242's memory at rest grows 300 MiB a day; pid 7
    // stays flat. Busy hours add active memory and cache on top.
    for day in 0..4u64 {
        for hour in 0..24u64 {
            let at =
                now - Duration::days(4) + Duration::days(day as i64) + Duration::hours(hour as i64);
            let busy = if (9..18).contains(&hour) { 2 * GIB } else { 0 };
            let rest = 400 * MIB + day * 300 * MIB;
            let mut s = machine(vec![
                proc(
                    4242,
                    8 * GIB + busy,
                    rest / 2 + busy / 4,
                    8 * GIB + busy + rest + busy / 4,
                ),
                proc(
                    7,
                    8 * GIB + busy,
                    100 * MIB + busy / 4,
                    8 * GIB + busy + 200 * MIB + busy / 4,
                ),
            ]);
            s.at = at;
            store.record_processes(&s);
        }
    }
    store.flush().await;
    let history = doctor::process_history(tmp.path(), now);
    assert_eq!(history.get(&4242).map(Vec::len), Some(96));
    let ctx = DoctorContext {
        process_history: history,
        cmdlines: HashMap::from([(
            4242,
            vec![
                "/srv/venv/bin/python".to_string(),
                "-m".into(),
                "mlx_lm.server".into(),
                "--model".into(),
                "mlx-community/Qwen3-8B-4bit".into(),
            ],
        )]),
        ..DoctorContext::default()
    };
    let snap = machine(vec![
        proc(4242, 8 * GIB, 650 * MIB, 9 * GIB),
        proc(7, 8 * GIB, 100 * MIB, 8 * GIB),
    ]);
    let report = doctor::report(&snap, &ctx);
    let drift: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.id == "restart_drift")
        .collect();
    assert_eq!(drift.len(), 1, "{:#?}", report.findings);
    let f = drift[0];
    assert_eq!(f.pid, Some(4242));
    assert!(
        f.title.contains("900.0 MB more at rest than 3 days ago"),
        "{}",
        f.title
    );
    assert!(f.action.contains("never restarts or kills"), "{}", f.action);
    let lines = f.detail.as_deref().unwrap();
    assert!(
        lines.contains(
            "ExecStart=/srv/venv/bin/python -m mlx_lm.server --model mlx-community/Qwen3-8B-4bit"
        ),
        "{lines}"
    );
    assert!(lines.contains("OnCalendar=*-*-* 04:00:00"), "{lines}");
    assert!(
        lines.contains("systemctl --user restart mlx-mlx_lm.server.service"),
        "{lines}"
    );
}

#[test]
fn a_refused_policy_limit_is_a_finding_with_the_wired_limit_fix() {
    let mut p = proc(31, GIB, 0, GIB);
    p.policy = Some(PolicyStatus {
        policy: Some("every-mlx-process".into()),
        limits_source: vec![LimitOrigin {
            limit: LimitKind::Wired,
            source: LimitSource::Refused,
            wanted: Some(45 * GIB),
            why: "policy every-mlx-process not applied: MLX refused a wired limit of 45.0 GB"
                .into(),
        }],
        idle_secs: None,
        last_trim: None,
    });
    let report = doctor::report(&machine(vec![p]), &DoctorContext::default());
    let f = report
        .findings
        .iter()
        .find(|f| f.id == "policy_refused")
        .expect("a policy_refused finding");
    assert_eq!(f.command.as_deref(), Some("headroom wired-limit set 46080"));
    assert!(
        f.title.contains("refused the wired limit of 45.0 GB"),
        "{}",
        f.title
    );
    assert!(f.action.contains("not retried"), "{}", f.action);
}

#[test]
fn refusals_come_from_the_journal_for_the_current_process_only() {
    let ev = |kind: EventKind| Event::now(Severity::Info, kind, "");
    let refused = |pid: u32| {
        ev(EventKind::PolicyApplied {
            policy: "p".into(),
            pid,
            name: "python3".into(),
            changes: vec![LimitChange {
                limit: "wired".into(),
                wanted: 45 * GIB,
                previous: None,
                current: None,
                error: Some("above the recommended working set".into()),
            }],
        })
    };
    let attached = |pid: u32| {
        ev(EventKind::AgentAttached {
            pid,
            name: "python3".into(),
        })
    };
    let events = vec![
        attached(5),
        refused(5),
        attached(6),
        refused(6),
        attached(6),
    ];
    let r = doctor::policy_refusals(&events);
    assert_eq!(r.len(), 1, "pid 6 was reused by a new process: {r:?}");
    assert_eq!((r[0].pid, r[0].limit.as_str()), (5, "wired"));
    let ctx = DoctorContext {
        policy_refusals: r,
        ..DoctorContext::default()
    };
    let report = doctor::report(&machine(vec![proc(5, GIB, 0, GIB)]), &ctx);
    assert!(report
        .findings
        .iter()
        .any(|f| f.id == "policy_refused" && f.pid == Some(5)));
}
