//! Request -> response fixture files: recorded API answers, mounted on a mock in one call.
//!
//! Each `*.json` file in a folder is one exchange:
//!
//! ```json
//! {
//!   "request": {
//!     "method": "GET",
//!     "path": "/crm/v3/objects/contacts",
//!     "query": {"limit": "100", "after": null},
//!     "headers": {"authorization": "Bearer test-token"},
//!     "body": {"filterGroups": []}
//!   },
//!   "response": {
//!     "status": 200,
//!     "headers": {"x-hubspot-ratelimit-remaining": "99"},
//!     "body": {"results": []}
//!   }
//! }
//! ```
//!
//! `method` defaults to `GET`; `query` values must match exactly, and `null` means the
//! parameter must be absent (the first page of a cursor-paginated list); `headers` must match;
//! `body` must be contained in the request's JSON body. The response takes `body` (JSON) or
//! `body_text` (sent as is, with `content_type`, default `text/plain`); `status` defaults to 200.
//! Files mount in name order, and a later file wins when two match the same request.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use serde_json::Value;
use wiremock::matchers::{
    body_partial_json, header, method, path, query_param, query_param_is_missing,
};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::error::{Error, Result};

/// One fixture file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fixture {
    /// What the request must look like.
    pub request: FixtureRequest,
    /// What to answer.
    pub response: FixtureResponse,
}

/// The request side of a fixture.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixtureRequest {
    /// The method. Default `GET`.
    #[serde(default = "get")]
    pub method: String,
    /// The path.
    pub path: String,
    /// Query parameters that must match; `null` means absent.
    #[serde(default)]
    pub query: BTreeMap<String, Option<String>>,
    /// Headers that must match.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// JSON the request body must contain.
    #[serde(default)]
    pub body: Option<Value>,
}

/// The response side of a fixture.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixtureResponse {
    /// The status. Default 200.
    #[serde(default = "ok")]
    pub status: u16,
    /// Response headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// A JSON body.
    #[serde(default)]
    pub body: Option<Value>,
    /// A body sent as is.
    #[serde(default)]
    pub body_text: Option<String>,
    /// The content type of `body_text`. Default `text/plain`.
    #[serde(default)]
    pub content_type: Option<String>,
}

fn get() -> String {
    "GET".into()
}

fn ok() -> u16 {
    200
}

impl Fixture {
    /// The wiremock mock for this fixture; `priority` orders overlapping fixtures (lower wins).
    pub fn to_mock(&self, priority: u8) -> Mock {
        let r = &self.request;
        let mut mock =
            Mock::given(method(r.method.to_ascii_uppercase().as_str())).and(path(r.path.as_str()));
        for (k, v) in &r.query {
            mock = match v {
                Some(v) => mock.and(query_param(k.as_str(), v.as_str())),
                None => mock.and(query_param_is_missing(k.as_str())),
            };
        }
        for (k, v) in &r.headers {
            mock = mock.and(header(k.as_str(), v.as_str()));
        }
        if let Some(body) = &r.body {
            mock = mock.and(body_partial_json(body.clone()));
        }
        let s = &self.response;
        let mut t = ResponseTemplate::new(s.status);
        t = match (&s.body, &s.body_text) {
            (Some(json), _) => t.set_body_json(json.clone()),
            (None, Some(text)) => t.set_body_raw(
                text.clone().into_bytes(),
                s.content_type.as_deref().unwrap_or("text/plain"),
            ),
            (None, None) => t,
        };
        for (k, v) in &s.headers {
            t = t.insert_header(k.as_str(), v.as_str());
        }
        mock.respond_with(t).with_priority(priority)
    }
}

/// Mounts every `*.json` fixture in `dir`, in name order; returns how many.
pub async fn mount_dir(server: &MockServer, dir: &Path) -> Result<usize> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| Error::config(format!("reading fixtures from {}: {e}", dir.display())))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    let count = files.len();
    for (i, file) in files.iter().enumerate() {
        let text = std::fs::read_to_string(file)
            .map_err(|e| Error::config(format!("reading fixture {}: {e}", file.display())))?;
        let fixture: Fixture = serde_json::from_str(&text).map_err(|e| {
            Error::config(format!("fixture {} is not a fixture: {e}", file.display()))
        })?;
        // Later files get higher priority (lower numbers), from 250 down; wiremock's default is 5.
        let priority = 250u8.saturating_sub(u8::try_from(i.min(200)).unwrap_or(200));
        server.register(fixture.to_mock(priority)).await;
    }
    Ok(count)
}
