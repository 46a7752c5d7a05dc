//! Hole 7: the mock is held to the quota and concurrency cap the source declares, without
//! the test repeating them; "in flight" is measured with answers that take time.

use super::broken::Config;
use super::*;

use intake::http::{Quota, RateLimit};

/// Items on an API whose test sets no rate limit and no hold: the suite derives them.
async fn plain_api() -> MockApi {
    let api = MockApi::start().await;
    api.endpoint("/items")
        .records(
            (0..60)
                .map(|i| json!({"id": i, "updated_at": format!("2024-05-01T00:00:{i:02}Z")}))
                .collect::<Vec<_>>(),
        )
        .page_size(5)
        .paginate(PageStyle::cursor("/next", "after"))
        .filter(Filter::query("since", "updated_at"))
        .mount()
        .await;
    api.endpoint("/tags")
        .records((0..200).map(|i| json!({"id": i})).collect::<Vec<_>>())
        .page_size(5)
        .paginate(PageStyle::cursor("/next", "after"))
        .mount()
        .await;
    api
}

/// Two streams; `items` on an API with a quota of 20/s and a cap of 1 in flight. `tags` on
/// the same API, or, with `second_client`, on a second client its author forgot to limit.
fn limited(second_client: bool) -> HttpSource<Config> {
    HttpSource::new("limited", move |cfg: &Config| {
        let limited = HttpApi::parse(&cfg.base_url)?
            .auth(Auth::bearer(cfg.api_token.clone()))
            .rate_limit(RateLimit::new(Quota::per_second(20)).max_concurrency(1));
        let unlimited = HttpApi::parse(&cfg.base_url)?.auth(Auth::bearer(cfg.api_token.clone()));
        let tags_api = if second_client { &unlimited } else { &limited };
        Ok(vec![
            limited
                .stream("items")
                .get("/items")
                .query("since", "{cursor}")
                .records_at("/results")
                .primary_key("id")
                .cursor("updated_at")
                .paginate(Paginator::cursor_from_body("/next").into_query("after"))
                .schema(json!({"type": "object", "properties": {"id": {"type": "integer"}, "updated_at": {"type": "string"}}})),
            tags_api
                .stream("tags")
                .get("/tags")
                .records_at("/results")
                .primary_key("id")
                .paginate(Paginator::cursor_from_body("/next").into_query("after"))
                .schema(json!({"type": "object", "properties": {"id": {"type": "integer"}}})),
        ])
    })
}

async fn run(second_client: bool) -> (AcceptanceReport, MockApi) {
    let api = plain_api().await;
    let report = acceptance(
        limited(second_client),
        json!({"api_token": "tok-1234", "base_url": api.uri()}),
    )
    .mock(&api)
    .skip(
        checks::INCREMENTAL_CHANGES,
        "changes are proved on the REST example",
    )
    .run()
    .await;
    println!("{report}");
    (report, api)
}

#[tokio::test]
async fn a_declared_quota_and_cap_are_checked_without_the_test_repeating_them() {
    let (report, api) = run(false).await;
    report.assert_all_passed();
    let rate = report.outcome(checks::RATE_LIMIT).unwrap();
    assert!(
        matches!(rate, Outcome::Passed(m) if m.contains("21 per 1s, derived from the declared quota 20 per 1s")),
        "{report}"
    );
    let concurrency = report.outcome(checks::CONCURRENCY).unwrap();
    assert!(
        matches!(concurrency, Outcome::Passed(m)
            if m.contains("at most 1 request(s) in flight in a full refresh with every answer held 25ms, cap 1")),
        "{report}"
    );
    // The suite's own hold is gone once the check is done.
    assert!(api.requests() > 0);
}

#[tokio::test]
async fn a_stream_on_an_unlimited_second_client_breaks_the_declared_limits() {
    let (report, _api) = run(true).await;
    assert_outcome(&report, checks::RATE_LIMIT, "fail");
    let concurrency = report.outcome(checks::CONCURRENCY).unwrap();
    assert!(
        matches!(concurrency, Outcome::Failed(m) if m.contains("in flight at once in a full refresh with every answer held 25ms; the cap is 1")),
        "{report}"
    );
}

#[tokio::test]
async fn a_source_declaring_no_quota_must_skip_the_rate_limit_check_with_a_reason() {
    let api = plain_api().await;
    let source = HttpSource::new("unlimited", |cfg: &Config| {
        let api = HttpApi::parse(&cfg.base_url)?.auth(Auth::bearer(cfg.api_token.clone()));
        Ok(vec![
            api.stream("tags")
                .get("/tags")
                .records_at("/results")
                .primary_key("id")
                .paginate(Paginator::cursor_from_body("/next").into_query("after"))
                .schema(json!({"type": "object", "properties": {"id": {"type": "integer"}}})),
        ])
    });
    let report = acceptance(
        source,
        json!({"api_token": "tok-1234", "base_url": api.uri()}),
    )
    .mock(&api)
    .run()
    .await;
    assert!(!report.all_passed());
    let rate = report.outcome(checks::RATE_LIMIT).unwrap();
    assert!(
        matches!(rate, Outcome::Unchecked(m) if m.contains("declares no quota")),
        "{report}"
    );
    assert_outcome(&report, checks::CONCURRENCY, "unchecked");
}
