//! Retries through the requester: backoff, exhausted attempts, the wait budget, and the
//! statuses that are never retried.

use super::*;

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
