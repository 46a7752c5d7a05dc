//! Google service-account auth (RFC 7523 JWT bearer grant, RS256 via jsonwebtoken).

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::header::AUTHORIZATION;
use reqwest::{Client, Request, Url};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::token::{CachedToken, request_token};
use super::{Auth, Authenticator};
use crate::error::{Error, Result};
use crate::http::error::Redactor;

const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
const DEFAULT_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";
/// Google accepts assertions valid for at most an hour.
const ASSERTION_LIFETIME: u64 = 3600;

/// The fields intake uses from a service-account key file (the JSON Google Cloud downloads).
#[derive(Clone, Deserialize)]
pub struct ServiceAccountKey {
    /// The account's email: the JWT's issuer.
    pub client_email: String,
    /// The RSA private key, PEM.
    pub private_key: SecretString,
    /// The key's id, sent as the JWT header's `kid`.
    #[serde(default)]
    pub private_key_id: Option<String>,
    /// Where to exchange the assertion. Default `https://oauth2.googleapis.com/token`.
    #[serde(default)]
    pub token_uri: Option<String>,
}

impl fmt::Debug for ServiceAccountKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceAccountKey")
            .field("client_email", &self.client_email)
            .field("private_key_id", &self.private_key_id)
            .finish_non_exhaustive()
    }
}

impl ServiceAccountKey {
    /// Parses a key file's JSON text. A malformed key is a config error that never repeats
    /// the key's content.
    pub fn from_json(text: &str) -> Result<Self> {
        serde_json::from_str(text).map_err(|e| {
            Error::config(format!(
                "the service account key is not a Google key file (line {}, column {}): it needs client_email and private_key",
                e.line(),
                e.column()
            ))
        })
    }
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    scope: String,
    aud: &'a str,
    iat: u64,
    exp: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    sub: Option<&'a str>,
}

/// Authenticates as a Google service account: signs an RS256 assertion, exchanges it for an
/// access token, and caches the token until a minute before it expires.
pub struct GoogleServiceAccount {
    key: ServiceAccountKey,
    encoding: EncodingKey,
    token_uri: Url,
    scopes: Vec<String>,
    subject: Option<String>,
    refresh_ahead: Duration,
    cached: Mutex<Option<CachedToken>>,
}

impl fmt::Debug for GoogleServiceAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GoogleServiceAccount")
            .field("client_email", &self.key.client_email)
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

impl GoogleServiceAccount {
    /// An account from its key, asking for `scopes`. Fails with a config error when the
    /// private key is not an RSA PEM key or the token URI is not a URL.
    pub fn new(key: ServiceAccountKey, scopes: &[&str]) -> Result<Self> {
        let encoding = EncodingKey::from_rsa_pem(key.private_key.expose_secret().as_bytes())
            .map_err(|_| {
                Error::config(
                    "the service account's private_key is not an RSA private key in PEM form",
                )
            })?;
        let uri = key.token_uri.as_deref().unwrap_or(DEFAULT_TOKEN_URI);
        let token_uri = Url::parse(uri).map_err(|e| {
            Error::config(format!("the service account's token_uri is not a URL: {e}"))
        })?;
        Ok(GoogleServiceAccount {
            key,
            encoding,
            token_uri,
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            subject: None,
            refresh_ahead: Duration::from_secs(60),
            cached: Mutex::new(None),
        })
    }

    /// Sends requests from this account with the tokens exchanged at `uri` instead of the
    /// key's `token_uri` (tests, proxies).
    pub fn token_uri(mut self, uri: Url) -> Self {
        self.token_uri = uri;
        self
    }

    /// Acts for this user (domain-wide delegation: the JWT's `sub`). Default none.
    pub fn subject(mut self, user: impl Into<String>) -> Self {
        self.subject = Some(user.into());
        self
    }

    fn assertion(&self) -> Result<String> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        let claims = Claims {
            iss: &self.key.client_email,
            scope: self.scopes.join(" "),
            aud: self.token_uri.as_str(),
            iat: now,
            exp: now + ASSERTION_LIFETIME,
            sub: self.subject.as_deref(),
        };
        let mut header = Header::new(Algorithm::RS256);
        header.kid = self.key.private_key_id.clone();
        jsonwebtoken::encode(&header, &claims, &self.encoding)
            .map_err(|e| Error::config(format!("signing the service-account assertion: {e}")))
    }

    async fn token(&self, client: &Client) -> Result<SecretString> {
        let mut cached = self.cached.lock().await;
        if let Some(c) = cached.as_ref()
            && c.fresh()
        {
            return Ok(c.token.clone());
        }
        let assertion = SecretString::from(self.assertion()?);
        let redactor = Redactor::new(Vec::new(), vec![assertion.clone()]);
        let answer = request_token(
            client,
            &self.token_uri,
            &[
                ("grant_type", GRANT_TYPE),
                ("assertion", assertion.expose_secret()),
            ],
            &redactor,
            "service-account assertion",
        )
        .await?;
        let lifetime = answer
            .expires_in
            .filter(|s| s.is_finite() && *s > 0.0)
            .unwrap_or(ASSERTION_LIFETIME as f64)
            // A token server's word, bounded: a year-long lifetime would overflow the clock.
            .min(86_400.0);
        let token = answer.access_token.clone();
        *cached = Some(CachedToken {
            token: answer.access_token,
            renew_at: Some(
                Instant::now()
                    + Duration::from_secs_f64(lifetime).saturating_sub(self.refresh_ahead),
            ),
        });
        Ok(token)
    }
}

impl Auth {
    /// A Google service account (RS256 JWT bearer grant).
    pub fn google_service_account(account: GoogleServiceAccount) -> Self {
        Auth::custom(account)
    }
}

#[async_trait]
impl Authenticator for GoogleServiceAccount {
    async fn authorize(&self, client: &Client, request: &mut Request) -> Result<()> {
        let token = self.token(client).await?;
        let mut value =
            reqwest::header::HeaderValue::from_str(&format!("Bearer {}", token.expose_secret()))
                .map_err(|_| Error::system("the access token cannot go in an HTTP header"))?;
        value.set_sensitive(true);
        request.headers_mut().insert(AUTHORIZATION, value);
        Ok(())
    }

    async fn unauthorized(&self, _: &Client) -> Result<bool> {
        *self.cached.lock().await = None;
        Ok(true)
    }

    fn secrets(&self) -> Vec<SecretString> {
        let mut out = vec![self.key.private_key.clone()];
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
