//! The site's HTML: layout, product and listing pages, articles, calendars, gzip.

use std::io::Write;

use super::data::Site;
use super::{Article, Product};

pub(super) fn layout(title: &str, description: &str, canonical: &str, body: &str) -> String {
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

pub(super) fn product_page(p: &Product) -> String {
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

pub(super) fn thousands(v: f64) -> String {
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

pub(super) const PER_PAGE: usize = 3;

impl Site {
    pub(super) fn listing(&self, page: usize) -> String {
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

    pub(super) fn home(&self) -> String {
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

    pub(super) fn article_page(a: &Article) -> String {
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

    pub(super) fn articles(&self) -> String {
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

    pub(super) fn calendar(month: &str) -> String {
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

pub(super) fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let _ = enc.write_all(bytes);
    enc.finish().unwrap_or_default()
}
