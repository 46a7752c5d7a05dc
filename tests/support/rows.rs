//! An in-memory `contacts` stream for the destination tests (SQLite, PostgreSQL, Parquet):
//! typed HubSpot-like rows, an incremental filter on `updated_at`, and a failure after N
//! records, like a connection that drops mid-sync.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use futures::StreamExt;
use intake::PrimaryKey;
use intake::state::{Boundary, CursorOrder};
use intake::{
    Catalog, ConfiguredCatalog, ConnectorSpec, Cursor, DestinationSyncMode, Error, Page,
    PageStream, ReadRequest, Record, Source, Stream, async_trait,
};
use serde_json::{Value, json};

/// One in-memory stream: the API filters on `updated_at >= start`; it can fail after a
/// number of records, like a connection that drops mid-sync.
pub struct Rows {
    pub schema: Value,
    pub rows: Arc<Mutex<Vec<Value>>>,
    pub cursor: Cursor,
    pub fail_after: Option<usize>,
    /// Records per page (10 unless a test needs a page bigger than a destination's chunk).
    pub page: usize,
}

#[async_trait]
impl Stream for Rows {
    fn name(&self) -> &str {
        "contacts"
    }
    async fn json_schema(&self) -> intake::Result<Value> {
        Ok(self.schema.clone())
    }
    fn primary_key(&self) -> PrimaryKey {
        "id".into()
    }
    fn cursor(&self) -> Option<Cursor> {
        Some(self.cursor.clone())
    }
    fn read(&self, request: ReadRequest) -> PageStream<'_> {
        let since = request.start.clone().and_then(|v| self.cursor.parse(&v));
        let mut rows: Vec<Value> = self
            .rows
            .lock()
            .unwrap()
            .iter()
            .filter(|r| {
                since
                    .as_ref()
                    .is_none_or(|s| self.cursor.parse(&r["updated_at"]).is_some_and(|v| v >= *s))
            })
            .cloned()
            .collect();
        rows.sort_by_key(|r| r["updated_at"].as_str().unwrap_or_default().to_string());
        let mut pages: Vec<intake::Result<Page>> = Vec::new();
        let mut sent = 0;
        for chunk in rows.chunks(self.page.max(1)) {
            if self.fail_after.is_some_and(|n| sent >= n) {
                pages.push(Err(Error::transient("the connection dropped")));
                break;
            }
            sent += chunk.len();
            pages.push(
                chunk
                    .iter()
                    .map(Record::from_value)
                    .collect::<intake::Result<Vec<_>>>()
                    .map(Page::new),
            );
        }
        futures::stream::iter(pages).boxed()
    }
}

pub struct Src(pub Arc<Rows>);

#[async_trait]
impl Source for Src {
    fn spec(&self) -> ConnectorSpec {
        ConnectorSpec::from_schema(json!({"type": "object", "properties": {}}))
    }
    async fn check(&self, _: &Value) -> intake::Result<()> {
        Ok(())
    }
    async fn streams(&self, _: &Value) -> intake::Result<Vec<Arc<dyn Stream>>> {
        Ok(vec![self.0.clone()])
    }
}

pub fn schema() -> Value {
    json!({"type": "object", "properties": {
        "id": {"type": "integer"},
        "name": {"type": ["null", "string"]},
        "score": {"type": ["null", "number"]},
        "active": {"type": "boolean"},
        "updated_at": {"type": "string", "format": "date-time"},
        "birthday": {"type": ["null", "string"], "format": "date"},
        "tags": {"type": "array"},
        "address": {"type": "object"}
    }})
}

pub fn row(id: i64, updated: &str) -> Value {
    json!({"id": id, "name": format!("n{id}"), "score": id as f64 / 2.0, "active": id % 2 == 0,
           "updated_at": updated, "birthday": "1990-05-17", "tags": ["a", id], "address": {"city": "Oslo"}})
}

pub fn source(rows: &Arc<Mutex<Vec<Value>>>, schema: Value, fail_after: Option<usize>) -> Src {
    Src(Arc::new(Rows {
        schema,
        rows: rows.clone(),
        // The stream serves records in cursor order, so checkpoints advance mid-way.
        cursor: Cursor::new("updated_at")
            .boundary(Boundary::Inclusive)
            .order(CursorOrder::Ascending),
        fail_after,
        page: 10,
    }))
}

/// [`source`] serving `page` records per page.
pub fn source_in_pages(rows: &Arc<Mutex<Vec<Value>>>, schema: Value, page: usize) -> Src {
    let Src(mut rows) = source(rows, schema, None);
    if let Some(r) = Arc::get_mut(&mut rows) {
        r.page = page;
    }
    Src(rows)
}

pub async fn catalog(src: &Src, mode: DestinationSyncMode) -> ConfiguredCatalog {
    let mut c: Catalog = src.discover(&json!({})).await.unwrap();
    c.streams[0].supported_sync_modes =
        vec![intake::SyncMode::FullRefresh, intake::SyncMode::Incremental];
    let mut configured = c.configure_all();
    configured.streams[0].destination_sync_mode = mode;
    if mode == DestinationSyncMode::Overwrite {
        configured.streams[0].sync_mode = intake::SyncMode::FullRefresh;
    }
    configured
}

pub fn day(d: u32) -> String {
    format!("2024-01-{d:02}T10:00:00+02:00")
}

/// The configured catalog of the `contacts` stream as a protocol file holds it.
pub fn catalog_json(mode: &str) -> String {
    json!({"streams": [{
        "stream": {"name": "contacts", "json_schema": schema(), "supported_sync_modes": ["full_refresh", "incremental"],
                   "source_defined_primary_key": [["id"]], "default_cursor_field": ["updated_at"]},
        "sync_mode": "incremental", "destination_sync_mode": mode, "primary_key": [["id"]], "cursor_field": ["updated_at"]
    }]})
    .to_string()
}

/// Writes a destination's `config.json` and `catalog.json` (with `mode`) into `dir`.
pub fn write_files(dir: &std::path::Path, config: Value, mode: &str) {
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
    std::fs::write(dir.join("catalog.json"), catalog_json(mode)).unwrap();
}

fn spawn_write(bin: &str, dir: &std::path::Path) -> std::process::Child {
    std::process::Command::new(bin)
        .args([
            "write",
            "--config",
            "config.json",
            "--catalog",
            "catalog.json",
        ])
        .current_dir(dir)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

/// Drives `bin write` in `dir` (see [`write_files`]): three batches of 100 records, each
/// followed by a STATE `{"upto": n}` whose echo it waits for, then 50 more records with no
/// STATE, then kills the process. Records 1..=300 are acknowledged; 301..=350 are not.
pub fn write_then_kill(bin: &str, dir: &std::path::Path) {
    use std::io::{BufRead, BufReader, Write};
    let mut child = spawn_write(bin, dir);
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let record = |id: i64| json!({"type": "RECORD", "record": {"stream": "contacts", "data": row(id, &day(1)), "emitted_at": 1_700_000_000_000i64}});
    let mut id = 0;
    for _ in 0..3 {
        for _ in 0..100 {
            id += 1;
            writeln!(stdin, "{}", record(id)).unwrap();
        }
        let state = json!({"type": "STATE", "state": {"type": "STREAM", "stream": {
            "stream_descriptor": {"name": "contacts"}, "stream_state": {"upto": id}}}});
        writeln!(stdin, "{state}").unwrap();
        stdin.flush().unwrap();
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        assert!(line.contains("\"upto\":"), "{line}");
    }
    for _ in 0..50 {
        id += 1;
        writeln!(stdin, "{}", record(id)).unwrap();
    }
    stdin.flush().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    child.kill().unwrap();
    child.wait().unwrap();
}

/// A source's `read` of `rows` (as its binary would print it) piped into `bin write` in `dir`
/// (see [`write_files`]); returns the STATE messages' stream parts going in and echoed out.
pub async fn pipe_read_into(
    bin: &str,
    dir: &std::path::Path,
    rows: &Arc<Mutex<Vec<Value>>>,
) -> (Vec<Value>, Vec<Value>) {
    use std::io::Write;
    std::fs::write(dir.join("src.json"), "{}").unwrap();
    let path = |f: &str| dir.join(f).display().to_string();
    let args = vec![
        "read".to_string(),
        "--config".into(),
        path("src.json"),
        "--catalog".into(),
        path("catalog.json"),
    ];
    let mut read_output = Vec::new();
    let code =
        intake::protocol::run_source_with(&source(rows, schema(), None), args, &mut read_output)
            .await;
    assert_eq!(code, 0);
    let mut child = spawn_write(bin, dir);
    child.stdin.take().unwrap().write_all(&read_output).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let states = |out: &[u8]| -> Vec<Value> {
        String::from_utf8_lossy(out)
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .filter(|m| m["type"] == "STATE")
            .map(|m| m["state"]["stream"].clone())
            .collect()
    };
    (states(&read_output), states(&out.stdout))
}
