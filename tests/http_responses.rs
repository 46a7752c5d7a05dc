//! Responses that are not what they should be: gzip, oversize bodies, truncated JSON, an HTML
//! page served with 200, a wrong content type, timeouts — each a typed error with context,
//! never a panic; and secrets never in error messages or log lines.

mod support;

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use intake::http::{Auth, HttpApi, HttpError, HttpErrorKind, HttpStream, OAuth2, RetryPolicy};
use intake::{FailureType, Partition, ReadRequest, Result, Stream};
use secrecy::SecretString;
use serde_json::json;
use wiremock::matchers::path;
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

fn api(server: &MockServer) -> HttpApi {
    HttpApi::parse(&server.uri())
        .unwrap()
        .timeout(None)
        .retry(RetryPolicy::default().jitter(false).max_attempts(3))
}

fn items(api: HttpApi) -> HttpStream {
    api.stream("items").get("/items").records_at("/data")
}

async fn read(stream: &HttpStream) -> Result<usize> {
    let mut pages = stream.read(ReadRequest::full_refresh(stream.name(), Partition::whole()));
    let mut n = 0;
    while let Some(p) = pages.next().await {
        n += p?.records.len();
    }
    Ok(n)
}

fn http_error(err: &intake::Error) -> &HttpError {
    std::error::Error::source(err)
        .and_then(|s| s.downcast_ref::<HttpError>())
        .unwrap_or_else(|| panic!("no HttpError behind {err:?}"))
}

/// Answers `/items` with `first` for the first `times` requests, then with a good page.
async fn flaky(first: ResponseTemplate, times: u64) -> (MockServer, Arc<AtomicU64>) {
    let server = MockServer::start().await;
    let calls = Arc::new(AtomicU64::new(0));
    let c = calls.clone();
    Mock::given(path("/items"))
        .respond_with(move |_: &Request| {
            if c.fetch_add(1, Ordering::Relaxed) < times {
                first.clone()
            } else {
                ResponseTemplate::new(200).set_body_json(json!({"data": [{"id": 1}]}))
            }
        })
        .mount(&server)
        .await;
    (server, calls)
}

#[tokio::test]
async fn gzip_bodies_are_decoded() {
    let server = MockServer::start().await;
    let body = json!({"data": (0..500).map(|i| json!({"id": i, "pad": "x".repeat(50)})).collect::<Vec<_>>()});
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(body.to_string().as_bytes()).unwrap();
    let compressed = gz.finish().unwrap();
    assert!(compressed.len() < body.to_string().len() / 5);
    Mock::given(path("/items"))
        .and(wiremock::matchers::header("accept-encoding", "gzip"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-encoding", "gzip")
                .insert_header("content-type", "application/json")
                .set_body_bytes(compressed),
        )
        .mount(&server)
        .await;
    assert_eq!(read(&items(api(&server))).await.unwrap(), 500);
}

#[tokio::test]
async fn a_body_over_the_cap_is_a_system_error_without_retry() {
    let big = json!({"data": (0..100).map(|i| json!({"id": i, "pad": "y".repeat(100)})).collect::<Vec<_>>()});
    let (server, calls) = flaky(ResponseTemplate::new(200).set_body_json(big), 10).await;
    let err = read(&items(api(&server).max_response_bytes(4096)))
        .await
        .unwrap_err();
    assert_eq!(err.failure_type(), FailureType::SystemError);
    assert_eq!(
        http_error(&err).kind(),
        &HttpErrorKind::TooLarge { limit: 4096 }
    );
    assert_eq!(calls.load(Ordering::Relaxed), 1);
}

#[tokio::test(start_paused = true)]
async fn truncated_json_is_retried_then_read() {
    let truncated = ResponseTemplate::new(200)
        .set_body_raw(r#"{"data": [{"id": 1}, {"id""#, "application/json");
    let (server, calls) = flaky(truncated.clone(), 1).await;
    assert_eq!(read(&items(api(&server))).await.unwrap(), 1);
    assert_eq!(calls.load(Ordering::Relaxed), 2);
    // Always truncated: a transient error that says so.
    let (server, _) = flaky(truncated, 10).await;
    let err = read(&items(api(&server))).await.unwrap_err();
    assert_eq!(err.failure_type(), FailureType::TransientError);
    assert!(err.to_string().contains("ends early"), "{err}");
}

#[tokio::test]
async fn an_html_page_served_with_200_is_a_system_error_with_an_excerpt() {
    let html = ResponseTemplate::new(200).set_body_raw(
        "<html><body><h1>Scheduled maintenance</h1></body></html>",
        "text/html; charset=utf-8",
    );
    let (server, calls) = flaky(html, 10).await;
    let err = read(&items(api(&server))).await.unwrap_err();
    assert_eq!(err.failure_type(), FailureType::SystemError);
    let msg = err.to_string();
    assert!(
        msg.contains("HTML page") && msg.contains("Scheduled maintenance"),
        "{msg}"
    );
    assert!(
        msg.contains("GET http://") && msg.contains("/items"),
        "{msg}"
    );
    assert_eq!(calls.load(Ordering::Relaxed), 1);
}

#[tokio::test]
async fn a_wrong_content_type_or_shape_is_a_typed_error() {
    let xml = ResponseTemplate::new(200)
        .set_body_raw("<?xml version=\"1.0\"?><items/>", "application/xml");
    let (server, _) = flaky(xml, 10).await;
    let err = read(&items(api(&server))).await.unwrap_err();
    assert!(
        matches!(http_error(&err).kind(), HttpErrorKind::Decode { .. }),
        "{err}"
    );
    let csv = ResponseTemplate::new(200).set_body_raw("id\n1\n", "text/csv");
    let (server, _) = flaky(csv, 10).await;
    let err = read(&items(api(&server))).await.unwrap_err();
    assert!(err.to_string().contains("text/csv"), "{err}");
    // Records that are not objects.
    let scalars = ResponseTemplate::new(200).set_body_json(json!({"data": [1, 2]}));
    let (server, _) = flaky(scalars, 10).await;
    let err = read(&items(api(&server))).await.unwrap_err();
    assert_eq!(err.failure_type(), FailureType::SystemError);
    assert!(err.to_string().contains("must be a JSON object"), "{err}");
    // The records field is an object, not an array.
    let object = ResponseTemplate::new(200).set_body_json(json!({"data": {"id": 1}}));
    let (server, _) = flaky(object, 10).await;
    let err = read(&items(api(&server))).await.unwrap_err();
    assert!(err.to_string().contains("array of records"), "{err}");
}

#[tokio::test(start_paused = true)]
async fn a_timeout_is_retried() {
    // The in-process server delays on the same paused clock as the client's timeout.
    let calls = Arc::new(AtomicU64::new(0));
    let c = calls.clone();
    let server = support::mock::serve(move |_| {
        let resp = support::mock::Resp::json(200, r#"{"data": [{"id": 1}]}"#);
        if c.fetch_add(1, Ordering::Relaxed) == 0 {
            resp.delay(Duration::from_secs(3600))
        } else {
            resp
        }
    })
    .await;
    let api = HttpApi::parse(&server.uri())
        .unwrap()
        .timeout(Some(Duration::from_secs(5)))
        .retry(RetryPolicy::default().jitter(false));
    let start = tokio::time::Instant::now();
    assert_eq!(read(&items(api)).await.unwrap(), 1);
    assert_eq!(calls.load(Ordering::Relaxed), 2);
    // 5 s timeout, 1 s backoff.
    assert_eq!(start.elapsed(), Duration::from_secs(6));
}

#[tokio::test]
async fn a_refused_connection_is_a_transient_error() {
    // Bind and drop a listener to get a port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let api = HttpApi::parse(&format!("http://127.0.0.1:{port}"))
        .unwrap()
        .retry(RetryPolicy::none());
    let err = read(&items(api)).await.unwrap_err();
    assert_eq!(err.failure_type(), FailureType::TransientError);
    assert!(
        matches!(http_error(&err).kind(), HttpErrorKind::Connection(_)),
        "{err}"
    );
}

/// Captures every log line written while `f` runs.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn secrets_never_reach_errors_or_logs() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let server = MockServer::start().await;
    // The API echoes what it was sent, the way some error pages do.
    Mock::given(path("/items"))
        .respond_with(|req: &Request| {
            let auth = req
                .headers
                .get("authorization")
                .map(|v| v.to_str().unwrap().to_string())
                .unwrap_or_default();
            ResponseTemplate::new(500)
                .set_body_string(format!("internal error for {} with {auth}", req.url))
        })
        .mount(&server)
        .await;
    Mock::given(path("/token"))
        .respond_with(|req: &Request| {
            ResponseTemplate::new(401).set_body_string(format!(
                "{{\"error\":\"invalid_client\",\"error_description\":\"bad request {}\"}}",
                String::from_utf8_lossy(&req.body)
            ))
        })
        .mount(&server)
        .await;
    let quick = RetryPolicy::default()
        .max_attempts(2)
        .initial_delay(Duration::from_millis(1));
    let base = HttpApi::parse(&server.uri()).unwrap().retry(quick);
    let mut messages = Vec::new();
    for auth in [
        Auth::api_key_query("api_key", SecretString::from("query-key-7f3a")),
        Auth::api_key_query("x", SecretString::from("odd/key+with=chars")),
        Auth::bearer(SecretString::from("bearer-token-9c2e")),
        Auth::basic("user", SecretString::from("basic-pass-4d1b")),
        Auth::oauth2(OAuth2::refresh_token(
            format!("{}/token", server.uri()).parse().unwrap(),
            "client",
            SecretString::from("client-secret-5e6f"),
            SecretString::from("refresh-token-8a9b"),
        )),
    ] {
        let api = base.clone().auth(auth.clone());
        let err = read(&items(api.clone())).await.unwrap_err();
        messages.push(format!(
            "{err} | {err:?} | {} | {api:?} | {auth:?}",
            err.chain()
        ));
    }
    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("retrying"), "the retries were logged: {logs}");
    let everything = format!("{}\n{logs}", messages.join("\n"));
    for secret in [
        "query-key-7f3a",
        "odd/key+with=chars",
        "odd%2Fkey%2Bwith%3Dchars",
        "bearer-token-9c2e",
        "basic-pass-4d1b",
        "dXNlcjpiYXNpYy1wYXNzLTRkMWI", // base64("user:basic-pass-4d1b")
        "client-secret-5e6f",
        "refresh-token-8a9b",
    ] {
        assert!(
            !everything.contains(secret),
            "{secret} leaked:\n{everything}"
        );
    }
    // The errors still say what happened.
    assert!(
        messages[0].contains("HTTP 500") && messages[0].contains("api_key=***"),
        "{}",
        messages[0]
    );
    assert!(messages[4].contains("invalid_client"), "{}", messages[4]);
}

/// An API's own error handler reads the body: a quota that will not come back soon fails at
/// once (one request, no retry storm), a short one is retried after the wait it names, and
/// everything else keeps the default mapping.
#[tokio::test(start_paused = true)]
async fn an_error_handler_decides_from_the_body() {
    use intake::http::ErrorAction;
    let daily = ResponseTemplate::new(429)
        .set_body_json(json!({"status": "error", "policyName": "DAILY", "message": "daily"}));
    let (server, calls) = flaky(daily, 10).await;
    let handler = |e: &HttpError| match e
        .body_json()
        .and_then(|b| b["policyName"].as_str().map(str::to_string))
        .as_deref()
    {
        Some("DAILY") => ErrorAction::Fail(intake::Error::transient("the daily quota is spent")),
        Some("TEN_SECONDLY_ROLLING") => ErrorAction::Retry(Some(Duration::from_secs(10))),
        _ => ErrorAction::Default,
    };
    let err = read(&items(api(&server).on_error(handler)))
        .await
        .unwrap_err();
    assert_eq!(calls.load(Ordering::Relaxed), 1, "not retried");
    assert_eq!(err.failure_type(), FailureType::TransientError);
    assert!(err.message().contains("daily quota"), "{err}");
    assert_eq!(
        http_error(&err).status(),
        Some(429),
        "the HTTP detail stays attached"
    );

    let rolling = ResponseTemplate::new(429).set_body_json(
        json!({"status": "error", "policyName": "TEN_SECONDLY_ROLLING", "message": "slow down"}),
    );
    let (server, calls) = flaky(rolling, 1).await;
    let started = tokio::time::Instant::now();
    assert_eq!(
        read(&items(api(&server).on_error(handler))).await.unwrap(),
        1
    );
    assert_eq!(calls.load(Ordering::Relaxed), 2);
    assert!(
        started.elapsed() >= Duration::from_secs(10),
        "waited as told"
    );

    // Default: a 404 is a system error, as without a handler.
    let (server, _) = flaky(ResponseTemplate::new(404).set_body_string("{}"), 10).await;
    let err = read(&items(api(&server).on_error(handler)))
        .await
        .unwrap_err();
    assert_eq!(err.failure_type(), FailureType::SystemError);
    assert_eq!(http_error(&err).body(), Some("{}"));
}
