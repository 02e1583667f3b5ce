//! `GET /api/stream`: Server-Sent Events.
//!
//! `event: snapshot` carries each sample (the latest one is sent at once on connect),
//! `event: journal` each journal entry; keep-alive comments flow while nothing happens, and
//! a comment notes items a slow client missed. Streams end when the server shuts down.

use crate::backend::{Backend, Feed};
use crate::AppState;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::stream::{self, Stream, StreamExt};
use headroom_core::ops::{EVENT_JOURNAL, EVENT_SNAPSHOT};
use serde::Serialize;
use std::convert::Infallible;

fn data_event<T: Serialize>(name: &str, value: &T) -> Option<Event> {
    serde_json::to_string(value)
        .ok()
        .map(|json| Event::default().event(name).data(json))
}

/// Turns a feed item into an SSE event.
pub fn encode(item: &Feed) -> Option<Event> {
    match item {
        Feed::Snapshot(s) => data_event(EVENT_SNAPSHOT, &**s),
        Feed::Journal(e) => data_event(EVENT_JOURNAL, &**e),
        Feed::Lagged(n) => Some(Event::default().comment(format!("missed {n} items"))),
    }
}

/// The SSE handler.
pub async fn stream<B: Backend>(
    State(s): State<AppState<B>>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let first = s.backend.latest().map(Feed::Snapshot);
    let live = crate::backend::feed(&*s.backend);
    let mut stop = s.stop.clone();
    let stopped = async move {
        let _ = stop.wait_for(|stopped| *stopped).await;
    };
    let events = stream::iter(first)
        .chain(live)
        .filter_map(|item| std::future::ready(encode(&item).map(Ok)))
        .take_until(Box::pin(stopped));
    Sse::new(events).keep_alive(KeepAlive::new().interval(s.keep_alive))
}
