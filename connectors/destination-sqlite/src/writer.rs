//! The writer: runs on a blocking thread, one connection, one transaction between checkpoints.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use intake::destination::table::{Cell, Column, ColumnKind, Fields, TablePlan, TableSchema};
use intake::destination::{Acks, DestinationInput, DestinationMessage, WriteSummary};
use intake::record::RecordBatch;
use intake::{ConfiguredCatalog, DestinationSyncMode, Error, Result, State, StreamDescriptor};
use rusqlite::Connection;
use serde_json::Value;

use crate::sql::{
    ERROR, EXTRACTED_AT, RAW, STAGING_PREFIX, STATE_TABLE, declared_type, kind_of, quote,
    table_name,
};
use crate::{Journal, SqliteConfig, Synchronous, raw};

fn sql_error(what: &str) -> impl Fn(rusqlite::Error) -> Error + '_ {
    move |e| {
        let busy = matches!(
            e.sqlite_error_code(),
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
        );
        let message = format!("SQLite: {what}: {e}");
        if busy {
            Error::transient(message)
        } else {
            Error::system(message)
        }
    }
}

/// Opens the database with intake's settings and makes sure the state table exists.
pub(crate) fn open(cfg: &SqliteConfig) -> Result<Connection> {
    if let Some(parent) = cfg.path.parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent).map_err(|e| {
            Error::config(format!(
                "cannot create the folder {}: {e}",
                parent.display()
            ))
        })?;
    }
    let conn = Connection::open(&cfg.path).map_err(|e| {
        Error::config(format!(
            "cannot open the SQLite database {}: {e}",
            cfg.path.display()
        ))
    })?;
    conn.busy_timeout(Duration::from_secs(30))
        .map_err(sql_error("setting the busy timeout"))?;
    // 32 KiB pages (for a new file; an existing one keeps its size): records of a few hundred
    // bytes split fewer B-tree pages, and a bulk load writes fewer, larger WAL frames.
    // Measured on 1M HubSpot-shaped records: 4 KiB 2.9 s, 16 KiB 2.4 s -> 1.9 s (later code),
    // 32 KiB 1.7 s; 64 KiB was no faster within the noise, and every update rewrites a whole
    // page into the WAL, so scattered merges would pay for larger pages.
    conn.pragma_update(None, "page_size", 32_768)
        .map_err(sql_error("setting the page size"))?;
    let wanted = match cfg.journal {
        Journal::Wal => "WAL",
        Journal::Delete => "DELETE",
    };
    let mode: String = conn
        .query_row(&format!("PRAGMA journal_mode = {wanted}"), [], |r| r.get(0))
        .map_err(|e| {
            Error::config(format!(
                "{} is not a SQLite database intake can write: {e}",
                cfg.path.display()
            ))
        })?;
    if !mode.eq_ignore_ascii_case(wanted) {
        tracing::warn!("SQLite kept journal mode {mode} ({wanted} unavailable here)");
    }
    let sync = match cfg.synchronous {
        Synchronous::Normal => "NORMAL",
        Synchronous::Full => "FULL",
        Synchronous::Off => "OFF",
    };
    conn.pragma_update(None, "synchronous", sync)
        .map_err(sql_error("setting synchronous"))?;
    // The writer copies the WAL into the database itself only past 16,384 pages (512 MiB at
    // 32 KiB pages) instead of 1,000: each copy syncs the file, and those syncs dominated
    // merges (measured: 125 per million records). Bulk loads lower it again once their
    // background checkpointer is running (see `Writer::run`).
    conn.pragma_update(None, "wal_autocheckpoint", AUTOCHECKPOINT_PAGES)
        .map_err(sql_error("setting the WAL checkpoint size"))?;
    // A 16 MiB page cache: big transactions without going back to the file for index pages.
    conn.pragma_update(None, "cache_size", -16_384)
        .map_err(sql_error("setting the cache size"))?;
    conn.execute_batch(&format!(
        "CREATE TABLE IF NOT EXISTS {STATE_TABLE} (
            stream TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            namespace TEXT,
            state TEXT NOT NULL,
            updated_at INTEGER NOT NULL
        )"
    ))
    .map_err(sql_error("creating the state table"))?;
    Ok(conn)
}

fn stream_key(d: &StreamDescriptor) -> String {
    match &d.namespace {
        Some(ns) => format!("{ns}.{}", d.name),
        None => d.name.clone(),
    }
}

/// The state stored by earlier syncs.
pub(crate) fn stored_state(conn: &Connection) -> Result<Option<State>> {
    let mut stmt = conn
        .prepare(&format!("SELECT name, namespace, state FROM {STATE_TABLE}"))
        .map_err(sql_error("reading the state"))?;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, Option<String>>(1)?,
                r.get::<_, String>(2)?,
            ))
        })
        .map_err(sql_error("reading the state"))?;
    let mut state = State::new();
    for row in rows {
        let (name, namespace, text) = row.map_err(sql_error("reading the state"))?;
        let blob: Value = serde_json::from_str(&text).map_err(|e| {
            Error::config(format!(
                "the state stored for stream \"{name}\" in {STATE_TABLE} is not JSON ({e}); delete its row to start that stream over"
            ))
        })?;
        state.set_stream(StreamDescriptor { name, namespace }, blob);
    }
    Ok((!state.is_empty()).then_some(state))
}

/// One stream's table.
struct Table {
    stream: StreamDescriptor,
    /// The table readers see.
    name: String,
    /// The table written now (a staging table for overwrite).
    target: String,
    mode: DestinationSyncMode,
    schema: TableSchema,
    pk: Vec<String>,
    cursor: Option<String>,
    /// The `ON CONFLICT` clause of an `append_dedup` insert (empty otherwise).
    conflict: String,
    /// The insert of a chunk of each size (index: rows - 1) without raw pairs, built when first
    /// needed after a column change rather than per chunk (pages end in partial chunks).
    inserts: Vec<Option<std::sync::Arc<str>>>,
    records: u64,
    bytes: u64,
    rejected: u64,
    misfits: BTreeMap<String, u64>,
}

impl Table {
    fn columns_sql(&self) -> String {
        let mut cols: Vec<String> = self
            .schema
            .columns()
            .iter()
            .map(|c| format!("{} {}", quote(&c.name), declared_type(c.kind)))
            .collect();
        cols.push(format!("{EXTRACTED_AT} INTEGER"));
        cols.push(format!("{RAW} JSON TEXT"));
        cols.push(format!("{ERROR} TEXT"));
        cols.join(", ")
    }

    /// The column names an insert lists: the record's columns, then the metadata.
    fn insert_names(&self) -> Vec<String> {
        self.schema
            .columns()
            .iter()
            .map(|c| quote(&c.name))
            .chain([EXTRACTED_AT.to_string(), RAW.to_string(), ERROR.to_string()])
            .collect()
    }

    fn build_insert(&mut self) {
        let names = self.insert_names();
        self.conflict.clear();
        if self.mode == DestinationSyncMode::AppendDedup && !self.pk.is_empty() {
            let keys: Vec<String> = self.pk.iter().map(|k| quote(k)).collect();
            let sets: Vec<String> = names
                .iter()
                .filter(|n| !keys.contains(n))
                .map(|n| format!("{n} = excluded.{n}"))
                .collect();
            self.conflict = format!(
                " ON CONFLICT ({}) DO UPDATE SET {}",
                keys.join(", "),
                sets.join(", ")
            );
            if let Some(cursor) = &self.cursor {
                // The newest cursor wins; on a tie the later record does.
                let (t, c) = (quote(&self.target), quote(cursor));
                self.conflict.push_str(&format!(
                    " WHERE {t}.{c} IS NULL OR excluded.{c} >= {t}.{c}"
                ));
            }
        }
        self.inserts = vec![None; CHUNK_ROWS];
    }

    /// The insert for a chunk of `rows` rows.
    fn chunk_sql(&mut self, rows: usize, raw: bool) -> std::sync::Arc<str> {
        let at = rows.clamp(1, CHUNK_ROWS) - 1;
        match self.inserts.get(at) {
            Some(Some(sql)) if !raw => sql.clone(),
            _ => {
                let sql: std::sync::Arc<str> = self.insert_sql(rows, raw).into();
                if !raw && let Some(slot) = self.inserts.get_mut(at) {
                    *slot = Some(sql.clone());
                }
                sql
            }
        }
    }

    /// The insert for `rows` rows at once (multi-row VALUES: one statement step per chunk
    /// instead of per record). Parameter 1 is the extraction time, shared by every row (one
    /// batch, one time); then each row's columns, and with `raw` its raw JSON and error. Without
    /// `raw` (no record of the chunk misfit) those two are NULL literals: fewer values to bind.
    fn insert_sql(&self, rows: usize, raw: bool) -> String {
        use std::fmt::Write;
        let names = self.insert_names();
        let width = self.schema.len();
        let per_row = width + if raw { 2 } else { 0 };
        let mut values = String::with_capacity(rows.max(1) * (per_row * 6 + 24));
        for row in 0..rows.max(1) {
            let base = 2 + row * per_row;
            values.push_str(if row == 0 { "(" } else { ", (" });
            for c in 0..width {
                let _ = write!(values, "?{}, ", base + c);
            }
            if raw {
                let _ = write!(values, "?1, ?{}, ?{})", base + width, base + width + 1);
            } else {
                values.push_str("?1, NULL, NULL)");
            }
        }
        format!(
            "INSERT INTO {} ({}) VALUES {values}{}",
            quote(&self.target),
            names.join(", "),
            self.conflict
        )
    }

    fn index_sql(&self) -> Option<String> {
        (self.mode == DestinationSyncMode::AppendDedup && !self.pk.is_empty()).then(|| {
            let keys: Vec<String> = self.pk.iter().map(|k| quote(k)).collect();
            format!(
                "CREATE UNIQUE INDEX IF NOT EXISTS {} ON {} ({})",
                quote(&format!("{}__intake_pk", self.target)),
                quote(&self.target),
                keys.join(", ")
            )
        })
    }
}

/// `2024-01-02T03:04:05.000000Z`: fixed width, so text order is time order. Written by hand
/// into a fixed buffer: chrono's formatter (and an allocation per value) cost more than the
/// insert on the hot path.
fn timestamp(t: &chrono::DateTime<chrono::Utc>) -> [u8; STAMP] {
    use chrono::{Datelike, Timelike};
    // The fields of the UTC time itself (a `DateTime`'s accessors apply the offset each call).
    let t = t.naive_utc();
    let mut out = [b'0'; STAMP];
    let mut put = |at: usize, mut n: u32, width: usize| {
        for i in (at..at + width).rev() {
            out[i] = b'0' + (n % 10) as u8;
            n /= 10;
        }
    };
    put(0, t.year().clamp(0, 9999) as u32, 4);
    put(5, t.month(), 2);
    put(8, t.day(), 2);
    put(11, t.hour(), 2);
    put(14, t.minute(), 2);
    put(17, t.second(), 2);
    put(20, t.nanosecond().min(999_999_999) / 1000, 6);
    for (at, sep) in [
        (4, b'-'),
        (7, b'-'),
        (10, b'T'),
        (13, b':'),
        (16, b':'),
        (19, b'.'),
    ] {
        out[at] = sep;
    }
    out[26] = b'Z';
    out
}

/// The length of a [`timestamp`].
const STAMP: usize = 27;

/// The columns a table has now: (name, declared type).
fn existing_columns(conn: &Connection, table: &str) -> Result<Vec<(String, String)>> {
    let mut stmt = conn
        .prepare(&format!("PRAGMA table_info({})", quote(table)))
        .map_err(sql_error("reading a table's columns"))?;
    let rows = stmt
        .query_map([], |r| Ok((r.get::<_, String>(1)?, r.get::<_, String>(2)?)))
        .map_err(sql_error("reading a table's columns"))?;
    rows.collect::<rusqlite::Result<Vec<_>>>()
        .map_err(sql_error("reading a table's columns"))
}

/// The metadata columns, which records' own fields never widen.
const META: &[&str] = &[EXTRACTED_AT, RAW, ERROR];

/// Records per INSERT statement (each brings width + 3 parameters; SQLite allows 32,766).
const CHUNK_ROWS: usize = 64;

fn is_meta(name: &str) -> bool {
    name == EXTRACTED_AT || name == RAW || name == ERROR
}

/// The statements that rebuild a table with the column kinds of `t.schema` (SQLite cannot
/// change a column's declared type in place), keeping every row.
fn rebuild_sql(t: &Table) -> String {
    let scratch = format!("{}__intake_rebuild", t.target);
    let names = t.insert_names().join(", ");
    let mut sql = format!(
        "DROP TABLE IF EXISTS {s};
         CREATE TABLE {s} ({cols});
         INSERT INTO {s} ({names}) SELECT {names} FROM {t};
         DROP TABLE {t};
         ALTER TABLE {s} RENAME TO {t};",
        s = quote(&scratch),
        cols = t.columns_sql(),
        t = quote(&t.target),
    );
    if let Some(index) = t.index_sql() {
        sql.push_str(&index);
        sql.push(';');
    }
    sql
}

/// Creates the table, or brings an existing one up to the schema: new columns added, widened
/// kinds rebuilt. Columns only the table has are kept.
fn ensure_table(conn: &Connection, t: &mut Table) -> Result<()> {
    let existing = existing_columns(conn, &t.target)?;
    if existing.is_empty() {
        conn.execute_batch(&format!(
            "CREATE TABLE {} ({})",
            quote(&t.target),
            t.columns_sql()
        ))
        .map_err(sql_error("creating a table"))?;
    } else {
        let mut widen = false;
        let mut kinds: HashMap<String, ColumnKind> = HashMap::new();
        for (name, declared) in existing.iter().filter(|(n, _)| !is_meta(n)) {
            let old = kind_of(declared);
            kinds.insert(name.clone(), old);
            match t.schema.position(name) {
                Some(i) => {
                    let new = t.schema.column(i).kind;
                    if new != old {
                        // Never narrow: keep the wider of what is stored and what is declared.
                        let wide = old.widen(new);
                        widen |= wide != old;
                        t.schema.push(Column {
                            name: name.clone(),
                            kind: wide,
                        });
                    }
                }
                None => t.schema.push(Column {
                    name: name.clone(),
                    kind: old,
                }),
            }
        }
        for meta in [EXTRACTED_AT, RAW, ERROR] {
            if !existing.iter().any(|(n, _)| n == meta) {
                let ty = if meta == EXTRACTED_AT {
                    "INTEGER"
                } else {
                    "TEXT"
                };
                conn.execute_batch(&format!(
                    "ALTER TABLE {} ADD COLUMN {meta} {ty}",
                    quote(&t.target)
                ))
                .map_err(sql_error("adding a metadata column"))?;
            }
        }
        if widen {
            conn.execute_batch(&rebuild_sql(t))
                .map_err(sql_error("widening a column"))?;
        } else {
            for c in t.schema.columns() {
                if !kinds.contains_key(&c.name) {
                    conn.execute_batch(&add_column_sql(&t.target, c))
                        .map_err(sql_error("adding a column"))?;
                }
            }
        }
    }
    if let Some(index) = t.index_sql() {
        conn.execute_batch(&index).map_err(|e| {
            Error::config(format!(
                "cannot dedup stream \"{}\" on its primary key: {e} (the table holds duplicate keys from an earlier append; overwrite it once)",
                t.stream
            ))
        })?;
    }
    t.build_insert();
    Ok(())
}

fn add_column_sql(table: &str, c: &Column) -> String {
    format!(
        "ALTER TABLE {} ADD COLUMN {} {};",
        quote(table),
        quote(&c.name),
        declared_type(c.kind)
    )
}

/// One value to bind, computed on the converting thread. Text borrowed from a record is a byte
/// range into it, so the records travel to the SQLite thread without copying their strings.
enum Param {
    Null,
    Integer(i64),
    Real(f64),
    /// `records[record].json()[start..end]`.
    Slice {
        record: u32,
        start: u32,
        end: u32,
    },
    Owned(String),
    /// A [`timestamp`] (ASCII).
    Stamp([u8; STAMP]),
}

impl Param {
    /// Where `text` lies inside `json` (it was borrowed from it), or a copy if it does not.
    #[inline]
    fn text(record: usize, json: &str, text: std::borrow::Cow<'_, str>) -> Param {
        if let std::borrow::Cow::Borrowed(s) = &text {
            let base = json.as_ptr() as usize;
            let at = s.as_ptr() as usize;
            if at >= base
                && at + s.len() <= base + json.len()
                && let (Ok(record), Ok(start), Ok(end)) = (
                    u32::try_from(record),
                    u32::try_from(at - base),
                    u32::try_from(at - base + s.len()),
                )
            {
                return Param::Slice { record, start, end };
            }
        }
        Param::Owned(text.into_owned())
    }

    // Inlined into the loop that fills a chunk: called, it returned each 32-byte value through
    // the stack in narrower stores than the caller read it back with, and that stall was the
    // converting thread's largest cost (a fifth of its samples).
    #[inline(always)]
    fn of(record: usize, json: &str, cell: Cell<'_>) -> Param {
        match cell {
            Cell::Null => Param::Null,
            Cell::Text(s) => Param::text(record, json, s),
            Cell::Json(s) => Param::text(record, json, std::borrow::Cow::Borrowed(s)),
            Cell::Integer(i) => Param::Integer(i),
            Cell::Number(f) => Param::Real(f),
            Cell::Boolean(b) => Param::Integer(i64::from(b)),
            Cell::DateTime(t) => Param::Stamp(timestamp(&t)),
            Cell::Date(d) => Param::Owned(d.format("%Y-%m-%d").to_string()),
        }
    }
}

impl Param {
    /// The value to bind, its text borrowed from the batch it came from.
    fn value<'a>(&'a self, batch: &'a RecordBatch) -> rusqlite::Result<raw::Value<'a>> {
        Ok(match self {
            Param::Null => raw::Value::Null,
            Param::Integer(i) => raw::Value::Integer(*i),
            Param::Real(f) => raw::Value::Real(*f),
            Param::Owned(s) => raw::Value::Text(s.as_bytes()),
            Param::Stamp(s) => raw::Value::Text(s),
            Param::Slice { record, start, end } => raw::Value::Text(
                batch
                    .records
                    .get(*record as usize)
                    .and_then(|r| r.json().as_bytes().get(*start as usize..*end as usize))
                    .ok_or_else(|| {
                        rusqlite::Error::ToSqlConversionFailure("a value outside its record".into())
                    })?,
            ),
        })
    }
}

/// A batch and the insert chunks it became.
struct Converted {
    batch: RecordBatch,
    chunks: Vec<(std::sync::Arc<str>, Vec<Param>)>,
}

/// What the converting thread asks the SQLite thread to do, in order.
enum Op {
    /// Statements that change tables (new or widened columns), inside the open transaction.
    Sql(String, &'static str),
    /// Insert batches, in order: each with its chunks (an INSERT and its parameters). Batches
    /// that arrive together travel together: one hand-over between the threads for several.
    Insert(Vec<Converted>),
    /// Store the state, commit, then acknowledge.
    Checkpoint(intake::Checkpoint),
    /// Statements run in a transaction of their own (an overwrite's swap).
    Commit(String, &'static str),
}

/// The SQLite side: one connection, one transaction between checkpoints.
struct Store {
    conn: Connection,
    txn: Txn,
}

/// The transaction state of the SQLite thread's connection.
struct Txn {
    in_txn: bool,
    /// Wakes the checkpointer after a commit (WAL mode).
    checkpoints: Option<std::sync::mpsc::SyncSender<()>>,
    commits: u64,
}

/// The writer's automatic checkpoint without a background checkpointer (merges).
const AUTOCHECKPOINT_PAGES: i64 = 16_384;

/// Commits between background checkpoints: each checkpoint syncs the WAL, so not every one.
const CHECKPOINT_EVERY_COMMITS: u64 = 2;

/// With the background checkpointer, the writer's own automatic checkpoint comes due at
/// 2,048 pages (64 MiB at 32 KiB pages) instead of [`AUTOCHECKPOINT_PAGES`].
const BULK_AUTOCHECKPOINT_PAGES: i64 = 2_048;

/// Copies committed WAL frames into the database on a connection and thread of its own (a
/// PASSIVE checkpoint takes no writer lock), so when the writer's own automatic checkpoint
/// comes due, little is left to copy and the WAL restarts from its beginning. `synchronous`
/// is the writer's setting (a checkpoint syncs the files as it says).
fn checkpointer(
    path: &std::path::Path,
    synchronous: i64,
) -> Option<(std::sync::mpsc::SyncSender<()>, std::thread::JoinHandle<()>)> {
    let conn = Connection::open(path).ok()?;
    conn.busy_timeout(Duration::from_secs(30)).ok()?;
    conn.pragma_update(None, "synchronous", synchronous).ok()?;
    let (tx, rx) = std::sync::mpsc::sync_channel::<()>(1);
    let handle = std::thread::Builder::new()
        .name("intake-sqlite-checkpoint".into())
        .spawn(move || {
            while rx.recv().is_ok() {
                if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                    tracing::debug!("a WAL checkpoint did not run: {e}");
                }
            }
        })
        .ok()?;
    Some((tx, handle))
}

impl Txn {
    fn begin(&mut self, conn: &Connection) -> Result<()> {
        if !self.in_txn {
            conn.execute_batch("BEGIN IMMEDIATE")
                .map_err(sql_error("starting a transaction"))?;
            self.in_txn = true;
        }
        Ok(())
    }

    fn commit(&mut self, conn: &Connection) -> Result<()> {
        if self.in_txn {
            conn.execute_batch("COMMIT")
                .map_err(sql_error("committing"))?;
            self.in_txn = false;
            self.commits += 1;
            if let Some(c) = &self.checkpoints
                && self.commits.is_multiple_of(CHECKPOINT_EVERY_COMMITS)
            {
                // Coalesced: a checkpoint already pending covers this commit too.
                let _ = c.try_send(());
            }
        }
        Ok(())
    }
}

impl Store {
    fn run(self, ops: std::sync::mpsc::Receiver<Op>, acks: Acks) -> Result<()> {
        let Store { conn, mut txn } = self;
        // Declared after `conn`, so dropped before it: the statements close first.
        let mut inserts = raw::Inserts::new(&conn);
        while let Ok(op) = ops.recv() {
            match op {
                Op::Sql(sql, what) => {
                    txn.begin(&conn)?;
                    conn.execute_batch(&sql).map_err(sql_error(what))?;
                }
                Op::Insert(group) => {
                    txn.begin(&conn)?;
                    for Converted { batch, chunks } in &group {
                        for (sql, params) in chunks {
                            inserts
                                .get(sql)
                                .map_err(sql_error("preparing the insert"))?
                                .run(params.iter().map(|p| p.value(batch)))
                                .map_err(sql_error("inserting records"))?;
                        }
                    }
                }
                Op::Checkpoint(cp) => {
                    txn.begin(&conn)?;
                    conn.execute(
                        &format!(
                            "INSERT INTO {STATE_TABLE} (stream, name, namespace, state, updated_at)
                             VALUES (?1, ?2, ?3, ?4, ?5)
                             ON CONFLICT (stream) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at"
                        ),
                        rusqlite::params![
                            stream_key(&cp.stream),
                            cp.stream.name,
                            cp.stream.namespace,
                            cp.state.to_string(),
                            intake::record::now_millis()
                        ],
                    )
                    .map_err(sql_error("storing the state"))?;
                    txn.commit(&conn)?;
                    acks.ack(cp)?;
                }
                Op::Commit(sql, what) => {
                    txn.begin(&conn)?;
                    conn.execute_batch(&sql).map_err(sql_error(what))?;
                    txn.commit(&conn)?;
                }
            }
        }
        drop(inserts);
        // Records no checkpoint covered are not kept: the next run reads them again.
        if txn.in_txn {
            conn.execute_batch("ROLLBACK")
                .map_err(sql_error("rolling back"))?;
        }
        Ok(())
    }
}

/// Writes one sync's messages: this thread splits records into typed cells and decides schema
/// changes; a second thread owns the connection and runs the statements, so converting the
/// next batch overlaps inserting this one.
pub(crate) struct Writer {
    conn: Connection,
    tables: HashMap<StreamDescriptor, Table>,
}

/// Hand-overs queued for the SQLite thread (each up to [`GROUP`] batches of about one API page).
const QUEUE: usize = 4;

/// Batches handed over together at most: the thread switches a hand-over costs are paid once
/// for several pages (measured: 31,800 context switches per million records with one batch
/// each).
const GROUP: usize = 8;

/// Converted batches not yet handed over.
#[derive(Default)]
struct Group {
    batches: Vec<Converted>,
}

impl Group {
    fn flush(&mut self, tx: &std::sync::mpsc::SyncSender<Op>) -> Result<()> {
        if self.batches.is_empty() {
            return Ok(());
        }
        send(tx, Op::Insert(std::mem::take(&mut self.batches)))
    }
}

impl Writer {
    /// Opens the database and prepares every configured stream's table.
    pub(crate) fn start(cfg: &SqliteConfig, catalog: &ConfiguredCatalog) -> Result<Writer> {
        let conn = open(cfg)?;
        conn.execute_batch("BEGIN IMMEDIATE")
            .map_err(sql_error("starting a transaction"))?;
        let mut tables = HashMap::new();
        for cs in &catalog.streams {
            let d = cs.stream.descriptor();
            let name = table_name(&d);
            let plan = TablePlan::new(cs, "SQLite")?;
            let target = match plan.mode {
                // Kept as it is until the stream starts: only then is it known whether the
                // source resumes the interrupted overwrite staged there.
                DestinationSyncMode::Overwrite => format!("{STAGING_PREFIX}{name}"),
                _ => name.clone(),
            };
            let mut table = Table {
                stream: d.clone(),
                name,
                target,
                mode: plan.mode,
                schema: plan.schema,
                pk: plan.primary_key,
                cursor: plan.cursor,
                conflict: String::new(),
                inserts: Vec::new(),
                records: 0,
                bytes: 0,
                rejected: 0,
                misfits: BTreeMap::new(),
            };
            ensure_table(&conn, &mut table)?;
            tables.insert(d, table);
        }
        conn.execute_batch("COMMIT")
            .map_err(sql_error("creating the tables"))?;
        Ok(Writer { conn, tables })
    }

    /// Reads messages until the input ends.
    pub(crate) fn run(self, mut input: DestinationInput, acks: Acks) -> Result<WriteSummary> {
        let Writer { conn, mut tables } = self;
        let (tx, rx) = std::sync::mpsc::sync_channel::<Op>(QUEUE);
        let wal = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get::<_, String>(0))
            .is_ok_and(|m| m.eq_ignore_ascii_case("wal"));
        // Bulk loads (overwrite, append) grow the WAL by every row they write: a background
        // checkpointer keeps the writer from stopping to copy it (measured: full refresh of 1M
        // rows 2.5 s -> 2.1 s). Merges rewrite the same pages, where it only adds syncs.
        let bulk = tables
            .values()
            .any(|t| t.mode != DestinationSyncMode::AppendDedup);
        let background = match conn.path() {
            Some(path) if wal && bulk && !path.is_empty() => {
                let synchronous = conn
                    .query_row("PRAGMA synchronous", [], |r| r.get(0))
                    .map_err(sql_error("reading synchronous"))?;
                checkpointer(std::path::Path::new(path), synchronous)
            }
            _ => None,
        };
        if background.is_some() {
            // The WAL only restarts from its beginning once a checkpoint has copied all of it
            // between two transactions, which the background one, racing the writer, never
            // does: left to it, the WAL grew to the size of the whole load (401 MB for 1M
            // rows) and the last connection's close copied and synced that much before the
            // sync could end (0.29-0.35 s). The writer finishing the copy itself every 64 MiB
            // (the background one having done most of it) keeps the WAL near that size, and
            // the close took 0.03-0.06 s; full refresh of 1M rows 1.24-1.47 s -> 1.16-1.31 s.
            conn.pragma_update(None, "wal_autocheckpoint", BULK_AUTOCHECKPOINT_PAGES)
                .map_err(sql_error("setting the WAL checkpoint size"))?;
        }
        let (checkpoints, checkpoint_thread) = background.unzip();
        let store = Store {
            conn,
            txn: Txn {
                in_txn: false,
                checkpoints,
                commits: 0,
            },
        };
        let sqlite = std::thread::Builder::new()
            .name("intake-sqlite".into())
            .spawn(move || store.run(rx, acks))
            .map_err(|e| Error::system(format!("cannot start the SQLite thread: {e}")))?;
        let converted = (|| -> Result<()> {
            let mut group = Group::default();
            loop {
                // Take what has already arrived without waiting; before waiting, hand over what
                // is converted, so nothing sits here while the SQLite thread idles.
                let message = match input.try_recv() {
                    Ok(message) => message,
                    Err(tokio::sync::mpsc::error::TryRecvError::Empty) => {
                        group.flush(&tx)?;
                        match input.blocking_recv() {
                            Some(message) => message,
                            None => break,
                        }
                    }
                    Err(tokio::sync::mpsc::error::TryRecvError::Disconnected) => break,
                };
                let op = match message {
                    DestinationMessage::Records(batch) => {
                        convert(&mut tables, batch, &mut group, &tx)?;
                        if group.batches.len() >= GROUP {
                            group.flush(&tx)?;
                        }
                        continue;
                    }
                    DestinationMessage::Checkpoint(cp) => Op::Checkpoint(cp),
                    // A read that starts over empties what an earlier run staged, in the
                    // transaction that stores the stream's next state (so a crash cannot
                    // leave a resume token naming rows that are gone).
                    DestinationMessage::StreamStart(d, start) => match tables.get(&d) {
                        Some(t) if t.mode == DestinationSyncMode::Overwrite && !start.resume => {
                            Op::Sql(
                                format!("DELETE FROM {}", quote(&t.target)),
                                "clearing a staging table",
                            )
                        }
                        _ => continue,
                    },
                    // Only a complete read replaces the old table.
                    DestinationMessage::StreamEnd(d, end) => match tables.get(&d) {
                        Some(t)
                            if t.mode == DestinationSyncMode::Overwrite && end.is_complete() =>
                        {
                            let (name, staging) = (quote(&t.name), quote(&t.target));
                            Op::Commit(
                                format!(
                                    "DROP TABLE IF EXISTS {name}; ALTER TABLE {staging} RENAME TO {name};"
                                ),
                                "replacing a table",
                            )
                        }
                        _ => continue,
                    },
                };
                group.flush(&tx)?;
                send(&tx, op)?;
            }
            group.flush(&tx)
        })();
        drop(tx);
        let stored = sqlite
            .join()
            .map_err(|_| Error::system("the SQLite thread panicked"))?;
        if let Some(t) = checkpoint_thread {
            let _ = t.join();
        }
        // The SQLite thread's error explains a conversion that stopped early; report it first.
        stored?;
        converted?;
        let mut summary = WriteSummary::default();
        for t in tables.values() {
            let s = summary.stream_mut(&t.stream);
            s.records = t.records;
            s.bytes = t.bytes;
            s.rejected = t.rejected;
            for (reason, n) in &t.misfits {
                s.warnings.push(format!(
                    "stream \"{}\": {n} record(s) kept as raw JSON in {RAW}: {reason}",
                    t.stream
                ));
            }
        }
        Ok(summary)
    }
}

/// The rows of one insert chunk while a batch is converted.
struct Pending {
    emitted_at: i64,
    /// The extraction time, then each row's column values (empty until the first row).
    params: Vec<Param>,
    rows: usize,
    /// Rows that keep their raw JSON: (row, raw JSON, error).
    raw: Vec<(usize, Param, Param)>,
}

impl Pending {
    /// An empty chunk: its parameters are allocated with its first row, so a batch's last
    /// chunk leaves nothing allocated behind.
    fn new(emitted_at: i64) -> Pending {
        Pending {
            emitted_at,
            params: Vec::new(),
            rows: 0,
            raw: Vec::new(),
        }
    }

    /// Makes room for a chunk of `rows` rows of `width` columns before its first row.
    fn start(&mut self, rows: usize, width: usize) {
        if self.rows == 0 && self.params.is_empty() {
            self.params.reserve(1 + rows * width);
            self.params.push(Param::Integer(self.emitted_at));
        }
    }

    /// The chunk's statement and parameters, leaving an empty chunk behind.
    fn take(&mut self, t: &mut Table) -> (std::sync::Arc<str>, Vec<Param>) {
        let done = std::mem::replace(self, Pending::new(self.emitted_at));
        if done.raw.is_empty() {
            return (t.chunk_sql(done.rows, false), done.params);
        }
        // Rare: a record of the chunk did not fit, so every row binds its raw pair.
        let width = t.schema.len();
        let mut params = Vec::with_capacity(1 + done.rows * (width + 2));
        let mut values = done.params.into_iter();
        params.extend(values.next());
        let mut raw = done.raw.into_iter().peekable();
        for row in 0..done.rows {
            params.extend(values.by_ref().take(width));
            match raw.next_if(|(r, _, _)| *r == row) {
                Some((_, json, error)) => params.extend([json, error]),
                None => params.extend([Param::Null, Param::Null]),
            }
        }
        (t.chunk_sql(done.rows, true), params)
    }
}

/// Converts a batch to insert chunks, sending any schema change it needs ahead of it.
fn convert(
    tables: &mut HashMap<StreamDescriptor, Table>,
    batch: RecordBatch,
    group: &mut Group,
    tx: &std::sync::mpsc::SyncSender<Op>,
) -> Result<()> {
    let t = tables.get_mut(&*batch.stream).ok_or_else(|| {
        Error::system(format!(
            "records arrived for stream \"{}\", which the catalog does not configure",
            batch.stream
        ))
    })?;
    let emitted_at = batch.emitted_at;
    let mut chunks = Vec::with_capacity(batch.records.len().div_ceil(CHUNK_ROWS));
    let mut pending = Pending::new(emitted_at);
    for (i, record) in batch.records.iter().enumerate() {
        let fields = Fields::of(record)?;
        let fitted = t.schema.cells_if_unchanged(&fields, META);
        let changes = match fitted {
            Some(_) => Vec::new(),
            None => t.schema.changes_for(&fields, META),
        };
        if !changes.is_empty() {
            // Rows converted so far go in before the table changes.
            if pending.rows > 0 {
                chunks.push(pending.take(t));
            }
            let mut widened = false;
            let mut sql = String::new();
            for column in changes {
                tracing::info!(
                    "stream \"{}\": column {} is now {}",
                    t.stream,
                    column.name,
                    column.kind
                );
                if t.schema.position(&column.name).is_some() {
                    widened = true;
                } else {
                    sql.push_str(&add_column_sql(&t.target, &column));
                }
                t.schema.push(column);
            }
            if widened {
                sql.push_str(&rebuild_sql(t));
            }
            t.build_insert();
            pending = Pending::new(emitted_at);
            // Earlier batches, and the chunks of this one built for the old columns, go in
            // first.
            if !chunks.is_empty() {
                let head = RecordBatch {
                    stream: batch.stream.clone(),
                    records: batch.records.clone(),
                    emitted_at,
                    held: batch.held.clone(),
                };
                group.batches.push(Converted {
                    batch: head,
                    chunks: std::mem::take(&mut chunks),
                });
            }
            group.flush(tx)?;
            send(tx, Op::Sql(sql, "changing a table's columns"))?;
        }
        let (cells, misfits) = match fitted {
            Some(fitted) => fitted,
            None => t.schema.cells(&fields),
        };
        for m in &misfits {
            *t.misfits.entry(m.to_string()).or_default() += 1;
        }
        t.records += 1;
        t.bytes += record.len() as u64;
        let json = record.json();
        let width = t.schema.len();
        // The rows this chunk will hold: up to a full chunk of what is left of the batch.
        pending.start(CHUNK_ROWS.min(batch.records.len() - i), width);
        let n = cells.len();
        pending
            .params
            .extend(cells.into_iter().map(|c| Param::of(i, json, c)));
        pending.params.extend((n..width).map(|_| Param::Null));
        if let Some(first) = misfits.first() {
            t.rejected += 1;
            pending.raw.push((
                pending.rows,
                Param::text(i, json, std::borrow::Cow::Borrowed(json)),
                Param::Owned(first.to_string()),
            ));
        }
        pending.rows += 1;
        if pending.rows == CHUNK_ROWS {
            chunks.push(pending.take(t));
        }
    }
    if pending.rows > 0 {
        chunks.push(pending.take(t));
    }
    group.batches.push(Converted { batch, chunks });
    Ok(())
}

fn send(tx: &std::sync::mpsc::SyncSender<Op>, op: Op) -> Result<()> {
    tx.send(op)
        .map_err(|_| Error::system("the SQLite thread stopped"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn timestamps_are_fixed_width_utc() {
        let t = intake::state::parse_datetime("2024-01-02T03:04:05.5+01:00").unwrap();
        assert_eq!(&super::timestamp(&t), b"2024-01-02T02:04:05.500000Z");
    }
}
