//! [`HttpApi`]: one API's client, credentials, limits and retry policy, shared by its streams.
//!
//! Layers around one requester, outermost first: retry -> rate limit / concurrency -> auth ->
//! send. Retries sit outside the limiter, so each retry waits for a token like any request.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, RETRY_AFTER, USER_AGENT};
use reqwest::{Client, Method, Request, Url};
use serde_json::{Map, Value};
use tokio::time::Instant;

use super::auth::Auth;
use super::error::{ErrorAction, HttpError, HttpErrorKind, transport_error_kind};
use super::ratelimit::{Limiter, Quota, RateLimit};
use super::response::Response;
use super::retry::RetryPolicy;
use super::stream::HttpStream;
use crate::error::{Error, Result};
use crate::source::StreamContext;

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
///     .cursor("updated_at", None::<String>);
/// # let _ = customers;
/// # Ok::<(), intake::Error>(())
/// ```
#[derive(Clone)]
pub struct HttpApi {
    pub(crate) base: Url,
    client: Client,
    auth: Auth,
    limiter: Arc<Limiter>,
    retry: RetryPolicy,
    timeout: Option<Duration>,
    headers: HeaderMap,
    max_response_bytes: u64,
    pub(crate) vars: Arc<Map<String, Value>>,
    on_error: Option<ErrorHandler>,
}

type ErrorHandler = Arc<dyn Fn(&HttpError) -> ErrorAction + Send + Sync>;

impl std::fmt::Debug for HttpApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpApi")
            .field("base", &self.auth.redactor().url(&self.base))
            .field("limiter", &self.limiter)
            .field("retry", &self.retry)
            .field("timeout", &self.timeout)
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
            client: default_client().unwrap_or_default(),
            auth: Auth::none(),
            limiter: Arc::new(Limiter::new(&RateLimit::default())),
            retry: RetryPolicy::default(),
            timeout: Some(Duration::from_secs(60)),
            headers: HeaderMap::new(),
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
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
        self.timeout = timeout;
        self
    }

    /// A header sent with every request. Invalid names or values are ignored with a warning.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        match (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            (Ok(n), Ok(v)) => {
                self.headers.insert(n, v);
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
        self.max_response_bytes = bytes;
        self
    }

    /// Uses this reqwest client (proxies, TLS roots, a test's settings). Default
    /// [`default_client`].
    pub fn client(mut self, client: Client) -> Self {
        self.client = client;
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

    /// A stream on this API, to be declared with [`HttpStream`]'s builder methods.
    pub fn stream(&self, name: &str) -> HttpStream {
        HttpStream::new(self.clone(), name)
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

    /// A `GET` of `path` parsed as JSON, with retries and rate limiting; for one-off calls
    /// such as a connection check or loading a schema.
    pub async fn get_json(&self, path: &str, ctx: &StreamContext) -> Result<Value> {
        let request = Request::new(Method::GET, self.url(path)?);
        self.send_with(request, None, ctx, |r| r.json::<Value>())
            .await
    }

    /// Sends a request through the layers (retry, rate limit, auth) and reads the body.
    pub async fn send(
        &self,
        request: Request,
        class: Option<&str>,
        ctx: &StreamContext,
    ) -> Result<Response> {
        self.send_with(request, class, ctx, |r| Ok(r.clone())).await
    }

    /// Like [`HttpApi::send`], decoding the body inside the retry loop: a decode failure that
    /// means a truncated transfer is retried like a dropped connection.
    pub async fn send_with<T>(
        &self,
        request: Request,
        class: Option<&str>,
        ctx: &StreamContext,
        decode: impl Fn(&Response) -> std::result::Result<T, HttpErrorKind>,
    ) -> Result<T> {
        let method = request.method().to_string();
        let mut delays = self.retry.delays();
        let mut waited = Duration::ZERO;
        let mut attempt = 0u32;
        // Failed attempts counted against the policy's attempts (see below).
        let mut counted = 0u32;
        let mut reauthorized = false;
        loop {
            attempt += 1;
            let admission = self.limiter.admit(class, ctx).await?;
            let mut req = request.try_clone().ok_or_else(|| {
                Error::system("the request body is a stream and cannot be retried")
            })?;
            let auth = self.auth.inner();
            let authorized = auth.authorize(&self.client, &mut req).await;
            if let Some(update) = auth.take_config_update() {
                ctx.update_config(update).await?;
            }
            let failure = match authorized {
                Err(e) => Failure::Other(e),
                Ok(()) => {
                    ctx.count_request();
                    let url = req.url().clone();
                    match self.attempt(req).await {
                        Ok(response) => {
                            self.limiter.observe(class, &response.headers);
                            match decode(&response) {
                                Ok(v) => return Ok(v),
                                Err(kind) => Failure::Http(
                                    HttpError::new(&method, self.auth.redactor().url(&url), kind)
                                        .with_excerpt(&self.redact_text(&String::from_utf8_lossy(
                                            &response.body[..response.body.len().min(2048)],
                                        ))),
                                ),
                            }
                        }
                        Err((kind, headers, body)) => {
                            if let Some(h) = &headers {
                                self.limiter.observe(class, h);
                            }
                            let retry_after = headers.as_ref().and_then(retry_after);
                            let mut e =
                                HttpError::new(&method, self.auth.redactor().url(&url), kind)
                                    .with_retry_after(retry_after);
                            if let Some(body) = body {
                                e = e.with_excerpt(&self.redact_text(&body));
                            }
                            Failure::Http(e)
                        }
                    }
                }
            };
            drop(admission);
            let (error, status, retry_after) = match failure {
                Failure::Http(e) => {
                    let status = e.status();
                    if status == Some(401)
                        && !reauthorized
                        && auth.unauthorized(&self.client).await?
                    {
                        reauthorized = true;
                        ctx.count_retry();
                        continue;
                    }
                    let ra = e.retry_after();
                    match self.on_error.as_ref().map(|h| h(&e)) {
                        Some(ErrorAction::Fail(error)) => {
                            return Err(if std::error::Error::source(&error).is_none() {
                                error.with_source(e)
                            } else {
                                error
                            });
                        }
                        Some(ErrorAction::Retry(wait)) => {
                            // Retried like a transient failure, with the handler's wait.
                            let wait = wait.or(ra);
                            let error = Error::transient(e.to_string()).with_source(e);
                            (error, status, wait)
                        }
                        _ => (e.into_error(), status, ra),
                    }
                }
                Failure::Other(e) => (e, None, None),
            };
            if !self.retry.should_retry(&error) {
                return Err(error);
            }
            // While the server names a wait (Retry-After, a rate-limit reset), the wait budget
            // decides when to give up, not the attempt count: a 429 storm answered with
            // `Retry-After: 1` is waited out as long as the budget allows. Failures without
            // a named wait count against the attempts.
            if retry_after.is_none() {
                counted += 1;
            }
            let computed = delays.next();
            let no_retries = self.retry.attempts() <= 1;
            if no_retries
                || counted >= self.retry.attempts()
                || (retry_after.is_none() && computed.is_none())
            {
                return Err(error.context(format!("gave up after {attempt} attempts")));
            }
            // The longer of the server's wait and the computed backoff (a `Retry-After: 0`
            // must not turn into a burst of immediate retries).
            let backoff = computed.unwrap_or(self.retry.longest_delay());
            let delay = retry_after.map_or(backoff, |ra| ra.max(backoff));
            if waited + delay > self.retry.total_wait() {
                return Err(error.context(format!(
                    "gave up after {attempt} attempts: waiting {:.0}s more would pass the {:.0}s retry budget",
                    delay.as_secs_f64(),
                    self.retry.total_wait().as_secs_f64()
                )));
            }
            waited += delay;
            ctx.count_retry();
            tracing::warn!(
                "{}; retrying in {:.1}s (attempt {})",
                error.message(),
                delay.as_secs_f64(),
                attempt + 1,
            );
            // A rate-limit answer holds back the whole connector; other failures only this
            // request. Either wait wakes when the sync is cancelled.
            if matches!(status, Some(429)) || (status == Some(503) && retry_after.is_some()) {
                self.limiter.pause_until(Instant::now() + delay);
            } else {
                ctx.sleep(delay).await?;
            }
        }
    }

    /// One exchange: send, then read the body under the cap. A non-success status comes back
    /// as an error with the headers and the start of the body.
    async fn attempt(
        &self,
        mut req: Request,
    ) -> std::result::Result<Response, (HttpErrorKind, Option<HeaderMap>, Option<String>)> {
        for (name, value) in &self.headers {
            if !req.headers().contains_key(name) {
                req.headers_mut().insert(name.clone(), value.clone());
            }
        }
        if !req.headers().contains_key(USER_AGENT) {
            req.headers_mut().insert(
                USER_AGENT,
                HeaderValue::from_static(concat!("intake/", env!("CARGO_PKG_VERSION"))),
            );
        }
        *req.timeout_mut() = self.timeout;
        let mut response = self
            .client
            .execute(req)
            .await
            .map_err(|e| (transport_error_kind(&e), None, None))?;
        let status = response.status();
        let headers = response.headers().clone();
        if let Some(len) = response.content_length()
            && len > self.max_response_bytes
        {
            return Err((
                HttpErrorKind::TooLarge {
                    limit: self.max_response_bytes,
                },
                Some(headers),
                None,
            ));
        }
        let capacity = response
            .content_length()
            .unwrap_or(16 << 10)
            .min(self.max_response_bytes) as usize;
        let mut body = BytesMut::with_capacity(capacity);
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    if (body.len() + chunk.len()) as u64 > self.max_response_bytes {
                        return Err((
                            HttpErrorKind::TooLarge {
                                limit: self.max_response_bytes,
                            },
                            Some(headers),
                            None,
                        ));
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) => return Err((transport_error_kind(&e), Some(headers), None)),
            }
        }
        let body: Bytes = body.freeze();
        if !status.is_success() {
            let text = String::from_utf8_lossy(&body[..body.len().min(2048)]).into_owned();
            return Err((
                HttpErrorKind::Status(status.as_u16()),
                Some(headers),
                Some(text),
            ));
        }
        Ok(Response {
            status,
            headers,
            body,
        })
    }
}

enum Failure {
    Http(HttpError),
    Other(Error),
}

/// `Retry-After` as a wait: delta seconds or an HTTP date.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let text = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = text.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0)
            .then(|| Duration::from_secs_f64(secs.min(86_400.0)));
    }
    let at = chrono::DateTime::parse_from_rfc2822(text).ok()?;
    let wait = at.timestamp_millis() - chrono::Utc::now().timestamp_millis();
    Some(Duration::from_millis(wait.clamp(0, 86_400_000) as u64))
}

#[cfg(test)]
mod hostile {
    use super::*;
    use proptest::prelude::*;

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
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_seconds_and_dates() {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        let at = (chrono::Utc::now() + chrono::Duration::seconds(30))
            .format("%a, %d %b %Y %H:%M:%S GMT")
            .to_string();
        h.insert(RETRY_AFTER, HeaderValue::from_str(&at).unwrap());
        let wait = retry_after(&h).unwrap();
        assert!(
            wait > Duration::from_secs(28) && wait <= Duration::from_secs(30),
            "{wait:?}"
        );
        h.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h), None);
    }

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
