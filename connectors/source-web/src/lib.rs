//! The web source: a polite crawler with CSS extraction rules.
//!
//! - **Crawl**: from start URLs and/or sitemaps (indexes and `.xml.gz` included), within the
//!   allowed domains (default: the start URLs' hosts) and the include/exclude patterns, to a
//!   maximum depth and page count, `concurrency` requests at once with each host paced at
//!   `requests_per_second` (or slower when its robots.txt asks with `Crawl-delay`).
//! - **Politeness**: robots.txt obeyed per host for the configured user agent; redirects
//!   followed only within the allowed domains; `rel="nofollow"` links and `<meta
//!   name="robots" content="nofollow">` pages not followed.
//! - **Streams**: `pages` (url, final url, status, title, description, canonical, language,
//!   text, links, fetched_at, content hash, ETag, Last-Modified), and one stream per
//!   extraction rule: the pages whose URL matches its pattern give one record per page, or one
//!   per match of its record selector, with fields taken by CSS selector (text or an attribute,
//!   an optional regex, typed string/number/date/url, optionally a list).
//! - **Incremental re-crawl**: the state remembers each URL's ETag, Last-Modified, content hash
//!   and fetch time; the next run sends `If-None-Match`/`If-Modified-Since`, counts 304s and
//!   unchanged hashes as unchanged and emits only new or changed pages. A sitemap `lastmod`
//!   older than the last fetch skips the page without a request. The state holds at most
//!   `max_state_urls` URLs (default 10,000; about 150 bytes each, so ~1.5 MB at the cap), the
//!   most recently fetched kept; a site larger than the cap re-fetches the rest in full. It also
//!   holds the crawl's frontier while a crawl is unfinished, so an interrupted crawl continues.
//! - **Safety**: malformed HTML parses (html5ever repairs it as browsers do); non-HTML content
//!   is skipped with the reason logged; pages over `max_page_bytes` are skipped; every request
//!   has a timeout; only http and https; hosts that resolve to loopback, private or link-local
//!   addresses are refused unless `allow_private_networks` is set.

#![warn(missing_docs)]

mod crawl;
pub mod extract;
#[cfg(feature = "mock")]
pub mod mock;
pub mod robots;
pub mod sitemap;
pub mod urls;

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::StreamExt;
use intake::source::EventSender;
use intake::spec::parse_config;
use intake::{
    ConfiguredCatalog, ConnectorSpec, Cursor, CursorKind, Page, PageStream, ReadOptions,
    ReadRequest, Result, Source, SourceEvent, State, Stream, SyncMode, async_trait,
};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

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

/// The web source.
#[derive(Debug, Default, Clone)]
pub struct WebSource {
    _private: (),
}

impl WebSource {
    /// The source.
    pub fn new() -> Self {
        WebSource::default()
    }
}

fn cursor() -> Cursor {
    Cursor::new("fetched_at").kind(CursorKind::DateTime)
}

/// A stream as discovery lists it. Reading goes through [`WebSource`]'s crawl, which feeds
/// every selected stream from one pass over the site.
struct WebStream {
    name: String,
    schema: Value,
    key: Vec<Vec<String>>,
    cursor: Cursor,
    config: Value,
}

#[async_trait]
impl Stream for WebStream {
    fn name(&self) -> &str {
        &self.name
    }
    async fn json_schema(&self) -> Result<Value> {
        Ok(self.schema.clone())
    }
    fn primary_key(&self) -> Vec<Vec<String>> {
        self.key.clone()
    }
    fn cursor(&self) -> Option<&Cursor> {
        Some(&self.cursor)
    }
    /// A crawl for this stream alone (the source's `read` crawls once for all streams).
    fn read(&self, request: ReadRequest) -> PageStream<'_> {
        let (tx, rx) = tokio::sync::mpsc::channel(16);
        let config = self.config.clone();
        let name = self.name.clone();
        let incremental = request.sync_mode == SyncMode::Incremental;
        let crawl = async move {
            let settings = crawl::Settings::from_config(&config)?;
            let catalog = single(&name, incremental);
            crawl::run(
                &settings,
                &catalog,
                &State::new(),
                &ReadOptions::default(),
                EventSender::new(tx),
            )
            .await
        };
        let events =
            futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|e| (e, rx)) })
                .filter_map(|e| async move {
                    match e {
                        SourceEvent::Records(batch) => Some(Ok(Page::new(batch.records))),
                        _ => None,
                    }
                });
        let done = futures::stream::once(crawl)
            .filter_map(|r: Result<()>| async move { r.err().map(Err) });
        futures::stream::select(events, done).boxed()
    }
}

fn single(name: &str, incremental: bool) -> ConfiguredCatalog {
    serde_json::from_value(json!({"streams": [{
        "stream": {"name": name, "json_schema": {}, "supported_sync_modes": ["full_refresh", "incremental"]},
        "sync_mode": if incremental { "incremental" } else { "full_refresh" },
        "destination_sync_mode": "append"
    }]}))
    .unwrap_or_default()
}

#[async_trait]
impl Source for WebSource {
    fn spec(&self) -> ConnectorSpec {
        ConnectorSpec::from_config::<WebConfig>()
            .supports_incremental(true)
            .documentation_url(
                "https://github.com/intake-rs/intake/tree/main/connectors/source-web",
            )
    }

    /// Validates the config (patterns, selectors, URLs, addresses) and fetches the start
    /// URLs' robots.txt.
    async fn check(&self, config: &Value) -> Result<()> {
        let settings = crawl::Settings::from_config(config)?;
        crawl::check(&settings).await
    }

    async fn streams(&self, config: &Value) -> Result<Vec<Arc<dyn Stream>>> {
        let settings = crawl::Settings::from_config(config)?;
        let mut out: Vec<Arc<dyn Stream>> = vec![Arc::new(WebStream {
            name: PAGES.into(),
            schema: crawl::pages_schema(),
            key: vec![vec!["url".into()]],
            cursor: cursor(),
            config: config.clone(),
        })];
        for r in &settings.rules {
            out.push(Arc::new(WebStream {
                name: r.name.clone(),
                schema: r.schema(),
                key: vec![vec!["url".into()], vec!["_index".into()]],
                cursor: cursor(),
                config: config.clone(),
            }));
        }
        Ok(out)
    }

    async fn read(
        &self,
        config: &Value,
        catalog: &ConfiguredCatalog,
        state: &State,
        options: &ReadOptions,
        out: EventSender,
    ) -> Result<()> {
        let settings = crawl::Settings::from_config(config)?;
        crawl::run(&settings, catalog, state, options, out).await
    }
}

/// The config, parsed (for tools that build one in code).
pub fn parse(config: &Value) -> Result<WebConfig> {
    parse_config(config)
}
