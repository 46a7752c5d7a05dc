//! The mock's request log: every request it answered, when, and with what, so a check can
//! prove what a connector did (a fault was served and retried no sooner than `Retry-After`
//! allowed; a resumed read asked for nothing it already had).

use std::time::Instant;

use serde_json::Value;

use super::Fault;

/// One request the mock answered ([`super::MockApi::log`]).
#[derive(Debug, Clone)]
pub struct Served {
    /// Its position in the log, from 0.
    pub seq: usize,
    /// When it arrived.
    pub at: Instant,
    /// `GET`, `POST`...
    pub method: String,
    /// The path.
    pub path: String,
    /// The query string, if any, as sent.
    pub query: Option<String>,
    /// The body, as sent.
    pub body: Vec<u8>,
    /// How the mock answered it.
    pub answer: Answer,
    /// The records an endpoint ([`super::MockApi::endpoint`]) served in its answer; empty for
    /// hand-written handlers and refusals.
    pub records: Vec<Value>,
}

impl Served {
    /// The request as one line (`GET /items?after=10`), for messages.
    pub fn line(&self) -> String {
        match &self.query {
            Some(q) => format!("{} {}?{q}", self.method, self.path),
            None => format!("{} {}", self.method, self.path),
        }
    }

    /// Whether `other` is the same request (method, path, query and body): a retry or a
    /// repeat.
    pub fn same_request(&self, other: &Served) -> bool {
        self.method == other.method
            && self.path == other.path
            && self.query == other.query
            && self.body == other.body
    }
}

/// How the mock answered a request.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// The endpoint or handler answered it.
    Answered,
    /// An injected fault answered it: the fault's id (as in [`super::FaultGuard::id`]) and
    /// the fault.
    Fault(u64, Fault),
    /// It broke the rate limit and got a 429.
    RateLimited,
    /// It broke the concurrency limit and got the refusal.
    Refused,
}
