//! The API client: credentials, the portal's limits and HubSpot's error bodies.

use std::time::Duration;

use intake::http::{
    Auth, ErrorAction, HttpApi, HttpError, OAuth2, Quota, RateLimit, RateLimitHeaders,
};
use intake::{Error, Result};
use serde_json::Value;

use crate::config::{
    Credentials, DEFAULT_REQUESTS_PER_10_SECONDS, HubSpotConfig, SEARCH_REQUESTS_PER_SECOND,
};
use crate::crm;
/// The API client for a config: auth, the portal's limits, HubSpot's error bodies.
pub fn api(cfg: &HubSpotConfig) -> Result<HttpApi> {
    let base = cfg.base_url();
    let auth = match &cfg.credentials {
        Credentials::PrivateApp { access_token } => Auth::bearer(access_token.clone()),
        Credentials::Oauth {
            client_id,
            client_secret,
            refresh_token,
        } => {
            let token_url =
                url::Url::parse(&format!("{}/oauth/v1/token", base.trim_end_matches('/')))
                    .map_err(|e| Error::config(format!("base_url \"{base}\" is not a URL: {e}")))?;
            Auth::oauth2(
                OAuth2::refresh_token(
                    token_url,
                    client_id.clone(),
                    client_secret.clone(),
                    refresh_token.clone(),
                )
                .refresh_token_pointer("/credentials/refresh_token"),
            )
        }
    };
    let per_10s = cfg
        .requests_per_10_seconds
        .unwrap_or(DEFAULT_REQUESTS_PER_10_SECONDS)
        .max(1);
    // 90% of the limit: a sliding window counts arrivals, and network jitter bunches them.
    let paced = (per_10s.saturating_mul(9) / 10).max(1);
    let limits = RateLimit::new(Quota::new(paced, Duration::from_secs(10)))
        .class(
            crm::SEARCH_CLASS,
            // 75%: the search limit is counted per second, where a little bunching of
            // evenly paced requests already crosses it.
            Quota::new(
                (cfg.search_requests_per_second
                    .unwrap_or(SEARCH_REQUESTS_PER_SECOND)
                    .max(1)
                    .saturating_mul(30)
                    / 4)
                .max(1),
                Duration::from_secs(10),
            ),
        )
        .headers(RateLimitHeaders {
            remaining: vec!["x-hubspot-ratelimit-remaining".into()],
            reset: Vec::new(),
            limit: vec!["x-hubspot-ratelimit-max".into()],
            window_ms: vec!["x-hubspot-ratelimit-interval-milliseconds".into()],
        });
    Ok(HttpApi::parse(base)
        .map_err(|e| Error::config(format!("base_url: {e}")))?
        .auth(auth)
        .rate_limit(limits)
        .user_agent(concat!("intake-source-hubspot/", env!("CARGO_PKG_VERSION")))
        .timeout(Some(Duration::from_secs(
            cfg.request_timeout_seconds.unwrap_or(60).max(1),
        )))
        .on_error(classify))
}

/// Reads HubSpot's error bodies: which quota a 429 spent, which scope a 403 lacks.
fn classify(e: &HttpError) -> ErrorAction {
    let body = e.body_json().unwrap_or(Value::Null);
    let text = |k: &str| body.get(k).and_then(Value::as_str).unwrap_or_default();
    match e.status() {
        Some(429) => {
            let policy = text("policyName").to_ascii_uppercase();
            let message = text("message").to_ascii_lowercase();
            if policy == "DAILY" || message.contains("daily") {
                ErrorAction::Fail(Error::transient(
                    "HubSpot's daily API quota for this portal is spent (429, policy DAILY). It resets at midnight in the portal's time zone; run the sync again then. intake stopped instead of retrying, which would only add failed requests",
                ))
            } else if policy == "SECONDLY" || message.contains("secondly limit") {
                ErrorAction::Retry(Some(e.retry_after().unwrap_or(Duration::from_secs(1))))
            } else {
                // TEN_SECONDLY_ROLLING (or unnamed): the window rolls over within 10 s.
                ErrorAction::Retry(Some(e.retry_after().unwrap_or(Duration::from_secs(10))))
            }
        }
        Some(401) => ErrorAction::Fail(Error::config(format!(
            "HubSpot rejected the credentials (401 {}): the access token is invalid or expired. Create a new private-app token, or reconnect the OAuth app for a new refresh token",
            text("category")
        ))),
        Some(403) if text("category") == "MISSING_SCOPES" => {
            ErrorAction::Fail(Error::config(format!(
                "the token lacks the scope(s) {} (403 MISSING_SCOPES): add them to the private app or the OAuth app's install",
                scopes_in(&body)
            )))
        }
        // Locked by a concurrent write on HubSpot's side: it clears within seconds.
        Some(423) => ErrorAction::Retry(Some(Duration::from_secs(2))),
        _ => ErrorAction::Default,
    }
}

fn scopes_in(body: &Value) -> String {
    let mut scopes: Vec<String> = body
        .get("errors")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|e| e.pointer("/context/requiredGranularScopes"))
        .filter_map(Value::as_array)
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect();
    scopes.dedup();
    if scopes.is_empty() {
        "(not named in the answer)".into()
    } else {
        scopes.join(", ")
    }
}

/// The scopes named when `e` is HubSpot's 403 MISSING_SCOPES.
pub fn missing_scopes(e: &Error) -> Option<String> {
    let h = HttpError::find(e).filter(|h| h.status() == Some(403))?;
    let body = h.body_json()?;
    (body.get("category").and_then(Value::as_str) == Some("MISSING_SCOPES"))
        .then(|| scopes_in(&body))
}
