//! The writer: binary COPY per batch, one transaction between checkpoints.

mod cells;
mod sql;
mod state;
mod table;

use std::collections::{BTreeMap, HashMap};

use chrono::TimeZone;
use futures::pin_mut;
use intake::destination::table::{Cell, ColumnKind, Fields, TablePlan};
use intake::destination::{Acks, DestinationInput, DestinationMessage, WriteSummary};
use intake::record::RecordBatch;
use intake::{ConfiguredCatalog, DestinationSyncMode, Error, Result, StreamDescriptor};
use tokio_postgres::Client;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{ToSql, Type};

use crate::PostgresConfig;
use cells::{PgCell, first_nul};
use sql::{ERROR, EXTRACTED_AT, RAW, SEQ, STAGING_PREFIX, STATE_TABLE, pg_error};
use table::Table;

pub(crate) use sql::{describe, quote};
pub(crate) use state::stored_state;

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
