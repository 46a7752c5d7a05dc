//! HubSpot-shaped contacts for the benchmarks: the record, a pool of pre-rendered records,
//! and an in-memory source that serves `n` of them in pages of 100.
#![allow(dead_code)]

use std::sync::Arc;

use futures::StreamExt;
use intake::PrimaryKey;
use intake::{
    ConnectorSpec, Cursor, Page, PageStream, ReadRequest, Record, Source, Stream, async_trait,
};
use serde_json::{Value, json};

pub const PAGE: usize = 100;

/// A HubSpot CRM contact as the v3 API returns it.
pub fn contact(i: usize) -> Value {
    let day = 1 + i % 28;
    json!({
        "id": format!("{}", 1000 + i),
        "properties": {
            "createdate": format!("2023-01-{day:02}T10:00:00.000Z"),
            "email": format!("contact{i}@example.com"),
            "firstname": "Ada",
            "lastname": "Lovelace",
            "company": "Analytical Engines Ltd",
            "phone": "+44 20 7946 0000",
            "city": "London",
            "country": "United Kingdom",
            "lifecyclestage": "lead",
            "hs_object_id": format!("{}", 1000 + i),
            "hs_lead_status": "NEW",
            "lastmodifieddate": format!("2024-02-{day:02}T08:30:00.000Z")
        },
        "createdAt": format!("2023-01-{day:02}T10:00:00.000Z"),
        "updatedAt": format!("2024-02-{day:02}T08:30:00.000Z"),
        "archived": false
    })
}

/// Serves `n` records in pages cycled from a pool of pre-rendered records, so the source costs
/// one copy per record and holds no more than the pool, whatever `n` is.
pub struct Contacts {
    n: usize,
    pool: Arc<Vec<Record>>,
    cursor: Option<Cursor>,
}

#[async_trait]
impl Stream for Contacts {
    fn name(&self) -> &str {
        "contacts"
    }
    async fn json_schema(&self) -> intake::Result<Value> {
        Ok(
            json!({"type": "object", "properties": {"id": {"type": "string"}, "properties": {"type": "object"},
            "createdAt": {"type": "string"}, "updatedAt": {"type": "string"}, "archived": {"type": "boolean"}}}),
        )
    }
    fn primary_key(&self) -> PrimaryKey {
        "id".into()
    }
    fn cursor(&self) -> Option<Cursor> {
        self.cursor.clone()
    }
    fn read(&self, _request: ReadRequest) -> PageStream<'_> {
        let pool = self.pool.clone();
        let n = self.n;
        futures::stream::iter((0..n.div_ceil(PAGE)).map(move |p| {
            let start = p * PAGE;
            let end = (start + PAGE).min(n);
            Ok(Page::new(
                (start..end).map(|i| pool[i % pool.len()].clone()).collect(),
            ))
        }))
        .boxed()
    }
}

/// The benchmark source: one `contacts` stream of `n` records.
pub struct Bench {
    pub n: usize,
    pub pool: Arc<Vec<Record>>,
    pub incremental: bool,
}

#[async_trait]
impl Source for Bench {
    fn spec(&self) -> ConnectorSpec {
        ConnectorSpec::from_schema(json!({"type": "object"}))
    }
    async fn check(&self, _: &Value) -> intake::Result<()> {
        Ok(())
    }
    async fn streams(&self, _: &Value) -> intake::Result<Vec<Arc<dyn Stream>>> {
        let cursor = self.incremental.then(|| Cursor::new("updatedAt"));
        Ok(vec![Arc::new(Contacts {
            n: self.n,
            pool: self.pool.clone(),
            cursor,
        })])
    }
}

pub fn pool() -> Arc<Vec<Record>> {
    Arc::new(
        (0..1000)
            .map(|i| Record::from_value(&contact(i)).expect("record"))
            .collect(),
    )
}
