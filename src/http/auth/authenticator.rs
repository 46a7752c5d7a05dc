//! The [`Authenticator`] trait and the [`Auth`] handle a requester holds.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use reqwest::{Client, Request};
use secrecy::SecretString;

use crate::error::Result;
use crate::http::error::Redactor;
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
