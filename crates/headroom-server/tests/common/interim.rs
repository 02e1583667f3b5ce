//! TEMPORARY: a thin backend over the real sampler until `headroom_core::engine` lands.
use futures_util::stream::{BoxStream, StreamExt};
use headroom_core::events::Event;
use headroom_core::{Sampler, Snapshot};
use headroom_server::{Backend, ConfigView, Feed, RuleGauge};
use serde_json::{json, Value};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::broadcast;
use tokio_stream::wrappers::BroadcastStream;

pub struct InterimBackend {
    latest: Arc<Mutex<Option<Arc<Snapshot>>>>,
    tx: broadcast::Sender<Feed>,
}

impl InterimBackend {
    pub async fn start(_dir: &Path) -> Self {
        let latest = Arc::new(Mutex::new(None));
        let (tx, _) = broadcast::channel(64);
        let (l, t) = (Arc::clone(&latest), tx.clone());
        tokio::spawn(async move {
            let mut s = Sampler::new();
            loop {
                let snap = Arc::new(s.sample());
                *l.lock().unwrap() = Some(Arc::clone(&snap));
                let _ = t.send(Feed::Snapshot(snap));
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        });
        Self { latest, tx }
    }
}

impl Backend for InterimBackend {
    fn latest(&self) -> Option<Arc<Snapshot>> {
        self.latest.lock().unwrap().clone()
    }
    fn subscribe(&self) -> BoxStream<'static, Feed> {
        BroadcastStream::new(self.tx.subscribe())
            .map(|r| r.unwrap_or(Feed::Lagged(1)))
            .boxed()
    }
    fn config(&self) -> ConfigView {
        ConfigView {
            config: json!({}),
            path: None,
            error: None,
            issues: vec![],
        }
    }
    fn validate_config(&self, doc: &Value) -> Result<Value, Vec<Value>> {
        if doc.get("bad").is_some() {
            return Err(vec![
                json!({"key": "bad", "message": "bad = 1: unknown key; allowed: …"}),
            ]);
        }
        Ok(doc.clone())
    }
    async fn put_config(&self, _doc: Value) -> Result<(), Vec<Value>> {
        Ok(())
    }
    async fn history(&self, _since: Duration, _max: usize) -> Value {
        json!([])
    }
    async fn events(&self, _since: Option<Duration>, _limit: usize) -> Vec<Event> {
        vec![]
    }
    async fn clear_cache(&self, _pids: Vec<u32>) -> Value {
        json!([])
    }
    async fn set_limit(&self, kind: &str, _bytes: u64, _pids: Vec<u32>) -> Result<Value, String> {
        Err(format!("unknown kind {kind}"))
    }
    fn rule_states(&self) -> Vec<RuleGauge> {
        vec![]
    }
    fn status(&self) -> Value {
        json!({})
    }
    async fn shutdown(&self) {}
}
