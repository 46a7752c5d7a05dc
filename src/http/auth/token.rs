//! The OAuth2 token endpoint exchange (RFC 6749) shared by refresh tokens and JWT grants.

use reqwest::{Client, Url};
use secrecy::SecretString;
use serde::Deserialize;
use tokio::time::Instant;

use crate::error::{Error, Result};
use crate::http::error::{HttpError, HttpErrorKind, Redactor};
/// A token endpoint's answer (RFC 6749 §5.1).
#[derive(Deserialize)]
pub(crate) struct TokenResponse {
    pub(crate) access_token: SecretString,
    #[serde(default)]
    pub(crate) expires_in: Option<f64>,
    #[serde(default)]
    pub(crate) refresh_token: Option<SecretString>,
}

#[derive(Deserialize)]
struct TokenErrorBody {
    error: Option<String>,
    error_description: Option<String>,
}

/// A cached access token and when to renew it.
pub(crate) struct CachedToken {
    pub(crate) token: SecretString,
    pub(crate) renew_at: Option<Instant>,
}

impl CachedToken {
    pub(crate) fn fresh(&self) -> bool {
        self.renew_at.is_none_or(|at| Instant::now() < at)
    }
}

/// Posts a form to a token endpoint and reads the token. 400/401 answers are config errors
/// that name the OAuth error code (never the credentials).
pub(crate) async fn request_token(
    client: &Client,
    token_url: &Url,
    form: &[(&str, &str)],
    redactor: &Redactor,
    what: &str,
) -> Result<TokenResponse> {
    let body: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    let shown_url = redactor.url(token_url);
    let fail = |kind| HttpError::new("POST", shown_url.clone(), kind);
    let response = client
        .post(token_url.clone())
        .header("content-type", "application/x-www-form-urlencoded")
        .header("accept", "application/json")
        .body(body.clone())
        .send()
        .await
        .map_err(|e| {
            let kind = crate::http::error::transport_error_kind(&e);
            fail(kind)
                .into_error()
                .context(format!("requesting {what}"))
        })?;
    let status = response.status().as_u16();
    let response_headers = response.headers().clone();
    let text = response.text().await.map_err(|e| {
        fail(crate::http::error::transport_error_kind(&e))
            .into_error()
            .context(format!("reading {what}"))
    })?;
    // A cassette holds the token exchange too (the assertion, the secrets and the tokens
    // issued are redacted by the recorder), so a replay can authenticate.
    if crate::http::record::Exchange::recording() {
        let mut request_headers = reqwest::header::HeaderMap::new();
        request_headers.insert(
            reqwest::header::CONTENT_TYPE,
            reqwest::header::HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        crate::http::record::Exchange {
            method: "POST",
            url: token_url,
            request_headers: &request_headers,
            request_body: Some(body.as_bytes()),
            status,
            response_headers: &response_headers,
            response_body: text.as_bytes(),
        }
        .record();
    }
    if !(200..300).contains(&status) {
        let shown = redactor.text(&text);
        if status == 400 || status == 401 {
            let parsed = serde_json::from_str::<TokenErrorBody>(&text).ok();
            let code = parsed
                .as_ref()
                .and_then(|b| b.error.clone())
                .unwrap_or_default();
            let detail = parsed
                .map(|b| {
                    format!(
                        "{}{}",
                        b.error.unwrap_or_default(),
                        b.error_description
                            .map(|d| format!(": {}", redactor.text(&d)))
                            .unwrap_or_default()
                    )
                })
                .unwrap_or_else(|| format!("HTTP {status}"));
            let advice = match code.as_str() {
                "invalid_grant" if what.contains("refresh") => {
                    "the refresh token was revoked or has expired: authorize the app again for a new one"
                }
                "invalid_grant" => {
                    "the assertion was refused: check the key is current and the machine's clock is right"
                }
                "invalid_client" | "unauthorized_client" => {
                    "check the client id and client secret in the config"
                }
                _ => {
                    "check the client id, client secret and token in the config, or authorize again"
                }
            };
            return Err(Error::config(format!(
                "the token endpoint refused the {what} ({detail}); {advice}"
            ))
            .with_source(fail(HttpErrorKind::Status(status)).with_excerpt(&shown)));
        }
        return Err(fail(HttpErrorKind::Status(status))
            .with_excerpt(&shown)
            .into_error()
            .context(format!("requesting {what}")));
    }
    serde_json::from_str::<TokenResponse>(&text).map_err(|e| {
        fail(HttpErrorKind::Decode {
            detail: format!(
                "the token response has no access_token ({})",
                e.classify_name()
            ),
            truncated: e.is_eof(),
        })
        .into_error()
    })
}

trait ClassifyName {
    fn classify_name(&self) -> &'static str;
}

impl ClassifyName for serde_json::Error {
    fn classify_name(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Io => "read error",
            serde_json::error::Category::Syntax => "malformed JSON",
            serde_json::error::Category::Data => "wrong shape",
            serde_json::error::Category::Eof => "truncated",
        }
    }
}
