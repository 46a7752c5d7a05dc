//! The connector's config: what a user writes. Field doc comments are the user docs (they
//! become the spec's descriptions).

use chrono::{DateTime, Utc};
use intake::Secret;
use schemars::JsonSchema;
use serde::Deserialize;
/// The API's host.
pub const DEFAULT_BASE_URL: &str = "https://api.hubapi.com";
/// Requests per 10 seconds a Free or Starter portal's private app may send.
pub const DEFAULT_REQUESTS_PER_10_SECONDS: u32 = 100;
/// Search requests per second (HubSpot's own, lower limit for search endpoints).
pub const SEARCH_REQUESTS_PER_SECOND: u32 = 4;

/// How the connector authenticates.
#[derive(Deserialize, JsonSchema)]
#[serde(tag = "auth_type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Credentials {
    /// A private app's access token (Settings -> Integrations -> Private apps), `pat-…`.
    PrivateApp {
        /// The access token.
        access_token: Secret,
    },
    /// A public app's OAuth grant: access tokens are refreshed from the refresh token.
    Oauth {
        /// The app's client id.
        client_id: String,
        /// The app's client secret.
        client_secret: Secret,
        /// The refresh token the portal's install produced.
        refresh_token: Secret,
    },
}

/// The HubSpot source's config.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HubSpotConfig {
    /// Private-app token or OAuth.
    pub credentials: Credentials,
    /// Only records modified at or after this instant (ISO 8601). Default: all history.
    pub start_date: Option<DateTime<Utc>>,
    /// The API's base URL. Default `https://api.hubapi.com` (set it for a proxy or a mock).
    pub base_url: Option<String>,
    /// Requests per 10 seconds the portal allows: 100 for Free and Starter private apps (the
    /// default), 190 for Professional and Enterprise, 110 for public OAuth apps. The connector
    /// paces itself at 90% of it.
    pub requests_per_10_seconds: Option<u32>,
    /// Search requests per second: HubSpot allows about 4 (its search endpoints have their own
    /// limit, outside the 10-second one). Default 4; the connector paces itself at 75% of it.
    pub search_requests_per_second: Option<u32>,
    /// Seconds before a request is abandoned (and retried). Default 60.
    pub request_timeout_seconds: Option<u64>,
    /// Read associations (contacts' companies, deals' contacts and companies) as arrays of ids:
    /// one batch request per page and association type. Default true.
    pub associations: Option<bool>,
    /// Minutes re-read before the saved cursor on each incremental sync: HubSpot's search index
    /// lags writes by a few seconds. Default 1.
    pub lookback_minutes: Option<u32>,
}

impl HubSpotConfig {
    pub(crate) fn base_url(&self) -> &str {
        self.base_url.as_deref().unwrap_or(DEFAULT_BASE_URL)
    }
}
