//! The stream declarations: `pages` and one stream per extraction rule, all fed by one crawl.

use futures::StreamExt;
use intake::PrimaryKey;
use intake::source::EventSender;
use intake::{
    ConfiguredCatalog, Cursor, CursorKind, Page, PageStream, ReadOptions, ReadRequest, Result,
    SourceEvent, State, Stream, SyncMode, async_trait,
};
use serde_json::{Value, json};

use crate::crawl;

pub(crate) fn cursor() -> Cursor {
    Cursor::new("fetched_at").kind(CursorKind::DateTime)
}

/// A stream as discovery lists it. Reading goes through [`WebSource`]'s crawl, which feeds
/// every selected stream from one pass over the site.
pub(crate) struct WebStream {
    pub(crate) name: String,
    pub(crate) schema: Value,
    pub(crate) key: Vec<Vec<String>>,
    pub(crate) cursor: Cursor,
    pub(crate) config: Value,
}

#[async_trait]
impl Stream for WebStream {
    fn name(&self) -> &str {
        &self.name
    }
    async fn json_schema(&self) -> Result<Value> {
        Ok(self.schema.clone())
    }
    fn primary_key(&self) -> PrimaryKey {
        PrimaryKey::paths(self.key.clone())
    }
    fn cursor(&self) -> Option<Cursor> {
        Some(self.cursor.clone())
    }
    /// A crawl for this stream alone (the source's `read` crawls once for all streams).
    fn read(&self, request: ReadRequest) -> PageStream<'_> {
        let (tx, rx) = tokio::sync::mpsc::channel(16);
        let config = self.config.clone();
        let name = self.name.clone();
        let incremental = request.sync_mode == SyncMode::Incremental;
        let crawl = async move {
            let settings = crate::settings::Settings::from_config(&config)?;
            let catalog = single(&name, incremental);
            crawl::run(
                &settings,
                &catalog,
                &State::new(),
                &ReadOptions::default(),
                EventSender::new(tx),
            )
            .await
        };
        let events =
            futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|e| (e, rx)) })
                .filter_map(|e| async move {
                    match e {
                        SourceEvent::Records(batch) => Some(Ok(Page::new(batch.records))),
                        _ => None,
                    }
                });
        let done = futures::stream::once(crawl)
            .filter_map(|r: Result<()>| async move { r.err().map(Err) });
        futures::stream::select(events, done).boxed()
    }
}

pub(crate) fn single(name: &str, incremental: bool) -> ConfiguredCatalog {
    serde_json::from_value(json!({"streams": [{
        "stream": {"name": name, "json_schema": {}, "supported_sync_modes": ["full_refresh", "incremental"]},
        "sync_mode": if incremental { "incremental" } else { "full_refresh" },
        "destination_sync_mode": "append"
    }]}))
    .unwrap_or_default()
}
