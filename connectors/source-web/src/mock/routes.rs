//! The HTTP routes: robots.txt, sitemaps, pages, conditional requests, redirects, faults.

use std::collections::BTreeMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use wiremock::{Request, ResponseTemplate};

use super::data::Site;
use super::pages::{gzip, layout, product_page};
use super::{CRAWL_DELAY, SLOW, lock};
use crate::urls::content_hash;

pub(super) fn serve(
    site: &Mutex<Site>,
    req: &Request,
    base: &str,
    start: DateTime<Utc>,
) -> ResponseTemplate {
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
