//! Associations and archived records, scopes, quotas, OAuth refresh, resuming, the
//! advertised limits.

use super::*;

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
