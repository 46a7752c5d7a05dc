//! Peak memory of a Mailchimp-shaped sync with 1,000-member pages: N members (`list_members`,
//! offset pagination, 1,000 a page: about 1.3 MB of JSON a page) from a local server answering
//! one pre-rendered page, through the Mailchimp connector (every record transformed) and the
//! engine into JSONL. The engine's channels hold 16 + 16 batches; bounded by batch count alone
//! that is 40 MB of pages, so the run shows the byte budget at work. Prints records/s and the
//! process's peak RSS (the server's page included).
//! `cargo bench -p intake-cli --bench mailchimp_memory` (N = 1,000,000; `INTAKE_BENCH_N`).

#[path = "../../tests/support/mock.rs"]
mod mock;
#[path = "../../benches/support/rss.rs"]
mod rss;

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use intake::{DestinationSyncMode, Source, SyncMode};
use mock::{Resp, serve_on_thread};
use rss::{cpu_seconds, peak_rss_kib, reset_peak};
use serde_json::{Value, json};

const PAGE: usize = 1_000;

/// A member as Mailchimp sends one (the sandbox's shape).
fn member(n: usize) -> Value {
    json!({
        "id": format!("{n:032x}"), "email_address": format!("member{n}@example.com"),
        "unique_email_id": format!("{n:010x}"), "contact_id": format!("{n:024x}"),
        "full_name": format!("Member {n}"), "web_id": 500_000 + n, "email_type": "html",
        "status": "subscribed",
        "merge_fields": {"FNAME": "Member", "LNAME": format!("No. {n}"), "LTV": 12.5,
            "BIRTHDAY": "05/17", "ADDRESS": {"addr1": "1 Main St", "addr2": "", "city": "Oslo",
            "state": "", "zip": "0150", "country": "NO"}, "JOINED_AT": "2023-05-01"},
        "interests": {"a1b2c3": true, "d4e5f6": false}, "stats": {"avg_open_rate": 0.5, "avg_click_rate": 0.1},
        "ip_signup": "", "timestamp_signup": "", "ip_opt": "10.0.0.1",
        "timestamp_opt": "2023-05-01T10:00:00+00:00", "member_rating": 3,
        "last_changed": "2024-01-01T00:00:00+00:00", "language": "en", "vip": false,
        "email_client": "", "location": {"latitude": 59.9, "longitude": 10.7, "gmtoff": 1,
            "dstoff": 2, "country_code": "NO", "timezone": "Europe/Oslo"},
        "source": "API - Generic", "tags_count": 1, "tags": [{"id": 1, "name": "vip"}],
        "list_id": "L1"
    })
}

fn main() {
    let n: usize = std::env::var("INTAKE_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    // Each answer's first member is rendered for its offset (pages must differ, or the
    // connector rightly stops at a repeated page); the other 999 are pre-rendered.
    let rest: Vec<Value> = (1..PAGE).map(member).collect();
    let rest = Arc::new(format!(
        ",{}],\"list_id\":\"L1\",\"total_items\":{n}}}",
        serde_json::to_string(&rest)
            .unwrap()
            .trim_start_matches('[')
            .trim_end_matches(']')
    ));
    let page_for = move |offset: usize| -> Bytes {
        let mut body = format!("{{\"members\":[{}", member(PAGE * 1000 + offset));
        body.push_str(&rest);
        Bytes::from(body)
    };
    let page_bytes = page_for(0).len();
    let lists = Bytes::from(
        json!({"lists": [{"id": "L1", "web_id": 1, "name": "Bench", "date_created": "2023-01-01T00:00:00+00:00",
            "stats": {"member_count": n}}], "total_items": 1})
        .to_string(),
    );
    let served = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = served.clone();
    let addr = serve_on_thread(move |req| {
        if req.path.ends_with("/members") {
            let offset: usize = req
                .query
                .get("offset")
                .and_then(|o| o.parse().ok())
                .unwrap_or(0);
            if offset >= n {
                return Resp::json(200, json!({"members": [], "total_items": n}).to_string());
            }
            counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return Resp::json(200, page_for(offset));
        }
        if req.path.ends_with("/merge-fields") {
            return Resp::json(200, r#"{"merge_fields":[],"total_items":0}"#);
        }
        if req.path.ends_with("/lists") {
            return Resp::json(200, lists.clone());
        }
        Resp::json(404, r#"{"title":"Resource Not Found","status":404}"#)
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let out = std::env::temp_dir().join(format!("intake-mailchimp-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let config = json!({"credentials": {"auth_type": "apikey", "apikey": "bench-us1"},
        "base_url": format!("http://{addr}/3.0"), "page_size": PAGE});
    let source = intake_source_mailchimp::MailchimpSource::new();
    let mut catalog = rt
        .block_on(source.discover(&config))
        .unwrap()
        .configure_all()
        .select(&["list_members"])
        .unwrap();
    for s in &mut catalog.streams {
        s.sync_mode = SyncMode::FullRefresh;
        s.destination_sync_mode = DestinationSyncMode::Append;
    }
    // `INTAKE_BENCH_BUFFER` (bytes) to compare budgets; default the engine's.
    let buffer: u64 = std::env::var("INTAKE_BENCH_BUFFER")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(intake::engine::DEFAULT_BUFFER_BYTES);
    reset_peak();
    let cpu = cpu_seconds();
    let t = Instant::now();
    let report = rt
        .block_on(
            intake::sync(source, config)
                .catalog(catalog)
                .buffer_bytes(buffer)
                .to(intake::destination::jsonl::JsonlDestination::new(&out))
                .run(),
        )
        .unwrap();
    let secs = t.elapsed().as_secs_f64();
    let written = report.records_written();
    assert_eq!(written as usize, n, "every member written");
    println!(
        "mailchimp list_members, {n} members in pages of {PAGE} ({:.2} MB a page, {} pages served), \
         buffer {} MiB: {secs:.2} s, {:.0} records/s, {:.2} CPU-s, peak RSS {:.1} MiB",
        page_bytes as f64 / 1e6,
        served.load(std::sync::atomic::Ordering::Relaxed),
        buffer >> 20,
        written as f64 / secs,
        cpu_seconds() - cpu,
        peak_rss_kib() as f64 / 1024.0
    );
    let _ = std::fs::remove_dir_all(&out);
}
