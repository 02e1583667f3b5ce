//! [`Backend`] for the real engine, `headroom_core::engine::EngineHandle`.

use crate::backend::{Backend, ConfigView, Feed, RuleGauge};
use futures_util::stream::{BoxStream, StreamExt};
use headroom_core::agents::{ActionOutcome, LimitKind};
use headroom_core::engine::{EngineEvent, EngineHandle};
use headroom_core::events::Event;
use headroom_core::history::{EventQuery, HistoryQuery};
use headroom_core::rules::RulePhase;
use headroom_core::Snapshot;
use serde::Serialize;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tokio_stream::wrappers::BroadcastStream;

fn to_json<T: Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or_else(|e| json!({ "error": e.to_string() }))
}

fn issues<T: Serialize>(list: &[T]) -> Vec<Value> {
    list.iter().map(to_json).collect()
}

/// Milliseconds since the Unix epoch, `ago` before now.
fn ms_ago(ago: Duration) -> i64 {
    let ago = chrono::Duration::from_std(ago).unwrap_or(chrono::Duration::MAX);
    chrono::Utc::now()
        .checked_sub_signed(ago)
        .map_or(0, |t| t.timestamp_millis())
}

/// `{"outcomes": [...], "succeeded": n, "failed": n, "freed": bytes}`.
fn outcomes(list: &[ActionOutcome]) -> Value {
    let ok = list.iter().filter(|o| o.ok).count();
    let freed: u64 = list.iter().filter_map(|o| o.freed).sum();
    json!({
        "outcomes": to_json(&list),
        "succeeded": ok,
        "failed": list.len() - ok,
        "freed": freed,
    })
}

impl Backend for EngineHandle {
    fn latest(&self) -> Option<Arc<Snapshot>> {
        EngineHandle::latest(self)
    }

    fn subscribe(&self) -> BoxStream<'static, Feed> {
        BroadcastStream::new(EngineHandle::subscribe(self))
            .map(|item| match item {
                Ok(EngineEvent::Snapshot(s)) => Feed::Snapshot(s),
                Ok(EngineEvent::Journal(e)) => Feed::Journal(e),
                Err(BroadcastStreamRecvError::Lagged(n)) => Feed::Lagged(n),
            })
            .boxed()
    }

    fn config(&self) -> ConfigView {
        let loaded = EngineHandle::config(self);
        ConfigView {
            config: to_json(&loaded.config),
            path: Some(loaded.path.display().to_string()),
            error: loaded.error,
            issues: issues(&loaded.issues),
        }
    }

    fn validate_config(&self, doc: &Value) -> Result<Value, Vec<Value>> {
        EngineHandle::validate_config(self, doc)
            .map(|c| to_json(&c))
            .map_err(|i| issues(&i))
    }

    async fn put_config(&self, doc: Value) -> Result<(), Vec<Value>> {
        let config = EngineHandle::validate_config(self, &doc).map_err(|i| issues(&i))?;
        EngineHandle::put_config(self, config)
            .await
            .map_err(|i| issues(&i))
    }

    async fn history(&self, since: Duration, max_points: usize) -> Value {
        let q = HistoryQuery {
            since_ms: Some(ms_ago(since)),
            until_ms: None,
            max_points: Some(u32::try_from(max_points).unwrap_or(u32::MAX)),
        };
        to_json(&EngineHandle::history(self, q).await)
    }

    async fn events(&self, since: Option<Duration>, limit: usize) -> Vec<Event> {
        let q = EventQuery {
            since_ms: since.map(ms_ago),
            limit: Some(u32::try_from(limit).unwrap_or(u32::MAX)),
        };
        EngineHandle::events(self, q).await
    }

    async fn clear_cache(&self, pids: Vec<u32>) -> Value {
        outcomes(&EngineHandle::clear_cache(self, pids).await)
    }

    async fn set_limit(&self, kind: &str, bytes: u64, pids: Vec<u32>) -> Result<Value, String> {
        let kind: LimitKind =
            serde_json::from_value(Value::String(kind.to_owned())).map_err(|_| {
                format!("kind: unknown limit {kind:?}; expected \"cache\", \"memory\" or \"wired\"")
            })?;
        Ok(outcomes(
            &EngineHandle::set_limit(self, kind, bytes, pids).await,
        ))
    }

    fn rule_states(&self) -> Vec<RuleGauge> {
        EngineHandle::rule_states(self)
            .into_iter()
            .map(|s| RuleGauge {
                rule: s.rule,
                pid: s.pid,
                firing: s.state == RulePhase::Fired,
            })
            .collect()
    }

    fn status(&self) -> Value {
        to_json(&EngineHandle::status(self))
    }

    async fn shutdown(&self) {
        EngineHandle::shutdown(self).await;
    }
}
