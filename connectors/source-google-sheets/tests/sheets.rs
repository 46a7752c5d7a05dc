//! The Google Sheets source against the sandbox (a token endpoint that verifies the JWT, and
//! the Sheets API): the acceptance suite, then headers, rows, quoting, batch boundaries,
//! resumption and the errors a user must act on.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::StreamExt;
use intake::testing::{acceptance, checks};
use intake::{Partition, ReadRequest, Source, Stream};
use intake_source_google_sheets::SheetsSource;
use intake_source_google_sheets::mock::{
    CLIENT_EMAIL, SPREADSHEET_ID, Sandbox, TabSpec, spreadsheet,
};
use serde_json::{Value, json};

async fn streams(config: &Value) -> BTreeMap<String, Arc<dyn Stream>> {
    SheetsSource::new()
        .streams(config)
        .await
        .unwrap()
        .into_iter()
        .map(|s| (s.name().to_string(), s))
        .collect()
}

async fn read(stream: &dyn Stream, resume: Option<Value>) -> (Vec<Value>, Vec<Option<Value>>) {
    let request = ReadRequest::full_refresh(stream.name(), Partition::whole()).resuming(resume);
    let mut pages = stream.read(request);
    let (mut records, mut tokens) = (Vec::new(), Vec::new());
    while let Some(page) = pages.next().await {
        let page = page.unwrap();
        records.extend(page.records.iter().map(|r| r.to_value().unwrap()));
        tokens.push(page.resume);
    }
    (records, tokens)
}

/// Data rows of a tab that are not blank.
fn filled(tab: &TabSpec) -> usize {
    tab.rows
        .iter()
        .skip(1)
        .filter(|r| r.iter().any(|v| !v.is_null() && v != &json!("")))
        .count()
}

/// The suite every Sheets test runs, live or replayed: every grid tab with rows proved by
/// its filled-row count, at the quota the config declares.
fn suite(tabs: &[TabSpec], config: Value) -> intake::testing::Acceptance<'static> {
    let mut suite = acceptance(SheetsSource::new(), config).skip(
        checks::CONCURRENCY,
        "the Sheets API limits requests per minute (checked by rate_limit), not connections",
    );
    for tab in tabs
        .iter()
        .filter(|t| t.sheet_type == "GRID" && !t.rows.is_empty())
    {
        suite = suite.expect_records(&tab.title, filled(tab) as u64);
    }
    suite
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_acceptance_suite_passes_against_the_sandbox() {
    let tabs = spreadsheet(600);
    let sandbox = Sandbox::start(tabs.clone(), 600).await;
    let mut config = sandbox.config();
    config["requests_per_minute"] = json!(600);
    suite(&tabs, config)
        .mock(sandbox.api())
        .run()
        .await
        .assert_all_passed();
    let (_, refused) = sandbox.token_requests();
    assert!(refused.is_empty(), "every assertion verified: {refused:?}");
}

/// The shipped cassette (`tests/cassettes/sandbox`, recorded from the sandbox standing in for
/// the real API: a token exchange with a signed JWT, then the Sheets API) replays under the
/// whole acceptance suite. A small spreadsheet read in batches of 50 rows, so the cassette
/// stays reviewable and still holds batch boundaries. The JWT assertion and the tokens are
/// redacted by name, the service account's key by the spec; the key file's `token_uri` is
/// pointed at the replay like every other URL in the config. To record it again:
/// `INTAKE_RECORD=1 cargo test -p intake-source-google-sheets --test sheets the_shipped_cassette`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shipped_cassette_replays_under_the_acceptance_suite() {
    let tabs = spreadsheet(120);
    let sandbox = Sandbox::start(tabs.clone(), 600).await;
    let mut config = sandbox.config();
    config["requests_per_minute"] = json!(600);
    config["batch_size"] = json!(50);
    suite(&tabs, config)
        .cassette(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/cassettes/sandbox"
        ))
        .run()
        .await
        .assert_all_passed();
    let (_, refused) = sandbox.token_requests();
    assert!(refused.is_empty(), "every assertion verified: {refused:?}");
}

#[tokio::test]
async fn discovery_lists_grid_tabs_with_headers_only() {
    let sandbox = Sandbox::start(spreadsheet(60), 1_000).await;
    let s = streams(&sandbox.config()).await;
    let names: Vec<&str> = s.keys().map(String::as_str).collect();
    // The chart and the tab without a header row are left out; the hidden tab is listed.
    assert_eq!(
        names,
        vec!["Archive", "Bob's 🌵 sheet", "Orders", "Team roster"]
    );
    let roster = s["Team roster"].json_schema().await.unwrap();
    let cols: Vec<&String> = roster["properties"].as_object().unwrap().keys().collect();
    // The empty header (column B) is left out; the two `name` headers are renamed by cell.
    assert_eq!(
        cols,
        vec!["Start Date", "_row", "email", "name_A1", "name_D1"]
    );
    assert!(
        roster["properties"]
            .as_object()
            .unwrap()
            .values()
            .all(|p| p["type"] == json!(["null", "string"]) || p["type"] == json!("integer"))
    );
    // snake_case names.
    let mut config = sandbox.config();
    config["names_conversion"] = json!("snake_case");
    let s = streams(&config).await;
    let roster = s["Team roster"].json_schema().await.unwrap();
    assert!(roster["properties"].get("start_date").is_some());
}

#[tokio::test]
async fn rows_are_padded_blank_rows_skipped_and_each_carries_its_row_number() {
    let tabs = spreadsheet(600);
    let sandbox = Sandbox::start(tabs.clone(), 1_000).await;
    let mut config = sandbox.config();
    config["batch_size"] = json!(100);
    let s = streams(&config).await;
    let (orders, _) = read(s["Orders"].as_ref(), None).await;
    assert_eq!(orders.len(), filled(&tabs[0]));
    // Rows past the blank gaps are read: the end is the grid's row count, not an empty batch.
    assert_eq!(orders.last().unwrap()["_row"], json!(601));
    let row_200 = orders.iter().find(|r| r["_row"] == json!(200)).unwrap();
    assert_eq!(row_200["order_id"], json!("10198"));
    // A short row is padded: `notes` is null where the API dropped the trailing cell.
    assert!(orders.iter().any(|r| r["notes"].is_null()));
    assert!(orders.iter().any(|r| r["notes"].is_string()));
    // Blank rows are skipped, not emitted.
    assert!(!orders.iter().any(|r| r["_row"] == json!(152)));

    let (roster, _) = read(s["Team roster"].as_ref(), None).await;
    assert_eq!(roster.len(), 30);
    assert_eq!(
        roster[1]["Start Date"],
        Value::Null,
        "ragged row padded with null"
    );
    assert_eq!(roster[0]["name_A1"], "Person 0");
    assert_eq!(roster[0]["name_D1"], "Nick 0");
    assert!(roster.iter().all(|r| r.get("ignored").is_none()));

    let (quoted, _) = read(s["Bob's 🌵 sheet"].as_ref(), None).await;
    assert_eq!(quoted.len(), filled(&tabs[2]));
    assert_eq!(quoted[0]["qty"], "0", "formatted values are strings");
}

#[tokio::test]
async fn unformatted_values_type_numeric_and_boolean_columns() {
    let sandbox = Sandbox::start(spreadsheet(120), 1_000).await;
    let mut config = sandbox.config();
    config["value_render"] = json!("unformatted");
    let s = streams(&config).await;
    let schema = s["Orders"].json_schema().await.unwrap();
    let kind = |c: &str| schema["properties"][c]["type"].clone();
    assert_eq!(kind("order_id"), json!(["null", "number"]));
    assert_eq!(kind("amount"), json!(["null", "number"]));
    assert_eq!(kind("paid"), json!(["null", "boolean"]));
    assert_eq!(kind("customer"), json!(["null", "string"]));
    let (orders, _) = read(s["Orders"].as_ref(), None).await;
    assert_eq!(orders[0]["amount"], json!(0.25));
    assert_eq!(orders[0]["paid"], json!(false));
}

#[tokio::test]
async fn batches_at_exact_multiples_of_the_batch_size_read_every_row_once() {
    for (data_rows, extra) in [(400, 0), (400, 100), (399, 0), (401, 0)] {
        let mut rows = vec![vec![json!("n"), json!("square")]];
        rows.extend((1..=data_rows).map(|i| vec![json!(i), json!(i * i)]));
        let sandbox = Sandbox::start(vec![TabSpec::grid("Squares", rows, extra)], 1_000).await;
        let mut config = sandbox.config();
        config["batch_size"] = json!(100);
        let s = streams(&config).await;
        let before = sandbox.api().requests();
        let (records, tokens) = read(s["Squares"].as_ref(), None).await;
        let numbers: Vec<i64> = records
            .iter()
            .map(|r| r["n"].as_str().unwrap().parse().unwrap())
            .collect();
        assert_eq!(
            numbers,
            (1..=data_rows as i64).collect::<Vec<_>>(),
            "{data_rows}+{extra}"
        );
        // One metadata call, then one request per 100 grid rows after the header.
        let grid_rows = data_rows + extra;
        assert_eq!(
            sandbox.api().requests() - before,
            1 + grid_rows.div_ceil(100) as u64,
            "{data_rows}+{extra}"
        );
        assert_eq!(tokens.last().unwrap(), &None, "the last page ends the read");
    }
}

#[tokio::test]
async fn an_interrupted_full_refresh_resumes_from_the_last_row_read() {
    let tabs = spreadsheet(600);
    let sandbox = Sandbox::start(tabs.clone(), 1_000).await;
    let mut config = sandbox.config();
    config["batch_size"] = json!(150);
    let s = streams(&config).await;
    let orders = s["Orders"].clone();
    let mut pages = orders.read(ReadRequest::full_refresh("Orders", Partition::whole()));
    let first = pages.next().await.unwrap().unwrap();
    let second = pages.next().await.unwrap().unwrap();
    drop(pages);
    let token = second.resume.clone().unwrap();
    assert_eq!(token, json!({"row": 302}));
    let (rest, _) = read(orders.as_ref(), Some(token)).await;
    let mut all: Vec<i64> = first
        .records
        .iter()
        .chain(&second.records)
        .map(|r| r.to_value().unwrap()["_row"].as_i64().unwrap())
        .collect();
    all.extend(rest.iter().map(|r| r["_row"].as_i64().unwrap()));
    let unique: std::collections::BTreeSet<i64> = all.iter().copied().collect();
    assert_eq!(unique.len(), all.len(), "no row twice");
    assert_eq!(all.len(), filled(&tabs[0]), "no row lost");
}

#[tokio::test]
async fn an_unshared_spreadsheet_names_the_service_account_to_share_it_with() {
    let sandbox = Sandbox::start(spreadsheet(10), 1_000).await;
    sandbox.share(false);
    let err = SheetsSource::new()
        .check(&sandbox.config())
        .await
        .unwrap_err();
    assert!(err.is_config(), "{err}");
    assert!(err.message().contains(CLIENT_EMAIL), "{err}");
    assert!(err.message().contains("share it"), "{err}");
    sandbox.share(true);
    let mut config = sandbox.config();
    config["spreadsheet_id"] = json!("1SomeOtherSpreadsheet");
    let err = SheetsSource::new().check(&config).await.unwrap_err();
    assert!(err.is_config(), "{err}");
    assert!(err.message().contains("1SomeOtherSpreadsheet"), "{err}");
    assert!(err.message().contains("not found"), "{err}");
}

#[tokio::test]
async fn oauth_works_and_a_revoked_refresh_token_says_so() {
    let sandbox = Sandbox::start(spreadsheet(10), 1_000).await;
    SheetsSource::new()
        .check(&sandbox.oauth_config())
        .await
        .unwrap();
    let s = streams(&sandbox.oauth_config()).await;
    let (rows, _) = read(s["Archive"].as_ref(), None).await;
    assert_eq!(rows.len(), 10);
    let mut revoked = sandbox.oauth_config();
    revoked["credentials"]["refresh_token"] = json!("revoked-token");
    let err = SheetsSource::new().check(&revoked).await.unwrap_err();
    assert!(err.is_config(), "{err}");
    assert!(err.message().contains("invalid_grant"), "{err}");
    assert!(err.message().contains("revoked"), "{err}");
    assert!(
        !err.chain().contains("revoked-token"),
        "the token is not echoed"
    );
}

#[tokio::test]
async fn a_token_is_fetched_once_and_reused() {
    let sandbox = Sandbox::start(spreadsheet(300), 1_000).await;
    let mut config = sandbox.config();
    config["batch_size"] = json!(50);
    let source = SheetsSource::new();
    for s in source.streams(&config).await.unwrap() {
        read(s.as_ref(), None).await;
    }
    let (tokens, refused) = sandbox.token_requests();
    assert_eq!(tokens, 1, "cached until shortly before expiry");
    assert!(refused.is_empty(), "{refused:?}");
    assert!(sandbox.api().requests() > 10);
    let _ = SPREADSHEET_ID;
}

#[tokio::test]
async fn urls_and_ids_are_both_accepted_and_garbage_is_a_config_error() {
    let sandbox = Sandbox::start(spreadsheet(10), 1_000).await;
    let mut config = sandbox.config();
    config["spreadsheet_id"] = json!(SPREADSHEET_ID);
    SheetsSource::new().check(&config).await.unwrap();
    config["spreadsheet_id"] = json!("not an id!");
    assert!(
        SheetsSource::new()
            .check(&config)
            .await
            .unwrap_err()
            .is_config()
    );
    config["spreadsheet_id"] = json!(SPREADSHEET_ID);
    config["credentials"]["service_account_info"] = json!("{\"not\": \"a key\"}");
    let err = SheetsSource::new().check(&config).await.unwrap_err();
    assert!(err.is_config(), "{err}");
}

#[tokio::test]
async fn resource_exhausted_is_retried_with_backoff() {
    let sandbox = Sandbox::start(spreadsheet(30), 1_000).await;
    let s = streams(&sandbox.config()).await;
    let _fault = sandbox.api().inject(
        intake::testing::Fault::Json {
            status: 429,
            body: json!({"error": {"code": 429, "status": "RESOURCE_EXHAUSTED",
                "message": "Quota exceeded for quota metric 'Read requests' and limit 'Read requests per minute per user' of service 'sheets.googleapis.com'."}}),
        },
        2,
    );
    let before = sandbox.api().requests();
    let (rows, _) = read(s["Archive"].as_ref(), None).await;
    assert_eq!(rows.len(), 10);
    // Two refusals, then the metadata call and the batch.
    assert_eq!(sandbox.api().requests() - before, 4);
}
