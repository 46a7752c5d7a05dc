//! Every paginator against a wiremock API: the pages it asks for, its stop conditions, loop
//! detection, dev-run limits and resuming from a checkpoint's token.

use futures::StreamExt;
use intake::http::{HttpApi, HttpStream, Paginator, RetryPolicy};
use intake::{Page, Partition, ReadRequest, Result, Stream};
use serde_json::{Value, json};
use wiremock::matchers::{body_partial_json, method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn api(server: &MockServer) -> HttpApi {
    HttpApi::parse(&server.uri())
        .unwrap()
        .timeout(None)
        .retry(RetryPolicy::none())
}

fn rows(from: u64, n: u64) -> Vec<Value> {
    (from..from + n)
        .map(|i| json!({"id": i.to_string(), "n": i}))
        .collect()
}

async fn read_all(stream: &HttpStream) -> Result<Vec<Page>> {
    read_from(stream, None).await
}

async fn read_from(stream: &HttpStream, resume: Option<Value>) -> Result<Vec<Page>> {
    let request = ReadRequest::full_refresh(stream.name(), Partition::whole()).resuming(resume);
    let mut pages = stream.read(request);
    let mut out = Vec::new();
    while let Some(p) = pages.next().await {
        out.push(p?);
    }
    Ok(out)
}

fn ids(pages: &[Page]) -> Vec<u64> {
    pages
        .iter()
        .flat_map(|p| &p.records)
        .map(|r| r.to_value().unwrap()["n"].as_u64().unwrap())
        .collect()
}

#[tokio::test]
async fn cursor_from_body_into_query_reads_every_page() {
    let server = MockServer::start().await;
    for (after, next) in [
        (None, Some("c1")),
        (Some("c1"), Some("c2")),
        (Some("c2"), None),
    ] {
        let start = match after {
            None => 0,
            Some("c1") => 2,
            _ => 4,
        };
        let mut body = json!({"results": rows(start, 2)});
        if let Some(n) = next {
            body["paging"] = json!({"next": {"after": n, "link": "ignored"}});
        }
        let mock = Mock::given(method("GET"))
            .and(path("/crm/v3/objects/contacts"))
            .and(query_param("limit", "2"));
        let mock = match after {
            Some(a) => mock.and(query_param("after", a)),
            None => mock.and(query_param_is_missing("after")),
        };
        mock.respond_with(ResponseTemplate::new(200).set_body_json(body))
            .expect(1)
            .mount(&server)
            .await;
    }
    let stream = api(&server)
        .stream("contacts")
        .get("/crm/v3/objects/contacts")
        .query("limit", "2")
        .records_at("/results")
        .paginate(Paginator::cursor_from_body("/paging/next/after").into_query("after"));
    let pages = read_all(&stream).await.unwrap();
    assert_eq!(ids(&pages), vec![0, 1, 2, 3, 4, 5]);
    // Each page's resume token asks for the page after it; the last has none.
    assert_eq!(pages[0].resume, Some(json!({"query": [["after", "c1"]]})));
    assert_eq!(pages[2].resume, None);
}

#[tokio::test]
async fn cursor_into_the_body_of_a_search_request() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/search"))
        .and(body_partial_json(json!({"after": "100", "limit": 2})))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"total": 3, "results": rows(2, 1)})),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/search"))
        .and(body_partial_json(json!({"limit": 2, "sorts": ["x"]})))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"total": 3, "results": rows(0, 2), "paging": {"next": {"after": "100"}}}),
        ))
        .expect(1..)
        .mount(&server)
        .await;
    let stream = api(&server)
        .stream("search")
        .post("/search")
        .json_body(json!({"limit": 2, "sorts": ["x"]}))
        .records_at("/results")
        .paginate(Paginator::cursor_from_body("/paging/next/after").into_body("/after"));
    let pages = read_all(&stream).await.unwrap();
    assert_eq!(ids(&pages), vec![0, 1, 2]);
}

#[tokio::test]
async fn next_url_from_the_body_absolute_and_relative() {
    let server = MockServer::start().await;
    let base = server.uri();
    Mock::given(path("/items"))
        .and(query_param_is_missing("page"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"data": rows(0, 2), "next": format!("{base}/items?page=2")})),
        )
        .mount(&server)
        .await;
    Mock::given(path("/items"))
        .and(query_param("page", "2"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"data": rows(2, 2), "next": "/items?page=3"})),
        )
        .mount(&server)
        .await;
    Mock::given(path("/items"))
        .and(query_param("page", "3"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"data": rows(4, 1), "next": null})),
        )
        .mount(&server)
        .await;
    let stream = api(&server)
        .stream("items")
        .get("/items")
        .records_at("/data")
        .paginate(Paginator::next_url("/next"));
    let pages = read_all(&stream).await.unwrap();
    assert_eq!(ids(&pages), vec![0, 1, 2, 3, 4]);
}

#[tokio::test]
async fn next_url_on_another_host_is_refused() {
    let server = MockServer::start().await;
    Mock::given(path("/items"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"data": rows(0, 1), "next": "https://elsewhere.test/items?page=2"}),
        ))
        .mount(&server)
        .await;
    let stream = api(&server)
        .stream("items")
        .get("/items")
        .records_at("/data")
        .paginate(Paginator::next_url("/next"));
    let err = read_all(&stream).await.unwrap_err();
    assert!(
        err.to_string().contains("refusing to send credentials"),
        "{err}"
    );
}

#[tokio::test]
async fn link_header_rel_next() {
    let server = MockServer::start().await;
    let base = server.uri();
    Mock::given(path("/repos"))
        .and(query_param_is_missing("page"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header(
                    "link",
                    format!(
                        r#"<{base}/repos?page=2>; rel="next", <{base}/repos?page=2>; rel="last""#
                    )
                    .as_str(),
                )
                .set_body_json(rows(0, 2)),
        )
        .mount(&server)
        .await;
    Mock::given(path("/repos"))
        .and(query_param("page", "2"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header(
                    "link",
                    format!(r#"<{base}/repos?page=1>; rel="prev""#).as_str(),
                )
                .set_body_json(rows(2, 1)),
        )
        .mount(&server)
        .await;
    let stream = api(&server)
        .stream("repos")
        .get("/repos")
        .paginate(Paginator::link_header());
    assert_eq!(ids(&read_all(&stream).await.unwrap()), vec![0, 1, 2]);
}

/// Serves `total` rows with offset/limit; `cap` is the server's own page-size cap.
async fn offset_server(total: u64, cap: u64, with_total: bool) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(path("/members"))
        .respond_with(move |req: &wiremock::Request| {
            let q: std::collections::HashMap<String, String> =
                req.url.query_pairs().into_owned().collect();
            let offset: u64 = q["offset"].parse().unwrap();
            let count: u64 = q["count"].parse::<u64>().unwrap().min(cap);
            let end = (offset + count).min(total);
            let mut body = json!({"members": rows(offset, end.saturating_sub(offset))});
            if with_total {
                body["total_items"] = json!(total);
            }
            ResponseTemplate::new(200).set_body_json(body)
        })
        .mount(&server)
        .await;
    server
}

#[tokio::test]
async fn offset_stops_on_a_short_page_or_an_empty_one() {
    let server = offset_server(7, 1000, false).await;
    let stream = api(&server)
        .stream("members")
        .get("/members")
        .records_at("/members")
        .paginate(Paginator::offset("offset", "count", 3));
    let pages = read_all(&stream).await.unwrap();
    assert_eq!(ids(&pages), (0..7).collect::<Vec<_>>());
    assert_eq!(pages.len(), 3, "3 + 3 + 1 (short page ends it)");
    // An exact multiple ends on the empty page after it.
    let server = offset_server(6, 1000, false).await;
    let stream = api(&server)
        .stream("members")
        .get("/members")
        .records_at("/members")
        .paginate(Paginator::offset("offset", "count", 3));
    let pages = read_all(&stream).await.unwrap();
    assert_eq!(ids(&pages).len(), 6);
    assert_eq!(pages.len(), 3);
    assert!(pages[2].records.is_empty());
}

#[tokio::test]
async fn offset_with_a_total_survives_a_server_side_page_cap() {
    // The server caps pages at 2 while we ask for 5: the total, not the short page, decides.
    let server = offset_server(7, 2, true).await;
    let stream = api(&server)
        .stream("members")
        .get("/members")
        .records_at("/members")
        .paginate(Paginator::offset("offset", "count", 5).total_at("/total_items"));
    let pages = read_all(&stream).await.unwrap();
    assert_eq!(ids(&pages), (0..7).collect::<Vec<_>>());
    assert_eq!(pages.len(), 4);
}

#[tokio::test]
async fn page_numbers_stop_on_short_page_and_on_total_pages() {
    let server = MockServer::start().await;
    Mock::given(path("/campaigns"))
        .respond_with(|req: &wiremock::Request| {
            let q: std::collections::HashMap<String, String> =
                req.url.query_pairs().into_owned().collect();
            let page: u64 = q["page"].parse().unwrap();
            let per: u64 = q.get("per_page").map(|v| v.parse().unwrap()).unwrap_or(2);
            let total = 5u64;
            let start = (page - 1) * per;
            let end = (start + per).min(total);
            ResponseTemplate::new(200).set_body_json(json!({
                "items": rows(start, end.saturating_sub(start)),
                "total_pages": total.div_ceil(per),
            }))
        })
        .mount(&server)
        .await;
    let by_size = api(&server)
        .stream("campaigns")
        .get("/campaigns")
        .records_at("/items")
        .paginate(Paginator::page_number("page").page_size("per_page", 2));
    let pages = read_all(&by_size).await.unwrap();
    assert_eq!(ids(&pages), vec![0, 1, 2, 3, 4]);
    assert_eq!(pages.len(), 3);
    let by_total = api(&server)
        .stream("campaigns")
        .get("/campaigns")
        .records_at("/items")
        .paginate(Paginator::page_number("page").total_pages_at("/total_pages"));
    let pages = read_all(&by_total).await.unwrap();
    assert_eq!(ids(&pages), vec![0, 1, 2, 3, 4]);
    assert_eq!(pages.len(), 3);
}

#[tokio::test]
async fn a_cursor_seen_twice_fails_naming_the_stream_and_cursor() {
    let server = MockServer::start().await;
    Mock::given(path("/loop"))
        .and(query_param_is_missing("after"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"results": rows(0, 1), "next": "A"})),
        )
        .mount(&server)
        .await;
    Mock::given(path("/loop"))
        .and(query_param("after", "A"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"results": rows(1, 1), "next": "B"})),
        )
        .mount(&server)
        .await;
    Mock::given(path("/loop"))
        .and(query_param("after", "B"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"results": rows(2, 1), "next": "A"})),
        )
        .mount(&server)
        .await;
    let stream = api(&server)
        .stream("looping")
        .get("/loop")
        .records_at("/results")
        .paginate(Paginator::cursor_from_body("/next").into_query("after"));
    let err = read_all(&stream).await.unwrap_err();
    assert_eq!(err.failure_type(), intake::FailureType::SystemError);
    let msg = err.to_string();
    assert!(
        msg.contains("\"looping\"") && msg.contains("after=A"),
        "{msg}"
    );
}

#[tokio::test]
async fn an_api_that_ignores_the_page_parameter_is_caught() {
    let server = MockServer::start().await;
    Mock::given(path("/stuck"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"items": rows(0, 3)})))
        .mount(&server)
        .await;
    let stream = api(&server)
        .stream("stuck")
        .get("/stuck")
        .records_at("/items")
        .paginate(Paginator::page_number("page"));
    let err = read_all(&stream).await.unwrap_err();
    assert!(err.to_string().contains("repeats the records"), "{err}");
}

#[tokio::test]
async fn max_pages_and_max_records_cut_dev_runs_short() {
    let server = offset_server(100, 1000, false).await;
    let stream = api(&server)
        .stream("members")
        .get("/members")
        .records_at("/members")
        .paginate(Paginator::offset("offset", "count", 10));
    let pages = read_all(&stream.clone().max_pages(2)).await.unwrap();
    assert_eq!(ids(&pages).len(), 20);
    let pages = read_all(&stream.max_records(25)).await.unwrap();
    assert_eq!(ids(&pages), (0..25).collect::<Vec<_>>());
    assert_eq!(pages.last().unwrap().resume, None);
}

#[tokio::test]
async fn a_resume_token_continues_from_the_page_after_it() {
    let server = offset_server(9, 1000, false).await;
    let stream = api(&server)
        .stream("members")
        .get("/members")
        .records_at("/members")
        .paginate(Paginator::offset("offset", "count", 3));
    let pages = read_all(&stream).await.unwrap();
    let token = pages[0].resume.clone().unwrap();
    let resumed = read_from(&stream, Some(token)).await.unwrap();
    assert_eq!(ids(&resumed), (3..9).collect::<Vec<_>>());
    let err = read_from(&stream, Some(json!("not a token")))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("resume token"), "{err}");
}

#[tokio::test]
async fn scenario_9_an_absurd_total_is_a_typed_error_naming_the_field_not_a_silent_stop() {
    for (total, at) in [
        (json!(1e20), "/total_pages"),
        (json!(-3), "/total_pages"),
        (json!(2.5), "/total_pages"),
        (json!(u64::MAX), "/total_pages"),
    ] {
        let server = MockServer::start().await;
        Mock::given(path("/campaigns"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "items": rows(0, 2), "total_pages": total.clone(), "total_items": total.clone(),
            })))
            .mount(&server)
            .await;
        let by_pages = api(&server)
            .stream("campaigns")
            .get("/campaigns")
            .records_at("/items")
            .paginate(Paginator::page_number("page").total_pages_at(at));
        let err = read_all(&by_pages).await.unwrap_err();
        assert_eq!(
            err.failure_type(),
            intake::FailureType::SystemError,
            "{err}"
        );
        assert!(err.to_string().contains("total_pages"), "{total}: {err}");
        let by_offset = api(&server)
            .stream("campaigns")
            .get("/campaigns")
            .records_at("/items")
            .paginate(Paginator::offset("offset", "count", 2).total_at("/total_items"));
        let err = read_all(&by_offset).await.unwrap_err();
        assert!(err.to_string().contains("total_items"), "{total}: {err}");
    }
    // An offset at the edge of u64 cannot wrap to 0 and start over.
    let server = MockServer::start().await;
    Mock::given(path("/items"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"items": rows(0, 2)})))
        .mount(&server)
        .await;
    let edge = api(&server)
        .stream("items")
        .get("/items")
        .records_at("/items")
        .paginate(Paginator::offset("offset", "count", 2));
    let err = read_from(
        &edge,
        Some(json!({"query": [["offset", u64::MAX.to_string()]]})),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("overflows"), "{err}");
}

#[tokio::test]
async fn scenario_10_pages_that_repeat_identical_records_under_moving_cursors_are_read() {
    // A metrics API: every page holds the same zero rows, its cursor moves on each time.
    let server = MockServer::start().await;
    for (after, next) in [
        (None, Some("p2")),
        (Some("p2"), Some("p3")),
        (Some("p3"), None),
    ] {
        let mut body = json!({"results": [{"metric": 0}, {"metric": 0}]});
        if let Some(n) = next {
            body["next"] = json!(n);
        }
        let m = Mock::given(path("/metrics"));
        let m = match after {
            None => m.and(query_param_is_missing("after")),
            Some(a) => m.and(query_param("after", a)),
        };
        m.respond_with(ResponseTemplate::new(200).set_body_json(body))
            .mount(&server)
            .await;
    }
    let stream = api(&server)
        .stream("metrics")
        .get("/metrics")
        .records_at("/results")
        .paginate(Paginator::cursor_from_body("/next").into_query("after"));
    let pages = read_all(&stream).await.unwrap();
    assert_eq!(pages.len(), 3);
    assert_eq!(pages.iter().map(|p| p.records.len()).sum::<usize>(), 6);
}

#[tokio::test]
async fn scenario_11_a_page_without_records_beside_a_next_cursor_is_refused_not_skipped() {
    for body in [json!({"results": null, "next": "B"}), json!({"next": "B"})] {
        let server = MockServer::start().await;
        Mock::given(path("/x"))
            .and(query_param_is_missing("after"))
            .respond_with(ResponseTemplate::new(200).set_body_json(body.clone()))
            .mount(&server)
            .await;
        Mock::given(path("/x"))
            .and(query_param("after", "B"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"results": rows(0, 2)})))
            .mount(&server)
            .await;
        let stream = api(&server)
            .stream("x")
            .get("/x")
            .records_at("/results")
            .paginate(Paginator::cursor_from_body("/next").into_query("after"));
        let err = read_all(&stream).await.unwrap_err();
        assert_eq!(
            err.failure_type(),
            intake::FailureType::SystemError,
            "{body}"
        );
        assert!(err.to_string().contains("no records at /results"), "{err}");
    }
}
