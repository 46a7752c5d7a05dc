//! The HTTP toolkit: REST streams declared, not written (feature `http`, on by default).
//!
//! An [`HttpApi`] holds what every request of one API shares: base URL, [`Auth`], the
//! [`RateLimit`] (one GCRA quota per connector instance, shared by all its streams), the
//! [`RetryPolicy`] and the response size cap. An [`HttpStream`] declares one endpoint: path,
//! query and body templates, where the records are, the [`Paginator`], the cursor, the key,
//! the schema and the partitions. [`HttpSource`] turns a typed config and a list of streams
//! into a [`crate::Source`].
//!
//! Layers around one requester, outermost first (each in its own module, composed by
//! `requester`): retry ([`RetryPolicy::decide`]) -> rate limit / concurrency -> auth -> send,
//! with the API's error handler ([`HttpApi::on_error`]) between a failed exchange and the
//! retry decision. Retries re-acquire rate-limit tokens, so retries are paced too. Every HTTP failure is
//! an [`HttpError`] (method, URL without secrets, status, body excerpt) carried as the source
//! of a typed [`crate::Error`]: 401/403 are config errors, 408/429/5xx/timeouts/resets are
//! transient and retried, other 4xx and broken response contracts are system errors.
//!
//! # Example
//! ```
//! use intake::http::{Auth, HttpApi, Paginator, Quota};
//! use secrecy::SecretString;
//!
//! let api = HttpApi::parse("https://api.hubapi.com")?
//!     .auth(Auth::bearer(SecretString::from("pat-...")))
//!     .quota(Quota::new(100, std::time::Duration::from_secs(10)));
//! let companies = api
//!     .stream("companies")
//!     .get("/crm/v3/objects/companies")
//!     .query("limit", "100")
//!     .records_at("/results")
//!     .paginate(Paginator::cursor_from_body("/paging/next/after").into_query("after"))
//!     .primary_key("id")
//!     .cursor("updatedAt");
//! # let _ = companies;
//! # Ok::<(), intake::Error>(())
//! ```

mod auth;
mod client;
mod error;
mod paginate;
mod ratelimit;
pub mod record;
mod requester;
mod response;
mod retry;
pub(crate) mod secret_forms;
mod send;
mod source;
mod stream;

/// The HTTP toolkit's header parsers, for the fuzz targets.
#[cfg(feature = "fuzzing")]
pub(crate) mod fuzzing {
    use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

    fn headers(pairs: &[(&'static str, &[u8])]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in pairs {
            if let Ok(v) = HeaderValue::from_bytes(value) {
                h.append(HeaderName::from_static(name), v);
            }
        }
        h
    }

    pub(crate) fn retry_after(value: &[u8]) -> Option<std::time::Duration> {
        super::retry::retry_after(&headers(&[("retry-after", value)]))
    }

    pub(crate) fn next_link(value: &[u8]) -> Option<String> {
        super::paginate::next_link(&headers(&[("link", value)]))
    }

    pub(crate) fn rate_limit_headers(limit: &[u8], remaining: &[u8], reset: &[u8], window: &[u8]) {
        use super::{Quota, RateLimit, RateLimitHeaders};
        let config = RateLimit::new(Quota::per_second(10)).headers(RateLimitHeaders {
            window_ms: vec!["x-window-ms".into()],
            ..RateLimitHeaders::default()
        });
        let limiter = super::ratelimit::Limiter::new(&config);
        limiter.observe(
            None,
            &headers(&[
                ("x-ratelimit-limit", limit),
                ("x-ratelimit-remaining", remaining),
                ("x-ratelimit-reset", reset),
                ("x-window-ms", window),
            ]),
        );
    }
}
pub mod template;

pub(crate) use auth::base64;
pub use auth::{Auth, Authenticator, OAuth2};
#[cfg(feature = "jwt")]
pub use auth::{GoogleServiceAccount, ServiceAccountKey};
pub use client::{DEFAULT_MAX_RESPONSE_BYTES, HttpApi, default_client};
pub use error::{ErrorAction, HttpError, HttpErrorKind};
pub use paginate::{CursorPaginator, OffsetPaginator, PageNumberPaginator, PageRequest, Paginator};
pub use ratelimit::{Quota, RateLimit, RateLimitHeaders};
pub use record::{Exchange, Recording};
pub use response::Response;
pub use retry::{Decision, Failure, GiveUp, RetryPolicy, jitter_draw, retry_after};
pub use source::HttpSource;
pub use stream::{HttpStream, RequestVars, Transform};

/// Re-exported for custom [`Authenticator`]s and [`HttpApi::client`].
pub use reqwest;
