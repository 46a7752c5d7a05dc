//! A local fixture website on loopback: a small shop with products, paginated listings,
//! articles, a robots.txt with disallow rules and a crawl delay, a sitemap index pointing at a
//! gzipped sitemap, and the traps a crawler meets: duplicate URLs (fragments, parameter order,
//! tracking parameters), an off-site redirect, a 404, a slow page, a PDF, an endless calendar,
//! and pages that change between two runs. Every page has an ETag and a Last-Modified and
//! answers conditional requests with 304.

mod data;
mod pages;
mod routes;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use intake::source::{EventSender, LogLevel};
use intake::testing::MockApi;
use intake::{Catalog, ReadOptions, Source, SourceEvent, State, SyncMode};
use serde_json::{Value, json};

use data::Site;
use routes::serve;

pub use data::{Article, Product, articles, products};

/// The site's crawl delay for intake's crawler (seconds), from its robots.txt.
pub const CRAWL_DELAY: f64 = 0.2;
/// How long the slow page takes to answer.
pub const SLOW: Duration = Duration::from_secs(3);

/// The fixture site.
pub struct FixtureSite {
    api: MockApi,
    site: Arc<Mutex<Site>>,
}

fn lock(s: &Mutex<Site>) -> std::sync::MutexGuard<'_, Site> {
    s.lock().unwrap_or_else(|e| e.into_inner())
}

/// When the site was last built: every page's `Last-Modified` until it changes.
fn site_epoch() -> DateTime<Utc> {
    "2024-06-01T00:00:00Z".parse().unwrap_or_default()
}

impl FixtureSite {
    /// Starts the site on a loopback port.
    pub async fn start() -> FixtureSite {
        let api = MockApi::start().await;
        let start = site_epoch();
        let site = Arc::new(Mutex::new(Site {
            products: products(),
            articles: articles(),
            modified: BTreeMap::new(),
            requests: Vec::new(),
            conditional: 0,
            not_modified: 0,
        }));
        let base = api.uri();
        let s = site.clone();
        api.handle("GET", r"^/.*$", move |req| serve(&s, req, &base, start))
            .await;
        FixtureSite { api, site }
    }

    /// The site's base URL.
    pub fn uri(&self) -> String {
        self.api.uri()
    }

    /// The mock underneath.
    pub fn api(&self) -> &MockApi {
        &self.api
    }

    /// A config crawling the site (loopback allowed) with `products` and `articles`
    /// extraction streams.
    pub fn config(&self) -> Value {
        json!({
            "start_urls": [format!("{}/", self.uri())],
            "sitemap_urls": [format!("{}/sitemap_index.xml", self.uri())],
            "allow_private_networks": true,
            "exclude": ["/calendar/"],
            "max_depth": 4,
            "requests_per_second": 20,
            "concurrency": 4,
            "timeout_seconds": 1,
            "streams": [
                {"name": "products", "url_pattern": "/products/\\d+$",
                 "fields": {
                    "name": {"selector": "h1.title"},
                    "price": {"selector": ".price", "type": "number"},
                    "sku": {"selector": ".sku", "regex": "SKU: (\\S+)"},
                    "photo": {"selector": "img.photo", "attribute": "src", "type": "url"},
                    "tags": {"selector": "li.tag", "list": true}
                 }},
                {"name": "product_listings", "url_pattern": "/products\\?page=\\d+$",
                 "record_selector": "li.product", "next_page": "a.next",
                 "fields": {
                    "name": {"selector": "a.name"},
                    "link": {"selector": "a.name", "attribute": "href", "type": "url"},
                    "price": {"selector": ".price", "type": "number"}
                 }},
                {"name": "articles", "url_pattern": "/articles/[a-z0-9-]+$",
                 "fields": {
                    "headline": {"selector": "h1.headline"},
                    "published": {"selector": "time", "attribute": "datetime", "type": "date"},
                    "author": {"selector": ".author", "regex": "By (.+)"}
                 }}
            ]
        })
    }

    /// Changes a product's price and an article's text (their validators change).
    pub fn change(&self) -> (u32, String) {
        let mut s = lock(&self.site);
        s.products[1].price += 1.0;
        s.articles[0].body.push_str(" Updated.");
        // The site's own clock: a day after its latest change (never the wall clock, so a
        // recorded cassette is the same every time it is recorded).
        let now = s
            .modified
            .values()
            .max()
            .copied()
            .unwrap_or_else(site_epoch)
            + chrono::Duration::days(1);
        let id = s.products[1].id;
        let slug = s.articles[0].slug.clone();
        s.modified.insert(format!("/products/{id}"), now);
        s.modified.insert(format!("/articles/{slug}"), now);
        (id, slug)
    }

    /// Paths requested, in order, with when.
    pub fn requests(&self) -> Vec<(String, std::time::Instant)> {
        lock(&self.site).requests.clone()
    }

    /// Conditional requests received, and how many were answered 304.
    pub fn conditional(&self) -> (u64, u64) {
        let s = lock(&self.site);
        (s.conditional, s.not_modified)
    }
}

/// What one crawl gave: records per stream, the log messages at warn level and above, the
/// state it ends with, and how it ended.
#[derive(Debug)]
pub struct Crawled {
    /// Records (as JSON) per stream.
    pub records: HashMap<String, Vec<Value>>,
    /// Warnings and errors the crawler logged.
    pub warnings: Vec<String>,
    /// The state of the last checkpoint of each stream.
    pub state: State,
    /// How the read ended.
    pub result: intake::Result<()>,
}

impl Crawled {
    /// The records of `stream` (none if it emitted nothing).
    pub fn of(&self, stream: &str) -> &[Value] {
        self.records.get(stream).map_or(&[], Vec::as_slice)
    }
}

/// Runs one crawl of every discovered stream, as a sync would: full refresh or incremental,
/// from `state`.
///
/// # Panics
/// If discovery fails (the tests' configs are valid).
pub async fn crawl(config: &Value, state: &State, incremental: bool) -> Crawled {
    let catalog: Catalog = crate::WebSource::new()
        .discover(config)
        .await
        .unwrap_or_else(|e| panic!("discover: {e}"));
    let mut configured = catalog.configure_all();
    for s in &mut configured.streams {
        s.sync_mode = if incremental {
            SyncMode::Incremental
        } else {
            SyncMode::FullRefresh
        };
    }
    let (tx, mut rx) = tokio::sync::mpsc::channel(64);
    let reading = {
        let config = config.clone();
        let state = state.clone();
        tokio::spawn(async move {
            crate::WebSource::new()
                .read(
                    &config,
                    &configured,
                    &state,
                    &ReadOptions::default(),
                    EventSender::new(tx),
                )
                .await
        })
    };
    let mut crawled = Crawled {
        records: HashMap::new(),
        warnings: Vec::new(),
        state: State::new(),
        result: Ok(()),
    };
    while let Some(e) = rx.recv().await {
        match e {
            SourceEvent::Records(b) => {
                let rows = crawled.records.entry(b.stream.name.clone()).or_default();
                for r in b.records.iter() {
                    rows.push(r.to_value().unwrap_or(Value::Null));
                }
            }
            SourceEvent::Checkpoint(cp) => crawled.state.set_stream((*cp.stream).clone(), cp.state),
            SourceEvent::Log(LogLevel::Warn | LogLevel::Error, message) => {
                crawled.warnings.push(message)
            }
            _ => {}
        }
    }
    crawled.result = reading
        .await
        .unwrap_or_else(|e| Err(intake::Error::system(format!("the crawl panicked: {e}"))));
    crawled
}
