//! The contract test kit itself: mock endpoints in every paging style, filters, faults,
//! counters, fixtures, and the acceptance suite on good and broken connectors.

use intake::testing::{Fault, MockApi};
use serde_json::json;

#[tokio::test]
async fn scoped_faults_end_with_their_guard() {
    let api = MockApi::start().await;
    api.endpoint("/x")
        .records(vec![json!({"id": 1})])
        .mount()
        .await;
    let client = intake::http::reqwest::Client::new();
    let get = || client.get(format!("{}/x", api.uri())).send();
    assert_eq!(get().await.unwrap().status(), 200);
    {
        let _g = api.inject_always(Fault::Unauthorized);
        assert_eq!(get().await.unwrap().status(), 401);
    }
    assert_eq!(get().await.unwrap().status(), 200);
    {
        let _g = api.inject_always(Fault::Forbidden);
        assert_eq!(get().await.unwrap().status(), 403);
    }
}

#[tokio::test]
async fn path_scoped_faults_hit_only_their_endpoint() {
    let api = MockApi::start().await;
    for route in ["/a", "/b"] {
        api.endpoint(route)
            .records(vec![json!({"id": 1})])
            .mount()
            .await;
    }
    let client = intake::http::reqwest::Client::new();
    let get = |p: &'static str| client.get(format!("{}{p}", api.uri())).send();
    let _g = api.inject_at("^/b$", Fault::Status(503), 2);
    assert_eq!(get("/a").await.unwrap().status(), 200, "another path");
    assert_eq!(get("/b").await.unwrap().status(), 503);
    assert_eq!(get("/a").await.unwrap().status(), 200);
    assert_eq!(get("/b").await.unwrap().status(), 503);
    assert_eq!(
        get("/b").await.unwrap().status(),
        200,
        "two answers, then served"
    );
}

use std::time::Duration;

use futures::StreamExt;
use intake::http::{HttpApi, HttpErrorKind, HttpStream, Paginator, Quota, RateLimit, RetryPolicy};
use intake::testing::{Dataset, Filter, PageStyle};
use intake::{FailureType, Partition, ReadRequest, Stream};
use serde_json::Value;

fn rows(n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| json!({"id": i, "updated_at": format!("2024-01-{:02}T00:00:00Z", 1 + i % 28)}))
        .collect()
}

fn client(api: &MockApi) -> HttpApi {
    HttpApi::parse(&api.uri())
        .unwrap()
        .retry(RetryPolicy::none())
}

async fn read(stream: &HttpStream, start: Option<Value>) -> intake::Result<Vec<Value>> {
    let mut request = ReadRequest::full_refresh(stream.name(), Partition::whole());
    if start.is_some() {
        request = request.starting_at(start);
    }
    let mut pages = stream.read(request);
    let mut out = Vec::new();
    while let Some(p) = pages.next().await {
        out.extend(p?.records.iter().map(|r| r.to_value().unwrap()));
    }
    Ok(out)
}

#[tokio::test]
async fn every_page_style_serves_its_paginator() {
    let cases: Vec<(PageStyle, Paginator, &str)> = vec![
        (PageStyle::None, Paginator::none(), "GET"),
        (
            PageStyle::cursor("/paging/next/after", "after"),
            Paginator::cursor_from_body("/paging/next/after").into_query("after"),
            "GET",
        ),
        (
            PageStyle::BodyCursor {
                at: "/paging/next/after".into(),
                body_pointer: "/after".into(),
            },
            Paginator::cursor_from_body("/paging/next/after").into_body("/after"),
            "POST",
        ),
        (
            PageStyle::next_url("/next"),
            Paginator::next_url("/next"),
            "GET",
        ),
        (PageStyle::LinkHeader, Paginator::link_header(), "GET"),
        (
            PageStyle::offset("offset", "count"),
            Paginator::offset("offset", "count", 40).into(),
            "GET",
        ),
        (
            PageStyle::Offset {
                offset_param: "offset".into(),
                limit_param: "count".into(),
                total_at: Some("/total_items".into()),
            },
            // Asks for more than the server's page size: the total decides the end.
            Paginator::offset("offset", "count", 1000)
                .total_at("/total_items")
                .into(),
            "GET",
        ),
        (
            PageStyle::PageNumber {
                param: "page".into(),
                size_param: Some("per_page".into()),
                total_pages_at: None,
            },
            Paginator::page_number("page")
                .page_size("per_page", 40)
                .into(),
            "GET",
        ),
        (
            PageStyle::PageNumber {
                param: "page".into(),
                size_param: None,
                total_pages_at: Some("/total_pages".into()),
            },
            Paginator::page_number("page")
                .total_pages_at("/total_pages")
                .into(),
            "GET",
        ),
    ];
    for (style, paginator, verb) in cases {
        let api = MockApi::start().await;
        api.endpoint("/items")
            .method(verb)
            .records(rows(250))
            .page_size(40)
            .paginate(style.clone())
            .mount()
            .await;
        let stream = client(&api)
            .stream("items")
            .request(verb.parse().unwrap(), "/items")
            .records_at("/results")
            .paginate(paginator);
        let stream = if verb == "POST" {
            stream.json_body(json!({"limit": 40}))
        } else {
            stream
        };
        let got = read(&stream, None)
            .await
            .unwrap_or_else(|e| panic!("{style:?}: {e}"));
        let ids: Vec<u64> = got.iter().map(|r| r["id"].as_u64().unwrap()).collect();
        assert_eq!(ids, (0..250).collect::<Vec<_>>(), "{style:?}");
        let pages = if style == PageStyle::None { 1 } else { 7 };
        assert!(
            api.requests() >= pages,
            "{style:?}: {} requests",
            api.requests()
        );
    }
}

#[tokio::test]
async fn filters_serve_only_records_at_or_after_the_requested_value() {
    let api = MockApi::start().await;
    let data = Dataset::new(rows(60));
    api.endpoint("/q")
        .records(data.clone())
        .filter(Filter::query("since", "updated_at"))
        .mount()
        .await;
    api.endpoint("/search")
        .method("POST")
        .records(data.clone())
        .filter(Filter::body(
            "/filterGroups/0/filters/0/value",
            "updated_at",
        ))
        .mount()
        .await;
    let by_query = client(&api)
        .stream("q")
        .get("/q")
        .query("since", "{cursor}")
        .records_at("/results");
    let got = read(&by_query, Some(json!("2024-01-27T00:00:00Z")))
        .await
        .unwrap();
    assert_eq!(got.len(), 4, "days 27 and 28, twice each");
    assert!(
        got.windows(2)
            .all(|w| w[0]["updated_at"].as_str() <= w[1]["updated_at"].as_str())
    );
    assert_eq!(read(&by_query, None).await.unwrap().len(), 60);
    // A search body with epoch milliseconds, as HubSpot's search takes it.
    let by_body = client(&api)
        .stream("search")
        .post("/search")
        .json_body(json!({"filterGroups": [{"filters": [
            {"propertyName": "updated_at", "operator": "GTE", "value": "{cursor:epoch_ms}"}]}]}))
        .records_at("/results");
    let got = read(&by_body, Some(json!("2024-01-28T00:00:00Z")))
        .await
        .unwrap();
    assert_eq!(got.len(), 2);
}

#[tokio::test]
async fn injected_faults_reach_the_client_as_typed_errors() {
    let api = MockApi::start().await;
    api.endpoint("/items").records(rows(3)).mount().await;
    // A short timeout only where the fault is a delay: under a loaded CI machine a dropped
    // connection can take longer than that to be noticed.
    let stream = |timeout: Duration| {
        client(&api)
            .timeout(Some(timeout))
            .stream("items")
            .get("/items")
            .records_at("/results")
    };
    let cases = [
        (
            Fault::TooManyRequests {
                retry_after: Some("7".into()),
            },
            FailureType::TransientError,
            "HTTP 429",
        ),
        (Fault::Status(502), FailureType::TransientError, "HTTP 502"),
        (Fault::Truncated, FailureType::TransientError, "ends early"),
        (Fault::Html, FailureType::SystemError, "HTML page"),
        (
            Fault::Drop,
            FailureType::TransientError,
            "connection failed",
        ),
        (
            Fault::Delay(Duration::from_secs(5)),
            FailureType::TransientError,
            "timed out",
        ),
        (Fault::Unauthorized, FailureType::ConfigError, "HTTP 401"),
        (Fault::Forbidden, FailureType::ConfigError, "HTTP 403"),
    ];
    for (fault, kind, text) in cases {
        let _guard = api.inject(fault.clone(), 1);
        let timeout = match fault {
            Fault::Delay(_) => Duration::from_millis(300),
            _ => Duration::from_secs(30),
        };
        let err = read(&stream(timeout), None).await.unwrap_err();
        assert_eq!(err.failure_type(), kind, "{fault:?}: {err}");
        assert!(err.to_string().contains(text), "{fault:?}: {err}");
        if let Fault::TooManyRequests { .. } = fault {
            assert_eq!(err.retry_after(), Some(Duration::from_secs(7)));
        }
    }
    // Each fault answered once, then the endpoint is back.
    let stream = stream(Duration::from_secs(30));
    assert_eq!(read(&stream, None).await.unwrap().len(), 3);
    let http = |e: &intake::Error| {
        std::error::Error::source(e)
            .and_then(|s| s.downcast_ref::<intake::http::HttpError>())
            .map(|h| h.kind().clone())
    };
    let _guard = api.inject(Fault::Truncated, 1);
    let err = read(&stream, None).await.unwrap_err();
    assert!(matches!(
        http(&err),
        Some(HttpErrorKind::Decode {
            truncated: true,
            ..
        })
    ));
}

#[tokio::test]
async fn the_rate_limit_responder_counts_violations() {
    let api = MockApi::start().await;
    api.rate_limit(5, Duration::from_secs(1));
    api.endpoint("/items")
        .records(rows(30))
        .page_size(3)
        .paginate(PageStyle::cursor("/next", "after"))
        .mount()
        .await;
    let unpaced = client(&api)
        .stream("items")
        .get("/items")
        .records_at("/results")
        .paginate(Paginator::cursor_from_body("/next").into_query("after"));
    let err = read(&unpaced, None).await.unwrap_err();
    assert!(err.to_string().contains("HTTP 429"), "{err}");
    assert_eq!(api.violations(), 1);
    tokio::time::sleep(Duration::from_secs(1)).await;
    // Paced a little under the limit (network jitter can bunch arrivals), no violation.
    let paced = unpaced
        .api()
        .clone()
        .quota(Quota::new(9, Duration::from_secs(2)));
    let stream = paced
        .stream("items")
        .get("/items")
        .records_at("/results")
        .paginate(Paginator::cursor_from_body("/next").into_query("after"));
    assert_eq!(read(&stream, None).await.unwrap().len(), 30);
    assert_eq!(api.violations(), 1);
}

#[tokio::test]
async fn the_concurrency_counter_sees_the_clients_cap() {
    let api = MockApi::start().await;
    api.hold(Duration::from_millis(100));
    api.endpoint("/parts").records(rows(2)).mount().await;
    let partitions: Vec<Value> = (0..6).map(|i| json!({"p": i})).collect();
    let read_all = |http: HttpApi| {
        let stream = http
            .stream("parts")
            .get("/parts")
            .records_at("/results")
            .partition_keys(partitions.clone())
            .schema(json!({"type": "object", "properties": {}}));
        async move {
            let mut catalog = intake::Catalog::default();
            catalog.streams.push(stream.describe().await.unwrap());
            let (tx, mut rx) = tokio::sync::mpsc::channel(64);
            let drain = tokio::spawn(async move { while rx.recv().await.is_some() {} });
            intake::read_streams(
                vec![std::sync::Arc::new(stream)],
                &catalog.configure_all(),
                &intake::State::new(),
                &intake::ReadOptions::default(),
                intake::EventSender::new(tx),
            )
            .await
            .unwrap();
            drain.await.unwrap();
        }
    };
    read_all(client(&api)).await;
    let uncapped = api.max_in_flight();
    assert!(
        uncapped >= 3,
        "the engine reads 4 partitions at once: {uncapped}"
    );
    let capped = MockApi::start().await;
    capped.hold(Duration::from_millis(100));
    capped.endpoint("/parts").records(rows(2)).mount().await;
    read_all(client(&capped).rate_limit(RateLimit::unlimited().max_concurrency(2))).await;
    assert_eq!(capped.max_in_flight(), 2);
}

#[tokio::test]
async fn fixture_folders_mount_recorded_exchanges() {
    let dir = tempfile::tempdir().unwrap();
    let write =
        |name: &str, v: Value| std::fs::write(dir.path().join(name), v.to_string()).unwrap();
    write(
        "01_first_page.json",
        json!({
            "request": {"path": "/crm/v3/objects/contacts", "query": {"limit": "2", "after": null},
                        "headers": {"authorization": "Bearer t-1"}},
            "response": {"body": {"results": [{"id": "1"}, {"id": "2"}], "paging": {"next": {"after": "2"}}}}
        }),
    );
    write(
        "02_second_page.json",
        json!({
            "request": {"path": "/crm/v3/objects/contacts", "query": {"limit": "2", "after": "2"}},
            "response": {"status": 200, "headers": {"x-hubspot-ratelimit-remaining": "98"},
                         "body": {"results": [{"id": "3"}]}}
        }),
    );
    write(
        "03_html.json",
        json!({
            "request": {"method": "GET", "path": "/down"},
            "response": {"status": 503, "body_text": "<html>maintenance</html>", "content_type": "text/html"}
        }),
    );
    std::fs::write(dir.path().join("README.md"), "not a fixture").unwrap();
    let api = MockApi::start().await;
    assert_eq!(api.fixtures(dir.path()).await.unwrap(), 3);
    let http = client(&api).auth(intake::http::Auth::bearer(secrecy::SecretString::from(
        "t-1",
    )));
    let contacts = http
        .stream("contacts")
        .get("/crm/v3/objects/contacts")
        .query("limit", "2")
        .records_at("/results")
        .paginate(Paginator::cursor_from_body("/paging/next/after").into_query("after"));
    let got = read(&contacts, None).await.unwrap();
    assert_eq!(got.len(), 3);
    let down = http.stream("down").get("/down");
    let err = read(&down, None).await.unwrap_err();
    assert!(
        err.to_string().contains("HTTP 503") && err.to_string().contains("maintenance"),
        "{err}"
    );
    // A malformed fixture is a config error naming the file.
    write(
        "04_bad.json",
        json!({"request": {"path": "/x"}, "reply": {}}),
    );
    let err = MockApi::start()
        .await
        .fixtures(dir.path())
        .await
        .unwrap_err();
    assert!(
        err.is_config() && err.to_string().contains("04_bad.json"),
        "{err}"
    );
}
