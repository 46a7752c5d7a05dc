//! Pages, robots.txt files and sitemaps as the web may serve them.
#![no_main]

use std::sync::OnceLock;

use intake_source_web::extract::{Rules, analyze};
use intake_source_web::robots::Robots;
use intake_source_web::{StreamRule, sitemap};
use libfuzzer_sys::fuzz_target;

fn rules() -> &'static [Rules] {
    static RULES: OnceLock<Vec<Rules>> = OnceLock::new();
    RULES.get_or_init(|| {
        let rule: StreamRule = serde_json::from_value(serde_json::json!({
            "name": "items", "url_pattern": ".", "record_selector": "li, tr", "next_page": "a[rel=next]",
            "fields": {
                "name": {"selector": "h1, .name", "required": true},
                "price": {"selector": ".price", "type": "number"},
                "when": {"selector": "time", "attribute": "datetime", "type": "date"},
                "link": {"selector": "a", "attribute": "href", "type": "url", "list": true},
                "sku": {"selector": ".sku", "regex": "SKU: (\\S+)"}
            }
        }))
        .expect("the rule");
        vec![Rules::compile(&rule).expect("compiles")]
    })
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let page = url::Url::parse("https://shop.example/a/b?c=d").expect("a URL");
    let analysis = analyze(&text, &page, rules());
    assert!(analysis.info.text.len() <= intake_source_web::extract::MAX_TEXT_CHARS);
    let robots = Robots::parse(&text, "intake-web");
    let _ = robots.allows("/a/b?c=d");
    let _ = sitemap::parse(&text);
    if let Ok(xml) = sitemap::gunzip(data, 1 << 20) {
        assert!(xml.len() <= 1 << 20, "gunzip stops at its limit");
    }
});
