//! A local Google Sheets sandbox: Google's token endpoint and the Sheets v4 endpoints this
//! connector reads, answering in Google's shapes.
//!
//! - `POST /token` verifies a service account's JWT the way Google does: the RS256 signature
//!   against the account's public key, `kid`, `iss`, `scope`, `aud`, and `iat`/`exp` (at most
//!   an hour apart, not in the future); or a refresh-token grant. Refusals are `invalid_grant`.
//! - `GET /v4/spreadsheets/{id}` lists the tabs (grid, chart, hidden ones); `GET
//!   /v4/spreadsheets/{id}/values:batchGet` answers A1 ranges (quoted titles with spaces,
//!   apostrophes and emoji) like Google: trailing empty cells and rows dropped, interior blank
//!   rows as `[]`, ranges clamped to the grid, formatted or unformatted values.
//! - 60 read requests a minute by default (429 `RESOURCE_EXHAUSTED` past it), 403
//!   `PERMISSION_DENIED` while the spreadsheet is not shared, 404 for another id.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use intake::testing::MockApi;
use serde_json::{Value, json};
use wiremock::{Request, ResponseTemplate};

use crate::column_letters;

/// The sandbox spreadsheet's id.
pub const SPREADSHEET_ID: &str = "1SandboxSheetIdForIntakeTests0123456789abcd";
/// The service account's email.
pub const CLIENT_EMAIL: &str = "intake-reader@sandbox-project.iam.gserviceaccount.com";
/// The service account key's id.
pub const KEY_ID: &str = "sandbox-key-1";
/// The OAuth client the sandbox knows.
pub const CLIENT_ID: &str = "sandbox-client.apps.googleusercontent.com";
/// Its secret.
pub const CLIENT_SECRET: &str = "sandbox-client-secret";
/// The refresh token the sandbox accepts.
pub const REFRESH_TOKEN: &str = "sandbox-refresh-token";
/// The service account's private key (a test key generated for intake; never used elsewhere).
pub const PRIVATE_KEY: &str = include_str!("keys/test_rsa_private.pem");
const PUBLIC_KEY: &str = include_str!("keys/test_rsa_public.pem");

/// One tab.
#[derive(Debug, Clone)]
pub struct TabSpec {
    /// The title.
    pub title: String,
    /// `GRID`, or `OBJECT` for a chart.
    pub sheet_type: String,
    /// Hidden from the spreadsheet's users (still readable).
    pub hidden: bool,
    /// The grid's row count (at least the rows given).
    pub row_count: usize,
    /// The cells, row 1 (the header) first.
    pub rows: Vec<Vec<Value>>,
}

impl TabSpec {
    /// A grid tab whose grid has `extra` empty rows below the cells.
    pub fn grid(title: &str, rows: Vec<Vec<Value>>, extra: usize) -> Self {
        TabSpec {
            title: title.into(),
            sheet_type: "GRID".into(),
            hidden: false,
            row_count: rows.len() + extra,
            rows,
        }
    }
}

/// The default spreadsheet: an orders tab of `orders` rows (with a blank stretch in the
/// middle), a roster with an empty and duplicate headers and ragged rows, a tab whose title
/// needs quoting, a chart, an empty tab and a hidden tab.
pub fn spreadsheet(orders: usize) -> Vec<TabSpec> {
    let mut order_rows = vec![vec![
        json!("order_id"),
        json!("customer"),
        json!("amount"),
        json!("paid"),
        json!("ordered_on"),
        json!("notes"),
    ]];
    for i in 0..orders {
        if (i / 50) % 4 == 3 && i % 50 < 5 {
            // Five blank rows every 200: a gap the reader must step over.
            order_rows.push(Vec::new());
            continue;
        }
        let mut row = vec![
            json!(10_000 + i),
            json!(format!("Customer {}", i % 37)),
            json!((i as f64) * 12.5 + 0.25),
            json!(i % 3 != 0),
            json!(format!("2024-{:02}-{:02}", 1 + i % 12, 1 + i % 28)),
        ];
        if i % 7 == 0 {
            row.push(json!(format!("gift wrap, note {i}")));
        }
        order_rows.push(row);
    }
    let mut roster = vec![vec![
        json!("name"),
        json!(""),
        json!("email"),
        json!("name"),
        json!("Start Date"),
    ]];
    for i in 0..30 {
        let mut row = vec![
            json!(format!("Person {i}")),
            json!("ignored"),
            json!(format!("p{i}@example.com")),
            json!(format!("Nick {i}")),
            json!(format!("2023-0{}-01", 1 + i % 9)),
        ];
        // Ragged: the API drops trailing empty cells.
        row.truncate(5 - i % 3);
        roster.push(row);
    }
    let mut quoted = vec![vec![json!("item"), json!("qty")]];
    for i in 0..25 {
        quoted.push(if i % 6 == 5 {
            vec![json!(""), json!("")]
        } else {
            vec![json!(format!("thing {i}")), json!(i)]
        });
    }
    let mut archive = vec![vec![json!("id"), json!("value")]];
    for i in 0..10 {
        archive.push(vec![json!(i), json!(format!("old {i}"))]);
    }
    vec![
        TabSpec::grid("Orders", order_rows, 399),
        TabSpec::grid("Team roster", roster, 10),
        TabSpec::grid("Bob's 🌵 sheet", quoted, 0),
        TabSpec {
            title: "Chart 1".into(),
            sheet_type: "OBJECT".into(),
            hidden: false,
            row_count: 0,
            rows: Vec::new(),
        },
        TabSpec::grid("Empty tab", Vec::new(), 1000),
        TabSpec {
            hidden: true,
            ..TabSpec::grid("Archive", archive, 5)
        },
    ]
}

#[derive(Debug, Default)]
struct Book {
    tabs: Vec<TabSpec>,
    tokens: Vec<String>,
    token_requests: u64,
    refused_assertions: Vec<String>,
    shared: bool,
}

/// The sandbox.
pub struct Sandbox {
    api: MockApi,
    book: Arc<Mutex<Book>>,
}

fn lock(b: &Mutex<Book>) -> std::sync::MutexGuard<'_, Book> {
    b.lock().unwrap_or_else(|e| e.into_inner())
}

fn google_error(code: u16, status: &str, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(code)
        .set_body_json(json!({"error": {"code": code, "message": message, "status": status}}))
}

/// A parsed A1 range: the title and the 1-based inclusive row and 0-based column bounds.
#[derive(Debug, PartialEq)]
struct A1 {
    title: String,
    rows: (usize, Option<usize>),
    cols: (usize, Option<usize>),
}

fn parse_cell(text: &str) -> (Option<usize>, Option<usize>) {
    let letters: String = text
        .chars()
        .take_while(|c| c.is_ascii_alphabetic())
        .collect();
    let digits = &text[letters.len()..];
    let col = (!letters.is_empty()).then(|| {
        letters
            .to_ascii_uppercase()
            .bytes()
            .fold(0usize, |acc, b| acc * 26 + (b - b'A' + 1) as usize)
            - 1
    });
    (col, digits.parse().ok())
}

fn parse_a1(range: &str) -> Option<A1> {
    let (title, rest) = if let Some(stripped) = range.strip_prefix('\'') {
        let mut title = String::new();
        let mut chars = stripped.char_indices().peekable();
        let mut end = None;
        while let Some((i, c)) = chars.next() {
            if c == '\'' {
                if chars.peek().map(|(_, n)| *n) == Some('\'') {
                    title.push('\'');
                    chars.next();
                } else {
                    end = Some(i + 1);
                    break;
                }
            } else {
                title.push(c);
            }
        }
        (title, &stripped[end?..])
    } else {
        match range.split_once('!') {
            Some((t, r)) => (t.to_string(), &range[t.len()..][..r.len() + 1]),
            None => (range.to_string(), ""),
        }
    };
    let cells = rest.strip_prefix('!').unwrap_or(rest);
    if cells.is_empty() {
        return Some(A1 {
            title,
            rows: (1, None),
            cols: (0, None),
        });
    }
    let (a, b) = cells.split_once(':').unwrap_or((cells, cells));
    let (c1, r1) = parse_cell(a);
    let (c2, r2) = parse_cell(b);
    Some(A1 {
        title,
        rows: (r1.unwrap_or(1), r2),
        cols: (c1.unwrap_or(0), c2),
    })
}

fn formatted(v: &Value) -> Value {
    match v {
        Value::Bool(b) => json!(if *b { "TRUE" } else { "FALSE" }),
        Value::Number(n) => json!(n.to_string()),
        Value::Null => json!(""),
        other => other.clone(),
    }
}

impl Sandbox {
    /// Serves `tabs` as spreadsheet [`SPREADSHEET_ID`], allowing `per_minute` read requests
    /// a minute.
    pub async fn start(tabs: Vec<TabSpec>, per_minute: usize) -> Sandbox {
        let api = MockApi::start().await;
        api.rate_limit(per_minute.max(1), Duration::from_secs(60));
        let sandbox = Sandbox {
            api,
            book: Arc::new(Mutex::new(Book {
                tabs,
                shared: true,
                ..Book::default()
            })),
        };
        sandbox.mount().await;
        sandbox
    }

    /// The mock underneath.
    pub fn api(&self) -> &MockApi {
        &self.api
    }

    /// The service account's key file, as Google Cloud downloads it.
    pub fn service_account_key(&self) -> Value {
        json!({
            "type": "service_account", "project_id": "sandbox-project",
            "private_key_id": KEY_ID, "private_key": PRIVATE_KEY,
            "client_email": CLIENT_EMAIL, "client_id": "100000000000000000001",
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": format!("{}/token", self.api.uri()),
        })
    }

    /// A config with the service account.
    pub fn config(&self) -> Value {
        json!({
            "spreadsheet_id": format!("https://docs.google.com/spreadsheets/d/{SPREADSHEET_ID}/edit#gid=0"),
            "credentials": {"auth_type": "service_account",
                            "service_account_info": self.service_account_key().to_string()},
            "base_url": self.api.uri(),
        })
    }

    /// A config with the OAuth client.
    pub fn oauth_config(&self) -> Value {
        json!({
            "spreadsheet_id": SPREADSHEET_ID,
            "credentials": {"auth_type": "oauth", "client_id": CLIENT_ID,
                            "client_secret": CLIENT_SECRET, "refresh_token": REFRESH_TOKEN},
            "base_url": self.api.uri(),
            "token_url": format!("{}/token", self.api.uri()),
        })
    }

    /// Shares the spreadsheet with the account, or stops sharing it (403 from then on).
    pub fn share(&self, shared: bool) {
        lock(&self.book).shared = shared;
    }

    /// Token requests answered, and why each refused assertion was refused.
    pub fn token_requests(&self) -> (u64, Vec<String>) {
        let b = lock(&self.book);
        (b.token_requests, b.refused_assertions.clone())
    }

    /// Appends rows to a tab (growing its grid as needed).
    pub fn append(&self, title: &str, rows: Vec<Vec<Value>>) {
        let mut b = lock(&self.book);
        if let Some(t) = b.tabs.iter_mut().find(|t| t.title == title) {
            t.rows.extend(rows);
            t.row_count = t.row_count.max(t.rows.len());
        }
    }

    /// Changes a tab's cells (row 0 is the header row), as someone editing the sheet would.
    pub fn edit(&self, title: &str, f: impl FnOnce(&mut Vec<Vec<Value>>)) {
        let mut b = lock(&self.book);
        if let Some(t) = b.tabs.iter_mut().find(|t| t.title == title) {
            f(&mut t.rows);
            t.row_count = t.row_count.max(t.rows.len());
        }
    }

    async fn mount(&self) {
        let book = self.book.clone();
        let audience = format!("{}/token", self.api.uri());
        self.api
            .handle("POST", r"^/token$", move |req| {
                let form: HashMap<String, String> =
                    url::form_urlencoded::parse(&req.body).into_owned().collect();
                let mut b = lock(&book);
                b.token_requests += 1;
                let refused = match form.get("grant_type").map(String::as_str) {
                    Some("urn:ietf:params:oauth:grant-type:jwt-bearer") => {
                        verify(form.get("assertion").map(String::as_str).unwrap_or_default(), &audience)
                            .err()
                    }
                    Some("refresh_token") => {
                        if form.get("client_id").map(String::as_str) != Some(CLIENT_ID)
                            || form.get("client_secret").map(String::as_str) != Some(CLIENT_SECRET)
                        {
                            return ResponseTemplate::new(401).set_body_json(
                                json!({"error": "invalid_client", "error_description": "Unauthorized"}),
                            );
                        }
                        (form.get("refresh_token").map(String::as_str) != Some(REFRESH_TOKEN))
                            .then(|| "Token has been expired or revoked.".to_string())
                    }
                    _ => Some("unsupported grant type".to_string()),
                };
                if let Some(reason) = refused {
                    b.refused_assertions.push(reason.clone());
                    return ResponseTemplate::new(400).set_body_json(
                        json!({"error": "invalid_grant", "error_description": reason}),
                    );
                }
                let token = format!("ya29.sandbox-{}", b.token_requests);
                b.tokens.push(token.clone());
                ResponseTemplate::new(200).set_body_json(
                    json!({"access_token": token, "expires_in": 3599, "token_type": "Bearer"}),
                )
            })
            .await;

        let book = self.book.clone();
        self.api
            .handle("GET", r"^/v4/spreadsheets/[^/]+$", move |req| {
                let b = lock(&book);
                if let Some(refusal) = refuse(&b, req) {
                    return refusal;
                }
                let sheets: Vec<Value> = b
                    .tabs
                    .iter()
                    .enumerate()
                    .map(|(i, t)| {
                        let mut p = json!({"sheetId": i * 1_000_003, "title": t.title, "index": i,
                                           "sheetType": t.sheet_type});
                        if t.sheet_type == "GRID" {
                            let cols = t.rows.iter().map(Vec::len).max().unwrap_or(0).max(26);
                            p["gridProperties"] =
                                json!({"rowCount": t.row_count, "columnCount": cols});
                        }
                        if t.hidden {
                            p["hidden"] = json!(true);
                        }
                        json!({"properties": p})
                    })
                    .collect();
                ResponseTemplate::new(200).set_body_json(json!({"sheets": sheets}))
            })
            .await;

        let book = self.book.clone();
        self.api
            .handle("GET", r"^/v4/spreadsheets/[^/]+/values:batchGet$", move |req| {
                let b = lock(&book);
                if let Some(refusal) = refuse(&b, req) {
                    return refusal;
                }
                let q: Vec<(String, String)> = req.url.query_pairs().into_owned().collect();
                let unformatted = q
                    .iter()
                    .any(|(k, v)| k == "valueRenderOption" && v == "UNFORMATTED_VALUE");
                let mut out = Vec::new();
                for (_, range) in q.iter().filter(|(k, _)| k == "ranges") {
                    let Some(a1) = parse_a1(range) else {
                        return google_error(400, "INVALID_ARGUMENT", &format!("Unable to parse range: {range}"));
                    };
                    let Some(tab) = b
                        .tabs
                        .iter()
                        .find(|t| t.title == a1.title && t.sheet_type == "GRID")
                    else {
                        return google_error(400, "INVALID_ARGUMENT", &format!("Unable to parse range: {range}"));
                    };
                    let last_row = a1.rows.1.unwrap_or(tab.row_count).min(tab.row_count);
                    let mut values: Vec<Value> = Vec::new();
                    for r in a1.rows.0..=last_row {
                        let cells = tab.rows.get(r - 1).cloned().unwrap_or_default();
                        let end = a1.cols.1.map_or(cells.len(), |c| (c + 1).min(cells.len()));
                        let mut row: Vec<Value> = cells
                            .get(a1.cols.0.min(end)..end)
                            .unwrap_or_default()
                            .iter()
                            .map(|v| if unformatted { v.clone() } else { formatted(v) })
                            .collect();
                        while row.last().is_some_and(|v| v.is_null() || v == &json!("")) {
                            row.pop();
                        }
                        values.push(json!(row));
                    }
                    while values.last().is_some_and(|v| v.as_array().is_some_and(Vec::is_empty)) {
                        values.pop();
                    }
                    let last_col = a1.cols.1.map_or_else(|| "Z".to_string(), column_letters);
                    let mut vr = json!({
                        "range": format!("{}!{}{}:{}{}", crate::quote_title(&tab.title),
                                         column_letters(a1.cols.0), a1.rows.0, last_col, last_row.max(a1.rows.0)),
                        "majorDimension": "ROWS"
                    });
                    if !values.is_empty() {
                        vr["values"] = json!(values);
                    }
                    out.push(vr);
                }
                ResponseTemplate::new(200)
                    .set_body_json(json!({"spreadsheetId": SPREADSHEET_ID, "valueRanges": out}))
            })
            .await;
    }
}

/// Checks a service account's assertion as Google does; `Err` says why it is refused.
fn verify(assertion: &str, audience: &str) -> Result<(), String> {
    use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
    let header = decode_header(assertion).map_err(|e| format!("Invalid JWT: {e}"))?;
    if header.alg != Algorithm::RS256 {
        return Err(format!("Invalid JWT: algorithm {:?}", header.alg));
    }
    if header.kid.as_deref() != Some(KEY_ID) {
        return Err("Invalid JWT Signature: unknown key id".into());
    }
    let key = DecodingKey::from_rsa_pem(PUBLIC_KEY.as_bytes()).map_err(|e| e.to_string())?;
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&[audience]);
    validation.set_issuer(&[CLIENT_EMAIL]);
    validation.set_required_spec_claims(&["exp", "iat", "iss", "aud"]);
    let claims = decode::<Value>(assertion, &key, &validation)
        .map_err(|e| format!("Invalid JWT Signature or claims: {e}"))?
        .claims;
    let scope = claims["scope"].as_str().unwrap_or_default();
    if !scope.split(' ').any(|s| s == crate::SCOPE) {
        return Err(format!("Invalid scope: {scope}"));
    }
    let (iat, exp) = (
        claims["iat"].as_i64().unwrap_or(0),
        claims["exp"].as_i64().unwrap_or(0),
    );
    let now = chrono::Utc::now().timestamp();
    if iat > now + 300 {
        return Err("Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.".into());
    }
    if exp - iat > 3600 || exp <= iat {
        return Err("Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.".into());
    }
    Ok(())
}

fn refuse(b: &Book, req: &Request) -> Option<ResponseTemplate> {
    let token = req
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    if !b.tokens.iter().any(|t| t == token) {
        return Some(google_error(
            401,
            "UNAUTHENTICATED",
            "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.",
        ));
    }
    let id = req.url.path().split('/').nth(3).unwrap_or_default();
    if id != SPREADSHEET_ID {
        return Some(google_error(
            404,
            "NOT_FOUND",
            "Requested entity was not found.",
        ));
    }
    if !b.shared {
        return Some(google_error(
            403,
            "PERMISSION_DENIED",
            "The caller does not have permission",
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a1_ranges_parse_with_quoted_titles() {
        assert_eq!(
            parse_a1("'Bob''s 🌵 sheet'!A2:F101"),
            Some(A1 {
                title: "Bob's 🌵 sheet".into(),
                rows: (2, Some(101)),
                cols: (0, Some(5))
            })
        );
        assert_eq!(
            parse_a1("'Team roster'!1:1"),
            Some(A1 {
                title: "Team roster".into(),
                rows: (1, Some(1)),
                cols: (0, None)
            })
        );
        assert_eq!(
            parse_a1("Orders!B3:AA9"),
            Some(A1 {
                title: "Orders".into(),
                rows: (3, Some(9)),
                cols: (1, Some(26))
            })
        );
        assert_eq!(parse_a1("Orders").unwrap().rows, (1, None));
    }
}
