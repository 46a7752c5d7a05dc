//! The Mailchimp Marketing API v3 source.
//!
//! - **Auth**: an API key (`<key>-us6`; the suffix is the datacenter, so the API lives at
//!   `https://us6.api.mailchimp.com/3.0`; Basic auth with any user name), or an OAuth access
//!   token whose datacenter comes from `login.mailchimp.com/oauth2/metadata`.
//! - **Streams**: lists, list_members (a partition and a state per list), merge_fields,
//!   segments, segment_members, interest_categories, interests, tags, campaigns, reports,
//!   email_activity (a row per activity of each email of each sent campaign), unsubscribes and
//!   automations. Members' `merge_fields` are typed from each list's merge fields.
//! - **Paging**: offset/count (1,000 by default, the maximum), ending at `total_items`, on a
//!   short page or on an empty page, whichever comes first (`total_items` is sometimes wrong);
//!   members sorted by `last_changed` and campaigns by `create_time` so paging is stable while
//!   data changes; `_links` excluded.
//! - **Incremental**: `since_last_changed` (members), `since_date_created` (lists),
//!   `since_create_time` (campaigns, automations), `since_send_time` (reports),
//!   `since_updated_at` (segments), `since` (email activity), each with its own state per
//!   partition. An unset date (`""`) is null.
//! - **Limits**: Mailchimp allows 10 simultaneous connections and sends no rate-limit headers:
//!   at most `concurrency` requests (default and maximum 10) are in flight across every stream
//!   and partition; 429 and 5xx are retried, and so is an HTML error page from Mailchimp's edge.
//! - **Errors**: problem+json bodies (title, detail, instance) are quoted in error messages; an
//!   invalid key or the wrong datacenter is a config error that says which; a report that does
//!   not exist (404) skips that campaign's partition.

#![warn(missing_docs)]

#[cfg(feature = "mock")]
pub mod mock;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use intake::http::{
    Auth, ErrorAction, HttpApi, HttpError, HttpStream, Paginator, RateLimit, RateLimitHeaders,
};
use intake::source::{Skip, SkipOnError, StreamContext};
use intake::spec::parse_config;
use intake::state::{Boundary, CursorOrder};
use intake::{ConnectorSpec, Cursor, CursorKind, Error, Result, Source, Stream, async_trait};
use schemars::JsonSchema;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Map, Value, json};

/// Where OAuth tokens learn their datacenter.
pub const METADATA_URL: &str = "https://login.mailchimp.com/oauth2/metadata";
/// The largest page Mailchimp serves.
pub const MAX_PAGE_SIZE: u32 = 1000;
/// Simultaneous connections Mailchimp allows per account.
pub const MAX_CONCURRENCY: u32 = 10;

/// How the connector authenticates.
#[derive(Deserialize, JsonSchema)]
#[serde(tag = "auth_type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Credentials {
    /// An API key (Account -> Extras -> API keys), ending in its datacenter: `…-us6`.
    Apikey {
        /// The API key.
        #[schemars(schema_with = "intake::spec::secret")]
        apikey: SecretString,
    },
    /// An OAuth access token (Mailchimp's tokens do not expire).
    Oauth {
        /// The access token.
        #[schemars(schema_with = "intake::spec::secret")]
        access_token: SecretString,
    },
}

/// The Mailchimp source's config.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MailchimpConfig {
    /// API key or OAuth token.
    pub credentials: Credentials,
    /// Only records created or changed at or after this instant (ISO 8601). Default: all.
    pub start_date: Option<DateTime<Utc>>,
    /// The API root, `https://<dc>.api.mailchimp.com/3.0` by default (set it for a proxy or a
    /// mock).
    pub base_url: Option<String>,
    /// Where an OAuth token's datacenter is looked up. Default
    /// `https://login.mailchimp.com/oauth2/metadata`.
    pub oauth_metadata_url: Option<String>,
    /// Records per page, at most 1000 (the default).
    pub page_size: Option<u32>,
    /// Requests in flight at once across all streams, at most 10 (the default): Mailchimp
    /// refuses an account's 11th simultaneous connection.
    pub concurrency: Option<u32>,
    /// Seconds before a request is abandoned (and retried). Default 60.
    pub request_timeout_seconds: Option<u64>,
}

/// The datacenter an API key names (`us6` in `…-us6`).
pub fn datacenter(apikey: &str) -> Result<String> {
    let no_suffix = || {
        Error::config(
            "the Mailchimp API key has no datacenter suffix: keys end in their datacenter, like `<32 hex characters>-us6`; copy the whole key from Account -> Extras -> API keys",
        )
    };
    let (_, dc) = apikey.trim().rsplit_once('-').ok_or_else(no_suffix)?;
    let letters = dc.trim_end_matches(|c: char| c.is_ascii_digit());
    let valid = !letters.is_empty()
        && letters.len() < dc.len()
        && letters.chars().all(|c| c.is_ascii_lowercase());
    if valid {
        Ok(dc.to_string())
    } else {
        Err(no_suffix())
    }
}

/// The parts of a problem+json error body.
fn problem(e: &HttpError) -> Option<(String, String, String)> {
    let body = e.body_json()?;
    let text = |k: &str| {
        body.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let title = text("title");
    (!title.is_empty()).then(|| (title, text("detail"), text("instance")))
}

/// Reads Mailchimp's problem+json bodies; `dc` is the datacenter the config points at.
fn classify(dc: Option<String>) -> impl Fn(&HttpError) -> ErrorAction + Send + Sync + 'static {
    move |e| {
        let status = e.status().unwrap_or_default();
        let Some((title, detail, instance)) = problem(e) else {
            // Not JSON at all: an HTML page from Mailchimp's edge (Akamai) under load is
            // transient, whatever its status. Other JSON keeps the default mapping.
            let html = e.body_json().is_none();
            return if html && matches!(status, 403 | 429 | 500..=599) {
                ErrorAction::Retry(None)
            } else {
                ErrorAction::Default
            };
        };
        let described =
            format!("Mailchimp: {title} (HTTP {status}): {detail} (request {instance})");
        let wrong_dc = title.to_ascii_lowercase().replace(' ', "") == "wrongdatacenter"
            || detail.to_ascii_lowercase().contains("datacenter");
        match status {
            401 | 403 if wrong_dc => ErrorAction::Fail(Error::config(format!(
                "the credentials belong to another datacenter than {}: the key's suffix names its datacenter; {described}",
                dc.as_deref().unwrap_or("the one configured")
            ))),
            401 => ErrorAction::Fail(Error::config(format!(
                "Mailchimp rejected the credentials: check the API key or token; {described}"
            ))),
            403 => ErrorAction::Fail(Error::config(format!(
                "the account may not read this: {described}"
            ))),
            429 | 500..=599 => ErrorAction::Retry(None),
            _ => ErrorAction::Fail(Error::system(described)),
        }
    }
}

/// The Mailchimp source. One value keeps one API client per config, so the concurrency cap
/// holds across every read made through it.
#[derive(Debug, Default, Clone)]
pub struct MailchimpSource {
    client: Arc<tokio::sync::Mutex<Option<(String, Client)>>>,
}

#[derive(Debug, Clone)]
struct Client {
    api: HttpApi,
    page_size: u32,
    start: Option<DateTime<Utc>>,
}

impl MailchimpSource {
    /// The source.
    pub fn new() -> Self {
        MailchimpSource::default()
    }

    async fn client(&self, config: &Value) -> Result<Client> {
        let cfg: MailchimpConfig = parse_config(config)?;
        let key = config.to_string();
        let mut cached = self.client.lock().await;
        if let Some((k, c)) = cached.as_ref()
            && *k == key
        {
            return Ok(c.clone());
        }
        let client = connect(&cfg).await?;
        *cached = Some((key, client.clone()));
        Ok(client)
    }
}

/// Works out the API root and builds the client.
async fn connect(cfg: &MailchimpConfig) -> Result<Client> {
    let (auth, dc, endpoint) = match &cfg.credentials {
        Credentials::Apikey { apikey } => {
            let dc = datacenter(apikey.expose_secret())?;
            let root = format!("https://{dc}.api.mailchimp.com/3.0");
            (Auth::basic("anystring", apikey.clone()), Some(dc), root)
        }
        Credentials::Oauth { access_token } => {
            let url = cfg.oauth_metadata_url.as_deref().unwrap_or(METADATA_URL);
            let header = SecretString::from(format!("OAuth {}", access_token.expose_secret()));
            let metadata = HttpApi::parse(url)
                .map_err(|e| Error::config(format!("oauth_metadata_url: {e}")))?
                .auth(Auth::api_key_header("Authorization", header))
                .get_json("", &StreamContext::detached("oauth metadata"))
                .await?;
            let Some(endpoint) = metadata.get("api_endpoint").and_then(Value::as_str) else {
                return Err(Error::config(
                    "Mailchimp does not know this OAuth access token (its metadata has no api_endpoint): reconnect the app for a new token",
                ));
            };
            let dc = metadata
                .get("dc")
                .and_then(Value::as_str)
                .map(str::to_string);
            let root = format!("{}/3.0", endpoint.trim_end_matches('/'));
            (Auth::bearer(access_token.clone()), dc, root)
        }
    };
    let root = cfg.base_url.clone().unwrap_or(endpoint);
    let concurrency = cfg
        .concurrency
        .unwrap_or(MAX_CONCURRENCY)
        .clamp(1, MAX_CONCURRENCY);
    let api = HttpApi::parse(&root)
        .map_err(|e| Error::config(format!("base_url: {e}")))?
        .auth(auth)
        .rate_limit(
            RateLimit::unlimited()
                .max_concurrency(concurrency as usize)
                .headers(RateLimitHeaders::none()),
        )
        .user_agent(concat!(
            "intake-source-mailchimp/",
            env!("CARGO_PKG_VERSION")
        ))
        .timeout(Some(std::time::Duration::from_secs(
            cfg.request_timeout_seconds.unwrap_or(60).max(1),
        )))
        .on_error(classify(dc));
    Ok(Client {
        api,
        page_size: cfg
            .page_size
            .unwrap_or(MAX_PAGE_SIZE)
            .clamp(1, MAX_PAGE_SIZE),
        start: cfg.start_date,
    })
}

/// `""` in a date or time field (a name with `date` or `time` in it, ending in `_at` or
/// `_sent`, or `last_changed`: `timestamp_opt`, `stats.campaign_last_sent`, …) becomes null,
/// everywhere in the record; so does an unset merge field.
pub fn blank_dates(value: Value) -> Value {
    fn is_date(name: &str) -> bool {
        name.contains("date")
            || name.contains("time")
            || name.ends_with("_at")
            || name == "last_changed"
            || name.ends_with("_sent")
            || name == "since"
    }
    fn walk(value: Value, in_merge_fields: bool) -> Value {
        match value {
            Value::Object(map) => Value::Object(
                map.into_iter()
                    .map(|(k, v)| {
                        let v = match v {
                            Value::String(s)
                                if s.is_empty() && (in_merge_fields || is_date(&k)) =>
                            {
                                Value::Null
                            }
                            other => walk(other, k == "merge_fields"),
                        };
                        (k, v)
                    })
                    .collect(),
            ),
            Value::Array(items) => {
                Value::Array(items.into_iter().map(|v| walk(v, false)).collect())
            }
            other => other,
        }
    }
    walk(value, false)
}

/// A JSON Schema of nullable fields: `(name, kind)` with kind one of string, integer, number,
/// boolean, date-time, date, object, array. Key fields are listed in `required`.
fn schema(fields: &[(&str, &str)], required: &[&str]) -> Value {
    let mut props = Map::new();
    for (name, kind) in fields {
        let mut s = match *kind {
            "date-time" | "date" => json!({"type": ["null", "string"], "format": kind}),
            other => json!({"type": ["null", other]}),
        };
        if required.contains(name) {
            s["type"] = match *kind {
                "date-time" | "date" => json!("string"),
                other => json!(other),
            };
        }
        props.insert(name.to_string(), s);
    }
    json!({"$schema": "http://json-schema.org/draft-07/schema#", "type": "object",
           "additionalProperties": true, "properties": props, "required": required})
}

fn paged(client: &Client, name: &str, path: &str, key: &str) -> HttpStream {
    client
        .api
        .stream(name)
        .get(path)
        .query("exclude_fields", &format!("{key}._links"))
        .records_at(&format!("/{key}"))
        .paginate(
            Paginator::offset("offset", "count", u64::from(client.page_size))
                .total_at("/total_items")
                .short_page_ends(true),
        )
        .transform(|v| Ok(Some(blank_dates(v))))
}

fn cursor(client: &Client, field: &str, ascending: bool) -> Cursor {
    let c = Cursor::new(field)
        .kind(CursorKind::DateTime)
        .boundary(Boundary::Inclusive)
        .start(client.start.map(|t| json!(t.to_rfc3339())));
    if ascending {
        c.order(CursorOrder::Ascending)
    } else {
        c
    }
}

/// Adds the partition's fields to each record (a tag does not name its list).
fn with_partition(value: Value, partition: &Value) -> Result<Vec<Value>> {
    let mut value = value;
    if let (Value::Object(map), Value::Object(p)) = (&mut value, partition) {
        for (k, v) in p {
            map.entry(k.clone()).or_insert(v.clone());
        }
    }
    Ok(vec![value])
}

/// One row per activity of an email (`open`, `click`, `bounce`), with the email's ids.
pub fn activity_rows(email: Value, partition: &Value) -> Result<Vec<Value>> {
    let Value::Object(mut email) = email else {
        return Ok(Vec::new());
    };
    let activities = match email.remove("activity") {
        Some(Value::Array(a)) => a,
        _ => Vec::new(),
    };
    let mut base = Map::new();
    for k in [
        "campaign_id",
        "list_id",
        "list_is_active",
        "email_id",
        "email_address",
    ] {
        if let Some(v) = email.remove(k) {
            base.insert(k.to_string(), v);
        }
    }
    if let Some(id) = partition.get("campaign_id") {
        base.entry("campaign_id").or_insert(id.clone());
    }
    Ok(activities
        .into_iter()
        .filter_map(|a| match a {
            Value::Object(a) => {
                let mut row = base.clone();
                row.extend(a);
                Some(blank_dates(Value::Object(row)))
            }
            _ => None,
        })
        .collect())
}

async fn member_schema(api: HttpApi) -> Result<Value> {
    let ctx = StreamContext::detached("list_members");
    let lists = api
        .get_json("/lists?count=1000&fields=lists.id", &ctx)
        .await?;
    let mut merge = Map::new();
    for list in lists
        .get("lists")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(id) = list.get("id").and_then(Value::as_str) else {
            continue;
        };
        let fields = api
            .get_json(&format!("/lists/{id}/merge-fields?count=1000"), &ctx)
            .await?;
        for f in fields
            .get("merge_fields")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let (Some(tag), Some(kind)) = (
                f.get("tag").and_then(Value::as_str),
                f.get("type").and_then(Value::as_str),
            ) else {
                continue;
            };
            let s = match kind {
                "number" => json!({"type": ["null", "number"]}),
                "address" => json!({"type": ["null", "object"]}),
                _ => json!({"type": ["null", "string"]}),
            };
            // A tag typed differently in two lists is whatever both allow.
            let entry = merge.entry(tag.to_string()).or_insert(s.clone());
            if *entry != s {
                *entry = json!({});
            }
        }
    }
    let mut s = schema(MEMBER_FIELDS, &["id", "list_id", "last_changed"]);
    s["properties"]["merge_fields"] =
        json!({"type": ["null", "object"], "properties": merge, "additionalProperties": true});
    Ok(s)
}

const MEMBER_FIELDS: &[(&str, &str)] = &[
    ("id", "string"),
    ("list_id", "string"),
    ("email_address", "string"),
    ("unique_email_id", "string"),
    ("contact_id", "string"),
    ("full_name", "string"),
    ("web_id", "integer"),
    ("email_type", "string"),
    ("status", "string"),
    ("merge_fields", "object"),
    ("interests", "object"),
    ("stats", "object"),
    ("ip_signup", "string"),
    ("timestamp_signup", "date-time"),
    ("ip_opt", "string"),
    ("timestamp_opt", "date-time"),
    ("member_rating", "integer"),
    ("last_changed", "date-time"),
    ("language", "string"),
    ("vip", "boolean"),
    ("email_client", "string"),
    ("location", "object"),
    ("source", "string"),
    ("tags_count", "integer"),
    ("tags", "array"),
];

/// The streams of a config.
fn streams(client: &Client) -> Vec<Arc<dyn Stream>> {
    let lists = paged(client, "lists", "/lists", "lists")
        .query("sort_field", "date_created")
        .query("sort_dir", "ASC")
        .query("since_date_created", "{cursor}")
        .primary_key("id")
        .incremental(cursor(client, "date_created", true))
        .schema(schema(
            &[
                ("id", "string"),
                ("web_id", "integer"),
                ("name", "string"),
                ("contact", "object"),
                ("permission_reminder", "string"),
                ("campaign_defaults", "object"),
                ("date_created", "date-time"),
                ("list_rating", "integer"),
                ("email_type_option", "boolean"),
                ("visibility", "string"),
                ("double_optin", "boolean"),
                ("stats", "object"),
            ],
            &["id", "date_created"],
        ));
    let by_list = |s: HttpStream| s.parent_field(&lists, "list_id", "id");
    let members = by_list(paged(
        client,
        "list_members",
        "/lists/{partition.list_id}/members",
        "members",
    ))
    .query("sort_field", "last_changed")
    .query("sort_dir", "ASC")
    .query("since_last_changed", "{cursor}")
    .primary_key_paths(vec![vec!["list_id".into()], vec!["id".into()]])
    .incremental(cursor(client, "last_changed", true))
    .schema_loader(member_schema);
    let merge_fields = by_list(paged(
        client,
        "merge_fields",
        "/lists/{partition.list_id}/merge-fields",
        "merge_fields",
    ))
    .primary_key_paths(vec![vec!["list_id".into()], vec!["merge_id".into()]])
    .schema(schema(
        &[
            ("merge_id", "integer"),
            ("list_id", "string"),
            ("tag", "string"),
            ("name", "string"),
            ("type", "string"),
            ("required", "boolean"),
            ("default_value", "string"),
            ("public", "boolean"),
            ("display_order", "integer"),
            ("options", "object"),
        ],
        &["merge_id", "list_id"],
    ));
    let segments = by_list(paged(
        client,
        "segments",
        "/lists/{partition.list_id}/segments",
        "segments",
    ))
    .query("since_updated_at", "{cursor}")
    .primary_key("id")
    .incremental(cursor(client, "updated_at", false))
    .schema(schema(
        &[
            ("id", "integer"),
            ("list_id", "string"),
            ("name", "string"),
            ("member_count", "integer"),
            ("type", "string"),
            ("created_at", "date-time"),
            ("updated_at", "date-time"),
            ("options", "object"),
        ],
        &["id", "updated_at"],
    ));
    let segment_members = paged(
        client,
        "segment_members",
        "/lists/{partition.list_id}/segments/{partition.segment_id}/members",
        "members",
    )
    .parent(&segments, |record| {
        let v = record.to_value()?;
        Ok(match (v.get("list_id"), v.get("id")) {
            (Some(list), Some(id)) => Some(json!({"list_id": list, "segment_id": id})),
            _ => None,
        })
    })
    .expand(with_partition)
    .primary_key_paths(vec![vec!["segment_id".into()], vec!["id".into()]])
    .schema(schema(
        &[
            ("id", "string"),
            ("segment_id", "integer"),
            ("list_id", "string"),
            ("email_address", "string"),
            ("status", "string"),
            ("merge_fields", "object"),
            ("last_changed", "date-time"),
            ("timestamp_opt", "date-time"),
        ],
        &["id", "segment_id"],
    ));
    let categories = by_list(paged(
        client,
        "interest_categories",
        "/lists/{partition.list_id}/interest-categories",
        "categories",
    ))
    .primary_key("id")
    .schema(schema(
        &[
            ("id", "string"),
            ("list_id", "string"),
            ("title", "string"),
            ("display_order", "integer"),
            ("type", "string"),
        ],
        &["id"],
    ));
    let interests = paged(
        client,
        "interests",
        "/lists/{partition.list_id}/interest-categories/{partition.category_id}/interests",
        "interests",
    )
    .parent(&categories, |record| {
        let v = record.to_value()?;
        Ok(match (v.get("list_id"), v.get("id")) {
            (Some(list), Some(id)) => Some(json!({"list_id": list, "category_id": id})),
            _ => None,
        })
    })
    .primary_key("id")
    .schema(schema(
        &[
            ("id", "string"),
            ("category_id", "string"),
            ("list_id", "string"),
            ("name", "string"),
            ("subscriber_count", "string"),
            ("display_order", "integer"),
        ],
        &["id"],
    ));
    let tags = by_list(paged(
        client,
        "tags",
        "/lists/{partition.list_id}/tag-search",
        "tags",
    ))
    .expand(with_partition)
    .primary_key_paths(vec![vec!["list_id".into()], vec!["id".into()]])
    .schema(schema(
        &[("id", "integer"), ("list_id", "string"), ("name", "string")],
        &["id", "list_id"],
    ));
    let campaigns = paged(client, "campaigns", "/campaigns", "campaigns")
        .query("sort_field", "create_time")
        .query("sort_dir", "ASC")
        .query("since_create_time", "{cursor}")
        .primary_key("id")
        .incremental(cursor(client, "create_time", true))
        .schema(schema(
            &[
                ("id", "string"),
                ("web_id", "integer"),
                ("type", "string"),
                ("create_time", "date-time"),
                ("archive_url", "string"),
                ("status", "string"),
                ("emails_sent", "integer"),
                ("send_time", "date-time"),
                ("content_type", "string"),
                ("recipients", "object"),
                ("settings", "object"),
                ("tracking", "object"),
                ("report_summary", "object"),
                ("delivery_status", "object"),
            ],
            &["id", "create_time"],
        ));
    let reports = paged(client, "reports", "/reports", "reports")
        .query("since_send_time", "{cursor}")
        .primary_key("id")
        .incremental(cursor(client, "send_time", false))
        .schema(schema(
            &[
                ("id", "string"),
                ("campaign_title", "string"),
                ("type", "string"),
                ("list_id", "string"),
                ("list_name", "string"),
                ("subject_line", "string"),
                ("emails_sent", "integer"),
                ("abuse_reports", "integer"),
                ("unsubscribed", "integer"),
                ("send_time", "date-time"),
                ("bounces", "object"),
                ("forwards", "object"),
                ("opens", "object"),
                ("clicks", "object"),
                ("list_stats", "object"),
            ],
            &["id", "send_time"],
        ));
    let sent = |record: &intake::Record| -> Result<Option<Value>> {
        let v = record.to_value()?;
        Ok((v.get("status").and_then(Value::as_str) == Some("sent"))
            .then(|| json!({"campaign_id": v["id"]})))
    };
    let email_activity = paged(
        client,
        "email_activity",
        "/reports/{partition.campaign_id}/email-activity",
        "emails",
    )
    .query("since", "{cursor}")
    .parent(&campaigns, sent)
    .expand(activity_rows)
    .primary_key_paths(vec![
        vec!["campaign_id".into()],
        vec!["email_id".into()],
        vec!["action".into()],
        vec!["timestamp".into()],
    ])
    .incremental(cursor(client, "timestamp", false))
    .schema(schema(
        &[
            ("campaign_id", "string"),
            ("list_id", "string"),
            ("list_is_active", "boolean"),
            ("email_id", "string"),
            ("email_address", "string"),
            ("action", "string"),
            ("type", "string"),
            ("timestamp", "date-time"),
            ("url", "string"),
            ("ip", "string"),
        ],
        &["campaign_id", "email_id", "action", "timestamp"],
    ));
    let unsubscribes = paged(
        client,
        "unsubscribes",
        "/reports/{partition.campaign_id}/unsubscribed",
        "unsubscribes",
    )
    .parent(&campaigns, sent)
    .expand(with_partition)
    .primary_key_paths(vec![vec!["campaign_id".into()], vec!["email_id".into()]])
    .schema(schema(
        &[
            ("email_id", "string"),
            ("email_address", "string"),
            ("merge_fields", "object"),
            ("vip", "boolean"),
            ("timestamp", "date-time"),
            ("reason", "string"),
            ("campaign_id", "string"),
            ("list_id", "string"),
        ],
        &["campaign_id", "email_id"],
    ));
    let automations = paged(client, "automations", "/automations", "automations")
        .query("since_create_time", "{cursor}")
        .primary_key("id")
        .incremental(cursor(client, "create_time", false))
        .schema(schema(
            &[
                ("id", "string"),
                ("create_time", "date-time"),
                ("start_time", "date-time"),
                ("status", "string"),
                ("emails_sent", "integer"),
                ("recipients", "object"),
                ("settings", "object"),
                ("tracking", "object"),
                ("report_summary", "object"),
            ],
            &["id", "create_time"],
        ));
    let plain = |s: HttpStream| -> Arc<dyn Stream> { Arc::new(s) };
    vec![
        plain(lists),
        plain(members),
        plain(merge_fields),
        plain(segments),
        plain(segment_members),
        plain(categories),
        plain(interests),
        plain(tags),
        plain(campaigns),
        plain(reports),
        skip_missing_report(email_activity),
        skip_missing_report(unsubscribes),
        plain(automations),
    ]
}

/// A campaign's report stream that skips the campaign, with a warning, when Mailchimp has no
/// report for it (404: never sent, or deleted since).
fn skip_missing_report(stream: HttpStream) -> Arc<dyn Stream> {
    let name = Stream::name(&stream).to_string();
    Arc::new(SkipOnError::new(stream, move |e, partition| {
        (HttpError::find(e)?.status() == Some(404)).then(|| {
            Skip::Partition(format!(
                "stream \"{name}\": campaign {} has no report (404): skipped",
                partition.key()["campaign_id"]
            ))
        })
    }))
}

#[async_trait]
impl Source for MailchimpSource {
    fn spec(&self) -> ConnectorSpec {
        ConnectorSpec::from_config::<MailchimpConfig>()
            .supports_incremental(true)
            .documentation_url(
                "https://github.com/intake-rs/intake/tree/main/connectors/source-mailchimp",
            )
    }

    /// `GET /ping`.
    async fn check(&self, config: &Value) -> Result<()> {
        let client = self.client(config).await?;
        let pong = client
            .api
            .get_json("/ping", &StreamContext::detached("check"))
            .await?;
        if pong.get("health_status").is_none() {
            return Err(Error::system(format!(
                "Mailchimp's /ping answered without a health_status: {pong}"
            )));
        }
        Ok(())
    }

    async fn streams(&self, config: &Value) -> Result<Vec<Arc<dyn Stream>>> {
        Ok(streams(&self.client(config).await?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datacenters_come_from_the_key_suffix() {
        assert_eq!(
            datacenter("0123456789abcdef0123456789abcdef-us6").unwrap(),
            "us6"
        );
        assert_eq!(datacenter("abc-us21").unwrap(), "us21");
        for bad in [
            "0123456789abcdef0123456789abcdef",
            "abc-",
            "abc-6",
            "abc-us",
            "abc-US6",
            "",
        ] {
            let e = datacenter(bad).unwrap_err();
            assert!(e.is_config());
            assert!(e.message().contains("datacenter suffix"), "{e}");
        }
    }

    #[test]
    fn unset_dates_and_merge_fields_become_null() {
        let v = blank_dates(json!({
            "timestamp_opt": "", "last_changed": "2022-02-23T16:25:57+00:00", "email_address": "",
            "stats": {"campaign_last_sent": "", "member_count": 3},
            "merge_fields": {"FNAME": "", "LTV": "", "ADDRESS": "", "USERID": 7}
        }));
        assert_eq!(v["timestamp_opt"], Value::Null);
        assert_eq!(v["last_changed"], json!("2022-02-23T16:25:57+00:00"));
        assert_eq!(v["email_address"], json!(""), "not a date: kept");
        assert_eq!(v["stats"]["campaign_last_sent"], Value::Null);
        assert_eq!(v["merge_fields"]["LTV"], Value::Null);
        assert_eq!(v["merge_fields"]["ADDRESS"], Value::Null);
        assert_eq!(v["merge_fields"]["USERID"], json!(7));
    }

    #[test]
    fn email_activity_unnests_into_rows() {
        let email = json!({"campaign_id": "c1", "list_id": "l1", "email_id": "e1",
            "email_address": "a@example.com", "_links": [],
            "activity": [{"action": "open", "timestamp": "2024-01-01T00:00:00+00:00", "ip": "10.0.0.1"},
                         {"action": "click", "timestamp": "2024-01-01T00:01:00+00:00", "url": "https://x"}]});
        let rows = activity_rows(email, &json!({"campaign_id": "c1"})).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0]["action"], "open");
        assert_eq!(rows[1]["url"], "https://x");
        assert!(
            rows.iter()
                .all(|r| r["email_id"] == "e1" && r["campaign_id"] == "c1")
        );
        assert!(rows[0].get("_links").is_none());
        let none = activity_rows(json!({"email_id": "e2", "activity": []}), &json!({})).unwrap();
        assert!(none.is_empty(), "an email without activity is no row");
    }
}
