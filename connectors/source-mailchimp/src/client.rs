//! The API client: the datacenter, credentials, limits and Mailchimp's error bodies.

use chrono::{DateTime, Utc};
use intake::http::{Auth, ErrorAction, HttpApi, HttpError, RateLimit, RateLimitHeaders};
use intake::source::StreamContext;
use intake::{Error, Result};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use crate::config::{
    Credentials, MAX_CONCURRENCY, MAX_PAGE_SIZE, METADATA_URL, MailchimpConfig, datacenter,
};
/// The parts of a problem+json error body.
fn problem(e: &HttpError) -> Option<(String, String, String)> {
    let body = e.body_json()?;
    let text = |k: &str| {
        body.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let title = text("title");
    (!title.is_empty()).then(|| (title, text("detail"), text("instance")))
}

/// Reads Mailchimp's problem+json bodies; `dc` is the datacenter the config points at.
fn classify(dc: Option<String>) -> impl Fn(&HttpError) -> ErrorAction + Send + Sync + 'static {
    move |e| {
        let status = e.status().unwrap_or_default();
        let Some((title, detail, instance)) = problem(e) else {
            // Not JSON at all: an HTML page from Mailchimp's edge (Akamai) under load is
            // transient, whatever its status. Other JSON keeps the default mapping.
            let html = e.body_json().is_none();
            return if html && matches!(status, 403 | 429 | 500..=599) {
                ErrorAction::Retry(None)
            } else {
                ErrorAction::Default
            };
        };
        let described =
            format!("Mailchimp: {title} (HTTP {status}): {detail} (request {instance})");
        let wrong_dc = title.to_ascii_lowercase().replace(' ', "") == "wrongdatacenter"
            || detail.to_ascii_lowercase().contains("datacenter");
        match status {
            401 | 403 if wrong_dc => ErrorAction::Fail(Error::config(format!(
                "the credentials belong to another datacenter than {}: the key's suffix names its datacenter; {described}",
                dc.as_deref().unwrap_or("the one configured")
            ))),
            401 => ErrorAction::Fail(Error::config(format!(
                "Mailchimp rejected the credentials: check the API key or token; {described}"
            ))),
            403 => ErrorAction::Fail(Error::config(format!(
                "the account may not read this: {described}"
            ))),
            429 | 500..=599 => ErrorAction::Retry(None),
            _ => ErrorAction::Fail(Error::system(described)),
        }
    }
}

/// The API client of one config, with the settings every stream reads.
#[derive(Debug, Clone)]
pub(crate) struct Client {
    pub(crate) api: HttpApi,
    pub(crate) page_size: u32,
    pub(crate) start: Option<DateTime<Utc>>,
}

/// Works out the API root and builds the client.
pub(crate) async fn connect(cfg: &MailchimpConfig) -> Result<Client> {
    let (auth, dc, endpoint) = match &cfg.credentials {
        Credentials::Apikey { apikey } => {
            let dc = datacenter(apikey.expose_secret())?;
            let root = format!("https://{dc}.api.mailchimp.com/3.0");
            (Auth::basic("anystring", apikey.clone()), Some(dc), root)
        }
        Credentials::Oauth { access_token } => {
            let url = cfg.oauth_metadata_url.as_deref().unwrap_or(METADATA_URL);
            let header = SecretString::from(format!("OAuth {}", access_token.expose_secret()));
            let metadata = HttpApi::parse(url)
                .map_err(|e| Error::config(format!("oauth_metadata_url: {e}")))?
                .auth(Auth::api_key_header("Authorization", header))
                .get_json("", &StreamContext::detached("oauth metadata"))
                .await?;
            let Some(endpoint) = metadata.get("api_endpoint").and_then(Value::as_str) else {
                return Err(Error::config(
                    "Mailchimp does not know this OAuth access token (its metadata has no api_endpoint): reconnect the app for a new token",
                ));
            };
            let dc = metadata
                .get("dc")
                .and_then(Value::as_str)
                .map(str::to_string);
            let root = format!("{}/3.0", endpoint.trim_end_matches('/'));
            (Auth::bearer(access_token.clone()), dc, root)
        }
    };
    let root = cfg.base_url.clone().unwrap_or(endpoint);
    let concurrency = cfg
        .concurrency
        .unwrap_or(MAX_CONCURRENCY)
        .clamp(1, MAX_CONCURRENCY);
    let api = HttpApi::parse(&root)
        .map_err(|e| Error::config(format!("base_url: {e}")))?
        .auth(auth)
        .rate_limit(
            RateLimit::unlimited()
                .max_concurrency(concurrency as usize)
                .headers(RateLimitHeaders::none()),
        )
        .user_agent(concat!(
            "intake-source-mailchimp/",
            env!("CARGO_PKG_VERSION")
        ))
        .timeout(Some(std::time::Duration::from_secs(
            cfg.request_timeout_seconds.unwrap_or(60).max(1),
        )))
        .on_error(classify(dc));
    Ok(Client {
        api,
        page_size: cfg
            .page_size
            .unwrap_or(MAX_PAGE_SIZE)
            .clamp(1, MAX_PAGE_SIZE),
        start: cfg.start_date,
    })
}
