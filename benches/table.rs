//! What every table destination pays per record before its engine sees a row: the split of a
//! HubSpot-shaped record into its top-level fields ([`Fields::of`]) and their conversion to
//! cells of the stream's columns ([`TableSchema::cells`]). Measured apart from the end-to-end
//! benches, whose figures move with the machine more than these steps do.
//! `cargo bench --bench table`.

#[path = "support/contacts.rs"]
mod contacts;

use criterion::{Criterion, Throughput};
use intake::Record;
use intake::destination::table::{Fields, TableSchema};
use serde_json::json;

fn benches(c: &mut Criterion) {
    let pool = contacts::pool();
    // The bench source's stream: `properties` lands in a JSON column, the rest in text and
    // boolean columns (as in the SQLite and e2e benches).
    let schema = TableSchema::from_json_schema(&json!({"type": "object", "properties": {
        "id": {"type": "string"}, "properties": {"type": "object"},
        "createdAt": {"type": "string"}, "updatedAt": {"type": "string"},
        "archived": {"type": "boolean"}}}));
    let records: Vec<&Record> = pool.iter().take(100).collect();
    let mut group = c.benchmark_group("table");
    group.throughput(Throughput::Elements(records.len() as u64));
    group.bench_function("split", |b| {
        b.iter(|| {
            records
                .iter()
                .map(|r| Fields::of(r).expect("fields").iter().count())
                .sum::<usize>()
        })
    });
    group.bench_function("split_and_cells", |b| {
        b.iter(|| {
            records
                .iter()
                .map(|r| {
                    let fields = Fields::of(r).expect("fields");
                    let (cells, misfits) = schema.cells(&fields);
                    assert!(misfits.is_empty());
                    cells.len()
                })
                .sum::<usize>()
        })
    });
    group.bench_function("field_lookup", |b| {
        b.iter(|| {
            records
                .iter()
                .filter(|r| r.field("updatedAt").expect("field").is_some())
                .count()
        })
    });
    group.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    benches(&mut c);
    c.final_summary();
}
