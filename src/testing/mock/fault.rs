//! Injected failures: what they answer and how many times.

use std::time::Duration;

use serde_json::{Value, json};
use wiremock::ResponseTemplate;

/// A failure to inject ([`MockApi::inject`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// 429, with this `Retry-After` (seconds or an HTTP date) if given.
    TooManyRequests {
        /// The `Retry-After` value.
        retry_after: Option<String>,
    },
    /// An error status (500, 502, 503...), with a JSON error body.
    Status(u16),
    /// A good-looking answer that arrives after this delay (past a client's timeout).
    Delay(Duration),
    /// A 200 whose JSON body stops half-way.
    Truncated,
    /// A 200 with an HTML maintenance page.
    Html,
    /// The connection closes before the body is complete.
    Drop,
    /// 401 with a JSON error body.
    Unauthorized,
    /// 403 with a JSON error body.
    Forbidden,
    /// Any status with this JSON body: an API's own error shape (a quota named in the body,
    /// an expired token's category).
    Json {
        /// The status.
        status: u16,
        /// The body.
        body: Value,
    },
    /// A 200 of this content type whose connection closes after `body`, short of the length
    /// it declared: a transfer cut mid-page (for HTML, where a short page still parses).
    Cut {
        /// The `Content-Type`.
        content_type: String,
        /// What arrives before the connection closes.
        body: String,
    },
    /// Any status with a body of any content type: an edge proxy's HTML error page.
    Raw {
        /// The status.
        status: u16,
        /// The `Content-Type`.
        content_type: String,
        /// The body.
        body: String,
    },
}

impl Fault {
    pub(super) fn respond(&self) -> ResponseTemplate {
        match self {
            Fault::TooManyRequests { retry_after } => {
                let t = ResponseTemplate::new(429).set_body_json(json!({
                    "status": "error", "message": "You have reached your rate limit.", "errorType": "RATE_LIMIT"
                }));
                match retry_after {
                    Some(ra) => t.insert_header("retry-after", ra.as_str()),
                    None => t,
                }
            }
            Fault::Status(s) => ResponseTemplate::new(*s)
                .set_body_json(json!({"status": "error", "message": format!("injected HTTP {s}")})),
            Fault::Delay(d) => ResponseTemplate::new(200)
                .set_body_json(json!({"delayed": true}))
                .set_delay(*d),
            Fault::Truncated => ResponseTemplate::new(200)
                .set_body_raw(r#"{"results": [{"id": "1", "name": "tru"#, "application/json"),
            Fault::Html => ResponseTemplate::new(200).set_body_raw(
                "<html><body><h1>Down for maintenance</h1></body></html>",
                "text/html; charset=utf-8",
            ),
            // A declared length the body never reaches: the server closes the connection.
            Fault::Drop => ResponseTemplate::new(200)
                .set_body_raw(r#"{"results": ["#, "application/json")
                .insert_header("content-length", "100000"),
            Fault::Cut { content_type, body } => ResponseTemplate::new(200)
                .set_body_raw(body.clone(), content_type)
                .insert_header("content-length", (body.len() + 100_000).to_string().as_str()),
            Fault::Unauthorized => ResponseTemplate::new(401).set_body_json(
                json!({"status": "error", "message": "Authentication credentials not found.", "category": "INVALID_AUTHENTICATION"}),
            ),
            Fault::Forbidden => ResponseTemplate::new(403).set_body_json(
                json!({"status": "error", "message": "This app hasn't been granted all required scopes.", "category": "MISSING_SCOPES"}),
            ),
            Fault::Json { status, body } => ResponseTemplate::new(*status).set_body_json(body),
            Fault::Raw {
                status,
                content_type,
                body,
            } => ResponseTemplate::new(*status).set_body_raw(body.clone(), content_type),
        }
    }
}

#[derive(Debug)]
pub(super) struct Injected {
    pub(super) id: u64,
    pub(super) fault: Fault,
    /// Only requests whose path matches (all requests without one).
    pub(super) path: Option<regex::Regex>,
    /// Answers left; `None` while the guard lives.
    pub(super) remaining: Option<u64>,
}
