//! 1,000,000 HubSpot-shaped records from an in-memory source into PostgreSQL (append and
//! append_dedup), next to a plain `COPY ... FROM STDIN (FORMAT csv)` of the same rows from a
//! CSV file, on a throwaway server. `cargo bench -p intake-destination-postgres`.

#[path = "../../../benches/support/contacts.rs"]
mod contacts;
#[path = "../../../benches/support/rss.rs"]
mod rss;
#[path = "../tests/support/mod.rs"]
mod support;

use rss::peak_rss_kib;
use std::io::Write;
use std::time::{Duration, Instant};

use contacts::{Bench, contact, pool};
use futures::SinkExt;
use intake::DestinationSyncMode;
use intake_destination_postgres::PostgresDestination;
use serde_json::json;

const RECORDS: usize = 1_000_000;

async fn client(url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client
}

/// The same rows as CSV: id, properties (JSON), createdAt, updatedAt, archived.
fn write_csv(path: &std::path::Path) {
    let mut w = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    for i in 0..RECORDS {
        let c = contact(i % 1000);
        let quote = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
        writeln!(
            w,
            "{},{},{},{},{}",
            c["id"].as_str().unwrap(),
            quote(&c["properties"].to_string()),
            c["createdAt"].as_str().unwrap(),
            c["updatedAt"].as_str().unwrap(),
            c["archived"]
        )
        .unwrap();
    }
}

async fn plain_copy(url: &str, csv: &std::path::Path) -> Duration {
    let c = client(url).await;
    c.batch_execute(
        "DROP TABLE IF EXISTS plain; CREATE TABLE plain (id TEXT, properties JSONB, \"createdAt\" TIMESTAMPTZ, \"updatedAt\" TIMESTAMPTZ, archived BOOLEAN)",
    )
    .await
    .unwrap();
    let started = Instant::now();
    let sink = c
        .copy_in("COPY plain FROM STDIN (FORMAT csv)")
        .await
        .unwrap();
    futures::pin_mut!(sink);
    // Streamed from the file in 1 MiB chunks, as psql's \copy does.
    let mut file = std::fs::File::open(csv).unwrap();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = std::io::Read::read(&mut file, &mut buf).unwrap();
        if n == 0 {
            break;
        }
        sink.send(bytes::Bytes::copy_from_slice(&buf[..n]))
            .await
            .unwrap();
    }
    sink.as_mut().finish().await.unwrap();
    started.elapsed()
}

async fn intake_sync(url: &str, incremental: bool) -> Duration {
    let c = client(url).await;
    c.batch_execute("DROP TABLE IF EXISTS contacts; DROP TABLE IF EXISTS _intake_state")
        .await
        .unwrap();
    let source = Bench {
        n: RECORDS,
        pool: pool(),
        incremental,
    };
    let mut catalog = intake::Source::discover(&source, &json!({}))
        .await
        .unwrap()
        .configure_all();
    catalog.streams[0].destination_sync_mode = if incremental {
        DestinationSyncMode::AppendDedup
    } else {
        DestinationSyncMode::Append
    };
    let started = Instant::now();
    let report = intake::sync(source, json!({}))
        .catalog(catalog)
        .to(PostgresDestination::connect(url))
        .run()
        .await
        .unwrap();
    assert_eq!(report.records_written(), RECORDS as u64);
    started.elapsed()
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let pg = support::TestPostgres::start();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let url = rt.block_on(pg.database("bench"));
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("contacts.csv");
    write_csv(&csv);
    let rate = |d: Duration| RECORDS as f64 / d.as_secs_f64();
    // intake first, so the peak memory is intake's.
    let append = rt.block_on(intake_sync(&url, false));
    let dedup = rt.block_on(intake_sync(&url, true));
    let peak = peak_rss_kib();
    let plain = rt.block_on(plain_copy(&url, &csv));
    println!(
        "plain COPY csv: {:.2} s = {:.0} rows/s; intake append: {:.2} s = {:.0} records/s ({:.2}x of plain COPY); intake append_dedup: {:.2} s = {:.0} records/s ({:.2}x); peak RSS {:.1} MiB",
        plain.as_secs_f64(),
        rate(plain),
        append.as_secs_f64(),
        rate(append),
        rate(append) / rate(plain),
        dedup.as_secs_f64(),
        rate(dedup),
        rate(dedup) / rate(plain),
        peak as f64 / 1024.0
    );
}
