//! 1,000,000 HubSpot-shaped records from an in-memory source into SQLite, next to the JSONL
//! destination in the same run (the budget: SQLite at no less than half of JSONL's
//! records/s), with the peak memory of each. `cargo bench -p intake-destination-sqlite`.

#[path = "../../../benches/support/contacts.rs"]
mod contacts;
#[path = "../../../benches/support/rss.rs"]
mod rss;

use rss::{cpu_seconds, peak_rss_kib, reset_peak};
use std::time::{Duration, Instant};

use contacts::{Bench, pool};
use intake::jsonl::JsonlDestination;
use intake::{Destination, Record};
use intake_destination_sqlite::SqliteDestination;
use serde_json::json;

const RECORDS: usize = 1_000_000;
fn runs() -> usize {
    std::env::var("INTAKE_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
}

fn run<D: Destination + 'static>(
    rt: &tokio::runtime::Runtime,
    pool: &std::sync::Arc<Vec<Record>>,
    destination: D,
    incremental: bool,
) -> (Duration, f64) {
    let source = Bench {
        n: RECORDS,
        pool: pool.clone(),
        incremental,
    };
    let started = Instant::now();
    let cpu = cpu_seconds();
    let report = rt
        .block_on(intake::sync(source, json!({})).to(destination).run())
        .expect("sync");
    assert_eq!(report.records_written(), RECORDS as u64);
    (started.elapsed(), cpu_seconds() - cpu)
}

fn median<T: PartialOrd + Copy>(mut v: Vec<T>) -> T {
    v.sort_by(|a, b| a.partial_cmp(b).expect("comparable"));
    v[v.len() / 2]
}

fn main() {
    // `cargo bench` passes `--bench`; anything else (like `cargo test --benches`) skips the run.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let pool = pool();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut results = Vec::new();
    // Full refresh lands as `overwrite` (a staging table swapped in at the end); incremental as
    // `append_dedup` (the pool repeats every 1,000 ids, so most rows are upserts of existing keys).
    for (name, incremental) in [
        ("full refresh -> overwrite", false),
        ("incremental -> append_dedup", true),
    ] {
        // `INTAKE_BENCH_MODE=overwrite|append_dedup` runs one group only.
        if let Ok(mode) = std::env::var("INTAKE_BENCH_MODE")
            && !name.ends_with(mode.as_str())
        {
            continue;
        }
        let mut jsonl = Vec::new();
        let mut sqlite = Vec::new();
        // CPU seconds (all threads) of each run.
        let (mut jsonl_cpu, mut sqlite_cpu) = (Vec::new(), Vec::new());
        let (mut jsonl_peak, mut sqlite_peak) = (0, 0);
        // `INTAKE_BENCH_ONLY=sqlite` skips the JSONL runs (for profiling the SQLite path alone).
        let only_sqlite = std::env::var("INTAKE_BENCH_ONLY").as_deref() == Ok("sqlite");
        for i in 0..runs() {
            if !only_sqlite {
                let path = dir.path().join(format!("j{i}{incremental}"));
                reset_peak();
                let (t, cpu) = run(&rt, &pool, JsonlDestination::new(&path), incremental);
                jsonl.push(t);
                jsonl_cpu.push(cpu);
                jsonl_peak = jsonl_peak.max(peak_rss_kib());
                let _ = std::fs::remove_dir_all(&path);
            }
            let db = dir.path().join(format!("s{i}{incremental}.db"));
            reset_peak();
            let journal = if std::env::var("INTAKE_BENCH_JOURNAL").as_deref() == Ok("delete") {
                intake_destination_sqlite::Journal::Delete
            } else {
                intake_destination_sqlite::Journal::Wal
            };
            let (t, cpu) = run(
                &rt,
                &pool,
                SqliteDestination::open(&db).journal(journal),
                incremental,
            );
            sqlite.push(t);
            sqlite_cpu.push(cpu);
            sqlite_peak = sqlite_peak.max(peak_rss_kib());
            let _ = std::fs::remove_file(&db);
        }
        if only_sqlite {
            let s = median(sqlite);
            println!(
                "{name}: SQLite {:.2} s, {:.2} s of CPU (peak RSS {:.1} MiB)",
                s.as_secs_f64(),
                median(sqlite_cpu),
                sqlite_peak as f64 / 1024.0
            );
            continue;
        }
        // Each run pairs a JSONL run with the SQLite run right after it; the median of those
        // ratios is steadier than the ratio of the medians when the machine has slow spells.
        let mut paired: Vec<f64> = jsonl
            .iter()
            .zip(&sqlite)
            .map(|(j, s)| j.as_secs_f64() / s.as_secs_f64())
            .collect();
        paired.sort_by(f64::total_cmp);
        let paired = paired[paired.len() / 2];
        let (j, s) = (median(jsonl), median(sqlite));
        let rate = |d: Duration| RECORDS as f64 / d.as_secs_f64();
        println!(
            "{name}: JSONL {:.2} s = {:.0} records/s ({:.2} s of CPU, peak RSS {:.1} MiB); SQLite {:.2} s = {:.0} records/s ({:.2} s of CPU, peak RSS {:.1} MiB); SQLite/JSONL = {:.2} (median of the paired runs' ratios: {paired:.2})",
            j.as_secs_f64(),
            rate(j),
            median(jsonl_cpu),
            jsonl_peak as f64 / 1024.0,
            s.as_secs_f64(),
            rate(s),
            median(sqlite_cpu),
            sqlite_peak as f64 / 1024.0,
            rate(s) / rate(j)
        );
        results.push(rate(s) / rate(j));
    }
    println!("medians of {} runs of {RECORDS} records each", runs());
}
