//! `GET /metrics`: Prometheus / OpenMetrics text, encoded with the official `prometheus-client`.
//!
//! Each scrape builds a registry from the latest snapshot, so a value the platform cannot
//! give (null in the snapshot) is absent rather than a misleading zero, and processes that
//! exited disappear at once. Journal entries are counted since start
//! (`headroom_journal_events_total{kind,severity}`): in headless mode that is how alerts reach
//! Prometheus. Metric names are listed in `deploy/README.md`.

use crate::backend::{Feed, RuleGauge};
use futures_util::stream::{BoxStream, StreamExt};
use headroom_core::events::{Event, EventKind};
use headroom_core::metrics::METRICS;
use headroom_core::snapshot::MlxProcess;
use headroom_core::Snapshot;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::registry::{Registry, Unit};
use std::sync::atomic::AtomicU64;

/// The content type of the answer (OpenMetrics 1.0 text, which Prometheus negotiates).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

type Labels = Vec<(String, String)>;
type FloatGauge = Gauge<f64, AtomicU64>;

/// State kept across scrapes: the journal counters.
#[derive(Debug, Clone, Default)]
pub struct Metrics {
    journal: Family<Labels, Counter>,
}

impl Metrics {
    /// Counts journal entries from `feed` until it ends.
    pub async fn count_journal(self, mut feed: BoxStream<'static, Feed>) {
        while let Some(item) = feed.next().await {
            if let Feed::Journal(event) = item {
                self.record(&event);
            }
        }
    }

    /// Counts one journal entry.
    pub fn record(&self, event: &Event) {
        let labels = vec![
            ("kind".to_owned(), kind_name(&event.kind).to_owned()),
            (
                "severity".to_owned(),
                format!("{:?}", event.severity).to_ascii_lowercase(),
            ),
        ];
        self.journal.get_or_create(&labels).inc();
    }

    /// Encodes the metrics for one scrape.
    pub fn render(&self, snap: Option<&Snapshot>, rules: &[RuleGauge]) -> String {
        let mut reg = Registry::with_prefix("headroom");
        reg.register(
            "build_info",
            "Headroom version (value is always 1)",
            info_gauge(),
        );
        reg.register(
            "journal_events",
            "Journal entries since start, by kind and severity",
            self.journal.clone(),
        );
        register_rules(&mut reg, rules);
        if let Some(s) = snap {
            register_snapshot(&mut reg, s);
        }
        let mut out = String::with_capacity(8192);
        // Writing to a String cannot fail.
        let _ = encode(&mut out, &reg);
        out
    }
}

fn info_gauge() -> Family<Labels, Gauge> {
    let f = Family::<Labels, Gauge>::default();
    f.get_or_create(&vec![(
        "version".to_owned(),
        env!("CARGO_PKG_VERSION").to_owned(),
    )])
    .set(1);
    f
}

fn kind_name(kind: &EventKind) -> &'static str {
    match kind {
        EventKind::RuleFired { .. } => "rule_fired",
        EventKind::RuleResolved { .. } => "rule_resolved",
        EventKind::ActionTaken { .. } => "action_taken",
        EventKind::AgentAttached { .. } => "agent_attached",
        EventKind::AgentLeft { .. } => "agent_left",
        EventKind::ConfigError { .. } => "config_error",
        EventKind::StorageError { .. } => "storage_error",
        EventKind::StorageRecovered => "storage_recovered",
        EventKind::PolicyApplied { .. } => "policy_applied",
        EventKind::IdleTrimmed { .. } => "idle_trimmed",
    }
}

fn gauge(reg: &mut Registry, name: &str, help: &str, unit: Option<Unit>, v: Option<f64>) {
    let Some(v) = v else { return };
    let g = ConstGauge::new(v);
    match unit {
        Some(u) => reg.register_with_unit(name, help, u, g),
        None => reg.register(name, help, g),
    }
}

/// Every metric of the registry with a Prometheus name: a gauge per machine metric, a family
/// labelled by pid and name per process metric.
fn register_snapshot(reg: &mut Registry, s: &Snapshot) {
    for m in METRICS {
        let Some(name) = m.prometheus else { continue };
        let unit = m.unit.prometheus_unit().map(|u| Unit::Other(u.into()));
        if !m.per_process() {
            gauge(reg, name, m.help, unit, m.machine_value(s));
            continue;
        }
        let family = Family::<Labels, FloatGauge>::default();
        for p in &s.mlx {
            if let Some(v) = m.process_value(p) {
                family.get_or_create(&process_labels(p)).set(v);
            }
        }
        match unit {
            Some(u) => reg.register_with_unit(name, m.help, u, family),
            None => reg.register(name, m.help, family),
        }
    }
    register_attached(reg, &s.mlx);
}

fn register_attached(reg: &mut Registry, procs: &[MlxProcess]) {
    let family = Family::<Labels, Gauge>::default();
    for p in procs {
        family
            .get_or_create(&process_labels(p))
            .set(i64::from(p.attached));
    }
    reg.register(
        "mlx_attached",
        "1 when the process's headroom_agent answers, 0 otherwise",
        family,
    );
}

fn process_labels(p: &MlxProcess) -> Labels {
    vec![
        ("pid".to_owned(), p.pid.to_string()),
        ("name".to_owned(), p.name.clone()),
    ]
}

fn register_rules(reg: &mut Registry, rules: &[RuleGauge]) {
    let family = Family::<Labels, Gauge>::default();
    for r in rules {
        let mut labels = vec![("rule".to_owned(), r.rule.clone())];
        if let Some(pid) = r.pid {
            labels.push(("pid".to_owned(), pid.to_string()));
        }
        family.get_or_create(&labels).set(i64::from(r.firing));
    }
    reg.register(
        "rule_firing",
        "1 while an alert rule is fired (until it recovers), 0 when armed",
        family,
    );
    gauge(
        reg,
        "rules_firing",
        "Number of alert rules currently fired",
        None,
        Some(rules.iter().filter(|r| r.firing).count() as f64),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};
    use headroom_core::events::Severity;
    use headroom_core::snapshot::Platform;

    fn sample() -> Snapshot {
        let mut s = Snapshot::empty(Platform::Linux, DateTime::<Utc>::UNIX_EPOCH);
        s.memory.total = Some(16 << 30);
        s.rates.pageins = Some(2048.0);
        s.mlx.push(MlxProcess {
            pid: 42,
            name: "python3".into(),
            attached: true,
            cache: Some(1 << 20),
            outside_mlx: Some(3 << 20),
            ..MlxProcess::default()
        });
        s
    }

    #[test]
    fn renders_known_values_and_omits_nulls() {
        let m = Metrics::default();
        m.record(&Event::now(
            Severity::Warning,
            EventKind::StorageRecovered,
            "ok",
        ));
        let rules = [RuleGauge {
            rule: "swap".into(),
            pid: None,
            firing: true,
        }];
        let text = m.render(Some(&sample()), &rules);
        assert!(
            text.contains("headroom_memory_total_bytes 17179869184"),
            "{text}"
        );
        assert!(!text.contains("headroom_memory_used_bytes"), "{text}");
        assert!(
            text.contains("headroom_pageins_rate_bytes_per_second 2048"),
            "{text}"
        );
        assert!(text.contains("headroom_mlx_cache_bytes{pid=\"42\",name=\"python3\"} 1048576"));
        assert!(
            text.contains("headroom_mlx_outside_bytes{pid=\"42\",name=\"python3\"} 3145728"),
            "{text}"
        );
        assert!(text.contains("headroom_rule_firing{rule=\"swap\"} 1"));
        assert!(text.contains(
            "headroom_journal_events_total{kind=\"storage_recovered\",severity=\"warning\"} 1"
        ));
        assert!(text.contains("headroom_agents_attached 1"));
        assert!(text.ends_with("# EOF\n"));
    }
}
