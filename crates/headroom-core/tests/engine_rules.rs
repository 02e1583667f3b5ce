//! The engine with a scripted snapshot source: rules fire and resolve through the real
//! sampling loop, the journal and the broadcast; configuration errors are reported; a new
//! configuration is saved (comments kept) and applied; the clock is injectable.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

use chrono::{DateTime, Utc};
use headroom_core::engine::{
    self, EngineEvent, EngineHandle, EngineOptions, EngineParts, SnapshotSource,
};
use headroom_core::events::{EventKind, Severity};
use headroom_core::history::{Clock, EventQuery, ManualClock, SystemClock};
use headroom_core::rules::RulePhase;
use headroom_core::snapshot::{Platform, PressureLevel, Snapshot};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::broadcast::Receiver;

/// Swap used and free percentage the next samples report (Linux snapshots).
#[derive(Clone, Default)]
struct Script(Arc<Mutex<(u64, f64)>>);

impl Script {
    fn set(&self, swap: u64, free_percent: f64) {
        *self.0.lock().unwrap() = (swap, free_percent);
    }
}

struct Source {
    script: Script,
    clock: Arc<dyn Clock>,
}

impl SnapshotSource for Source {
    fn sample(&mut self) -> Snapshot {
        let (swap, free) = *self.script.0.lock().unwrap();
        let mut s = Snapshot::empty(Platform::Linux, self.clock.now());
        s.swap.used = Some(swap);
        s.pressure.free_percent = Some(free);
        // What the sampler derives with its built-in thresholds (warn under 15 % available).
        s.pressure.level = Some(if free < 15.0 {
            PressureLevel::Warn
        } else {
            PressureLevel::Normal
        });
        s.pressure.psi_some_avg10 = Some(0.0);
        s.pressure.psi_full_avg10 = Some(0.0);
        s
    }
}

const CONFIG: &str = r#"# Test configuration: keep this comment.
[sampling]
interval_ms = 100 # fast for tests

[linux_pressure]
warn_available_percent = 10

[[rules]]
id = "swap"
name = "Swap above 100"
metric = "swap_used"
comparison = "above"
threshold = 100
recovery = 80
samples = 2
actions = [{ type = "notify" }]

[[rules]]
id = "quiet"
name = "Swap above 1000, journal only"
metric = "swap_used"
comparison = "above"
threshold = 1000
for_secs = 60
"#;

struct Setup {
    _tmp: tempfile::TempDir,
    opts: EngineOptions,
    script: Script,
}

fn setup(config: &str) -> Setup {
    let tmp = tempfile::tempdir().unwrap();
    let opts = EngineOptions {
        config_path: tmp.path().join("config.toml"),
        data_dir: tmp.path().join("data"),
        runtime_dir: tmp.path().join("run"),
    };
    std::fs::write(&opts.config_path, config).unwrap();
    Setup {
        _tmp: tmp,
        opts,
        script: Script::default(),
    }
}

fn start(s: &Setup, clock: Arc<dyn Clock>) -> EngineHandle {
    let source = Source {
        script: s.script.clone(),
        clock: clock.clone(),
    };
    engine::start_with(
        s.opts.clone(),
        EngineParts {
            clock,
            source: Box::new(source),
            history: None,
        },
    )
}

/// The next journal entry matching `pred`, within 10 s.
async fn next_journal(
    rx: &mut Receiver<EngineEvent>,
    pred: impl Fn(&EventKind) -> bool,
) -> headroom_core::events::Event {
    let wait = async {
        loop {
            match rx.recv().await {
                Ok(EngineEvent::Journal(e)) if pred(&e.kind) => return (*e).clone(),
                Ok(_) => {}
                Err(e) => panic!("broadcast: {e}"),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), wait)
        .await
        .expect("journal entry within 10 s")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_fire_once_resolve_and_are_journaled() {
    let s = setup(CONFIG);
    s.script.set(10, 50.0);
    let engine = start(&s, Arc::new(SystemClock));
    let mut rx = engine.subscribe();
    s.script.set(150, 50.0);
    let fired = next_journal(&mut rx, |k| matches!(k, EventKind::RuleFired { .. })).await;
    assert_eq!(
        fired.severity,
        Severity::Warning,
        "notify rules are warnings"
    );
    assert_eq!(
        fired.message,
        "Swap above 100: swap_used is 150 B (threshold 100 B)"
    );
    // Held above the threshold: no second firing while fired.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let states = engine.rule_states();
    let swap = states.iter().find(|r| r.rule == "swap").unwrap();
    assert_eq!(swap.state, RulePhase::Fired);
    s.script.set(50, 50.0);
    let resolved = next_journal(&mut rx, |k| matches!(k, EventKind::RuleResolved { .. })).await;
    assert!(resolved.message.starts_with("Resolved: Swap above 100"));
    engine.shutdown().await;
    let journal = engine.events(EventQuery::default()).await;
    let fired_count = journal
        .iter()
        .filter(|e| matches!(e.kind, EventKind::RuleFired { .. }))
        .count();
    assert_eq!(fired_count, 1, "{journal:?}");
    assert!(engine.status().samples >= 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_injected_clock_decides_how_long_a_breach_held() {
    let s = setup(CONFIG);
    let start_at: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().unwrap();
    let clock = Arc::new(ManualClock::new(start_at));
    s.script.set(5000, 50.0);
    let engine = start(&s, clock.clone());
    let mut rx = engine.subscribe();
    // Many real samples, but the clock stands still: `quiet` (for_secs = 60) stays pending.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let quiet = |e: &EngineHandle| {
        e.rule_states()
            .into_iter()
            .find(|r| r.rule == "quiet")
            .unwrap()
    };
    assert_eq!(quiet(&engine).state, RulePhase::Pending);
    clock.advance(chrono::Duration::seconds(61));
    let fired = next_journal(
        &mut rx,
        |k| matches!(k, EventKind::RuleFired { rule, .. } if rule == "quiet"),
    )
    .await;
    assert_eq!(
        fired.severity,
        Severity::Info,
        "rules without notify are quiet"
    );
    assert_eq!(fired.at, start_at + chrono::Duration::seconds(61));
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linux_pressure_thresholds_from_the_config_apply() {
    let s = setup(CONFIG);
    s.script.set(0, 12.0); // the sampler's default thresholds call 12 % "warn"
    let engine = start(&s, Arc::new(SystemClock));
    let mut rx = engine.subscribe();
    let snap = loop {
        if let Ok(EngineEvent::Snapshot(snap)) = rx.recv().await {
            break snap;
        }
    };
    assert_eq!(
        snap.pressure.level,
        Some(PressureLevel::Normal),
        "10 % configured"
    );
    assert_eq!(engine.latest().unwrap().pressure.free_percent, Some(12.0));
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_config_file_is_reported_and_kept() {
    let bad = "[sampling]\ninterval_ms = \"fast\"\n";
    let s = setup(bad);
    let engine = start(&s, Arc::new(SystemClock));
    let status = engine.status();
    let err = status.config_error.unwrap();
    assert!(
        err.ends_with("sampling.interval_ms = \"fast\": wrong type (a string); allowed: an integer from 100 to 60000 (milliseconds) (defaults in force; the file was not changed)"),
        "{err}"
    );
    assert_eq!(engine.config().config.sampling.interval_ms, 1000);
    // Saving over it is refused; the file stays as the user wrote it.
    let put = engine.put_config(engine.config().config).await.unwrap_err();
    assert!(put[0].message.contains("fix or remove it first"), "{put:?}");
    assert_eq!(std::fs::read_to_string(&s.opts.config_path).unwrap(), bad);
    engine.shutdown().await;
    let journal = engine.events(EventQuery::default()).await;
    assert!(
        journal
            .iter()
            .any(|e| matches!(&e.kind, EventKind::ConfigError { error, .. } if error == &err)),
        "{journal:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_config_validates_saves_with_comments_and_applies() {
    let s = setup(CONFIG);
    let engine = start(&s, Arc::new(SystemClock));
    let mut c = engine.config().config;
    c.sampling.interval_ms = 5;
    let issues = engine.put_config(c.clone()).await.unwrap_err();
    assert_eq!(issues[0].key, "sampling.interval_ms");
    assert_eq!(
        std::fs::read_to_string(&s.opts.config_path).unwrap(),
        CONFIG
    );

    c.sampling.interval_ms = 200;
    c.rules.retain(|r| r.id == "swap");
    engine.put_config(c.clone()).await.unwrap();
    let text = std::fs::read_to_string(&s.opts.config_path).unwrap();
    assert!(text.starts_with("# Test configuration: keep this comment."));
    assert!(
        text.contains("interval_ms = 200 # fast for tests"),
        "{text}"
    );
    assert!(!text.contains("quiet"), "{text}");
    assert_eq!(engine.config().config, c);
    assert_eq!(engine.config().error, None);
    let ids: Vec<String> = engine.rule_states().into_iter().map(|r| r.rule).collect();
    assert_eq!(ids, ["swap"]);
    // The validator the API uses.
    let bad = serde_json::json!({"app": {"icon_style": "neon"}});
    let issues = engine.validate_config(&bad).unwrap_err();
    assert_eq!(issues[0].key, "app.icon_style");
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actions_without_agents_are_journaled_not_fatal() {
    let s = setup(CONFIG);
    let engine = start(&s, Arc::new(SystemClock));
    let mut rx = engine.subscribe();
    let outcomes = engine.clear_cache(vec![]).await;
    assert!(outcomes.is_empty());
    let e = next_journal(&mut rx, |k| matches!(k, EventKind::ActionTaken { .. })).await;
    assert_eq!(
        e.message,
        "clear_cache: no MLX agent attached; nothing done"
    );
    // A pid without an agent fails by name.
    let outcomes = engine.clear_cache(vec![999_999]).await;
    assert_eq!(outcomes.len(), 1);
    assert!(!outcomes[0].ok);
    let e = next_journal(&mut rx, |k| {
        matches!(k, EventKind::ActionTaken { failed: 1, .. })
    })
    .await;
    assert_eq!(e.severity, Severity::Warning);
    engine.shutdown().await;
}

#[test]
fn options_follow_the_environment_variables() {
    // Read-only check of the rule; the variables themselves are set by the CLI tests.
    let o = EngineOptions::from_env();
    assert!(o.config_path.is_absolute() || std::env::var_os("HEADROOM_CONFIG").is_some());
    assert!(!o.data_dir.as_os_str().is_empty());
    let _ = Path::new(&o.runtime_dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_edited_by_hand_is_taken_in_and_a_broken_edit_reported() {
    let s = setup(CONFIG);
    let engine = start(&s, Arc::new(SystemClock));
    let mut rx = engine.subscribe();
    let edited = CONFIG.replace("interval_ms = 100", "interval_ms = 300");
    std::fs::write(&s.opts.config_path, &edited).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while engine.config().config.sampling.interval_ms != 300 {
        assert!(std::time::Instant::now() < deadline, "edit not taken in");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(engine.config().error, None);
    std::fs::write(&s.opts.config_path, "[sampling\n").unwrap();
    let e = next_journal(&mut rx, |k| matches!(k, EventKind::ConfigError { .. })).await;
    assert!(
        e.message.contains("TOML syntax error at line 1"),
        "{}",
        e.message
    );
    assert_eq!(
        engine.config().config.sampling.interval_ms,
        1000,
        "defaults"
    );
    assert!(engine.status().config_error.is_some());
    assert_eq!(
        std::fs::read_to_string(&s.opts.config_path).unwrap(),
        "[sampling\n"
    );
    engine.shutdown().await;
}
