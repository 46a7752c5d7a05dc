//! Hostile input, as property tests in the normal suite: any bytes as HTML, robots.txt or a
//! sitemap, and any string as a URL, parse without a panic, within bounds.

use intake_source_web::extract::{Rules, analyze};
use intake_source_web::robots::Robots;
use intake_source_web::urls::{normalize, resolve};
use intake_source_web::{FieldRule, FieldType, StreamRule, sitemap};
use proptest::prelude::*;
use url::Url;

fn rules() -> Vec<Rules> {
    let field = |selector: &str, kind| FieldRule {
        selector: selector.into(),
        attribute: None,
        regex: Some(r"(\d+)".into()),
        kind,
        list: false,
        required: kind == FieldType::Number,
    };
    vec![
        Rules::compile(&StreamRule {
            name: "any".into(),
            url_pattern: ".".into(),
            record_selector: Some("div, li".into()),
            next_page: Some("a".into()),
            fields: [
                ("n".to_string(), field("span", FieldType::Number)),
                ("d".to_string(), field("time", FieldType::Date)),
                ("u".to_string(), field("a", FieldType::Url)),
            ]
            .into_iter()
            .collect(),
        })
        .unwrap(),
    ]
}

/// Tag soup: fragments of markup in any order, with any text between.
fn soup() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("<div>".to_string()),
        Just("</div>".to_string()),
        Just("<li><span>".to_string()),
        Just("<a href=\"".to_string()),
        Just("\">".to_string()),
        Just("<time>2024-".to_string()),
        Just("<!--".to_string()),
        Just("<script>".to_string()),
        Just("&amp;&#x1F335;&bogus;".to_string()),
        Just("<title>".to_string()),
        Just("<meta name=description content=".to_string()),
        "[^<>]{0,20}",
        any::<String>(),
    ];
    prop::collection::vec(piece, 0..60).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn any_html_is_read_without_a_panic(html in soup()) {
        let page = Url::parse("https://example.com/a/b?c=1").unwrap();
        let a = analyze(&html, &page, &rules());
        prop_assert!(a.info.text.len() <= intake_source_web::extract::MAX_TEXT_CHARS);
        for link in &a.info.links {
            prop_assert!(matches!(link.scheme(), "http" | "https"));
            prop_assert!(link.fragment().is_none());
        }
    }

    #[test]
    fn any_robots_txt_parses(text in any::<String>(), path in "/[a-z/*$?=]{0,20}") {
        let r = Robots::parse(&text, "intake-web/1.0");
        let _ = r.allows(&path);
        prop_assert!(r.crawl_delay.is_none_or(|d| d.as_secs() <= 60));
    }

    #[test]
    fn any_sitemap_parses(text in any::<String>(), bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = sitemap::parse(&text);
        let mut gz = vec![0x1f, 0x8b];
        gz.extend(bytes);
        // Not gzip inside: an error, never a panic.
        let _ = sitemap::gunzip(&gz, 1 << 20);
    }

    #[test]
    fn normalizing_is_idempotent(link in "[a-zA-Z0-9/?&=#.:%_-]{0,40}") {
        let base = Url::parse("https://Example.com:443/dir/page").unwrap();
        if let Some(u) = resolve(&base, &link) {
            prop_assert_eq!(normalize(&u), Some(u.clone()));
        }
    }
}
