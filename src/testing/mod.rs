//! The contract test kit (feature `testing`): prove a connector against mock APIs, without
//! credentials.
//!
//! - [`MockApi`] mounts endpoints from records ([`Dataset`]) in every paging style
//!   ([`PageStyle`]), honours incremental filters ([`Filter`]) so incremental reads are tested
//!   for real, injects faults ([`Fault`]: 429 with `Retry-After`, 5xx, delays, truncated
//!   bodies, HTML with 200, dropped connections, 401/403), enforces a rate limit and counts
//!   violations, and records the most requests in flight. [`MockApi::fixtures`] mounts
//!   recorded request -> response files ([`fixtures`]).
//! - [`acceptance`] runs the standard suite on any [`crate::Source`] and reports each check
//!   as passed, failed (with the reason) or skipped (with a reason).
//!
//! Add it to a connector's dev-dependencies:
//! `intake = { version = "...", features = ["testing"] }`.
//!
//! # Example
//! ```
//! use intake::http::{Auth, HttpApi, HttpSource, Paginator, Quota};
//! use intake::testing::{Dataset, Filter, MockApi, PageStyle, acceptance, checks};
//! use schemars::JsonSchema;
//! use intake::Secret;
//! use serde::Deserialize;
//! use serde_json::json;
//!
//! /// Connection settings for the Acme API.
//! #[derive(Deserialize, JsonSchema)]
//! #[serde(deny_unknown_fields)]
//! struct Config {
//!     /// API token.
//!     api_token: Secret,
//!     /// API host.
//!     base_url: String,
//! }
//!
//! fn source() -> HttpSource<Config> {
//!     HttpSource::new("acme", |cfg: &Config| {
//!         let api = HttpApi::parse(&cfg.base_url)?
//!             .auth(Auth::bearer(cfg.api_token.clone()))
//!             .quota(Quota::per_second(9)); // Acme allows 10/s
//!         Ok(vec![
//!             api.stream("customers")
//!                 .get("/v1/customers")
//!                 .query("updated_since", "{cursor}")
//!                 .records_at("/data")
//!                 .paginate(Paginator::cursor_from_body("/next").into_query("cursor"))
//!                 .primary_key("id")
//!                 .cursor("updated_at"),
//!         ])
//!     })
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let api = MockApi::start().await;
//! api.rate_limit(10, std::time::Duration::from_secs(1)); // Acme's documented limit
//! let customers = Dataset::new(
//!     (0..250)
//!         .map(|i| json!({"id": i, "updated_at": format!("2024-01-{:02}T00:00:00Z", 1 + i % 28)}))
//!         .collect(),
//! );
//! api.endpoint("/v1/customers")
//!     .records(customers.clone())
//!     .records_at("/data")
//!     .paginate(PageStyle::cursor("/next", "cursor"))
//!     .filter(Filter::query("updated_since", "updated_at"))
//!     .require_header("authorization", "Bearer good-token")
//!     .mount()
//!     .await;
//! let report = acceptance(source(), json!({"api_token": "good-token", "base_url": api.uri()}))
//!     .mock(&api)
//!     .expect_records("customers", 250)
//!     .change_between_reads(move || {
//!         let customers = customers.clone();
//!         async move {
//!             customers.push(json!({"id": 999, "updated_at": "2024-03-01T00:00:00Z"}));
//!             vec![("customers".to_string(), json!(999))]
//!         }
//!     })
//!     .skip(checks::CONCURRENCY, "Acme limits requests per second, not connections")
//!     .run()
//!     .await;
//! report.assert_all_passed();
//! # }
//! ```

mod acceptance;
mod cassette;
pub mod fixtures;
mod mock;

pub use acceptance::{Acceptance, AcceptanceReport, CheckResult, Outcome, acceptance, checks};
pub use cassette::{Cassette, Replay};
pub use mock::{Answer, Dataset, Endpoint, Fault, FaultGuard, Filter, MockApi, PageStyle, Served};

/// The same JSON answer three ways an API may format it: pretty-printed, pretty with CRLF line
/// ends, and tab-indented, each as a [`Fault::Raw`] 200. A connector must give one-line
/// records from all three (a protocol message is one line).
pub fn pretty_answers(answer: &serde_json::Value) -> Vec<Fault> {
    let pretty = serde_json::to_string_pretty(answer).unwrap_or_default();
    [
        pretty.clone(),
        pretty.replace('\n', "\r\n"),
        pretty.replace("  ", "\t"),
    ]
    .into_iter()
    .map(|body| Fault::Raw {
        status: 200,
        content_type: "application/json".into(),
        body,
    })
    .collect()
}

/// Asserts how a fault case ended: with `Ok(())` expected, every one of `count` records read
/// exactly once (told apart by their `key` field); with `Err((kind, says))`, one error of that
/// kind whose message chain contains `says`.
///
/// # Panics
/// When the outcome is not the expected one (this is an assertion for tests).
pub fn assert_fault_outcome(
    outcome: &crate::Result<Vec<crate::Record>>,
    key: &str,
    count: usize,
    expect: Result<(), (crate::FailureType, &str)>,
) {
    match (expect, outcome) {
        (Ok(()), Ok(records)) => {
            let mut keys: Vec<String> = records
                .iter()
                .map(|r| {
                    r.to_value()
                        .map(|v| v[key].to_string())
                        .unwrap_or_else(|e| panic!("an unreadable record: {e}"))
                })
                .collect();
            keys.sort();
            keys.dedup();
            assert_eq!(keys.len(), records.len(), "each record once");
            assert_eq!(records.len(), count, "every record");
        }
        (Err((kind, says)), Err(e)) => {
            assert_eq!(e.failure_type(), kind, "{e}");
            assert!(e.chain().contains(says), "{}", e.chain());
        }
        (Ok(()), Err(e)) => panic!("expected success, failed: {}", e.chain()),
        (Err(_), Ok(records)) => panic!("expected an error, read {} records", records.len()),
    }
}

/// Reads one partition of a stream to its end, as a test does: every record, or the first
/// error; a read that takes longer than `limit` is a system error ("hung") instead of a test
/// that never ends.
pub async fn read_to_end(
    stream: &dyn crate::Stream,
    request: crate::ReadRequest,
    limit: std::time::Duration,
) -> crate::Result<Vec<crate::Record>> {
    use futures::StreamExt;
    let name = stream.name().to_string();
    let read = async {
        let mut pages = stream.read(request);
        let mut records = Vec::new();
        while let Some(page) = pages.next().await {
            records.extend(page?.records);
        }
        Ok(records)
    };
    tokio::time::timeout(limit, read).await.map_err(|_| {
        crate::Error::system(format!(
            "stream \"{name}\" did not finish within {limit:?}: it hung"
        ))
    })?
}
