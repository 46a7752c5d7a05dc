//! The connector's config: what a user writes. Field doc comments are the user docs (they
//! become the spec's descriptions).

use std::collections::BTreeMap;

use intake::Result;
use intake::spec::parse_config;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

/// The built-in stream of fetched pages.
pub const PAGES: &str = "pages";
/// The user agent when none is configured.
pub const DEFAULT_USER_AGENT: &str = concat!(
    "intake-web/",
    env!("CARGO_PKG_VERSION"),
    " (+https://github.com/intake-rs/intake)"
);

/// How a field's text is typed.
#[derive(Deserialize, JsonSchema, Debug, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    /// The text as is (whitespace collapsed). The default.
    #[default]
    String,
    /// The first number in the text (`$1,299.00` -> 1299).
    Number,
    /// A date (`2024-03-01`, `March 1, 2024`) as `YYYY-MM-DD`.
    Date,
    /// A URL, resolved against the page.
    Url,
}

/// One field of an extraction stream.
#[derive(Deserialize, JsonSchema, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct FieldRule {
    /// A CSS selector, within the record's element (or the page).
    pub selector: String,
    /// Read this attribute (`href`, `src`, `content`) instead of the element's text.
    pub attribute: Option<String>,
    /// A regex applied to the text: its first group (or the whole match) is the value.
    pub regex: Option<String>,
    /// string (default), number, date or url.
    #[serde(rename = "type", default)]
    pub kind: FieldType,
    /// Every match as a list, instead of the first.
    #[serde(default)]
    pub list: bool,
    /// A record without this field (no match, or text that does not read as its type) is
    /// left out with a warning instead of emitted half-empty: a maintenance page served with
    /// status 200, or a layout change, then shows in the sync's warnings, not as null rows.
    #[serde(default)]
    pub required: bool,
}

/// A named extraction stream.
#[derive(Deserialize, JsonSchema, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct StreamRule {
    /// The stream's name.
    pub name: String,
    /// A regex the page URL must match.
    pub url_pattern: String,
    /// One record per element matching this CSS selector; without it, one record per page.
    pub record_selector: Option<String>,
    /// The fields.
    pub fields: BTreeMap<String, FieldRule>,
    /// A CSS selector for the link to this listing's next page (followed at the same depth).
    pub next_page: Option<String>,
}

/// The web source's config.
#[derive(Deserialize, JsonSchema, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct WebConfig {
    /// Where the crawl starts.
    #[serde(default)]
    pub start_urls: Vec<String>,
    /// Sitemaps (or sitemap indexes, plain or `.xml.gz`) whose pages are crawled.
    #[serde(default)]
    pub sitemap_urls: Vec<String>,
    /// Hosts the crawl may visit (a host includes its subdomains). Default: the hosts of the
    /// start and sitemap URLs.
    pub allowed_domains: Option<Vec<String>>,
    /// Regexes: when given, a URL must match one to be crawled.
    #[serde(default)]
    pub include: Vec<String>,
    /// Regexes: a URL matching one is not crawled (calendars, carts, session URLs).
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Links followed from a start URL. Default 3.
    pub max_depth: Option<u32>,
    /// Pages fetched per sync, at most. Default 1000.
    pub max_pages: Option<u64>,
    /// Requests per second to each host. Default 1.
    pub requests_per_second: Option<f64>,
    /// Requests in flight at once across hosts. Default 4.
    pub concurrency: Option<u32>,
    /// The user agent, naming the crawler and how to reach its operator. Default
    /// `intake-web/<version> (+https://github.com/intake-rs/intake)`.
    pub user_agent: Option<String>,
    /// Seconds before a request is abandoned. Default 30.
    pub timeout_seconds: Option<u64>,
    /// Pages larger than this many bytes are skipped. Default 5 MiB.
    pub max_page_bytes: Option<u64>,
    /// URLs remembered for conditional re-crawls. Default 10,000.
    pub max_state_urls: Option<usize>,
    /// Allow hosts that resolve to loopback, private or link-local addresses. Default false.
    #[serde(default)]
    pub allow_private_networks: bool,
    /// Extraction streams.
    #[serde(default)]
    pub streams: Vec<StreamRule>,
}

/// The config, parsed (for tools that build one in code).
pub fn parse(config: &Value) -> Result<WebConfig> {
    parse_config(config)
}
