//! The quota against a server window, `Retry-After` pauses of the whole connector, the
//! rate-limit headers, and the statuses and metrics a sync reports.

use super::*;

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
