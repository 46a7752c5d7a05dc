//! A complete custom source with one incremental stream, synced to JSONL twice: the second run
//! reads only what changed. Run it with `cargo run --example custom_source`.

use std::sync::{Arc, Mutex};

use futures::StreamExt;
use intake::destination::jsonl::JsonlDestination;
use intake::{
    ConnectorSpec, Cursor, Page, PageStream, ReadRequest, Record, Source, Stream, async_trait,
};
use serde_json::{Value, json};

/// A stand-in for an API: orders with an `updated_at` the API can filter on (`>=`).
pub type Api = Arc<Mutex<Vec<Value>>>;

struct Orders {
    api: Api,
    cursor: Cursor,
}

#[async_trait]
impl Stream for Orders {
    fn name(&self) -> &str {
        "orders"
    }
    async fn json_schema(&self) -> intake::Result<Value> {
        Ok(json!({"type": "object", "properties": {
            "id": {"type": "integer"}, "total": {"type": "number"},
            "updated_at": {"type": "string", "format": "date-time"}}}))
    }
    fn primary_key(&self) -> Vec<Vec<String>> {
        vec![vec!["id".into()]]
    }
    fn cursor(&self) -> Option<&Cursor> {
        Some(&self.cursor)
    }
    fn read(&self, request: ReadRequest) -> PageStream<'_> {
        // A real source sends `updated_since={start}` to its API; here we filter the same way.
        let since = request.start.as_ref().and_then(|v| self.cursor.parse(v));
        let rows: Vec<Value> = self
            .api
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
        let pages: Vec<intake::Result<Page>> = rows
            .chunks(2)
            .map(|chunk| {
                chunk
                    .iter()
                    .map(Record::from_value)
                    .collect::<intake::Result<Vec<_>>>()
                    .map(Page::new)
            })
            .collect();
        futures::stream::iter(pages).boxed()
    }
}

/// The source: one incremental stream of orders.
pub struct Shop {
    pub api: Api,
}

#[async_trait]
impl Source for Shop {
    fn spec(&self) -> ConnectorSpec {
        ConnectorSpec::from_schema(json!({"type": "object", "properties": {}}))
    }
    async fn check(&self, _config: &Value) -> intake::Result<()> {
        Ok(())
    }
    async fn streams(&self, _config: &Value) -> intake::Result<Vec<Arc<dyn Stream>>> {
        Ok(vec![Arc::new(Orders {
            api: self.api.clone(),
            cursor: Cursor::new("updated_at"),
        })])
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let api: Api = Arc::new(Mutex::new((1..=5)
        .map(|i| json!({"id": i, "total": i * 10, "updated_at": format!("2024-03-0{i}T12:00:00Z")}))
        .collect()));
    let out = tempfile::tempdir()?;

    let first = intake::sync(Shop { api: api.clone() }, json!({}))
        .to(JsonlDestination::new(out.path()))
        .run()
        .await?;
    println!(
        "first run:  {} orders read, state {}",
        first.records_read(),
        first.state.to_json()
    );

    // Order 2 changes and order 6 arrives; the next run starts from the saved cursor.
    api.lock().unwrap()[1] = json!({"id": 2, "total": 25, "updated_at": "2024-03-07T09:00:00Z"});
    api.lock()
        .unwrap()
        .push(json!({"id": 6, "total": 60, "updated_at": "2024-03-07T09:00:00Z"}));

    let second = intake::sync(Shop { api }, json!({}))
        .to(JsonlDestination::new(out.path()))
        .run()
        .await?;
    println!(
        "second run: {} orders read, state {}",
        second.records_read(),
        second.state.to_json()
    );

    let lines = std::fs::read_to_string(out.path().join("orders.jsonl"))?;
    println!("orders.jsonl has {} lines:\n{lines}", lines.lines().count());
    anyhow::ensure!(
        first.records_read() == 5 && second.records_read() == 2,
        "the second run must read only the 2 changes"
    );
    Ok(())
}
