//! The Parquet destination, files read back with the parquet crate's arrow reader: append and
//! overwrite, dedup refused, schema evolution across files, and an interrupted sync.

#[path = "../../../tests/support/rows.rs"]
mod rows;

use std::path::Path;
use std::sync::{Arc, Mutex};

use arrow_array::{Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, TimeUnit};
use intake::{DestinationSyncMode, ReadOptions};
use intake_destination_parquet::ParquetDestination;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use rows::{Src, catalog, day, pipe_read_into, row, schema, source, write_files, write_then_kill};
use serde_json::{Value, json};

async fn sync(
    dir: &Path,
    src: Src,
    mode: DestinationSyncMode,
) -> intake::Result<intake::SyncReport> {
    let c = catalog(&src, mode).await;
    intake::sync(src, json!({}))
        .catalog(c)
        .options(ReadOptions {
            checkpoint_records: 10,
            ..ReadOptions::default()
        })
        .to(ParquetDestination::new(dir))
        .run()
        .await
}

/// Every batch of every Parquet file in the stream's folder, in file-name order.
fn read(dir: &Path) -> Vec<RecordBatch> {
    let mut files: Vec<_> = std::fs::read_dir(dir.join("contacts"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "parquet"))
        .collect();
    files.sort();
    files
        .iter()
        .flat_map(|f| {
            ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(f).unwrap())
                .unwrap()
                .build()
                .unwrap()
                .map(Result::unwrap)
                .collect::<Vec<_>>()
        })
        .collect()
}

fn ids(dir: &Path) -> Vec<i64> {
    let mut out: Vec<i64> = read(dir)
        .iter()
        .flat_map(|b| {
            let col = b
                .column_by_name("id")
                .unwrap()
                .as_any()
                .downcast_ref::<Int64Array>()
                .unwrap()
                .clone();
            (0..col.len()).map(move |i| col.value(i))
        })
        .collect();
    out.sort();
    out
}

fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.join("contacts"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn append_writes_typed_files_and_appends_more() {
    let dir = tempfile::tempdir().unwrap();
    let rows = Arc::new(Mutex::new(
        (1..=25).map(|i| row(i, &day(i as u32))).collect::<Vec<_>>(),
    ));
    let report = sync(
        dir.path(),
        source(&rows, schema(), None),
        DestinationSyncMode::Append,
    )
    .await
    .unwrap();
    assert_eq!(report.records_written(), 25);
    let batches = read(dir.path());
    let s = batches[0].schema();
    for (col, ty) in [
        ("id", DataType::Int64),
        ("name", DataType::Utf8),
        ("score", DataType::Float64),
        ("active", DataType::Boolean),
        (
            "updated_at",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        ),
        ("birthday", DataType::Date32),
        ("tags", DataType::Utf8),
        (
            "_intake_extracted_at",
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
        ),
    ] {
        assert_eq!(s.field_with_name(col).unwrap().data_type(), &ty, "{col}");
    }
    let tags = batches[0]
        .column_by_name("tags")
        .unwrap()
        .as_any()
        .downcast_ref::<StringArray>()
        .unwrap();
    assert_eq!(tags.value(0), "[\"a\",1]");
    // A file per checkpoint (every 10 records), and the state in the sidecar.
    assert_eq!(files(dir.path()).len(), 3);
    let sidecar: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("_intake_state.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(sidecar["files"]["contacts"].as_array().unwrap().len(), 3);
    rows.lock().unwrap().push(row(26, &day(27)));
    sync(
        dir.path(),
        source(&rows, schema(), None),
        DestinationSyncMode::Append,
    )
    .await
    .unwrap();
    assert_eq!(ids(dir.path()), (1..=26).collect::<Vec<_>>());
}

#[tokio::test]
async fn overwrite_replaces_the_folder_and_dedup_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let rows = Arc::new(Mutex::new(
        (1..=15).map(|i| row(i, &day(1))).collect::<Vec<_>>(),
    ));
    sync(
        dir.path(),
        source(&rows, schema(), None),
        DestinationSyncMode::Overwrite,
    )
    .await
    .unwrap();
    *rows.lock().unwrap() = (100..=104).map(|i| row(i, &day(2))).collect();
    sync(
        dir.path(),
        source(&rows, schema(), None),
        DestinationSyncMode::Overwrite,
    )
    .await
    .unwrap();
    assert_eq!(ids(dir.path()), (100..=104).collect::<Vec<_>>());
    // A failed overwrite leaves the old files.
    *rows.lock().unwrap() = (200..=240).map(|i| row(i, &day(3))).collect();
    assert!(
        sync(
            dir.path(),
            source(&rows, schema(), Some(20)),
            DestinationSyncMode::Overwrite
        )
        .await
        .is_err()
    );
    assert_eq!(ids(dir.path()), (100..=104).collect::<Vec<_>>());
    let err = sync(
        dir.path(),
        source(&rows, schema(), None),
        DestinationSyncMode::AppendDedup,
    )
    .await
    .unwrap_err();
    assert!(
        err.is_config() && err.to_string().contains("append_dedup"),
        "{err}"
    );
}

#[tokio::test]
async fn schema_changes_start_a_new_file_and_misfits_stay_raw() {
    let dir = tempfile::tempdir().unwrap();
    let mut evolving: Vec<Value> = (1..=8).map(|i| row(i, &day(1))).collect();
    evolving[3]["nickname"] = json!("four");
    evolving[5]["active"] = json!("yes");
    let rows = Arc::new(Mutex::new(evolving));
    let report = sync(
        dir.path(),
        source(&rows, schema(), None),
        DestinationSyncMode::Append,
    )
    .await
    .unwrap();
    assert_eq!(report.records_written(), 8);
    assert_eq!(report.stream("contacts").unwrap().rejected, 1);
    let batches = read(dir.path());
    assert_eq!(batches.len(), 2, "the new column starts a second file");
    assert!(batches[0].schema().field_with_name("nickname").is_err());
    let nick = batches[1]
        .column_by_name("nickname")
        .unwrap()
        .as_any()
        .downcast_ref::<StringArray>()
        .unwrap();
    assert_eq!(nick.value(0), "four");
    let raw = batches[1]
        .column_by_name("_intake_raw")
        .unwrap()
        .as_any()
        .downcast_ref::<StringArray>()
        .unwrap();
    assert!(raw.value(2).contains("\"active\":\"yes\""));
    assert_eq!(ids(dir.path()), (1..=8).collect::<Vec<_>>());
}

#[tokio::test]
async fn an_interrupted_sync_leaves_only_committed_files_and_the_rerun_is_exact() {
    let dir = tempfile::tempdir().unwrap();
    let rows = Arc::new(Mutex::new(
        (1..=95)
            .map(|i| row(i, &day(1 + (i / 4) as u32)))
            .collect::<Vec<_>>(),
    ));
    assert!(
        sync(
            dir.path(),
            source(&rows, schema(), Some(50)),
            DestinationSyncMode::Append
        )
        .await
        .is_err()
    );
    let names = files(dir.path());
    assert!(names.iter().all(|n| n.ends_with(".parquet")), "{names:?}");
    let sidecar: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("_intake_state.json")).unwrap(),
    )
    .unwrap();
    let committed: Vec<String> = sidecar["files"]["contacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, committed);
    // A file a crash left behind after the last checkpoint is removed at the next start.
    std::fs::copy(
        dir.path().join("contacts").join(&names[0]),
        dir.path().join("contacts/part-stray-00009.parquet"),
    )
    .unwrap();
    sync(
        dir.path(),
        source(&rows, schema(), None),
        DestinationSyncMode::Append,
    )
    .await
    .unwrap();
    assert!(
        !dir.path()
            .join("contacts/part-stray-00009.parquet")
            .exists()
    );
    assert_eq!(ids(dir.path()), (1..=95).collect::<Vec<_>>());
}

#[tokio::test]
async fn the_protocol_path_from_a_source_read_into_the_destination_binary() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("out");
    let rows = Arc::new(Mutex::new(
        (1..=42)
            .map(|i| row(i, &day(1 + (i % 9) as u32)))
            .collect::<Vec<_>>(),
    ));
    write_files(dir.path(), json!({"destination_path": out_dir}), "append");
    let (states_in, states_out) =
        pipe_read_into(env!("CARGO_BIN_EXE_destination-parquet"), dir.path(), &rows).await;
    assert!(!states_in.is_empty());
    assert_eq!(states_out, states_in);
    assert_eq!(ids(&out_dir), (1..=42).collect::<Vec<_>>());
}

#[test]
fn a_killed_destination_process_keeps_only_acknowledged_files() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("out");
    write_files(dir.path(), json!({"destination_path": out_dir}), "append");
    write_then_kill(env!("CARGO_BIN_EXE_destination-parquet"), dir.path());
    let sidecar: Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("_intake_state.json")).unwrap())
            .unwrap();
    assert_eq!(sidecar["state"][0]["stream"]["stream_state"]["upto"], 300);
    // Committed files hold exactly the acknowledged rows; the half batch was never committed
    // (at most a .tmp file, which the next start removes).
    assert_eq!(ids(&out_dir), (1..=300).collect::<Vec<_>>());
}
