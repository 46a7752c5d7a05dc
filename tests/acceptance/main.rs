//! The acceptance suite on the SDK's examples — the REST example passes every check, the
//! in-memory example passes what applies to it — and on broken connectors, which fail the
//! check that names their defect.

#[path = "../../examples/custom_source.rs"]
#[allow(dead_code)]
mod custom_source;
#[path = "../../examples/rest_source.rs"]
#[allow(dead_code)]
mod rest_source;

#[path = "../support/mod.rs"]
mod support;

mod broken;
mod limits;
mod partitioned;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use intake::Secret;
use intake::http::{Auth, HttpApi, HttpSource, Paginator, RetryPolicy};
use intake::testing::{
    AcceptanceReport, Dataset, Filter, MockApi, Outcome, PageStyle, acceptance, checks,
};
use schemars::JsonSchema;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::json;

fn assert_outcome(report: &AcceptanceReport, check: &str, want: &str) {
    let got = report
        .outcome(check)
        .unwrap_or_else(|| panic!("no {check} in\n{report}"));
    let ok = matches!(
        (want, got),
        ("pass", Outcome::Passed(_))
            | ("fail", Outcome::Failed(_))
            | ("skip", Outcome::Skipped(_))
            | ("n/a", Outcome::NotApplicable(_))
            | ("unchecked", Outcome::Unchecked(_))
    );
    assert!(ok, "{check}: wanted {want}, got {got:?}\n{report}");
}

#[tokio::test]
async fn the_rest_example_passes_every_check() {
    let data = rest_source::customers();
    let api = rest_source::mock_api(&data).await;
    api.hold(Duration::from_millis(150));
    let changed = data.clone();
    let report = acceptance(rest_source::source(), rest_source::config(&api))
        .mock(&api)
        .expect_records("customers", 430)
        .expect_records("invoices", 155)
        .max_concurrency(rest_source::MAX_CONCURRENCY as u64)
        .change_between_reads(move || {
            let data = changed.clone();
            async move {
                data.update(|rows| rows[3]["updated_at"] = json!("2024-06-01T00:00:00Z"));
                data.push(
                    json!({"id": 5000, "name": "late", "updated_at": "2024-06-02T00:00:00Z"}),
                );
                vec![
                    ("customers".to_string(), json!(3)),
                    ("customers".to_string(), json!(5000)),
                ]
            }
        })
        .run()
        .await;
    println!("{report}");
    report.assert_all_passed();
    for check in checks::ALL {
        assert_outcome(&report, check, "pass");
    }
    // The counters saw real traffic: requests overlapped, up to the cap.
    assert_eq!(api.max_in_flight(), rest_source::MAX_CONCURRENCY as u64);
}

#[tokio::test]
async fn the_in_memory_example_passes_what_applies_and_says_why_the_rest_was_skipped() {
    let shop = custom_source::Shop {
        api: Arc::new(Mutex::new(
            (1..=9)
                .map(|i| json!({"id": i, "total": i * 10, "updated_at": format!("2024-03-0{i}T12:00:00Z")}))
                .collect(),
        )),
    };
    let api = shop.api.clone();
    let no_http = "an in-memory source: it has no HTTP API to fail, limit or slow down";
    let report = acceptance(shop, json!({}))
        .change_between_reads(move || {
            let api = api.clone();
            async move {
                api.lock()
                    .unwrap()
                    .push(json!({"id": 10, "total": 100, "updated_at": "2024-03-10T12:00:00Z"}));
                vec![("orders".to_string(), json!(10))]
            }
        })
        .without_http(no_http)
        .run()
        .await;
    println!("{report}");
    report.assert_all_passed();
    for check in [
        checks::SPEC,
        checks::CHECK,
        checks::DISCOVER,
        checks::FULL_REFRESH,
        checks::PRIMARY_KEYS,
        checks::INCREMENTAL,
        checks::INCREMENTAL_CHANGES,
        checks::FUTURE_STATE,
        checks::RESUME,
    ] {
        assert_outcome(&report, check, "pass");
    }
    for check in [
        checks::CHECK_UNAUTHORIZED,
        checks::RETRIES,
        checks::RATE_LIMIT,
    ] {
        assert_eq!(
            report.outcome(check),
            Some(&Outcome::Skipped(no_http.into()))
        );
    }
    assert_outcome(&report, checks::SECRETS, "n/a");
}

/// Hole 1: a check that could not run is not a pass. Without a mock or the declared skips the
/// same source fails the suite, each unchecked check saying what the test must add.
#[tokio::test]
async fn an_undeclared_skip_fails_the_suite() {
    let shop = custom_source::Shop {
        api: Arc::new(Mutex::new(vec![
            json!({"id": 1, "total": 10, "updated_at": "2024-03-01T12:00:00Z"}),
        ])),
    };
    let report = acceptance(shop, json!({})).run().await;
    assert!(!report.all_passed(), "{report}");
    assert_eq!(
        report.outcome(checks::RETRIES),
        Some(&Outcome::Unchecked(
            "no mock API given (Acceptance::mock)".into()
        ))
    );
    assert_outcome(&report, checks::INCREMENTAL_CHANGES, "unchecked");
    let shown = report.to_string();
    assert!(shown.contains("UNCHECKED retries"), "{shown}");
    assert!(
        report
            .failures()
            .iter()
            .any(|c| c.name == checks::CONCURRENCY),
        "{report}"
    );
}
