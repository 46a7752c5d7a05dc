//! A local fixture website on loopback: a small shop with products, paginated listings,
//! articles, a robots.txt with disallow rules and a crawl delay, a sitemap index pointing at a
//! gzipped sitemap, and the traps a crawler meets: duplicate URLs (fragments, parameter order,
//! tracking parameters), an off-site redirect, a 404, a slow page, a PDF, an endless calendar,
//! and pages that change between two runs. Every page has an ETag and a Last-Modified and
//! answers conditional requests with 304.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use intake::source::{EventSender, LogLevel};
use intake::testing::MockApi;
use intake::{Catalog, ReadOptions, Source, SourceEvent, State, SyncMode};
use serde_json::{Value, json};
use wiremock::{Request, ResponseTemplate};

use crate::urls::content_hash;

/// The site's crawl delay for intake's crawler (seconds), from its robots.txt.
pub const CRAWL_DELAY: f64 = 0.2;
/// How long the slow page takes to answer.
pub const SLOW: Duration = Duration::from_secs(3);

/// A product of the shop.
#[derive(Debug, Clone)]
pub struct Product {
    /// Its id (in its URL).
    pub id: u32,
    /// Its name (may hold entities once rendered).
    pub name: String,
    /// Its price.
    pub price: f64,
    /// Its SKU.
    pub sku: String,
    /// Its tags.
    pub tags: Vec<String>,
}

/// An article.
#[derive(Debug, Clone)]
pub struct Article {
    /// Its slug (in its URL).
    pub slug: String,
    /// Its title.
    pub title: String,
    /// Publication date.
    pub published: String,
    /// Its author.
    pub author: String,
    /// Its text.
    pub body: String,
}

struct Site {
    products: Vec<Product>,
    articles: Vec<Article>,
    modified: BTreeMap<String, DateTime<Utc>>,
    requests: Vec<(String, std::time::Instant)>,
    conditional: u64,
    not_modified: u64,
}

fn lock(s: &Mutex<Site>) -> std::sync::MutexGuard<'_, Site> {
    s.lock().unwrap_or_else(|e| e.into_inner())
}

fn layout(title: &str, description: &str, canonical: &str, body: &str) -> String {
    // Deliberately imperfect markup: unclosed <p> and <li>, an unclosed <b>, entities.
    format!(
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title} &middot; Caf&eacute; Shop</title>
<meta name="description" content="{description}">
<link rel="canonical" href="{canonical}">
<script>window.analytics = "<a href='/never-follow-me'>";</script>
<style>.x {{ color: red }}</style></head>
<body><nav><a href="/">Home</a> | <a href="/products?page=1">Products</a> | <a href="/articles/">Articles</a>
| <a href="/about#team">About</a> | <a href="/cart" rel="nofollow">Cart</a></nav>
<main>{body}</main>
<footer><p>&copy; 2024 Caf&eacute; Shop <b>All rights reserved<p>Follow us</footer></body></html>"#
    )
}

fn product_page(p: &Product) -> String {
    let tags: String = p
        .tags
        .iter()
        .map(|t| format!("<li class=\"tag\">{t}"))
        .collect();
    layout(
        &p.name,
        &format!("Buy {} for ${:.2}", p.name, p.price),
        &format!("/products/{}", p.id),
        &format!(
            r#"<div class="product" data-id="{id}"><h1 class="title">{name}</h1>
<span class="price">${price}</span><div class="sku">SKU: {sku}</div>
<img class="photo" src="/img/{id}.png" alt="{name}"><ul class="tags">{tags}</ul>
<p>Ships in 2&ndash;3 days. <a href="/products?page=1">Back to products</a>
<a href="/products/{id}?utm_source=newsletter">Share</a></div>"#,
            id = p.id,
            name = p.name,
            price = thousands(p.price),
            sku = p.sku,
        ),
    )
}

fn thousands(v: f64) -> String {
    let whole = v.trunc() as u64;
    let cents = ((v - v.trunc()) * 100.0).round() as u64;
    let digits = whole.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    format!("{out}.{cents:02}")
}

const PER_PAGE: usize = 3;

impl Site {
    fn listing(&self, page: usize) -> String {
        let pages = self.products.len().div_ceil(PER_PAGE).max(1);
        let items: String = self
            .products
            .iter()
            .skip((page - 1) * PER_PAGE)
            .take(PER_PAGE)
            .map(|p| {
                format!(
                    r#"<li class="product"><a class="name" href="/products/{}">{}</a> <span class="price">${}</span>"#,
                    p.id,
                    p.name,
                    thousands(p.price)
                )
            })
            .collect();
        let next = if page < pages {
            format!(
                r#"<a class="next" href="/products?page={}">Next &raquo;</a>"#,
                page + 1
            )
        } else {
            String::new()
        };
        layout(
            &format!("Products, page {page}"),
            "All our products",
            &format!("/products?page={page}"),
            &format!("<ul class=\"products\">{items}</ul>{next}"),
        )
    }

    fn home(&self) -> String {
        layout(
            "Welcome",
            "The shop's home page",
            "/",
            r#"<h1>Welcome</h1><p>See <a href="/products?page=1#top">our products</a>,
<a href="/products?sort=asc&page=1">sorted</a>, <a href="/products?page=1&sort=asc">sorted again</a>,
<a href="/articles/">articles</a>, <a href="/about">about us</a>.
<a href="/go/partner">Our partner</a> <a href="/missing">Old page</a> <a href="/slow">Slow page</a>
<a href="/files/catalog.pdf">Catalog (PDF)</a> <a href="/private/admin">Admin</a>
<a href="/calendar/2024-01">Events</a> <a href="mailto:shop@example.com">Mail</a>
<a href="javascript:void(0)">Menu</a>"#,
        )
    }

    fn article_page(a: &Article) -> String {
        layout(
            &a.title,
            &a.body.chars().take(60).collect::<String>(),
            &format!("/articles/{}", a.slug),
            &format!(
                r#"<article><h1 class="headline">{}</h1><time datetime="{}">{}</time>
<span class="author">By {}</span><div class="body"><p>{}</div></article>"#,
                a.title, a.published, a.published, a.author, a.body
            ),
        )
    }

    fn articles(&self) -> String {
        let items: String = self
            .articles
            .iter()
            .map(|a| format!(r#"<li><a href="/articles/{}">{}</a>"#, a.slug, a.title))
            .collect();
        layout(
            "Articles",
            "Articles",
            "/articles/",
            &format!("<ul>{items}</ul>"),
        )
    }

    fn calendar(month: &str) -> String {
        // An endless calendar: every month links to the next one.
        let (y, m) = month.split_once('-').unwrap_or(("2024", "01"));
        let (y, m): (u32, u32) = (y.parse().unwrap_or(2024), m.parse().unwrap_or(1));
        let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
        layout(
            &format!("Events {month}"),
            "Events",
            &format!("/calendar/{month}"),
            &format!(r#"<p>No events. <a href="/calendar/{ny}-{nm:02}">Next month</a>"#),
        )
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let _ = enc.write_all(bytes);
    enc.finish().unwrap_or_default()
}

/// The fixture site.
pub struct FixtureSite {
    api: MockApi,
    site: Arc<Mutex<Site>>,
}

/// The site's products when it starts.
pub fn products() -> Vec<Product> {
    let names = [
        "Espresso Machine &amp; Grinder",
        "Caf&eacute; Cup",
        "Milk Frother",
        "Pour-Over Kettle",
        "Burr Grinder Pro",
        "Cold Brew Jar",
        "Barista Apron",
        "Beans, 1 kg",
    ];
    names
        .iter()
        .enumerate()
        .map(|(i, n)| Product {
            id: 101 + i as u32,
            name: n.to_string(),
            price: [1299.0, 12.5, 49.99, 75.0, 249.0, 19.9, 35.0, 22.4][i],
            sku: format!("CS-{:03}", 101 + i),
            tags: if i % 2 == 0 {
                vec!["coffee".into(), "new".into()]
            } else {
                vec!["coffee".into()]
            },
        })
        .collect()
}

/// The site's articles when it starts.
pub fn articles() -> Vec<Article> {
    (0..4)
        .map(|i| Article {
            slug: format!("brewing-guide-{}", i + 1),
            title: format!("Brewing guide, part {}", i + 1),
            published: format!("2024-0{}-15", i + 1),
            author: ["Ada", "Grace", "Alan", "Edsger"][i].into(),
            body: format!("How to brew coffee, lesson {}. Grind fresh.", i + 1),
        })
        .collect()
}

impl FixtureSite {
    /// Starts the site on a loopback port.
    pub async fn start() -> FixtureSite {
        let api = MockApi::start().await;
        let start: DateTime<Utc> = "2024-06-01T00:00:00Z".parse().unwrap_or_default();
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
        let now = Utc::now();
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

fn serve(site: &Mutex<Site>, req: &Request, base: &str, start: DateTime<Utc>) -> ResponseTemplate {
    let path = req.url.path().to_string();
    let query: BTreeMap<String, String> = req.url.query_pairs().into_owned().collect();
    let mut s = lock(site);
    let full = match req.url.query() {
        Some(q) => format!("{path}?{q}"),
        None => path.clone(),
    };
    s.requests.push((full, std::time::Instant::now()));
    let html = |body: String| {
        (
            200u16,
            "text/html; charset=utf-8".to_string(),
            body.into_bytes(),
        )
    };
    let (status, content_type, body) = match path.as_str() {
        "/robots.txt" => (
            200,
            "text/plain".into(),
            format!(
                "User-agent: *\nDisallow: /\n\nUser-agent: intake-web\nDisallow: /private/\nDisallow: /*?print=1$\nCrawl-delay: {CRAWL_DELAY}\n\nSitemap: {base}/sitemap_index.xml\n"
            )
            .into_bytes(),
        ),
        "/sitemap_index.xml" => (
            200,
            "application/xml".into(),
            format!(
                r#"<?xml version="1.0" encoding="UTF-8"?>
<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
<sitemap><loc>{base}/sitemap-products.xml.gz</loc></sitemap>
<sitemap><loc>{base}/sitemap-articles.xml</loc></sitemap></sitemapindex>"#
            )
            .into_bytes(),
        ),
        "/sitemap-products.xml.gz" => {
            let urls: String = s
                .products
                .iter()
                .map(|p| {
                    let at = s.modified.get(&format!("/products/{}", p.id)).copied().unwrap_or(start);
                    format!(
                        "<url><loc>{base}/products/{}</loc><lastmod>{}</lastmod></url>",
                        p.id,
                        at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                    )
                })
                .collect();
            (
                200,
                "application/gzip".into(),
                gzip(format!(r#"<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>"#).as_bytes()),
            )
        }
        "/sitemap-articles.xml" => {
            let urls: String = s
                .articles
                .iter()
                .map(|a| format!("<url><loc>{base}/articles/{}</loc></url>", a.slug))
                .collect();
            (
                200,
                "application/xml".into(),
                format!(r#"<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>"#).into_bytes(),
            )
        }
        "/" => html(s.home()),
        "/products" => {
            let page: usize = query.get("page").and_then(|p| p.parse().ok()).unwrap_or(1).max(1);
            html(s.listing(page))
        }
        "/articles/" => html(s.articles()),
        "/about" => html(layout("About", "Who we are", "/about", "<h1 id=\"team\">Our team</h1><p>Ada, Grace.")),
        "/go/partner" => {
            return ResponseTemplate::new(302).insert_header("location", "http://partner.example.org/welcome");
        }
        "/slow" => {
            return ResponseTemplate::new(200)
                .set_body_raw(layout("Slow", "Slow", "/slow", "<p>Finally."), "text/html")
                .set_delay(SLOW);
        }
        "/files/catalog.pdf" => (200, "application/pdf".into(), b"%PDF-1.4 fake catalog".to_vec()),
        p if p.starts_with("/products/") => {
            let id: u32 = p["/products/".len()..].parse().unwrap_or(0);
            match s.products.iter().find(|x| x.id == id) {
                Some(prod) => html(product_page(prod)),
                None => (404, "text/html".into(), b"<h1>Not found</h1>".to_vec()),
            }
        }
        p if p.starts_with("/articles/") => {
            let slug = &p["/articles/".len()..];
            match s.articles.iter().find(|a| a.slug == slug) {
                Some(a) => html(Site::article_page(a)),
                None => (404, "text/html".into(), b"<h1>Not found</h1>".to_vec()),
            }
        }
        p if p.starts_with("/calendar/") => html(Site::calendar(&p["/calendar/".len()..])),
        p if p.starts_with("/private/") => html(layout("Admin", "Admin", p, "<p>Secret.")),
        _ => (404, "text/html".into(), b"<html><body><h1>404 Not Found</h1></body></html>".to_vec()),
    };
    let modified = s.modified.get(&path).copied().unwrap_or(start);
    let etag = format!("\"{}\"", content_hash(&body));
    let last_modified = modified.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
    if status == 200 {
        let inm = req
            .headers
            .get("if-none-match")
            .and_then(|v| v.to_str().ok());
        let ims = req
            .headers
            .get("if-modified-since")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| DateTime::parse_from_rfc2822(v).ok());
        if inm.is_some() || ims.is_some() {
            s.conditional += 1;
        }
        let unchanged = match inm {
            Some(tag) => tag == etag,
            None => ims.is_some_and(|t| modified.timestamp() <= t.timestamp()),
        };
        if unchanged {
            s.not_modified += 1;
            return ResponseTemplate::new(304)
                .insert_header("etag", etag.as_str())
                .insert_header("last-modified", last_modified.as_str());
        }
    }
    ResponseTemplate::new(status)
        .set_body_raw(body, content_type.as_str())
        .insert_header("etag", etag.as_str())
        .insert_header("last-modified", last_modified.as_str())
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
