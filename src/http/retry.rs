//! Retries: the policy, and its one decision. [`RetryPolicy::decide`] is a pure function of a
//! [`Failure`] (what went wrong, what the server said, how far the request has come) to a
//! [`Decision`]; the requester ([`crate::http::HttpApi::send`]) carries it out. The retry layer
//! sits outside the rate limiter, so every retry waits for a token like any request.

use std::hash::BuildHasher;
use std::time::Duration;

use reqwest::header::{HeaderMap, RETRY_AFTER};

use crate::error::Error;

/// The longest wait a `Retry-After` is taken at: a day.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(86_400);

/// When and how often a failed request is tried again.
///
/// Retried: HTTP 408, 429 and 5xx, timeouts, connection failures and truncated bodies
/// ([`Error::is_retryable`]). When the server names a wait (`Retry-After`), the longer of it
/// and the computed delay is waited, and such an attempt does not count against
/// [`RetryPolicy::max_attempts`]: the wait budget ([`RetryPolicy::max_total_wait`]) decides.
/// With one attempt ([`RetryPolicy::none`]) nothing is retried. Anything else fails at once.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    max_attempts: u32,
    initial_delay: Duration,
    max_delay: Duration,
    max_total_wait: Duration,
    jitter: bool,
}

impl Default for RetryPolicy {
    /// 6 attempts, delays from 1 s doubling up to 60 s with jitter, at most 10 minutes of
    /// waiting in total.
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 6,
            initial_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(60),
            max_total_wait: Duration::from_secs(600),
            jitter: true,
        }
    }
}

/// One failed attempt, as the retry policy sees it.
#[derive(Debug, Clone)]
pub struct Failure<'a> {
    /// The failure, as the API's error handler left it (intake's mapping when it has none).
    pub error: &'a Error,
    /// The HTTP status, when the server answered.
    pub status: Option<u16>,
    /// The answer's headers, when the server answered (`Retry-After` is read from them).
    pub headers: Option<&'a HeaderMap>,
    /// A wait the API's error handler named ([`crate::http::ErrorAction::Retry`]); it takes
    /// the place of `Retry-After`.
    pub handler_wait: Option<Duration>,
    /// Which attempt failed: 1 for the first.
    pub attempt: u32,
    /// Failures of this request so far, this one included, for which no wait was named.
    pub unnamed_failures: u32,
    /// Time already spent waiting between this request's attempts.
    pub waited: Duration,
    /// Whether the credentials were already refreshed once for this request.
    pub auth_refreshed: bool,
    /// Whether the API's error handler said to stop ([`crate::http::ErrorAction::Fail`]).
    pub handler_failed: bool,
    /// A draw in `[0, 1)` that spreads the delay when jitter is on; the requester draws it
    /// ([`jitter_draw`]), a test fixes it.
    pub jitter: f64,
}

impl Failure<'_> {
    /// The wait the server (or the API's error handler) named for this failure, if any.
    pub fn named_wait(&self) -> Option<Duration> {
        self.handler_wait
            .or_else(|| self.headers.and_then(retry_after))
    }
}

/// What the requester does after a failed attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Wait this long, then send the request again; other requests go on meanwhile.
    Retry(Duration),
    /// Hold back every request of the API for this long (a rate-limit answer concerns the
    /// whole account), then send the request again.
    Pause(Duration),
    /// Refresh the credentials and send the request again at once (an answer of 401).
    RefreshAuth,
    /// Give up and return the error.
    Fail(GiveUp),
}

/// Why a request is given up.
#[derive(Debug, Clone, PartialEq)]
pub enum GiveUp {
    /// The API's error handler said to stop.
    Handler,
    /// The failure is not one a retry can fix (a 400, a 404, bad credentials, a cancel).
    NotRetryable,
    /// The attempts the policy allows are spent.
    AttemptsSpent {
        /// The attempts made.
        attempts: u32,
    },
    /// The next wait would pass the policy's wait budget.
    BudgetSpent {
        /// The attempts made.
        attempts: u32,
        /// The wait that would have come next.
        wait: Duration,
        /// The budget.
        budget: Duration,
    },
}

impl GiveUp {
    /// The error the request ends with.
    pub fn into_error(self, error: Error) -> Error {
        match self {
            GiveUp::Handler | GiveUp::NotRetryable => error,
            GiveUp::AttemptsSpent { attempts } => {
                error.context(format!("gave up after {attempts} attempts"))
            }
            GiveUp::BudgetSpent {
                attempts,
                wait,
                budget,
            } => error.context(format!(
                "gave up after {attempts} attempts: waiting {:.0}s more would pass the {:.0}s retry budget",
                wait.as_secs_f64(),
                budget.as_secs_f64()
            )),
        }
    }
}

impl RetryPolicy {
    /// One attempt, no retries.
    pub fn none() -> Self {
        RetryPolicy {
            max_attempts: 1,
            ..Default::default()
        }
    }

    /// Attempts in total, the first included, counting only failures for which the server
    /// named no wait. Default 6.
    pub fn max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = n.max(1);
        self
    }

    /// The first retry's delay; each next one doubles. Default 1 s.
    pub fn initial_delay(mut self, d: Duration) -> Self {
        self.initial_delay = d;
        self
    }

    /// The longest computed delay (a longer `Retry-After` is still honoured). Default 60 s.
    pub fn max_delay(mut self, d: Duration) -> Self {
        self.max_delay = d;
        self
    }

    /// The most time spent waiting across all retries of one request; a wait that would
    /// pass it gives up instead. Default 10 minutes.
    pub fn max_total_wait(mut self, d: Duration) -> Self {
        self.max_total_wait = d;
        self
    }

    /// Randomizes each delay (by up to its own length) so clients do not retry in lockstep.
    /// Default on.
    pub fn jitter(mut self, on: bool) -> Self {
        self.jitter = on;
        self
    }

    /// The attempts allowed.
    pub fn attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The wait budget.
    pub fn total_wait(&self) -> Duration {
        self.max_total_wait
    }

    /// The longest computed delay (used once the computed delays run out while the server
    /// keeps naming waits).
    pub fn longest_delay(&self) -> Duration {
        self.max_delay
    }

    /// The computed delay after the `n`-th failed attempt (1-based), before jitter: the
    /// initial delay doubled `n - 1` times, at most the longest delay; `None` once the
    /// attempts the policy allows are spent.
    pub fn backoff(&self, n: u32) -> Option<Duration> {
        if n == 0 || n >= self.max_attempts {
            return None;
        }
        let factor = 2f64.powi(i32::try_from(n - 1).unwrap_or(i32::MAX));
        let delay = self.initial_delay.as_secs_f64() * factor;
        Some(Duration::from_secs_f64(delay.min(self.max_delay.as_secs_f64())).min(self.max_delay))
    }

    /// What to do after a failed attempt. The rules, in order:
    /// 1. a 401 not yet answered by a refresh: [`Decision::RefreshAuth`] (before the API's
    ///    error handler has its say: an expired token is refreshed, not reported);
    /// 2. the API's error handler said to stop: fail;
    /// 3. a failure a retry cannot fix, or a policy of one attempt: fail;
    /// 4. failures without a named wait count against [`RetryPolicy::max_attempts`]; named
    ///    waits are bounded by the wait budget alone;
    /// 5. the wait is the longer of the named wait and the computed backoff (jittered), so a
    ///    `Retry-After: 0` never turns into a burst of immediate retries;
    /// 6. a wait that would pass the budget fails;
    /// 7. a 429, or a 503 that names a wait, pauses the whole API; anything else waits alone.
    pub fn decide(&self, failure: &Failure<'_>) -> Decision {
        if failure.status == Some(401) && !failure.auth_refreshed {
            return Decision::RefreshAuth;
        }
        if failure.handler_failed {
            return Decision::Fail(GiveUp::Handler);
        }
        if !failure.error.is_retryable()
            || matches!(failure.error, Error::Cancelled)
            || self.max_attempts <= 1
        {
            return Decision::Fail(GiveUp::NotRetryable);
        }
        let named = failure.named_wait();
        let computed = self.backoff(failure.attempt);
        let spent = failure.unnamed_failures >= self.max_attempts;
        if spent || (named.is_none() && computed.is_none()) {
            return Decision::Fail(GiveUp::AttemptsSpent {
                attempts: failure.attempt,
            });
        }
        let mut backoff = computed.unwrap_or(self.max_delay);
        if self.jitter {
            backoff = backoff.mul_f64(1.0 + failure.jitter.clamp(0.0, 1.0));
        }
        let wait = named.map_or(backoff, |n| n.max(backoff));
        if failure.waited + wait > self.max_total_wait {
            return Decision::Fail(GiveUp::BudgetSpent {
                attempts: failure.attempt,
                wait,
                budget: self.max_total_wait,
            });
        }
        let rate_limited =
            failure.status == Some(429) || (failure.status == Some(503) && named.is_some());
        if rate_limited {
            Decision::Pause(wait)
        } else {
            Decision::Retry(wait)
        }
    }
}

/// A uniform draw in `[0, 1)` for [`Failure::jitter`]: the standard library's randomly keyed
/// hasher over the current instant (jitter needs spread, not cryptographic randomness).
pub fn jitter_draw() -> f64 {
    let bits = std::collections::hash_map::RandomState::new().hash_one(std::time::Instant::now());
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

/// `Retry-After` as a wait: delta seconds or an HTTP date, at most a day.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let text = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = text.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0)
            .then(|| Duration::from_secs_f64(secs.min(MAX_RETRY_AFTER.as_secs_f64())));
    }
    let at = chrono::DateTime::parse_from_rfc2822(text).ok()?;
    let wait = at.timestamp_millis() - chrono::Utc::now().timestamp_millis();
    let max = i64::try_from(MAX_RETRY_AFTER.as_millis()).unwrap_or(i64::MAX);
    Some(Duration::from_millis(wait.clamp(0, max) as u64))
}
