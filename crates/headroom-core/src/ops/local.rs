//! The command line's [`Backend`]: no engine runs, so it samples this machine when asked
//! (memory, then one poll of the MLX agents, the configured Linux pressure thresholds applied),
//! reads the history database read-only, and acts on MLX processes through their agents
//! directly, checking first that the processes asked for have an agent.

use super::{Backend, BoxFuture, ErrorKind, OpError, Param};
use crate::agents::{attach_mlx, scan, ActionOutcome, LimitKind, MlxMonitor};
use crate::config::{self, Config, ConfigIssue, LoadedConfig};
use crate::engine::{EngineEvent, EngineStatus};
use crate::events::Event;
use crate::history::{EventQuery, HistoryPoint, HistoryQuery, HistoryReader, StorageStatus};
use crate::rules::RuleState;
use crate::snapshot::Snapshot;
use crate::text::terminal_safe;
use crate::Sampler;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::broadcast;

/// A one-shot host for the command line (see the module documentation).
pub struct Local {
    config_path: PathBuf,
    data_dir: PathBuf,
    loaded: Mutex<LoadedConfig>,
    /// Created at the first sample (history and configuration commands never sample).
    sampler: Mutex<Option<Sampler>>,
    monitor: tokio::sync::Mutex<MlxMonitor>,
    /// The samples taken so far (their times and compressed memory: the doctor's trend).
    taken: Mutex<Vec<HistoryPoint>>,
    latest: Mutex<Option<Arc<Snapshot>>>,
    /// Before the first snapshot, sample once and wait this long (rates need two samples).
    warm_up: Option<Duration>,
    samples: Mutex<u64>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The stored form of a snapshot: every stored metric of the registry.
fn point(s: &Snapshot) -> HistoryPoint {
    let mut p = HistoryPoint::new(s.at.timestamp_millis(), 1);
    for (m, _) in crate::metrics::stored_metrics() {
        p.set(m.key, m.machine_value(s));
    }
    p
}

impl Local {
    /// The standard places (`HEADROOM_CONFIG`, `HEADROOM_DATA_DIR`, `HEADROOM_RUNTIME_DIR`).
    pub fn from_env() -> Self {
        Self::new(
            config::config_path(),
            config::data_dir(),
            MlxMonitor::from_env(),
        )
    }

    /// A host reading `config_path`, the history in `data_dir`, agents through `monitor`.
    pub fn new(config_path: PathBuf, data_dir: PathBuf, mut monitor: MlxMonitor) -> Self {
        let loaded = config::load(&config_path);
        // Scans for MLX processes without the agent as often as the engine does.
        monitor.set_rescan_interval(Duration::from_millis(loaded.config.sampling.mlx_rescan_ms));
        Self {
            config_path,
            data_dir,
            loaded: Mutex::new(loaded),
            sampler: Mutex::new(None),
            monitor: tokio::sync::Mutex::new(monitor),
            taken: Mutex::new(Vec::new()),
            latest: Mutex::new(None),
            warm_up: None,
            samples: Mutex::new(0),
        }
    }

    /// Reads the history database in `dir` instead.
    pub fn with_data_dir(mut self, dir: Option<PathBuf>) -> Self {
        if let Some(dir) = dir {
            self.data_dir = dir;
        }
        self
    }

    /// The first snapshot is the second of two samples `gap` apart, so it has rates.
    pub fn with_rates(mut self, gap: Duration) -> Self {
        self.warm_up = Some(gap);
        self
    }

    fn sample(&self) -> Snapshot {
        let mut snap = lock(&self.sampler)
            .get_or_insert_with(Sampler::new)
            .sample();
        lock(&self.loaded).config.linux_pressure.apply(&mut snap);
        lock(&self.taken).push(point(&snap));
        *lock(&self.samples) += 1;
        snap
    }

    async fn take(&self) -> Arc<Snapshot> {
        if let Some(gap) = self.warm_up.filter(|_| *lock(&self.samples) == 0) {
            self.sample();
            tokio::time::sleep(gap).await;
        }
        let mut snap = self.sample();
        let poll = self.monitor.lock().await.poll().await;
        attach_mlx(&mut snap, &poll);
        let snap = Arc::new(snap);
        *lock(&self.latest) = Some(snap.clone());
        snap
    }

    fn reader(&self) -> Result<HistoryReader, OpError> {
        HistoryReader::open(&self.data_dir).map_err(|e| {
            if e.starts_with("no history database") {
                OpError::new(
                    ErrorKind::NotFound,
                    format!("{e}; history is written by `headroom serve` or the Headroom app"),
                )
            } else {
                OpError::unavailable(e)
            }
        })
    }

    /// Checks before acting: the runtime directory is usable, every pid asked for has an
    /// agent, and without pids at least one agent exists (naming MLX processes without one).
    async fn preflight(&self, pids: &[u32]) -> Result<(), OpError> {
        let monitor = self.monitor.lock().await;
        let agents = monitor.agents().map_err(OpError::unavailable)?;
        let missing: Vec<String> = pids
            .iter()
            .filter(|p| !agents.iter().any(|a| a.pid == **p))
            .map(|p| missing_reason(*p))
            .collect();
        if !missing.is_empty() {
            return Err(OpError::bad_param(Param::Pids, missing.join("\n")));
        }
        if agents.is_empty() {
            let mut text = format!(
                "no MLX process has the headroom agent (looked in {})",
                monitor.runtime_dir().display()
            );
            for f in scan::scan() {
                text += &format!(
                    "\n  {} ({}) runs MLX without the agent: {}",
                    f.pid,
                    terminal_safe(&f.name),
                    terminal_safe(&f.hint)
                );
            }
            text += &format!("\n  attach: {}", scan::GENERIC_HINT);
            return Err(OpError::unavailable(text));
        }
        Ok(())
    }
}

fn missing_reason(pid: u32) -> String {
    use crate::agents::sys::{liveness, Liveness};
    if liveness(pid) == Liveness::Gone {
        return format!("no process has pid {pid}");
    }
    let name = scan::process_name(pid);
    let text = format!(
        "process {pid} ({}) has no headroom agent: {}",
        if name.is_empty() { "?" } else { &name },
        scan::hint_for(pid)
    );
    terminal_safe(&text).into_owned()
}

impl Backend for Local {
    fn snapshot(&self) -> BoxFuture<'_, Result<Arc<Snapshot>, OpError>> {
        Box::pin(async move { Ok(self.take().await) })
    }

    fn latest(&self) -> Option<Arc<Snapshot>> {
        lock(&self.latest).clone()
    }

    fn subscribe(&self) -> broadcast::Receiver<EngineEvent> {
        broadcast::channel(1).1
    }

    fn config(&self) -> LoadedConfig {
        lock(&self.loaded).clone()
    }

    fn save_config(&self, config: Config) -> BoxFuture<'_, Result<(), Vec<ConfigIssue>>> {
        Box::pin(async move {
            let path = self.config_path.clone();
            let to_save = config.clone();
            let saved = tokio::task::spawn_blocking(move || config::save(&path, &to_save))
                .await
                .map_err(|e| {
                    vec![ConfigIssue {
                        key: String::new(),
                        value: String::new(),
                        allowed: "a configuration file that can be written".into(),
                        message: format!("saving failed: {e}"),
                    }]
                })?;
            saved.map_err(|e| e.issues())?;
            lock(&self.loaded).config = config;
            Ok(())
        })
    }

    fn history(&self, q: HistoryQuery) -> BoxFuture<'_, Result<Vec<HistoryPoint>, OpError>> {
        Box::pin(async move {
            let since = q.since_ms.unwrap_or(i64::MIN);
            let until = q.until_ms.unwrap_or(i64::MAX);
            let taken: Vec<HistoryPoint> = lock(&self.taken)
                .iter()
                .filter(|p| (since..=until).contains(&p.t))
                .cloned()
                .collect();
            let stored = match self.reader() {
                Ok(r) => r
                    .query(&q, chrono::Utc::now())
                    .map_err(|e| OpError::unavailable(format!("cannot read history: {e}")))?,
                Err(e) if e.kind == ErrorKind::NotFound && !taken.is_empty() => Vec::new(),
                Err(e) => return Err(e),
            };
            let last = stored.last().map_or(i64::MIN, |p| p.t);
            Ok(stored
                .into_iter()
                .chain(taken.into_iter().filter(|p| p.t > last))
                .collect())
        })
    }

    fn events(&self, q: EventQuery) -> BoxFuture<'_, Result<Vec<Event>, OpError>> {
        Box::pin(async move {
            self.reader()?
                .events(&q)
                .map_err(|e| OpError::unavailable(format!("cannot read the journal: {e}")))
        })
    }

    fn clear_cache(&self, pids: Vec<u32>) -> BoxFuture<'_, Result<Vec<ActionOutcome>, OpError>> {
        Box::pin(async move {
            self.preflight(&pids).await?;
            Ok(self.monitor.lock().await.clear_cache(&pids).await)
        })
    }

    fn set_limit(
        &self,
        kind: LimitKind,
        bytes: u64,
        pids: Vec<u32>,
    ) -> BoxFuture<'_, Result<Vec<ActionOutcome>, OpError>> {
        Box::pin(async move {
            self.preflight(&pids).await?;
            Ok(self
                .monitor
                .lock()
                .await
                .set_limit(kind, bytes, &pids)
                .await)
        })
    }

    fn rule_states(&self) -> Vec<RuleState> {
        Vec::new()
    }

    fn status(&self) -> EngineStatus {
        let loaded = lock(&self.loaded);
        EngineStatus {
            config_error: loaded.error.clone(),
            config_path: self.config_path.display().to_string(),
            storage_error: None,
            storage: StorageStatus {
                path: self.data_dir.join("history.db").display().to_string(),
                ..StorageStatus::default()
            },
            agents: 0,
            samples: *lock(&self.samples),
        }
    }

    fn runtime_dir(&self) -> PathBuf {
        self.monitor.try_lock().map_or_else(
            |_| crate::agents::runtime_dir(),
            |m| m.runtime_dir().to_path_buf(),
        )
    }

    fn shutdown(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}
