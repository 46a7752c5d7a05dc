//! A complete custom source with one incremental stream, synced to JSONL twice: the second run
//! reads only what changed. Run it with `cargo run --example custom_source`.

use std::sync::{Arc, Mutex};

use intake::destination::jsonl::JsonlDestination;
use intake::{
    ConnectorSpec, Cursor, Page, PageStream, PrimaryKey, ReadRequest, Record, Source, Stream,
    async_trait,
};
use serde_json::{Value, json};

/// A stand-in for an API: orders with an `updated_at` it can filter on (`>=`), two per page.
pub type Api = Arc<Mutex<Vec<Value>>>;

struct Orders(Api);

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
    fn primary_key(&self) -> PrimaryKey {
        "id".into()
    }
    fn cursor(&self) -> Option<Cursor> {
        Some(Cursor::new("updated_at"))
    }
    fn read(&self, request: ReadRequest) -> PageStream<'_> {
        // A real API is asked for `?updated_since={start}&page={token}`; this one answers here.
        let since = request.start.and_then(|v| v.as_str().map(str::to_string));
        Page::by_token(request.resume, move |token| {
            let page = token.and_then(|t| t.as_u64()).unwrap_or(0) as usize;
            let rows: Vec<Value> = (self.0.lock().unwrap().iter())
                .filter(|r| {
                    since
                        .as_deref()
                        .is_none_or(|s| r["updated_at"].as_str() >= Some(s))
                })
                .cloned()
                .collect();
            let records = rows.iter().skip(page * 2).take(2).map(Record::from_value);
            let next = (rows.len() > (page + 1) * 2).then(|| json!(page + 1));
            std::future::ready(records.collect::<intake::Result<_>>().map(|r| (r, next)))
        })
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
        Ok(vec![Arc::new(Orders(self.api.clone()))])
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let order = |i: u32, day: u32| json!({"id": i, "total": i * 10, "updated_at": format!("2024-03-0{day}T12:00:00Z")});
    let api: Api = Arc::new(Mutex::new((1..=5).map(|i| order(i, i)).collect()));
    let out = tempfile::tempdir()?;
    let sync = |api: &Api| {
        intake::sync(Shop { api: api.clone() }, json!({})).to(JsonlDestination::new(out.path()))
    };

    let first = sync(&api).run().await?;
    println!(
        "first run:  {} orders, state {}",
        first.records_read(),
        first.state.to_json()
    );

    // Order 2 changes and order 6 arrives; the next run starts from the saved cursor.
    api.lock().unwrap()[1] = order(2, 7);
    api.lock().unwrap().push(order(6, 7));
    let second = sync(&api).run().await?;
    println!(
        "second run: {} orders, state {}",
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
