//! MLX policies in the engine: the MLX task's [`PolicyTracker`] is fed every poll; the
//! applications and idle trims it plans run in spawned tasks (never on the sampling path, and
//! never holding up the next poll), are journaled, and report back through a channel the MLX
//! task reads between polls (so a poll never sees a half-recorded result).

use super::Shared;
use crate::agents::{ActionOutcome, LimitKind, MlxPoll};
use crate::events::{Event, EventKind, LimitChange, Severity};
use crate::policies::tracker::{LimitResult, Observed, PolicyPlan, PolicyTracker};
use crate::policies::{Policies, ProcessFacts};
use crate::units::format_bytes;
use std::sync::Arc;

/// What reaches the MLX task's tracker between polls.
#[derive(Debug)]
pub(super) enum PolicyMsg {
    /// The configuration's policies (sent when a configuration is applied).
    Policies(Policies),
    /// An application finished.
    Applied(u32, Vec<LimitResult>),
    /// An idle trim finished: bytes freed (none: it failed), at (ms since the Unix epoch).
    Trimmed(u32, Option<u64>, i64),
    /// A limit was set by hand through the engine.
    ByHand(u32, LimitKind, u64),
}

/// Sends to the MLX task; an engine that has stopped drops it.
pub(super) fn send(shared: &Shared, msg: PolicyMsg) {
    let _ = shared.policy_tx.send(msg);
}

/// Takes one message in.
pub(super) fn receive(tracker: &mut PolicyTracker, msg: PolicyMsg) {
    match msg {
        PolicyMsg::Policies(p) => tracker.set_policies(p),
        PolicyMsg::Applied(pid, results) => tracker.applied(pid, &results),
        PolicyMsg::Trimmed(pid, freed, at) => tracker.trimmed(pid, freed, at),
        PolicyMsg::ByHand(pid, kind, bytes) => tracker.set_by_hand(pid, kind, bytes),
    }
}

/// What the tracker sees of a poll: every process with an agent (answering or not).
pub fn observed(poll: &MlxPoll) -> Vec<Observed> {
    poll.processes
        .iter()
        .filter(|p| p.attached || poll.facts.contains_key(&p.pid) || is_silent_agent(p))
        .map(|p| {
            let facts = poll.facts.get(&p.pid).cloned().unwrap_or_default();
            Observed {
                pid: p.pid,
                facts: ProcessFacts {
                    name: p.name.clone(),
                    cmdline: facts.cmdline,
                    python_prefix: facts.python_prefix,
                },
                physical: facts.physical_memory,
                active: p.active,
                cache: p.cache,
                limits: [p.cache_limit, p.memory_limit, p.wired_limit],
                set_by_process: facts.set_by_process,
                cpu_secs: facts.cpu_secs,
                answered: p.attached,
            }
        })
        .collect()
}

/// A process whose agent exists but did not answer this poll (see the monitor's entries).
fn is_silent_agent(p: &crate::snapshot::MlxProcess) -> bool {
    p.hint
        .as_deref()
        .is_some_and(|h| h.starts_with("its agent did not answer"))
}

/// Puts each process's policy state into the poll (shown in snapshots).
pub fn annotate(poll: &mut MlxPoll, tracker: &PolicyTracker) {
    for p in &mut poll.processes {
        p.policy = tracker.status(p.pid);
    }
}

/// Runs one plan in a spawned task.
pub(super) fn spawn(shared: &Arc<Shared>, plan: PolicyPlan) {
    let shared = shared.clone();
    tokio::spawn(async move {
        match plan {
            PolicyPlan::Apply {
                pid,
                name,
                policy,
                limits,
            } => apply(&shared, pid, &name, &policy, &limits).await,
            PolicyPlan::Trim { pid, name, policy } => trim(&shared, pid, &name, &policy).await,
        }
    });
}

async fn apply(shared: &Shared, pid: u32, name: &str, policy: &str, limits: &[(LimitKind, u64)]) {
    let mut results = Vec::new();
    let mut changes = Vec::new();
    for &(kind, bytes) in limits {
        let outcome = shared.actions.set_limit(kind, bytes, &[pid]).await;
        let (result, change) = limit_result(kind, bytes, outcome.first());
        results.push(result);
        changes.push(change);
    }
    send(shared, PolicyMsg::Applied(pid, results));
    shared.journal(applied_event(shared, policy, pid, name, changes));
}

fn limit_result(
    kind: LimitKind,
    wanted: u64,
    o: Option<&ActionOutcome>,
) -> (LimitResult, LimitChange) {
    let error = match o {
        None => Some(("no_answer".to_string(), "no outcome".to_string())),
        Some(o) if o.ok => None,
        Some(o) => Some(o.error.as_ref().map_or_else(
            || ("unknown".to_string(), "failed".to_string()),
            |e| (e.code.clone(), e.message.clone()),
        )),
    };
    let current = o.filter(|o| o.ok).and_then(|o| o.current);
    let change = LimitChange {
        limit: kind.word().into(),
        wanted,
        previous: o.and_then(|o| o.previous),
        current,
        error: error.as_ref().map(|(_, m)| m.clone()),
    };
    (
        LimitResult {
            limit: kind,
            current,
            error,
        },
        change,
    )
}

fn applied_event(
    shared: &Shared,
    policy: &str,
    pid: u32,
    name: &str,
    changes: Vec<LimitChange>,
) -> Event {
    let shown = |v: Option<u64>| v.map_or_else(|| "unknown".into(), format_bytes);
    let parts: Vec<String> = changes
        .iter()
        .map(|c| match &c.error {
            None => format!(
                "{} limit {} -> {}",
                c.limit,
                shown(c.previous),
                shown(c.current)
            ),
            Some(e) => format!("{} limit {} not set: {e}", c.limit, format_bytes(c.wanted)),
        })
        .collect();
    let refused = changes.iter().any(|c| c.error.is_some());
    Event {
        at: shared.clock.now(),
        severity: if refused {
            Severity::Warning
        } else {
            Severity::Info
        },
        message: format!(
            "Policy {policy} applied to {name} (pid {pid}): {}",
            parts.join("; ")
        ),
        kind: EventKind::PolicyApplied {
            policy: policy.into(),
            pid,
            name: name.into(),
            changes,
        },
    }
}

async fn trim(shared: &Shared, pid: u32, name: &str, policy: &str) {
    let outcomes = shared.actions.clear_cache(&[pid]).await;
    let o = outcomes.first();
    let freed = o.filter(|o| o.ok).map(|o| o.freed.unwrap_or(0));
    let at = shared.clock.now();
    send(
        shared,
        PolicyMsg::Trimmed(pid, freed, at.timestamp_millis()),
    );
    let event = match freed {
        Some(freed) => Event {
            at,
            severity: Severity::Info,
            message: format!(
                "Idle trim (policy {policy}): cleared {} of MLX cache in {name} (pid {pid})",
                format_bytes(freed)
            ),
            kind: EventKind::IdleTrimmed {
                policy: policy.into(),
                pid,
                name: name.into(),
                freed,
            },
        },
        None => {
            let why = o
                .and_then(|o| o.error.as_ref())
                .map_or_else(|| "no answer".into(), ToString::to_string);
            Event {
                at,
                severity: Severity::Warning,
                message: format!("Idle trim (policy {policy}) of {name} (pid {pid}) failed: {why}"),
                kind: EventKind::IdleTrimmed {
                    policy: policy.into(),
                    pid,
                    name: name.into(),
                    freed: 0,
                },
            }
        }
    };
    shared.journal(event);
}

/// Tells the tracker about limits set by hand (through the engine) that took effect.
pub(super) fn note_by_hand(shared: &Shared, kind: LimitKind, outcomes: &[ActionOutcome]) {
    for o in outcomes.iter().filter(|o| o.ok) {
        if let Some(v) = o.current {
            send(shared, PolicyMsg::ByHand(o.pid, kind, v));
        }
    }
}
