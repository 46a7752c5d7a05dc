//! The Google Sheets source: every grid tab of a spreadsheet is a stream.
//!
//! - **Auth**: a service-account key (an RS256 JWT exchanged at the key's `token_uri` for the
//!   `spreadsheets.readonly` scope; the token cached until a minute before it expires), or OAuth
//!   (client id, client secret, refresh token).
//! - **Discovery**: `spreadsheets.get` with `fields=sheets.properties`; each GRID sheet whose
//!   first row has a header becomes a stream named after the tab (charts skipped, hidden tabs
//!   listed; a tab without a header row is left out with a log line). An empty header cell
//!   leaves its column out (with a warning). Duplicate headers are all renamed with their cell:
//!   two `name` headers in B1 and D1 become `name_B1` and `name_D1`. Names can be converted to
//!   snake_case. Every column is a nullable string, except in unformatted mode, where a column
//!   whose sampled values are all numbers (or all booleans) is typed so.
//! - **Reading**: `values:batchGet` over row ranges of `batch_size` rows; short rows padded with
//!   null, blank rows skipped, the end decided by the tab's `rowCount`. Each record carries its
//!   row number in `_row` (the primary key: it moves if rows are inserted or sorted above it).
//! - **State**: full refresh only (Sheets has no change feed), resumable: each checkpoint holds
//!   the next row to read, so an interrupted sync continues where it stopped.
//! - **Limits and errors**: the per-minute read quota (default 60, Google's per-user quota, paced
//!   at 90%); 429 `RESOURCE_EXHAUSTED` retried with backoff; 403 `PERMISSION_DENIED` says to
//!   share the spreadsheet with the service account's email; 404 names the spreadsheet id.

#![warn(missing_docs)]

#[cfg(feature = "mock")]
pub mod mock;

use std::collections::HashMap;
use std::sync::Arc;

use futures::StreamExt;
use intake::http::reqwest::{Method, Request};
use intake::http::{
    Auth, ErrorAction, GoogleServiceAccount, HttpApi, HttpError, OAuth2, Quota, RateLimit,
    ServiceAccountKey,
};
use intake::source::{LogLevel, StreamContext};
use intake::spec::parse_config;
use intake::{
    ConnectorSpec, Error, Page, PageStream, ReadRequest, Record, Result, Source, Stream,
    async_trait,
};
use schemars::JsonSchema;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Map, Value, json};

/// The API's host.
pub const DEFAULT_BASE_URL: &str = "https://sheets.googleapis.com";
/// Google's token endpoint.
pub const DEFAULT_TOKEN_URL: &str = "https://oauth2.googleapis.com/token";
/// The scope requested.
pub const SCOPE: &str = "https://www.googleapis.com/auth/spreadsheets.readonly";
/// The field holding each record's row number.
pub const ROW: &str = "_row";
/// Rows per request by default.
pub const DEFAULT_BATCH_SIZE: u32 = 200;

/// How the connector authenticates.
#[derive(Deserialize, JsonSchema)]
#[serde(tag = "auth_type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Credentials {
    /// A service account: the key file's JSON, as downloaded from Google Cloud. Share the
    /// spreadsheet with the account's `client_email`.
    ServiceAccount {
        /// The key file's whole JSON text.
        #[schemars(schema_with = "intake::spec::secret")]
        service_account_info: SecretString,
    },
    /// A user's OAuth grant.
    Oauth {
        /// The OAuth client id.
        client_id: String,
        /// The OAuth client secret.
        #[schemars(schema_with = "intake::spec::secret")]
        client_secret: SecretString,
        /// The refresh token.
        #[schemars(schema_with = "intake::spec::secret")]
        refresh_token: SecretString,
    },
}

/// How cell values are rendered.
#[derive(Deserialize, JsonSchema, Debug, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum ValueRender {
    /// As displayed (`"$1,200.00"`, `"TRUE"`): every column a string. The default.
    #[default]
    Formatted,
    /// The underlying values (`1200`, `true`): numeric and boolean columns typed.
    Unformatted,
}

/// How header names become column names.
#[derive(Deserialize, JsonSchema, Debug, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum NamesConversion {
    /// As written. The default.
    #[default]
    Off,
    /// `First Name (home)` -> `first_name_home`.
    SnakeCase,
}

/// The Google Sheets source's config.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SheetsConfig {
    /// The spreadsheet's id, or its URL (`https://docs.google.com/spreadsheets/d/<id>/edit`).
    pub spreadsheet_id: String,
    /// Service account or OAuth.
    pub credentials: Credentials,
    /// Rows per request. Default 200.
    pub batch_size: Option<u32>,
    /// Formatted (default) or unformatted values.
    pub value_render: Option<ValueRender>,
    /// Header names as written (default) or converted to snake_case.
    pub names_conversion: Option<NamesConversion>,
    /// Read requests per minute: Google allows 60 per user per project by default (300 per
    /// project). The connector paces itself at 90% of it.
    pub requests_per_minute: Option<u32>,
    /// The API's base URL. Default `https://sheets.googleapis.com` (for a proxy or a mock).
    pub base_url: Option<String>,
    /// The token endpoint, instead of the key's `token_uri` or Google's (for tests).
    pub token_url: Option<String>,
    /// Seconds before a request is abandoned (and retried). Default 60.
    pub request_timeout_seconds: Option<u64>,
}

/// The spreadsheet id in an id or a URL.
pub fn spreadsheet_id(text: &str) -> Result<String> {
    let text = text.trim();
    let id = match text.find("/spreadsheets/d/") {
        Some(i) => text[i + "/spreadsheets/d/".len()..]
            .split(['/', '?', '#'])
            .next()
            .unwrap_or_default(),
        None => text,
    };
    if id.is_empty()
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(Error::config(format!(
            "\"{text}\" is not a spreadsheet id or URL: give the id (the part after /d/ in the spreadsheet's URL) or the whole URL"
        )));
    }
    Ok(id.to_string())
}

/// A sheet title quoted for an A1 range: always in single quotes, inner quotes doubled.
pub fn quote_title(title: &str) -> String {
    format!("'{}'", title.replace('\'', "''"))
}

/// The column letters of a 0-based index: 0 -> A, 25 -> Z, 26 -> AA.
pub fn column_letters(mut index: usize) -> String {
    let mut out = Vec::new();
    loop {
        out.push(b'A' + (index % 26) as u8);
        if index < 26 {
            break;
        }
        index = index / 26 - 1;
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

/// `First Name (home)` -> `first_name_home`.
pub fn snake_case(name: &str) -> String {
    let mut out = String::new();
    let mut gap = false;
    for c in name.trim().chars() {
        if c.is_alphanumeric() {
            if gap && !out.is_empty() {
                out.push('_');
            }
            out.extend(c.to_lowercase());
            gap = false;
        } else {
            gap = true;
        }
    }
    out
}

/// One column of a tab: its position and name.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    /// 0-based position in the sheet.
    pub index: usize,
    /// The column's name.
    pub name: String,
}

/// Turns a header row into columns: empty cells left out (returned as warnings), duplicates
/// renamed `<name>_<cell>` (every occurrence), names optionally converted.
pub fn columns(header: &[Value], conversion: NamesConversion) -> (Vec<Column>, Vec<String>) {
    let mut warnings = Vec::new();
    let mut named: Vec<Column> = Vec::new();
    for (index, cell) in header.iter().enumerate() {
        let raw = match cell {
            Value::String(s) => s.trim().to_string(),
            Value::Null => String::new(),
            other => other.to_string(),
        };
        let name = match conversion {
            NamesConversion::Off => raw,
            NamesConversion::SnakeCase => snake_case(&raw),
        };
        if name.is_empty() {
            warnings.push(format!(
                "column {} has no header: it is left out",
                column_letters(index)
            ));
            continue;
        }
        named.push(Column { index, name });
    }
    let mut counts: HashMap<String, usize> = HashMap::new();
    for c in &named {
        *counts.entry(c.name.clone()).or_default() += 1;
    }
    let mut taken: std::collections::HashSet<String> = named
        .iter()
        .filter(|c| counts[&c.name] == 1)
        .map(|c| c.name.clone())
        .collect();
    for c in &mut named {
        if counts[&c.name] > 1 {
            let mut renamed = format!("{}_{}1", c.name, column_letters(c.index));
            while taken.contains(&renamed) || renamed == ROW {
                renamed.push('_');
            }
            warnings.push(format!(
                "header \"{}\" appears {} times: column {} is named \"{renamed}\"",
                c.name,
                counts[&c.name],
                column_letters(c.index)
            ));
            taken.insert(renamed.clone());
            c.name = renamed;
        } else if c.name == ROW {
            c.name = format!("{ROW}_{}1", column_letters(c.index));
        }
    }
    (named, warnings)
}

/// The JSON type of a column from sampled values (unformatted mode): number or boolean when
/// every non-empty sample is one, otherwise string.
fn column_type(samples: &[&Value]) -> &'static str {
    let present: Vec<&&Value> = samples
        .iter()
        .filter(|v| !v.is_null() && **v != &json!(""))
        .collect();
    if present.is_empty() {
        "string"
    } else if present.iter().all(|v| v.is_number()) {
        "number"
    } else if present.iter().all(|v| v.is_boolean()) {
        "boolean"
    } else {
        "string"
    }
}

/// A row as a record: cells by column (short rows padded with null), the row number added.
/// `None` for a blank row.
pub fn row_record(row: &[Value], columns: &[Column], types: &[&str], number: u64) -> Option<Value> {
    let blank = row
        .iter()
        .all(|v| v.is_null() || v.as_str().is_some_and(|s| s.is_empty()));
    if blank {
        return None;
    }
    let mut out = Map::new();
    out.insert(ROW.into(), json!(number));
    for (c, kind) in columns.iter().zip(types) {
        let v = row.get(c.index).cloned().unwrap_or(Value::Null);
        let v = match (v, *kind) {
            (Value::String(s), _) if s.is_empty() => Value::Null,
            // A string column holds what the sheet shows, even where a cell is a number.
            (Value::Number(n), "string") => Value::String(n.to_string()),
            (Value::Bool(b), "string") => Value::String(if b { "TRUE" } else { "FALSE" }.into()),
            (v, _) => v,
        };
        out.insert(c.name.clone(), v);
    }
    Some(Value::Object(out))
}

/// What discovery learned about one tab.
#[derive(Debug, Clone)]
struct Tab {
    title: String,
    columns: Vec<Column>,
    types: Vec<&'static str>,
    /// Letters of the last column read (the header's width).
    last_column: String,
    /// Row 1 as read when the stream was built: every batch checks it still reads so.
    header: Vec<Value>,
}

#[derive(Debug, Clone)]
struct Client {
    api: HttpApi,
    id: String,
    batch: u32,
    render: ValueRender,
    conversion: NamesConversion,
}

/// Reads Google's error bodies: which spreadsheet is missing, who to share it with.
fn classify(id: String, email: Option<String>) -> impl Fn(&HttpError) -> ErrorAction + Send + Sync {
    move |e| {
        let body = e.body_json().unwrap_or(Value::Null);
        let message = body
            .pointer("/error/message")
            .and_then(Value::as_str)
            .unwrap_or_default();
        match e.status() {
            Some(403) => ErrorAction::Fail(Error::config(match &email {
                Some(email) => format!(
                    "no access to spreadsheet {id} (403 PERMISSION_DENIED: {message}): share it (Viewer is enough) with the service account {email}"
                ),
                None => format!(
                    "no access to spreadsheet {id} (403 PERMISSION_DENIED: {message}): the Google account that authorized the app cannot open it; share it with that account"
                ),
            })),
            Some(404) => ErrorAction::Fail(Error::config(format!(
                "spreadsheet {id} was not found (404): check the id or URL in the config"
            ))),
            Some(401) => ErrorAction::Fail(Error::config(format!(
                "Google rejected the credentials (401 UNAUTHENTICATED: {message})"
            ))),
            Some(429) => ErrorAction::Retry(None),
            _ => ErrorAction::Default,
        }
    }
}

fn client(cfg: &SheetsConfig) -> Result<Client> {
    let id = spreadsheet_id(&cfg.spreadsheet_id)?;
    let token_url = |fallback: Option<&str>| -> Result<url::Url> {
        let text = cfg
            .token_url
            .as_deref()
            .or(fallback)
            .unwrap_or(DEFAULT_TOKEN_URL);
        url::Url::parse(text).map_err(|e| Error::config(format!("token_url \"{text}\": {e}")))
    };
    let (auth, email) = match &cfg.credentials {
        Credentials::ServiceAccount {
            service_account_info,
        } => {
            let key = ServiceAccountKey::from_json(service_account_info.expose_secret())?;
            let email = key.client_email.clone();
            let uri = token_url(key.token_uri.as_deref())?;
            let account = GoogleServiceAccount::new(key, &[SCOPE])?.token_uri(uri);
            (Auth::google_service_account(account), Some(email))
        }
        Credentials::Oauth {
            client_id,
            client_secret,
            refresh_token,
        } => (
            Auth::oauth2(
                OAuth2::refresh_token(
                    token_url(None)?,
                    client_id.clone(),
                    client_secret.clone(),
                    refresh_token.clone(),
                )
                .refresh_token_pointer("/credentials/refresh_token"),
            ),
            None,
        ),
    };
    let per_minute = cfg.requests_per_minute.unwrap_or(60).max(1);
    let api = HttpApi::parse(cfg.base_url.as_deref().unwrap_or(DEFAULT_BASE_URL))
        .map_err(|e| Error::config(format!("base_url: {e}")))?
        .auth(auth)
        .rate_limit(RateLimit::new(Quota::per_minute(
            (per_minute.saturating_mul(9) / 10).max(1),
        )))
        .user_agent(concat!(
            "intake-source-google-sheets/",
            env!("CARGO_PKG_VERSION")
        ))
        .timeout(Some(std::time::Duration::from_secs(
            cfg.request_timeout_seconds.unwrap_or(60).max(1),
        )))
        .on_error(classify(id.clone(), email));
    Ok(Client {
        api,
        id,
        batch: cfg.batch_size.unwrap_or(DEFAULT_BATCH_SIZE).max(1),
        render: cfg.value_render.unwrap_or_default(),
        conversion: cfg.names_conversion.unwrap_or_default(),
    })
}

impl Client {
    fn render_option(&self) -> &'static str {
        match self.render {
            ValueRender::Formatted => "FORMATTED_VALUE",
            ValueRender::Unformatted => "UNFORMATTED_VALUE",
        }
    }

    /// `values:batchGet` of `ranges`: the values of each, in request order.
    async fn batch_get(
        &self,
        ranges: &[String],
        ctx: &StreamContext,
    ) -> Result<Vec<Vec<Vec<Value>>>> {
        let mut url = self
            .api
            .url(&format!("/v4/spreadsheets/{}/values:batchGet", self.id))?;
        {
            let mut q = url.query_pairs_mut();
            for r in ranges {
                q.append_pair("ranges", r);
            }
            q.append_pair("majorDimension", "ROWS");
            q.append_pair("valueRenderOption", self.render_option());
            q.append_pair("dateTimeRenderOption", "FORMATTED_STRING");
        }
        let body: Value = self
            .api
            .send_with(Request::new(Method::GET, url), None, ctx, |r| r.json())
            .await?;
        let value_ranges = body
            .get("valueRanges")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if value_ranges.len() != ranges.len() {
            return Err(Error::system(format!(
                "Google answered {} value ranges for {} requested",
                value_ranges.len(),
                ranges.len()
            )));
        }
        Ok(value_ranges
            .iter()
            .map(|vr| {
                vr.get("values")
                    .and_then(Value::as_array)
                    .map(|rows| {
                        rows.iter()
                            .map(|r| r.as_array().cloned().unwrap_or_default())
                            .collect()
                    })
                    .unwrap_or_default()
            })
            .collect())
    }

    /// The spreadsheet's tabs: `(title, sheet type, row count, hidden)`.
    async fn sheets(&self, ctx: &StreamContext) -> Result<Vec<(String, String, u64, bool)>> {
        let body = self
            .api
            .get_json(
                &format!(
                    "/v4/spreadsheets/{}?includeGridData=false&fields=sheets.properties",
                    self.id
                ),
                ctx,
            )
            .await?;
        Ok(body
            .get("sheets")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|s| {
                let p = s.get("properties")?;
                Some((
                    p.get("title")?.as_str()?.to_string(),
                    p.get("sheetType")
                        .and_then(Value::as_str)
                        .unwrap_or("GRID")
                        .to_string(),
                    p.pointer("/gridProperties/rowCount")
                        .and_then(Value::as_u64)
                        .unwrap_or(0),
                    p.get("hidden").and_then(Value::as_bool).unwrap_or(false),
                ))
            })
            .collect())
    }

    /// Every grid tab with a header row, with its columns and types.
    async fn tabs(&self, ctx: &StreamContext) -> Result<Vec<Tab>> {
        let sheets = self.sheets(ctx).await?;
        let grids: Vec<&(String, String, u64, bool)> = sheets
            .iter()
            .filter(|(title, kind, _, _)| {
                let grid = kind == "GRID";
                if !grid {
                    tracing::info!("sheet \"{title}\" is a {kind} sheet, not a grid: skipped");
                }
                grid
            })
            .collect();
        if grids.is_empty() {
            return Ok(Vec::new());
        }
        let headers: Vec<String> = grids
            .iter()
            .map(|(t, ..)| format!("{}!1:1", quote_title(t)))
            .collect();
        let header_rows = self.batch_get(&headers, ctx).await?;
        let mut tabs = Vec::new();
        for ((title, ..), values) in grids.iter().zip(header_rows) {
            let header = values.into_iter().next().unwrap_or_default();
            let (cols, warnings) = columns(&header, self.conversion);
            if cols.is_empty() {
                tracing::warn!("sheet \"{title}\" has no header row (row 1 is empty): left out");
                continue;
            }
            for w in warnings {
                tracing::warn!("sheet \"{title}\": {w}");
            }
            let last_column = column_letters(header.len().max(1) - 1);
            tabs.push(Tab {
                title: title.clone(),
                types: vec!["string"; cols.len()],
                columns: cols,
                last_column,
                header,
            });
        }
        if self.render == ValueRender::Unformatted && !tabs.is_empty() {
            // Type columns from a sample of rows: one request for every tab.
            let sample = self.batch.min(100);
            let ranges: Vec<String> = tabs
                .iter()
                .map(|t| {
                    format!(
                        "{}!A2:{}{}",
                        quote_title(&t.title),
                        t.last_column,
                        sample + 1
                    )
                })
                .collect();
            for (tab, rows) in tabs.iter_mut().zip(self.batch_get(&ranges, ctx).await?) {
                tab.types = tab
                    .columns
                    .iter()
                    .map(|c| {
                        let cells: Vec<&Value> =
                            rows.iter().filter_map(|r| r.get(c.index)).collect();
                        column_type(&cells)
                    })
                    .collect();
            }
        }
        Ok(tabs)
    }
}

/// The Google Sheets source. One value keeps one API client per config (its quota and token
/// are shared by every call made through it).
#[derive(Debug, Default, Clone)]
pub struct SheetsSource {
    client: Arc<std::sync::Mutex<Option<(String, Client)>>>,
}

impl SheetsSource {
    /// The source.
    pub fn new() -> Self {
        SheetsSource::default()
    }

    fn client(&self, config: &Value) -> Result<Client> {
        let cfg: SheetsConfig = parse_config(config)?;
        let key = config.to_string();
        let mut cached = self.client.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((k, c)) = cached.as_ref()
            && *k == key
        {
            return Ok(c.clone());
        }
        let c = client(&cfg)?;
        *cached = Some((key, c.clone()));
        Ok(c)
    }
}

struct SheetStream {
    client: Client,
    tab: Tab,
}

impl SheetStream {
    /// The tab's current row count (rows may have been added since discovery).
    async fn row_count(&self, ctx: &StreamContext) -> Result<u64> {
        let sheets = self.client.sheets(ctx).await?;
        sheets
            .into_iter()
            .find(|(t, ..)| *t == self.tab.title)
            .map(|(_, _, rows, _)| rows)
            .ok_or_else(|| {
                Error::config(format!(
                    "sheet \"{}\" is no longer in spreadsheet {}: discover again",
                    self.tab.title, self.client.id
                ))
            })
    }
}

#[async_trait]
impl Stream for SheetStream {
    fn name(&self) -> &str {
        &self.tab.title
    }

    async fn json_schema(&self) -> Result<Value> {
        let mut props = Map::new();
        props.insert(ROW.into(), json!({"type": "integer"}));
        for (c, kind) in self.tab.columns.iter().zip(&self.tab.types) {
            props.insert(c.name.clone(), json!({"type": ["null", kind]}));
        }
        Ok(
            json!({"$schema": "http://json-schema.org/draft-07/schema#", "type": "object",
                  "properties": props, "required": [ROW]}),
        )
    }

    fn primary_key(&self) -> Vec<Vec<String>> {
        vec![vec![ROW.into()]]
    }

    fn read(&self, request: ReadRequest) -> PageStream<'_> {
        let ctx = request.context.clone();
        let first = request
            .resume
            .as_ref()
            .and_then(|t| t.get("row"))
            .and_then(Value::as_u64)
            .unwrap_or(2)
            .max(2);
        futures::stream::try_unfold((first, None::<u64>), move |(start, rows)| {
            let ctx = ctx.clone();
            async move {
                let rows = match rows {
                    Some(r) => r,
                    None => self.row_count(&ctx).await?,
                };
                if start > rows {
                    return Ok(None);
                }
                let end = (start + u64::from(self.client.batch) - 1).min(rows);
                let range = format!(
                    "{}!A{start}:{}{end}",
                    quote_title(&self.tab.title),
                    self.tab.last_column
                );
                // Row 1 comes along (one more range in the same request): a column inserted,
                // moved or renamed mid-read would put values under the wrong names.
                let header = format!("{}!1:1", quote_title(&self.tab.title));
                let mut answer = self.client.batch_get(&[header, range], &ctx).await?;
                let values = answer.pop().unwrap_or_default();
                let now = answer.pop().and_then(|h| h.into_iter().next()).unwrap_or_default();
                if now != self.tab.header {
                    return Err(Error::transient(format!(
                        "the header row of sheet \"{}\" changed during the read (a column was inserted, moved or renamed): rows after row {} would land under the wrong names; the next sync reads the new layout",
                        self.tab.title,
                        start - 1
                    )));
                }
                let mut records = Vec::with_capacity(values.len());
                for (i, row) in values.iter().enumerate() {
                    if let Some(v) =
                        row_record(row, &self.tab.columns, &self.tab.types, start + i as u64)
                    {
                        records.push(Record::from_value(&v)?);
                    }
                }
                let next = end + 1;
                let page = if next <= rows {
                    Page::new(records).resume_from(json!({ "row": next }))
                } else {
                    Page::new(records)
                };
                Ok(Some((page, (next, Some(rows)))))
            }
        })
        .boxed()
    }
}

#[async_trait]
impl Source for SheetsSource {
    fn spec(&self) -> ConnectorSpec {
        ConnectorSpec::from_config::<SheetsConfig>().documentation_url(
            "https://github.com/intake-rs/intake/tree/main/connectors/source-google-sheets",
        )
    }

    /// Reads the spreadsheet's tab list.
    async fn check(&self, config: &Value) -> Result<()> {
        let client = self.client(config)?;
        client
            .sheets(&StreamContext::detached("check"))
            .await
            .map(|_| ())
    }

    async fn streams(&self, config: &Value) -> Result<Vec<Arc<dyn Stream>>> {
        let client = self.client(config)?;
        let ctx = StreamContext::detached("discover");
        let tabs = client.tabs(&ctx).await?;
        let _ = ctx
            .log(LogLevel::Debug, format!("{} tabs", tabs.len()))
            .await;
        Ok(tabs
            .into_iter()
            .map(|tab| {
                Arc::new(SheetStream {
                    client: client.clone(),
                    tab,
                }) as Arc<dyn Stream>
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_come_from_urls_or_stand_alone() {
        let id = "1BxiMVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE2upms";
        assert_eq!(spreadsheet_id(id).unwrap(), id);
        assert_eq!(
            spreadsheet_id(&format!(
                "https://docs.google.com/spreadsheets/d/{id}/edit#gid=0"
            ))
            .unwrap(),
            id
        );
        assert_eq!(
            spreadsheet_id(&format!("https://docs.google.com/spreadsheets/d/{id}")).unwrap(),
            id
        );
        for bad in ["", "https://example.com/x y", "a/b"] {
            assert!(spreadsheet_id(bad).unwrap_err().is_config());
        }
    }

    #[test]
    fn titles_are_quoted_and_columns_lettered() {
        assert_eq!(quote_title("Sheet1"), "'Sheet1'");
        assert_eq!(quote_title("Bob's 🌵 sheet"), "'Bob''s 🌵 sheet'");
        assert_eq!(column_letters(0), "A");
        assert_eq!(column_letters(25), "Z");
        assert_eq!(column_letters(26), "AA");
        assert_eq!(column_letters(701), "ZZ");
        assert_eq!(column_letters(702), "AAA");
    }

    #[test]
    fn headers_skip_empty_cells_and_rename_duplicates_by_cell() {
        let header = vec![
            json!("id"),
            json!("name"),
            json!(""),
            json!("name"),
            json!("Zip Code"),
        ];
        let (cols, warnings) = columns(&header, NamesConversion::Off);
        let names: Vec<(usize, &str)> = cols.iter().map(|c| (c.index, c.name.as_str())).collect();
        assert_eq!(
            names,
            vec![(0, "id"), (1, "name_B1"), (3, "name_D1"), (4, "Zip Code")]
        );
        assert_eq!(warnings.len(), 3, "{warnings:?}");
        assert!(warnings[0].contains("column C has no header"));
        let (cols, _) = columns(&header, NamesConversion::SnakeCase);
        assert_eq!(cols[3].name, "zip_code");
        assert_eq!(snake_case("  First Name (home) "), "first_name_home");
        assert_eq!(snake_case("Émile's №"), "émile_s");
    }

    #[test]
    fn rows_are_padded_blank_rows_skipped_and_types_kept() {
        let (cols, _) = columns(&[json!("a"), json!("b"), json!("c")], NamesConversion::Off);
        let types = ["string", "number", "boolean"];
        assert_eq!(
            row_record(&[json!("x")], &cols, &types, 7),
            Some(json!({"_row": 7, "a": "x", "b": null, "c": null}))
        );
        assert_eq!(row_record(&[], &cols, &types, 8), None);
        assert_eq!(row_record(&[json!(""), json!("")], &cols, &types, 9), None);
        assert_eq!(
            row_record(&[json!(12), json!(3.5), json!(true)], &cols, &types, 10),
            Some(json!({"_row": 10, "a": "12", "b": 3.5, "c": true}))
        );
        assert_eq!(column_type(&[&json!(1), &json!(""), &json!(2.5)]), "number");
        assert_eq!(column_type(&[&json!(true), &json!(false)]), "boolean");
        assert_eq!(column_type(&[&json!(1), &json!("x")]), "string");
        assert_eq!(column_type(&[]), "string");
    }
}
