//! The API client: credentials (API key, OAuth, service account), the quota, Google's error
//! bodies, and the spreadsheet reads every stream shares.

use intake::http::reqwest::{Method, Request};
use intake::http::{
    Auth, ErrorAction, GoogleServiceAccount, HttpApi, HttpError, OAuth2, Quota, RateLimit,
    ServiceAccountKey,
};
use intake::source::StreamContext;
use intake::{Error, Result};
use secrecy::ExposeSecret;
use serde_json::Value;

use crate::config::{
    Credentials, DEFAULT_BASE_URL, DEFAULT_BATCH_SIZE, DEFAULT_TOKEN_URL, NamesConversion, SCOPE,
    SheetsConfig, ValueRender, spreadsheet_id,
};
use crate::rows::{Column, column_letters, column_type, columns, quote_title};
/// What discovery learned about one tab.
#[derive(Debug, Clone)]
pub(crate) struct Tab {
    pub(crate) title: String,
    pub(crate) columns: Vec<Column>,
    pub(crate) types: Vec<&'static str>,
    /// Letters of the last column read (the header's width).
    pub(crate) last_column: String,
    /// Row 1 as read when the stream was built: every batch checks it still reads so.
    pub(crate) header: Vec<Value>,
}

#[derive(Debug, Clone)]
pub(crate) struct Client {
    pub(crate) api: HttpApi,
    pub(crate) id: String,
    pub(crate) batch: u32,
    pub(crate) render: ValueRender,
    pub(crate) conversion: NamesConversion,
}

/// Reads Google's error bodies: which spreadsheet is missing, who to share it with.
pub(crate) fn classify(
    id: String,
    email: Option<String>,
) -> impl Fn(&HttpError) -> ErrorAction + Send + Sync {
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

pub(crate) fn client(cfg: &SheetsConfig) -> Result<Client> {
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
    pub(crate) fn render_option(&self) -> &'static str {
        match self.render {
            ValueRender::Formatted => "FORMATTED_VALUE",
            ValueRender::Unformatted => "UNFORMATTED_VALUE",
        }
    }

    /// `values:batchGet` of `ranges`: the values of each, in request order.
    pub(crate) async fn batch_get(
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
    pub(crate) async fn sheets(
        &self,
        ctx: &StreamContext,
    ) -> Result<Vec<(String, String, u64, bool)>> {
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
    pub(crate) async fn tabs(&self, ctx: &StreamContext) -> Result<Vec<Tab>> {
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
