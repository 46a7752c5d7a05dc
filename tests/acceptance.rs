//! The acceptance suite on the SDK's examples — the REST example passes every check, the
//! in-memory example passes what applies to it — and on broken connectors, which fail the
//! check that names their defect.

#[path = "../examples/custom_source.rs"]
#[allow(dead_code)]
mod custom_source;
#[path = "../examples/rest_source.rs"]
#[allow(dead_code)]
mod rest_source;

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
        .skip(checks::CHECK_UNAUTHORIZED, no_http)
        .skip(checks::CHECK_FORBIDDEN, no_http)
        .skip(checks::RETRIES, no_http)
        .skip(checks::RATE_LIMIT, no_http)
        .skip(checks::CONCURRENCY, no_http)
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

/// A small source whose defects the tests choose.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Config {
    /// Token.
    api_token: Secret,
    /// Host.
    base_url: String,
}

#[derive(Clone, Copy, Default)]
struct Defects {
    ignores_cursor: bool,
    /// Reads the first page only (no paginator).
    first_page_only: bool,
    /// Declares a cursor field its records do not carry.
    phantom_cursor: bool,
    no_retries: bool,
    logs_token: bool,
    /// Logs its token base64-encoded (as a Basic header would carry it).
    logs_token_base64: bool,
    too_fast: bool,
}

fn broken(defects: Defects) -> HttpSource<Config> {
    HttpSource::new("broken", move |cfg: &Config| {
        if defects.logs_token {
            tracing::info!("connecting with token {}", cfg.api_token.expose_secret());
        }
        if defects.logs_token_base64 {
            let encoded = base64_of(cfg.api_token.expose_secret());
            tracing::info!("authorization: Basic {encoded}");
        }
        let mut api = HttpApi::parse(&cfg.base_url)?.auth(Auth::bearer(cfg.api_token.clone()));
        if defects.no_retries {
            api = api.retry(RetryPolicy::none());
        }
        if !defects.too_fast {
            api = api.quota(intake::http::Quota::per_second(9));
        }
        let mut stream = api
            .stream("items")
            .get("/items")
            .records_at("/results")
            .primary_key("id")
            .cursor(if defects.phantom_cursor {
                "modified_at"
            } else {
                "updated_at"
            })
            .schema(json!({"type": "object", "properties": {"id": {"type": "integer"}, "updated_at": {"type": "string"}}}));
        if !defects.ignores_cursor {
            stream = stream.query("since", "{cursor}");
        }
        if !defects.first_page_only {
            stream = stream.paginate(Paginator::cursor_from_body("/next").into_query("after"));
        }
        Ok(vec![stream])
    })
}

/// Standard base64 (RFC 4648, padded), as a connector would encode a credential.
fn base64_of(text: &str) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in text.as_bytes().chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ABC[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

async fn items_api() -> MockApi {
    let api = MockApi::start().await;
    api.rate_limit(10, Duration::from_secs(1));
    let items = Dataset::new(
        (0..25)
            .map(|i| json!({"id": i, "updated_at": format!("2024-05-{:02}T00:00:00Z", 1 + i)}))
            .collect(),
    );
    api.endpoint("/items")
        .records(items)
        .page_size(10)
        .paginate(PageStyle::cursor("/next", "after"))
        .filter(Filter::query("since", "updated_at"))
        .require_header("authorization", "Bearer tok-1234")
        .mount()
        .await;
    api
}

async fn run_broken(defects: Defects) -> AcceptanceReport {
    let api = items_api().await;
    let config = json!({"api_token": "tok-1234", "base_url": api.uri()});
    let report = acceptance(broken(defects), config)
        .mock(&api)
        .skip(
            checks::INCREMENTAL_CHANGES,
            "changes are proved on the REST example",
        )
        .skip(
            checks::CONCURRENCY,
            "the connector declares no concurrency cap",
        )
        .run()
        .await;
    println!("{report}");
    report
}

#[tokio::test]
async fn a_good_small_connector_passes() {
    let report = run_broken(Defects::default()).await;
    report.assert_all_passed();
}

/// Hole 2: with a mock attached, the full refresh is compared with every record the mock
/// holds, whether or not the test set an expected count.
#[tokio::test]
async fn a_connector_reading_only_its_first_page_fails_the_full_refresh() {
    let report = run_broken(Defects {
        first_page_only: true,
        ..Default::default()
    })
    .await;
    let full = report.outcome(checks::FULL_REFRESH).unwrap();
    assert!(
        matches!(full, Outcome::Failed(m) if m.contains("items: read 10 of the 25 record(s) the mock's /items holds")),
        "{report}"
    );
}

/// Hole 3: a cursor no record carries leaves no cursor in the state: the incremental and
/// future-state checks fail instead of passing on nothing.
#[tokio::test]
async fn a_cursor_no_record_carries_fails_the_incremental_checks() {
    let report = run_broken(Defects {
        phantom_cursor: true,
        ..Default::default()
    })
    .await;
    let inc = report.outcome(checks::INCREMENTAL).unwrap();
    assert!(
        matches!(inc, Outcome::Failed(m) if m.contains("declares the cursor \"modified_at\"") && m.contains("holds no cursor")),
        "{report}"
    );
    assert_outcome(&report, checks::FUTURE_STATE, "fail");
    assert_outcome(&report, checks::FULL_REFRESH, "pass");
}

#[tokio::test]
async fn a_connector_that_ignores_its_cursor_fails_the_incremental_checks() {
    let report = run_broken(Defects {
        ignores_cursor: true,
        ..Defects::default()
    })
    .await;
    assert_outcome(&report, checks::INCREMENTAL, "fail");
    assert_outcome(&report, checks::FUTURE_STATE, "fail");
    assert_outcome(&report, checks::FULL_REFRESH, "pass");
}

#[tokio::test]
async fn a_connector_without_retries_fails_the_retry_check() {
    let report = run_broken(Defects {
        no_retries: true,
        ..Defects::default()
    })
    .await;
    assert_outcome(&report, checks::RETRIES, "fail");
}

#[tokio::test]
async fn a_connector_that_logs_its_token_fails_the_secrets_check() {
    let report = run_broken(Defects {
        logs_token: true,
        ..Defects::default()
    })
    .await;
    assert_outcome(&report, checks::SECRETS, "fail");
    // The report names the leak without repeating the secret.
    assert!(!report.to_string().contains("tok-1234"), "{report}");
}

/// Hole 8: a secret is looked for in its encodings too, not only as it is.
#[tokio::test]
async fn a_connector_that_logs_its_token_base64_encoded_fails_the_secrets_check() {
    assert_eq!(base64_of("tok-1234"), "dG9rLTEyMzQ=");
    let report = run_broken(Defects {
        logs_token_base64: true,
        ..Default::default()
    })
    .await;
    let secrets = report.outcome(checks::SECRETS).unwrap();
    assert!(
        matches!(secrets, Outcome::Failed(m) if m.contains("/api_token")),
        "{report}"
    );
}

#[tokio::test]
async fn a_connector_without_a_quota_breaks_the_mocks_rate_limit() {
    let report = run_broken(Defects {
        too_fast: true,
        ..Defects::default()
    })
    .await;
    assert_outcome(&report, checks::RATE_LIMIT, "fail");
}

/// A config whose secret is a plain string: the spec check must notice.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct LeakyConfig {
    /// Not marked secret.
    api_key: String,
    /// Host.
    base_url: String,
}

#[tokio::test]
async fn an_unmarked_secret_field_fails_the_spec_check_and_skips_are_reported() {
    let api = items_api().await;
    let source = HttpSource::new("leaky", |cfg: &LeakyConfig| {
        let api = HttpApi::parse(&cfg.base_url)?
            .auth(Auth::bearer(SecretString::from(cfg.api_key.clone())))
            .quota(intake::http::Quota::per_second(9));
        Ok(vec![
            api.stream("items")
                .get("/items")
                .records_at("/results")
                .primary_key("id")
                .paginate(Paginator::cursor_from_body("/next").into_query("after"))
                .schema(json!({"type": "object", "properties": {"id": {"type": "integer"}}})),
        ])
    });
    let report = acceptance(
        source,
        json!({"api_key": "tok-1234", "base_url": api.uri()}),
    )
    .mock(&api)
    .skip(
        checks::RESUME,
        "resuming is covered by the connector's own tests",
    )
    .run()
    .await;
    let spec = report.outcome(checks::SPEC).unwrap();
    assert!(
        matches!(spec, Outcome::Failed(m) if m.contains("/api_key")),
        "{spec:?}"
    );
    assert_eq!(
        report.outcome(checks::RESUME),
        Some(&Outcome::Skipped(
            "resuming is covered by the connector's own tests".into()
        ))
    );
    assert_outcome(&report, checks::INCREMENTAL, "n/a");
}

#[tokio::test]
async fn a_hanging_connector_fails_its_checks_instead_of_hanging_the_test() {
    let api = items_api().await;
    let _stall = api.inject_always(intake::testing::Fault::Delay(Duration::from_secs(3)));
    let source = HttpSource::new("stalls", |cfg: &Config| {
        let api = HttpApi::parse(&cfg.base_url)?
            .auth(Auth::bearer(cfg.api_token.clone()))
            .timeout(None);
        Ok(vec![
            api.stream("items")
                .get("/items")
                .records_at("/results")
                .primary_key("id")
                .schema(json!({"type": "object", "properties": {"id": {"type": "integer"}}})),
        ])
    });
    let report = acceptance(
        source,
        json!({"api_token": "tok-1234", "base_url": api.uri()}),
    )
    .mock(&api)
    .timeout(Duration::from_millis(300))
    .skip(checks::SECRETS, "covered by the other tests")
    .run()
    .await;
    let check = report.outcome(checks::CHECK).unwrap();
    assert!(
        matches!(check, Outcome::Failed(m) if m.contains("did not answer within")),
        "{report}"
    );
    let full = report.outcome(checks::FULL_REFRESH).unwrap();
    assert!(
        matches!(full, Outcome::Failed(m) if m.contains("did not finish within")),
        "{report}"
    );
}
