//! [`MlxMonitor`]: the one owner of agent connections and of the process scan.
//!
//! Connections: the monitor keeps one connection per agent for `stats` and reuses it poll
//! after poll (the agent serves each connection on its own thread, so reconnecting every
//! second would start a Python thread and re-check credentials every second in the MLX
//! process). A connection that failed or timed out is dropped and opened again on the next
//! poll. Actions open their own short-lived connection: they are rare, may block for seconds
//! inside MLX, and must never hold up the next `stats`.
//!
//! The process scan (and the footprints) run on the blocking pool in the background, at the
//! rescan pace; a poll never waits for a scan except the very first one. Footprints are
//! therefore up to one rescan interval old (a Linux PSS read walks the page tables of the
//! process: too slow for a large model at the sampling pace), while the allocator numbers of
//! attached processes are fresh on every poll. Scanned processes that have exited since the
//! scan are dropped on every poll (`kill(pid, 0)`).

use super::client::AgentConn;
use super::discovery::{self, AgentSocket};
use super::protocol::{codes, decode_result, ActionResult, Stats};
use super::scan::{self, Found};
use super::sys::{liveness, Liveness};
use super::{ActionOutcome, AgentChange, AgentError, LimitKind, MlxPoll};
use crate::snapshot::MlxProcess;
use crate::text::terminal_safe;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::timeout;

/// Default time between process scans.
pub const DEFAULT_RESCAN: Duration = Duration::from_secs(5);
/// Default hard timeout of one `stats` call (connecting included).
pub const DEFAULT_STATS_TIMEOUT: Duration = Duration::from_millis(250);
/// Default hard timeout of one action: `clear_cache` waits for queued MLX work, and a
/// cooperative agent answers `timeout` itself after its 30 s default, which this outlasts
/// (docs/PROTOCOL.md §8).
pub const DEFAULT_ACTION_TIMEOUT: Duration = Duration::from_secs(35);

/// How long the first poll waits for the first process scan (later polls never wait).
pub const FIRST_SCAN_WAIT: Duration = Duration::from_secs(2);

/// The largest byte amount (active, cache, peak, freed, working set) believed from an agent:
/// 1 PiB (2^50 bytes), over a thousand times the memory of the largest Mac (512 GB) or any
/// machine Headroom runs on. A larger value is a broken or hostile agent: it is dropped
/// (shown as unknown) and reported, never added to a total.
pub const MAX_AGENT_BYTES: u64 = 1 << 50;

/// The one-line hint shown for MLX processes without an agent (when no better one is known).
pub const ATTACH_HINT: &str = scan::GENERIC_HINT;

#[derive(Debug)]
struct Slot {
    path: PathBuf,
    name: String,
    conn: Option<AgentConn>,
    announced: bool,
}

/// What a background scan produced.
#[derive(Debug, Default)]
struct ScanResult {
    mlx: Vec<Found>,
    footprints: HashMap<u32, u64>,
}

/// Watches MLX processes: polls agents, rescans processes, runs actions. `Send`; owned by one
/// task.
#[derive(Debug)]
pub struct MlxMonitor {
    runtime_dir: PathBuf,
    rescan_interval: Duration,
    stats_timeout: Duration,
    action_timeout: Duration,
    slots: BTreeMap<u32, Slot>,
    scan: Option<ScanResult>,
    scan_started: Option<Instant>,
    scan_task: Option<JoinHandle<ScanResult>>,
}

type StatsAnswer = (u32, Option<AgentConn>, Result<Stats, AgentError>);

impl MlxMonitor {
    /// A monitor of the agents in `runtime_dir`.
    pub fn new(runtime_dir: PathBuf) -> Self {
        Self {
            runtime_dir,
            rescan_interval: DEFAULT_RESCAN,
            stats_timeout: DEFAULT_STATS_TIMEOUT,
            action_timeout: DEFAULT_ACTION_TIMEOUT,
            slots: BTreeMap::new(),
            scan: None,
            scan_started: None,
            scan_task: None,
        }
    }

    /// A monitor of the agents in [`super::runtime_dir`].
    pub fn from_env() -> Self {
        Self::new(super::runtime_dir())
    }

    /// The runtime directory watched.
    pub fn runtime_dir(&self) -> &std::path::Path {
        &self.runtime_dir
    }

    /// Time between process scans (default 5 s).
    pub fn set_rescan_interval(&mut self, d: Duration) {
        self.rescan_interval = d;
    }

    /// Hard timeout of one `stats` call, connecting included (default 250 ms).
    pub fn set_stats_timeout(&mut self, d: Duration) {
        self.stats_timeout = d;
    }

    /// Hard timeout of one action (default 35 s).
    pub fn set_action_timeout(&mut self, d: Duration) {
        self.action_timeout = d;
    }

    /// The agent sockets in the runtime directory now (stale ones removed).
    pub fn agents(&self) -> Result<Vec<AgentSocket>, String> {
        discovery::list_agents(&self.runtime_dir)
    }

    /// Asks every agent for `stats` concurrently (each within the stats timeout), rescans
    /// processes when due, and reports agents appearing and leaving.
    pub async fn poll(&mut self) -> MlxPoll {
        let mut poll = MlxPoll::default();
        self.refresh_slots(&mut poll);
        self.start_scan_if_due();
        let answers = self.ask_stats().await;
        self.collect_scan().await;
        self.assemble(answers, &mut poll);
        poll
    }

    fn refresh_slots(&mut self, poll: &mut MlxPoll) {
        let sockets = match discovery::list_agents(&self.runtime_dir) {
            Ok(s) => s,
            Err(e) => {
                poll.problems.push(e);
                Vec::new()
            }
        };
        let live: HashMap<u32, PathBuf> = sockets.into_iter().map(|a| (a.pid, a.path)).collect();
        let gone: Vec<u32> = self
            .slots
            .keys()
            .filter(|pid| !live.contains_key(pid))
            .copied()
            .collect();
        for pid in gone {
            if let Some(slot) = self.slots.remove(&pid) {
                if slot.announced {
                    poll.changes.push(AgentChange::Left {
                        pid,
                        name: slot.name,
                    });
                }
            }
        }
        for (pid, path) in live {
            let slot = self.slots.entry(pid).or_insert_with(|| Slot {
                path: path.clone(),
                name: String::new(),
                conn: None,
                announced: false,
            });
            if slot.path != path {
                slot.path = path;
                slot.conn = None;
            }
        }
    }

    fn start_scan_if_due(&mut self) {
        let due = self
            .scan_started
            .map_or(true, |t| t.elapsed() >= self.rescan_interval);
        if !due || self.scan_task.is_some() {
            return;
        }
        let agent_pids: Vec<u32> = self.slots.keys().copied().collect();
        self.scan_started = Some(Instant::now());
        self.scan_task = Some(tokio::task::spawn_blocking(move || run_scan(&agent_pids)));
    }

    /// Takes a finished scan; waits (at most [`FIRST_SCAN_WAIT`]) only when there has never
    /// been one (the first poll).
    async fn collect_scan(&mut self) {
        let Some(mut task) = self.scan_task.take() else {
            return;
        };
        if self.scan.is_some() && !task.is_finished() {
            self.scan_task = Some(task);
            return;
        }
        match timeout(FIRST_SCAN_WAIT, &mut task).await {
            Ok(Ok(result)) => self.scan = Some(result),
            Ok(Err(_)) => self.scan = Some(ScanResult::default()),
            Err(_) => self.scan_task = Some(task),
        }
    }

    async fn ask_stats(&mut self) -> Vec<StatsAnswer> {
        let mut set = JoinSet::new();
        let limit = self.stats_timeout;
        for (&pid, slot) in &mut self.slots {
            let conn = slot.conn.take();
            let path = slot.path.clone();
            set.spawn(async move {
                match timeout(limit, stats_once(conn, path)).await {
                    Ok((conn, result)) => (pid, conn, result),
                    Err(_) => (pid, None, Err(timeout_error("stats", limit))),
                }
            });
        }
        let mut answers = Vec::with_capacity(set.len());
        while let Some(joined) = set.join_next().await {
            if let Ok(answer) = joined {
                answers.push(answer);
            }
        }
        answers
    }

    fn assemble(&mut self, answers: Vec<StatsAnswer>, poll: &mut MlxPoll) {
        let mut by_pid: BTreeMap<u32, MlxProcess> = BTreeMap::new();
        for (pid, conn, result) in answers {
            let Some(slot) = self.slots.get_mut(&pid) else {
                continue;
            };
            slot.conn = conn;
            let entry = match result {
                Ok(stats) => attached_entry(pid, slot, &stats, poll),
                // Another user's listener or one whose pid is not the pid in its name: not
                // this process's agent, so nothing about the pid is shown; the refusal is.
                Err(e) if e.code == codes::PERMISSION_DENIED => {
                    poll.problems.push(
                        terminal_safe(&format!("agent socket refused: {}", e.message)).into_owned(),
                    );
                    continue;
                }
                Err(e) => unanswered_entry(pid, slot, &e),
            };
            by_pid.insert(pid, entry);
        }
        let scan = self.scan.as_ref();
        let scanned = scan.map(|s| s.mlx.as_slice()).unwrap_or_default();
        // The scan may be seconds old: drop processes that have exited since.
        for found in scanned.iter().filter(|f| liveness(f.pid) != Liveness::Gone) {
            by_pid.entry(found.pid).or_insert_with(|| MlxProcess {
                pid: found.pid,
                name: terminal_safe(&found.name).into_owned(),
                hint: Some(terminal_safe(&found.hint).into_owned()),
                ..MlxProcess::default()
            });
        }
        for (pid, p) in &mut by_pid {
            p.footprint = scan.and_then(|s| s.footprints.get(pid).copied());
            p.outside_mlx = outside_mlx(p);
        }
        poll.processes = by_pid.into_values().collect();
    }

    /// Clears the MLX cache of `pids` (empty: every agent), concurrently.
    pub async fn clear_cache(&self, pids: &[u32]) -> Vec<ActionOutcome> {
        self.act("clear_cache", None, pids).await
    }

    /// Sets an MLX limit to `bytes` in `pids` (empty: every agent), concurrently.
    pub async fn set_limit(&self, kind: LimitKind, bytes: u64, pids: &[u32]) -> Vec<ActionOutcome> {
        self.act(kind.op(), Some(("bytes", bytes)), pids).await
    }

    /// Resets MLX's peak-memory counter in `pids` (empty: every agent).
    pub async fn reset_peak(&self, pids: &[u32]) -> Vec<ActionOutcome> {
        self.act("reset_peak", None, pids).await
    }

    async fn act(
        &self,
        op: &'static str,
        arg: Option<(&'static str, u64)>,
        pids: &[u32],
    ) -> Vec<ActionOutcome> {
        let sockets = discovery::list_agents(&self.runtime_dir).unwrap_or_default();
        let (targets, mut outcomes) = self.targets(&sockets, pids);
        let mut set = JoinSet::new();
        let limit = self.action_timeout;
        for (pid, name, path) in targets {
            set.spawn(async move {
                let result = match timeout(limit, action_once(path, op, arg)).await {
                    Ok(r) => r,
                    Err(_) => Err(timeout_error(op, limit)),
                };
                outcome(pid, name, result)
            });
        }
        while let Some(joined) = set.join_next().await {
            if let Ok(o) = joined {
                outcomes.push(o);
            }
        }
        outcomes.sort_by_key(|o| o.pid);
        outcomes
    }

    /// The sockets to act on, and failed outcomes for pids without one.
    fn targets(
        &self,
        sockets: &[AgentSocket],
        pids: &[u32],
    ) -> (Vec<(u32, String, PathBuf)>, Vec<ActionOutcome>) {
        let by_pid: HashMap<u32, &PathBuf> = sockets.iter().map(|a| (a.pid, &a.path)).collect();
        let wanted: Vec<u32> = if pids.is_empty() {
            sockets.iter().map(|a| a.pid).collect()
        } else {
            let mut v = pids.to_vec();
            v.sort_unstable();
            v.dedup();
            v
        };
        let mut targets = Vec::new();
        let mut failed = Vec::new();
        for pid in wanted {
            let name = self.name_of(pid);
            match by_pid.get(&pid) {
                Some(path) => targets.push((pid, name, (*path).clone())),
                None => failed.push(outcome(pid, name, Err(missing_agent_error(pid)))),
            }
        }
        (targets, failed)
    }

    fn name_of(&self, pid: u32) -> String {
        self.slots
            .get(&pid)
            .map(|s| s.name.clone())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| safe_process_name(pid))
    }
}

fn run_scan(agent_pids: &[u32]) -> ScanResult {
    let mlx = scan::scan();
    let mut footprints = HashMap::new();
    for pid in mlx.iter().map(|f| f.pid).chain(agent_pids.iter().copied()) {
        if let Some(f) = scan::footprint(pid) {
            footprints.insert(pid, f);
        }
    }
    ScanResult { mlx, footprints }
}

async fn stats_once(
    conn: Option<AgentConn>,
    path: PathBuf,
) -> (Option<AgentConn>, Result<Stats, AgentError>) {
    let mut conn = match conn {
        Some(c) => c,
        None => match AgentConn::connect(&path).await {
            Ok(c) => c,
            Err(e) => {
                if e.code == codes::REFUSED {
                    discovery::remove_if_refused_and_old(&path);
                }
                return (None, Err(e));
            }
        },
    };
    match conn.call("stats", None).await {
        Ok(v) => match decode_result::<Stats>("stats", v) {
            Ok(s) => (Some(conn), Ok(s)),
            Err(e) => (None, Err(e)),
        },
        // An agent's own error leaves the connection usable; anything else drops it.
        Err(e) if is_agent_answer(&e) => (Some(conn), Err(e)),
        Err(e) => (None, Err(e)),
    }
}

fn is_agent_answer(e: &AgentError) -> bool {
    ![
        codes::IO,
        codes::CLOSED,
        codes::PROTOCOL,
        codes::LINE_TOO_LONG,
        codes::TIMEOUT,
        codes::PERMISSION_DENIED,
    ]
    .contains(&e.code.as_str())
}

async fn action_once(
    path: PathBuf,
    op: &str,
    arg: Option<(&str, u64)>,
) -> Result<ActionResult, AgentError> {
    let mut conn = AgentConn::connect(&path).await?;
    decode_result(op, conn.call(op, arg).await?)
}

/// The name of `pid` as the system has it, made one terminal-safe line (a process can set
/// its own name).
fn safe_process_name(pid: u32) -> String {
    terminal_safe(&scan::process_name(pid)).into_owned()
}

/// `value` when it is at most [`MAX_AGENT_BYTES`]; otherwise `None`, and a problem naming the
/// agent, the field and the value.
fn bounded(pid: u32, field: &str, value: Option<u64>, problems: &mut Vec<String>) -> Option<u64> {
    match value {
        Some(v) if v > MAX_AGENT_BYTES => {
            problems.push(format!(
                "the agent of pid {pid} reported {field} = {v} bytes, above the {MAX_AGENT_BYTES}-byte (1 PiB) ceiling; ignored"
            ));
            None
        }
        other => other,
    }
}

fn attached_entry(pid: u32, slot: &mut Slot, stats: &Stats, poll: &mut MlxPoll) -> MlxProcess {
    if let Some(name) = stats.name.as_ref().filter(|n| !n.is_empty()) {
        slot.name = terminal_safe(name).into_owned();
    }
    if !slot.announced {
        slot.announced = true;
        poll.changes.push(AgentChange::Attached {
            pid,
            name: slot.name.clone(),
        });
    }
    let problems = &mut poll.problems;
    let active = bounded(pid, "active", stats.active, problems);
    let cache = bounded(pid, "cache", stats.cache, problems);
    let peak = bounded(pid, "peak", stats.peak, problems);
    let working_set = bounded(
        pid,
        "max_recommended_working_set_size",
        stats.recommended_working_set(),
        problems,
    );
    poll.facts.insert(
        pid,
        super::AgentFacts {
            cmdline: stats.cmdline.clone(),
            python_prefix: stats.prefix.clone(),
            physical_memory: stats.physical_memory,
            set_by_process: stats
                .set_by_process
                .iter()
                .filter_map(|w| LimitKind::from_word(w))
                .collect(),
            cpu_secs: stats.cpu_time,
        },
    );
    if let Some(ws) = working_set {
        poll.recommended_working_set = Some(poll.recommended_working_set.map_or(ws, |w| w.max(ws)));
    }
    MlxProcess {
        pid,
        name: slot.name.clone(),
        attached: true,
        footprint: None,
        active,
        cache,
        peak,
        cache_limit: stats.cache_limit,
        memory_limit: stats.memory_limit,
        wired_limit: stats.wired_limit,
        working_set,
        restart_for_wired_limit: false,
        backend: stats
            .backend
            .as_deref()
            .map(|b| terminal_safe(b).into_owned()),
        mlx_version: stats
            .mlx_version
            .as_deref()
            .map(|v| terminal_safe(v).into_owned()),
        hint: None,
        outside_mlx: None,
        policy: None,
    }
}

/// Footprint − (active + cache) of an attached process with a known footprint (0 when MLX
/// counts more than the footprint).
pub fn outside_mlx(p: &MlxProcess) -> Option<u64> {
    let counted = p.active?.saturating_add(p.cache?);
    Some(p.footprint?.saturating_sub(counted))
}

fn unanswered_entry(pid: u32, slot: &mut Slot, e: &AgentError) -> MlxProcess {
    if slot.name.is_empty() {
        slot.name = safe_process_name(pid);
    }
    MlxProcess {
        pid,
        name: slot.name.clone(),
        hint: Some(terminal_safe(&format!("its agent did not answer: {e}")).into_owned()),
        ..MlxProcess::default()
    }
}

fn outcome(pid: u32, name: String, result: Result<ActionResult, AgentError>) -> ActionOutcome {
    match result {
        Ok(r) => ActionOutcome {
            pid,
            name,
            ok: true,
            freed: r.freed.filter(|&f| f <= MAX_AGENT_BYTES),
            previous: r.previous,
            current: r.current,
            error: None,
        },
        Err(e) => ActionOutcome {
            pid,
            name,
            ok: false,
            freed: None,
            previous: None,
            current: None,
            error: Some(AgentError {
                message: terminal_safe(&e.message).into_owned(),
                code: terminal_safe(&e.code).into_owned(),
            }),
        },
    }
}

fn timeout_error(op: &str, limit: Duration) -> AgentError {
    AgentError {
        code: codes::TIMEOUT.into(),
        message: format!("no answer to `{op}` within {} ms", limit.as_millis()),
    }
}

fn missing_agent_error(pid: u32) -> AgentError {
    if liveness(pid) == Liveness::Gone {
        return AgentError {
            code: codes::NO_SUCH_PROCESS.into(),
            message: format!("no process has pid {pid}"),
        };
    }
    AgentError {
        code: codes::NOT_ATTACHED.into(),
        message: format!("process {pid} has no headroom agent; {ATTACH_HINT}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monitor_is_send() {
        fn assert_send<T: Send>() {}
        assert_send::<MlxMonitor>();
    }
}
