//! One stream's table: its columns, its statements, and the schema changes a batch needs.

use std::collections::{BTreeMap, HashMap};

use intake::destination::table::{Column, ColumnKind, TableSchema};
use intake::{DestinationSyncMode, Error, Result, StreamDescriptor};
use rusqlite::Connection;

use super::connection::sql_error;
use crate::sql::{ERROR, EXTRACTED_AT, RAW, declared_type, kind_of, quote};

/// One stream's table.
pub(super) struct Table {
    pub(super) stream: StreamDescriptor,
    /// The table readers see.
    pub(super) name: String,
    /// The table written now (a staging table for overwrite).
    pub(super) target: String,
    pub(super) mode: DestinationSyncMode,
    pub(super) schema: TableSchema,
    pub(super) pk: Vec<String>,
    pub(super) cursor: Option<String>,
    /// The `ON CONFLICT` clause of an `append_dedup` insert (empty otherwise).
    pub(super) conflict: String,
    /// The insert of a chunk of each size (index: rows - 1) without raw pairs, built when first
    /// needed after a column change rather than per chunk (pages end in partial chunks).
    pub(super) inserts: Vec<Option<std::sync::Arc<str>>>,
    pub(super) records: u64,
    pub(super) bytes: u64,
    pub(super) rejected: u64,
    pub(super) misfits: BTreeMap<String, u64>,
}

impl Table {
    pub(super) fn columns_sql(&self) -> String {
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
    pub(super) fn insert_names(&self) -> Vec<String> {
        self.schema
            .columns()
            .iter()
            .map(|c| quote(&c.name))
            .chain([EXTRACTED_AT.to_string(), RAW.to_string(), ERROR.to_string()])
            .collect()
    }

    pub(super) fn build_insert(&mut self) {
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
    pub(super) fn chunk_sql(&mut self, rows: usize, raw: bool) -> std::sync::Arc<str> {
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
    pub(super) fn insert_sql(&self, rows: usize, raw: bool) -> String {
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

    pub(super) fn index_sql(&self) -> Option<String> {
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

/// The columns a table has now: (name, declared type).
pub(super) fn existing_columns(conn: &Connection, table: &str) -> Result<Vec<(String, String)>> {
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
pub(super) const META: &[&str] = &[EXTRACTED_AT, RAW, ERROR];

/// Records per INSERT statement (each brings width + 3 parameters; SQLite allows 32,766).
pub(super) const CHUNK_ROWS: usize = 64;

pub(super) fn is_meta(name: &str) -> bool {
    name == EXTRACTED_AT || name == RAW || name == ERROR
}

/// The statements that rebuild a table with the column kinds of `t.schema` (SQLite cannot
/// change a column's declared type in place), keeping every row.
pub(super) fn rebuild_sql(t: &Table) -> String {
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
pub(super) fn ensure_table(conn: &Connection, t: &mut Table) -> Result<()> {
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

pub(super) fn add_column_sql(table: &str, c: &Column) -> String {
    format!(
        "ALTER TABLE {} ADD COLUMN {} {};",
        quote(table),
        quote(&c.name),
        declared_type(c.kind)
    )
}
