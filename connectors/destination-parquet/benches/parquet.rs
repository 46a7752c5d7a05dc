//! 1,000,000 HubSpot-shaped records from an in-memory source into Parquet files, next to the
//! JSONL destination in the same run, with the peak memory and the bytes written.
//! `cargo bench -p intake-destination-parquet`.

#[path = "../../../benches/support/contacts.rs"]
mod contacts;
#[path = "../../../benches/support/rss.rs"]
mod rss;

use rss::peak_rss_kib;
use std::time::{Duration, Instant};

use contacts::{Bench, pool};
use intake::destination::jsonl::JsonlDestination;
use intake::{Destination, DestinationSyncMode};
use intake_destination_parquet::ParquetDestination;
use serde_json::json;

const RECORDS: usize = 1_000_000;

fn bytes_under(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .map(|e| {
            let p = e.path();
            if p.is_dir() {
                bytes_under(&p)
            } else {
                e.metadata().map(|m| m.len()).unwrap_or(0)
            }
        })
        .sum()
}

fn run<D: Destination + 'static>(rt: &tokio::runtime::Runtime, destination: D) -> Duration {
    let source = Bench {
        n: RECORDS,
        pool: pool(),
        incremental: false,
    };
    let started = Instant::now();
    let report = rt.block_on(async {
        let mut catalog = intake::Source::discover(&source, &json!({}))
            .await
            .unwrap()
            .configure_all();
        catalog.streams[0].destination_sync_mode = DestinationSyncMode::Append;
        intake::sync(source, json!({}))
            .catalog(catalog)
            .to(destination)
            .run()
            .await
            .unwrap()
    });
    assert_eq!(report.records_written(), RECORDS as u64);
    started.elapsed()
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (mut jsonl, mut parquet) = (Vec::new(), Vec::new());
    let (mut jsonl_bytes, mut parquet_bytes) = (0, 0);
    let mut peak = 0;
    for i in 0..3 {
        let p = dir.path().join(format!("p{i}"));
        parquet.push(run(&rt, ParquetDestination::new(&p)));
        peak = peak.max(peak_rss_kib());
        parquet_bytes = bytes_under(&p);
        let _ = std::fs::remove_dir_all(&p);
        let j = dir.path().join(format!("j{i}"));
        jsonl.push(run(&rt, JsonlDestination::new(&j)));
        jsonl_bytes = bytes_under(&j);
        let _ = std::fs::remove_dir_all(&j);
    }
    jsonl.sort();
    parquet.sort();
    let rate = |d: Duration| RECORDS as f64 / d.as_secs_f64();
    println!(
        "JSONL {:.2} s = {:.0} records/s ({:.0} MB); Parquet {:.2} s = {:.0} records/s ({:.0} MB, snappy); Parquet/JSONL = {:.2}; peak RSS with Parquet {:.1} MiB (medians of 3)",
        jsonl[1].as_secs_f64(),
        rate(jsonl[1]),
        jsonl_bytes as f64 / 1e6,
        parquet[1].as_secs_f64(),
        rate(parquet[1]),
        parquet_bytes as f64 / 1e6,
        rate(parquet[1]) / rate(jsonl[1]),
        peak as f64 / 1024.0
    );
}
