//! A stand-in engine for the command tests: it implements the core's one `Backend` trait and
//! answers with the real types (history points, journal entries, action outcomes), recording
//! what it was asked. The operations themselves are the real ones.
#![allow(dead_code, clippy::unwrap_used)]

use headroom_app::backend::{Backend, BoxFuture, Feed, OpError};
use headroom_core::agents::{ActionOutcome, LimitKind};
use headroom_core::config::{Config, ConfigIssue, LoadedConfig};
use headroom_core::engine::EngineStatus;
use headroom_core::events::Event;
use headroom_core::history::{EventQuery, HistoryPoint, HistoryQuery};
use headroom_core::rules::RuleState;
use headroom_core::snapshot::{Platform, PressureLevel};
use headroom_core::Snapshot;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;

pub const GIB: u64 = 1 << 30;

pub struct Fake {
    pub latest: Option<Arc<Snapshot>>,
    pub config: Mutex<Config>,
    pub calls: Mutex<Vec<String>>,
    pub history: Vec<HistoryPoint>,
    tx: broadcast::Sender<Feed>,
}

impl Fake {
    pub fn new(latest: Option<Snapshot>) -> Self {
        Self {
            latest: latest.map(Arc::new),
            config: Mutex::new(Config::default()),
            calls: Mutex::new(Vec::new()),
            history: vec![HistoryPoint::new(1, 1).with("used", Some((10 * GIB) as f64))],
            tx: broadcast::channel(4).0,
        }
    }

    fn record(&self, call: String) {
        self.calls.lock().unwrap().push(call);
    }

    pub fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }

    pub fn outcomes(freed: Option<u64>) -> Vec<ActionOutcome> {
        vec![ActionOutcome {
            pid: 41,
            name: "python3".into(),
            ok: true,
            freed,
            previous: None,
            current: None,
            error: None,
        }]
    }
}

impl Backend for Fake {
    fn snapshot(&self) -> BoxFuture<'_, Result<Arc<Snapshot>, OpError>> {
        let latest = self.latest.clone().ok_or_else(OpError::no_sample);
        Box::pin(async move { latest })
    }
    fn latest(&self) -> Option<Arc<Snapshot>> {
        self.latest.clone()
    }
    fn subscribe(&self) -> broadcast::Receiver<Feed> {
        self.tx.subscribe()
    }
    fn config(&self) -> LoadedConfig {
        LoadedConfig {
            config: self.config.lock().unwrap().clone(),
            path: "/tmp/headroom-test/config.toml".into(),
            error: None,
            issues: Vec::new(),
            suggested_policy: None,
        }
    }
    fn save_config(&self, config: Config) -> BoxFuture<'_, Result<(), Vec<ConfigIssue>>> {
        self.record(format!("save_config title={:?}", config.app.title));
        *self.config.lock().unwrap() = config;
        Box::pin(async { Ok(()) })
    }
    fn history(&self, q: HistoryQuery) -> BoxFuture<'_, Result<Vec<HistoryPoint>, OpError>> {
        let ago = chrono::Utc::now().timestamp_millis() - q.since_ms.unwrap_or(0);
        self.record(format!("history {}", (ago as f64 / 1000.0).round()));
        Box::pin(async { Ok(self.history.clone()) })
    }
    fn events(&self, q: EventQuery) -> BoxFuture<'_, Result<Vec<Event>, OpError>> {
        self.record(format!("events limit={:?}", q.limit));
        Box::pin(async { Ok(Vec::new()) })
    }
    fn clear_cache(&self, pids: Vec<u32>) -> BoxFuture<'_, Result<Vec<ActionOutcome>, OpError>> {
        self.record(format!("clear_cache {pids:?}"));
        Box::pin(async { Ok(Fake::outcomes(Some(2 << 30))) })
    }
    fn set_limit(
        &self,
        kind: LimitKind,
        bytes: u64,
        pids: Vec<u32>,
    ) -> BoxFuture<'_, Result<Vec<ActionOutcome>, OpError>> {
        self.record(format!("set_limit {} {bytes} {pids:?}", kind.word()));
        Box::pin(async { Ok(Fake::outcomes(None)) })
    }
    fn rule_states(&self) -> Vec<RuleState> {
        Vec::new()
    }
    fn status(&self) -> EngineStatus {
        EngineStatus {
            config_error: None,
            config_path: "/tmp/headroom-test/config.toml".into(),
            storage_error: None,
            storage: Default::default(),
            agents: 0,
            samples: 1,
        }
    }
    fn runtime_dir(&self) -> PathBuf {
        PathBuf::from("/nonexistent/headroom-test-run")
    }
    fn shutdown(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}

pub fn linux(total: u64) -> Snapshot {
    let mut s = Snapshot::empty(Platform::Linux, chrono::Utc::now());
    s.memory.total = Some(total);
    s.memory.available = Some(total / 2);
    s.pressure.level = Some(PressureLevel::Normal);
    s
}

/// A 64 GB Mac with the macOS default wired limit in force.
pub fn mac() -> Snapshot {
    let mut s = Snapshot::empty(Platform::Macos, chrono::Utc::now());
    s.memory.total = Some(64 * GIB);
    s.memory.used = Some(10 * GIB);
    s.memory.available = Some(40 * GIB);
    s.gpu.wired_limit = Some(0);
    s.pressure.level = Some(PressureLevel::Warn);
    s
}
