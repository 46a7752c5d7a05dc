//! Authentication: API keys, bearer and basic credentials, OAuth2 refresh tokens and (feature
//! `jwt`) Google service accounts. Every secret is a [`SecretString`]; none reaches a log,
//! an error or a `Debug` output.

use std::fmt;
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use async_trait::async_trait;
use reqwest::header::{AUTHORIZATION, HeaderName, HeaderValue};
use reqwest::{Client, Request, Url};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::error::{HttpError, HttpErrorKind, Redactor};
use crate::error::{Error, Result};
use crate::spec::ConfigUpdate;

/// Puts credentials on requests. Implement it for a scheme intake lacks; wrap it with
/// [`Auth::custom`].
#[async_trait]
pub trait Authenticator: Send + Sync {
    /// Adds credentials to a request about to be sent.
    async fn authorize(&self, client: &Client, request: &mut Request) -> Result<()>;

    /// Called when the server answered 401 to a request authorized with this authenticator.
    /// Return `true` after renewing the credentials so the request is tried once more.
    /// Default `false`: a 401 is final.
    async fn unauthorized(&self, _client: &Client) -> Result<bool> {
        Ok(false)
    }

    /// A config change to persist (a rotated refresh token), taken once.
    fn take_config_update(&self) -> Option<ConfigUpdate> {
        None
    }

    /// Secret values this authenticator holds, so they can be hidden from error messages.
    fn secrets(&self) -> Vec<SecretString> {
        Vec::new()
    }

    /// Query parameters that carry secrets, to hide from URLs in errors and logs.
    fn secret_params(&self) -> Vec<String> {
        Vec::new()
    }
}

/// How an API authenticates. Cheap to clone: clones share cached tokens.
#[derive(Clone)]
pub struct Auth(Arc<dyn Authenticator>);

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Auth(***)")
    }
}

impl Default for Auth {
    fn default() -> Self {
        Auth::none()
    }
}

impl Auth {
    /// No credentials.
    pub fn none() -> Self {
        Auth(Arc::new(NoAuth))
    }

    /// An API key in a header (`X-API-Key: <key>`).
    pub fn api_key_header(header: &str, key: SecretString) -> Self {
        Auth(Arc::new(HeaderAuth {
            name: header.to_ascii_lowercase(),
            prefix: String::new(),
            secret: key,
        }))
    }

    /// An API key in a query parameter (`?api_key=<key>`); the parameter is hidden in errors.
    pub fn api_key_query(param: &str, key: SecretString) -> Self {
        Auth(Arc::new(QueryAuth {
            param: param.to_string(),
            key,
        }))
    }

    /// `Authorization: Bearer <token>`.
    pub fn bearer(token: SecretString) -> Self {
        Auth(Arc::new(HeaderAuth {
            name: AUTHORIZATION.as_str().to_string(),
            prefix: "Bearer ".into(),
            secret: token,
        }))
    }

    /// `Authorization: Basic base64(user:password)`.
    pub fn basic(user: &str, password: SecretString) -> Self {
        let encoded = base64(format!("{user}:{}", password.expose_secret()).as_bytes());
        Auth(Arc::new(BasicAuth {
            header: SecretString::from(format!("Basic {encoded}")),
            password,
            encoded: SecretString::from(encoded),
        }))
    }

    /// An OAuth2 refresh-token grant (see [`OAuth2`]).
    pub fn oauth2(oauth: OAuth2) -> Self {
        Auth(Arc::new(oauth))
    }

    /// A Google service account (RS256 JWT bearer grant).
    #[cfg(feature = "jwt")]
    pub fn google_service_account(account: super::jwt::GoogleServiceAccount) -> Self {
        Auth(Arc::new(account))
    }

    /// Any [`Authenticator`].
    pub fn custom(auth: impl Authenticator + 'static) -> Self {
        Auth(Arc::new(auth))
    }

    pub(crate) fn inner(&self) -> &dyn Authenticator {
        &*self.0
    }

    pub(crate) fn redactor(&self) -> Redactor {
        Redactor::new(self.0.secret_params(), self.0.secrets())
    }
}

struct NoAuth;

#[async_trait]
impl Authenticator for NoAuth {
    async fn authorize(&self, _: &Client, _: &mut Request) -> Result<()> {
        Ok(())
    }
}

struct HeaderAuth {
    name: String,
    prefix: String,
    secret: SecretString,
}

fn secret_header(text: &str) -> Result<HeaderValue> {
    let mut value = HeaderValue::from_str(text).map_err(|_| {
        Error::config("a credential contains characters that cannot go in an HTTP header")
    })?;
    value.set_sensitive(true);
    Ok(value)
}

#[async_trait]
impl Authenticator for HeaderAuth {
    async fn authorize(&self, _: &Client, request: &mut Request) -> Result<()> {
        let name = HeaderName::from_bytes(self.name.as_bytes())
            .map_err(|_| Error::config(format!("\"{}\" is not a valid header name", self.name)))?;
        let value = secret_header(&format!("{}{}", self.prefix, self.secret.expose_secret()))?;
        request.headers_mut().insert(name, value);
        Ok(())
    }
    fn secrets(&self) -> Vec<SecretString> {
        vec![self.secret.clone()]
    }
}

struct QueryAuth {
    param: String,
    key: SecretString,
}

#[async_trait]
impl Authenticator for QueryAuth {
    async fn authorize(&self, _: &Client, request: &mut Request) -> Result<()> {
        request
            .url_mut()
            .query_pairs_mut()
            .append_pair(&self.param, self.key.expose_secret());
        Ok(())
    }
    fn secrets(&self) -> Vec<SecretString> {
        vec![self.key.clone()]
    }
    fn secret_params(&self) -> Vec<String> {
        vec![self.param.clone()]
    }
}

struct BasicAuth {
    header: SecretString,
    password: SecretString,
    encoded: SecretString,
}

#[async_trait]
impl Authenticator for BasicAuth {
    async fn authorize(&self, _: &Client, request: &mut Request) -> Result<()> {
        request
            .headers_mut()
            .insert(AUTHORIZATION, secret_header(self.header.expose_secret())?);
        Ok(())
    }
    fn secrets(&self) -> Vec<SecretString> {
        vec![self.password.clone(), self.encoded.clone()]
    }
}

/// Standard base64 (RFC 4648) with padding.
pub(crate) fn base64(input: &[u8]) -> String {
    base64_with(
        input,
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
        true,
    )
}

pub(crate) fn base64_with(input: &[u8], alphabet: &[u8; 64], pad: bool) -> String {
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(alphabet[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else if pad {
                out.push('=');
            }
        }
    }
    out
}

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
        .body(body)
        .send()
        .await
        .map_err(|e| {
            let kind = super::client::transport_error_kind(&e);
            fail(kind)
                .into_error()
                .context(format!("requesting {what}"))
        })?;
    let status = response.status().as_u16();
    let text = response.text().await.map_err(|e| {
        fail(super::client::transport_error_kind(&e))
            .into_error()
            .context(format!("reading {what}"))
    })?;
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

/// The OAuth2 refresh-token grant: exchanges a long-lived refresh token for short-lived
/// access tokens, renewing ahead of expiry and once when the API answers 401.
///
/// When the token endpoint rotates the refresh token, the new one is surfaced as a
/// [`ConfigUpdate`] at [`OAuth2::refresh_token_pointer`]: the protocol runner prints it as a
/// `CONTROL` message, an embedded sync returns it in [`crate::SyncReport::updated_config`].
///
/// # Example
/// ```
/// use intake::http::{Auth, OAuth2};
/// use secrecy::SecretString;
/// let auth = Auth::oauth2(
///     OAuth2::refresh_token(
///         "https://api.hubapi.com/oauth/v1/token".parse()?,
///         "client-id",
///         SecretString::from("client-secret"),
///         SecretString::from("refresh-token"),
///     )
///     .refresh_token_pointer("/credentials/refresh_token"),
/// );
/// # let _ = auth;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct OAuth2 {
    token_url: Url,
    client_id: String,
    client_secret: SecretString,
    refresh_token: StdMutex<SecretString>,
    scopes: Vec<String>,
    refresh_ahead: Duration,
    pointer: String,
    cached: Mutex<Option<CachedToken>>,
    rotated: StdMutex<Option<SecretString>>,
}

impl OAuth2 {
    /// A refresh-token grant against `token_url`.
    pub fn refresh_token(
        token_url: Url,
        client_id: impl Into<String>,
        client_secret: SecretString,
        refresh_token: SecretString,
    ) -> Self {
        OAuth2 {
            token_url,
            client_id: client_id.into(),
            client_secret,
            refresh_token: StdMutex::new(refresh_token),
            scopes: Vec::new(),
            refresh_ahead: Duration::from_secs(60),
            pointer: "/refresh_token".into(),
            cached: Mutex::new(None),
            rotated: StdMutex::new(None),
        }
    }

    /// Scopes to request (sent space-separated as `scope`). Default none (the grant's own).
    pub fn scopes(mut self, scopes: &[&str]) -> Self {
        self.scopes = scopes.iter().map(|s| s.to_string()).collect();
        self
    }

    /// Renew this long before the access token expires. Default 60 s.
    pub fn refresh_ahead(mut self, d: Duration) -> Self {
        self.refresh_ahead = d;
        self
    }

    /// Where the refresh token lives in the connector's config (a JSON pointer), so a rotated
    /// one can be written back. Default `/refresh_token`.
    pub fn refresh_token_pointer(mut self, pointer: impl Into<String>) -> Self {
        self.pointer = pointer.into();
        self
    }

    /// Starts with an access token already in hand (from the config), valid for `expires_in`.
    pub fn access_token(self, token: SecretString, expires_in: Duration) -> Self {
        let renew_at = Instant::now() + expires_in.saturating_sub(self.refresh_ahead);
        if let Ok(mut cached) = self.cached.try_lock() {
            *cached = Some(CachedToken {
                token,
                renew_at: Some(renew_at),
            });
        }
        self
    }

    fn redactor(&self) -> Redactor {
        Redactor::new(Vec::new(), self.secrets())
    }

    async fn token(&self, client: &Client) -> Result<SecretString> {
        let mut cached = self.cached.lock().await;
        if let Some(c) = cached.as_ref()
            && c.fresh()
        {
            return Ok(c.token.clone());
        }
        let refresh = self
            .refresh_token
            .lock()
            .map_err(|_| Error::system("the OAuth token lock was poisoned"))?
            .clone();
        let scope = self.scopes.join(" ");
        let mut form = vec![
            ("grant_type", "refresh_token"),
            ("client_id", self.client_id.as_str()),
            ("client_secret", self.client_secret.expose_secret()),
            ("refresh_token", refresh.expose_secret()),
        ];
        if !scope.is_empty() {
            form.push(("scope", scope.as_str()));
        }
        let answer = request_token(
            client,
            &self.token_url,
            &form,
            &self.redactor(),
            "OAuth refresh token",
        )
        .await?;
        if let Some(new) = answer.refresh_token
            && new.expose_secret() != refresh.expose_secret()
        {
            tracing::info!("the OAuth token endpoint rotated the refresh token");
            if let Ok(mut r) = self.refresh_token.lock() {
                *r = new.clone();
            }
            if let Ok(mut r) = self.rotated.lock() {
                *r = Some(new);
            }
        }
        let renew_at = answer
            .expires_in
            .filter(|s| s.is_finite() && *s > 0.0)
            .map(|s| {
                // Bounded: a server's absurd lifetime would overflow the clock.
                let s = s.min(86_400.0);
                Instant::now() + Duration::from_secs_f64(s).saturating_sub(self.refresh_ahead)
            });
        let token = answer.access_token.clone();
        *cached = Some(CachedToken {
            token: answer.access_token,
            renew_at,
        });
        Ok(token)
    }
}

impl fmt::Debug for OAuth2 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuth2")
            .field("token_url", &self.token_url.as_str())
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl Authenticator for OAuth2 {
    async fn authorize(&self, client: &Client, request: &mut Request) -> Result<()> {
        let token = self.token(client).await?;
        request.headers_mut().insert(
            AUTHORIZATION,
            secret_header(&format!("Bearer {}", token.expose_secret()))?,
        );
        Ok(())
    }

    async fn unauthorized(&self, _: &Client) -> Result<bool> {
        // Drop the cached token; the retry's `authorize` fetches a new one.
        *self.cached.lock().await = None;
        Ok(true)
    }

    fn take_config_update(&self) -> Option<ConfigUpdate> {
        let token = self.rotated.lock().ok()?.take()?;
        Some(ConfigUpdate::new(self.pointer.clone(), token))
    }

    fn secrets(&self) -> Vec<SecretString> {
        let mut out = vec![self.client_secret.clone()];
        if let Ok(r) = self.refresh_token.lock() {
            out.push(r.clone());
        }
        if let Ok(Some(c)) = self
            .cached
            .try_lock()
            .map(|c| c.as_ref().map(|c| c.token.clone()))
        {
            out.push(c);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (input, want) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(input.as_bytes()), want);
        }
    }

    #[test]
    fn debug_never_shows_secrets() {
        let auth = Auth::bearer(SecretString::from("tok-123456"));
        assert!(!format!("{auth:?}").contains("tok-123456"));
        let oauth = OAuth2::refresh_token(
            "https://t.test/token".parse().unwrap(),
            "id",
            SecretString::from("cs-abcdef"),
            SecretString::from("rt-abcdef"),
        );
        let shown = format!("{oauth:?}");
        assert!(!shown.contains("cs-abcdef") && !shown.contains("rt-abcdef"));
    }
}
