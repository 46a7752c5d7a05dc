//! The validated crawl settings, and the schema of the `pages` stream.

use std::time::Duration;

use intake::http::reqwest::{self};
use intake::{Error, Result};
use regex::Regex;
use serde_json::{Value, json};
use url::Url;

use crate::config::{DEFAULT_USER_AGENT, PAGES, WebConfig};
use crate::extract::Rules;
use crate::urls::{Scope, normalize};

/// A validated config.
pub(crate) struct Settings {
    pub rules: Vec<Rules>,
    pub(crate) scope: Scope,
    pub(crate) starts: Vec<Url>,
    pub(crate) sitemaps: Vec<Url>,
    pub(crate) agent: String,
    pub(crate) agent_token: String,
    pub(crate) interval: Duration,
    pub(crate) max_depth: u32,
    pub(crate) max_pages: u64,
    pub(crate) concurrency: usize,
    pub(crate) timeout: Duration,
    pub(crate) max_bytes: u64,
    pub(crate) max_state: usize,
    pub(crate) allow_private: bool,
}

pub(crate) fn parse_url(text: &str, what: &str) -> Result<Url> {
    let u = Url::parse(text.trim())
        .map_err(|e| Error::config(format!("{what} \"{text}\" is not a URL: {e}")))?;
    normalize(&u).ok_or_else(|| {
        Error::config(format!(
            "{what} \"{text}\" is not an http or https URL: the crawler fetches only those"
        ))
    })
}

impl Settings {
    pub fn from_config(config: &Value) -> Result<Settings> {
        let cfg: WebConfig = crate::parse(config)?;
        let starts = cfg
            .start_urls
            .iter()
            .map(|u| parse_url(u, "start URL"))
            .collect::<Result<Vec<_>>>()?;
        let sitemaps = cfg
            .sitemap_urls
            .iter()
            .map(|u| parse_url(u, "sitemap URL"))
            .collect::<Result<Vec<_>>>()?;
        if starts.is_empty() && sitemaps.is_empty() {
            return Err(Error::config(
                "give at least one start URL or sitemap URL: the crawl has nowhere to begin",
            ));
        }
        let domains = match &cfg.allowed_domains {
            Some(d) => d
                .iter()
                .map(|d| d.trim().trim_start_matches("*.").to_ascii_lowercase())
                .collect(),
            None => {
                let mut d: Vec<String> = starts
                    .iter()
                    .chain(&sitemaps)
                    .filter_map(|u| u.host_str().map(str::to_ascii_lowercase))
                    .collect();
                d.sort();
                d.dedup();
                d
            }
        };
        let regexes = |list: &[String], what: &str| -> Result<Vec<Regex>> {
            list.iter()
                .map(|p| {
                    Regex::new(p).map_err(|e| {
                        Error::config(format!("{what} pattern \"{p}\" is not a regex: {e}"))
                    })
                })
                .collect()
        };
        let scope = Scope {
            domains,
            include: regexes(&cfg.include, "include")?,
            exclude: regexes(&cfg.exclude, "exclude")?,
        };
        let mut rules = Vec::new();
        for r in &cfg.streams {
            if r.name == PAGES {
                return Err(Error::config(
                    "an extraction stream cannot be named \"pages\": that is the built-in stream of fetched pages",
                ));
            }
            rules.push(Rules::compile(r).map_err(Error::config)?);
        }
        let rps = cfg.requests_per_second.unwrap_or(1.0);
        if !(rps.is_finite() && rps > 0.0) {
            return Err(Error::config(
                "requests_per_second must be a positive number",
            ));
        }
        let agent = cfg
            .user_agent
            .clone()
            .unwrap_or_else(|| DEFAULT_USER_AGENT.to_string());
        let agent_token = agent
            .split(['/', ' '])
            .next()
            .unwrap_or("intake-web")
            .to_ascii_lowercase();
        Ok(Settings {
            rules,
            scope,
            starts,
            sitemaps,
            agent_token,
            agent,
            // At least one request a day: slower is a typo, and an overflow.
            interval: Duration::from_secs_f64((1.0 / rps).min(86_400.0)),
            max_depth: cfg.max_depth.unwrap_or(3),
            max_pages: cfg.max_pages.unwrap_or(1000),
            concurrency: cfg.concurrency.unwrap_or(4).clamp(1, 64) as usize,
            timeout: Duration::from_secs(cfg.timeout_seconds.unwrap_or(30).max(1)),
            max_bytes: cfg.max_page_bytes.unwrap_or(5 << 20),
            max_state: cfg.max_state_urls.unwrap_or(10_000),
            allow_private: cfg.allow_private_networks,
        })
    }

    pub(crate) fn client(&self) -> Result<reqwest::Client> {
        let scope = self.scope.clone();
        reqwest::Client::builder()
            .user_agent(self.agent.clone())
            .redirect(reqwest::redirect::Policy::custom(move |attempt| {
                let ok = attempt.previous().len() < 10
                    && matches!(attempt.url().scheme(), "http" | "https")
                    && scope.allows_host(attempt.url());
                if ok { attempt.follow() } else { attempt.stop() }
            }))
            .connect_timeout(Duration::from_secs(10))
            .gzip(true)
            .build()
            .map_err(|e| Error::system(format!("cannot build the HTTP client: {e}")))
    }
}

/// The schema of the `pages` stream.
pub(crate) fn pages_schema() -> Value {
    let s = |t: &str| json!({"type": ["null", t]});
    json!({"$schema": "http://json-schema.org/draft-07/schema#", "type": "object",
        "properties": {
            "url": {"type": "string", "format": "uri"},
            "final_url": s("string"), "status": {"type": "integer"}, "title": s("string"),
            "description": s("string"), "canonical_url": s("string"), "language": s("string"),
            "text": s("string"), "links": {"type": ["null", "array"], "items": {"type": "string"}},
            "fetched_at": {"type": "string", "format": "date-time"},
            "content_hash": s("string"), "etag": s("string"), "last_modified": s("string"),
            "content_type": s("string"), "depth": {"type": "integer"}
        },
        "required": ["url", "status", "fetched_at"]})
}
