//! The HubSpot source against the sandbox (a wiremock model of CRM v3 with generated data):
//! the acceptance suite, then each behaviour the API forces on a connector.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use intake::destination::jsonl::JsonlDestination;
use intake::source::StreamContext;
use intake::testing::{Fault, acceptance};
use intake::{Partition, ReadRequest, Record, Source, Stream, SyncMode};
use intake_source_hubspot::mock::{CARS_TYPE_ID, Sandbox, SandboxSpec};
use intake_source_hubspot::{HubSpotConfig, HubSpotSource, SEARCH_CAP, api};
use serde_json::{Value, json};

async fn stream(config: &Value, name: &str) -> Arc<dyn Stream> {
    HubSpotSource::new()
        .streams(config)
        .await
        .unwrap()
        .into_iter()
        .find(|s| s.name() == name)
        .unwrap_or_else(|| panic!("no stream {name}"))
}

/// Every record of a read of every partition, as JSON.
async fn read_all(stream: &dyn Stream, request: ReadRequest) -> intake::Result<Vec<Value>> {
    let mut out = Vec::new();
    for partition in stream.partitions().await? {
        let mut request = request.clone();
        request.partition = partition;
        let mut pages = stream.read(request);
        while let Some(page) = pages.next().await {
            out.extend(page?.records.iter().map(|r: &Record| r.to_value().unwrap()));
        }
    }
    Ok(out)
}

fn full(name: &str) -> ReadRequest {
    ReadRequest::full_refresh(name, Partition::whole())
}

fn since(name: &str, start: &str) -> ReadRequest {
    full(name).starting_at(Some(json!(start)))
}

fn ids(records: &[Value]) -> Vec<String> {
    records
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_acceptance_suite_passes_against_the_sandbox() {
    let sandbox = Arc::new(
        Sandbox::start(SandboxSpec {
            // A Professional portal: 190 requests per 10 seconds.
            requests_per_10_seconds: 190,
            ..SandboxSpec::default()
        })
        .await,
    );
    let total = |object: &str| (sandbox.count(object, false) + sandbox.count(object, true)) as u64;
    let changed = sandbox.clone();
    acceptance(HubSpotSource::new(), sandbox.config())
        .mock(sandbox.api())
        .expect_records("contacts", total("contacts"))
        .expect_records("companies", total("companies"))
        .expect_records("deals", total("deals"))
        .expect_records("engagements_notes", total("notes"))
        .expect_records("cars", total(CARS_TYPE_ID))
        .expect_records("owners", sandbox.owners() as u64)
        .expect_records("deal_pipelines", 2)
        .change_between_reads(move || {
            let mut keys: Vec<(String, Value)> = Vec::new();
            for id in changed.touch("contacts", 3) {
                keys.push(("contacts".into(), json!(id)));
            }
            for id in changed.create("deals", 2) {
                keys.push(("deals".into(), json!(id)));
            }
            async move { keys }
        })
        .run()
        .await
        .assert_all_passed();
    assert_eq!(sandbox.search_violations(), 0, "search stayed under 4/s");
}

#[tokio::test]
async fn property_values_are_cast_to_their_discovered_types() {
    let sandbox = Sandbox::start(SandboxSpec::small()).await;
    let contacts = stream(&sandbox.config(), "contacts").await;
    let schema = contacts.json_schema().await.unwrap();
    let props = &schema["properties"];
    assert_eq!(
        props["properties_annualrevenue"]["type"],
        json!(["null", "number"])
    );
    assert_eq!(
        props["properties_hs_email_optout"]["type"],
        json!(["null", "boolean"])
    );
    assert_eq!(props["properties_date_of_birth"]["format"], json!("date"));
    assert_eq!(props["properties_createdate"]["format"], json!("date-time"));
    // Enumerations, phone numbers and custom properties are strings.
    assert_eq!(
        props["properties_lifecyclestage"]["type"],
        json!(["null", "string"])
    );
    assert_eq!(props["properties_phone"]["type"], json!(["null", "string"]));
    assert_eq!(
        props["properties_favorite_color"]["type"],
        json!(["null", "string"])
    );
    assert_eq!(props["companies"]["type"], json!(["null", "array"]));

    let id = sandbox.ids("contacts")[3].clone();
    let set = |name: &str, v: Option<&str>| sandbox.set_property("contacts", &id, name, v);
    set("annualrevenue", Some(""));
    set("loyalty_points", Some("n/a"));
    set("hs_email_optout", Some("true"));
    set("date_of_birth", Some("1990-05-17"));
    set("createdate", Some("2021-02-23T20:08:49.603000+00:00"));
    set("phone", Some(""));
    let records = read_all(contacts.as_ref(), full("contacts")).await.unwrap();
    let r = records.iter().find(|r| r["id"] == json!(id)).unwrap();
    assert_eq!(
        r["properties_annualrevenue"],
        Value::Null,
        "\"\" for a number is null"
    );
    assert_eq!(
        r["properties_loyalty_points"],
        json!("n/a"),
        "kept as the string it was"
    );
    assert_eq!(r["properties_hs_email_optout"], json!(true));
    assert_eq!(r["properties_date_of_birth"], json!("1990-05-17"));
    assert_eq!(
        r["properties_createdate"],
        json!("2021-02-23T20:08:49.603Z")
    );
    assert_eq!(
        r["properties_phone"],
        json!(""),
        "an empty string stays a string"
    );
    assert_eq!(
        r["properties_hs_object_id"],
        json!(id.parse::<i64>().unwrap())
    );
    // Every number the sandbox generated came back as a number or null, never a string.
    for r in &records {
        let v = &r["properties_annualrevenue"];
        assert!(v.is_number() || v.is_null(), "{v}");
    }
}

#[tokio::test]
async fn a_portal_with_1500_properties_is_read_in_url_sized_chunks_and_merged() {
    let sandbox = Sandbox::start(SandboxSpec {
        contacts: 230,
        extra_contact_properties: 1_500,
        requests_per_10_seconds: 10_000,
        ..SandboxSpec::small()
    })
    .await;
    let contacts = stream(&sandbox.config(), "contacts").await;
    let before = sandbox.api().requests();
    let records = read_all(contacts.as_ref(), full("contacts")).await.unwrap();
    let requests = sandbox.api().requests() - before;
    assert_eq!(
        records.len(),
        sandbox.count("contacts", false) + sandbox.count("contacts", true)
    );
    // Every record carries all 1,500 custom properties (null where unset), merged from chunks.
    for r in &records {
        let custom = r
            .as_object()
            .unwrap()
            .keys()
            .filter(|k| k.starts_with("properties_custom_field_"))
            .count();
        assert_eq!(custom, 1_500, "record {}", r["id"]);
    }
    let id = ids(&records)[7].clone();
    let r = records.iter().find(|r| r["id"] == json!(id)).unwrap();
    for name in [
        "custom_field_0000",
        "custom_field_0777",
        "custom_field_1499",
    ] {
        assert_eq!(
            r[format!("properties_{name}")],
            sandbox
                .property("contacts", &id, name)
                .map(Value::String)
                .unwrap_or(Value::Null),
            "{name}"
        );
    }
    // 3 active pages + 1 archived page, each asked in several chunks (the sandbox answers 414
    // to any URL past 16,000 characters, so one request per page could not work), plus the
    // associations of each active page and the properties call.
    assert!(requests >= 4 * 3, "{requests} requests");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_search_cap_restarts_the_window_so_50000_changes_sync_completely() {
    let sandbox = Sandbox::start(SandboxSpec {
        contacts: 50_000,
        companies: 50,
        requests_per_10_seconds: 1_000_000,
        search_per_second: 1_000_000,
        ..SandboxSpec::small()
    })
    .await;
    let contacts = stream(&sandbox.config(), "contacts").await;
    let records = read_all(contacts.as_ref(), since("contacts", "2023-01-01T00:00:00Z"))
        .await
        .unwrap();
    let got = ids(&records);
    let unique: HashSet<&String> = got.iter().collect();
    assert_eq!(unique.len(), got.len(), "no record twice across windows");
    assert_eq!(
        got.len(),
        sandbox.count("contacts", false),
        "every active contact"
    );
    assert!(got.len() > 4 * SEARCH_CAP as usize);
    // In modification order, as the search sorts them.
    let times: Vec<&str> = records
        .iter()
        .map(|r| r["updatedAt"].as_str().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]));
    // Never a page past the cap: the sandbox would have answered 400 and the read failed.
    assert!(sandbox.search_requests() >= (got.len() / 200) as u64);
}

#[tokio::test]
async fn a_second_incremental_read_picks_up_what_changed_in_between() {
    let sandbox = Sandbox::start(SandboxSpec::small()).await;
    let mut config = sandbox.config();
    config["lookback_minutes"] = json!(0);
    let report = intake::sync(HubSpotSource::new(), config.clone())
        .streams(["contacts", "deals"])
        .to(JsonlDestination::new(tempfile_dir().join("first")))
        .run()
        .await
        .unwrap();
    assert_eq!(
        report.stream("contacts").unwrap().records_written,
        sandbox.count("contacts", false) as u64,
        "the first incremental read is every active contact"
    );
    let state = report.state.clone();
    let mut changed: Vec<String> = sandbox.touch("contacts", 4);
    changed.extend(sandbox.create("contacts", 3));
    let deals = sandbox.touch("deals", 2);
    let dir = tempfile_dir().join("second");
    let report = intake::sync(HubSpotSource::new(), config)
        .streams(["contacts", "deals"])
        .state(state)
        .to(JsonlDestination::new(&dir))
        .run()
        .await
        .unwrap();
    let read = |stream: &str| -> Vec<String> {
        let text = std::fs::read_to_string(dir.join(format!("{stream}.jsonl"))).unwrap_or_default();
        let mut ids: Vec<String> = text
            .lines()
            .map(|l| {
                serde_json::from_str::<Value>(l).unwrap()["id"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        ids.sort();
        ids
    };
    changed.sort();
    assert_eq!(read("contacts"), changed);
    let mut deals = deals;
    deals.sort();
    assert_eq!(read("deals"), deals);
    assert_eq!(report.stream("contacts").unwrap().records_written, 7);
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "intake-hubspot-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test]
async fn associations_are_arrays_of_ids_on_the_record() {
    let sandbox = Sandbox::start(SandboxSpec::small()).await;
    let config = sandbox.config();
    for (name, object, to) in [
        ("contacts", "contacts", vec!["companies"]),
        ("deals", "deals", vec!["contacts", "companies"]),
        ("companies", "companies", vec!["contacts"]),
    ] {
        let s = stream(&config, name).await;
        let full_read = read_all(s.as_ref(), full(name)).await.unwrap();
        let searched = read_all(s.as_ref(), since(name, "2020-01-01T00:00:00Z"))
            .await
            .unwrap();
        let mut with_any = 0;
        for records in [&full_read, &searched] {
            for r in records.iter().filter(|r| r["archived"] == json!(false)) {
                for t in &to {
                    let mut got: Vec<String> = serde_json::from_value(r[*t].clone()).unwrap();
                    let mut want = sandbox.associated(object, r["id"].as_str().unwrap(), t);
                    got.sort();
                    want.sort();
                    with_any += usize::from(!got.is_empty());
                    assert_eq!(got, want, "{name} {} -> {t}", r["id"]);
                }
            }
        }
        assert!(with_any > 0, "{name} has associations");
    }
}

#[tokio::test]
async fn archived_records_owners_pipelines_and_custom_objects_are_read() {
    let sandbox = Sandbox::start(SandboxSpec::small()).await;
    let config = sandbox.config();
    let contacts = read_all(stream(&config, "contacts").await.as_ref(), full("contacts"))
        .await
        .unwrap();
    let archived: Vec<&Value> = contacts
        .iter()
        .filter(|r| r["archived"] == json!(true))
        .collect();
    assert_eq!(archived.len(), sandbox.count("contacts", true));
    assert!(!archived.is_empty());
    assert!(archived.iter().all(|r| r["archivedAt"].is_string()));

    let owners = read_all(stream(&config, "owners").await.as_ref(), full("owners"))
        .await
        .unwrap();
    assert_eq!(owners.len(), sandbox.owners());
    assert!(owners.iter().any(|o| o["archived"] == json!(true)));
    assert!(
        owners
            .iter()
            .all(|o| o["id"].is_string() && o["userId"].is_number())
    );

    let pipelines = read_all(
        stream(&config, "ticket_pipelines").await.as_ref(),
        full("ticket_pipelines"),
    )
    .await
    .unwrap();
    assert_eq!(pipelines.len(), 2);
    assert!(
        pipelines[0]["stages"]
            .as_array()
            .is_some_and(|s| !s.is_empty())
    );

    let cars = stream(&config, "cars").await;
    let schema = cars.json_schema().await.unwrap();
    assert_eq!(
        schema["properties"]["properties_year"]["type"],
        json!(["null", "number"])
    );
    let records = read_all(cars.as_ref(), full("cars")).await.unwrap();
    assert_eq!(
        records.len(),
        sandbox.count(CARS_TYPE_ID, false) + sandbox.count(CARS_TYPE_ID, true)
    );
    assert!(records.iter().all(|r| r["properties_vin"].is_string()));
}

#[tokio::test]
async fn a_missing_scope_skips_that_stream_with_a_warning_and_the_sync_goes_on() {
    let sandbox = Sandbox::start(SandboxSpec::small()).await;
    sandbox.deny_scope("deals");
    sandbox.deny_scope("schemas");
    let config = sandbox.config();
    // Discovery still lists deals (without its properties), and custom objects are left out.
    let catalog = HubSpotSource::new().discover(&config).await.unwrap();
    assert!(catalog.streams.iter().any(|s| s.name == "deals"));
    assert!(!catalog.streams.iter().any(|s| s.name == "cars"));
    let report = intake::sync(HubSpotSource::new(), config)
        .streams(["contacts", "deals", "owners"])
        .to(JsonlDestination::new(tempfile_dir()))
        .run()
        .await
        .unwrap();
    assert_eq!(
        report
            .stream("deals")
            .map(|s| s.records_written)
            .unwrap_or(0),
        0
    );
    assert!(report.stream("contacts").unwrap().records_written > 0);
    assert!(report.stream("owners").unwrap().records_written > 0);
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w.contains("\"deals\" skipped") && w.contains("crm.objects.deals.read")),
        "{:?}",
        report.warnings
    );
}

#[tokio::test]
async fn a_daily_quota_429_stops_at_once_with_a_transient_error() {
    let sandbox = Sandbox::start(SandboxSpec::small()).await;
    let contacts = stream(&sandbox.config(), "contacts").await;
    sandbox.daily_limit(3);
    let before = sandbox.api().requests();
    let err = read_all(contacts.as_ref(), full("contacts"))
        .await
        .unwrap_err();
    assert_eq!(err.failure_type(), intake::FailureType::TransientError);
    assert!(err.message().contains("daily API quota"), "{err}");
    // Three requests served, the fourth refused, and no retry after it.
    assert_eq!(sandbox.api().requests() - before, 4);
}

#[tokio::test(start_paused = true)]
async fn a_ten_secondly_429_waits_ten_seconds_and_retries() {
    let sandbox = Sandbox::start(SandboxSpec::small()).await;
    let cfg: HubSpotConfig = serde_json::from_value(sandbox.config()).unwrap();
    // Paused time with a real socket: no request timeout (the clock jumps while waiting).
    let api = api(&cfg).unwrap().timeout(None);
    let _fault = sandbox.api().inject(
        Fault::Json {
            status: 429,
            body: json!({"status": "error", "message": "You have reached your ten_secondly_rolling limit.",
                         "errorType": "RATE_LIMIT", "correlationId": "c", "policyName": "TEN_SECONDLY_ROLLING"}),
        },
        2,
    );
    let started = tokio::time::Instant::now();
    let owners = api
        .get_json(
            "/crm/v3/owners?limit=100",
            &StreamContext::detached("owners"),
        )
        .await
        .unwrap();
    assert!(owners["results"].as_array().is_some_and(|r| !r.is_empty()));
    assert!(
        started.elapsed() >= Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(sandbox.api().requests(), 3);
}

#[tokio::test]
async fn oauth_refreshes_when_the_access_token_expires_mid_sync() {
    let sandbox = Sandbox::start(SandboxSpec::small()).await;
    let contacts = stream(&sandbox.oauth_config(), "contacts").await;
    let mut pages = contacts.read(full("contacts"));
    let mut n = 0;
    let mut page_no = 0;
    while let Some(page) = pages.next().await {
        n += page.unwrap().records.len();
        page_no += 1;
        if page_no == 1 {
            // Every token issued so far now answers 401 EXPIRED_AUTHENTICATION.
            sandbox.expire_access_tokens();
        }
    }
    assert!(page_no > 2);
    assert_eq!(
        n,
        sandbox.count("contacts", false) + sandbox.count("contacts", true)
    );
    assert_eq!(sandbox.token_requests(), 2, "one token, then one refresh");

    // A refresh token the portal does not know is a config error.
    let mut bad = sandbox.oauth_config();
    bad["credentials"]["refresh_token"] = json!("revoked");
    let err = HubSpotSource::new().check(&bad).await.unwrap_err();
    assert!(err.is_config(), "{err}");
}

#[tokio::test]
async fn check_says_when_the_token_is_invalid() {
    let sandbox = Sandbox::start(SandboxSpec::small()).await;
    HubSpotSource::new().check(&sandbox.config()).await.unwrap();
    let mut bad = sandbox.config();
    bad["credentials"]["access_token"] = json!("pat-na1-wrong");
    let err = HubSpotSource::new().check(&bad).await.unwrap_err();
    assert!(err.is_config(), "{err}");
    assert!(err.message().contains("invalid or expired"), "{err}");
    assert!(
        !err.chain().contains("pat-na1-wrong"),
        "the token is not echoed"
    );
}

#[tokio::test]
async fn a_full_refresh_resumes_from_its_last_page() {
    let sandbox = Sandbox::start(SandboxSpec::small()).await;
    let contacts = stream(&sandbox.config(), "contacts").await;
    let mut pages = contacts.read(full("contacts"));
    let first = pages.next().await.unwrap().unwrap();
    let token = first.resume.clone().expect("a resume token mid-read");
    drop(pages);
    let rest = read_all(contacts.as_ref(), full("contacts").resuming(Some(token)))
        .await
        .unwrap();
    let mut all: Vec<String> = first
        .records
        .iter()
        .map(|r| r.to_value().unwrap()["id"].as_str().unwrap().to_string())
        .collect();
    all.extend(ids(&rest));
    let unique: BTreeMap<&String, ()> = all.iter().map(|i| (i, ())).collect();
    assert_eq!(unique.len(), all.len());
    assert_eq!(
        all.len(),
        sandbox.count("contacts", false) + sandbox.count("contacts", true)
    );
    let _ = SyncMode::FullRefresh;
}

/// A config that overstates the portal's limit (190 for a Starter portal's 100) still stays
/// inside it: the connector reads `X-HubSpot-RateLimit-Max` and the interval header and
/// tightens its pace to what HubSpot advertises.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_advertised_rate_limit_headers_tighten_an_overstated_quota() {
    let sandbox = Sandbox::start(SandboxSpec {
        contacts: 2_000,
        requests_per_10_seconds: 30,
        ..SandboxSpec::small()
    })
    .await;
    let mut config = sandbox.config();
    config["requests_per_10_seconds"] = json!(1_000);
    let contacts = stream(&config, "contacts").await;
    let records = read_all(contacts.as_ref(), full("contacts")).await.unwrap();
    assert_eq!(
        records.len(),
        sandbox.count("contacts", false) + sandbox.count("contacts", true)
    );
    assert!(
        sandbox.api().requests() > 30,
        "enough requests to cross the window"
    );
    assert_eq!(
        sandbox.api().violations(),
        0,
        "never over the advertised limit"
    );
}

/// The `source-hubspot` executable speaks the Airbyte protocol: spec, check, discover and a
/// read of one stream, every line a valid message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_speaks_the_protocol() {
    let sandbox = Sandbox::start(SandboxSpec::small()).await;
    let dir = tempfile_dir();
    let config = dir.join("config.json");
    std::fs::write(&config, sandbox.config().to_string()).unwrap();
    let run = |args: Vec<String>| {
        tokio::task::spawn_blocking(move || {
            let out = std::process::Command::new(env!("CARGO_BIN_EXE_source-hubspot"))
                .args(&args)
                .output()
                .unwrap();
            let messages: Vec<Value> = String::from_utf8(out.stdout)
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect();
            (out.status.code(), messages)
        })
    };
    let c = config.display().to_string();
    let (code, spec) = run(vec!["spec".into()]).await.unwrap();
    assert_eq!(code, Some(0));
    assert!(spec.iter().any(|m| m["type"] == "SPEC"));
    let (_, check) = run(vec!["check".into(), "--config".into(), c.clone()])
        .await
        .unwrap();
    let status = check
        .iter()
        .find(|m| m["type"] == "CONNECTION_STATUS")
        .unwrap();
    assert_eq!(status["connectionStatus"]["status"], "SUCCEEDED");
    let (_, discovered) = run(vec!["discover".into(), "--config".into(), c.clone()])
        .await
        .unwrap();
    let catalog = &discovered.iter().find(|m| m["type"] == "CATALOG").unwrap()["catalog"];
    let owners = catalog["streams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "owners")
        .unwrap()
        .clone();
    let configured = json!({"streams": [{"stream": owners, "sync_mode": "full_refresh",
                                         "destination_sync_mode": "overwrite"}]});
    let catalog_path = dir.join("catalog.json");
    std::fs::write(&catalog_path, configured.to_string()).unwrap();
    let (code, read) = run(vec![
        "read".into(),
        "--config".into(),
        c,
        "--catalog".into(),
        catalog_path.display().to_string(),
    ])
    .await
    .unwrap();
    assert_eq!(code, Some(0));
    let records = read.iter().filter(|m| m["type"] == "RECORD").count();
    assert_eq!(records, sandbox.owners());
    assert!(read.iter().any(|m| m["type"] == "STATE"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_2_a_deals_full_refresh_refused_for_a_missing_scope_keeps_the_table() {
    let sandbox = Sandbox::start(SandboxSpec::small()).await;
    let config = sandbox.config();
    let mut catalog = HubSpotSource::new()
        .discover(&config)
        .await
        .unwrap()
        .configure_all()
        .select(&["deals"])
        .unwrap();
    catalog.streams[0].sync_mode = SyncMode::FullRefresh;
    catalog.streams[0].destination_sync_mode = intake::DestinationSyncMode::Overwrite;
    let dir = tempfile_dir();
    let sync = || {
        intake::sync(HubSpotSource::new(), config.clone())
            .catalog(catalog.clone())
            .to(JsonlDestination::new(&dir))
    };
    let first = sync().run().await.unwrap();
    let deals = sandbox.count("deals", false) + sandbox.count("deals", true);
    assert_eq!(
        first.stream("deals").unwrap().records_written as usize,
        deals
    );
    let lines = || {
        std::fs::read_to_string(dir.join("deals.jsonl"))
            .unwrap()
            .lines()
            .count()
    };
    assert_eq!(lines(), deals);
    // The token loses the deals scope: the run succeeds with a warning, the table stays.
    sandbox.deny_scope("deals");
    let second = sync().run().await.unwrap();
    assert_eq!(
        second.stream("deals").unwrap().status,
        Some(intake::StreamStatus::Skipped)
    );
    assert_eq!(lines(), deals, "a skipped stream replaced the table");
}
