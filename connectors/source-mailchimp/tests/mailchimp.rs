//! The Mailchimp source against the sandbox (a wiremock model of Marketing API v3): the
//! acceptance suite, then per-list state, the connection cap, lying totals, problem+json
//! errors, datacenters, OAuth and the edge's HTML pages.

use std::sync::Arc;
use std::time::Duration;

use intake::destination::jsonl::JsonlDestination;
use intake::testing::{Fault, acceptance, checks};
use intake::{Source, State};
use intake_source_mailchimp::MailchimpSource;
use intake_source_mailchimp::mock::{Sandbox, SandboxSpec};
use serde_json::{Value, json};

/// Every stream the source has: the suite expects records from each.
const STREAMS: [&str; 13] = [
    "lists",
    "list_members",
    "merge_fields",
    "segments",
    "segment_members",
    "interest_categories",
    "interests",
    "tags",
    "campaigns",
    "reports",
    "email_activity",
    "unsubscribes",
    "automations",
];

fn dir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!(
        "intake-mailchimp-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn lines(dir: &std::path::Path, stream: &str) -> Vec<Value> {
    std::fs::read_to_string(dir.join(format!("{stream}.jsonl")))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The suite every Mailchimp test runs, live or replayed: records from every stream, a
/// change between reads (three members of the second list touched, one campaign created; the
/// sandbox is deterministic, so a replay expects the keys the recording touched), and the
/// connection cap checked instead of a request rate.
fn suite(sandbox: &Arc<Sandbox>, config: Value) -> intake::testing::Acceptance<'static> {
    let changed = sandbox.clone();
    let list = sandbox.lists()[1].clone();
    let mut suite = acceptance(MailchimpSource::new(), config).max_concurrency(10);
    for stream in STREAMS {
        suite = suite.expect_records(stream, sandbox.expected(stream));
    }
    suite
        .change_between_reads(move || {
            let mut keys: Vec<(String, Value)> = changed
                .touch_members(&list, 3)
                .into_iter()
                .map(|id| ("list_members".to_string(), json!([list.clone(), id])))
                .collect();
            keys.push(("campaigns".into(), json!(changed.create_campaign())));
            async move { keys }
        })
        .skip(
            checks::RATE_LIMIT,
            "Mailchimp has no request-rate limit, only 10 simultaneous connections (checked by concurrency)",
        )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_acceptance_suite_passes_against_the_sandbox() {
    let sandbox = Arc::new(Sandbox::start(SandboxSpec::default()).await);
    // Answers take 20 ms, so concurrent requests overlap and the cap is measured.
    sandbox.api().hold(Duration::from_millis(20));
    suite(&sandbox, sandbox.config())
        .mock(sandbox.api())
        .run()
        .await
        .assert_all_passed();
    assert_eq!(sandbox.api().violations(), 0, "never an 11th connection");
}

#[tokio::test]
async fn a_member_changed_in_one_list_is_the_only_record_read_next_time() {
    let sandbox = Sandbox::start(SandboxSpec::default()).await;
    let first = dir();
    let report = intake::sync(MailchimpSource::new(), sandbox.config())
        .streams(["list_members"])
        .to(JsonlDestination::new(&first))
        .run()
        .await
        .unwrap();
    let total: usize = sandbox.lists().iter().map(|l| sandbox.members(l)).sum();
    assert_eq!(lines(&first, "list_members").len(), total);
    // One state entry per list.
    let blob = report
        .state
        .stream(&intake::StreamDescriptor::new("list_members"))
        .cloned()
        .unwrap();
    let state: State = report.state.clone();
    assert_eq!(
        blob["partitions"].as_array().map(Vec::len),
        Some(sandbox.lists().len()),
        "{blob}"
    );
    let list = sandbox.lists()[2].clone();
    let changed = sandbox.touch_members(&list, 1);
    let second = dir();
    intake::sync(MailchimpSource::new(), sandbox.config())
        .streams(["list_members"])
        .state(state)
        .to(JsonlDestination::new(&second))
        .run()
        .await
        .unwrap();
    let read = lines(&second, "list_members");
    let ids: Vec<(&str, &str)> = read
        .iter()
        .map(|r| (r["list_id"].as_str().unwrap(), r["id"].as_str().unwrap()))
        .collect();
    assert_eq!(ids, vec![(list.as_str(), changed[0].as_str())]);
    assert_eq!(read[0]["merge_fields"]["FNAME"], "Changed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn never_more_connections_than_the_cap_across_streams_and_partitions() {
    let sandbox = Sandbox::start(SandboxSpec {
        members: vec![300; 6],
        ..SandboxSpec::default()
    })
    .await;
    sandbox.api().hold(Duration::from_millis(60));
    for cap in [3, 10] {
        let mut config = sandbox.config();
        config["concurrency"] = json!(cap);
        config["page_size"] = json!(100);
        let before = sandbox.api().requests();
        intake::sync(MailchimpSource::new(), config)
            .options(intake::ReadOptions {
                max_concurrency: 16,
                ..Default::default()
            })
            .to(JsonlDestination::new(dir()))
            .run()
            .await
            .unwrap();
        assert!(sandbox.api().requests() - before > 40);
        assert!(
            sandbox.api().max_in_flight() <= cap,
            "{} in flight with a cap of {cap}",
            sandbox.api().max_in_flight()
        );
    }
    assert_eq!(
        sandbox.api().max_in_flight(),
        10,
        "the cap is used, not just respected"
    );
    assert_eq!(sandbox.api().violations(), 0);
}

#[tokio::test]
async fn totals_that_overstate_the_records_end_on_a_short_or_empty_page() {
    let sandbox = Sandbox::start(SandboxSpec {
        members: vec![250],
        overstated_totals: true,
        ..SandboxSpec::default()
    })
    .await;
    let mut config = sandbox.config();
    config["page_size"] = json!(100);
    let out = dir();
    let before = sandbox.api().requests();
    intake::sync(MailchimpSource::new(), config.clone())
        .streams(["list_members", "automations"])
        .to(JsonlDestination::new(&out))
        .run()
        .await
        .unwrap();
    assert_eq!(lines(&out, "list_members").len(), 250);
    assert_eq!(lines(&out, "automations").len(), 2);
    // Discovery (lists and merge fields for the members' schema) 2, lists for the partitions
    // 1, members 3 pages (the short third page ends it, not the total), automations 1.
    assert_eq!(sandbox.api().requests() - before, 7);

    // Exactly a page's worth with a total 5 too high: an empty page ends it.
    let exact = Sandbox::start(SandboxSpec {
        members: vec![200],
        overstated_totals: true,
        ..SandboxSpec::default()
    })
    .await;
    let mut config = exact.config();
    config["page_size"] = json!(100);
    let out = dir();
    intake::sync(MailchimpSource::new(), config)
        .streams(["list_members"])
        .to(JsonlDestination::new(&out))
        .run()
        .await
        .unwrap();
    assert_eq!(lines(&out, "list_members").len(), 200);
}

#[tokio::test]
async fn problem_json_errors_are_quoted_and_keys_name_their_datacenter() {
    let sandbox = Sandbox::start(SandboxSpec {
        members: vec![10],
        ..SandboxSpec::default()
    })
    .await;
    let _fault = sandbox.api().inject(
        Fault::Json {
            status: 400,
            body: json!({"type": "https://mailchimp.com/developer/marketing/docs/errors/",
                         "title": "Invalid Resource", "status": 400,
                         "detail": "The resource submitted could not be validated.",
                         "instance": "a1b2c3d4-0000-1111-2222-333344445555"}),
        },
        1,
    );
    let err = MailchimpSource::new()
        .check(&sandbox.config())
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("Invalid Resource"), "{text}");
    assert!(text.contains("could not be validated"), "{text}");
    assert!(
        text.contains("a1b2c3d4-0000-1111-2222-333344445555"),
        "{text}"
    );

    // A key for another datacenter: a config error naming it.
    let mut config = sandbox.config();
    config["credentials"]["apikey"] = json!("0123456789abcdef0123456789abcdef-us7");
    let err = MailchimpSource::new().check(&config).await.unwrap_err();
    assert!(err.is_config(), "{err}");
    assert!(err.message().contains("us7"), "{err}");
    assert!(err.message().contains("datacenter"), "{err}");
    // An invalid key: a config error, and the key is never echoed.
    config["credentials"]["apikey"] = json!("ffffffffffffffffffffffffffffffff-us6");
    let err = MailchimpSource::new().check(&config).await.unwrap_err();
    assert!(err.is_config(), "{err}");
    assert!(err.message().contains("API Key Invalid"), "{err}");
    assert!(!err.chain().contains("ffffffffffffffff"), "{}", err.chain());
    // No datacenter suffix at all: said before any request.
    config["credentials"]["apikey"] = json!("0123456789abcdef0123456789abcdef");
    let err = MailchimpSource::new().check(&config).await.unwrap_err();
    assert!(
        err.is_config() && err.message().contains("datacenter suffix"),
        "{err}"
    );
}

#[tokio::test]
async fn oauth_tokens_find_their_datacenter_from_the_metadata() {
    let sandbox = Sandbox::start(SandboxSpec {
        members: vec![30],
        ..SandboxSpec::default()
    })
    .await;
    MailchimpSource::new()
        .check(&sandbox.oauth_config())
        .await
        .unwrap();
    let out = dir();
    intake::sync(MailchimpSource::new(), sandbox.oauth_config())
        .streams(["lists", "list_members"])
        .to(JsonlDestination::new(&out))
        .run()
        .await
        .unwrap();
    assert_eq!(lines(&out, "list_members").len(), 30);
    let mut bad = sandbox.oauth_config();
    bad["credentials"]["access_token"] = json!("revoked");
    let err = MailchimpSource::new().check(&bad).await.unwrap_err();
    assert!(err.is_config(), "{err}");
    assert!(err.message().contains("api_endpoint"), "{err}");
}

#[tokio::test]
async fn a_campaign_without_a_report_is_skipped_with_a_warning() {
    let sandbox = Sandbox::start(SandboxSpec {
        members: vec![60],
        ..SandboxSpec::default()
    })
    .await;
    let out = dir();
    let report = intake::sync(MailchimpSource::new(), sandbox.config())
        .streams(["email_activity", "unsubscribes"])
        .to(JsonlDestination::new(&out))
        .run()
        .await
        .unwrap();
    let rows = lines(&out, "email_activity");
    assert_eq!(rows.len() as u64, sandbox.expected("email_activity"));
    assert!(
        rows.iter()
            .all(|r| r["action"].is_string() && r["email_id"].is_string())
    );
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w.contains("has no report (404)")),
        "{:?}",
        report.warnings
    );
}

#[tokio::test]
async fn an_html_error_page_from_the_edge_is_retried_not_a_parse_crash() {
    let sandbox = Sandbox::start(SandboxSpec {
        members: vec![10],
        ..SandboxSpec::default()
    })
    .await;
    let _fault = sandbox.api().inject(
        Fault::Raw {
            status: 503,
            content_type: "text/html".into(),
            body: "<HTML><HEAD><TITLE>Request Blocked</TITLE></HEAD><BODY>Reference #18.abc</BODY></HTML>".into(),
        },
        1,
    );
    let _forbidden = sandbox.api().inject(
        Fault::Raw {
            status: 403,
            content_type: "text/html".into(),
            body: "<HTML><BODY>Access Denied</BODY></HTML>".into(),
        },
        1,
    );
    let out = dir();
    intake::sync(MailchimpSource::new(), sandbox.config())
        .streams(["lists"])
        .to(JsonlDestination::new(&out))
        .run()
        .await
        .unwrap();
    assert_eq!(lines(&out, "lists").len(), 1);
}

#[tokio::test]
async fn members_merge_fields_are_typed_from_the_lists_merge_fields() {
    let sandbox = Sandbox::start(SandboxSpec {
        members: vec![40, 20],
        ..SandboxSpec::default()
    })
    .await;
    let streams = MailchimpSource::new()
        .streams(&sandbox.config())
        .await
        .unwrap();
    let members = streams.iter().find(|s| s.name() == "list_members").unwrap();
    let schema = members.json_schema().await.unwrap();
    let merge = &schema["properties"]["merge_fields"]["properties"];
    assert_eq!(merge["LTV"]["type"], json!(["null", "number"]));
    assert_eq!(merge["ADDRESS"]["type"], json!(["null", "object"]));
    assert_eq!(merge["FNAME"]["type"], json!(["null", "string"]));
    let out = dir();
    intake::sync(MailchimpSource::new(), sandbox.config())
        .streams(["list_members"])
        .to(JsonlDestination::new(&out))
        .run()
        .await
        .unwrap();
    let rows = lines(&out, "list_members");
    // "" for an unset number, address or date is null; no `_links`.
    assert!(rows.iter().any(|r| r["merge_fields"]["LTV"].is_null()));
    assert!(
        rows.iter()
            .all(|r| r["merge_fields"]["LTV"].is_null() || r["merge_fields"]["LTV"].is_number())
    );
    assert!(rows.iter().all(
        |r| r["merge_fields"]["ADDRESS"].is_null() || r["merge_fields"]["ADDRESS"].is_object()
    ));
    assert!(rows.iter().any(|r| r["timestamp_signup"].is_null()));
    assert!(rows.iter().all(|r| r.get("_links").is_none()));
}

/// A small account, so the shipped cassette stays reviewable; pages of 10 so it holds
/// pagination.
fn cassette_sandbox_spec() -> SandboxSpec {
    SandboxSpec {
        members: vec![30, 12],
        campaigns: 3,
        emails_per_campaign: 4,
        overstated_totals: false,
    }
}

/// The shipped cassette (`tests/cassettes/sandbox`, recorded from the sandbox standing in for
/// the real API) replays under the whole acceptance suite. To record it again (after the
/// connector's requests change): `INTAKE_RECORD=1 cargo test -p intake-source-mailchimp
/// --test mailchimp the_shipped_cassette`. Against a real account, point the config at it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shipped_cassette_replays_under_the_acceptance_suite() {
    let sandbox = Arc::new(Sandbox::start(cassette_sandbox_spec()).await);
    let mut config = sandbox.config();
    config["page_size"] = json!(10);
    suite(&sandbox, config)
        .cassette(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/cassettes/sandbox"
        ))
        .run()
        .await
        .assert_all_passed();
}
