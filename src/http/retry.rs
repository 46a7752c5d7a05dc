//! Retries: the policy (which failures, how many times, how long) — the mechanism lives in
//! [`crate::http::HttpApi`], outside the rate limiter, so every retry waits for a token too.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};

use crate::error::Error;

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

    /// Whether this failure is worth another attempt.
    pub fn should_retry(&self, error: &Error) -> bool {
        error.is_retryable()
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

    /// The computed delays between attempts (at most `max_attempts - 1`).
    pub(crate) fn delays(&self) -> impl Iterator<Item = Duration> + Send + use<> {
        let mut builder = ExponentialBuilder::default()
            .with_min_delay(self.initial_delay)
            .with_max_delay(self.max_delay)
            .with_factor(2.0)
            .with_max_times(self.max_attempts.saturating_sub(1) as usize);
        if self.jitter {
            builder = builder.with_jitter();
        }
        builder.build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_cap() {
        let p = RetryPolicy::default()
            .jitter(false)
            .max_attempts(8)
            .max_delay(Duration::from_secs(10));
        let delays: Vec<u64> = p.delays().map(|d| d.as_secs()).collect();
        assert_eq!(delays, vec![1, 2, 4, 8, 10, 10, 10]);
        assert_eq!(RetryPolicy::none().delays().count(), 0);
        let jittered: Vec<Duration> = RetryPolicy::default().delays().collect();
        assert_eq!(jittered.len(), 5);
        assert!(jittered[0] >= Duration::from_secs(1) && jittered[0] <= Duration::from_secs(2));
    }
}
