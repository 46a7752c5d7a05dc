//! The site's content: a shop's products and a blog's articles, and what changes between
//! crawls.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

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

pub(super) struct Site {
    pub(super) products: Vec<Product>,
    pub(super) articles: Vec<Article>,
    pub(super) modified: BTreeMap<String, DateTime<Utc>>,
    pub(super) requests: Vec<(String, std::time::Instant)>,
    pub(super) conditional: u64,
    pub(super) not_modified: u64,
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
