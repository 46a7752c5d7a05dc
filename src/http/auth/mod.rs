//! Authentication: API keys, bearer and basic credentials, OAuth2 refresh tokens and (feature
//! `jwt`) Google service accounts. Every secret is a [`SecretString`]; none reaches a log,
//! an error or a `Debug` output.
//!
//! The layer order a request meets: [`Authenticator::authorize`] puts the credentials on it;
//! an answer of 401 calls [`Authenticator::refresh`] once and the request is sent again.

mod authenticator;
#[cfg(feature = "jwt")]
mod jwt;
mod keys;
mod oauth2;
mod token;

pub use authenticator::{Auth, Authenticator};
#[cfg(feature = "jwt")]
pub use jwt::{GoogleServiceAccount, ServiceAccountKey};
pub(crate) use keys::base64;
pub use oauth2::OAuth2;
