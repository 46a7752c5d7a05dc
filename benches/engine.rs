//! Records/s through the engine: an in-memory source of HubSpot-shaped records (about 380 bytes
//! of JSON each) into the JSONL destination, full refresh and incremental (cursor tracking on
//! `updatedAt`). Also prints the peak memory of a 10k-record and a 1M-record sync.
//!
//! `cargo bench --bench engine` (pin to one core with `taskset -c 0 cargo bench --bench engine`).

use std::sync::Arc;

use criterion::{Criterion, Throughput};
use futures::StreamExt;
use intake::jsonl::JsonlDestination;
use intake::{
    ConnectorSpec, Cursor, Page, PageStream, ReadRequest, Record, Source, Stream, async_trait,
};
use serde_json::{Value, json};

const PAGE: usize = 100;

/// A HubSpot CRM contact as the v3 API returns it.
fn contact(i: usize) -> Value {
    let day = 1 + i % 28;
    json!({
        "id": format!("{}", 1000 + i),
        "properties": {
            "createdate": format!("2023-01-{day:02}T10:00:00.000Z"),
            "email": format!("contact{i}@example.com"),
            "firstname": "Ada",
            "lastname": "Lovelace",
            "company": "Analytical Engines Ltd",
            "phone": "+44 20 7946 0000",
            "city": "London",
            "country": "United Kingdom",
            "lifecyclestage": "lead",
            "hs_object_id": format!("{}", 1000 + i),
            "hs_lead_status": "NEW",
            "lastmodifieddate": format!("2024-02-{day:02}T08:30:00.000Z")
        },
        "createdAt": format!("2023-01-{day:02}T10:00:00.000Z"),
        "updatedAt": format!("2024-02-{day:02}T08:30:00.000Z"),
        "archived": false
    })
}

/// Serves `n` records in pages cycled from a pool of pre-rendered records, so the source costs
/// one copy per record and holds no more than the pool, whatever `n` is.
struct Contacts {
    n: usize,
    pool: Arc<Vec<Record>>,
    cursor: Option<Cursor>,
}

#[async_trait]
impl Stream for Contacts {
    fn name(&self) -> &str {
        "contacts"
    }
    async fn json_schema(&self) -> intake::Result<Value> {
        Ok(
            json!({"type": "object", "properties": {"id": {"type": "string"}, "properties": {"type": "object"},
            "createdAt": {"type": "string"}, "updatedAt": {"type": "string"}, "archived": {"type": "boolean"}}}),
        )
    }
    fn primary_key(&self) -> Vec<Vec<String>> {
        vec![vec!["id".into()]]
    }
    fn cursor(&self) -> Option<&Cursor> {
        self.cursor.as_ref()
    }
    fn read(&self, _request: ReadRequest) -> PageStream<'_> {
        let pool = self.pool.clone();
        let n = self.n;
        futures::stream::iter((0..n.div_ceil(PAGE)).map(move |p| {
            let start = p * PAGE;
            let end = (start + PAGE).min(n);
            Ok(Page::new(
                (start..end).map(|i| pool[i % pool.len()].clone()).collect(),
            ))
        }))
        .boxed()
    }
}

struct Bench {
    n: usize,
    pool: Arc<Vec<Record>>,
    incremental: bool,
}

#[async_trait]
impl Source for Bench {
    fn spec(&self) -> ConnectorSpec {
        ConnectorSpec::from_schema(json!({"type": "object"}))
    }
    async fn check(&self, _: &Value) -> intake::Result<()> {
        Ok(())
    }
    async fn streams(&self, _: &Value) -> intake::Result<Vec<Arc<dyn Stream>>> {
        let cursor = self.incremental.then(|| Cursor::new("updatedAt"));
        Ok(vec![Arc::new(Contacts {
            n: self.n,
            pool: self.pool.clone(),
            cursor,
        })])
    }
}

fn pool() -> Arc<Vec<Record>> {
    Arc::new(
        (0..1000)
            .map(|i| Record::from_value(&contact(i)).expect("record"))
            .collect(),
    )
}

fn run(rt: &tokio::runtime::Runtime, pool: &Arc<Vec<Record>>, n: usize, incremental: bool) -> u64 {
    let dir = tempfile::tempdir().expect("tempdir");
    let source = Bench {
        n,
        pool: pool.clone(),
        incremental,
    };
    let report = rt
        .block_on(
            intake::sync(source, json!({}))
                .to(JsonlDestination::new(dir.path()))
                .run(),
        )
        .expect("sync");
    assert_eq!(report.records_written(), n as u64);
    report.records_written()
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime")
}

fn memory(pool: &Arc<Vec<Record>>) {
    let rt = runtime();
    run(&rt, pool, 10_000, true);
    let small = peak_rss_kib();
    let started = std::time::Instant::now();
    run(&rt, pool, 1_000_000, true);
    let elapsed = started.elapsed();
    let large = peak_rss_kib();
    println!(
        "peak RSS: {:.1} MiB after 10k records, {:.1} MiB after 1M records (ratio {:.2}); 1M incremental records in {:.2} s = {:.0} records/s",
        small as f64 / 1024.0,
        large as f64 / 1024.0,
        large as f64 / small.max(1) as f64,
        elapsed.as_secs_f64(),
        1e6 / elapsed.as_secs_f64()
    );
}

fn benches(c: &mut Criterion) {
    let pool = pool();
    let bytes: usize = pool.iter().map(Record::len).sum::<usize>() / pool.len();
    println!("average record size: {bytes} bytes");
    memory(&pool);
    let rt = runtime();
    let n = 200_000;
    let mut group = c.benchmark_group("engine_to_jsonl");
    group.sample_size(10);
    group.throughput(Throughput::Elements(n as u64));
    group.bench_function("full_refresh", |b| b.iter(|| run(&rt, &pool, n, false)));
    group.bench_function("incremental", |b| b.iter(|| run(&rt, &pool, n, true)));
    group.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    benches(&mut c);
    c.final_summary();
}
