//! The retry policy alone: `RetryPolicy::decide` as a table of situations and decisions, and
//! `Retry-After` parsing, with no server and no clock.

use std::time::Duration;

use intake::Error;
use intake::http::reqwest::header::{HeaderMap, HeaderValue, RETRY_AFTER};
use intake::http::{Decision, Failure, GiveUp, RetryPolicy, jitter_draw, retry_after};
use proptest::prelude::*;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

#[test]
fn backoff_doubles_up_to_the_cap_and_stops_with_the_attempts() {
    let p = RetryPolicy::default().max_attempts(8).max_delay(secs(10));
    let delays: Vec<u64> = (1..=8)
        .filter_map(|n| p.backoff(n))
        .map(|d| d.as_secs())
        .collect();
    assert_eq!(delays, vec![1, 2, 4, 8, 10, 10, 10]);
    assert_eq!(RetryPolicy::none().backoff(1), None);
    assert_eq!(p.backoff(u32::MAX), None);
}

/// The policy as a table: one row per situation, the decision it must give.
/// Headers holding only `Retry-After: value`.
fn retry_after_header(value: &'static str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(RETRY_AFTER, HeaderValue::from_static(value));
    h
}

#[test]
fn decide_as_a_table() {
    let transient = Error::transient("HTTP 503");
    let throttled = Error::transient("HTTP 429");
    let not_found = Error::config("HTTP 404");
    let unauthorized = Error::config("HTTP 401");
    let cancelled = Error::Cancelled;
    let wait_3 = retry_after_header("3");
    let wait_0 = retry_after_header("0");
    let wait_900 = retry_after_header("900");
    let policy = RetryPolicy::default().jitter(false);
    let jittered = RetryPolicy::default();
    let one = RetryPolicy::none();
    struct Row<'a> {
        what: &'a str,
        policy: &'a RetryPolicy,
        error: &'a Error,
        status: Option<u16>,
        headers: Option<&'a HeaderMap>,
        handler_wait: Option<Duration>,
        attempt: u32,
        unnamed: u32,
        waited: Duration,
        refreshed: bool,
        handler_failed: bool,
        jitter: f64,
        want: Decision,
    }
    let row = |what, error, status, headers, attempt, unnamed, want| Row {
        what,
        policy: &policy,
        error,
        status,
        headers,
        handler_wait: None,
        attempt,
        unnamed,
        waited: Duration::ZERO,
        refreshed: false,
        handler_failed: false,
        jitter: 0.0,
        want,
    };
    let rows = [
        row(
            "a first 503 waits the initial delay",
            &transient,
            Some(503),
            None,
            1,
            1,
            Decision::Retry(secs(1)),
        ),
        row(
            "the third 503 waits four times it",
            &transient,
            Some(503),
            None,
            3,
            3,
            Decision::Retry(secs(4)),
        ),
        row(
            "the sixth failure spends the attempts",
            &transient,
            Some(503),
            None,
            6,
            6,
            Decision::Fail(GiveUp::AttemptsSpent { attempts: 6 }),
        ),
        row(
            "a 429 with Retry-After pauses the API for it",
            &throttled,
            Some(429),
            Some(&wait_3),
            1,
            0,
            Decision::Pause(secs(3)),
        ),
        row(
            "a 429 without one pauses for the backoff",
            &throttled,
            Some(429),
            None,
            2,
            2,
            Decision::Pause(secs(2)),
        ),
        row(
            "a 503 naming a wait pauses the API",
            &transient,
            Some(503),
            Some(&wait_3),
            1,
            0,
            Decision::Pause(secs(3)),
        ),
        row(
            "Retry-After: 0 still waits the backoff",
            &throttled,
            Some(429),
            Some(&wait_0),
            3,
            0,
            Decision::Pause(secs(4)),
        ),
        row(
            "named waits do not spend attempts",
            &throttled,
            Some(429),
            Some(&wait_3),
            40,
            2,
            Decision::Pause(secs(60)),
        ),
        row(
            "a 404 fails at once",
            &not_found,
            Some(404),
            None,
            1,
            1,
            Decision::Fail(GiveUp::NotRetryable),
        ),
        row(
            "a first 401 refreshes the credentials",
            &unauthorized,
            Some(401),
            None,
            1,
            1,
            Decision::RefreshAuth,
        ),
        row(
            "a cancel is never retried",
            &cancelled,
            None,
            None,
            1,
            1,
            Decision::Fail(GiveUp::NotRetryable),
        ),
        row(
            "a dropped connection retries",
            &transient,
            None,
            None,
            2,
            2,
            Decision::Retry(secs(2)),
        ),
        Row {
            want: Decision::Fail(GiveUp::NotRetryable),
            refreshed: true,
            ..row(
                "a second 401 fails",
                &unauthorized,
                Some(401),
                None,
                2,
                2,
                Decision::RefreshAuth,
            )
        },
        Row {
            policy: &one,
            ..row(
                "one attempt never retries",
                &transient,
                Some(503),
                None,
                1,
                1,
                Decision::Fail(GiveUp::NotRetryable),
            )
        },
        Row {
            waited: secs(599),
            ..row(
                "a wait past the budget gives up",
                &throttled,
                Some(429),
                Some(&wait_3),
                7,
                0,
                Decision::Fail(GiveUp::BudgetSpent {
                    attempts: 7,
                    wait: secs(60),
                    budget: secs(600),
                }),
            )
        },
        row(
            "a day-long Retry-After passes the budget",
            &throttled,
            Some(429),
            Some(&wait_900),
            1,
            0,
            Decision::Fail(GiveUp::BudgetSpent {
                attempts: 1,
                wait: secs(900),
                budget: secs(600),
            }),
        ),
        Row {
            handler_wait: Some(secs(7)),
            ..row(
                "the handler's wait takes Retry-After's place",
                &transient,
                Some(500),
                Some(&wait_3),
                1,
                0,
                Decision::Retry(secs(7)),
            )
        },
        Row {
            handler_failed: true,
            ..row(
                "the handler's stop ends the request",
                &transient,
                Some(429),
                Some(&wait_3),
                1,
                0,
                Decision::Fail(GiveUp::Handler),
            )
        },
        Row {
            handler_failed: true,
            ..row(
                "a 401 refreshes before the handler's stop",
                &unauthorized,
                Some(401),
                None,
                1,
                1,
                Decision::RefreshAuth,
            )
        },
        Row {
            policy: &jittered,
            jitter: 0.5,
            ..row(
                "jitter spreads the backoff by its draw",
                &transient,
                Some(502),
                None,
                2,
                2,
                Decision::Retry(secs(3)),
            )
        },
        Row {
            policy: &jittered,
            jitter: 0.99,
            ..row(
                "jitter never shortens a named wait",
                &throttled,
                Some(429),
                Some(&wait_900),
                1,
                0,
                Decision::Fail(GiveUp::BudgetSpent {
                    attempts: 1,
                    wait: secs(900),
                    budget: secs(600),
                }),
            )
        },
    ];
    for r in rows {
        let failure = Failure {
            error: r.error,
            status: r.status,
            headers: r.headers,
            handler_wait: r.handler_wait,
            attempt: r.attempt,
            unnamed_failures: r.unnamed,
            waited: r.waited,
            auth_refreshed: r.refreshed,
            handler_failed: r.handler_failed,
            jitter: r.jitter,
        };
        assert_eq!(r.policy.decide(&failure), r.want, "{}", r.what);
    }
}

#[test]
fn giving_up_says_why() {
    let e = GiveUp::BudgetSpent {
        attempts: 3,
        wait: secs(60),
        budget: secs(100),
    }
    .into_error(Error::transient("HTTP 429"));
    assert!(
        e.message().contains(
            "gave up after 3 attempts: waiting 60s more would pass the 100s retry budget"
        ),
        "{e}"
    );
    assert!(e.is_retryable());
}

#[test]
fn jitter_draws_stay_in_range() {
    for _ in 0..1000 {
        let d = jitter_draw();
        assert!((0.0..1.0).contains(&d), "{d}");
    }
}

#[test]
fn retry_after_seconds_and_dates() {
    let mut h = retry_after_header("7");
    assert_eq!(retry_after(&h), Some(secs(7)));
    let at = (chrono::Utc::now() + chrono::Duration::seconds(30))
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string();
    h.insert(RETRY_AFTER, HeaderValue::from_str(&at).unwrap());
    let wait = retry_after(&h).unwrap();
    assert!(wait > secs(28) && wait <= secs(30), "{wait:?}");
    h.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
    assert_eq!(retry_after(&h), None);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    /// Any Retry-After value: no panic, and never a wait past a day.
    #[test]
    fn any_retry_after_is_bounded(text in "[ -~]{0,40}") {
        let mut h = HeaderMap::new();
        if let Ok(v) = HeaderValue::from_str(&text) {
            h.insert(RETRY_AFTER, v);
            if let Some(wait) = retry_after(&h) {
                prop_assert!(wait <= Duration::from_secs(86_400));
            }
        }
    }

    #[test]
    fn numeric_retry_after_is_those_seconds(secs in 0u32..100_000) {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_str(&secs.to_string()).unwrap());
        prop_assert_eq!(retry_after(&h), Some(Duration::from_secs(u64::from(secs.min(86_400)))));
    }

    /// Whatever the failure, a retry never waits past the budget.
    #[test]
    fn no_decision_passes_the_budget(attempt in 1u32..50, unnamed in 0u32..10, waited in 0u64..700, named in proptest::option::of(0u64..2000), jitter in 0.0f64..1.0) {
        let policy = RetryPolicy::default();
        let error = Error::transient("HTTP 503");
        let f = Failure { error: &error, status: Some(503), headers: None, handler_wait: named.map(Duration::from_secs), attempt, unnamed_failures: unnamed, waited: Duration::from_secs(waited), auth_refreshed: false, handler_failed: false, jitter };
        if let Decision::Retry(d) | Decision::Pause(d) = policy.decide(&f) {
            prop_assert!(Duration::from_secs(waited) + d <= policy.total_wait());
        }
    }
}
