//! The HTTP toolkit against a plain fetch: 200,000 HubSpot-shaped contacts (100 per page,
//! cursor pagination in `paging.next.after`, about 75 MB) from a local server that serves
//! pre-rendered pages, read
//!
//! - `plain_reqwest`: a sequential reqwest loop over one keep-alive connection that reads each
//!   body and parses only the next cursor — the floor any connector pays;
//! - `intake_to_jsonl`: an `HttpSource` stream synced by the engine into the JSONL destination
//!   (records, checkpoints every 10,000 records with fsync, state).
//!
//! Both run in the same process against the same server. `cargo bench --bench http`.

#[path = "support/contacts.rs"]
mod contacts;
#[path = "../tests/support/mock.rs"]
mod mock;
#[path = "support/plain.rs"]
mod plain;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use contacts::contact;
use criterion::{Criterion, Throughput};
use intake::destination::jsonl::JsonlDestination;
use intake::http::{HttpApi, HttpSource, Paginator, reqwest};
use mock::{Req, Resp, serve_on_thread};
use plain::plain_fetch;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

const RECORDS: usize = 200_000;
use contacts::PAGE;

/// Pre-rendered pages: page `p` answers `after=<p * 100>`.
fn pages() -> Arc<Vec<Bytes>> {
    let n = RECORDS / PAGE;
    Arc::new(
        (0..n)
            .map(|p| {
                let results: Vec<Value> = (p * PAGE..(p + 1) * PAGE).map(contact).collect();
                let mut body = json!({"results": results});
                if p + 1 < n {
                    let after = ((p + 1) * PAGE).to_string();
                    body["paging"] = json!({"next": {
                        "after": after,
                        "link": format!("https://api.hubapi.com/crm/v3/objects/contacts?after={after}")
                    }});
                }
                Bytes::from(body.to_string())
            })
            .collect(),
    )
}

fn start_server() -> (SocketAddr, u64) {
    let pages = pages();
    let bytes: u64 = pages.iter().map(|p| p.len() as u64).sum();
    let addr = serve_on_thread(move |req: Req| {
        let after: usize = req
            .query
            .get("after")
            .and_then(|a| a.parse().ok())
            .unwrap_or(0);
        match pages.get(after / PAGE) {
            Some(page) => Resp::json(200, page.clone()),
            None => Resp::json(400, r#"{"message":"bad cursor"}"#),
        }
    });
    (addr, bytes)
}

/// The benchmark's connector config.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct BenchConfig {
    /// The mock's URL.
    base_url: String,
}

fn hubspot() -> HttpSource<BenchConfig> {
    HttpSource::new("hubspot-bench", |cfg: &BenchConfig| {
        let api = HttpApi::parse(&cfg.base_url)?;
        Ok(vec![
            api.stream("contacts")
                .get("/crm/v3/objects/contacts")
                .query("limit", "100")
                .records_at("/results")
                .paginate(Paginator::cursor_from_body("/paging/next/after").into_query("after"))
                .primary_key("id")
                .schema(json!({"type": "object", "properties": {
                    "id": {"type": "string"}, "properties": {"type": "object"},
                    "createdAt": {"type": "string"}, "updatedAt": {"type": "string"},
                    "archived": {"type": "boolean"}}})),
        ])
    })
}

async fn intake_sync(base: &str, dir: &std::path::Path, fsync: bool) -> u64 {
    let _ = std::fs::remove_dir_all(dir);
    let destination = if fsync {
        JsonlDestination::new(dir)
    } else {
        JsonlDestination::new(dir).without_fsync()
    };
    let report = intake::sync(hubspot(), json!({ "base_url": base }))
        .to(destination)
        .run()
        .await
        .unwrap();
    report.records_written()
}

fn benches(c: &mut Criterion) {
    let (addr, bytes) = start_server();
    let base = format!("http://{addr}");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let client = reqwest::Client::builder().build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    // Sanity: both read everything.
    assert_eq!(rt.block_on(plain_fetch(&client, &base)), RECORDS / PAGE);
    assert_eq!(
        rt.block_on(intake_sync(&base, dir.path(), true)),
        RECORDS as u64
    );
    eprintln!(
        "{} pages, {:.1} MB of JSON",
        RECORDS / PAGE,
        bytes as f64 / 1e6
    );

    let mut group = c.benchmark_group("http_200k_contacts");
    group.throughput(Throughput::Elements(RECORDS as u64));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(15));
    group.bench_function("plain_reqwest", |b| {
        b.iter(|| rt.block_on(plain_fetch(&client, &base)))
    });
    group.bench_function("intake_to_jsonl", |b| {
        b.iter(|| rt.block_on(intake_sync(&base, dir.path(), true)))
    });
    group.bench_function("intake_to_jsonl_no_fsync", |b| {
        b.iter(|| rt.block_on(intake_sync(&base, dir.path(), false)))
    });
    group.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    benches(&mut c);
    c.final_summary();
}
