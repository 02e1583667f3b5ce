//! The long-running engine that the menu-bar app and `headroom serve` both host.
//!
//! One owner task runs the sampling loop: memory on a fixed schedule (a tokio interval that
//! skips missed ticks, so there is no burst of catch-up samples after a sleep), the latest
//! MLX poll merged in, the Linux pressure level re-derived with the configured thresholds,
//! rules evaluated, history recorded, the snapshot broadcast. MLX agents are polled in their
//! own task at `sampling.mlx_poll_ms`, so a sample never waits on an agent. Rule actions run
//! in spawned tasks, never on the sampling path; their results (bytes freed) are journaled
//! and broadcast, as are agents attaching and leaving and configuration errors.
//!
//! Hosts [`start`] it inside a tokio runtime, [`EngineHandle::subscribe`] to its events and
//! call the handle's methods; [`EngineHandle::shutdown`] stops it and flushes history.

mod actions;
pub mod policy;
mod run;

use crate::agents::{self, ActionOutcome, LimitKind, MlxMonitor};
use crate::config::{self, Config, ConfigIssue, LoadedConfig};
use crate::events::Event;
use crate::history::{
    Clock, EventQuery, HistoryLimits, HistoryPoint, HistoryQuery, HistoryStore, StorageStatus,
    SystemClock,
};
use crate::rules::{RuleEngine, RuleState};
use crate::snapshot::Snapshot;
use crate::Sampler;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use tokio::sync::{broadcast, mpsc, oneshot};
use ts_rs::TS;

/// Where the engine keeps its files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineOptions {
    /// The configuration file.
    pub config_path: PathBuf,
    /// The data directory (history database).
    pub data_dir: PathBuf,
    /// Where MLX agents put their sockets.
    pub runtime_dir: PathBuf,
}

impl EngineOptions {
    /// The standard places, honouring `HEADROOM_CONFIG`, `HEADROOM_DATA_DIR` and
    /// `HEADROOM_RUNTIME_DIR`.
    pub fn from_env() -> Self {
        Self {
            config_path: config::config_path(),
            data_dir: config::data_dir(),
            runtime_dir: agents::runtime_dir(),
        }
    }
}

/// What the engine broadcasts.
#[derive(Debug, Clone)]
pub enum EngineEvent {
    /// A new sample.
    Snapshot(Arc<Snapshot>),
    /// A journal entry: rule fired or resolved, action taken, agent attached or left,
    /// configuration or storage problem.
    Journal(Arc<Event>),
}

/// The engine's health, for the CLI, the API and the UI.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct EngineStatus {
    /// Why the configuration file is not in force (defaults are), if it is not.
    pub config_error: Option<String>,
    /// The configuration file.
    pub config_path: String,
    /// The current history storage problem, if any (history is kept in memory meanwhile).
    pub storage_error: Option<String>,
    /// The history storage in detail.
    pub storage: StorageStatus,
    /// MLX agents attached now.
    pub agents: u32,
    /// Samples taken since start.
    #[ts(type = "number")]
    pub samples: u64,
}

/// Something that produces snapshots: the live [`Sampler`], or a script in tests.
pub trait SnapshotSource: Send + 'static {
    /// Takes one sample (fast and non-blocking: it runs on the sampling path).
    fn sample(&mut self) -> Snapshot;
}

impl SnapshotSource for Sampler {
    fn sample(&mut self) -> Snapshot {
        Sampler::sample(self)
    }
}

/// The replaceable parts of an engine (tests inject a clock, a source or a history).
pub struct EngineParts {
    /// "Now" for rules and journal entries.
    pub clock: Arc<dyn Clock>,
    /// Where samples come from.
    pub source: Box<dyn SnapshotSource>,
    /// The history; `None` opens `history.db` in the data directory.
    pub history: Option<HistoryStore>,
}

impl Default for EngineParts {
    fn default() -> Self {
        Self {
            clock: Arc::new(SystemClock),
            source: Box::new(Sampler::new()),
            history: None,
        }
    }
}

/// Requests to the owner task.
enum Command {
    /// Apply a configuration that is already validated and saved.
    Apply(Box<Config>, oneshot::Sender<()>),
    /// The file changed on disk and was loaded again (perhaps with a problem).
    Reload(Box<LoadedConfig>),
    Shutdown(oneshot::Sender<()>),
}

/// State shared by the handle and the engine's tasks.
struct Shared {
    opts: EngineOptions,
    clock: Arc<dyn Clock>,
    tx: broadcast::Sender<EngineEvent>,
    commands: mpsc::Sender<Command>,
    history: HistoryStore,
    /// Runs actions; never polled (the MLX task owns the polling monitor).
    actions: MlxMonitor,
    latest: RwLock<Option<Arc<Snapshot>>>,
    config: RwLock<LoadedConfig>,
    rule_states: RwLock<Vec<RuleState>>,
    counters: Mutex<Counters>,
    /// Serialises configuration saves.
    saving: tokio::sync::Mutex<()>,
    /// To the MLX task's policy tracker.
    policy_tx: mpsc::UnboundedSender<policy::PolicyMsg>,
}

#[derive(Default)]
struct Counters {
    samples: u64,
    agents: u32,
}

fn read<T: Clone>(lock: &RwLock<T>) -> T {
    lock.read().unwrap_or_else(|e| e.into_inner()).clone()
}

fn write<T>(lock: &RwLock<T>, value: T) {
    *lock.write().unwrap_or_else(|e| e.into_inner()) = value;
}

impl Shared {
    /// Journals `event` (history) and broadcasts it.
    fn journal(&self, event: Event) {
        self.history.journal(&event);
        self.broadcast_event(event);
    }

    /// Broadcasts without journaling (for events the history journals itself).
    fn broadcast_event(&self, event: Event) {
        let _ = self.tx.send(EngineEvent::Journal(Arc::new(event)));
    }

    fn counters(&self) -> std::sync::MutexGuard<'_, Counters> {
        self.counters.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A handle to a running engine: cheap to clone, usable from any task.
#[derive(Clone)]
pub struct EngineHandle {
    shared: Arc<Shared>,
}

/// Broadcast capacity: a subscriber more than this many events behind misses the oldest.
const CHANNEL_CAPACITY: usize = 1024;

/// Starts the engine with the live sampler, the system clock and `history.db`. Call it inside
/// a tokio runtime: it spawns the sampling and MLX tasks.
pub fn start(opts: EngineOptions) -> EngineHandle {
    start_with(opts, EngineParts::default())
}

/// Starts the engine with injected parts (see [`start`]).
pub fn start_with(opts: EngineOptions, parts: EngineParts) -> EngineHandle {
    // Stamped before loading: an edit racing the load is seen and loaded again.
    let file_stamp = run::stamp(std::fs::metadata(&opts.config_path));
    let loaded = config::load(&opts.config_path);
    let history = parts
        .history
        .unwrap_or_else(|| HistoryStore::open(&opts.data_dir, &limits(&loaded.config)));
    let (tx, _) = broadcast::channel(CHANNEL_CAPACITY);
    let (commands, command_rx) = mpsc::channel(16);
    let (policy_tx, policy_rx) = mpsc::unbounded_channel();
    let rules = RuleEngine::new(loaded.config.rules.clone());
    let shared = Arc::new(Shared {
        actions: MlxMonitor::new(opts.runtime_dir.clone()),
        opts,
        clock: parts.clock,
        tx,
        commands,
        history,
        latest: RwLock::new(None),
        rule_states: RwLock::new(rules.states()),
        config: RwLock::new(loaded),
        counters: Mutex::new(Counters::default()),
        saving: tokio::sync::Mutex::new(()),
        policy_tx,
    });
    run::report_config_error(&shared);
    run::spawn(
        shared.clone(),
        parts.source,
        rules,
        command_rx,
        file_stamp,
        policy_rx,
    );
    EngineHandle { shared }
}

fn engine_issue(message: &str) -> ConfigIssue {
    ConfigIssue {
        key: String::new(),
        value: String::new(),
        allowed: "a running engine".into(),
        message: message.into(),
    }
}

/// The history limits of a configuration.
pub fn limits(c: &Config) -> HistoryLimits {
    HistoryLimits {
        full_rate_hours: c.history.full_rate_hours,
        minute_days: c.history.minute_days,
        max_db_bytes: c.history.max_db_mb.saturating_mul(1024 * 1024),
    }
}

impl EngineHandle {
    /// The latest snapshot (none before the first sample).
    pub fn latest(&self) -> Option<Arc<Snapshot>> {
        read(&self.shared.latest)
    }

    /// Snapshots and journal entries from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<EngineEvent> {
        self.shared.tx.subscribe()
    }

    /// Clears the MLX cache of `pids` (empty: every attached process), journaling the result.
    pub async fn clear_cache(&self, pids: Vec<u32>) -> Vec<ActionOutcome> {
        actions::clear_cache(&self.shared, None, &pids).await
    }

    /// Sets an MLX limit in `pids` (empty: every attached process), journaling the result.
    /// A limit set this way overrides the process's policy until the process exits.
    pub async fn set_limit(
        &self,
        kind: LimitKind,
        bytes: u64,
        pids: Vec<u32>,
    ) -> Vec<ActionOutcome> {
        let outcomes = actions::set_limit(&self.shared, None, kind, bytes, &pids).await;
        policy::note_by_hand(&self.shared, kind, &outcomes);
        outcomes
    }

    /// The configuration in force, its file and its problem, if any, with the suggested first
    /// MLX policy for this machine.
    pub fn config(&self) -> LoadedConfig {
        let mut loaded = read(&self.shared.config);
        let physical = self.latest().and_then(|s| s.memory.total);
        loaded.suggested_policy = Some(crate::policies::suggestion(physical));
        loaded
    }

    /// Validates a configuration given as JSON without applying it.
    pub fn validate_config(&self, v: &serde_json::Value) -> Result<Config, Vec<ConfigIssue>> {
        config::validate_json(v)
    }

    /// Validates, saves (atomically, keeping the file's comments) and applies `config`. A file
    /// that currently has problems is not overwritten: that is an error too. The save runs
    /// off the sampling path. Rules, sampling intervals and Linux pressure thresholds apply
    /// at once (policies to processes at the next MLX poll); `history` limits and `server`
    /// settings when the host restarts.
    pub async fn put_config(&self, config: Config) -> Result<(), Vec<ConfigIssue>> {
        let issues = config.issues();
        if !issues.is_empty() {
            return Err(issues);
        }
        let _guard = self.shared.saving.lock().await;
        let path = self.shared.opts.config_path.clone();
        let to_save = config.clone();
        let saved = tokio::task::spawn_blocking(move || config::save(&path, &to_save)).await;
        match saved {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e.issues()),
            Err(e) => return Err(vec![engine_issue(&format!("saving failed: {e}"))]),
        }
        let (reply, rx) = oneshot::channel();
        let sent = self
            .shared
            .commands
            .send(Command::Apply(Box::new(config), reply))
            .await;
        if sent.is_err() || rx.await.is_err() {
            return Err(vec![engine_issue(
                "the engine has stopped; the file was saved but is not applied",
            )]);
        }
        Ok(())
    }

    /// History points (see [`HistoryStore::query`]).
    pub async fn history(&self, q: HistoryQuery) -> Vec<HistoryPoint> {
        self.shared.history.query(q).await
    }

    /// Journal entries, oldest first (see [`HistoryStore::events`]).
    pub async fn events(&self, q: EventQuery) -> Vec<Event> {
        self.shared.history.events(q).await
    }

    /// The state of every enabled rule.
    pub fn rule_states(&self) -> Vec<RuleState> {
        read(&self.shared.rule_states)
    }

    /// The engine's health.
    pub fn status(&self) -> EngineStatus {
        let storage = self.shared.history.status();
        let counters = self.shared.counters();
        let config = read(&self.shared.config);
        EngineStatus {
            config_error: config.error,
            config_path: self.shared.opts.config_path.display().to_string(),
            storage_error: storage.error.clone(),
            storage,
            agents: counters.agents,
            samples: counters.samples,
        }
    }

    /// Where the engine keeps its files.
    pub fn options(&self) -> &EngineOptions {
        &self.shared.opts
    }

    /// Stops sampling and polling and flushes history. Idempotent.
    pub async fn shutdown(&self) {
        let (reply, rx) = oneshot::channel();
        if self
            .shared
            .commands
            .send(Command::Shutdown(reply))
            .await
            .is_ok()
        {
            let _ = rx.await;
        }
        self.shared.history.flush().await;
    }
}
