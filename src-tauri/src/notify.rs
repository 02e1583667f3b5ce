//! Which journal events become native notifications, and their text (pure, unit-tested).
//!
//! The engine emits a rule's `rule_fired` once per breach (it re-arms only after recovery),
//! and the action the rule triggered follows as `action_taken`. The [`Composer`] turns that
//! pair into one notification whose text carries the action's result ("… Cleared 2.1 GB of
//! MLX cache in 2 processes"), waiting at most [`PAIR_WINDOW`] for the action. It never
//! notifies the same event twice. Rule-less actions (a person clicked) are not notified
//! here: whoever asked shows the result.

use headroom_core::events::{Event, EventKind, Severity};
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// How long a fired rule waits for its action's result before it is notified alone.
pub const PAIR_WINDOW: Duration = Duration::from_secs(5);

/// How many recent events are remembered to drop duplicates.
const SEEN: usize = 32;

/// A notification to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// The headline.
    pub title: String,
    /// The text.
    pub body: String,
}

/// Turns journal events into notifications.
#[derive(Debug, Default)]
pub struct Composer {
    pending: Option<(Event, Instant)>,
    seen: VecDeque<String>,
}

impl Composer {
    /// Handles one journal event received at `now`; returns what to show now.
    pub fn on_event(&mut self, event: &Event, now: Instant) -> Vec<Notification> {
        if self.is_duplicate(event) {
            return Vec::new();
        }
        let mut out = self.on_tick(now);
        match &event.kind {
            EventKind::RuleFired { .. } if event.severity >= Severity::Warning => {
                out.extend(self.pending.take().map(|(e, _)| alone(&e)));
                self.pending = Some((event.clone(), now));
            }
            EventKind::ActionTaken {
                rule: Some(rule), ..
            } => out.push(self.with_pending_rule(rule, event)),
            EventKind::ActionTaken { rule: None, .. } => {}
            EventKind::RuleFired { .. } | EventKind::RuleResolved { .. } => {}
            _ if event.severity >= Severity::Warning => out.push(alone(event)),
            _ => {}
        }
        out
    }

    /// Flushes a fired rule whose action did not arrive within [`PAIR_WINDOW`].
    pub fn on_tick(&mut self, now: Instant) -> Vec<Notification> {
        match &self.pending {
            Some((_, since)) if now.duration_since(*since) >= PAIR_WINDOW => self
                .pending
                .take()
                .map(|(e, _)| alone(&e))
                .into_iter()
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The action's notification, merged with the pending fired rule when it is `rule`'s.
    fn with_pending_rule(&mut self, rule: &str, action: &Event) -> Notification {
        let matches = matches!(
            &self.pending,
            Some((Event { kind: EventKind::RuleFired { rule: r, .. }, .. }, _)) if r == rule
        );
        if !matches {
            return alone(action);
        }
        match self.pending.take() {
            Some((fired, _)) => Notification {
                title: title(fired.severity.max(action.severity)),
                body: format!("{}\n{}", fired.message, action.message),
            },
            None => alone(action),
        }
    }

    fn is_duplicate(&mut self, event: &Event) -> bool {
        let key = format!(
            "{}|{}|{:?}",
            event.at.timestamp_micros(),
            event.message,
            event.kind
        );
        if self.seen.contains(&key) {
            return true;
        }
        if self.seen.len() == SEEN {
            self.seen.pop_front();
        }
        self.seen.push_back(key);
        false
    }
}

fn title(severity: Severity) -> String {
    match severity {
        Severity::Critical => "Headroom — critical".to_owned(),
        Severity::Warning => "Headroom — warning".to_owned(),
        Severity::Info => "Headroom".to_owned(),
    }
}

fn alone(event: &Event) -> Notification {
    Notification {
        title: title(event.severity),
        body: event.message.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fired(rule: &str, severity: Severity) -> Event {
        let kind = EventKind::RuleFired {
            rule: rule.into(),
            metric: "mlx_cache".into(),
            value: 2.0,
            threshold: 1.0,
            pid: None,
        };
        Event::now(severity, kind, format!("MLX cache above 512 MB ({rule})"))
    }

    fn action(rule: Option<&str>, severity: Severity) -> Event {
        let kind = EventKind::ActionTaken {
            rule: rule.map(Into::into),
            action: "clear_cache".into(),
            freed: 2_254_857_830,
            succeeded: 2,
            failed: 0,
        };
        Event::now(severity, kind, "Cleared 2.1 GB of MLX cache in 2 processes")
    }

    #[test]
    fn fired_rule_and_its_action_make_one_notification() {
        let mut c = Composer::default();
        let t0 = Instant::now();
        assert!(c
            .on_event(&fired("cache", Severity::Warning), t0)
            .is_empty());
        let out = c.on_event(
            &action(Some("cache"), Severity::Info),
            t0 + Duration::from_secs(1),
        );
        assert_eq!(
            out,
            vec![Notification {
                title: "Headroom — warning".into(),
                body: "MLX cache above 512 MB (cache)\nCleared 2.1 GB of MLX cache in 2 processes"
                    .into()
            }]
        );
        assert!(c.on_tick(t0 + Duration::from_secs(60)).is_empty());
    }

    #[test]
    fn fired_rule_without_action_is_notified_after_the_window() {
        let mut c = Composer::default();
        let t0 = Instant::now();
        let e = fired("pressure", Severity::Critical);
        assert!(c.on_event(&e, t0).is_empty());
        assert!(c.on_tick(t0 + Duration::from_secs(1)).is_empty());
        let out = c.on_tick(t0 + PAIR_WINDOW);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].title, "Headroom — critical");
        assert_eq!(out[0].body, e.message);
        assert!(c.on_tick(t0 + 2 * PAIR_WINDOW).is_empty(), "never twice");
    }

    #[test]
    fn the_same_event_is_never_notified_twice() {
        let mut c = Composer::default();
        let t0 = Instant::now();
        let e = action(Some("cache"), Severity::Warning);
        assert_eq!(c.on_event(&e, t0).len(), 1);
        assert!(c.on_event(&e, t0).is_empty());
    }

    #[test]
    fn info_events_and_person_initiated_actions_stay_quiet() {
        let mut c = Composer::default();
        let t0 = Instant::now();
        assert!(c.on_event(&fired("swap", Severity::Info), t0).is_empty());
        assert!(c.on_tick(t0 + PAIR_WINDOW).is_empty());
        assert!(c.on_event(&action(None, Severity::Warning), t0).is_empty());
        let resolved = Event::now(
            Severity::Warning,
            EventKind::RuleResolved {
                rule: "swap".into(),
                value: 0.0,
                pid: None,
            },
            "Swap back under 1 GB",
        );
        assert!(c.on_event(&resolved, t0).is_empty());
        let storage = Event::now(
            Severity::Warning,
            EventKind::StorageError {
                error: "disk full".into(),
            },
            "History database failed: disk full",
        );
        assert_eq!(c.on_event(&storage, t0).len(), 1);
    }

    #[test]
    fn a_second_fired_rule_flushes_the_first() {
        let mut c = Composer::default();
        let t0 = Instant::now();
        assert!(c.on_event(&fired("a", Severity::Warning), t0).is_empty());
        let out = c.on_event(&fired("b", Severity::Warning), t0);
        assert_eq!(out.len(), 1);
        assert!(out[0].body.contains("(a)"));
        let out = c.on_event(&action(Some("a"), Severity::Info), t0);
        assert_eq!(out[0].body, "Cleared 2.1 GB of MLX cache in 2 processes");
    }
}
