//! The web source against a fixture site on loopback: the acceptance suite, extraction rules
//! field by field, robots.txt and pacing, sitemaps, conditional re-crawls and the safety rules.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use intake::testing::{acceptance, checks};
use intake::{Source, State};
use intake_source_web::WebSource;
use intake_source_web::mock::{self, CRAWL_DELAY, FixtureSite};
use serde_json::{Value, json};

/// One crawl that must succeed: records per stream, and the state it ends with.
async fn crawl(
    config: &Value,
    state: &State,
    incremental: bool,
) -> (HashMap<String, Vec<Value>>, State) {
    let c = mock::crawl(config, state, incremental).await;
    if let Err(e) = c.result {
        panic!("the crawl failed: {}", e.chain());
    }
    (c.records, c.state)
}

fn urls(records: &[Value], base: &str) -> Vec<String> {
    let mut u: Vec<String> = records
        .iter()
        .map(|r| {
            r["url"]
                .as_str()
                .unwrap()
                .trim_start_matches(base)
                .to_string()
        })
        .collect();
    u.sort();
    u
}

/// The suite every web test runs, live or replayed: every page the crawl reaches and every
/// record the rules extract, a change between reads (a product's price and an article's text;
/// their validators change), and pacing, per-host concurrency and resumption left to the
/// tests that check them.
fn suite(site: &Arc<FixtureSite>, config: Value) -> intake::testing::Acceptance<'static> {
    let changed = site.clone();
    acceptance(WebSource::new(), config)
        // Every page the crawl reaches: home, about, the listings and product pages, the
        // articles and their index, the partner redirect and the 404 (the slow page is
        // abandoned at the timeout, the PDF skipped by its type). A change to the fixture or
        // to the crawl's scope changes it on purpose.
        .expect_records("pages", 21)
        .expect_records("products", 8)
        .expect_records("articles", 4)
        .expect_records("product_listings", 8)
        .change_between_reads(move || {
            let (id, slug) = changed.change();
            let base = changed.uri();
            let keys = vec![
                ("pages".to_string(), json!(format!("{base}/products/{id}"))),
                (
                    "products".to_string(),
                    json!([format!("{base}/products/{id}"), 0]),
                ),
                (
                    "articles".to_string(),
                    json!([format!("{base}/articles/{slug}"), 0]),
                ),
            ];
            async move { keys }
        })
        .skip(
            checks::RATE_LIMIT,
            "the crawler paces each host itself: robots_rules_are_obeyed_and_the_host_is_paced",
        )
        .skip(
            checks::CONCURRENCY,
            "per-host concurrency: two_hosts_crawl_in_parallel_each_at_its_own_pace",
        )
        .skip(
            checks::RESUME,
            "an interrupted full-refresh crawl starts over (its frontier is kept only for incremental crawls); nothing is lost, pages are fetched again",
        )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_acceptance_suite_passes_against_the_fixture_site() {
    let site = Arc::new(FixtureSite::start().await);
    suite(&site, site.config())
        .mock(site.api())
        .run()
        .await
        .assert_all_passed();
}

/// The shipped cassette (`tests/cassettes/site`, recorded from the fixture site standing in
/// for a real one: robots.txt, a sitemap index, a gzipped sitemap, HTML pages, conditional
/// re-crawls answered 304) replays under the whole acceptance suite. The replay points the
/// recorded origin at itself in every answer (the sitemaps' absolute `<loc>`s included), so
/// the crawl never leaves it. The slow page is left out of the crawl: an exchange the client
/// abandoned (its timeout) is not in a cassette, and a replay asked for it answers 404 and
/// fails the `cassette` check naming it. To record it again:
/// `INTAKE_RECORD=1 cargo test -p intake-source-web --test web the_shipped_cassette`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shipped_cassette_replays_under_the_acceptance_suite() {
    let site = Arc::new(FixtureSite::start().await);
    let mut config = site.config();
    config["exclude"] = json!(["/calendar/", "/slow"]);
    suite(&site, config)
        .cassette(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/cassettes/site"))
        .run()
        .await
        .assert_all_passed();
}

#[tokio::test]
async fn extraction_rules_are_applied_field_by_field() {
    let site = FixtureSite::start().await;
    let (records, _) = crawl(&site.config(), &State::new(), false).await;
    let base = site.uri();
    let mut products = records["products"].clone();
    products.sort_by_key(|p| p["url"].as_str().unwrap().to_string());
    assert_eq!(products.len(), 8);
    let first = &products[0];
    assert_eq!(first["url"], format!("{base}/products/101"));
    assert_eq!(
        first["name"], "Espresso Machine & Grinder",
        "entities decoded"
    );
    assert_eq!(first["price"], json!(1299.0), "$1,299.00 read as a number");
    assert_eq!(first["sku"], "CS-101", "the regex's group");
    assert_eq!(
        first["photo"],
        format!("{base}/img/101.png"),
        "resolved against the page"
    );
    assert_eq!(first["tags"], json!(["coffee", "new"]));
    assert_eq!(products[1]["name"], "Café Cup");
    assert_eq!(products[1]["tags"], json!(["coffee"]));
    assert!(
        products
            .iter()
            .all(|p| p["_index"] == 0 && p["fetched_at"].is_string())
    );

    // A record per listed product across the three listing pages (followed by "next").
    let listings = &records["product_listings"];
    assert_eq!(listings.len(), 8);
    assert!(
        listings
            .iter()
            .any(|l| l["name"] == "Beans, 1 kg" && l["price"] == json!(22.4))
    );
    assert!(listings.iter().all(|l| {
        l["link"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{base}/products/"))
    }));

    let mut articles = records["articles"].clone();
    articles.sort_by_key(|a| a["url"].as_str().unwrap().to_string());
    assert_eq!(articles.len(), 4);
    assert_eq!(articles[0]["headline"], "Brewing guide, part 1");
    assert_eq!(articles[0]["published"], "2024-01-15");
    assert_eq!(articles[0]["author"], "Ada");
}

#[tokio::test]
async fn the_pages_stream_describes_each_page_once_and_skips_what_it_must() {
    let site = FixtureSite::start().await;
    let (records, _) = crawl(&site.config(), &State::new(), false).await;
    let base = site.uri();
    let pages = &records["pages"];
    let got = urls(pages, &base);
    let unique: std::collections::BTreeSet<&String> = got.iter().collect();
    assert_eq!(unique.len(), got.len(), "each URL once: {got:?}");
    // Fragments, parameter order and tracking parameters collapse onto one URL.
    assert!(got.contains(&"/about".to_string()));
    assert!(got.contains(&"/products?page=1".to_string()));
    assert!(got.contains(&"/products?page=1&sort=asc".to_string()));
    assert!(
        !got.iter()
            .any(|u| u.contains("utm_source") || u.contains('#'))
    );
    // Robots-disallowed, non-HTML, too slow, excluded and nofollow pages are not there.
    for absent in [
        "/private/admin",
        "/files/catalog.pdf",
        "/slow",
        "/cart",
        "/never-follow-me",
    ] {
        assert!(!got.contains(&absent.to_string()), "{absent} in {got:?}");
    }
    assert!(!got.iter().any(|u| u.starts_with("/calendar/")));
    let by_url: HashMap<String, &Value> = pages
        .iter()
        .map(|p| {
            (
                p["url"]
                    .as_str()
                    .unwrap()
                    .trim_start_matches(&base)
                    .to_string(),
                p,
            )
        })
        .collect();
    assert_eq!(by_url["/missing"]["status"], 404);
    let partner = by_url["/go/partner"];
    assert_eq!(
        partner["status"], 302,
        "the off-site redirect is not followed"
    );
    assert_eq!(partner["final_url"], "http://partner.example.org/welcome");
    let home = by_url["/"];
    assert_eq!(home["status"], 200);
    assert_eq!(home["title"], "Welcome · Café Shop");
    assert_eq!(home["description"], "The shop's home page");
    assert_eq!(home["canonical_url"], format!("{base}/"));
    assert_eq!(home["language"], "en");
    assert!(home["text"].as_str().unwrap().contains("See our products"));
    assert!(
        !home["text"].as_str().unwrap().contains("analytics"),
        "no script text"
    );
    assert!(home["etag"].is_string() && home["last_modified"].is_string());
    assert_eq!(home["content_hash"].as_str().unwrap().len(), 16);
    assert!(
        home["links"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l == &json!(format!("{base}/about")))
    );
    // The slow page was abandoned at the 1 s timeout, not waited for.
    assert!(site.requests().iter().any(|(p, _)| p == "/slow"));
}

#[tokio::test]
async fn robots_rules_are_obeyed_and_the_host_is_paced() {
    let site = FixtureSite::start().await;
    let started = std::time::Instant::now();
    crawl(&site.config(), &State::new(), false).await;
    let requests = site.requests();
    assert_eq!(requests[0].0, "/robots.txt", "robots.txt first");
    assert!(!requests.iter().any(|(p, _)| p.starts_with("/private/")));
    // The crawl delay (0.2 s) is slower than the configured 20/s: it wins.
    let gaps: Vec<Duration> = requests.windows(2).map(|w| w[1].1 - w[0].1).collect();
    let fast = gaps
        .iter()
        .filter(|g| g.as_secs_f64() < CRAWL_DELAY * 0.8)
        .count();
    assert_eq!(fast, 0, "requests closer than the crawl delay: {gaps:?}");
    assert!(started.elapsed().as_secs_f64() >= CRAWL_DELAY * (requests.len() - 1) as f64 * 0.8);
}

#[tokio::test]
async fn a_second_run_asks_conditionally_and_emits_only_what_changed() {
    let site = FixtureSite::start().await;
    let (first, state) = crawl(&site.config(), &State::new(), true).await;
    assert_eq!(first["products"].len(), 8);
    let (id, slug) = site.change();
    let (second, state2) = crawl(&site.config(), &state, true).await;
    let base = site.uri();
    let pages = urls(&second["pages"], &base);
    // The changed product, the article, and the listing pages showing the new price.
    assert_eq!(
        pages,
        vec![
            format!("/articles/{slug}"),
            format!("/products/{id}"),
            "/products?page=1".to_string(),
            "/products?page=1&sort=asc".to_string()
        ]
    );
    assert_eq!(
        urls(&second["products"], &base),
        vec![format!("/products/{id}")]
    );
    assert_eq!(
        urls(&second["articles"], &base),
        vec![format!("/articles/{slug}")]
    );
    let (asked, not_modified) = site.conditional();
    // Seven unchanged products are skipped by their sitemap lastmod without a request; the
    // other known pages are asked conditionally, and all but the four changed ones are 304.
    assert!(asked >= 10, "{asked} conditional requests");
    assert_eq!(
        not_modified,
        asked - 4,
        "{not_modified} of {asked} answered 304"
    );
    // A third run with nothing changed emits nothing.
    let (third, _) = crawl(&site.config(), &state2, true).await;
    assert!(third.values().all(Vec::is_empty), "{third:?}");
}

#[tokio::test]
async fn sitemaps_alone_drive_a_crawl_and_lastmod_skips_unchanged_pages() {
    let site = FixtureSite::start().await;
    let mut config = site.config();
    config["start_urls"] = json!([]);
    config["max_depth"] = json!(0);
    let (records, state) = crawl(&config, &State::new(), true).await;
    assert_eq!(records["products"].len(), 8, "from the gzipped sitemap");
    assert_eq!(records["articles"].len(), 4);
    let before = site.requests().len();
    let (again, _) = crawl(&config, &state, true).await;
    assert!(again.values().all(Vec::is_empty));
    let product_requests = site.requests()[before..]
        .iter()
        .filter(|(p, _)| p.starts_with("/products/"))
        .count();
    assert_eq!(
        product_requests, 0,
        "sitemap lastmod no later than the page's Last-Modified: no request"
    );
}

#[tokio::test]
async fn unsafe_or_invalid_configs_are_refused_and_traps_are_bounded() {
    let site = FixtureSite::start().await;
    let mut config = site.config();
    config["allow_private_networks"] = json!(false);
    let err = WebSource::new().check(&config).await.unwrap_err();
    assert!(
        err.is_config() && err.message().contains("allow_private_networks"),
        "{err}"
    );
    for (key, value) in [
        ("start_urls", json!(["ftp://example.com/"])),
        ("exclude", json!(["(unclosed"])),
        (
            "streams",
            json!([{"name": "x", "url_pattern": ".", "fields": {"a": {"selector": "a["}}}]),
        ),
        (
            "streams",
            json!([{"name": "pages", "url_pattern": ".", "fields": {}}]),
        ),
    ] {
        let mut bad = site.config();
        bad[key] = value;
        let err = WebSource::new().check(&bad).await.unwrap_err();
        assert!(err.is_config(), "{key}: {err}");
    }
    // An endless calendar with no exclude rule: bounded by depth and the page cap.
    let mut trap = site.config();
    trap["exclude"] = json!([]);
    trap["max_pages"] = json!(12);
    trap["streams"] = json!([]);
    let (records, _) = crawl(&trap, &State::new(), false).await;
    assert!(records["pages"].len() <= 12);
    let page_requests = site
        .requests()
        .iter()
        .filter(|(p, _)| !p.starts_with("/robots") && !p.starts_with("/sitemap"))
        .count();
    assert!(page_requests <= 12, "{page_requests}");
}

#[tokio::test]
async fn two_hosts_crawl_in_parallel_each_at_its_own_pace() {
    let (a, b) = (FixtureSite::start().await, FixtureSite::start().await);
    let mut config = a.config();
    config["start_urls"] = json!([format!("{}/", a.uri()), format!("{}/", b.uri())]);
    config["sitemap_urls"] = json!([]);
    config["streams"] = json!([]);
    let started = std::time::Instant::now();
    let (records, _) = crawl(&config, &State::new(), false).await;
    let took = started.elapsed().as_secs_f64();
    let (ra, rb) = (a.requests(), b.requests());
    assert!(
        ra.len() > 10 && rb.len() > 10,
        "{} and {}",
        ra.len(),
        rb.len()
    );
    for site in [&a, &b] {
        assert!(
            records["pages"]
                .iter()
                .any(|p| p["url"] == json!(format!("{}/about", site.uri()))),
            "pages of both hosts"
        );
    }
    for r in [&ra, &rb] {
        assert!(
            r.windows(2)
                .all(|w| (w[1].1 - w[0].1).as_secs_f64() >= CRAWL_DELAY * 0.8)
        );
    }
    // In series the two crawl delays would add up; in parallel the crawl takes about as long
    // as the larger site.
    let serial = CRAWL_DELAY * (ra.len() + rb.len() - 2) as f64;
    assert!(
        took < serial * 0.75,
        "{took:.1}s against {serial:.1}s in series"
    );
}
