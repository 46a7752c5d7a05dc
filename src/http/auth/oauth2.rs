//! The OAuth2 refresh-token grant.

use std::fmt;
use std::sync::Mutex as StdMutex;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::header::AUTHORIZATION;
use reqwest::{Client, Request, Url};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::keys::secret_header;
use super::token::{CachedToken, request_token};
use super::{Auth, Authenticator};
use crate::error::{Error, Result};
use crate::http::error::Redactor;
use crate::spec::ConfigUpdate;
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
        client_secret: impl Into<SecretString>,
        refresh_token: impl Into<SecretString>,
    ) -> Self {
        OAuth2 {
            token_url,
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            refresh_token: StdMutex::new(refresh_token.into()),
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
    pub fn access_token(self, token: impl Into<SecretString>, expires_in: Duration) -> Self {
        let token = token.into();
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

impl Auth {
    /// An OAuth2 refresh-token grant (see [`OAuth2`]).
    pub fn oauth2(oauth: OAuth2) -> Self {
        Auth::custom(oauth)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
