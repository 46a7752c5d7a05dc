//! Rate limiting and retries on paused tokio time, against an in-process server that reads
//! the same paused clock: a server window the quota must stay inside, `Retry-After` in
//! seconds and as a date, pauses that hold back the whole connector, retries and their
//! limits, and the statuses and metrics a sync reports.

mod support;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use intake::http::{HttpApi, HttpError, HttpStream, Paginator, Quota, RetryPolicy};
use intake::{
    Catalog, EventSender, Partition, ReadOptions, ReadRequest, Result, SourceEvent, State, Stream,
    StreamStatus,
};
use serde_json::json;
use support::mock::{Req, Resp, serve};
use tokio::time::Instant;

/// Pre-rendered pages `0..pages` of a cursor-paginated stream (`after=<n>`).
fn pages(prefix: &str, pages: usize) -> Arc<Vec<Bytes>> {
    Arc::new(
        (0..pages)
            .map(|p| {
                let records: Vec<_> = (0..3)
                    .map(|i| json!({"id": format!("{prefix}{}", p * 3 + i), "updatedAt": "2024-01-01T00:00:00Z"}))
                    .collect();
                let mut body = json!({"results": records});
                if p + 1 < pages {
                    body["paging"] = json!({"next": {"after": (p + 1).to_string()}});
                }
                Bytes::from(body.to_string())
            })
            .collect(),
    )
}

fn page_for(req: &Req, pages: &[Bytes]) -> Resp {
    let n: usize = req
        .query
        .get("after")
        .map(|a| a.parse().unwrap())
        .unwrap_or(0);
    Resp::json(200, pages[n].clone())
}

/// A server that answers 429 whenever more than `limit` requests arrived in the last
/// `window` (sliding), and counts what it did.
struct Window {
    limit: usize,
    window: Duration,
    arrivals: Mutex<VecDeque<Instant>>,
    served: AtomicU64,
    rejected: AtomicU64,
}

impl Window {
    fn new(limit: usize, window: Duration) -> Arc<Self> {
        Arc::new(Window {
            limit,
            window,
            arrivals: Mutex::new(VecDeque::new()),
            served: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
        })
    }

    /// Records an arrival; `true` when it is over the limit.
    fn over(&self) -> bool {
        let now = Instant::now();
        let mut a = self.arrivals.lock().unwrap();
        while a
            .front()
            .is_some_and(|t| now.duration_since(*t) >= self.window)
        {
            a.pop_front();
        }
        a.push_back(now);
        let over = a.len() > self.limit;
        if over {
            self.rejected.fetch_add(1, Ordering::Relaxed);
        } else {
            self.served.fetch_add(1, Ordering::Relaxed);
        }
        over
    }
}

fn api(uri: &str) -> HttpApi {
    HttpApi::parse(uri)
        .unwrap()
        .timeout(None)
        .retry(RetryPolicy::default().jitter(false))
}

fn contacts(api: &HttpApi, name: &str, path: &str) -> HttpStream {
    api.stream(name)
        .get(path)
        .records_at("/results")
        .paginate(Paginator::cursor_from_body("/paging/next/after").into_query("after"))
        .primary_key("id")
        .schema(json!({"type": "object", "properties": {"id": {"type": "string"}}}))
}

async fn count_records(stream: &HttpStream) -> Result<usize> {
    let mut pages = stream.read(ReadRequest::full_refresh(stream.name(), Partition::whole()));
    let mut n = 0;
    while let Some(p) = pages.next().await {
        n += p?.records.len();
    }
    Ok(n)
}

#[tokio::test(start_paused = true)]
async fn a_200_page_read_with_the_matching_quota_gets_no_429() {
    let window = Window::new(10, Duration::from_secs(1));
    let body = pages("c", 200);
    let w = window.clone();
    let server = serve(move |req| {
        if w.over() {
            return Resp::json(429, r#"{"status":"error","errorType":"RATE_LIMIT"}"#);
        }
        page_for(&req, &body)
    })
    .await;
    let api = api(&server.uri()).quota(Quota::per_second(10));
    let start = Instant::now();
    let n = count_records(&contacts(&api, "contacts", "/contacts"))
        .await
        .unwrap();
    let elapsed = start.elapsed();
    assert_eq!(n, 600);
    assert_eq!(window.rejected.load(Ordering::Relaxed), 0);
    assert_eq!(window.served.load(Ordering::Relaxed), 200);
    // The first request goes at once, each next one 100 ms later: 19.9 s of paused time.
    assert!(
        elapsed >= Duration::from_millis(19_800) && elapsed <= Duration::from_millis(20_500),
        "{elapsed:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn without_a_quota_the_same_server_rejects_the_burst() {
    // The control experiment: the window really bites.
    let window = Window::new(10, Duration::from_secs(1));
    let body = pages("c", 200);
    let w = window.clone();
    let server = serve(move |req| {
        if w.over() {
            return Resp::json(429, r#"{"status":"error","errorType":"RATE_LIMIT"}"#);
        }
        page_for(&req, &body)
    })
    .await;
    let api = api(&server.uri()).retry(RetryPolicy::none());
    let err = count_records(&contacts(&api, "contacts", "/contacts"))
        .await
        .unwrap_err();
    assert!(err.is_retryable(), "{err}");
    assert!(err.to_string().contains("HTTP 429"), "{err}");
    assert_eq!(window.rejected.load(Ordering::Relaxed), 1);
}

fn catalog_of(streams: &[HttpStream]) -> intake::ConfiguredCatalog {
    let mut catalog = Catalog::default();
    for s in streams {
        let mut c =
            intake::CatalogStream::new(s.name(), json!({"type": "object", "properties": {}}));
        c.source_defined_primary_key = Some(vec![vec!["id".into()]]);
        catalog.streams.push(c);
    }
    catalog.configure_all()
}

async fn read_events(streams: Vec<HttpStream>) -> (Result<()>, Vec<SourceEvent>) {
    let catalog = catalog_of(&streams);
    let streams: Vec<Arc<dyn Stream>> = streams
        .into_iter()
        .map(|s| Arc::new(s) as Arc<dyn Stream>)
        .collect();
    let (tx, mut rx) = tokio::sync::mpsc::channel(1024);
    let collect = tokio::spawn(async move {
        let mut events = Vec::new();
        while let Some(e) = rx.recv().await {
            events.push(e);
        }
        events
    });
    let result = intake::read_streams(
        streams,
        &catalog,
        &State::new(),
        &ReadOptions::default(),
        EventSender::new(tx),
    )
    .await;
    (result, collect.await.unwrap())
}

#[tokio::test(start_paused = true)]
async fn two_streams_of_one_connector_share_its_quota() {
    let window = Window::new(10, Duration::from_secs(1));
    let (a, b) = (pages("a", 100), pages("b", 100));
    let w = window.clone();
    let server = serve(move |req| {
        if w.over() {
            return Resp::json(429, "{}");
        }
        if req.path == "/a" {
            page_for(&req, &a)
        } else {
            page_for(&req, &b)
        }
    })
    .await;
    let api = api(&server.uri()).quota(Quota::per_second(10));
    let start = Instant::now();
    let (result, events) =
        read_events(vec![contacts(&api, "a", "/a"), contacts(&api, "b", "/b")]).await;
    result.unwrap();
    let elapsed = start.elapsed();
    assert_eq!(window.rejected.load(Ordering::Relaxed), 0);
    assert_eq!(window.served.load(Ordering::Relaxed), 200);
    assert!(elapsed >= Duration::from_millis(19_800), "{elapsed:?}");
    let records: usize = events
        .iter()
        .map(|e| match e {
            SourceEvent::Records(b) => b.len(),
            _ => 0,
        })
        .sum();
    assert_eq!(records, 600);
    // Each stream reports its requests and the time it waited for the shared quota.
    let metrics: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            SourceEvent::Metrics(d, m) => Some((d.name.clone(), m.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(metrics.len(), 2);
    for (_, m) in &metrics {
        assert_eq!(m.requests, 100);
        assert!(m.rate_limit_wait >= Duration::from_secs(9), "{m:?}");
    }
}

/// A server whose first answer to `/a` is a 429 with this `Retry-After`; records when each
/// request arrived.
async fn retry_after_server(
    retry_after: String,
) -> (
    support::mock::MockServer,
    Arc<Mutex<Vec<(String, Duration)>>>,
) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let start = Instant::now();
    let (a, b) = (pages("a", 1), pages("b", 3));
    let l = log.clone();
    let limited = Arc::new(AtomicU64::new(0));
    let server = serve(move |req| {
        l.lock().unwrap().push((req.path.clone(), start.elapsed()));
        if req.path == "/a" {
            if limited.fetch_add(1, Ordering::Relaxed) == 0 {
                return Resp::json(
                    429,
                    r#"{"message":"You have reached your ten_secondly_rolling limit."}"#,
                )
                .header("retry-after", &retry_after);
            }
            page_for(&req, &a)
        } else {
            page_for(&req, &b)
        }
    })
    .await;
    (server, log)
}

#[tokio::test(start_paused = true)]
async fn retry_after_seconds_pauses_the_whole_connector_and_reports_rate_limited() {
    let (server, log) = retry_after_server("30".into()).await;
    let api = api(&server.uri());
    let start = Instant::now();
    let (result, events) = read_events(vec![
        contacts(&api, "a", "/a"),
        contacts(&api, "b", "/b").max_pages(3),
    ])
    .await;
    result.unwrap();
    assert!(start.elapsed() >= Duration::from_secs(30));
    let log = log.lock().unwrap().clone();
    let a_times: Vec<Duration> = log
        .iter()
        .filter(|(p, _)| p == "/a")
        .map(|(_, t)| *t)
        .collect();
    assert_eq!(a_times.len(), 2);
    assert!(a_times[1] >= Duration::from_secs(30), "{a_times:?}");
    // Stream b's requests after the 429 waited for the same pause.
    let b_after: Vec<Duration> = log
        .iter()
        .filter(|(p, t)| p == "/b" && *t > a_times[0])
        .map(|(_, t)| *t)
        .collect();
    assert!(
        b_after.iter().all(|t| *t >= Duration::from_secs(30)),
        "{log:?}"
    );
    // The stream said it was rate limited, then running again.
    let statuses: Vec<&StreamStatus> = events
        .iter()
        .filter_map(|e| match e {
            SourceEvent::Status(d, s) if d.name == "a" => Some(s),
            _ => None,
        })
        .collect();
    let limited = statuses
        .iter()
        .position(|s| {
            matches!(
                s,
                StreamStatus::RateLimited {
                    reset_at_ms: Some(_)
                }
            )
        })
        .expect("a RATE_LIMITED status");
    assert_eq!(statuses[limited + 1], &StreamStatus::Running);
    let metrics = events
        .iter()
        .find_map(|e| match e {
            SourceEvent::Metrics(d, m) if d.name == "a" => Some(m.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!((metrics.requests, metrics.retries), (2, 1));
    assert!(
        metrics.rate_limit_wait >= Duration::from_secs(30),
        "{metrics:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn retry_after_as_an_http_date() {
    let at = (chrono::Utc::now() + chrono::Duration::seconds(45))
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string();
    let (server, log) = retry_after_server(at).await;
    let api = api(&server.uri());
    count_records(&contacts(&api, "a", "/a")).await.unwrap();
    let log = log.lock().unwrap().clone();
    assert_eq!(log.len(), 2);
    // The date has one-second resolution and the wall clock moved a little meanwhile.
    assert!(log[1].1 >= Duration::from_secs(43), "{log:?}");
    assert!(log[1].1 <= Duration::from_secs(46), "{log:?}");
}

/// Answers `/x` with the given statuses in turn, then 200.
async fn scripted(statuses: Vec<u16>) -> (support::mock::MockServer, Arc<AtomicU64>) {
    let calls = Arc::new(AtomicU64::new(0));
    let c = calls.clone();
    let body = pages("x", 1);
    let server = serve(move |req| {
        let i = c.fetch_add(1, Ordering::Relaxed) as usize;
        match statuses.get(i) {
            Some(s) => Resp::json(*s, format!(r#"{{"message":"status {s}"}}"#)),
            None => page_for(&req, &body),
        }
    })
    .await;
    (server, calls)
}

#[tokio::test(start_paused = true)]
async fn server_errors_are_retried_with_backoff_then_succeed() {
    let (server, calls) = scripted(vec![503, 502, 500]).await;
    let api = api(&server.uri());
    let start = Instant::now();
    assert_eq!(count_records(&contacts(&api, "x", "/x")).await.unwrap(), 3);
    assert_eq!(calls.load(Ordering::Relaxed), 4);
    // Backoff without jitter: 1 + 2 + 4 seconds.
    assert_eq!(start.elapsed(), Duration::from_secs(7));
}

#[tokio::test(start_paused = true)]
async fn exhausted_retries_give_a_transient_error_with_context() {
    let (server, calls) = scripted(vec![500; 20]).await;
    let api = api(&server.uri()).retry(RetryPolicy::default().jitter(false).max_attempts(4));
    let err = count_records(&contacts(&api, "x", "/x")).await.unwrap_err();
    assert_eq!(calls.load(Ordering::Relaxed), 4);
    assert_eq!(err.failure_type(), intake::FailureType::TransientError);
    let msg = err.to_string();
    assert!(msg.contains("gave up after 4 attempts"), "{msg}");
    assert!(
        msg.contains("GET http://") && msg.contains("/x") && msg.contains("HTTP 500"),
        "{msg}"
    );
    assert!(msg.contains("status 500"), "the body excerpt: {msg}");
    let http = std::error::Error::source(&err)
        .and_then(|s| s.downcast_ref::<HttpError>())
        .expect("the HttpError is the source");
    assert_eq!(http.status(), Some(500));
    assert_eq!(http.method(), "GET");
}

#[tokio::test(start_paused = true)]
async fn the_total_wait_budget_caps_retries() {
    let (server, calls) = scripted(vec![503; 20]).await;
    let api = api(&server.uri()).retry(
        RetryPolicy::default()
            .jitter(false)
            .max_attempts(10)
            .max_total_wait(Duration::from_secs(10)),
    );
    let err = count_records(&contacts(&api, "x", "/x")).await.unwrap_err();
    // Waits 1 + 2 + 4 = 7 s; the next 8 s would pass the 10 s budget.
    assert_eq!(calls.load(Ordering::Relaxed), 4);
    assert!(err.to_string().contains("retry budget"), "{err}");
}

#[tokio::test(start_paused = true)]
async fn unauthorized_is_a_config_error_without_retry() {
    let (server, calls) = scripted(vec![401]).await;
    let err = count_records(&contacts(&api(&server.uri()), "x", "/x"))
        .await
        .unwrap_err();
    assert!(err.is_config(), "{err}");
    assert!(err.to_string().contains("check that the token"), "{err}");
    assert_eq!(calls.load(Ordering::Relaxed), 1);
    let (server, calls) = scripted(vec![403]).await;
    let err = count_records(&contacts(&api(&server.uri()), "x", "/x"))
        .await
        .unwrap_err();
    assert!(
        err.is_config() && err.to_string().contains("scope"),
        "{err}"
    );
    assert_eq!(calls.load(Ordering::Relaxed), 1);
}

#[tokio::test(start_paused = true)]
async fn not_found_and_bad_request_are_system_errors_without_retry() {
    for status in [400, 404] {
        let (server, calls) = scripted(vec![status]).await;
        let err = count_records(&contacts(&api(&server.uri()), "x", "/x"))
            .await
            .unwrap_err();
        assert_eq!(err.failure_type(), intake::FailureType::SystemError);
        assert_eq!(calls.load(Ordering::Relaxed), 1);
    }
}

#[tokio::test(start_paused = true)]
async fn rate_limit_headers_showing_none_left_pause_until_the_reset() {
    let times = Arc::new(Mutex::new(Vec::new()));
    let t = times.clone();
    let start = Instant::now();
    let body = pages("h", 3);
    let server = serve(move |req| {
        t.lock().unwrap().push(start.elapsed());
        page_for(&req, &body)
            .header("x-ratelimit-limit", "100")
            .header("x-ratelimit-remaining", "0")
            .header("x-ratelimit-reset", "5")
    })
    .await;
    let api = api(&server.uri());
    count_records(&contacts(&api, "h", "/h")).await.unwrap();
    let times = times.lock().unwrap().clone();
    assert_eq!(times.len(), 3);
    assert_eq!(times[1] - times[0], Duration::from_secs(5));
    assert_eq!(times[2] - times[1], Duration::from_secs(5));
}

#[tokio::test(start_paused = true)]
async fn a_lower_advertised_limit_tightens_the_quota() {
    let body = pages("t", 11);
    let server = serve(move |req| {
        page_for(&req, &body)
            .header("x-hubspot-ratelimit-max", "5")
            .header("x-hubspot-ratelimit-interval-milliseconds", "1000")
            .header("x-hubspot-ratelimit-remaining", "4")
    })
    .await;
    let headers = intake::http::RateLimitHeaders {
        remaining: vec!["x-hubspot-ratelimit-remaining".into()],
        reset: vec![],
        limit: vec!["x-hubspot-ratelimit-max".into()],
        window_ms: vec!["x-hubspot-ratelimit-interval-milliseconds".into()],
    };
    let api = api(&server.uri())
        .rate_limit(intake::http::RateLimit::new(Quota::per_second(50)).headers(headers));
    let start = Instant::now();
    count_records(&contacts(&api, "t", "/t")).await.unwrap();
    assert_eq!(api.current_quota(None), Some(Quota::per_second(5)));
    // Page 1 under 50/s; from then on 5/s: the fresh quota lets page 2 go at once and spaces
    // the other 9 by 200 ms.
    assert_eq!(start.elapsed(), Duration::from_millis(1_800));
}

/// A one-stream source whose API lives at `base_url`.
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct MockConfig {
    /// The mock's URL.
    base_url: String,
}

#[tokio::test(start_paused = true)]
async fn the_runner_prints_rate_limited_while_the_connector_waits() {
    let (server, _) = retry_after_server("20".into()).await;
    let source = intake::http::HttpSource::new("mock", |cfg: &MockConfig| {
        Ok(vec![contacts(&api(&cfg.base_url), "a", "/a")])
    });
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.json");
    std::fs::write(&config, json!({"base_url": server.uri()}).to_string()).unwrap();
    let catalog = dir.path().join("catalog.json");
    std::fs::write(
        &catalog,
        json!({"streams": [{"stream": {"name": "a", "json_schema": {}, "supported_sync_modes": ["full_refresh"]},
            "sync_mode": "full_refresh", "destination_sync_mode": "append"}]})
        .to_string(),
    )
    .unwrap();
    let args: Vec<String> = [
        "read",
        "--config",
        config.to_str().unwrap(),
        "--catalog",
        catalog.to_str().unwrap(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut out = Vec::new();
    assert_eq!(
        intake::protocol::run_source_with(&source, args, &mut out).await,
        0
    );
    let messages = support::protocol::messages(&out);
    let statuses: Vec<&serde_json::Value> = messages
        .iter()
        .filter(|m| m["trace"]["type"] == "STREAM_STATUS")
        .map(|m| &m["trace"]["stream_status"])
        .collect();
    let limited = statuses
        .iter()
        .find(|s| s["reasons"][0]["type"] == "RATE_LIMITED")
        .expect("a RATE_LIMITED status");
    assert_eq!(limited["status"], "RUNNING");
    assert!(
        limited["reasons"][0]["rate_limited"]["quota_reset"]
            .as_i64()
            .unwrap()
            > 0
    );
    // The waiting time is reported in a log line at the stream's end.
    let log = messages
        .iter()
        .find(|m| {
            m["type"] == "LOG"
                && m["log"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("rate limits")
        })
        .unwrap();
    assert!(
        log["log"]["message"]
            .as_str()
            .unwrap()
            .contains("2 requests, 1 retried, 20.0s"),
        "{log}"
    );
    assert_eq!(messages.iter().filter(|m| m["type"] == "RECORD").count(), 3);
}

/// Answers `/x` with `n` 429s carrying `Retry-After: <retry_after>`, then the page.
async fn limited(
    n: usize,
    retry_after: &'static str,
) -> (support::mock::MockServer, Arc<AtomicU64>) {
    let calls = Arc::new(AtomicU64::new(0));
    let c = calls.clone();
    let body = pages("x", 1);
    let server = serve(move |req| {
        if (c.fetch_add(1, Ordering::Relaxed) as usize) < n {
            return Resp::json(429, r#"{"message":"slow down"}"#)
                .header("retry-after", retry_after);
        }
        page_for(&req, &body)
    })
    .await;
    (server, calls)
}

#[tokio::test(start_paused = true)]
async fn scenario_6_a_cancel_wakes_a_read_paused_by_a_long_retry_after() {
    // Eight minutes: within the retry budget, so the read pauses rather than giving up.
    let (server, _) = limited(1, "480").await;
    let stream = contacts(&api(&server.uri()), "x", "/x");
    let cancel = intake::CancellationToken::new();
    let mut request = ReadRequest::full_refresh("x", Partition::whole());
    request.context = intake::StreamContext::detached("x").cancelled_by(cancel.clone());
    let start = Instant::now();
    let read = async {
        let mut pages = stream.read(request);
        pages.next().await.expect("an answer")
    };
    let (page, ()) = tokio::join!(read, async {
        tokio::time::sleep(Duration::from_secs(5)).await;
        cancel.cancel();
    });
    assert!(matches!(page, Err(intake::Error::Cancelled)), "{page:?}");
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test(start_paused = true)]
async fn scenario_10_retry_after_zero_still_backs_off() {
    let (server, calls) = limited(2, "0").await;
    let start = Instant::now();
    assert_eq!(
        count_records(&contacts(&api(&server.uri()), "x", "/x"))
            .await
            .unwrap(),
        3
    );
    assert_eq!(calls.load(Ordering::Relaxed), 3);
    // The longer of the server's 0 s and the backoff's 1 s, then 2 s: never a burst.
    assert_eq!(start.elapsed(), Duration::from_secs(3));
}

#[tokio::test(start_paused = true)]
async fn scenario_10_a_429_storm_named_by_the_server_is_waited_out_within_the_budget() {
    // Eight 429s with Retry-After: 1 (more than the 6 attempts): the server keeps naming a
    // wait, so the 10-minute wait budget decides, and the read succeeds.
    let (server, calls) = limited(8, "1").await;
    let api = api(&server.uri()).retry(
        RetryPolicy::default()
            .jitter(false)
            .max_delay(Duration::from_secs(2)),
    );
    assert_eq!(count_records(&contacts(&api, "x", "/x")).await.unwrap(), 3);
    assert_eq!(calls.load(Ordering::Relaxed), 9);
    // Without a named wait the count still decides.
    let (server, calls) = scripted(vec![500; 20]).await;
    let err = count_records(&contacts(&api_at(&server.uri()), "x", "/x"))
        .await
        .unwrap_err();
    assert_eq!(calls.load(Ordering::Relaxed), 6);
    assert!(
        err.to_string().contains("gave up after 6 attempts"),
        "{err}"
    );
}

fn api_at(uri: &str) -> HttpApi {
    api(uri)
}
