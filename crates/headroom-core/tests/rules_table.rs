//! Rule evaluation as tables: a value per sample in, what fired or resolved out.
//!
//! Each case is a rule, a series of (seconds, value) samples and the transitions expected at
//! given sample indices; everything else must be silent.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

use chrono::{DateTime, Duration, Utc};
use headroom_core::rules::{
    default_rules, Action, Comparison, Metric, PlannedAction, Rule, RuleEngine, RulePhase, Scope,
    Transition,
};
use headroom_core::snapshot::{MlxProcess, Platform, PressureLevel, Snapshot};

const MIB: f64 = 1024.0 * 1024.0;

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn swap_rule() -> Rule {
    Rule {
        id: "swap".into(),
        name: "Swap above 100".into(),
        metric: Metric::SWAP_USED,
        comparison: Comparison::Above,
        threshold: 100.0,
        for_secs: 0,
        samples: 1,
        recovery: Some(80.0),
        cooldown_secs: 0,
        actions: vec![Action::Notify],
        enabled: true,
    }
}

fn snap_swap(at: DateTime<Utc>, v: f64) -> Snapshot {
    let mut s = Snapshot::empty(Platform::Linux, at);
    s.swap.used = Some(v as u64);
    s
}

/// Runs `rule` over `(second, value)` samples; returns `(index, transition)` pairs.
fn run(rule: Rule, samples: &[(i64, f64)]) -> Vec<(usize, Transition)> {
    let mut engine = RuleEngine::new(vec![rule]);
    let mut out = Vec::new();
    for (i, &(sec, v)) in samples.iter().enumerate() {
        let at = t0() + Duration::seconds(sec);
        for o in engine.evaluate(&snap_swap(at, v), at) {
            out.push((i, o.transition));
        }
    }
    out
}

fn every_second(values: &[f64]) -> Vec<(i64, f64)> {
    values
        .iter()
        .enumerate()
        .map(|(i, v)| (i as i64, *v))
        .collect()
}

use Transition::{Fired as F, Resolved as R};

#[test]
fn table() {
    struct Case {
        what: &'static str,
        rule: Rule,
        values: Vec<f64>,
        want: Vec<(usize, Transition)>,
    }
    let with = |f: &dyn Fn(&mut Rule)| {
        let mut r = swap_rule();
        f(&mut r);
        r
    };
    let cases = vec![
        Case {
            what: "fires on the first breach",
            rule: swap_rule(),
            values: vec![50.0, 150.0, 150.0],
            want: vec![(1, F)],
        },
        Case {
            what: "equal to the threshold is not above it",
            rule: swap_rule(),
            values: vec![100.0, 100.0],
            want: vec![],
        },
        Case {
            what: "holds for 3 samples before firing",
            rule: with(&|r| r.samples = 3),
            values: vec![150.0, 150.0, 150.0, 150.0],
            want: vec![(2, F)],
        },
        Case {
            what: "a dip resets the holding count",
            rule: with(&|r| r.samples = 3),
            values: vec![150.0, 150.0, 50.0, 150.0, 150.0, 150.0],
            want: vec![(5, F)],
        },
        Case {
            what: "holds for 5 seconds before firing",
            rule: with(&|r| r.for_secs = 5),
            values: vec![150.0; 8],
            want: vec![(5, F)],
        },
        Case {
            what: "hysteresis: between recovery and threshold stays fired",
            rule: swap_rule(),
            values: vec![150.0, 90.0, 150.0, 85.0, 150.0],
            want: vec![(0, F)],
        },
        Case {
            what: "recovery re-arms; the next breach fires again",
            rule: swap_rule(),
            values: vec![150.0, 80.0, 150.0],
            want: vec![(0, F), (1, R), (2, F)],
        },
        Case {
            what: "no recovery set: the threshold itself re-arms",
            rule: with(&|r| r.recovery = None),
            values: vec![150.0, 100.0, 101.0],
            want: vec![(0, F), (1, R), (2, F)],
        },
        Case {
            what: "cooldown delays a re-fire after recovery",
            rule: with(&|r| r.cooldown_secs = 10),
            values: vec![
                150.0, 50.0, 150.0, 150.0, 150.0, 150.0, 150.0, 150.0, 150.0, 150.0, 150.0,
            ],
            want: vec![(0, F), (1, R), (10, F)],
        },
        Case {
            what: "cooldown: a breach that ends within the cooldown never fires",
            rule: with(&|r| r.cooldown_secs = 10),
            values: vec![150.0, 50.0, 150.0, 150.0, 50.0, 50.0],
            want: vec![(0, F), (1, R)],
        },
    ];
    for c in cases {
        assert_eq!(run(c.rule, &every_second(&c.values)), c.want, "{}", c.what);
    }
}

#[test]
fn below_rules_mirror_above() {
    let rule = Rule {
        metric: Metric::FREE_PERCENT,
        comparison: Comparison::Below,
        threshold: 15.0,
        recovery: Some(20.0),
        ..swap_rule()
    };
    let mut engine = RuleEngine::new(vec![rule]);
    let mut got = Vec::new();
    for (i, v) in [30.0, 14.0, 18.0, 12.0, 20.0, 10.0].into_iter().enumerate() {
        let at = t0() + Duration::seconds(i as i64);
        let mut s = Snapshot::empty(Platform::Macos, at);
        s.pressure.free_percent = Some(v);
        for o in engine.evaluate(&s, at) {
            got.push((i, o.transition));
        }
    }
    assert_eq!(got, vec![(1, F), (4, R), (5, F)]);
}

#[test]
fn no_storm_on_a_value_flapping_around_its_threshold() {
    // 10 minutes at 1 s, alternating just above and just below the threshold (but never
    // down to the recovery value): exactly one firing.
    let values: Vec<f64> = (0..600)
        .map(|i| if i % 2 == 0 { 101.0 } else { 99.0 })
        .collect();
    assert_eq!(run(swap_rule(), &every_second(&values)), vec![(0, F)]);
    // Without hysteresis (recovery = threshold) the cooldown still bounds it: one firing per
    // 60 s cooldown, not one per two samples.
    let rule = Rule {
        recovery: None,
        cooldown_secs: 60,
        ..swap_rule()
    };
    let fired = run(rule, &every_second(&values))
        .into_iter()
        .filter(|(_, t)| *t == F)
        .count();
    assert_eq!(fired, 10);
}

#[test]
fn missing_values_leave_the_state_alone() {
    let mut engine = RuleEngine::new(vec![Rule {
        samples: 2,
        ..swap_rule()
    }]);
    let mut fired = Vec::new();
    for (i, v) in [Some(150.0), None, Some(150.0)].into_iter().enumerate() {
        let at = t0() + Duration::seconds(i as i64);
        let mut s = Snapshot::empty(Platform::Linux, at);
        s.swap.used = v.map(|v: f64| v as u64);
        fired.extend(
            engine
                .evaluate(&s, at)
                .into_iter()
                .map(|o| (i, o.transition)),
        );
    }
    assert_eq!(fired, vec![(2, F)]);
}

#[test]
fn disabled_rules_never_fire() {
    let rule = Rule {
        enabled: false,
        ..swap_rule()
    };
    assert_eq!(run(rule, &every_second(&[500.0, 500.0])), vec![]);
}

fn proc(pid: u32, cache: u64) -> MlxProcess {
    MlxProcess {
        pid,
        name: format!("python{pid}"),
        attached: true,
        cache: Some(cache),
        ..MlxProcess::default()
    }
}

#[test]
fn process_rules_fire_per_process_and_target_the_breaching_one() {
    let rule = Rule {
        id: "cache".into(),
        name: "MLX cache".into(),
        metric: Metric::PROCESS_MLX_CACHE,
        threshold: 64.0 * MIB,
        recovery: Some(0.0),
        samples: 2,
        actions: vec![
            Action::Notify,
            Action::ClearCache {
                scope: Scope::Breaching,
            },
        ],
        ..swap_rule()
    };
    let mut engine = RuleEngine::new(vec![rule]);
    let big = 100 * (1 << 20);
    let mut outcomes = Vec::new();
    for i in 0..3 {
        let at = t0() + Duration::seconds(i);
        let mut s = Snapshot::empty(Platform::Linux, at);
        s.mlx = vec![proc(10, big), proc(20, 1 << 20)];
        outcomes.extend(engine.evaluate(&s, at));
    }
    assert_eq!(outcomes.len(), 1, "{outcomes:?}");
    let o = &outcomes[0];
    assert_eq!((o.pid, o.transition), (Some(10), F));
    assert_eq!(o.process.as_deref(), Some("python10"));
    assert_eq!(
        o.actions,
        vec![
            PlannedAction::Notify,
            PlannedAction::ClearCache { pids: vec![10] }
        ]
    );
    let states = engine.states();
    let fired: Vec<_> = states
        .iter()
        .filter(|s| s.state == RulePhase::Fired)
        .collect();
    assert_eq!(fired.len(), 1);
    assert_eq!(fired[0].pid, Some(10));
    // The cache cleared to zero: resolved.
    let at = t0() + Duration::seconds(3);
    let mut s = Snapshot::empty(Platform::Linux, at);
    s.mlx = vec![proc(10, 0), proc(20, 1 << 20)];
    let o = engine.evaluate(&s, at);
    assert_eq!((o[0].pid, o[0].transition), (Some(10), R));
    // A process that left takes its state with it.
    let at = t0() + Duration::seconds(4);
    let mut s = Snapshot::empty(Platform::Linux, at);
    s.mlx = vec![proc(20, 1 << 20)];
    engine.evaluate(&s, at);
    assert!(engine.states().iter().all(|s| s.pid != Some(10)));
}

#[test]
fn scope_all_targets_every_attached_process_and_none_means_no_action() {
    let rule = Rule {
        metric: Metric::PRESSURE_LEVEL,
        threshold: 0.0,
        recovery: Some(0.0),
        actions: vec![Action::ClearCache { scope: Scope::All }],
        ..swap_rule()
    };
    let mut engine = RuleEngine::new(vec![rule.clone()]);
    let mut s = Snapshot::empty(Platform::Macos, t0());
    s.pressure.level = Some(PressureLevel::Warn);
    let mut unattached = proc(30, 0);
    unattached.attached = false;
    s.mlx = vec![proc(10, 1), proc(20, 1), unattached];
    let o = engine.evaluate(&s, t0());
    assert_eq!(
        o[0].actions,
        vec![PlannedAction::ClearCache { pids: vec![10, 20] }]
    );
    // No attached process: the clear is dropped, the firing is still reported.
    let mut engine = RuleEngine::new(vec![rule]);
    s.mlx.clear();
    let o = engine.evaluate(&s, t0());
    assert_eq!(o.len(), 1);
    assert!(o[0].actions.is_empty());
}

#[test]
fn unchanged_rules_keep_their_state_across_a_config_change() {
    let mut engine = RuleEngine::new(vec![swap_rule()]);
    assert_eq!(engine.evaluate(&snap_swap(t0(), 150.0), t0()).len(), 1);
    let mut other = swap_rule();
    other.id = "other".into();
    engine.set_rules(vec![swap_rule(), other]);
    let at = t0() + Duration::seconds(1);
    let o = engine.evaluate(&snap_swap(at, 150.0), at);
    // `swap` stays fired (no re-notification); `other` is new and fires.
    assert_eq!(o.len(), 1);
    assert_eq!(o[0].rule, "other");
    // Changing a rule's definition starts it over.
    let mut changed = swap_rule();
    changed.threshold = 120.0;
    engine.set_rules(vec![changed]);
    let at = t0() + Duration::seconds(2);
    assert_eq!(engine.evaluate(&snap_swap(at, 150.0), at).len(), 1);
}

#[test]
fn events_carry_the_numbers_and_read_well() {
    let mut engine = RuleEngine::new(default_rules());
    let mut s = Snapshot::empty(Platform::Macos, t0());
    s.swap.used = Some(2 << 30);
    let o = engine.evaluate(&s, t0());
    assert_eq!(o.len(), 1, "{o:?}");
    let e = o[0].event(t0());
    assert_eq!(
        e.message,
        "Swap use is above 1 GB: swap_used is 2.0 GB (threshold 1.0 GB)"
    );
    let v = serde_json::to_value(&e).unwrap();
    assert_eq!(v["kind"]["type"], "rule_fired");
    assert_eq!(v["kind"]["rule"], "swap-used");
    assert_eq!(v["kind"]["value"], 2147483648.0);
}

#[test]
fn default_rules_are_valid_and_trace_to_the_seeds() {
    let rules = default_rules();
    let c = headroom_core::config::Config::default();
    assert!(c.issues().is_empty(), "{:?}", c.issues());
    let find = |id: &str| rules.iter().find(|r| r.id == id).unwrap();
    assert_eq!(find("pressure-warn").threshold, 0.0);
    assert_eq!(find("free-low").threshold, 15.0);
    assert_eq!(find("swap-used").threshold, 1024.0 * MIB);
    assert_eq!(find("compressed-high").threshold, 5.0 * 1024.0 * MIB);
    assert_eq!(find("mlx-cache-high").threshold, 512.0 * MIB);
    assert_eq!(find("mlx-cache-high").for_secs, 30);
}

#[test]
fn evaluating_the_defaults_with_8_processes_is_cheap() {
    let mut engine = RuleEngine::new(default_rules());
    let mut s = Snapshot::empty(Platform::Macos, t0());
    s.pressure.level = Some(PressureLevel::Normal);
    s.pressure.free_percent = Some(40.0);
    s.swap.used = Some(0);
    s.memory.compressed = Some(1 << 30);
    s.mlx = (0..8).map(|i| proc(100 + i, 1 << 20)).collect();
    let n = 20_000;
    let started = std::time::Instant::now();
    for i in 0..n {
        let at = t0() + Duration::milliseconds(i);
        assert!(engine.evaluate(&s, at).is_empty());
    }
    let per = started.elapsed() / n as u32;
    println!("rule evaluation: {per:?} per sample (5 default rules, 8 MLX processes)");
    assert!(per < std::time::Duration::from_micros(200), "{per:?}");
}

#[test]
fn actions_have_the_same_shape_on_the_wire_and_in_typescript() {
    use ts_rs::TS;
    let v = serde_json::to_value(vec![
        Action::Notify,
        Action::ClearCache {
            scope: Scope::Breaching,
        },
    ])
    .unwrap();
    assert_eq!(
        v,
        serde_json::json!([{"type": "notify"}, {"type": "clear_cache", "scope": "breaching"}])
    );
    let decl = Action::decl();
    assert!(decl.contains(r#"{ "type": "notify" }"#), "{decl}");
    assert!(decl.contains(r#""type": "clear_cache""#), "{decl}");
}

#[test]
fn critical_pressure_fires_a_critical_event() {
    let mut engine = RuleEngine::new(default_rules());
    let mut s = Snapshot::empty(Platform::Macos, t0());
    s.pressure.level = Some(PressureLevel::Critical);
    let mut events = Vec::new();
    for i in 0..12 {
        let at = t0() + Duration::seconds(i);
        events.extend(engine.evaluate(&s, at).into_iter().map(|o| o.event(at)));
    }
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(
        events[0].severity,
        headroom_core::events::Severity::Critical
    );
    assert_eq!(
        events[0].message,
        "Memory pressure is elevated: pressure_level is Critical (threshold Normal)"
    );
}
