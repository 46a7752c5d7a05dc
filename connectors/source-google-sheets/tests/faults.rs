//! The fault matrix for Google Sheets: each fault injected into the sandbox while a tab is
//! read in row batches ends in every row exactly once or in one clear typed error.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use intake::testing::{Fault, assert_fault_outcome, read_to_end};
use intake::{FailureType, Partition, ReadRequest, Source, Stream};
use intake_source_google_sheets::SheetsSource;
use intake_source_google_sheets::mock::{Sandbox, spreadsheet};
use serde_json::json;

async fn case(fault: Fault, times: Option<u64>, expect: Result<(), (FailureType, &str)>) {
    let tabs = spreadsheet(300);
    let expected = tabs[0]
        .rows
        .iter()
        .skip(1)
        .filter(|r| r.iter().any(|v| !v.is_null() && v != &json!("")))
        .count();
    let sandbox = Sandbox::start(tabs, 10_000).await;
    let mut config = sandbox.config();
    config["batch_size"] = json!(100);
    config["requests_per_minute"] = json!(10_000);
    config["request_timeout_seconds"] = json!(1);
    let streams = SheetsSource::new().streams(&config).await.unwrap();
    let orders = streams.iter().find(|s| s.name() == "Orders").unwrap();
    let _guard = match times {
        Some(n) => sandbox.api().inject(fault, n),
        None => sandbox.api().inject_always(fault),
    };
    let request = ReadRequest::full_refresh("Orders", Partition::whole());
    let outcome = read_to_end(orders.as_ref(), request, Duration::from_secs(120)).await;
    assert_fault_outcome(&outcome, "_row", expected, expect);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quota_and_server_errors_are_retried() {
    let exhausted = Fault::Json {
        status: 429,
        body: json!({"error": {"code": 429, "status": "RESOURCE_EXHAUSTED", "message": "Quota exceeded"}}),
    };
    case(exhausted, Some(2), Ok(())).await;
    case(Fault::Status(503), Some(2), Ok(())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_slower_than_the_timeout_are_retried() {
    // 3 s against a 1 s timeout.
    case(Fault::Delay(Duration::from_secs(3)), Some(2), Ok(())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resets_and_truncated_bodies_are_retried() {
    case(Fault::Drop, Some(2), Ok(())).await;
    case(Fault::Truncated, Some(2), Ok(())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_html_page_with_status_200_is_a_system_error() {
    case(
        Fault::Html,
        Some(1),
        Err((FailureType::SystemError, "unexpected response")),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn losing_access_mid_read_is_a_config_error_naming_the_account() {
    let denied = Fault::Json {
        status: 403,
        body: json!({"error": {"code": 403, "status": "PERMISSION_DENIED", "message": "The caller does not have permission"}}),
    };
    let expect = Err((
        FailureType::ConfigError,
        intake_source_google_sheets::mock::CLIENT_EMAIL,
    ));
    case(denied, None, expect).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_answer_shape_mid_read_is_a_system_error() {
    let sandbox = Sandbox::start(spreadsheet(300), 10_000).await;
    let mut config = sandbox.config();
    config["batch_size"] = json!(100);
    config["requests_per_minute"] = json!(10_000);
    let streams = SheetsSource::new().streams(&config).await.unwrap();
    let orders = streams.iter().find(|s| s.name() == "Orders").unwrap();
    let mut pages = orders.read(ReadRequest::full_refresh("Orders", Partition::whole()));
    assert!(!pages.next().await.unwrap().unwrap().records.is_empty());
    // The next batch answers without `valueRanges`: not what batchGet sends.
    let _guard = sandbox.api().inject(
        Fault::Json {
            status: 200,
            body: json!({"spreadsheetId": "x"}),
        },
        1,
    );
    let err = loop {
        match pages.next().await {
            Some(Ok(_)) => continue,
            Some(Err(e)) => break e,
            None => panic!("the read ended without reporting the broken answer"),
        }
    };
    assert_eq!(err.failure_type(), FailureType::SystemError, "{err}");
    assert!(err.message().contains("value ranges"), "{err}");
}

/// A sandbox of 300 orders read 100 rows a request; the Orders stream; its reader.
async fn orders(config: impl FnOnce(&mut serde_json::Value)) -> (Sandbox, Arc<dyn Stream>) {
    let sandbox = Sandbox::start(spreadsheet(300), 10_000).await;
    let mut c = sandbox.config();
    c["batch_size"] = json!(100);
    c["requests_per_minute"] = json!(10_000);
    config(&mut c);
    let streams = SheetsSource::new().streams(&c).await.unwrap();
    let orders = streams.into_iter().find(|s| s.name() == "Orders").unwrap();
    (sandbox, orders)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_access_token_expiring_mid_read_is_renewed_once() {
    let (sandbox, orders) = orders(|_| {}).await;
    let mut pages = orders.read(ReadRequest::full_refresh("Orders", Partition::whole()));
    let mut rows = pages.next().await.unwrap().unwrap().records.len();
    assert_eq!(sandbox.token_requests().0, 1);
    // Google's answer to an expired or revoked access token.
    let _guard = sandbox.api().inject(
        Fault::Json {
            status: 401,
            body: json!({"error": {"code": 401, "status": "UNAUTHENTICATED", "message": "Request had invalid authentication credentials."}}),
        },
        1,
    );
    while let Some(page) = pages.next().await {
        rows += page.unwrap().records.len();
    }
    assert_eq!(sandbox.token_requests().0, 2, "one new token");
    assert_eq!(rows, 295, "every non-blank row once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_column_inserted_mid_read_stops_the_read_before_rows_land_under_wrong_names() {
    let (sandbox, orders) = orders(|_| {}).await;
    let mut pages = orders.read(ReadRequest::full_refresh("Orders", Partition::whole()));
    let first = pages.next().await.unwrap().unwrap();
    assert_eq!(first.records.len(), 100);
    sandbox.edit("Orders", |rows| {
        for r in rows.iter_mut().filter(|r| !r.is_empty()) {
            r.insert(1, json!("x"));
        }
        rows[0][1] = json!("region");
    });
    let err = match pages.next().await {
        Some(Err(e)) => e,
        other => panic!(
            "expected an error, got {:?}",
            other.map(|p| p.map(|p| p.records.len()))
        ),
    };
    assert_eq!(err.failure_type(), FailureType::TransientError, "{err}");
    assert!(
        err.message()
            .contains("the header row of sheet \"Orders\" changed during the read"),
        "{err}"
    );
    assert!(err.message().contains("after row 101"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_drift_new_columns_and_changed_types_are_kept() {
    let (sandbox, _) = orders(|c| c["value_render"] = json!("unformatted")).await;
    // After discovery: a new column at the end, and text in the numeric amount column.
    sandbox.edit("Orders", |rows| {
        rows[0].resize(6, json!(""));
        rows[0].push(json!("channel"));
        rows[1].resize(6, json!(""));
        rows[1].push(json!("web"));
        rows[2][2] = json!("refunded");
    });
    let mut config = sandbox.config();
    config["value_render"] = json!("unformatted");
    config["batch_size"] = json!(100);
    let streams = SheetsSource::new().streams(&config).await.unwrap();
    let orders = streams.into_iter().find(|s| s.name() == "Orders").unwrap();
    let schema = orders.json_schema().await.unwrap();
    assert!(
        schema["properties"]["channel"].is_object(),
        "the new column is discovered"
    );
    let request = ReadRequest::full_refresh("Orders", Partition::whole());
    let records = read_to_end(orders.as_ref(), request, Duration::from_secs(60))
        .await
        .unwrap();
    let rows: Vec<serde_json::Value> = records.iter().map(|r| r.to_value().unwrap()).collect();
    assert_eq!(rows.len(), 295);
    assert_eq!(rows[0]["channel"], "web");
    assert_eq!(rows[1]["channel"], serde_json::Value::Null);
    // The cell is kept as it reads; the destination keeps what does not fit its column.
    assert_eq!(rows[1]["amount"], "refunded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_batch_of_blank_rows_is_stepped_over() {
    let (sandbox, orders) = orders(|_| {}).await;
    // Rows 101..=200 (one whole request) emptied: the answer has no `values` at all.
    sandbox.edit("Orders", |rows| {
        for r in &mut rows[100..200] {
            r.clear();
        }
    });
    let request = ReadRequest::full_refresh("Orders", Partition::whole());
    let records = read_to_end(orders.as_ref(), request, Duration::from_secs(60))
        .await
        .unwrap();
    let numbers: Vec<u64> = records
        .iter()
        .map(|r| r.to_value().unwrap()["_row"].as_u64().unwrap())
        .collect();
    assert!(numbers.iter().all(|n| !(101..=200).contains(n)));
    assert_eq!(
        numbers.last(),
        Some(&301),
        "rows after the blank batch are read"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_8_pretty_printed_crlf_and_tab_indented_answers_give_one_line_records() {
    let sandbox = Sandbox::start(spreadsheet(300), 10_000).await;
    let mut config = sandbox.config();
    config["batch_size"] = json!(100);
    config["requests_per_minute"] = json!(10_000);
    let streams = SheetsSource::new().streams(&config).await.unwrap();
    let orders = streams.iter().find(|s| s.name() == "Orders").unwrap();
    let header = json!([
        "order_id",
        "customer",
        "amount",
        "paid",
        "ordered_on",
        "notes"
    ]);
    let answer = json!({"spreadsheetId": "x", "valueRanges": [
        {"range": "Orders!A1:F1", "majorDimension": "ROWS", "values": [header]},
        {"range": "Orders!A2:F101", "majorDimension": "ROWS",
         "values": [[1, "Tab\there", 2.5, true, "2024-01-01", "line\nbreak"]]}
    ]});
    for fault in intake::testing::pretty_answers(&answer) {
        let _guard = sandbox.api().inject_at("values:batchGet", fault, 1);
        let mut pages = orders.read(ReadRequest::full_refresh("Orders", Partition::whole()));
        let page = pages.next().await.unwrap().unwrap();
        let first = &page.records[0];
        assert!(
            !first.json().contains(['\n', '\r', '\t']),
            "{}",
            first.json()
        );
        assert_eq!(first.to_value().unwrap()["customer"], "Tab\there");
    }
}
