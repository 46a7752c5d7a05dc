//! What a read gives: the acceptance suite, typed properties, property chunks, the search
//! cap, incremental changes.

use super::*;

/// The acceptance suite for a sandbox: every stream's expected count, the changes between
/// reads, and the declared skip. `config` is the sandbox's (a cassette test points it at
/// the replay).
fn suite(sandbox: &Arc<Sandbox>) -> intake::testing::Acceptance<'static> {
    let total = |object: &str| (sandbox.count(object, false) + sandbox.count(object, true)) as u64;
    let changed = sandbox.clone();
    acceptance(HubSpotSource::new(), sandbox.config())
        .expect_records("contacts", total("contacts"))
        .expect_records("companies", total("companies"))
        .expect_records("deals", total("deals"))
        .expect_records("tickets", total("tickets"))
        .expect_records("products", total("products"))
        .expect_records("line_items", total("line_items"))
        .expect_records("engagements_calls", total("calls"))
        .expect_records("engagements_emails", total("emails"))
        .expect_records("engagements_meetings", total("meetings"))
        .expect_records("engagements_notes", total("notes"))
        .expect_records("engagements_tasks", total("tasks"))
        .expect_records("cars", total(CARS_TYPE_ID))
        .expect_records("owners", sandbox.owners() as u64)
        .expect_records("deal_pipelines", 2)
        .expect_records("ticket_pipelines", 2)
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
        .skip(
            checks::CONCURRENCY,
            "HubSpot limits requests per 10 s window (checked by rate_limit), not connections",
        )
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
    suite(&sandbox)
        .mock(sandbox.api())
        .run()
        .await
        .assert_all_passed();
    assert_eq!(sandbox.search_violations(), 0, "search stayed under 4/s");
}

/// The shipped cassette (`tests/cassettes/sandbox`, recorded from a small sandbox standing in
/// for a portal) replays under the whole acceptance suite. To record it again (after the
/// connector's requests change): `INTAKE_RECORD=1 cargo test -p intake-source-hubspot
/// --test hubspot the_shipped_cassette`. Against a real portal, point the config at it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shipped_cassette_replays_under_the_acceptance_suite() {
    // Contacts span two pages (resume has a middle); the rest one page each, so the
    // cassette stays small enough to review.
    let sandbox = Arc::new(
        Sandbox::start(SandboxSpec {
            contacts: 130,
            companies: 8,
            deals: 8,
            tickets: 4,
            products: 3,
            line_items: 4,
            engagements: 2,
            owners: 3,
            cars: 3,
            requests_per_10_seconds: 190,
            ..SandboxSpec::default()
        })
        .await,
    );
    suite(&sandbox)
        .cassette(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/cassettes/sandbox"
        ))
        // The portal's limit: the replay knows none of its own.
        .rate_limit(190, Duration::from_secs(10))
        .run()
        .await
        .assert_all_passed();
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
