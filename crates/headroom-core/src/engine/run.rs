//! The engine's tasks: the sampling loop (owner of rules and configuration) and the MLX poll.

use super::policy::{self, PolicyMsg};
use super::{actions, read, write, Command, EngineEvent, Shared, SnapshotSource};
use crate::agents::{attach_mlx, AgentChange, MlxMonitor, MlxPoll};
use crate::config::{self, Config};
use crate::events::{Event, EventKind, Severity};
use crate::history::PROCESS_RECORD_INTERVAL;
use crate::policies::tracker::PolicyTracker;
use crate::rules::{RuleEngine, RuleOutcome, Transition};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::time::{interval, Interval, MissedTickBehavior};

/// A fixed-schedule ticker that skips missed ticks instead of bursting after a stall.
fn ticker(ms: u64) -> Interval {
    let mut t = interval(Duration::from_millis(ms.max(1)));
    t.set_missed_tick_behavior(MissedTickBehavior::Skip);
    t
}

/// Journals the configuration file's problem, if it has one.
pub(super) fn report_config_error(shared: &Shared) {
    let loaded = read(&shared.config);
    if let Some(error) = loaded.error {
        let message = format!("Configuration not in force, defaults used: {error}");
        shared.journal(Event {
            at: shared.clock.now(),
            severity: Severity::Warning,
            kind: EventKind::ConfigError {
                path: loaded.path.display().to_string(),
                error,
            },
            message,
        });
    }
}

/// Spawns the sampling loop and the MLX task.
pub(super) fn spawn(
    shared: Arc<Shared>,
    source: Box<dyn SnapshotSource>,
    rules: RuleEngine,
    commands: mpsc::Receiver<Command>,
    file_stamp: FileStamp,
    policy_rx: mpsc::UnboundedReceiver<PolicyMsg>,
) {
    let sampling = read(&shared.config).config.sampling;
    let tracker = PolicyTracker::new(read(&shared.config).config.policies);
    let (poll_tx, poll_rx) = watch::channel(Arc::new(MlxPoll::default()));
    let (sampling_tx, sampling_rx) = watch::channel(sampling);
    let mut monitor = MlxMonitor::new(shared.opts.runtime_dir.clone());
    monitor.set_rescan_interval(Duration::from_millis(
        read(&shared.config).config.sampling.mlx_rescan_ms,
    ));
    let mlx = tokio::spawn(mlx_loop(
        shared.clone(),
        monitor,
        poll_tx,
        sampling_rx,
        (tracker, policy_rx),
    ));
    let watcher = tokio::spawn(watch_file(shared.clone(), file_stamp));
    let owner = Owner {
        pressure: read(&shared.config).config.linux_pressure,
        shared,
        source,
        rules,
        poll: poll_rx,
        sampling: sampling_tx,
        storage_ok: true,
        procs_recorded: None,
    };
    tokio::spawn(async move {
        owner.run(commands).await;
        mlx.abort();
        watcher.abort();
    });
}

/// The owner of the sampling loop, the rules and the configuration.
struct Owner {
    shared: Arc<Shared>,
    source: Box<dyn SnapshotSource>,
    rules: RuleEngine,
    poll: watch::Receiver<Arc<MlxPoll>>,
    sampling: watch::Sender<config::Sampling>,
    /// Linux pressure thresholds in force (kept here: read on every sample).
    pressure: config::LinuxPressure,
    storage_ok: bool,
    /// When MLX processes were last recorded for the per-process history.
    procs_recorded: Option<chrono::DateTime<chrono::Utc>>,
}

impl Owner {
    async fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        let mut ms = read(&self.shared.config).config.sampling.interval_ms;
        let mut tick = ticker(ms);
        loop {
            tokio::select! {
                _ = tick.tick() => self.sample_once(),
                cmd = commands.recv() => match cmd {
                    Some(Command::Apply(c, reply)) => {
                        self.apply(*c);
                        let _ = reply.send(());
                        let now_ms = read(&self.shared.config).config.sampling.interval_ms;
                        if now_ms != ms {
                            ms = now_ms;
                            tick = ticker(ms);
                        }
                    }
                    Some(Command::Reload(loaded)) => self.reload(*loaded),
                    Some(Command::Shutdown(reply)) => {
                        let _ = reply.send(());
                        return;
                    }
                    None => return,
                },
            }
        }
    }

    /// One sample: read, merge MLX, re-derive pressure, evaluate, record, broadcast, act.
    fn sample_once(&mut self) {
        let mut snap = self.source.sample();
        self.pressure.apply(&mut snap);
        attach_mlx(&mut snap, &self.poll.borrow());
        let now = self.shared.clock.now();
        let outcomes = self.rules.evaluate(&snap, now);
        write(&self.shared.rule_states, self.rules.states());
        let snap = Arc::new(snap);
        write(&self.shared.latest, Some(snap.clone()));
        self.shared.history.record(&snap);
        self.record_processes(&snap, now);
        self.shared.counters().samples += 1;
        let _ = self.shared.tx.send(EngineEvent::Snapshot(snap));
        for outcome in outcomes {
            self.handle_outcome(outcome, now);
        }
        self.watch_storage();
    }

    fn handle_outcome(&self, outcome: RuleOutcome, now: chrono::DateTime<chrono::Utc>) {
        let mut event = outcome.event(now);
        let notifies = outcome
            .actions
            .iter()
            .any(|a| matches!(a, crate::rules::PlannedAction::Notify));
        if outcome.transition == Transition::Fired && !notifies {
            // Rules without `notify` are journaled quietly (no native notification).
            event.severity = Severity::Info;
        }
        self.shared.journal(event);
        for action in outcome.actions {
            let shared = self.shared.clone();
            let rule = outcome.rule.clone();
            tokio::spawn(async move { actions::run_planned(&shared, &rule, action).await });
        }
    }

    /// Records each attached MLX process's reading every [`PROCESS_RECORD_INTERVAL`] (the
    /// doctor's drift check reads them).
    fn record_processes(
        &mut self,
        snap: &crate::snapshot::Snapshot,
        now: chrono::DateTime<chrono::Utc>,
    ) {
        let due = self.procs_recorded.map_or(true, |t| {
            (now - t).to_std().unwrap_or_default() >= PROCESS_RECORD_INTERVAL
        });
        if due && snap.mlx.iter().any(|p| p.attached) {
            self.shared.history.record_processes(snap);
            self.procs_recorded = Some(now);
        }
    }

    /// Broadcasts history storage failures and recoveries (the history journals them).
    fn watch_storage(&mut self) {
        let status = self.shared.history.status();
        if status.ok == self.storage_ok {
            return;
        }
        self.storage_ok = status.ok;
        let at = self.shared.clock.now();
        let event = match status.error {
            Some(error) if !status.ok => Event {
                at,
                severity: Severity::Warning,
                message: format!("History storage failed, kept in memory meanwhile: {error}"),
                kind: EventKind::StorageError { error },
            },
            _ => Event {
                at,
                severity: Severity::Info,
                kind: EventKind::StorageRecovered,
                message: "History storage works again".into(),
            },
        };
        self.shared.broadcast_event(event);
    }

    /// Takes in a file edited by hand: its configuration, or the defaults and its problem.
    fn reload(&mut self, loaded: config::LoadedConfig) {
        let current = read(&self.shared.config);
        if loaded.config == current.config && loaded.error == current.error {
            return; // our own save, or an edit that changed nothing
        }
        let error = loaded.error.clone();
        self.apply(loaded.config.clone());
        write(&self.shared.config, loaded);
        if error.is_some() {
            report_config_error(&self.shared);
        }
    }

    /// Applies a configuration the handle has validated and saved.
    fn apply(&mut self, c: Config) {
        self.rules.set_rules(c.rules.clone());
        self.pressure = c.linux_pressure.clone();
        write(&self.shared.rule_states, self.rules.states());
        let _ = self.sampling.send(c.sampling.clone());
        policy::send(&self.shared, PolicyMsg::Policies(c.policies.clone()));
        let path = self.shared.opts.config_path.clone();
        write(
            &self.shared.config,
            config::LoadedConfig {
                config: c,
                path,
                error: None,
                issues: Vec::new(),
                suggested_policy: None,
            },
        );
    }
}

/// What tells a changed file: modification time and length.
pub(super) type FileStamp = Option<(Option<std::time::SystemTime>, u64)>;

/// The stamp of a file's metadata.
pub(super) fn stamp(m: std::io::Result<std::fs::Metadata>) -> FileStamp {
    m.ok().map(|m| (m.modified().ok(), m.len()))
}

/// How often the configuration file's modification time is checked.
const FILE_CHECK: Duration = Duration::from_secs(2);

/// Reloads the configuration file when it changes on disk (edited by hand): a fixed file is
/// taken in, a broken one puts the defaults in force and is reported, never rewritten.
async fn watch_file(shared: Arc<Shared>, mut last: FileStamp) {
    let path = shared.opts.config_path.clone();
    let mut tick = ticker(FILE_CHECK.as_millis() as u64);
    loop {
        tick.tick().await;
        let now = stamp(tokio::fs::metadata(&path).await);
        if now == last {
            continue;
        }
        last = now;
        let p = path.clone();
        let Ok(loaded) = tokio::task::spawn_blocking(move || config::load(&p)).await else {
            continue;
        };
        if shared
            .commands
            .send(Command::Reload(Box::new(loaded)))
            .await
            .is_err()
        {
            return;
        }
    }
}

/// Polls MLX agents at `sampling.mlx_poll_ms`, publishes each poll, journals agents
/// attaching and leaving, and runs MLX policies (applications and idle trims).
async fn mlx_loop(
    shared: Arc<Shared>,
    mut monitor: MlxMonitor,
    poll_tx: watch::Sender<Arc<MlxPoll>>,
    mut sampling: watch::Receiver<config::Sampling>,
    (mut tracker, mut policy_rx): (PolicyTracker, mpsc::UnboundedReceiver<PolicyMsg>),
) {
    let mut ms = sampling.borrow().mlx_poll_ms;
    let mut tick = ticker(ms);
    let started = std::time::Instant::now();
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let mut poll = monitor.poll().await;
                journal_changes(&shared, &poll.changes);
                let at_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
                for plan in tracker.observe(&policy::observed(&poll), at_ms) {
                    policy::spawn(&shared, plan);
                }
                policy::annotate(&mut poll, &tracker);
                shared.counters().agents = attached(&poll);
                let _ = poll_tx.send(Arc::new(poll));
            }
            Some(msg) = policy_rx.recv() => policy::receive(&mut tracker, msg),
            changed = sampling.changed() => {
                if changed.is_err() {
                    return;
                }
                let s = sampling.borrow_and_update().clone();
                monitor.set_rescan_interval(Duration::from_millis(s.mlx_rescan_ms));
                if s.mlx_poll_ms != ms {
                    ms = s.mlx_poll_ms;
                    tick = ticker(ms);
                }
            }
        }
    }
}

fn attached(poll: &MlxPoll) -> u32 {
    let n = poll.processes.iter().filter(|p| p.attached).count();
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn journal_changes(shared: &Shared, changes: &[AgentChange]) {
    for change in changes {
        let at = shared.clock.now();
        let event = match change {
            AgentChange::Attached { pid, name } => Event {
                at,
                severity: Severity::Info,
                message: format!("MLX agent attached: {name} (pid {pid})"),
                kind: EventKind::AgentAttached {
                    pid: *pid,
                    name: name.clone(),
                },
            },
            AgentChange::Left { pid, name } => Event {
                at,
                severity: Severity::Info,
                message: format!("MLX agent left: {name} (pid {pid})"),
                kind: EventKind::AgentLeft {
                    pid: *pid,
                    name: name.clone(),
                },
            },
        };
        shared.journal(event);
    }
}
