//! The HTTP routes: A1 ranges, value rendering, the three kinds of credentials, sharing.

use std::collections::HashMap;

use serde_json::{Value, json};
use wiremock::{Request, ResponseTemplate};

use super::data::Book;
use super::{
    CLIENT_EMAIL, CLIENT_ID, CLIENT_SECRET, KEY_ID, PUBLIC_KEY, REFRESH_TOKEN, SPREADSHEET_ID,
    Sandbox, lock,
};
use crate::column_letters;
pub(super) fn google_error(code: u16, status: &str, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(code)
        .set_body_json(json!({"error": {"code": code, "message": message, "status": status}}))
}

/// A parsed A1 range: the title and the 1-based inclusive row and 0-based column bounds.
#[derive(Debug, PartialEq)]
pub(super) struct A1 {
    title: String,
    rows: (usize, Option<usize>),
    cols: (usize, Option<usize>),
}

pub(super) fn parse_cell(text: &str) -> (Option<usize>, Option<usize>) {
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

pub(super) fn parse_a1(range: &str) -> Option<A1> {
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

pub(super) fn formatted(v: &Value) -> Value {
    match v {
        Value::Bool(b) => json!(if *b { "TRUE" } else { "FALSE" }),
        Value::Number(n) => json!(n.to_string()),
        Value::Null => json!(""),
        other => other.clone(),
    }
}

impl Sandbox {
    /// Mounts every route.
    pub(super) async fn mount(&self) {
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
pub(super) fn verify(assertion: &str, audience: &str) -> Result<(), String> {
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

pub(super) fn refuse(b: &Book, req: &Request) -> Option<ResponseTemplate> {
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
