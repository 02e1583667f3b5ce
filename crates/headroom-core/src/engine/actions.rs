//! Running actions (by rules or on request) and journaling their results.

use super::Shared;
use crate::agents::{ActionOutcome, LimitKind};
use crate::events::{Event, EventKind, Severity};
use crate::rules::PlannedAction;
use crate::units::format_bytes;

/// Clears MLX caches and journals the bytes freed.
pub(super) async fn clear_cache(
    shared: &Shared,
    rule: Option<&str>,
    pids: &[u32],
) -> Vec<ActionOutcome> {
    let outcomes = shared.actions.clear_cache(pids).await;
    let freed = crate::units::saturating_sum(outcomes.iter().filter_map(|o| o.freed));
    let what = format!("Cleared {} of MLX cache", format_bytes(freed));
    journal(shared, rule, "clear_cache", &what, &outcomes);
    outcomes
}

/// Sets an MLX limit and journals the result.
pub(super) async fn set_limit(
    shared: &Shared,
    rule: Option<&str>,
    kind: LimitKind,
    bytes: u64,
    pids: &[u32],
) -> Vec<ActionOutcome> {
    let outcomes = shared.actions.set_limit(kind, bytes, pids).await;
    let what = format!(
        "Set the MLX {} limit to {}",
        kind.word(),
        format_bytes(bytes)
    );
    journal(shared, rule, kind.op(), &what, &outcomes);
    outcomes
}

/// Runs one action a rule planned. `notify` needs nothing more: the rule's journal entry is
/// the notification (native in the app; journal, stream and `/metrics` when headless).
pub(super) async fn run_planned(shared: &Shared, rule: &str, action: PlannedAction) {
    match action {
        PlannedAction::Notify => {}
        PlannedAction::ClearCache { pids } => {
            clear_cache(shared, Some(rule), &pids).await;
        }
        PlannedAction::SetCacheLimit { bytes, pids } => {
            set_limit(shared, Some(rule), LimitKind::Cache, bytes, &pids).await;
        }
    }
}

fn journal(
    shared: &Shared,
    rule: Option<&str>,
    action: &str,
    what: &str,
    outcomes: &[ActionOutcome],
) {
    let ok = outcomes.iter().filter(|o| o.ok).count();
    let failed = crate::agents::failures(outcomes);
    let mut message = match outcomes.len() {
        0 => format!("{action}: no MLX agent attached; nothing done"),
        _ => format!("{what} in {ok} of {} processes", outcomes.len()),
    };
    if !failed.is_empty() {
        message += &format!("; failed: {}", failed.join(", "));
    }
    if let Some(r) = rule {
        message += &format!(" (rule {r})");
    }
    let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    shared.journal(Event {
        at: shared.clock.now(),
        severity: if failed.is_empty() {
            Severity::Info
        } else {
            Severity::Warning
        },
        kind: EventKind::ActionTaken {
            rule: rule.map(str::to_string),
            action: action.to_string(),
            freed: crate::units::saturating_sum(outcomes.iter().filter_map(|o| o.freed)),
            succeeded: count(ok),
            failed: count(failed.len()),
        },
        message,
    });
}
