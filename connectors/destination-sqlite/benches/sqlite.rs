//! 1,000,000 HubSpot-shaped records from an in-memory source into SQLite, next to the JSONL
//! destination in the same run (the budget: SQLite at no less than half of JSONL's
//! records/s), with the peak memory of each. `cargo bench -p intake-destination-sqlite`.
//!
//! Full refresh also times SQLite by itself in the same runs, as an application would load it:
//! the same table, page size, journal, `synchronous` and transactions, the rows already split
//! into their values, one thread running the destination's 64-row inserts through rusqlite,
//! SQLite's own WAL checkpoints. It shows what SQLite costs on the machine at hand, next to
//! JSONL: on the 2-core machine it reached 0.27-1.15 of JSONL's records/s, and the destination
//! (conversion and engine included) 1.05-1.47x its speed, by checkpointing on another thread.

#[path = "../../../benches/support/contacts.rs"]
mod contacts;
#[path = "../../../benches/support/rss.rs"]
mod rss;

use rss::{cpu_seconds, peak_rss_kib, reset_peak};
use std::time::{Duration, Instant};

use contacts::{Bench, pool};
use intake::destination::jsonl::JsonlDestination;
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

/// The rows of [`bare`]: each pool record's values as the destination binds them.
fn bare_rows(pool: &[Record]) -> Vec<[String; 4]> {
    pool.iter()
        .map(|r| {
            let v: serde_json::Value = serde_json::from_str(r.json()).expect("pool record");
            let text = |k: &str| v[k].as_str().expect("string field").to_string();
            [
                text("id"),
                v["properties"].to_string(),
                text("createdAt"),
                text("updatedAt"),
            ]
        })
        .collect()
}

/// [`RECORDS`] rows into a new table through SQLite alone (see the module docs); the time
/// includes closing the database, which checkpoints the rest of the WAL.
fn bare(db: &std::path::Path, rows: &[[String; 4]]) -> Duration {
    use rusqlite::Connection;
    const CHUNK: usize = 64;
    const COMMIT_EVERY: usize = 10_000;
    let started = Instant::now();
    let conn = Connection::open(db).expect("open");
    conn.pragma_update(None, "page_size", 32_768)
        .expect("page size");
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .expect("WAL");
    assert!(mode.eq_ignore_ascii_case("wal"));
    conn.pragma_update(None, "synchronous", "NORMAL")
        .expect("synchronous");
    conn.pragma_update(None, "cache_size", -16_384)
        .expect("cache size");
    conn.execute_batch(
        "CREATE TABLE contacts (id TEXT, properties JSON TEXT, createdAt TIMESTAMP TEXT,
         updatedAt TIMESTAMP TEXT, archived BOOLEAN, _intake_extracted_at INTEGER,
         _intake_raw JSON TEXT, _intake_error TEXT)",
    )
    .expect("table");
    let values: Vec<String> = (0..CHUNK)
        .map(|r| {
            let b = 2 + r * 5;
            format!(
                "(?{b}, ?{}, ?{}, ?{}, ?{}, ?1, NULL, NULL)",
                b + 1,
                b + 2,
                b + 3,
                b + 4
            )
        })
        .collect();
    let mut insert = conn
        .prepare(&format!(
            "INSERT INTO contacts VALUES {}",
            values.join(", ")
        ))
        .expect("insert");
    conn.execute_batch("BEGIN").expect("begin");
    let mut done = 0;
    while done < RECORDS {
        insert
            .raw_bind_parameter(1, 1_700_000_000_000_i64)
            .expect("bind");
        for r in 0..CHUNK {
            let row = &rows[(done + r) % rows.len()];
            let b = 2 + r * 5;
            for (k, value) in row.iter().enumerate() {
                insert
                    .raw_bind_parameter(b + k, value.as_str())
                    .expect("bind");
            }
            insert.raw_bind_parameter(b + 4, 0_i64).expect("bind");
        }
        insert.raw_execute().expect("insert");
        done += CHUNK;
        if done % COMMIT_EVERY < CHUNK {
            conn.execute_batch("COMMIT; BEGIN").expect("commit");
        }
    }
    conn.execute_batch("COMMIT").expect("commit");
    drop(insert);
    drop(conn);
    started.elapsed()
}

/// The median over runs of `jsonl[i] / other[i]`: each run pairs a JSONL run with the one right
/// after it, and the median of those ratios is steadier than the ratio of the medians when the
/// machine has slow spells.
fn paired_median(jsonl: &[Duration], other: &[Duration]) -> f64 {
    median(
        jsonl
            .iter()
            .zip(other)
            .map(|(j, o)| j.as_secs_f64() / o.as_secs_f64())
            .collect(),
    )
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
    let rows = bare_rows(&pool);
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
        // SQLite alone, for the bulk load only (a merge's cost depends on the keys).
        let mut alone = Vec::new();
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
            if !incremental && !only_sqlite {
                let db = dir.path().join(format!("bare{i}.db"));
                alone.push(bare(&db, &rows));
                let _ = std::fs::remove_file(&db);
            }
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
        let paired = paired_median(&jsonl, &sqlite);
        let (j, s) = (median(jsonl.clone()), median(sqlite));
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
        if !alone.is_empty() {
            let paired = paired_median(&jsonl, &alone);
            let a = median(alone);
            println!(
                "  SQLite alone (rows pre-built, one thread, SQLite's own checkpoints): {:.2} s = {:.0} records/s = {:.2} of JSONL's (paired: {:.2}); intake's SQLite sync took {:.2} of its time",
                a.as_secs_f64(),
                rate(a),
                rate(a) / rate(j),
                paired,
                s.as_secs_f64() / a.as_secs_f64()
            );
        }
    }
    println!("medians of {} runs of {RECORDS} records each", runs());
}
