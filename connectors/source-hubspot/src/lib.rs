//! The HubSpot CRM v3 source.
//!
//! - **Streams**: contacts, companies, deals, tickets, products, line_items, the five engagement
//!   types (`engagements_calls`, `_emails`, `_meetings`, `_notes`, `_tasks`), owners (active and
//!   archived), deal and ticket pipelines, and every custom object `/crm/v3/schemas` lists.
//! - **Schemas** come from `/crm/v3/properties/{object}`: each property becomes a
//!   `properties_<name>` column typed from its definition, and HubSpot's string values are cast
//!   on read (`""` for a number is null; a value that will not cast stays a string).
//! - **Full refresh** pages the list endpoint (100 per page), splitting long property lists into
//!   chunks that keep each URL under about 15,000 characters and merging them per record, then
//!   reads archived records (`archived: true`) in a second pass. It resumes from the last page.
//! - **Incremental** searches on the last-modified property, ascending, 200 per page, and
//!   restarts its window before the search API's 10,000-result cap so any number of changes
//!   syncs. Search never returns archived records: a full refresh catches deletions.
//! - **Associations** (contacts -> companies, companies -> contacts, deals -> contacts and
//!   companies) are arrays of ids on the record, read with the v4 batch API.
//! - **Limits**: the portal's requests per 10 seconds (paced at 90%), search at 4 per second on
//!   its own (paced at 75%); a 429 for the DAILY quota stops the sync with a transient error instead of
//!   retrying; a 403 MISSING_SCOPES skips that stream with a warning.
//!
//! ```no_run
//! # async fn demo() -> intake::Result<()> {
//! use intake_source_hubspot::HubSpotSource;
//! use serde_json::json;
//!
//! let config = json!({"credentials": {"auth_type": "private_app", "access_token": "pat-na1-…"},
//!                     "start_date": "2024-01-01T00:00:00Z"});
//! let report = intake::sync(HubSpotSource::new(), config)
//!     .to(intake::destination::jsonl::JsonlDestination::new("out"))
//!     .run()
//!     .await?;
//! # let _ = report; Ok(()) }
//! ```

#![warn(missing_docs)]

mod crm;
#[cfg(feature = "mock")]
pub mod mock;
pub mod properties;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use intake::http::{
    Auth, ErrorAction, HttpApi, HttpError, OAuth2, Paginator, Quota, RateLimit, RateLimitHeaders,
};
use intake::source::{Skip, SkipOnError, StreamContext};
use intake::spec::parse_config;
use intake::{
    ConnectorSpec, Cursor, Error, PageStream, Partition, ReadRequest, Result, Source, Stream,
    async_trait,
};
use schemars::JsonSchema;
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::{Value, json};

pub use crm::{CrmObject, SEARCH_CAP};

/// The API's host.
pub const DEFAULT_BASE_URL: &str = "https://api.hubapi.com";
/// Requests per 10 seconds a Free or Starter portal's private app may send.
pub const DEFAULT_REQUESTS_PER_10_SECONDS: u32 = 100;
/// Search requests per second (HubSpot's own, lower limit for search endpoints).
pub const SEARCH_REQUESTS_PER_SECOND: u32 = 4;

/// How the connector authenticates.
#[derive(Deserialize, JsonSchema)]
#[serde(tag = "auth_type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Credentials {
    /// A private app's access token (Settings -> Integrations -> Private apps), `pat-…`.
    PrivateApp {
        /// The access token.
        #[schemars(schema_with = "intake::spec::secret")]
        access_token: SecretString,
    },
    /// A public app's OAuth grant: access tokens are refreshed from the refresh token.
    Oauth {
        /// The app's client id.
        client_id: String,
        /// The app's client secret.
        #[schemars(schema_with = "intake::spec::secret")]
        client_secret: SecretString,
        /// The refresh token the portal's install produced.
        #[schemars(schema_with = "intake::spec::secret")]
        refresh_token: SecretString,
    },
}

/// The HubSpot source's config.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HubSpotConfig {
    /// Private-app token or OAuth.
    pub credentials: Credentials,
    /// Only records modified at or after this instant (ISO 8601). Default: all history.
    pub start_date: Option<DateTime<Utc>>,
    /// The API's base URL. Default `https://api.hubapi.com` (set it for a proxy or a mock).
    pub base_url: Option<String>,
    /// Requests per 10 seconds the portal allows: 100 for Free and Starter private apps (the
    /// default), 190 for Professional and Enterprise, 110 for public OAuth apps. The connector
    /// paces itself at 90% of it.
    pub requests_per_10_seconds: Option<u32>,
    /// Search requests per second: HubSpot allows about 4 (its search endpoints have their own
    /// limit, outside the 10-second one). Default 4; the connector paces itself at 75% of it.
    pub search_requests_per_second: Option<u32>,
    /// Seconds before a request is abandoned (and retried). Default 60.
    pub request_timeout_seconds: Option<u64>,
    /// Read associations (contacts' companies, deals' contacts and companies) as arrays of ids:
    /// one batch request per page and association type. Default true.
    pub associations: Option<bool>,
    /// Minutes re-read before the saved cursor on each incremental sync: HubSpot's search index
    /// lags writes by a few seconds. Default 1.
    pub lookback_minutes: Option<u32>,
}

impl HubSpotConfig {
    fn base_url(&self) -> &str {
        self.base_url.as_deref().unwrap_or(DEFAULT_BASE_URL)
    }
}

/// The standard CRM objects: stream, object type, last-modified property, associations.
const OBJECTS: &[(&str, &str, &str, &[&str])] = &[
    ("contacts", "contacts", "lastmodifieddate", &["companies"]),
    (
        "companies",
        "companies",
        "hs_lastmodifieddate",
        &["contacts"],
    ),
    (
        "deals",
        "deals",
        "hs_lastmodifieddate",
        &["contacts", "companies"],
    ),
    ("tickets", "tickets", "hs_lastmodifieddate", &[]),
    ("products", "products", "hs_lastmodifieddate", &[]),
    ("line_items", "line_items", "hs_lastmodifieddate", &[]),
    ("engagements_calls", "calls", "hs_lastmodifieddate", &[]),
    ("engagements_emails", "emails", "hs_lastmodifieddate", &[]),
    (
        "engagements_meetings",
        "meetings",
        "hs_lastmodifieddate",
        &[],
    ),
    ("engagements_notes", "notes", "hs_lastmodifieddate", &[]),
    ("engagements_tasks", "tasks", "hs_lastmodifieddate", &[]),
];

/// The HubSpot source.
///
/// One source value keeps one API client per config: its rate limiter and access token are
/// shared by every check, discover and read made through it, as HubSpot counts them per portal.
#[derive(Debug, Default, Clone)]
pub struct HubSpotSource {
    client: Arc<std::sync::Mutex<Option<(String, HttpApi)>>>,
}

impl HubSpotSource {
    /// The source.
    pub fn new() -> Self {
        HubSpotSource::default()
    }

    /// The parsed config and the API client for it (reused while the config is the same).
    fn client(&self, config: &Value) -> Result<(HubSpotConfig, HttpApi)> {
        let cfg: HubSpotConfig = parse_config(config)?;
        let key = config.to_string();
        let mut cached = self.client.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((k, api)) = cached.as_ref()
            && *k == key
        {
            return Ok((cfg, api.clone()));
        }
        let api = api(&cfg)?;
        *cached = Some((key, api.clone()));
        Ok((cfg, api))
    }
}

/// The API client for a config: auth, the portal's limits, HubSpot's error bodies.
pub fn api(cfg: &HubSpotConfig) -> Result<HttpApi> {
    let base = cfg.base_url();
    let auth = match &cfg.credentials {
        Credentials::PrivateApp { access_token } => Auth::bearer(access_token.clone()),
        Credentials::Oauth {
            client_id,
            client_secret,
            refresh_token,
        } => {
            let token_url =
                url::Url::parse(&format!("{}/oauth/v1/token", base.trim_end_matches('/')))
                    .map_err(|e| Error::config(format!("base_url \"{base}\" is not a URL: {e}")))?;
            Auth::oauth2(
                OAuth2::refresh_token(
                    token_url,
                    client_id.clone(),
                    client_secret.clone(),
                    refresh_token.clone(),
                )
                .refresh_token_pointer("/credentials/refresh_token"),
            )
        }
    };
    let per_10s = cfg
        .requests_per_10_seconds
        .unwrap_or(DEFAULT_REQUESTS_PER_10_SECONDS)
        .max(1);
    // 90% of the limit: a sliding window counts arrivals, and network jitter bunches them.
    let paced = (per_10s.saturating_mul(9) / 10).max(1);
    let limits = RateLimit::new(Quota::new(paced, Duration::from_secs(10)))
        .class(
            crm::SEARCH_CLASS,
            // 75%: the search limit is counted per second, where a little bunching of
            // evenly paced requests already crosses it.
            Quota::new(
                (cfg.search_requests_per_second
                    .unwrap_or(SEARCH_REQUESTS_PER_SECOND)
                    .max(1)
                    .saturating_mul(30)
                    / 4)
                .max(1),
                Duration::from_secs(10),
            ),
        )
        .headers(RateLimitHeaders {
            remaining: vec!["x-hubspot-ratelimit-remaining".into()],
            reset: Vec::new(),
            limit: vec!["x-hubspot-ratelimit-max".into()],
            window_ms: vec!["x-hubspot-ratelimit-interval-milliseconds".into()],
        });
    Ok(HttpApi::parse(base)
        .map_err(|e| Error::config(format!("base_url: {e}")))?
        .auth(auth)
        .rate_limit(limits)
        .user_agent(concat!("intake-source-hubspot/", env!("CARGO_PKG_VERSION")))
        .timeout(Some(Duration::from_secs(
            cfg.request_timeout_seconds.unwrap_or(60).max(1),
        )))
        .on_error(classify))
}

/// Reads HubSpot's error bodies: which quota a 429 spent, which scope a 403 lacks.
fn classify(e: &HttpError) -> ErrorAction {
    let body = e.body_json().unwrap_or(Value::Null);
    let text = |k: &str| body.get(k).and_then(Value::as_str).unwrap_or_default();
    match e.status() {
        Some(429) => {
            let policy = text("policyName").to_ascii_uppercase();
            let message = text("message").to_ascii_lowercase();
            if policy == "DAILY" || message.contains("daily") {
                ErrorAction::Fail(Error::transient(
                    "HubSpot's daily API quota for this portal is spent (429, policy DAILY). It resets at midnight in the portal's time zone; run the sync again then. intake stopped instead of retrying, which would only add failed requests",
                ))
            } else if policy == "SECONDLY" || message.contains("secondly limit") {
                ErrorAction::Retry(Some(e.retry_after().unwrap_or(Duration::from_secs(1))))
            } else {
                // TEN_SECONDLY_ROLLING (or unnamed): the window rolls over within 10 s.
                ErrorAction::Retry(Some(e.retry_after().unwrap_or(Duration::from_secs(10))))
            }
        }
        Some(401) => ErrorAction::Fail(Error::config(format!(
            "HubSpot rejected the credentials (401 {}): the access token is invalid or expired. Create a new private-app token, or reconnect the OAuth app for a new refresh token",
            text("category")
        ))),
        Some(403) if text("category") == "MISSING_SCOPES" => {
            ErrorAction::Fail(Error::config(format!(
                "the token lacks the scope(s) {} (403 MISSING_SCOPES): add them to the private app or the OAuth app's install",
                scopes_in(&body)
            )))
        }
        // Locked by a concurrent write on HubSpot's side: it clears within seconds.
        Some(423) => ErrorAction::Retry(Some(Duration::from_secs(2))),
        _ => ErrorAction::Default,
    }
}

fn scopes_in(body: &Value) -> String {
    let mut scopes: Vec<String> = body
        .get("errors")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|e| e.pointer("/context/requiredGranularScopes"))
        .filter_map(Value::as_array)
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect();
    scopes.dedup();
    if scopes.is_empty() {
        "(not named in the answer)".into()
    } else {
        scopes.join(", ")
    }
}

/// The scopes named when `e` is HubSpot's 403 MISSING_SCOPES.
pub fn missing_scopes(e: &Error) -> Option<String> {
    let h = HttpError::find(e).filter(|h| h.status() == Some(403))?;
    let body = h.body_json()?;
    (body.get("category").and_then(Value::as_str) == Some("MISSING_SCOPES"))
        .then(|| scopes_in(&body))
}

/// Owners have no server-side since-filter: an incremental read keeps only the records at
/// or after the start on the client.
struct SinceFilter<S>(S);

#[async_trait]
impl<S: Stream> Stream for SinceFilter<S> {
    fn name(&self) -> &str {
        self.0.name()
    }
    async fn json_schema(&self) -> Result<Value> {
        self.0.json_schema().await
    }
    fn primary_key(&self) -> Vec<Vec<String>> {
        self.0.primary_key()
    }
    fn cursor(&self) -> Option<&Cursor> {
        self.0.cursor()
    }
    async fn partitions(&self) -> Result<Vec<Partition>> {
        self.0.partitions().await
    }
    fn read(&self, request: ReadRequest) -> PageStream<'_> {
        let since = self.0.cursor().and_then(|cursor| {
            let start = request.start.as_ref().and_then(|s| cursor.parse(s))?;
            Some((cursor.clone(), start))
        });
        self.0
            .read(request)
            .map(move |page| {
                let mut page = page?;
                if let Some((cursor, since)) = &since {
                    page.records.retain(|r| {
                        r.field_path(cursor.field())
                            .ok()
                            .flatten()
                            .and_then(|raw| {
                                intake::state::CursorValue::parse_json_text(
                                    raw.get(),
                                    intake::CursorKind::DateTime,
                                )
                            })
                            .is_none_or(|v| v >= *since)
                    });
                }
                Ok(page)
            })
            .boxed()
    }
}

/// A stream skipped, with a warning, when the token lacks its scope; the sync goes on.
fn guarded(stream: impl Stream + 'static) -> Arc<dyn Stream> {
    let name = stream.name().to_string();
    Arc::new(SkipOnError::new(stream, move |e, _| {
        missing_scopes(e).map(|scopes| {
            Skip::Stream(format!("stream \"{name}\" skipped: the token lacks the scope(s) {scopes}; add them to sync it (its table and state are kept as they were)"))
        })
    }))
}

/// The custom objects the portal defines (none when the token may not list them).
async fn custom_objects(api: &HttpApi) -> Result<Vec<CrmObject>> {
    let ctx = StreamContext::detached("hubspot");
    let body = match api.get_json("/crm/v3/schemas", &ctx).await {
        Ok(body) => body,
        Err(e) => {
            return match missing_scopes(&e) {
                Some(scopes) => {
                    tracing::warn!(
                        "custom objects are not listed: the token lacks the scope(s) {scopes}"
                    );
                    Ok(Vec::new())
                }
                None => Err(e),
            };
        }
    };
    let standard: Vec<&str> = OBJECTS.iter().map(|o| o.0).collect();
    let mut out = Vec::new();
    for schema in body
        .get("results")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let (Some(name), Some(type_id)) = (
            schema.get("name").and_then(Value::as_str),
            schema.get("objectTypeId").and_then(Value::as_str),
        ) else {
            continue;
        };
        if schema.get("archived").and_then(Value::as_bool) == Some(true) {
            continue;
        }
        let stream = if standard.contains(&name) {
            format!("custom_{name}")
        } else {
            name.to_string()
        };
        out.push(CrmObject {
            stream,
            object_type: type_id.to_string(),
            modified_property: "hs_lastmodifieddate".into(),
            associations: Vec::new(),
        });
    }
    Ok(out)
}

fn owners(api: &HttpApi, start: Option<DateTime<Utc>>) -> intake::http::HttpStream {
    api.stream("owners")
        .get("/crm/v3/owners")
        .query("limit", "100")
        .query("archived", "{partition.archived}")
        .records_at("/results")
        .paginate(Paginator::cursor_from_body("/paging/next/after").into_query("after"))
        .partition_keys(vec![json!({"archived": false}), json!({"archived": true})])
        .primary_key("id")
        .incremental(
            Cursor::new("updatedAt")
                .kind(intake::CursorKind::DateTime)
                .boundary(intake::state::Boundary::Inclusive)
                .start(start.map(|t| json!(properties::rfc3339(&t)))),
        )
        .schema(json!({
            "$schema": "http://json-schema.org/draft-07/schema#",
            "type": "object",
            "properties": {
                "id": {"type": "string"},
                "email": {"type": ["null", "string"]},
                "firstName": {"type": ["null", "string"]},
                "lastName": {"type": ["null", "string"]},
                "userId": {"type": ["null", "integer"]},
                "userIdIncludingInactive": {"type": ["null", "integer"]},
                "type": {"type": ["null", "string"]},
                "createdAt": {"type": ["null", "string"], "format": "date-time"},
                "updatedAt": {"type": "string", "format": "date-time"},
                "archived": {"type": "boolean"},
                "teams": {"type": ["null", "array"]}
            }
        }))
}

fn pipelines(api: &HttpApi, object: &str) -> intake::http::HttpStream {
    api.stream(&format!("{}_pipelines", object.trim_end_matches('s')))
        .get(&format!("/crm/v3/pipelines/{object}"))
        .records_at("/results")
        .primary_key("id")
        .schema(json!({
            "$schema": "http://json-schema.org/draft-07/schema#",
            "type": "object",
            "properties": {
                "id": {"type": "string"},
                "label": {"type": ["null", "string"]},
                "displayOrder": {"type": ["null", "integer"]},
                "archived": {"type": ["null", "boolean"]},
                "createdAt": {"type": ["null", "string"], "format": "date-time"},
                "updatedAt": {"type": ["null", "string"], "format": "date-time"},
                "stages": {"type": ["null", "array"]}
            }
        }))
}

#[async_trait]
impl Source for HubSpotSource {
    fn spec(&self) -> ConnectorSpec {
        ConnectorSpec::from_config::<HubSpotConfig>().documentation_url(
            "https://github.com/intake-rs/intake/tree/main/connectors/source-hubspot",
        )
    }

    /// One cheap authenticated call: the account's details.
    async fn check(&self, config: &Value) -> Result<()> {
        let (_, api) = self.client(config)?;
        api.get_json(
            "/account-info/v3/details",
            &StreamContext::detached("check"),
        )
        .await
        .map(|_| ())
    }

    async fn streams(&self, config: &Value) -> Result<Vec<Arc<dyn Stream>>> {
        let (cfg, api) = self.client(config)?;
        let hub = Arc::new(crm::Hub {
            api: api.clone(),
            start: cfg.start_date,
            lookback: Duration::from_secs(60 * u64::from(cfg.lookback_minutes.unwrap_or(1))),
        });
        let mut objects: Vec<CrmObject> = OBJECTS
            .iter()
            .map(|(stream, object, modified, associations)| CrmObject {
                stream: stream.to_string(),
                object_type: object.to_string(),
                modified_property: modified.to_string(),
                associations: if cfg.associations.unwrap_or(true) {
                    associations.iter().map(|a| a.to_string()).collect()
                } else {
                    Vec::new()
                },
            })
            .collect();
        objects.extend(custom_objects(&api).await?);
        let mut streams: Vec<Arc<dyn Stream>> = objects
            .into_iter()
            .map(|o| guarded(crm::CrmStream::new(hub.clone(), o)))
            .collect();
        streams.push(guarded(SinceFilter(owners(&api, cfg.start_date))));
        streams.push(guarded(pipelines(&api, "deals")));
        streams.push(guarded(pipelines(&api, "tickets")));
        Ok(streams)
    }
}
