//! The writer: binary COPY per batch, one transaction between checkpoints.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

use bytes::{BufMut, BytesMut};
use chrono::TimeZone;
use futures::pin_mut;
use intake::destination::table::{Cell, Column, ColumnKind, Fields, TablePlan, TableSchema};
use intake::destination::{Acks, DestinationInput, DestinationMessage, WriteSummary};
use intake::record::RecordBatch;
use intake::{ConfiguredCatalog, DestinationSyncMode, Error, Result, State, StreamDescriptor};
use serde_json::Value;
use tokio_postgres::Client;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};

use crate::PostgresConfig;

const EXTRACTED_AT: &str = "_intake_extracted_at";
const RAW: &str = "_intake_raw";
const ERROR: &str = "_intake_error";
const SEQ: &str = "_intake_seq";
const STATE_TABLE: &str = "_intake_state";
const STAGING_PREFIX: &str = "_intake_tmp__";

/// A quoted identifier.
pub(crate) fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A server error's message and code, or the client error (never the connection URL).
pub(crate) fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => e.to_string(),
    }
}

fn pg_error(what: &str) -> impl Fn(tokio_postgres::Error) -> Error + '_ {
    move |e| {
        let message = format!("PostgreSQL: {what}: {}", describe(&e));
        if e.is_closed() || e.as_db_error().is_none() {
            Error::transient(message)
        } else {
            Error::system(message)
        }
    }
}

fn pg_type(kind: ColumnKind) -> &'static str {
    match kind {
        ColumnKind::String => "TEXT",
        ColumnKind::Integer => "BIGINT",
        ColumnKind::Number => "DOUBLE PRECISION",
        ColumnKind::Boolean => "BOOLEAN",
        ColumnKind::DateTime => "TIMESTAMPTZ",
        ColumnKind::Date => "DATE",
        ColumnKind::Json => "JSONB",
    }
}

fn wire_type(kind: ColumnKind) -> Type {
    match kind {
        ColumnKind::String => Type::TEXT,
        ColumnKind::Integer => Type::INT8,
        ColumnKind::Number => Type::FLOAT8,
        ColumnKind::Boolean => Type::BOOL,
        ColumnKind::DateTime => Type::TIMESTAMPTZ,
        ColumnKind::Date => Type::DATE,
        ColumnKind::Json => Type::JSONB,
    }
}

/// The kind of a column as `information_schema` names its type.
fn kind_of(data_type: &str) -> ColumnKind {
    match data_type {
        "text" | "character varying" => ColumnKind::String,
        "bigint" | "integer" | "smallint" => ColumnKind::Integer,
        "double precision" | "real" | "numeric" => ColumnKind::Number,
        "boolean" => ColumnKind::Boolean,
        "timestamp with time zone" => ColumnKind::DateTime,
        "date" => ColumnKind::Date,
        _ => ColumnKind::Json,
    }
}

/// How an existing column is cast to a wider kind.
fn cast(column: &str, to: ColumnKind) -> String {
    let c = quote(column);
    match to {
        ColumnKind::Json => format!("to_jsonb({c})"),
        other => format!("{c}::{}", pg_type(other)),
    }
}

/// A cell bound in a binary COPY.
#[derive(Debug)]
enum PgCell<'a> {
    Cell(Cell<'a>),
    /// JSON text rewritten to be storable (see [`jsonb_safe`]).
    Json(String),
}

impl<'a> PgCell<'a> {
    /// The cell as PostgreSQL can store it: NUL characters (which it refuses in text and
    /// JSONB) replaced by U+FFFD.
    fn storable(cell: Cell<'a>) -> PgCell<'a> {
        match cell {
            Cell::Text(s) if s.contains('\0') => {
                PgCell::Cell(Cell::Text(Cow::Owned(s.replace('\0', "\u{FFFD}"))))
            }
            Cell::Json(s) => match jsonb_safe(s) {
                Cow::Owned(json) => PgCell::Json(json),
                Cow::Borrowed(_) => PgCell::Cell(Cell::Json(s)),
            },
            other => PgCell::Cell(other),
        }
    }
}

impl ToSql for PgCell<'_> {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> std::result::Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        let text = |s: &str, out: &mut BytesMut| {
            if *ty == Type::JSONB {
                out.put_u8(1);
            }
            out.extend_from_slice(s.as_bytes());
            Ok(IsNull::No)
        };
        let cell = match self {
            PgCell::Cell(cell) => cell,
            PgCell::Json(json) => return text(json, out),
        };
        match cell {
            Cell::Null => Ok(IsNull::Yes),
            Cell::Text(s) if *ty == Type::JSONB => {
                // A string value in a JSON column is a JSON string.
                text(&serde_json::to_string(s.as_ref())?, out)
            }
            Cell::Text(s) => text(s, out),
            Cell::Json(s) => text(s, out),
            Cell::Integer(i) if *ty == Type::FLOAT8 => (*i as f64).to_sql(ty, out),
            Cell::Integer(i) => i.to_sql(ty, out),
            Cell::Number(f) => f.to_sql(ty, out),
            Cell::Boolean(b) => b.to_sql(ty, out),
            Cell::DateTime(t) => t.to_sql(ty, out),
            Cell::Date(d) => d.to_sql(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// The state stored by earlier syncs, if any.
pub(crate) async fn stored_state(client: &Client, schema: &str) -> Result<Option<State>> {
    let table = format!("{}.{}", quote(schema), STATE_TABLE);
    let exists: Option<String> = client
        .query_one("SELECT to_regclass($1)::text", &[&table])
        .await
        .map_err(pg_error("looking for the state table"))?
        .get(0);
    if exists.is_none() {
        return Ok(None);
    }
    let rows = client
        .query(
            &format!("SELECT name, namespace, state::text FROM {table}"),
            &[],
        )
        .await
        .map_err(pg_error("reading the state"))?;
    let mut state = State::new();
    for row in rows {
        let (name, namespace, text): (String, Option<String>, String) =
            (row.get(0), row.get(1), row.get(2));
        let blob: Value = serde_json::from_str(&text).map_err(|e| {
            Error::config(format!("the stored state of \"{name}\" is not JSON: {e}"))
        })?;
        state.set_stream(StreamDescriptor { name, namespace }, blob);
    }
    Ok((!state.is_empty()).then_some(state))
}

struct Table {
    stream: StreamDescriptor,
    schema_name: String,
    name: String,
    target: String,
    mode: DestinationSyncMode,
    columns: TableSchema,
    pk: Vec<String>,
    cursor: Option<String>,
    stage: Option<String>,
    records: u64,
    bytes: u64,
    rejected: u64,
    misfits: BTreeMap<String, u64>,
}

impl Table {
    fn qualified(&self, table: &str) -> String {
        format!("{}.{}", quote(&self.schema_name), quote(table))
    }

    fn column_defs(&self) -> String {
        let mut defs: Vec<String> = self
            .columns
            .columns()
            .iter()
            .map(|c| format!("{} {}", quote(&c.name), pg_type(c.kind)))
            .collect();
        defs.push(format!("{EXTRACTED_AT} TIMESTAMPTZ"));
        defs.push(format!("{RAW} JSONB"));
        defs.push(format!("{ERROR} TEXT"));
        defs.join(", ")
    }

    fn names(&self) -> Vec<String> {
        self.columns
            .columns()
            .iter()
            .map(|c| quote(&c.name))
            .chain([EXTRACTED_AT.to_string(), RAW.to_string(), ERROR.to_string()])
            .collect()
    }

    fn types(&self) -> Vec<Type> {
        self.columns
            .columns()
            .iter()
            .map(|c| wire_type(c.kind))
            .chain([Type::TIMESTAMPTZ, Type::JSONB, Type::TEXT])
            .collect()
    }

    /// Adds a column to the table (and its stage).
    async fn add_column(&mut self, client: &Client, column: Column) -> Result<()> {
        let mut sql = format!(
            "ALTER TABLE {} ADD COLUMN IF NOT EXISTS {} {};",
            self.qualified(&self.target),
            quote(&column.name),
            pg_type(column.kind)
        );
        if let Some(stage) = &self.stage {
            sql.push_str(&format!(
                "ALTER TABLE {} ADD COLUMN IF NOT EXISTS {} {};",
                quote(stage),
                quote(&column.name),
                pg_type(column.kind)
            ));
        }
        client
            .batch_execute(&sql)
            .await
            .map_err(pg_error("adding a column"))?;
        self.columns.push(column);
        Ok(())
    }

    /// Changes a column to a wider kind (and its stage's).
    async fn widen(&mut self, client: &Client, name: &str, to: ColumnKind) -> Result<()> {
        let mut sql = format!(
            "ALTER TABLE {} ALTER COLUMN {} TYPE {} USING {};",
            self.qualified(&self.target),
            quote(name),
            pg_type(to),
            cast(name, to)
        );
        if let Some(stage) = &self.stage {
            sql.push_str(&format!(
                "ALTER TABLE {} ALTER COLUMN {} TYPE {} USING {};",
                quote(stage),
                quote(name),
                pg_type(to),
                cast(name, to)
            ));
        }
        client
            .batch_execute(&sql)
            .await
            .map_err(pg_error("widening a column"))?;
        self.columns.push(Column {
            name: name.to_string(),
            kind: to,
        });
        Ok(())
    }

    /// Creates the table or brings it up to the schema; creates the dedup index and stage.
    async fn ensure(&mut self, client: &Client) -> Result<()> {
        let rows = client
            .query(
                "SELECT column_name::text, data_type::text FROM information_schema.columns
                 WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position",
                &[&self.schema_name, &self.target],
            )
            .await
            .map_err(pg_error("reading a table's columns"))?;
        let existing: Vec<(String, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
        if existing.is_empty() {
            client
                .batch_execute(&format!(
                    "CREATE TABLE {} ({})",
                    self.qualified(&self.target),
                    self.column_defs()
                ))
                .await
                .map_err(pg_error("creating a table"))?;
        } else {
            let mut present: HashMap<String, ColumnKind> = HashMap::new();
            for (name, data_type) in &existing {
                if [EXTRACTED_AT, RAW, ERROR].contains(&name.as_str()) {
                    continue;
                }
                let old = kind_of(data_type);
                present.insert(name.clone(), old);
                match self.columns.position(name) {
                    Some(i) => {
                        let new = self.columns.column(i).kind;
                        let wide = old.widen(new);
                        if wide != old {
                            self.widen(client, name, wide).await?;
                        } else if new != old {
                            // Never narrow what is stored.
                            self.columns.push(Column {
                                name: name.clone(),
                                kind: old,
                            });
                        }
                    }
                    None => self.columns.push(Column {
                        name: name.clone(),
                        kind: old,
                    }),
                }
            }
            let missing: Vec<Column> = self
                .columns
                .columns()
                .iter()
                .filter(|c| !present.contains_key(&c.name))
                .cloned()
                .collect();
            for c in missing {
                self.add_column(client, c).await?;
            }
            for (meta, ty) in [
                (EXTRACTED_AT, "TIMESTAMPTZ"),
                (RAW, "JSONB"),
                (ERROR, "TEXT"),
            ] {
                if !existing.iter().any(|(n, _)| n == meta) {
                    client
                        .batch_execute(&format!(
                            "ALTER TABLE {} ADD COLUMN {meta} {ty}",
                            self.qualified(&self.target)
                        ))
                        .await
                        .map_err(pg_error("adding a metadata column"))?;
                }
            }
        }
        if self.mode == DestinationSyncMode::AppendDedup {
            let keys: Vec<String> = self.pk.iter().map(|k| quote(k)).collect();
            client
                .batch_execute(&format!(
                    "CREATE UNIQUE INDEX IF NOT EXISTS {} ON {} ({})",
                    quote(&format!("{}__intake_pk", self.target)),
                    self.qualified(&self.target),
                    keys.join(", ")
                ))
                .await
                .map_err(|e| {
                    Error::config(format!(
                        "cannot dedup stream \"{}\" on its primary key: {} (the table holds duplicate keys from an earlier append; overwrite it once)",
                        self.stream,
                        describe(&e)
                    ))
                })?;
            let stage = format!("_intake_stage__{}", self.target);
            client
                .batch_execute(&format!(
                    "DROP TABLE IF EXISTS pg_temp.{s}; CREATE TEMP TABLE {s} (LIKE {t}); ALTER TABLE {s} ADD COLUMN {SEQ} BIGINT;",
                    s = quote(&stage),
                    t = self.qualified(&self.target)
                ))
                .await
                .map_err(pg_error("creating a staging table"))?;
            self.stage = Some(stage);
        }
        Ok(())
    }
}

async fn exec(client: &Client, sql: &str, what: &str) -> Result<()> {
    client.batch_execute(sql).await.map_err(pg_error(what))
}

/// Writes one sync's messages.
pub(crate) async fn write(
    client: &mut Client,
    cfg: &PostgresConfig,
    catalog: &ConfiguredCatalog,
    mut input: DestinationInput,
    acks: Acks,
) -> Result<WriteSummary> {
    let state_table = format!("{}.{}", quote(&cfg.schema), STATE_TABLE);
    exec(
        client,
        &format!(
            "CREATE SCHEMA IF NOT EXISTS {}; CREATE TABLE IF NOT EXISTS {state_table} (
                stream TEXT PRIMARY KEY, name TEXT NOT NULL, namespace TEXT,
                state JSONB NOT NULL, updated_at TIMESTAMPTZ NOT NULL DEFAULT now())",
            quote(&cfg.schema)
        ),
        "creating the state table",
    )
    .await?;
    let mut tables: HashMap<StreamDescriptor, Table> = HashMap::new();
    for cs in &catalog.streams {
        let d = cs.stream.descriptor();
        let schema_name = d
            .namespace
            .clone()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| cfg.schema.clone());
        exec(
            client,
            &format!("CREATE SCHEMA IF NOT EXISTS {}", quote(&schema_name)),
            "creating a schema",
        )
        .await?;
        let name: String = d
            .name
            .chars()
            .map(|c| if c.is_control() { '_' } else { c })
            .collect();
        let plan = TablePlan::new(cs, "PostgreSQL")?;
        // An overwrite's staging table is kept as it is until the stream starts: only then is
        // it known whether the source resumes the interrupted overwrite staged there.
        let target = if plan.mode == DestinationSyncMode::Overwrite {
            format!("{STAGING_PREFIX}{name}")
        } else {
            name.clone()
        };
        let mut table = Table {
            stream: d.clone(),
            schema_name,
            name,
            target,
            mode: plan.mode,
            columns: plan.schema,
            pk: plan.primary_key,
            cursor: plan.cursor,
            stage: None,
            records: 0,
            bytes: 0,
            rejected: 0,
            misfits: BTreeMap::new(),
        };
        table.ensure(client).await?;
        tables.insert(d, table);
    }

    let mut in_txn = false;
    let mut seq: i64 = 0;
    while let Some(message) = input.recv().await {
        match message {
            DestinationMessage::Records(batch) => {
                if !in_txn {
                    exec(client, "BEGIN", "starting a transaction").await?;
                    in_txn = true;
                }
                let table = tables.get_mut(&*batch.stream).ok_or_else(|| {
                    Error::system(format!(
                        "records arrived for stream \"{}\", which the catalog does not configure",
                        batch.stream
                    ))
                })?;
                write_batch(client, table, &batch, &mut seq).await?;
            }
            DestinationMessage::Checkpoint(cp) => {
                if !in_txn {
                    exec(client, "BEGIN", "starting a transaction").await?;
                }
                let key = match &cp.stream.namespace {
                    Some(ns) => format!("{ns}.{}", cp.stream.name),
                    None => cp.stream.name.clone(),
                };
                client
                    .execute(
                        &format!(
                            "INSERT INTO {state_table} (stream, name, namespace, state, updated_at)
                             VALUES ($1, $2, $3, $4, now())
                             ON CONFLICT (stream) DO UPDATE SET state = excluded.state, updated_at = now()"
                        ),
                        &[&key, &cp.stream.name, &cp.stream.namespace, &cp.state],
                    )
                    .await
                    .map_err(pg_error("storing the state"))?;
                exec(client, "COMMIT", "committing").await?;
                in_txn = false;
                acks.ack(cp)?;
            }
            // A read that starts over empties what an earlier run staged, in the transaction
            // that stores the stream's next state (so a crash cannot leave a resume token
            // naming rows that are gone).
            DestinationMessage::StreamStart(d, start) => {
                if let Some(t) = tables.get(&d)
                    && t.mode == DestinationSyncMode::Overwrite
                    && !start.resume
                {
                    if !in_txn {
                        exec(client, "BEGIN", "starting a transaction").await?;
                        in_txn = true;
                    }
                    exec(
                        client,
                        &format!("TRUNCATE {}", t.qualified(&t.target)),
                        "clearing a staging table",
                    )
                    .await?;
                }
            }
            // Only a complete read replaces the old table.
            DestinationMessage::StreamEnd(d, end) => {
                if let Some(t) = tables.get(&d)
                    && t.mode == DestinationSyncMode::Overwrite
                    && end.is_complete()
                {
                    let sql = format!(
                        "{}DROP TABLE IF EXISTS {}; ALTER TABLE {} RENAME TO {}; COMMIT;",
                        if in_txn { "" } else { "BEGIN; " },
                        t.qualified(&t.name),
                        t.qualified(&t.target),
                        quote(&t.name)
                    );
                    exec(client, &sql, "replacing a table").await?;
                    in_txn = false;
                }
            }
        }
    }
    if in_txn {
        exec(client, "ROLLBACK", "rolling back").await?;
    }
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

/// Converts a batch to rows (changing the table when a record needs it), COPYs them in, and
/// merges them for `append_dedup`.
async fn write_batch(
    client: &Client,
    t: &mut Table,
    batch: &RecordBatch,
    seq: &mut i64,
) -> Result<()> {
    let extracted = chrono::Utc
        .timestamp_millis_opt(batch.emitted_at)
        .single()
        .unwrap_or_else(chrono::Utc::now);
    let mut rows: Vec<(Vec<Cell<'_>>, Option<String>, bool)> =
        Vec::with_capacity(batch.records.len());
    for record in &batch.records {
        let fields = Fields::of(record)?;
        for column in t
            .columns
            .changes_for(&fields, &[EXTRACTED_AT, RAW, ERROR, SEQ])
        {
            tracing::info!(
                "stream \"{}\": column {} is now {}",
                t.stream,
                column.name,
                column.kind
            );
            if t.columns.position(&column.name).is_some() {
                t.widen(client, &column.name, column.kind).await?;
            } else {
                t.add_column(client, column).await?;
            }
        }
        let (cells, misfits) = t.columns.cells(&fields);
        for m in &misfits {
            *t.misfits.entry(m.to_string()).or_default() += 1;
        }
        let mut error = misfits.first().map(ToString::to_string);
        let raw = error.is_some();
        if raw {
            t.rejected += 1;
        }
        // PostgreSQL stores no NUL character in text or JSONB: a value holding one would fail
        // the COPY on every rerun, so the sync could never finish while the source holds it.
        // It is kept with U+FFFD in its place, and the row says so.
        if let Some(field) = first_nul(&cells, t.columns.columns()) {
            let note = format!(
                "field \"{field}\" held a NUL character, which PostgreSQL cannot store; it was replaced by U+FFFD"
            );
            error = Some(match error {
                Some(e) => format!("{e}; {note}"),
                None => note,
            });
        }
        t.records += 1;
        t.bytes += record.len() as u64;
        rows.push((cells, error, raw));
    }
    // Earlier rows may predate a column added later in the batch.
    let width = t.columns.len();
    let kinds: Vec<ColumnKind> = t.columns.columns().iter().map(|c| c.kind).collect();
    let into = t
        .stage
        .clone()
        .map(|s| quote(&s))
        .unwrap_or_else(|| t.qualified(&t.target));
    let mut names = t.names();
    let mut types = t.types();
    if t.stage.is_some() {
        names.push(SEQ.to_string());
        types.push(Type::INT8);
    }
    let sink = client
        .copy_in(&format!(
            "COPY {into} ({}) FROM STDIN BINARY",
            names.join(", ")
        ))
        .await
        .map_err(pg_error("starting a COPY"))?;
    let writer = BinaryCopyInWriter::new(sink, &types);
    pin_mut!(writer);
    for (record, (mut cells, error, raw)) in batch.records.iter().zip(rows) {
        cells.resize(width, Cell::Null);
        // A cell converted before its column was widened is converted again.
        for (c, kind) in cells.iter_mut().zip(&kinds) {
            if let (Cell::Integer(i), ColumnKind::Number) = (&*c, kind) {
                *c = Cell::Number(*i as f64);
            }
        }
        let mut row: Vec<PgCell<'_>> = cells.into_iter().map(PgCell::storable).collect();
        row.push(PgCell::Cell(Cell::DateTime(extracted)));
        row.push(if raw {
            PgCell::storable(Cell::Json(record.json()))
        } else {
            PgCell::Cell(Cell::Null)
        });
        row.push(PgCell::Cell(match error {
            Some(e) => Cell::Text(e.into()),
            None => Cell::Null,
        }));
        if t.stage.is_some() {
            *seq += 1;
            row.push(PgCell::Cell(Cell::Integer(*seq)));
        }
        let refs: Vec<&(dyn ToSql + Sync)> = row.iter().map(|c| c as &(dyn ToSql + Sync)).collect();
        writer
            .as_mut()
            .write(&refs)
            .await
            .map_err(pg_error("writing a COPY row"))?;
    }
    writer
        .finish()
        .await
        .map_err(pg_error("finishing a COPY"))?;
    if let Some(stage) = &t.stage {
        let all = t.names();
        let keys: Vec<String> = t.pk.iter().map(|k| quote(k)).collect();
        let sets: Vec<String> = all
            .iter()
            .filter(|n| !keys.contains(n))
            .map(|n| format!("{n} = excluded.{n}"))
            .collect();
        let target = t.qualified(&t.target);
        // Within the batch, the newest cursor (then the latest record) per key; against the
        // table, only a cursor that is not older replaces a row.
        let (order, guard) = match &t.cursor {
            Some(c) => {
                let c = quote(c);
                (
                    format!("{c} DESC NULLS LAST, {SEQ} DESC"),
                    format!(" WHERE {target}.{c} IS NULL OR excluded.{c} >= {target}.{c}"),
                )
            }
            None => (format!("{SEQ} DESC"), String::new()),
        };
        let sql = format!(
            "INSERT INTO {target} ({cols}) SELECT DISTINCT ON ({keys}) {cols} FROM {stage} ORDER BY {keys}, {order}
             ON CONFLICT ({keys}) DO UPDATE SET {sets}{guard}; TRUNCATE {stage};",
            cols = all.join(", "),
            keys = keys.join(", "),
            stage = quote(stage),
            sets = sets.join(", "),
        );
        exec(client, &sql, "merging a batch").await?;
    }
    Ok(())
}

/// The first field whose value holds a NUL character (stored with U+FFFD in its place).
fn first_nul(cells: &[Cell<'_>], columns: &[Column]) -> Option<String> {
    cells.iter().zip(columns).find_map(|(cell, column)| {
        let nul = match cell {
            Cell::Text(s) => s.contains('\0'),
            Cell::Json(s) => matches!(jsonb_safe(s), Cow::Owned(_)),
            _ => false,
        };
        nul.then(|| column.name.clone())
    })
}

/// JSON text without the `\u0000` escape, which JSONB refuses: each one (not an escaped
/// backslash followed by `u0000`) becomes `\ufffd`.
fn jsonb_safe(json: &str) -> Cow<'_, str> {
    if !json.contains("\\u0000") {
        return Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len());
    let mut rest = json;
    while let Some(i) = rest.find('\\') {
        out.push_str(&rest[..i]);
        let escape = &rest[i..];
        if let Some(after) = escape.strip_prefix("\\u0000") {
            out.push_str("\\ufffd");
            rest = after;
        } else {
            // Any other escape is two characters (`\uXXXX` keeps its digits as text).
            let len = escape[1..].chars().next().map_or(1, |c| 1 + c.len_utf8());
            out.push_str(&escape[..len]);
            rest = &escape[len..];
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}
