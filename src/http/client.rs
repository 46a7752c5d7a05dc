//! [`HttpApi`]: one API's client, credentials, limits and retry policy, shared by its streams.
//!
//! The settings live here; how a request goes through them is in [`super::requester`].

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue, USER_AGENT};
use reqwest::{Client, Url};
use serde_json::{Map, Value};

use super::auth::Auth;
use super::error::{ErrorAction, HttpError};
use super::ratelimit::{Limiter, Quota, RateLimit};
use super::retry::RetryPolicy;
use super::send::Transport;
use crate::error::{Error, Result};

/// The default cap on one response body: 64 MiB.
pub const DEFAULT_MAX_RESPONSE_BYTES: u64 = 64 << 20;

/// One API: base URL, HTTP client, credentials, rate limits and retry policy. Streams built
/// with [`HttpApi::stream`] share all of it — notably the rate limiter, so every stream of a
/// connector instance stays inside one quota.
///
/// Cheap to clone; clones share the limiter and the credentials' token cache.
///
/// # Example
/// ```
/// use intake::http::{Auth, HttpApi, Paginator, Quota};
/// use secrecy::SecretString;
///
/// let api = HttpApi::parse("https://api.acme.test")?
///     .auth(Auth::bearer(SecretString::from("token")))
///     .quota(Quota::per_second(10));
/// let customers = api
///     .stream("customers")
///     .get("/v1/customers")
///     .query("updated_since", "{cursor}")
///     .records_at("/data")
///     .paginate(Paginator::cursor_from_body("/next").into_query("cursor"))
///     .primary_key("id")
///     .cursor("updated_at");
/// # let _ = customers;
/// # Ok::<(), intake::Error>(())
/// ```
#[derive(Clone)]
pub struct HttpApi {
    pub(crate) base: Url,
    pub(crate) transport: Transport,
    pub(crate) auth: Auth,
    pub(crate) limiter: Arc<Limiter>,
    pub(crate) retry: RetryPolicy,
    pub(crate) vars: Arc<Map<String, Value>>,
    pub(crate) on_error: Option<ErrorHandler>,
}

pub(crate) type ErrorHandler = Arc<dyn Fn(&HttpError) -> ErrorAction + Send + Sync>;

impl std::fmt::Debug for HttpApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpApi")
            .field("base", &self.auth.redactor().url(&self.base))
            .field("limiter", &self.limiter)
            .field("retry", &self.retry)
            .field("timeout", &self.transport.timeout)
            .finish_non_exhaustive()
    }
}

/// The client intake builds when none is given: rustls, gzip, a 30 s connect timeout, idle
/// connections kept until the server closes them.
pub fn default_client() -> Result<Client> {
    Client::builder()
        .gzip(true)
        .connect_timeout(Duration::from_secs(30))
        .pool_idle_timeout(None)
        .build()
        .map_err(|e| Error::system(format!("building the HTTP client: {e}")))
}

impl HttpApi {
    /// An API at `base` (paths are appended to it, so `https://host/v3` + `/lists` is
    /// `https://host/v3/lists`). Defaults: no auth, no quota, [`RetryPolicy::default`], a 60 s
    /// request timeout, a 64 MiB response cap, [`default_client`].
    pub fn new(base: Url) -> Self {
        HttpApi {
            base,
            transport: Transport {
                client: default_client().unwrap_or_default(),
                timeout: Some(Duration::from_secs(60)),
                headers: HeaderMap::new(),
                max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            },
            auth: Auth::none(),
            limiter: Arc::new(Limiter::new(&RateLimit::default())),
            retry: RetryPolicy::default(),
            vars: Arc::default(),
            on_error: None,
        }
    }

    /// Parses the base URL; an invalid one is a config error.
    pub fn parse(base: &str) -> Result<Self> {
        let url = Url::parse(base)
            .map_err(|e| Error::config(format!("the base URL \"{base}\" is not a URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Error::config(format!(
                "the base URL \"{base}\" must start with http:// or https://"
            )));
        }
        Ok(HttpApi::new(url))
    }

    /// The credentials. Default none.
    pub fn auth(mut self, auth: Auth) -> Self {
        self.auth = auth;
        self
    }

    /// The rate limits (quota, endpoint classes, concurrency cap, headers). Default: none
    /// proactive; `Retry-After` and the default rate-limit headers are always honoured.
    pub fn rate_limit(mut self, limits: RateLimit) -> Self {
        self.limiter = Arc::new(Limiter::new(&limits));
        self
    }

    /// Shorthand for `rate_limit(RateLimit::new(quota))`.
    pub fn quota(self, quota: Quota) -> Self {
        self.rate_limit(RateLimit::new(quota))
    }

    /// The retry policy. Default [`RetryPolicy::default`].
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// The whole-request timeout (connect to last body byte). Default 60 s; `None` waits
    /// forever.
    pub fn timeout(mut self, timeout: Option<Duration>) -> Self {
        self.transport.timeout = timeout;
        self
    }

    /// A header sent with every request. Invalid names or values are ignored with a warning.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        match (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            (Ok(n), Ok(v)) => {
                self.transport.headers.insert(n, v);
            }
            _ => tracing::warn!("ignoring the invalid header \"{name}\""),
        }
        self
    }

    /// The `User-Agent`. Default `intake/<version>`.
    pub fn user_agent(self, agent: &str) -> Self {
        self.header(USER_AGENT.as_str(), agent)
    }

    /// The largest response body accepted; a larger one fails the request with a system
    /// error. Default 64 MiB.
    pub fn max_response_bytes(mut self, bytes: u64) -> Self {
        self.transport.max_response_bytes = bytes;
        self
    }

    /// Uses this reqwest client (proxies, TLS roots, a test's settings). Default
    /// [`default_client`].
    pub fn client(mut self, client: Client) -> Self {
        self.transport.client = client;
        self
    }

    /// A variable for request templates (`{name}`).
    pub fn var(mut self, name: &str, value: impl Into<Value>) -> Self {
        Arc::make_mut(&mut self.vars).insert(name.to_string(), value.into());
        self
    }

    /// Decides what a failed exchange means for this API, before the default mapping: e.g. a
    /// 429 whose body names a daily quota fails at once instead of retrying into a storm.
    /// The handler sees the status, headers-derived `Retry-After` and the error body.
    ///
    /// ```
    /// use intake::Error;
    /// use intake::http::{ErrorAction, HttpApi};
    ///
    /// let api = HttpApi::parse("https://api.example.com")?.on_error(|e| {
    ///     match e.body_json().and_then(|b| b["policy"].as_str().map(str::to_string)) {
    ///         Some(p) if p == "DAILY" => ErrorAction::Fail(Error::transient("the daily quota is spent")),
    ///         _ => ErrorAction::Default,
    ///     }
    /// });
    /// # Ok::<(), intake::Error>(())
    /// ```
    pub fn on_error(
        mut self,
        handler: impl Fn(&HttpError) -> ErrorAction + Send + Sync + 'static,
    ) -> Self {
        self.on_error = Some(Arc::new(handler));
        self
    }

    /// The base URL.
    pub fn base_url(&self) -> &Url {
        &self.base
    }

    /// The quota in force for a class (`None`: the connector-wide one), after any tightening
    /// by the server's headers.
    pub fn current_quota(&self, class: Option<&str>) -> Option<Quota> {
        self.limiter.quota(class)
    }

    /// What the API's requests of a class (`None`: the connector-wide quota) keep to: the
    /// quota's window and the concurrency cap, for [`crate::Stream::declared_limits`].
    pub fn declared_limits(&self, class: Option<&str>) -> crate::source::DeclaredLimits {
        crate::source::DeclaredLimits {
            requests: self.limiter.quota(class).map(|q| q.window()),
            in_flight: self.limiter.max_in_flight(),
        }
    }

    /// `base + path` (a path that is already a full URL on the same host is taken as is).
    pub fn url(&self, path: &str) -> Result<Url> {
        if path.starts_with("http://") || path.starts_with("https://") {
            let url = Url::parse(path).map_err(|e| {
                Error::system(format!("\"{}\" is not a URL: {e}", self.redact_text(path)))
            })?;
            if url.origin() != self.base.origin() {
                return Err(Error::system(format!(
                    "refusing to send credentials to {}: it is not on the API's host {}",
                    self.auth.redactor().url(&url),
                    self.base.origin().ascii_serialization()
                )));
            }
            return Ok(url);
        }
        let mut text = self.base.as_str().trim_end_matches('/').to_string();
        if !path.is_empty() && !path.starts_with('/') {
            text.push('/');
        }
        text.push_str(path);
        Url::parse(&text).map_err(|e| Error::system(format!("\"{path}\" does not make a URL: {e}")))
    }

    pub(crate) fn redact_text(&self, text: &str) -> String {
        self.auth.redactor().text(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_join_onto_the_base_path() {
        let api = HttpApi::parse("http://127.0.0.1:9/v3/").unwrap();
        assert_eq!(
            api.url("/lists").unwrap().as_str(),
            "http://127.0.0.1:9/v3/lists"
        );
        assert_eq!(
            api.url("lists").unwrap().as_str(),
            "http://127.0.0.1:9/v3/lists"
        );
        assert!(api.url("http://127.0.0.1:9/v3/lists?page=2").is_ok());
        let other = api.url("https://evil.test/steal").unwrap_err();
        assert!(other.to_string().contains("refusing"), "{other}");
        assert!(HttpApi::parse("ftp://x").unwrap_err().is_config());
    }
}
