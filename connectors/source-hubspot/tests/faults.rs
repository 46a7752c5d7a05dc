//! The fault matrix: each fault injected into the HubSpot sandbox during a full refresh of
//! contacts ends in success (every record, once) or in one clear typed error — never a panic,
//! a hang or a silent loss. The README publishes the same table.

use std::sync::Arc;
use std::time::Duration;

use intake::testing::{Fault, read_to_end};
use intake::{FailureType, Partition, ReadRequest, Source, Stream};
use intake_source_hubspot::HubSpotSource;
use intake_source_hubspot::mock::{Sandbox, SandboxSpec};
use serde_json::{Value, json};

enum Expect {
    /// Every record, once.
    AllRecords,
    /// This many active records (the fault replaced the active pages with its own), then
    /// every archived record.
    ActiveRecords(usize),
    /// One error of this kind whose message says this.
    Error(FailureType, &'static str),
}

async fn contacts(sandbox: &Sandbox) -> Arc<dyn Stream> {
    let mut config = sandbox.config();
    config["request_timeout_seconds"] = json!(1);
    HubSpotSource::new()
        .streams(&config)
        .await
        .unwrap()
        .into_iter()
        .find(|s| s.name() == "contacts")
        .unwrap()
}

/// A sandbox of 250 contacts and the contacts stream, its properties read (so a fault meets a
/// page of records).
async fn contacts_sandbox() -> (Sandbox, Arc<dyn Stream>) {
    let sandbox = Sandbox::start(SandboxSpec {
        contacts: 250,
        requests_per_10_seconds: 10_000,
        ..SandboxSpec::small()
    })
    .await;
    let stream = contacts(&sandbox).await;
    stream.json_schema().await.unwrap();
    (sandbox, stream)
}

async fn case(fault: Fault, times: Option<u64>, expect: Expect) -> Vec<Value> {
    let (sandbox, stream) = contacts_sandbox().await;
    let _guard = match times {
        Some(n) => sandbox.api().inject(fault, n),
        None => sandbox.api().inject_always(fault),
    };
    let request = ReadRequest::full_refresh("contacts", Partition::whole());
    let outcome = read_to_end(stream.as_ref(), request, Duration::from_secs(120))
        .await
        .map(|records| {
            let values: Vec<Value> = records.iter().map(|r| r.to_value().unwrap()).collect();
            values
        });
    let total = sandbox.count("contacts", false) + sandbox.count("contacts", true);
    match (expect, outcome) {
        (Expect::AllRecords, Ok(records)) => {
            let mut ids: Vec<&str> = records.iter().map(|r| r["id"].as_str().unwrap()).collect();
            ids.sort();
            ids.dedup();
            assert_eq!(ids.len(), total, "every record");
            assert_eq!(records.len(), total, "each once");
            records
        }
        (Expect::ActiveRecords(n), Ok(records)) => {
            assert_eq!(records.len(), n + sandbox.count("contacts", true));
            records
        }
        (Expect::Error(kind, says), Err(e)) => {
            assert_eq!(e.failure_type(), kind, "{e}");
            assert!(e.chain().contains(says), "{}", e.chain());
            Vec::new()
        }
        (_, Ok(records)) => panic!("expected an error, read {} records", records.len()),
        (_, Err(e)) => panic!("expected success, failed: {}", e.chain()),
    }
}

fn page(results: Value, next: Option<&str>) -> Fault {
    let mut body = json!({ "results": results });
    if let Some(after) = next {
        body["paging"] = json!({"next": {"after": after}});
    }
    Fault::Json { status: 200, body }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_storm_is_waited_out() {
    let fault = Fault::TooManyRequests {
        retry_after: Some("1".into()),
    };
    case(fault, Some(4), Expect::AllRecords).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_5xx_burst_is_retried() {
    case(Fault::Status(503), Some(2), Expect::AllRecords).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_slower_than_the_timeout_are_retried() {
    case(
        Fault::Delay(Duration::from_secs(3)),
        Some(2),
        Expect::AllRecords,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_reset_mid_body_is_retried() {
    case(Fault::Drop, Some(2), Expect::AllRecords).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_json_is_retried() {
    case(Fault::Truncated, Some(2), Expect::AllRecords).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_html_page_with_status_200_is_a_system_error() {
    let expect = Expect::Error(FailureType::SystemError, "unexpected response");
    case(Fault::Html, Some(1), expect).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_drift_keeps_new_fields_and_uncastable_values() {
    let drifted = json!([{
        "id": "1", "createdAt": "2024-01-01T00:00:00Z", "updatedAt": "2024-01-02T00:00:00Z",
        "archived": false,
        "properties": {"annualrevenue": "not a number", "brand_new_property": "surprise"}
    }]);
    // The drifted page is the only active page; the archived pass follows.
    let records = case(page(drifted, None), Some(1), Expect::ActiveRecords(1)).await;
    let r = records.iter().find(|r| r["id"] == "1").unwrap();
    assert_eq!(
        r["properties_annualrevenue"], "not a number",
        "kept, not dropped"
    );
    assert_eq!(r["properties_brand_new_property"], "surprise");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_without_its_primary_key_is_a_system_error() {
    let broken =
        json!([{"properties": {"email": "x@example.com"}, "updatedAt": "2024-01-02T00:00:00Z"}]);
    let expect = Expect::Error(FailureType::SystemError, "not a CRM object");
    case(page(broken, None), Some(1), expect).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_page_with_a_next_cursor_is_followed() {
    case(page(json!([]), Some("1")), Some(1), Expect::AllRecords).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeating_cursor_stops_with_a_system_error() {
    let one = json!([{"id": "1", "updatedAt": "2024-01-02T00:00:00Z", "properties": {}}]);
    let expect = Expect::Error(FailureType::SystemError, "a second time");
    case(page(one, Some("5")), None, expect).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_credentials_are_a_config_error() {
    let expect = Expect::Error(FailureType::ConfigError, "invalid or expired");
    case(Fault::Unauthorized, None, expect).await;
}

fn raw_page(body: Value) -> Fault {
    Fault::Json { status: 200, body }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_11_a_paging_cursor_that_is_blank_or_an_object_is_a_system_error_not_the_end() {
    let one = json!([{"id": "1", "updatedAt": "2024-01-02T00:00:00Z", "properties": {}}]);
    for after in [json!(""), json!({"x": 1}), json!(null), json!(true)] {
        let body = json!({"results": one, "paging": {"next": {"after": after}}});
        let expect = Expect::Error(FailureType::SystemError, "paging.next.after");
        case(raw_page(body), Some(1), expect).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_11_null_results_beside_a_next_cursor_is_a_system_error_not_a_skipped_page() {
    let body = json!({"results": null, "paging": {"next": {"after": "100"}}});
    let expect = Expect::Error(FailureType::SystemError, "without results");
    case(raw_page(body), Some(1), expect).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_11_a_record_whose_id_is_null_blank_or_an_object_is_a_system_error() {
    for id in [json!(null), json!(""), json!({"value": 1}), json!([1])] {
        let broken = json!([{"id": id, "updatedAt": "2024-01-02T00:00:00Z", "properties": {}}]);
        let expect = Expect::Error(FailureType::SystemError, "not a CRM object");
        case(page(broken, None), Some(1), expect).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_11_a_search_page_whose_top_level_is_an_array_is_a_system_error() {
    let (sandbox, stream) = contacts_sandbox().await;
    let array = json!([{"id": "1", "updatedAt": "2024-01-02T00:00:00Z", "properties": {}}]);
    let _guard = sandbox.api().inject_at("/search", raw_page(array), 1);
    let request = ReadRequest::full_refresh("contacts", Partition::whole())
        .starting_at(Some(json!("2020-01-01T00:00:00Z")));
    let err = read_to_end(stream.as_ref(), request, Duration::from_secs(120))
        .await
        .unwrap_err();
    assert_eq!(err.failure_type(), FailureType::SystemError, "{err}");
    assert!(err.chain().contains("not a JSON object"), "{}", err.chain());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_8_owners_from_a_pretty_printed_page_are_one_line_records() {
    let sandbox = Sandbox::start(SandboxSpec::small()).await;
    let owners = HubSpotSource::new()
        .streams(&sandbox.config())
        .await
        .unwrap()
        .into_iter()
        .find(|s| s.name() == "owners")
        .unwrap();
    let page = json!({"results": [
        {"id": "9", "email": "o@x.io", "firstName": "A", "lastName": "B", "userId": 1,
         "createdAt": "2024-01-01T00:00:00Z", "updatedAt": "2024-01-02T00:00:00Z",
         "archived": false, "teams": [{"id": "1", "name": "T\tab", "primary": true}]}
    ]});
    for fault in intake::testing::pretty_answers(&page) {
        let _guard = sandbox.api().inject_at("/crm/v3/owners", fault, 1);
        let mut records = Vec::new();
        for p in owners.partitions().await.unwrap() {
            let request = ReadRequest::full_refresh("owners", p);
            records.extend(
                read_to_end(owners.as_ref(), request, Duration::from_secs(60))
                    .await
                    .unwrap(),
            );
        }
        let injected = records
            .iter()
            .find(|r| r.to_value().unwrap()["id"] == "9")
            .expect("the injected owner");
        assert!(
            !injected.json().contains(['\n', '\r', '\t']),
            "{}",
            injected.json()
        );
        assert_eq!(injected.to_value().unwrap()["teams"][0]["name"], "T\tab");
    }
}
