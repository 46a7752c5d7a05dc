//! The SQLite destination against a real SQLite file: each write mode read back, schema
//! evolution, crashes (an interrupted source, and a killed process), and the protocol path.

use std::path::Path;
use std::sync::{Arc, Mutex};

#[path = "../../../tests/support/rows.rs"]
mod rows;

use intake::{DestinationSyncMode, ReadOptions};
use intake_destination_sqlite::SqliteDestination;
use rows::{
    Src, catalog, day, pipe_read_into, row, schema, source, source_in_pages, write_files,
    write_then_kill,
};
use rusqlite::Connection;
use serde_json::{Value, json};

async fn sync(
    db: &Path,
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
        .to(SqliteDestination::open(db))
        .run()
        .await
}

fn query(db: &Path, sql: &str) -> Vec<Vec<Value>> {
    let conn = Connection::open(db).unwrap();
    let mut stmt = conn.prepare(sql).unwrap();
    let n = stmt.column_count();
    stmt.query_map([], |r| {
        Ok((0..n)
            .map(|i| match r.get_ref(i).unwrap() {
                rusqlite::types::ValueRef::Null => Value::Null,
                rusqlite::types::ValueRef::Integer(i) => json!(i),
                rusqlite::types::ValueRef::Real(f) => json!(f),
                rusqlite::types::ValueRef::Text(t) => json!(String::from_utf8_lossy(t)),
                rusqlite::types::ValueRef::Blob(_) => json!("<blob>"),
            })
            .collect())
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

fn ids(db: &Path) -> Vec<i64> {
    query(db, "SELECT id FROM contacts ORDER BY id")
        .into_iter()
        .map(|r| r[0].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn append_writes_typed_columns_and_appends_again() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("intake.db");
    let rows = Arc::new(Mutex::new(
        (1..=25).map(|i| row(i, &day(i as u32))).collect(),
    ));
    let report = sync(
        &db,
        source(&rows, schema(), None),
        DestinationSyncMode::Append,
    )
    .await
    .unwrap();
    assert_eq!(report.records_written(), 25);
    let types: Vec<(String, String)> =
        query(&db, "SELECT name, type FROM pragma_table_info('contacts')")
            .into_iter()
            .map(|r| {
                (
                    r[0].as_str().unwrap().to_string(),
                    r[1].as_str().unwrap().to_string(),
                )
            })
            .collect();
    for (col, ty) in [
        ("id", "INTEGER"),
        ("name", "TEXT"),
        ("score", "REAL"),
        ("active", "BOOLEAN"),
        ("updated_at", "TIMESTAMP TEXT"),
        ("birthday", "DATE TEXT"),
        ("tags", "JSON TEXT"),
        ("address", "JSON TEXT"),
        ("_intake_extracted_at", "INTEGER"),
        ("_intake_raw", "JSON TEXT"),
    ] {
        assert!(
            types.contains(&(col.to_string(), ty.to_string())),
            "{col} {ty} in {types:?}"
        );
    }
    let first = &query(
        &db,
        "SELECT id, name, score, active, updated_at, birthday, tags, address, _intake_raw, typeof(id), typeof(score) FROM contacts WHERE id = 4",
    )[0];
    assert_eq!(
        first,
        &vec![
            json!(4),
            json!("n4"),
            json!(2.0),
            json!(1),
            json!("2024-01-04T08:00:00.000000Z"),
            json!("1990-05-17"),
            json!("[\"a\",4]"),
            json!("{\"city\":\"Oslo\"}"),
            Value::Null,
            json!("integer"),
            json!("real")
        ]
    );
    // The state is in the same file, and a second append (incremental from it) adds only the
    // records at the boundary again... which append keeps: at-least-once at the boundary is
    // what the dedup mode exists for. Here nothing changed, so the boundary keys dedup it.
    let again = sync(
        &db,
        source(&rows, schema(), None),
        DestinationSyncMode::Append,
    )
    .await
    .unwrap();
    assert_eq!(again.records_written(), 0);
    rows.lock().unwrap().push(row(26, &day(27)));
    sync(
        &db,
        source(&rows, schema(), None),
        DestinationSyncMode::Append,
    )
    .await
    .unwrap();
    assert_eq!(ids(&db), (1..=26).collect::<Vec<_>>());
}

#[tokio::test]
async fn overwrite_swaps_in_the_new_table_at_the_end() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("intake.db");
    let rows = Arc::new(Mutex::new((1..=15).map(|i| row(i, &day(1))).collect()));
    sync(
        &db,
        source(&rows, schema(), None),
        DestinationSyncMode::Overwrite,
    )
    .await
    .unwrap();
    assert_eq!(ids(&db).len(), 15);
    *rows.lock().unwrap() = (100..=104).map(|i| row(i, &day(2))).collect();
    sync(
        &db,
        source(&rows, schema(), None),
        DestinationSyncMode::Overwrite,
    )
    .await
    .unwrap();
    assert_eq!(ids(&db), (100..=104).collect::<Vec<_>>());
    // A failed overwrite leaves the old table as it was.
    *rows.lock().unwrap() = (200..=240).map(|i| row(i, &day(3))).collect();
    let err = sync(
        &db,
        source(&rows, schema(), Some(20)),
        DestinationSyncMode::Overwrite,
    )
    .await;
    assert!(err.is_err());
    assert_eq!(ids(&db), (100..=104).collect::<Vec<_>>());
    // The next overwrite starts its staging table over and completes.
    *rows.lock().unwrap() = (300..=302).map(|i| row(i, &day(4))).collect();
    sync(
        &db,
        source(&rows, schema(), None),
        DestinationSyncMode::Overwrite,
    )
    .await
    .unwrap();
    assert_eq!(ids(&db), (300..=302).collect::<Vec<_>>());
    let tables = query(
        &db,
        "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name",
    );
    assert_eq!(
        tables,
        vec![vec![json!("_intake_state")], vec![json!("contacts")]]
    );
}

#[tokio::test]
async fn append_dedup_keeps_the_newest_version_of_each_key() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("intake.db");
    let rows = Arc::new(Mutex::new(
        (1..=30).map(|i| row(i, &day(1 + (i % 5) as u32))).collect(),
    ));
    sync(
        &db,
        source(&rows, schema(), None),
        DestinationSyncMode::AppendDedup,
    )
    .await
    .unwrap();
    assert_eq!(ids(&db), (1..=30).collect::<Vec<_>>());
    // Record 3 changes; record 31 arrives.
    {
        let mut r = rows.lock().unwrap();
        r[2]["name"] = json!("renamed");
        r[2]["updated_at"] = json!(day(20));
        r.push(row(31, &day(21)));
    }
    sync(
        &db,
        source(&rows, schema(), None),
        DestinationSyncMode::AppendDedup,
    )
    .await
    .unwrap();
    assert_eq!(ids(&db), (1..=31).collect::<Vec<_>>());
    assert_eq!(
        query(&db, "SELECT name FROM contacts WHERE id = 3"),
        vec![vec![json!("renamed")]]
    );
    // A full re-read that delivers an older version never overwrites the newer one.
    let stale = Arc::new(Mutex::new(vec![{
        let mut r = row(3, &day(2));
        r["name"] = json!("stale");
        r
    }]));
    let src = source(&stale, schema(), None);
    let mut c = catalog(&src, DestinationSyncMode::AppendDedup).await;
    c.streams[0].sync_mode = intake::SyncMode::FullRefresh;
    intake::sync(src, json!({}))
        .catalog(c)
        .to(SqliteDestination::open(&db))
        .run()
        .await
        .unwrap();
    assert_eq!(
        query(&db, "SELECT name FROM contacts WHERE id = 3"),
        vec![vec![json!("renamed")]]
    );
}

#[tokio::test]
async fn schema_evolution_adds_widens_and_keeps_misfits_raw() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("intake.db");
    let mut rows: Vec<Value> = (1..=12).map(|i| row(i, &day(1))).collect();
    // Mid-sync: a new field, a fraction in the integer-typed... score is a number; use a new
    // integer field that later sees a fraction; and a value that fits nothing.
    rows[5]["nickname"] = json!("sixie");
    rows[6]["visits"] = json!(3);
    rows[8]["visits"] = json!(3.5);
    rows[10]["active"] = json!("yes");
    let rows = Arc::new(Mutex::new(rows));
    let report = sync(
        &db,
        source(&rows, schema(), None),
        DestinationSyncMode::AppendDedup,
    )
    .await
    .unwrap();
    assert_eq!(report.records_written(), 12, "nothing dropped");
    let s = report.stream("contacts").unwrap();
    assert_eq!(s.rejected, 1);
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w.contains("\"active\" holds a string where the column is boolean")),
        "{:?}",
        report.warnings
    );
    assert_eq!(
        query(&db, "SELECT nickname FROM contacts WHERE id = 6"),
        vec![vec![json!("sixie")]]
    );
    assert_eq!(
        query(
            &db,
            "SELECT type FROM pragma_table_info('contacts') WHERE name = 'visits'"
        ),
        vec![vec![json!("REAL")]]
    );
    assert_eq!(
        query(
            &db,
            "SELECT visits FROM contacts WHERE id IN (7, 9) ORDER BY id"
        ),
        vec![vec![json!(3.0)], vec![json!(3.5)]]
    );
    let misfit = &query(
        &db,
        "SELECT active, _intake_raw, _intake_error FROM contacts WHERE id = 11",
    )[0];
    assert_eq!(misfit[0], Value::Null);
    assert!(misfit[1].as_str().unwrap().contains("\"active\":\"yes\""));
    assert!(misfit[2].as_str().unwrap().contains("boolean"));
    // Across runs: the schema now says `id` is a string; the column is rebuilt as TEXT, rows kept.
    let mut wider = schema();
    wider["properties"]["score"] = json!({"type": "string"});
    rows.lock().unwrap().push({
        let mut r = row(13, &day(9));
        r["score"] = json!("high");
        r
    });
    sync(
        &db,
        source(&rows, wider, None),
        DestinationSyncMode::AppendDedup,
    )
    .await
    .unwrap();
    assert_eq!(
        query(
            &db,
            "SELECT type FROM pragma_table_info('contacts') WHERE name = 'score'"
        ),
        vec![vec![json!("TEXT")]]
    );
    assert_eq!(
        query(
            &db,
            "SELECT score FROM contacts WHERE id IN (4, 13) ORDER BY id"
        ),
        vec![vec![json!("2.0")], vec![json!("high")]]
    );
    assert_eq!(ids(&db).len(), 13);
}

/// The writer converts records on one thread and inserts them on another in chunks of 64: a
/// column that appears (or widens) after a full chunk of the same page must reach the table
/// before the rows that need it, and the rows before it must land under the old columns.
#[tokio::test]
async fn columns_that_change_deep_inside_a_large_page_land_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("intake.db");
    let mut rows: Vec<Value> = (1..=300).map(|i| row(i, &day(1))).collect();
    rows[70]["nickname"] = json!("seventy-one");
    rows[150]["visits"] = json!(2);
    rows[200]["visits"] = json!(2.5);
    rows[250]["nickname"] = json!({"first": "two", "last": "fifty-one"});
    let rows = Arc::new(Mutex::new(rows));
    let report = sync(
        &db,
        source_in_pages(&rows, schema(), 300),
        DestinationSyncMode::Append,
    )
    .await
    .unwrap();
    assert_eq!(report.records_written(), 300);
    assert_eq!(ids(&db), (1..=300).collect::<Vec<_>>());
    assert_eq!(
        query(
            &db,
            "SELECT id, nickname, visits FROM contacts WHERE nickname IS NOT NULL OR visits IS NOT NULL ORDER BY id"
        ),
        vec![
            vec![json!(71), json!("seventy-one"), Value::Null],
            vec![json!(151), Value::Null, json!(2.0)],
            vec![json!(201), Value::Null, json!(2.5)],
        ]
    );
    // An object where the (new) text column is: kept whole as raw JSON, the reason counted.
    let misfit = &query(
        &db,
        "SELECT nickname, _intake_raw, _intake_error FROM contacts WHERE id = 251",
    )[0];
    assert_eq!(misfit[0], Value::Null);
    assert!(
        misfit[1]
            .as_str()
            .unwrap()
            .contains(r#""last":"fifty-one""#)
    );
    assert!(misfit[2].as_str().unwrap().contains("nickname"));
    assert_eq!(report.stream("contacts").unwrap().rejected, 1);
    assert_eq!(
        query(
            &db,
            "SELECT name, type FROM pragma_table_info('contacts') WHERE name IN ('nickname', 'visits') ORDER BY name"
        ),
        vec![
            vec![json!("nickname"), json!("TEXT")],
            vec![json!("visits"), json!("REAL")]
        ]
    );
    // Rows untouched by the changes keep every typed value.
    assert_eq!(
        query(&db, "SELECT name, active FROM contacts WHERE id = 300"),
        vec![vec![json!("n300"), json!(1)]]
    );
    // The misfit's chunk binds a raw pair for every row: its neighbours keep theirs empty and
    // every column in place; every row has its extraction time.
    assert_eq!(
        query(
            &db,
            "SELECT id, name, _intake_raw IS NULL, _intake_error IS NULL FROM contacts WHERE id BETWEEN 250 AND 252 ORDER BY id"
        ),
        vec![
            vec![json!(250), json!("n250"), json!(1), json!(1)],
            vec![json!(251), json!("n251"), json!(0), json!(0)],
            vec![json!(252), json!("n252"), json!(1), json!(1)],
        ]
    );
    assert_eq!(
        query(
            &db,
            "SELECT count(*), count(_intake_raw), count(_intake_error), count(DISTINCT _intake_extracted_at) FROM contacts"
        ),
        vec![vec![json!(300), json!(1), json!(1), json!(1)]]
    );
}

#[tokio::test]
async fn an_interrupted_sync_never_stores_state_ahead_of_the_rows_and_a_rerun_is_exact() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("intake.db");
    let rows = Arc::new(Mutex::new(
        (1..=95).map(|i| row(i, &day(1 + (i / 4) as u32))).collect(),
    ));
    // Fails after 50 records: mid-sync, after checkpoints every 10 records.
    let err = sync(
        &db,
        source(&rows, schema(), Some(50)),
        DestinationSyncMode::AppendDedup,
    )
    .await;
    assert!(err.is_err());
    let state = query(&db, "SELECT state FROM _intake_state");
    let saved: Value = serde_json::from_str(state[0][0].as_str().unwrap()).unwrap();
    let cursor = saved["cursor"].as_str().unwrap().to_string();
    // Every record at or before the saved cursor is in the table.
    let parse = |s: &str| intake::state::parse_datetime(s).unwrap();
    let covered: Vec<i64> = rows
        .lock()
        .unwrap()
        .iter()
        .filter(|r| parse(r["updated_at"].as_str().unwrap()) < parse(&cursor))
        .map(|r| r["id"].as_i64().unwrap())
        .collect();
    let present = ids(&db);
    assert!(
        covered.iter().all(|id| present.contains(id)),
        "state {cursor} covers rows not in the table"
    );
    assert!(
        present.len() >= 40 && present.len() <= 50,
        "{}",
        present.len()
    );
    // The rerun yields exactly the source's rows.
    sync(
        &db,
        source(&rows, schema(), None),
        DestinationSyncMode::AppendDedup,
    )
    .await
    .unwrap();
    assert_eq!(ids(&db), (1..=95).collect::<Vec<_>>());
}

/// Reading the state is what another process (or the poll of a crash test) does while a sync
/// writes: it must neither change the file nor wait for the writer's transaction.
#[tokio::test]
async fn reading_the_state_changes_nothing_and_sees_only_committed_state() {
    use intake::Destination;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("other.db");
    // A database intake has never written: no state, and no state table created by looking.
    Connection::open(&db)
        .unwrap()
        .execute_batch("CREATE TABLE foo (x INTEGER)")
        .unwrap();
    let dest = SqliteDestination::open(&db);
    assert!(dest.stored_state(&json!({})).await.unwrap().is_none());
    assert_eq!(
        query(&db, "SELECT name FROM sqlite_master WHERE type = 'table'"),
        vec![vec![json!("foo")]]
    );
    // A synced database, with a writer holding an uncommitted change to the state.
    let db = dir.path().join("intake.db");
    let rows = Arc::new(Mutex::new((1..=20).map(|i| row(i, &day(1))).collect()));
    sync(
        &db,
        source(&rows, schema(), None),
        DestinationSyncMode::AppendDedup,
    )
    .await
    .unwrap();
    let dest = SqliteDestination::open(&db);
    let committed = dest.stored_state(&json!({})).await.unwrap().unwrap();
    let writer = Connection::open(&db).unwrap();
    writer
        .execute_batch("BEGIN IMMEDIATE; UPDATE _intake_state SET state = '{\"cursor\":\"x\"}'")
        .unwrap();
    let seen = dest.stored_state(&json!({})).await.unwrap().unwrap();
    assert_eq!(seen, committed);
    writer.execute_batch("ROLLBACK").unwrap();
    // A file that is not a database is an error naming it, not an empty state.
    let junk = dir.path().join("junk.db");
    std::fs::write(&junk, vec![7u8; 4096]).unwrap();
    let err = SqliteDestination::open(&junk)
        .stored_state(&json!({}))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("junk.db"), "{err}");
}

#[test]
fn a_killed_destination_process_keeps_only_acknowledged_state_with_its_rows() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("intake.db");
    write_files(dir.path(), json!({"path": db}), "append_dedup");
    write_then_kill(env!("CARGO_BIN_EXE_destination-sqlite"), dir.path());
    let state = query(&db, "SELECT state FROM _intake_state");
    let upto = serde_json::from_str::<Value>(state[0][0].as_str().unwrap()).unwrap()["upto"]
        .as_i64()
        .unwrap();
    assert_eq!(upto, 300);
    // Exactly the acknowledged rows: the unacknowledged half batch was never committed.
    assert_eq!(ids(&db), (1..=300).collect::<Vec<_>>());
}

#[tokio::test]
async fn the_protocol_path_from_a_source_read_into_the_destination_binary() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("intake.db");
    let rows = Arc::new(Mutex::new(
        (1..=42)
            .map(|i| row(i, &day(1 + (i % 9) as u32)))
            .collect::<Vec<_>>(),
    ));
    write_files(dir.path(), json!({"path": db}), "append_dedup");
    let (states_in, states_out) =
        pipe_read_into(env!("CARGO_BIN_EXE_destination-sqlite"), dir.path(), &rows).await;
    assert!(!states_in.is_empty());
    // Every state comes back, in order, once its rows are committed.
    assert_eq!(states_out, states_in);
    assert_eq!(ids(&db), (1..=42).collect::<Vec<_>>());
}

#[tokio::test]
async fn the_rollback_journal_option_writes_the_same_rows() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("intake.db");
    let rows = Arc::new(Mutex::new((1..=33).map(|i| row(i, &day(2))).collect()));
    let src = source(&rows, schema(), None);
    let c = catalog(&src, DestinationSyncMode::AppendDedup).await;
    let destination =
        SqliteDestination::open(&db).journal(intake_destination_sqlite::Journal::Delete);
    intake::sync(src, json!({}))
        .catalog(c)
        .to(destination)
        .run()
        .await
        .unwrap();
    assert_eq!(ids(&db), (1..=33).collect::<Vec<_>>());
    assert_eq!(
        query(&db, "PRAGMA journal_mode"),
        vec![vec![json!("delete")]]
    );
    assert!(!dir.path().join("intake.db-wal").exists());
}

#[tokio::test]
async fn within_one_batch_the_newest_cursor_wins_and_ties_go_to_the_later_record() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("intake.db");
    let version = |id: i64, d: u32, name: &str| {
        let mut r = row(id, &day(d));
        r["name"] = json!(name);
        r
    };
    // The source sorts by cursor (stable), so 1/"new" comes after 1/"old", and for key 2 the
    // two versions at the same cursor keep their order: "second" is the later one.
    let rows = Arc::new(Mutex::new(vec![
        version(1, 5, "new"),
        version(1, 2, "old"),
        version(2, 3, "first"),
        version(2, 3, "second"),
    ]));
    sync(
        &db,
        source(&rows, schema(), None),
        DestinationSyncMode::AppendDedup,
    )
    .await
    .unwrap();
    assert_eq!(
        query(&db, "SELECT id, name FROM contacts ORDER BY id"),
        vec![
            vec![json!(1), json!("new")],
            vec![json!(2), json!("second")]
        ]
    );
}

/// Feeds protocol lines to the `destination-sqlite write` binary; its exit code.
fn write_lines(dir: &Path, db: &Path, lines: &[Value]) -> i32 {
    use std::io::Write;
    let config = dir.join("config.json");
    let catalog = dir.join("catalog.json");
    std::fs::write(&config, json!({"path": db}).to_string()).unwrap();
    std::fs::write(
        &catalog,
        json!({"streams": [{
            "stream": {"name": "contacts", "json_schema": {"type": "object", "properties": {"id": {"type": "integer"}}},
                       "supported_sync_modes": ["full_refresh"]},
            "sync_mode": "full_refresh", "destination_sync_mode": "overwrite"}]})
        .to_string(),
    )
    .unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_destination-sqlite"))
        .args(["write", "--config"])
        .arg(&config)
        .arg("--catalog")
        .arg(&catalog)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    for l in lines {
        writeln!(stdin, "{l}").unwrap();
    }
    drop(stdin);
    child.wait().unwrap().code().unwrap()
}

#[test]
fn scenario_1_the_binary_keeps_an_overwrite_table_when_its_source_dies_after_started() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("out.db");
    let status = |s: &str| {
        json!({"type": "TRACE", "trace": {"type": "STREAM_STATUS", "emitted_at": 1.0,
            "stream_status": {"stream_descriptor": {"name": "contacts"}, "status": s}}})
    };
    let record = |id: i64| json!({"type": "RECORD", "record": {"stream": "contacts", "data": {"id": id}, "emitted_at": 1}});
    let state = json!({"type": "STATE", "state": {"type": "STREAM", "stream": {
        "stream_descriptor": {"name": "contacts"}, "stream_state": {}}}});
    let full = [
        status("STARTED"),
        record(1),
        record(2),
        record(3),
        state.clone(),
        status("COMPLETE"),
    ];
    assert_eq!(write_lines(dir.path(), &db, &full), 0);
    assert_eq!(ids(&db), [1, 2, 3]);
    // STARTED, one record, end of input: the source died; the table keeps its 3 rows.
    assert_eq!(
        write_lines(dir.path(), &db, &[status("STARTED"), record(9)]),
        0
    );
    assert_eq!(ids(&db), [1, 2, 3]);
}
