//! Hole 4: incremental reads are checked per partition, each against its own saved cursor.

use super::*;

use intake::{ConnectorSpec, async_trait};
use intake::{
    Cursor, Page, PageStream, Partition, PrimaryKey, ReadRequest, Record, Source, Stream,
};
use serde_json::Value;

/// Events of two regions: `eu` in January, `us` in June. With `us_ignores_start`, the `us`
/// partition is read from its beginning whatever cursor it is given: every record it
/// returns is still after `eu`'s cursor, so only a per-partition check notices.
struct Regions {
    us_ignores_start: bool,
}

fn events(region: &str, month: u32) -> Vec<Value> {
    (1..=6)
        .map(|day| {
            json!({"id": format!("{region}-{day}"), "region": region,
                         "updated_at": format!("2024-{month:02}-{day:02}T00:00:00Z")})
        })
        .collect()
}

#[async_trait]
impl Stream for Regions {
    fn name(&self) -> &str {
        "events"
    }
    async fn json_schema(&self) -> intake::Result<Value> {
        Ok(json!({"type": "object", "properties": {
            "id": {"type": "string"}, "region": {"type": "string"},
            "updated_at": {"type": "string", "format": "date-time"}}}))
    }
    fn primary_key(&self) -> PrimaryKey {
        "id".into()
    }
    fn cursor(&self) -> Option<Cursor> {
        Some(Cursor::new("updated_at"))
    }
    async fn partitions(&self) -> intake::Result<Vec<Partition>> {
        Ok(vec![
            Partition::new(json!("eu")),
            Partition::new(json!("us")),
        ])
    }
    fn read(&self, request: ReadRequest) -> PageStream<'_> {
        let region = request
            .partition
            .key()
            .as_str()
            .unwrap_or_default()
            .to_string();
        let rows = events(&region, if region == "eu" { 1 } else { 6 });
        let since = match (region.as_str(), self.us_ignores_start) {
            ("us", true) => None,
            _ => request.start.and_then(|v| v.as_str().map(str::to_string)),
        };
        // Two records a page, resumable by page number.
        Page::by_token(request.resume, move |token| {
            let page = token.and_then(|t| t.as_u64()).unwrap_or(0) as usize;
            let rows: Vec<&Value> = rows
                .iter()
                .filter(|r| {
                    since
                        .as_deref()
                        .is_none_or(|s| r["updated_at"].as_str() >= Some(s))
                })
                .collect();
            let records = rows
                .iter()
                .skip(page * 2)
                .take(2)
                .map(|r| Record::from_value(r));
            let next = (rows.len() > (page + 1) * 2).then(|| json!(page + 1));
            std::future::ready(records.collect::<intake::Result<_>>().map(|r| (r, next)))
        })
    }
}

struct Events(bool);

#[async_trait]
impl Source for Events {
    fn spec(&self) -> ConnectorSpec {
        ConnectorSpec::from_schema(json!({"type": "object", "properties": {}}))
    }
    async fn check(&self, _config: &Value) -> intake::Result<()> {
        Ok(())
    }
    async fn streams(&self, _config: &Value) -> intake::Result<Vec<Arc<dyn Stream>>> {
        Ok(vec![Arc::new(Regions {
            us_ignores_start: self.0,
        })])
    }
}

async fn run(us_ignores_start: bool) -> AcceptanceReport {
    let report = acceptance(Events(us_ignores_start), json!({}))
        .without_http("an in-memory source")
        .skip(
            checks::INCREMENTAL_CHANGES,
            "changes are proved on the REST example",
        )
        .run()
        .await;
    println!("{report}");
    report
}

#[tokio::test]
async fn partitions_read_from_their_own_cursors_pass() {
    run(false).await.assert_all_passed();
}

#[tokio::test]
async fn a_partition_read_from_before_its_own_cursor_fails_the_incremental_check() {
    let report = run(true).await;
    let inc = report.outcome(checks::INCREMENTAL).unwrap();
    assert!(
        matches!(inc, Outcome::Failed(m)
            if m.contains("events: the second read returned 5 record(s) before their partition's saved cursor (first: \"2024-06-01T00:00:00Z\" in partition \"us\")")),
        "{report}"
    );
}
