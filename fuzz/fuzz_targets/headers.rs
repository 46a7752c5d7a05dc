//! Retry-After, Link and rate-limit headers as a server (or a broken proxy) may send them.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(wait) = intake::fuzz::retry_after(data) {
        assert!(wait.as_secs() <= 86_400, "a Retry-After wait is capped at a day");
    }
    if let Some(target) = intake::fuzz::next_link(data) {
        let text = String::from_utf8_lossy(data);
        assert!(text.contains(&target), "the next link comes from the header");
    }
    let mut parts = data.splitn(4, |b| *b == b'|');
    let (a, b, c, d) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    intake::fuzz::rate_limit_headers(a, b, c, d);
});
