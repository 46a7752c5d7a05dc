//! The fault matrix for Google Sheets: each fault injected into the sandbox while a tab is
//! read in row batches ends in every row exactly once or in one clear typed error.

use std::time::Duration;

use futures::StreamExt;
use intake::testing::{Fault, read_to_end};
use intake::{FailureType, Partition, ReadRequest, Source};
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
    let streams = SheetsSource::new().streams(&config).await.unwrap();
    let orders = streams.iter().find(|s| s.name() == "Orders").unwrap();
    let _guard = match times {
        Some(n) => sandbox.api().inject(fault, n),
        None => sandbox.api().inject_always(fault),
    };
    let request = ReadRequest::full_refresh("Orders", Partition::whole());
    let outcome = read_to_end(orders.as_ref(), request, Duration::from_secs(120))
        .await
        .map(|records| {
            let rows: Vec<u64> = records
                .iter()
                .map(|r| r.to_value().unwrap()["_row"].as_u64().unwrap())
                .collect();
            rows
        });
    match (expect, outcome) {
        (Ok(()), Ok(mut rows)) => {
            let n = rows.len();
            rows.sort();
            rows.dedup();
            assert_eq!(rows.len(), n, "each row once");
            assert_eq!(n, expected, "every row");
        }
        (Err((kind, says)), Err(e)) => {
            assert_eq!(e.failure_type(), kind, "{e}");
            assert!(e.chain().contains(says), "{}", e.chain());
        }
        (Ok(()), Err(e)) => panic!("expected success, failed: {}", e.chain()),
        (Err(_), Ok(rows)) => panic!("expected an error, read {} rows", rows.len()),
    }
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
