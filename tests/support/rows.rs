//! An in-memory `contacts` stream for the destination tests (SQLite, PostgreSQL, Parquet):
//! typed HubSpot-like rows, an incremental filter on `updated_at`, and a failure after N
//! records, like a connection that drops mid-sync.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use futures::StreamExt;
use intake::state::{Boundary, CursorOrder};
use intake::{
    Catalog, ConfiguredCatalog, ConnectorSpec, Cursor, DestinationSyncMode, Error, Page,
    PageStream, ReadRequest, Record, Source, Stream, async_trait,
};
use serde_json::{Value, json};

/// One in-memory stream: the API filters on `updated_at >= start`; it can fail after a
/// number of records, like a connection that drops mid-sync.
pub struct Rows {
    pub schema: Value,
    pub rows: Arc<Mutex<Vec<Value>>>,
    pub cursor: Cursor,
    pub fail_after: Option<usize>,
}

#[async_trait]
impl Stream for Rows {
    fn name(&self) -> &str {
        "contacts"
    }
    async fn json_schema(&self) -> intake::Result<Value> {
        Ok(self.schema.clone())
    }
    fn primary_key(&self) -> Vec<Vec<String>> {
        vec![vec!["id".into()]]
    }
    fn cursor(&self) -> Option<&Cursor> {
        Some(&self.cursor)
    }
    fn read(&self, request: ReadRequest) -> PageStream<'_> {
        let since = request.start.clone().and_then(|v| self.cursor.parse(&v));
        let mut rows: Vec<Value> = self
            .rows
            .lock()
            .unwrap()
            .iter()
            .filter(|r| {
                since
                    .as_ref()
                    .is_none_or(|s| self.cursor.parse(&r["updated_at"]).is_some_and(|v| v >= *s))
            })
            .cloned()
            .collect();
        rows.sort_by_key(|r| r["updated_at"].as_str().unwrap_or_default().to_string());
        let mut pages: Vec<intake::Result<Page>> = Vec::new();
        let mut sent = 0;
        for chunk in rows.chunks(10) {
            if self.fail_after.is_some_and(|n| sent >= n) {
                pages.push(Err(Error::transient("the connection dropped")));
                break;
            }
            sent += chunk.len();
            pages.push(
                chunk
                    .iter()
                    .map(Record::from_value)
                    .collect::<intake::Result<Vec<_>>>()
                    .map(Page::new),
            );
        }
        futures::stream::iter(pages).boxed()
    }
}

pub struct Src(pub Arc<Rows>);

#[async_trait]
impl Source for Src {
    fn spec(&self) -> ConnectorSpec {
        ConnectorSpec::from_schema(json!({"type": "object", "properties": {}}))
    }
    async fn check(&self, _: &Value) -> intake::Result<()> {
        Ok(())
    }
    async fn streams(&self, _: &Value) -> intake::Result<Vec<Arc<dyn Stream>>> {
        Ok(vec![self.0.clone()])
    }
}

pub fn schema() -> Value {
    json!({"type": "object", "properties": {
        "id": {"type": "integer"},
        "name": {"type": ["null", "string"]},
        "score": {"type": ["null", "number"]},
        "active": {"type": "boolean"},
        "updated_at": {"type": "string", "format": "date-time"},
        "birthday": {"type": ["null", "string"], "format": "date"},
        "tags": {"type": "array"},
        "address": {"type": "object"}
    }})
}

pub fn row(id: i64, updated: &str) -> Value {
    json!({"id": id, "name": format!("n{id}"), "score": id as f64 / 2.0, "active": id % 2 == 0,
           "updated_at": updated, "birthday": "1990-05-17", "tags": ["a", id], "address": {"city": "Oslo"}})
}

pub fn source(rows: &Arc<Mutex<Vec<Value>>>, schema: Value, fail_after: Option<usize>) -> Src {
    Src(Arc::new(Rows {
        schema,
        rows: rows.clone(),
        // The stream serves records in cursor order, so checkpoints advance mid-way.
        cursor: Cursor::new("updated_at")
            .boundary(Boundary::Inclusive)
            .order(CursorOrder::Ascending),
        fail_after,
    }))
}

pub async fn catalog(src: &Src, mode: DestinationSyncMode) -> ConfiguredCatalog {
    let mut c: Catalog = src.discover(&json!({})).await.unwrap();
    c.streams[0].supported_sync_modes =
        vec![intake::SyncMode::FullRefresh, intake::SyncMode::Incremental];
    let mut configured = c.configure_all();
    configured.streams[0].destination_sync_mode = mode;
    if mode == DestinationSyncMode::Overwrite {
        configured.streams[0].sync_mode = intake::SyncMode::FullRefresh;
    }
    configured
}

pub fn day(d: u32) -> String {
    format!("2024-01-{d:02}T10:00:00+02:00")
}
