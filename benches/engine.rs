//! Records/s through the engine: an in-memory source of HubSpot-shaped records (about 380 bytes
//! of JSON each) into the JSONL destination, full refresh and incremental (cursor tracking on
//! `updatedAt`). Also prints the peak memory of a 10k-record and a 1M-record sync.
//!
//! `cargo bench --bench engine` (pin to one core with `taskset -c 0 cargo bench --bench engine`).

use rss::peak_rss_kib;
use std::sync::Arc;

use criterion::{Criterion, Throughput};
use intake::Record;
use intake::destination::jsonl::JsonlDestination;
use serde_json::json;

#[path = "support/contacts.rs"]
mod contacts;
#[path = "support/rss.rs"]
mod rss;

use contacts::{Bench, pool};

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
