//! The connector's config: what a user writes. Field doc comments are the user docs (they
//! become the spec's descriptions).

use intake::{Error, Result, Secret};
use schemars::JsonSchema;
use serde::Deserialize;
/// The API's host.
pub const DEFAULT_BASE_URL: &str = "https://sheets.googleapis.com";
/// Google's token endpoint.
pub const DEFAULT_TOKEN_URL: &str = "https://oauth2.googleapis.com/token";
/// The scope requested.
pub const SCOPE: &str = "https://www.googleapis.com/auth/spreadsheets.readonly";
/// The field holding each record's row number.
pub const ROW: &str = "_row";
/// Rows per request by default.
pub const DEFAULT_BATCH_SIZE: u32 = 200;

/// How the connector authenticates.
#[derive(Deserialize, JsonSchema)]
#[serde(tag = "auth_type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Credentials {
    /// A service account: the key file's JSON, as downloaded from Google Cloud. Share the
    /// spreadsheet with the account's `client_email`.
    ServiceAccount {
        /// The key file's whole JSON text.
        service_account_info: Secret,
    },
    /// A user's OAuth grant.
    Oauth {
        /// The OAuth client id.
        client_id: String,
        /// The OAuth client secret.
        client_secret: Secret,
        /// The refresh token.
        refresh_token: Secret,
    },
}

/// How cell values are rendered.
#[derive(Deserialize, JsonSchema, Debug, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum ValueRender {
    /// As displayed (`"$1,200.00"`, `"TRUE"`): every column a string. The default.
    #[default]
    Formatted,
    /// The underlying values (`1200`, `true`): numeric and boolean columns typed.
    Unformatted,
}

/// How header names become column names.
#[derive(Deserialize, JsonSchema, Debug, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum NamesConversion {
    /// As written. The default.
    #[default]
    Off,
    /// `First Name (home)` -> `first_name_home`.
    SnakeCase,
}

/// The Google Sheets source's config.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SheetsConfig {
    /// The spreadsheet's id, or its URL (`https://docs.google.com/spreadsheets/d/<id>/edit`).
    pub spreadsheet_id: String,
    /// Service account or OAuth.
    pub credentials: Credentials,
    /// Rows per request. Default 200.
    pub batch_size: Option<u32>,
    /// Formatted (default) or unformatted values.
    pub value_render: Option<ValueRender>,
    /// Header names as written (default) or converted to snake_case.
    pub names_conversion: Option<NamesConversion>,
    /// Read requests per minute: Google allows 60 per user per project by default (300 per
    /// project). The connector paces itself at 90% of it.
    pub requests_per_minute: Option<u32>,
    /// The API's base URL. Default `https://sheets.googleapis.com` (for a proxy or a mock).
    pub base_url: Option<String>,
    /// The token endpoint, instead of the key's `token_uri` or Google's (for tests).
    pub token_url: Option<String>,
    /// Seconds before a request is abandoned (and retried). Default 60.
    pub request_timeout_seconds: Option<u64>,
}

/// The spreadsheet id in an id or a URL.
pub fn spreadsheet_id(text: &str) -> Result<String> {
    let text = text.trim();
    let id = match text.find("/spreadsheets/d/") {
        Some(i) => text[i + "/spreadsheets/d/".len()..]
            .split(['/', '?', '#'])
            .next()
            .unwrap_or_default(),
        None => text,
    };
    if id.is_empty()
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(Error::config(format!(
            "\"{text}\" is not a spreadsheet id or URL: give the id (the part after /d/ in the spreadsheet's URL) or the whole URL"
        )));
    }
    Ok(id.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_come_from_urls_or_stand_alone() {
        let id = "1BxiMVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE2upms";
        assert_eq!(spreadsheet_id(id).unwrap(), id);
        assert_eq!(
            spreadsheet_id(&format!(
                "https://docs.google.com/spreadsheets/d/{id}/edit#gid=0"
            ))
            .unwrap(),
            id
        );
        assert_eq!(
            spreadsheet_id(&format!("https://docs.google.com/spreadsheets/d/{id}")).unwrap(),
            id
        );
        for bad in ["", "https://example.com/x y", "a/b"] {
            assert!(spreadsheet_id(bad).unwrap_err().is_config());
        }
    }
}
