//! A REST source declared on the HTTP toolkit, run offline against a mock of its API: synced
//! to JSONL twice, the second run asks the API only for what changed.
//! Run it with `cargo run --example rest_source`.

use std::time::Duration;

use chrono::{DateTime, Utc};
use intake::Secret;
use intake::destination::jsonl::JsonlDestination;
use intake::http::{Auth, HttpApi, HttpSource, Paginator, Quota, RateLimit};
use intake::testing::{Dataset, Filter, MockApi, PageStyle};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

/// Connection settings for the Acme API.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AcmeConfig {
    /// API token from Settings -> API.
    pub api_token: Secret,
    /// Only sync records changed after this instant. Default: everything.
    pub start_date: Option<DateTime<Utc>>,
    /// Override the API host (tests, proxies).
    pub base_url: Option<String>,
}

/// Acme allows 20 requests per second (sliding window) and 2 at a time.
pub const REQUESTS_PER_SECOND: u32 = 20;
/// The connector paces itself 10% under the limit: network jitter can bunch requests sent
/// evenly, and a sliding window counts arrivals.
pub const QUOTA_PER_SECOND: u32 = REQUESTS_PER_SECOND * 9 / 10;
/// Acme's limit on simultaneous requests.
pub const MAX_CONCURRENCY: usize = 2;

/// The source: customers (incremental), and invoices per customer segment.
pub fn source() -> HttpSource<AcmeConfig> {
    HttpSource::new("acme", |cfg: &AcmeConfig| {
        let api = HttpApi::parse(cfg.base_url.as_deref().unwrap_or("https://api.acme.test"))?
            .auth(Auth::bearer(cfg.api_token.clone()))
            .rate_limit(
                RateLimit::new(Quota::per_second(QUOTA_PER_SECOND))
                    .max_concurrency(MAX_CONCURRENCY),
            );
        let schema = |props: Value| json!({"type": "object", "properties": props});
        Ok(vec![
            api.stream("customers")
                .get("/v1/customers")
                .query("limit", "100")
                .query("updated_since", "{cursor}")
                .records_at("/data")
                .paginate(Paginator::cursor_from_body("/next").into_query("cursor"))
                .primary_key("id")
                .cursor_from("updated_at", cfg.start_date)
                .schema(schema(json!({
                    "id": {"type": "integer"}, "name": {"type": ["null", "string"]},
                    "updated_at": {"type": "string", "format": "date-time"}}))),
            api.stream("invoices")
                .get("/v1/segments/{partition.segment}/invoices")
                .records_at("/invoices")
                .paginate(Paginator::offset("offset", "limit", 50).total_at("/total"))
                .partition_keys(vec![
                    json!({"segment": "smb"}),
                    json!({"segment": "enterprise"}),
                ])
                .primary_key("id")
                .schema(schema(json!({
                    "id": {"type": "string"}, "segment": {"type": "string"},
                    "amount": {"type": "number"}}))),
        ])
    })
}

/// The records a fresh mock account holds.
pub fn customers() -> Dataset {
    Dataset::new(
        (0..430)
            .map(|i| {
                json!({"id": i, "name": format!("customer {i}"),
                       "updated_at": format!("2024-01-{:02}T{:02}:00:00Z", 1 + i % 28, i % 24)})
            })
            .collect(),
    )
}

/// Starts a mock of the Acme API serving `customers`, with Acme's real limits.
pub async fn mock_api(customers: &Dataset) -> MockApi {
    let api = MockApi::start().await;
    api.rate_limit(REQUESTS_PER_SECOND as usize, Duration::from_secs(1));
    api.endpoint("/v1/customers")
        .records(customers.clone())
        .records_at("/data")
        .paginate(PageStyle::cursor("/next", "cursor"))
        .filter(Filter::query("updated_since", "updated_at"))
        .require_header("authorization", "Bearer test-token")
        .mount()
        .await;
    for (segment, n) in [("smb", 120), ("enterprise", 35)] {
        let invoices: Vec<Value> = (0..n)
            .map(|i| json!({"id": format!("{segment}-{i}"), "segment": segment, "amount": i as f64 * 9.5}))
            .collect();
        api.endpoint(&format!("/v1/segments/{segment}/invoices"))
            .records(invoices)
            .records_at("/invoices")
            .page_size(50)
            .paginate(PageStyle::Offset {
                offset_param: "offset".into(),
                limit_param: "limit".into(),
                total_at: Some("/total".into()),
            })
            .require_header("authorization", "Bearer test-token")
            .mount()
            .await;
    }
    api
}

/// A config for the mock.
pub fn config(api: &MockApi) -> Value {
    json!({"api_token": "test-token", "base_url": api.uri()})
}

#[allow(dead_code)]
#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let data = customers();
    let api = mock_api(&data).await;
    let out = tempfile::tempdir()?;
    let state = out.path().join("state.json");

    let first = intake::sync(source(), config(&api))
        .state_file(&state)
        .to(JsonlDestination::new(out.path()))
        .run()
        .await?;
    println!(
        "first run:  {} records, {} requests",
        first.records_read(),
        api.requests()
    );

    // One customer changes, one arrives.
    data.update(|rows| rows[7]["updated_at"] = json!("2024-02-02T00:00:00Z"));
    data.push(json!({"id": 1000, "name": "new", "updated_at": "2024-02-03T00:00:00Z"}));
    let second = intake::sync(source(), config(&api))
        .state_file(&state)
        .to(JsonlDestination::new(out.path()))
        .run()
        .await?;
    let customers = second
        .stream("customers")
        .map(|s| s.records_read)
        .unwrap_or(0);
    println!(
        "second run: {customers} customers (the changed and the new one), {} invoices (full refresh)",
        second
            .stream("invoices")
            .map(|s| s.records_read)
            .unwrap_or(0)
    );
    println!("rate limit violations at the mock: {}", api.violations());
    anyhow::ensure!(
        first.records_read() == 430 + 155,
        "the first run reads everything"
    );
    anyhow::ensure!(customers == 2, "the second run reads only the 2 changes");
    anyhow::ensure!(
        api.violations() == 0,
        "the quota keeps inside the API's limit"
    );
    Ok(())
}
