//! Entry points for the cargo-fuzz targets in `fuzz/` (feature `fuzzing`). Not a stable API:
//! each wraps a parser that faces untrusted input, so a fuzzer can reach it from bytes.

use std::time::Duration;

use crate::catalog::ConfiguredCatalog;
use crate::error::Result;
use crate::state::State;

/// `Retry-After` header parsing.
pub fn retry_after(value: &[u8]) -> Option<Duration> {
    crate::http::fuzzing::retry_after(value)
}

/// `Link` header parsing (the `rel="next"` target).
pub fn next_link(value: &[u8]) -> Option<String> {
    crate::http::fuzzing::next_link(value)
}

/// Rate-limit headers observed by a limiter.
pub fn rate_limit_headers(limit: &[u8], remaining: &[u8], reset: &[u8], window: &[u8]) {
    crate::http::fuzzing::rate_limit_headers(limit, remaining, reset, window)
}

/// State file parsing.
pub fn state(text: &str) -> Result<State> {
    State::parse(text)
}

/// Protocol messages on a destination's stdin, fed as `write` feeds them; the number of
/// destination messages they became.
pub async fn destination_input(input: &[u8], catalog: &ConfiguredCatalog) -> Result<u64> {
    crate::protocol::runner_fuzzing(input, catalog).await
}

/// The structural scanner's split of an object into its top-level members (key, value text),
/// `None` when it cannot follow the text. Valid JSON objects must split as serde_json splits
/// them; anything else must not panic.
pub fn split_members(text: &str) -> Option<Vec<(String, String)>> {
    let mut out = Vec::new();
    crate::json::scan::members(text, |k, v| {
        out.push((k.into_owned(), v.to_string()));
        false
    })?;
    Some(out)
}
