//! The fault matrix for the web source: each fault injected into the fixture site while it is
//! crawled ends in every page's records exactly once, in a page skipped with a warning and
//! asked for again next sync, or in records left out with a warning — never a panic, a hang,
//! a half-read page taken as whole, or a page silently forgotten.

use std::time::Duration;

use intake::State;
use intake::testing::Fault;
use intake_source_web::mock::{self, Crawled, FixtureSite, products};
use serde_json::{Value, json};

const PRODUCT_PAGE: &str = r"^/products/\d+$";

/// The product ids whose pages gave a record, sorted, checking each came once.
fn product_ids(c: &Crawled) -> Vec<u32> {
    let mut ids: Vec<u32> = c
        .of("products")
        .iter()
        .map(|r| {
            let url = r["url"].as_str().unwrap();
            url.rsplit('/').next().unwrap().parse().unwrap()
        })
        .collect();
    let n = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), n, "each product page once: {ids:?}");
    ids
}

fn all_products() -> Vec<u32> {
    products().iter().map(|p| p.id).collect()
}

/// The fixture site's config with a 5 s timeout: the 1 s of the site's own tests is too tight
/// when the whole workspace's tests share two cores.
fn config(site: &FixtureSite) -> Value {
    let mut c = site.config();
    c["timeout_seconds"] = json!(5);
    c
}

/// An answer past that timeout.
const SLOWER: Duration = Duration::from_secs(8);

/// A crawl that must end well.
async fn crawl(config: &Value, state: &State, incremental: bool) -> Crawled {
    let c = tokio::time::timeout(
        Duration::from_secs(120),
        mock::crawl(config, state, incremental),
    )
    .await
    .expect("the crawl hung");
    if let Err(e) = &c.result {
        panic!("the crawl failed: {}", e.chain());
    }
    c
}

fn warned<'a>(c: &'a Crawled, needle: &str) -> Vec<&'a String> {
    c.warnings.iter().filter(|w| w.contains(needle)).collect()
}

/// Every product's record is complete (the page was read whole).
fn assert_complete(c: &Crawled) {
    for (r, p) in c.of("products").iter().zip(sorted_products(c)) {
        assert_eq!(r["price"], json!(p.price), "{r}");
        assert!(r["name"].is_string() && r["sku"].is_string(), "{r}");
    }
}

fn sorted_products(c: &Crawled) -> Vec<mock::Product> {
    let by_id = products();
    c.of("products")
        .iter()
        .map(|r| {
            let id: u32 = r["url"]
                .as_str()
                .unwrap()
                .rsplit('/')
                .next()
                .unwrap()
                .parse()
                .unwrap();
            by_id.iter().find(|p| p.id == id).unwrap().clone()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_storm_on_pages_is_waited_out() {
    let site = FixtureSite::start().await;
    let fault = Fault::TooManyRequests {
        retry_after: Some("1".into()),
    };
    let _g = site.api().inject_at(PRODUCT_PAGE, fault, 4);
    let c = crawl(&config(&site), &State::new(), false).await;
    assert_eq!(product_ids(&c), all_products());
    assert_complete(&c);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_5xx_burst_is_retried() {
    let site = FixtureSite::start().await;
    let _g = site.api().inject_at(PRODUCT_PAGE, Fault::Status(503), 3);
    let c = crawl(&config(&site), &State::new(), false).await;
    assert_eq!(product_ids(&c), all_products());
    assert_complete(&c);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_failing_past_its_retries_is_reported_and_asked_again() {
    let site = FixtureSite::start().await;
    let _g = site
        .api()
        .inject_at("^/products/103$", Fault::Status(503), 3);
    let first = crawl(&config(&site), &State::new(), true).await;
    let mut expected = all_products();
    expected.retain(|id| *id != 103);
    assert_eq!(product_ids(&first), expected);
    let page = first
        .of("pages")
        .iter()
        .find(|p| p["url"].as_str().unwrap().ends_with("/products/103"))
        .expect("the failing page is in the pages stream");
    assert_eq!(page["status"], 503);
    // Next sync: everything else is unchanged (304), the failed page is read.
    let second = crawl(&config(&site), &first.state, true).await;
    assert_eq!(product_ids(&second), vec![103]);
    assert_complete(&second);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_slower_than_the_timeout_is_skipped_then_fetched_next_sync() {
    let site = FixtureSite::start().await;
    // Slower than the config's 5 s timeout.
    let _g = site
        .api()
        .inject_at("^/products/105$", Fault::Delay(SLOWER), 1);
    let first = crawl(&config(&site), &State::new(), true).await;
    assert!(!product_ids(&first).contains(&105));
    assert_eq!(product_ids(&first).len(), 7);
    let said = warned(&first, "/products/105 skipped: no answer within 5s");
    assert_eq!(said.len(), 1, "{:?}", first.warnings);
    // The page was linked only from pages that answer 304 next time; it is still asked for.
    let second = crawl(&config(&site), &first.state, true).await;
    assert_eq!(product_ids(&second), vec![105]);
    assert_complete(&second);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_cut_mid_page_is_retried_never_read_in_part() {
    let site = FixtureSite::start().await;
    // Half a product page: a parser would accept it, so only the transfer says it broke.
    let cut = Fault::Cut {
        content_type: "text/html; charset=utf-8".into(),
        body: r#"<html><head><title>Espresso</title></head><body><h1 class="title">Espr"#.into(),
    };
    let _g = site.api().inject_at(PRODUCT_PAGE, cut.clone(), 4);
    let c = crawl(&config(&site), &State::new(), false).await;
    assert_eq!(product_ids(&c), all_products());
    assert_complete(&c);
    drop(_g);

    // Cut on every attempt: the page is skipped with a warning, never emitted from a part.
    let _g = site.api().inject_at("^/products/102$", cut, 3);
    let c = crawl(&config(&site), &State::new(), false).await;
    assert!(!product_ids(&c).contains(&102));
    let said: Vec<_> = warned(&c, "/products/102 skipped: ")
        .into_iter()
        .filter(|w| w.ends_with("after 3 attempts"))
        .collect();
    assert_eq!(said.len(), 1, "{:?}", c.warnings);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_html_error_page_with_status_200_leaves_required_records_out() {
    let site = FixtureSite::start().await;
    let mut config = config(&site);
    config["streams"][0]["fields"]["name"]["required"] = json!(true);
    let _g = site.api().inject_at("^/products/104$", Fault::Html, 1);
    let first = crawl(&config, &State::new(), true).await;
    assert!(!product_ids(&first).contains(&104), "no half-empty record");
    let said = warned(
        &first,
        "/products/104: 1 products record(s) left out: the required field \"name\"",
    );
    assert_eq!(said.len(), 1, "{:?}", first.warnings);
    // The real page is back: its content differs, so the next sync emits it.
    let second = crawl(&config, &first.state, true).await;
    assert_eq!(product_ids(&second), vec![104]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_drift_reads_null_or_is_left_out_when_required() {
    let site = FixtureSite::start().await;
    // A redesign: the price moved to another class and says "Call us"; a new element.
    let drifted = Fault::Raw {
        status: 200,
        content_type: "text/html".into(),
        body: r#"<html><body><h1 class="title">Milk Frother</h1><div class="cost">Call us</div>
<p class="sku">SKU: CS-103</p><p class="badge">New!</p></body></html>"#
            .into(),
    };
    let _g = site.api().inject_at("^/products/103$", drifted.clone(), 1);
    let c = crawl(&config(&site), &State::new(), false).await;
    assert_eq!(product_ids(&c), all_products());
    let r = c
        .of("products")
        .iter()
        .find(|r| r["url"].as_str().unwrap().ends_with("/103"))
        .unwrap();
    assert_eq!(r["name"], "Milk Frother");
    assert_eq!(r["sku"], "CS-103");
    assert_eq!(r["price"], Value::Null, "a field not found reads null");
    drop(_g);

    let mut config = config(&site);
    config["streams"][0]["fields"]["price"]["required"] = json!(true);
    let _g = site.api().inject_at("^/products/103$", drifted, 1);
    let c = crawl(&config, &State::new(), false).await;
    assert!(!product_ids(&c).contains(&103));
    assert_eq!(
        warned(&c, "the required field \"price\"").len(),
        1,
        "{:?}",
        c.warnings
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_listing_with_a_next_link_is_followed_and_a_self_link_read_once() {
    let site = FixtureSite::start().await;
    // The first listing page answers empty, its "next" pointing at a page nothing else links.
    let empty = Fault::Raw {
        status: 200,
        content_type: "text/html".into(),
        body: r#"<html><body><ul class="products"></ul>
<a class="next" href="/products?page=2&amp;via=empty">Next</a></body></html>"#
            .into(),
    };
    let _g = site.api().inject_at("^/products$", empty, 1);
    let c = crawl(&config(&site), &State::new(), false).await;
    let via: Vec<&Value> = c
        .of("pages")
        .iter()
        .filter(|r| r["url"].as_str().unwrap().contains("via=empty"))
        .collect();
    assert_eq!(via.len(), 1, "the next link of an empty page was followed");
    assert_eq!(via[0]["status"], 200);
    drop(_g);

    // A "next" link to the page itself (a cursor that repeats): read once, the crawl ends.
    let repeat = Fault::Raw {
        status: 200,
        content_type: "text/html".into(),
        body: r#"<html><body><ul class="products"><li class="product"><a class="name" href="/products/101">A</a></li></ul>
<a class="next" href="">Next</a></body></html>"#
            .into(),
    };
    let _g = site.api().inject_at("^/products$", repeat, 1_000);
    let c = crawl(&config(&site), &State::new(), false).await;
    let mut pages: Vec<&str> = c
        .of("pages")
        .iter()
        .map(|p| p["url"].as_str().unwrap())
        .collect();
    let n = pages.len();
    pages.sort_unstable();
    pages.dedup();
    assert_eq!(pages.len(), n, "each URL once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_robots_txt_disallows_the_host_and_says_so() {
    for fault in [Fault::Status(503), Fault::Delay(SLOWER)] {
        let site = FixtureSite::start().await;
        let _g = site.api().inject_at("^/robots.txt$", fault.clone(), 3);
        let c = crawl(&config(&site), &State::new(), false).await;
        assert!(c.of("products").is_empty(), "{fault:?}: nothing crawled");
        let said = warned(&c, "RFC 9309");
        assert_eq!(said.len(), 1, "{fault:?}: {:?}", c.warnings);
        assert!(
            site.requests().iter().all(|(p, _)| p == "/robots.txt"),
            "{fault:?}: only robots.txt was asked for"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_sitemap_is_reported_and_links_still_lead_to_every_page() {
    let site = FixtureSite::start().await;
    // A sitemap cut on every attempt, and another that arrives whole but stops mid-XML.
    let cut = Fault::Cut {
        content_type: "application/xml".into(),
        body: r#"<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><url><loc>"#.into(),
    };
    let _a = site.api().inject_at("^/sitemap-articles.xml$", cut, 3);
    let base = site.uri();
    let half = Fault::Raw {
        status: 200,
        content_type: "application/xml".into(),
        body: format!(
            r#"<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><sitemap><loc>{base}/sitemap-articles.xml</loc></sitemap><sitemap><lo"#
        ),
    };
    let _b = site.api().inject_at("^/sitemap_index.xml$", half, 1);
    let c = crawl(&config(&site), &State::new(), false).await;
    assert_eq!(
        warned(&c, "sitemap-articles.xml").len(),
        1,
        "{:?}",
        c.warnings
    );
    // The products' sitemap was in the half never read: links lead to them anyway.
    assert_eq!(product_ids(&c), all_products());
    assert_eq!(c.of("articles").len(), 4, "found through links");
}
