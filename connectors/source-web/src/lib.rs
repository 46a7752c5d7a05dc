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

mod client;
mod config;
mod crawl;
pub mod extract;
mod memory;
#[cfg(feature = "mock")]
pub mod mock;
pub mod robots;
mod settings;
pub mod sitemap;
mod source;
mod streams;
pub mod urls;

pub use config::{DEFAULT_USER_AGENT, FieldRule, FieldType, PAGES, StreamRule, WebConfig, parse};
pub use source::WebSource;
