//! HTTP failures and how they map onto intake's error taxonomy; URL and text redaction.

use std::fmt;
use std::time::Duration;

use reqwest::Url;
use secrecy::{ExposeSecret, SecretString};

use crate::error::Error;

/// How many characters of a response body an error keeps.
const EXCERPT_CHARS: usize = 300;

/// Query parameters whose values are always hidden in URLs that reach errors and logs.
const SENSITIVE_PARAMS: &[&str] = &[
    "access_token",
    "api_key",
    "apikey",
    "assertion",
    "client_secret",
    "code",
    "hapikey",
    "key",
    "password",
    "refresh_token",
    "secret",
    "sig",
    "signature",
    "token",
];

/// What went wrong with one HTTP exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HttpErrorKind {
    /// The server answered with a status that is not a success.
    Status(u16),
    /// No answer within the request timeout.
    Timeout,
    /// The connection failed or was reset (the detail names the cause).
    Connection(String),
    /// The response body grew past the size cap.
    TooLarge {
        /// The cap, in bytes.
        limit: u64,
    },
    /// The body is not what was expected (malformed JSON, an HTML page, a wrong shape).
    Decode {
        /// What was wrong.
        detail: String,
        /// The body ended early (a truncated transfer): worth a retry.
        truncated: bool,
    },
    /// The request could not be built (a bad URL or header).
    Request(String),
}

impl fmt::Display for HttpErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpErrorKind::Status(s) => write!(f, "HTTP {s}"),
            HttpErrorKind::Timeout => write!(f, "timed out"),
            HttpErrorKind::Connection(detail) => write!(f, "connection failed: {detail}"),
            HttpErrorKind::TooLarge { limit } => {
                write!(f, "response larger than the {limit}-byte cap")
            }
            HttpErrorKind::Decode { detail, .. } => write!(f, "unexpected response: {detail}"),
            HttpErrorKind::Request(detail) => write!(f, "invalid request: {detail}"),
        }
    }
}

/// One failed HTTP exchange: method, URL (secrets stripped), status and a short body excerpt.
///
/// It travels as the `source` of an [`crate::Error`], so callers that need the detail can
/// `downcast_ref::<HttpError>()` the error's source.
#[derive(Debug, Clone, thiserror::Error)]
pub struct HttpError {
    method: String,
    url: String,
    kind: HttpErrorKind,
    excerpt: Option<String>,
    body: Option<String>,
    retry_after: Option<Duration>,
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.method, self.url, self.kind)?;
        if let Some(e) = &self.excerpt {
            write!(f, "; body: {e}")?;
        }
        Ok(())
    }
}

impl HttpError {
    pub(crate) fn new(method: &str, url: String, kind: HttpErrorKind) -> Self {
        HttpError {
            method: method.to_string(),
            url,
            kind,
            excerpt: None,
            body: None,
            retry_after: None,
        }
    }

    pub(crate) fn with_excerpt(mut self, body: &str) -> Self {
        let body = body.trim();
        if !body.is_empty() {
            self.excerpt = Some(excerpt(body));
            self.body = Some(body.to_string());
        }
        self
    }

    pub(crate) fn with_retry_after(mut self, wait: Option<Duration>) -> Self {
        self.retry_after = wait;
        self
    }

    /// The HTTP failure behind an intake error, if one is in its cause chain (what an
    /// API-specific handler or a stream wrapper inspects: the status, the body).
    pub fn find(error: &Error) -> Option<&HttpError> {
        let mut cause = std::error::Error::source(error);
        while let Some(c) = cause {
            if let Some(h) = c.downcast_ref::<HttpError>() {
                return Some(h);
            }
            cause = c.source();
        }
        None
    }

    /// The request method.
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The URL, with secrets replaced by `***`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// What went wrong.
    pub fn kind(&self) -> &HttpErrorKind {
        &self.kind
    }

    /// The response status, if the server answered.
    pub fn status(&self) -> Option<u16> {
        match self.kind {
            HttpErrorKind::Status(s) => Some(s),
            _ => None,
        }
    }

    /// The start of the response body, if there was one (secrets replaced by `***`).
    pub fn excerpt(&self) -> Option<&str> {
        self.excerpt.as_deref()
    }

    /// The start of the error body (up to 2 KiB, secrets removed), for an API-specific
    /// [`ErrorAction`] handler that reads the error's fields.
    pub fn body(&self) -> Option<&str> {
        self.body.as_deref()
    }

    /// The error body parsed as JSON, when it is JSON.
    pub fn body_json(&self) -> Option<serde_json::Value> {
        serde_json::from_str(self.body.as_deref()?).ok()
    }

    /// The server's `Retry-After`, if it sent one.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }

    /// A timeout.
    pub fn is_timeout(&self) -> bool {
        self.kind == HttpErrorKind::Timeout
    }

    /// Whether trying again later may succeed: 408, 429, 5xx, timeouts, connection failures
    /// and truncated bodies.
    pub fn is_retryable(&self) -> bool {
        match &self.kind {
            HttpErrorKind::Status(s) => *s == 408 || *s == 429 || *s >= 500,
            HttpErrorKind::Timeout | HttpErrorKind::Connection(_) => true,
            HttpErrorKind::Decode { truncated, .. } => *truncated,
            HttpErrorKind::TooLarge { .. } | HttpErrorKind::Request(_) => false,
        }
    }

    /// Maps onto intake's taxonomy: retryable failures are transient; 401 and 403 are config
    /// errors with a message a user can act on; everything else (400, 404, a broken contract)
    /// is a system error.
    pub fn into_error(self) -> Error {
        let message = self.to_string();
        let retry_after = self.retry_after;
        let err = match self.kind {
            HttpErrorKind::Status(401) => Error::config(format!(
                "the API rejected the credentials (HTTP 401): check that the token or key in the config is valid and not expired; {message}"
            )),
            HttpErrorKind::Status(403) => Error::config(format!(
                "the credentials lack permission for this resource (HTTP 403): grant the missing scope or access to the account; {message}"
            )),
            _ if self.is_retryable() => {
                let e = Error::transient(message);
                match retry_after {
                    Some(wait) => e.with_retry_after(wait),
                    None => e,
                }
            }
            _ => Error::system(message),
        };
        err.with_source(self)
    }
}

/// What to do with a failed exchange, as an API-specific handler decides it
/// ([`crate::http::HttpApi::on_error`]): many APIs say more in their error bodies than in
/// their statuses (a daily quota versus a per-second one, a missing scope).
#[derive(Debug)]
#[non_exhaustive]
pub enum ErrorAction {
    /// intake's default: retry transient failures, map the status onto the error taxonomy.
    Default,
    /// Retry after this wait (the computed backoff when `None`), within the retry policy's
    /// attempts and budget. A wait on a 429 pauses every request to the API.
    Retry(Option<Duration>),
    /// Stop now with this error, whatever its kind: it is not retried here (a transient error
    /// still tells the orchestrator a later run may succeed).
    Fail(Error),
}

/// The start of a body for an error message, on a char boundary.
fn excerpt(text: &str) -> String {
    let mut end = text.len().min(EXCERPT_CHARS);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let cut: String = text[..end]
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if end < text.len() {
        format!("{cut}…")
    } else {
        cut
    }
}

/// Hides secrets in URLs and texts: sensitive query parameters, user info, and every known
/// secret value wherever it appears.
#[derive(Clone, Default)]
pub(crate) struct Redactor {
    params: Vec<String>,
    secrets: Vec<SecretString>,
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Redactor")
            .field("params", &self.params)
            .field("secrets", &self.secrets.len())
            .finish()
    }
}

impl Redactor {
    pub(crate) fn new(params: Vec<String>, secrets: Vec<SecretString>) -> Self {
        Redactor { params, secrets }
    }

    /// The URL with secret parameters and user info replaced.
    pub(crate) fn url(&self, url: &Url) -> String {
        let mut url = url.clone();
        if url.password().is_some() {
            let _ = url.set_password(Some("***"));
        }
        if url.query().is_some() {
            let pairs: Vec<(String, String)> = url
                .query_pairs()
                .map(|(k, v)| {
                    let lower = k.to_ascii_lowercase();
                    let hidden = SENSITIVE_PARAMS.contains(&lower.as_str())
                        || self.params.iter().any(|p| p.eq_ignore_ascii_case(&k));
                    (
                        k.into_owned(),
                        if hidden { "***".into() } else { v.into_owned() },
                    )
                })
                .collect();
            url.query_pairs_mut().clear().extend_pairs(pairs);
        }
        self.text(url.as_str())
    }

    /// The text with every known secret value replaced.
    pub(crate) fn text(&self, text: &str) -> String {
        let mut out = text.to_string();
        for secret in &self.secrets {
            let s = secret.expose_secret();
            if s.len() >= 4 {
                out = out.replace(s, "***");
                // Also its URL-encoded form, as it appears in query strings.
                let encoded: String = url_encode(s);
                if encoded != s {
                    out = out.replace(&encoded, "***");
                }
            }
        }
        out
    }
}

fn url_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Classifies a reqwest error without its message (which may carry the URL).
pub(crate) fn transport_error_kind(e: &reqwest::Error) -> HttpErrorKind {
    if e.is_timeout() {
        return HttpErrorKind::Timeout;
    }
    if e.is_builder() {
        return HttpErrorKind::Request("the request could not be built".into());
    }
    // The innermost cause names what happened ("connection refused", "connection reset");
    // reqwest's own message is left out because it carries the URL.
    let mut detail = None;
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        detail = Some(c.to_string());
        cause = c.source();
    }
    let detail = detail.unwrap_or_else(|| {
        if e.is_connect() {
            "could not connect".to_string()
        } else {
            "the connection dropped".to_string()
        }
    });
    HttpErrorKind::Connection(detail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_secrets() {
        let r = Redactor::new(
            vec!["custom_auth".into()],
            vec![SecretString::from("s3cr3t/value")],
        );
        let url = Url::parse(
            "https://u:pw@api.test/v1/x?limit=10&api_key=k123&custom_auth=zz&q=s3cr3t%2Fvalue",
        )
        .unwrap();
        let shown = r.url(&url);
        assert!(!shown.contains("k123"), "{shown}");
        assert!(!shown.contains("zz"), "{shown}");
        assert!(!shown.contains("pw@"), "{shown}");
        assert!(!shown.contains("s3cr3t"), "{shown}");
        assert!(shown.contains("limit=10"), "{shown}");
    }

    #[test]
    fn statuses_map_onto_the_taxonomy() {
        let e =
            |s| HttpError::new("GET", "https://x".into(), HttpErrorKind::Status(s)).into_error();
        assert!(e(401).is_config());
        assert!(e(403).is_config());
        assert!(e(401).to_string().contains("credentials"));
        assert!(e(429).is_retryable());
        assert!(e(503).is_retryable());
        assert!(e(408).is_retryable());
        assert_eq!(e(404).failure_type(), crate::FailureType::SystemError);
        assert_eq!(e(400).failure_type(), crate::FailureType::SystemError);
        let long = "é".repeat(400);
        let err = HttpError::new("GET", "u".into(), HttpErrorKind::Status(500)).with_excerpt(&long);
        assert!(err.excerpt().unwrap().chars().count() <= 152);
    }
}
