//! The connector's config: what a user writes. Field doc comments are the user docs (they
//! become the spec's descriptions).

use chrono::{DateTime, Utc};
use intake::{Error, Result, Secret};
use schemars::JsonSchema;
use serde::Deserialize;
/// Where OAuth tokens learn their datacenter.
pub const METADATA_URL: &str = "https://login.mailchimp.com/oauth2/metadata";
/// The largest page Mailchimp serves.
pub const MAX_PAGE_SIZE: u32 = 1000;
/// Simultaneous connections Mailchimp allows per account.
pub const MAX_CONCURRENCY: u32 = 10;

/// How the connector authenticates.
#[derive(Deserialize, JsonSchema)]
#[serde(tag = "auth_type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Credentials {
    /// An API key (Account -> Extras -> API keys), ending in its datacenter: `…-us6`.
    Apikey {
        /// The API key.
        apikey: Secret,
    },
    /// An OAuth access token (Mailchimp's tokens do not expire).
    Oauth {
        /// The access token.
        access_token: Secret,
    },
}

/// The Mailchimp source's config.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MailchimpConfig {
    /// API key or OAuth token.
    pub credentials: Credentials,
    /// Only records created or changed at or after this instant (ISO 8601). Default: all.
    pub start_date: Option<DateTime<Utc>>,
    /// The API root, `https://<dc>.api.mailchimp.com/3.0` by default (set it for a proxy or a
    /// mock).
    pub base_url: Option<String>,
    /// Where an OAuth token's datacenter is looked up. Default
    /// `https://login.mailchimp.com/oauth2/metadata`.
    pub oauth_metadata_url: Option<String>,
    /// Records per page, at most 1000 (the default).
    pub page_size: Option<u32>,
    /// Requests in flight at once across all streams, at most 10 (the default): Mailchimp
    /// refuses an account's 11th simultaneous connection.
    pub concurrency: Option<u32>,
    /// Seconds before a request is abandoned (and retried). Default 60.
    pub request_timeout_seconds: Option<u64>,
}

/// The datacenter an API key names (`us6` in `…-us6`).
pub fn datacenter(apikey: &str) -> Result<String> {
    let no_suffix = || {
        Error::config(
            "the Mailchimp API key has no datacenter suffix: keys end in their datacenter, like `<32 hex characters>-us6`; copy the whole key from Account -> Extras -> API keys",
        )
    };
    let (_, dc) = apikey.trim().rsplit_once('-').ok_or_else(no_suffix)?;
    let letters = dc.trim_end_matches(|c: char| c.is_ascii_digit());
    let valid = !letters.is_empty()
        && letters.len() < dc.len()
        && letters.chars().all(|c| c.is_ascii_lowercase());
    if valid {
        Ok(dc.to_string())
    } else {
        Err(no_suffix())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datacenters_come_from_the_key_suffix() {
        assert_eq!(
            datacenter("0123456789abcdef0123456789abcdef-us6").unwrap(),
            "us6"
        );
        assert_eq!(datacenter("abc-us21").unwrap(), "us21");
        for bad in [
            "0123456789abcdef0123456789abcdef",
            "abc-",
            "abc-6",
            "abc-us",
            "abc-US6",
            "",
        ] {
            let e = datacenter(bad).unwrap_err();
            assert!(e.is_config());
            assert!(e.message().contains("datacenter suffix"), "{e}");
        }
    }
}
