//! End to end: N HubSpot-shaped contacts (100 per page, cursor pagination in
//! `paging.next.after`) from a local server that answers from pre-rendered pages, read
//!
//! - by a plain sequential reqwest loop over one keep-alive connection that reads each body and
//!   parses only the next cursor (the reference: the floor any connector pays);
//! - by the HubSpot connector (properties discovered, values cast and flattened, full refresh
//!   with its archived pass) through the engine into JSONL;
//! - the same into SQLite;
//!
//! all in one run, with records/s, the ratio to the reference, CPU seconds (the whole
//! process's, the server's included), each run's peak RSS, and the median of each round's own
//! ratios (steadier than the ratio of the medians when the machine has slow spells).
//! `cargo bench -p intake-cli --bench e2e` (N = 1,000,000; `INTAKE_BENCH_N` to change it).

#[path = "../../benches/support/contacts.rs"]
mod contacts;
#[path = "../../tests/support/mock.rs"]
mod mock;
#[path = "../../benches/support/plain.rs"]
mod plain;
#[path = "../../benches/support/rss.rs"]
mod rss;

use rss::{cpu_seconds, peak_rss_kib, reset_peak};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use contacts::{PAGE, contact};
use intake::http::reqwest;
use intake::{Destination, DestinationSyncMode, Source, SyncMode};
use mock::{Req, Resp, serve_on_thread};
use plain::plain_fetch;
use serde_json::{Value, json};

/// Distinct pages rendered; page `p` of the sync is pool page `p % POOL` with its own cursor.
const POOL: usize = 100;

fn properties() -> Value {
    let p = |name: &str, kind: &str| json!({"name": name, "type": kind, "fieldType": "text", "label": name});
    json!({"results": [
        p("createdate", "datetime"), p("email", "string"), p("firstname", "string"),
        p("lastname", "string"), p("company", "string"), p("phone", "phone_number"),
        p("city", "string"), p("country", "string"), p("lifecyclestage", "enumeration"),
        p("hs_object_id", "number"), p("hs_lead_status", "enumeration"),
        p("lastmodifieddate", "datetime")
    ]})
}

/// The server: `results` of pool pages pre-rendered; each answer adds its page's cursor.
fn start_server(n: usize) -> (SocketAddr, u64) {
    let pool: Arc<Vec<Bytes>> = Arc::new(
        (0..POOL)
            .map(|p| {
                let results: Vec<Value> = (p * PAGE..(p + 1) * PAGE).map(contact).collect();
                Bytes::from(format!(
                    "{{\"results\":{}",
                    serde_json::to_string(&results).unwrap()
                ))
            })
            .collect(),
    );
    let pages = n.div_ceil(PAGE);
    let bytes: u64 = (0..pages).map(|p| pool[p % POOL].len() as u64 + 90).sum();
    let properties = Bytes::from(properties().to_string());
    let addr = serve_on_thread(move |req: Req| {
        if req.path.starts_with("/crm/v3/properties/") {
            return Resp::json(200, properties.clone());
        }
        if req.path == "/crm/v3/schemas" {
            return Resp::json(200, r#"{"results":[]}"#);
        }
        if req.query.get("archived").map(String::as_str) == Some("true") {
            return Resp::json(200, r#"{"results":[]}"#);
        }
        let page = req
            .query
            .get("after")
            .and_then(|a| a.parse::<usize>().ok())
            .unwrap_or(0)
            / PAGE;
        let Some(body) = pool.get(page % POOL) else {
            return Resp::json(400, "{}");
        };
        let mut out = BytesMut::with_capacity(body.len() + 100);
        out.extend_from_slice(body);
        if page + 1 < pages {
            let after = (page + 1) * PAGE;
            out.extend_from_slice(
                format!(",\"paging\":{{\"next\":{{\"after\":\"{after}\",\"link\":\"/crm/v3/objects/contacts?after={after}\"}}}}}}").as_bytes(),
            );
        } else {
            out.extend_from_slice(b"}");
        }
        Resp::json(200, out.freeze())
    });
    (addr, bytes)
}

async fn connector(base: &str, destination: Arc<dyn Destination>) -> u64 {
    let source = intake_source_hubspot::HubSpotSource::new();
    let config = json!({
        "credentials": {"auth_type": "private_app", "access_token": "pat-bench"},
        "base_url": base, "requests_per_10_seconds": 10_000_000, "associations": false
    });
    let mut catalog = source
        .discover(&config)
        .await
        .unwrap()
        .configure_all()
        .select(&["contacts"])
        .unwrap();
    for s in &mut catalog.streams {
        s.sync_mode = SyncMode::FullRefresh;
        s.destination_sync_mode = DestinationSyncMode::Overwrite;
    }
    let report = intake::sync(source, config)
        .catalog(catalog)
        .to(destination)
        .run()
        .await
        .unwrap();
    report.records_written()
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` does not, and skips the run.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let n: usize = std::env::var("INTAKE_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let (addr, bytes) = start_server(n);
    let base = format!("http://{addr}");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    // A warm-up so the first measured run does not pay for connection setup and page faults.
    rt.block_on(plain_fetch(&reqwest::Client::new(), &base));
    // Rounds of all readers, one after the other, so a slow moment of the machine falls on
    // every reader alike; each reader's median round is reported.
    let rounds: usize = std::env::var("INTAKE_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
        .max(1);
    let skip_sqlite = std::env::var("INTAKE_BENCH_SKIP_SQLITE").is_ok();
    let names = [
        "plain reqwest (reference)",
        "HubSpot connector -> JSONL",
        "HubSpot connector -> SQLite",
    ];
    let readers = if skip_sqlite { 2 } else { 3 };
    // Per reader: each round's time, records and CPU seconds (the whole process's, server
    // included), and its peak RSS in the first round (later rounds start with the heap
    // earlier readers left behind, which is not theirs).
    type Rounds = Vec<(Duration, u64, f64)>;
    let mut runs: Vec<(Rounds, u64)> = vec![(Vec::new(), 0); readers];
    // `INTAKE_BENCH_ONLY=0|1|2` runs one reader alone (for profiling it).
    let only: Option<usize> = std::env::var("INTAKE_BENCH_ONLY")
        .ok()
        .and_then(|v| v.parse().ok());
    for round in 0..rounds {
        for (reader, run) in runs.iter_mut().enumerate() {
            if only.is_some_and(|o| o != reader) {
                continue;
            }
            let out = dir.path().join(format!("round{round}-{reader}"));
            reset_peak();
            let cpu = cpu_seconds();
            let t = Instant::now();
            let got = match reader {
                0 => {
                    ((rt.block_on(plain_fetch(&reqwest::Client::new(), &base)) * PAGE).min(n))
                        as u64
                }
                1 => rt.block_on(connector(
                    &base,
                    Arc::new(intake::destination::jsonl::JsonlDestination::new(&out)),
                )),
                _ => rt.block_on(connector(
                    &base,
                    Arc::new(intake_destination_sqlite::SqliteDestination::open(
                        out.with_extension("db"),
                    )),
                )),
            };
            run.0.push((t.elapsed(), got, cpu_seconds() - cpu));
            if round == 0 {
                run.1 = peak_rss_kib();
            }
            let _ = std::fs::remove_dir_all(&out);
            let _ = std::fs::remove_file(out.with_extension("db"));
        }
    }
    // The median over rounds of one reader's rate over another's in the same round: steadier
    // than the ratio of the medians when the machine has slow spells.
    let paired = |a: usize, b: usize| -> Option<f64> {
        let rate = |&(took, got, _): &(Duration, u64, f64)| got as f64 / took.as_secs_f64();
        let mut ratios: Vec<f64> = runs
            .get(a)?
            .0
            .iter()
            .zip(&runs.get(b)?.0)
            .map(|(x, y)| rate(x) / rate(y))
            .collect();
        ratios.sort_by(f64::total_cmp);
        ratios.get(ratios.len() / 2).copied()
    };
    let (jsonl_vs_plain, sqlite_vs_jsonl) = (paired(1, 0), paired(2, 1));
    // Readers that ran: (name, median time, records, median CPU seconds, peak RSS).
    type Row<'a> = Option<(&'a str, Duration, u64, f64, u64)>;
    let rows: Vec<Row> = runs
        .into_iter()
        .zip(names)
        .map(|((mut times, rss), name)| {
            let mut cpu: Vec<f64> = times.iter().map(|t| t.2).collect();
            cpu.sort_by(f64::total_cmp);
            times.sort_by_key(|t| t.0);
            let (took, got, _) = *times.get(times.len() / 2)?;
            Some((name, took, got, cpu[cpu.len() / 2], rss))
        })
        .collect();
    let rate = |row: &Row| {
        row.as_ref()
            .map(|(_, took, records, _, _)| *records as f64 / took.as_secs_f64())
    };
    let (reference, jsonl_rate) = (rate(&rows[0]), rows.get(1).and_then(rate));
    println!(
        "{n} contacts, {:.0} MB of JSON, 100 per page, one local server (pre-rendered pages); median of {rounds} rounds",
        bytes as f64 / 1e6
    );
    println!(
        "{:<30} {:>9} {:>12} {:>10} {:>10} {:>9} {:>10}",
        "reader", "time", "records/s", "vs plain", "vs JSONL", "CPU", "peak RSS"
    );
    let ratio = |r: f64, to: Option<f64>| match to {
        Some(to) => format!("{:.2}x", r / to),
        None => "-".to_string(),
    };
    for row in &rows {
        let (Some((name, took, _, cpu, rss)), Some(r)) = (row, rate(row)) else {
            continue;
        };
        println!(
            "{:<30} {:>8.2}s {:>12.0} {:>10} {:>10} {:>8.2}s {:>6.1} MiB",
            name,
            took.as_secs_f64(),
            r,
            ratio(r, reference),
            ratio(r, jsonl_rate),
            cpu,
            *rss as f64 / 1024.0
        );
    }
    let shown = |r: Option<f64>| r.map_or("-".to_string(), |r| format!("{r:.2}x"));
    println!(
        "median of the rounds' own ratios: JSONL vs plain {}, SQLite vs JSONL {} (CPU: the whole process's, the local server's included)",
        shown(jsonl_vs_plain),
        shown(sqlite_vs_jsonl)
    );
}
