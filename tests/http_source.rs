//! A whole REST source declared on the toolkit, synced end to end into JSONL: incremental
//! reads templated from the saved cursor, parent/child partitions with their own state,
//! transforms, schema inference and loading, and `check`.

mod support;

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use intake::destination::jsonl::JsonlDestination;
use intake::http::{Auth, HttpApi, HttpSource, Paginator};
use intake::{Secret, Source, State};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};
use wiremock::matchers::{header, path, path_regex};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

/// Connection settings for the Acme API.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct AcmeConfig {
    /// API token from Settings -> API.
    api_token: Secret,
    /// Only sync records changed after this instant. Default: everything.
    start_date: Option<DateTime<Utc>>,
    /// Override the API host (tests, proxies).
    base_url: String,
}

/// The Acme source: customers (incremental, cursor-paginated), lists, and members per list.
fn acme() -> HttpSource<AcmeConfig> {
    HttpSource::new("acme", |cfg: &AcmeConfig| {
        let api = HttpApi::parse(&cfg.base_url)?
            .timeout(None)
            .auth(Auth::bearer(cfg.api_token.clone()));
        let lists = api
            .stream("lists")
            .get("/v1/lists")
            .records_at("/lists")
            .primary_key("id")
            .schema_loader(|api: HttpApi| async move {
                let ctx = intake::StreamContext::detached("lists");
                let fields = api.get_json("/v1/lists/fields", &ctx).await?;
                let mut props = serde_json::Map::new();
                for f in fields["fields"].as_array().into_iter().flatten() {
                    props.insert(
                        f["name"].as_str().unwrap_or_default().into(),
                        json!({"type": f["type"]}),
                    );
                }
                Ok(json!({"type": "object", "properties": props}))
            });
        Ok(vec![
            api.stream("customers")
                .get("/v1/customers")
                .query("limit", "2")
                .query("updated_since", "{cursor}")
                .records_at("/data")
                .paginate(Paginator::cursor_from_body("/next").into_query("cursor"))
                .primary_key("id")
                .cursor_from("updated_at", cfg.start_date),
            api.stream("members")
                .get("/v1/lists/{partition.list_id}/members")
                .records_at("/members")
                .paginate(Paginator::offset("offset", "count", 2))
                .parent_field(&lists, "list_id", "id")
                .transform(|mut member| {
                    // Flatten `merge_fields` onto the record, as a warehouse wants it.
                    if let Some(Value::Object(fields)) =
                        member.get_mut("merge_fields").map(Value::take)
                    {
                        for (k, v) in fields {
                            member[k.to_lowercase()] = v;
                        }
                        member.as_object_mut().unwrap().remove("merge_fields");
                    }
                    Ok(Some(member))
                })
                .primary_key("id"),
            lists,
        ])
    })
}

/// The Acme mock: customers filtered by `updated_since`, two lists with members.
struct Acme {
    server: MockServer,
    customers: Arc<Mutex<Vec<Value>>>,
    since_seen: Arc<Mutex<Vec<Option<String>>>>,
}

async fn acme_api() -> Acme {
    let server = MockServer::start().await;
    let customers: Arc<Mutex<Vec<Value>>> = Arc::new(Mutex::new(
        (0..5)
            .map(|i| json!({"id": i, "name": format!("c{i}"), "updated_at": format!("2024-01-0{}T00:00:00Z", i + 1)}))
            .collect(),
    ));
    let since_seen = Arc::new(Mutex::new(Vec::new()));
    let (c, s) = (customers.clone(), since_seen.clone());
    Mock::given(path("/v1/customers"))
        .and(header("authorization", "Bearer good-token"))
        .respond_with(move |req: &Request| {
            let q: std::collections::HashMap<String, String> =
                req.url.query_pairs().into_owned().collect();
            let since = q.get("updated_since").cloned();
            if !q.contains_key("cursor") {
                s.lock().unwrap().push(since.clone());
            }
            let mut rows: Vec<Value> = c
                .lock()
                .unwrap()
                .iter()
                .filter(|r| {
                    since
                        .as_deref()
                        .is_none_or(|s| r["updated_at"].as_str().unwrap() >= s)
                })
                .cloned()
                .collect();
            rows.sort_by_key(|r| r["updated_at"].as_str().unwrap().to_string());
            let offset: usize = q.get("cursor").map(|v| v.parse().unwrap()).unwrap_or(0);
            let limit: usize = q["limit"].parse().unwrap();
            let page: Vec<Value> = rows.iter().skip(offset).take(limit).cloned().collect();
            let mut body = json!({"data": page});
            if offset + limit < rows.len() {
                body["next"] = json!((offset + limit).to_string());
            }
            ResponseTemplate::new(200).set_body_json(body)
        })
        .mount(&server)
        .await;
    Mock::given(path("/v1/customers"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({"error": "invalid token"})))
        .mount(&server)
        .await;
    Mock::given(path("/v1/lists"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"lists": [{"id": "L1", "name": "news"}, {"id": "L2", "name": "promo"}, {"id": null}]}),
        ))
        .mount(&server)
        .await;
    Mock::given(path("/v1/lists/fields"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"fields": [{"name": "id", "type": "string"}, {"name": "name", "type": "string"}]}),
        ))
        .mount(&server)
        .await;
    Mock::given(path_regex("^/v1/lists/(L1|L2)/members$"))
        .respond_with(|req: &Request| {
            let list = req.url.path().split('/').nth(3).unwrap().to_string();
            let q: std::collections::HashMap<String, String> = req.url.query_pairs().into_owned().collect();
            let offset: usize = q["offset"].parse().unwrap();
            let n = if list == "L1" { 3 } else { 1 };
            let members: Vec<Value> = (offset..n.min(offset + 2))
                .map(|i| json!({"id": format!("{list}-m{i}"), "list_id": list, "merge_fields": {"FNAME": format!("n{i}")}}))
                .collect();
            ResponseTemplate::new(200).set_body_json(json!({"members": members}))
        })
        .mount(&server)
        .await;
    Acme {
        server,
        customers,
        since_seen,
    }
}

fn config(api: &Acme) -> Value {
    json!({"api_token": "good-token", "base_url": api.server.uri()})
}

#[tokio::test]
async fn an_incremental_sync_templates_the_saved_cursor_into_the_next_request() {
    let api = acme_api().await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let state_file = dir.path().join("state.json");
    let run = |config: Value| {
        intake::sync(acme(), config)
            .streams(["customers"])
            .state_file(&state_file)
            .to(JsonlDestination::new(&out))
            .run()
    };
    let first = run(config(&api)).await.unwrap();
    assert_eq!(first.stream("customers").unwrap().records_written, 5);
    assert_eq!(first.stream("customers").unwrap().requests, 3);
    // New and changed records arrive; the next run asks only for what changed since.
    api.customers
        .lock()
        .unwrap()
        .push(json!({"id": 9, "name": "new", "updated_at": "2024-02-01T00:00:00Z"}));
    let second = run(config(&api)).await.unwrap();
    assert_eq!(second.stream("customers").unwrap().records_written, 1);
    // (Each sync without a catalog discovers first, and inferring the schema reads a page.)
    let seen = api.since_seen.lock().unwrap().clone();
    assert_eq!(
        seen.last().unwrap().as_deref(),
        Some("2024-01-05T00:00:00Z"),
        "{seen:?}"
    );
    assert!(
        seen[..seen.len() - 1].iter().all(Option::is_none),
        "{seen:?}"
    );
    let lines = support::read_jsonl(&out.join("customers.jsonl"));
    assert_eq!(lines.len(), 6);
    // A start date in the config is the first run's start.
    let api2 = acme_api().await;
    let mut cfg = config(&api2);
    cfg["start_date"] = json!("2024-01-04T00:00:00Z");
    let report = intake::sync(acme(), cfg)
        .streams(["customers"])
        .to(JsonlDestination::new(dir.path().join("out2")))
        .run()
        .await
        .unwrap();
    assert_eq!(report.records_written(), 2);
    let seen = api2.since_seen.lock().unwrap().clone();
    assert_eq!(
        seen.last().unwrap().as_deref(),
        Some("2024-01-04T00:00:00Z"),
        "{seen:?}"
    );
}

#[tokio::test]
async fn child_streams_read_one_partition_per_parent_record() {
    let api = acme_api().await;
    let dir = tempfile::tempdir().unwrap();
    let report = intake::sync(acme(), config(&api))
        .streams(["members"])
        .to(JsonlDestination::new(dir.path()))
        .run()
        .await
        .unwrap();
    let members = support::read_jsonl(&dir.path().join("members.jsonl"));
    let mut ids: Vec<&str> = members.iter().map(|m| m["id"].as_str().unwrap()).collect();
    ids.sort();
    assert_eq!(ids, vec!["L1-m0", "L1-m1", "L1-m2", "L2-m0"]);
    // The transform flattened merge fields.
    assert!(
        members
            .iter()
            .all(|m| m.get("merge_fields").is_none() && m["fname"].is_string())
    );
    // Each list is a partition with its own entry in the state.
    let state = report
        .state
        .stream(&intake::StreamDescriptor::new("members"))
        .unwrap();
    let mut partitions: Vec<&Value> = state["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| &p["partition"])
        .collect();
    partitions.sort_by_key(|p| p.to_string());
    assert_eq!(
        partitions,
        vec![&json!({"list_id": "L1"}), &json!({"list_id": "L2"})]
    );
}

#[tokio::test]
async fn discover_infers_loads_and_declares_schemas() {
    let api = acme_api().await;
    let catalog = acme().discover(&config(&api)).await.unwrap();
    let names: Vec<&str> = catalog.streams.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, vec!["customers", "members", "lists"]);
    let customers = &catalog.streams[0];
    assert_eq!(
        customers.json_schema["properties"]["name"]["type"],
        json!(["null", "string"])
    );
    assert_eq!(
        customers.default_cursor_field,
        Some(vec!["updated_at".to_string()])
    );
    assert_eq!(
        customers.source_defined_primary_key,
        Some(vec![vec!["id".to_string()]])
    );
    // Inferred after the transform: flattened fields are declared.
    assert!(catalog.streams[1].json_schema["properties"]["fname"].is_object());
    // Loaded from the API's field list.
    assert_eq!(
        catalog.streams[2].json_schema["properties"]["name"]["type"],
        "string"
    );
}

#[tokio::test]
async fn check_reads_one_page_and_names_bad_credentials() {
    let api = acme_api().await;
    acme().check(&config(&api)).await.unwrap();
    let mut bad = config(&api);
    bad["api_token"] = json!("wrong-token");
    let err = acme().check(&bad).await.unwrap_err();
    assert!(err.is_config(), "{err}");
    assert!(!err.to_string().contains("wrong-token"), "{err}");
    let mut typo = config(&api);
    typo["api_tokn"] = json!("x");
    assert!(acme().check(&typo).await.unwrap_err().is_config());
    assert!(State::new().is_empty());
}
