//! One stream's table: creating, widening and staging it.

use std::collections::{BTreeMap, HashMap};

use intake::destination::table::{Column, ColumnKind, TableSchema};
use intake::{DestinationSyncMode, Error, Result, StreamDescriptor};
use tokio_postgres::Client;
use tokio_postgres::types::Type;

use super::sql::{
    ERROR, EXTRACTED_AT, RAW, SEQ, cast, describe, kind_of, pg_error, pg_type, quote, wire_type,
};

pub(super) struct Table {
    pub(super) stream: StreamDescriptor,
    pub(super) schema_name: String,
    pub(super) name: String,
    pub(super) target: String,
    pub(super) mode: DestinationSyncMode,
    pub(super) columns: TableSchema,
    pub(super) pk: Vec<String>,
    pub(super) cursor: Option<String>,
    pub(super) stage: Option<String>,
    pub(super) records: u64,
    pub(super) bytes: u64,
    pub(super) rejected: u64,
    pub(super) misfits: BTreeMap<String, u64>,
}

impl Table {
    pub(super) fn qualified(&self, table: &str) -> String {
        format!("{}.{}", quote(&self.schema_name), quote(table))
    }

    pub(super) fn column_defs(&self) -> String {
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

    pub(super) fn names(&self) -> Vec<String> {
        self.columns
            .columns()
            .iter()
            .map(|c| quote(&c.name))
            .chain([EXTRACTED_AT.to_string(), RAW.to_string(), ERROR.to_string()])
            .collect()
    }

    pub(super) fn types(&self) -> Vec<Type> {
        self.columns
            .columns()
            .iter()
            .map(|c| wire_type(c.kind))
            .chain([Type::TIMESTAMPTZ, Type::JSONB, Type::TEXT])
            .collect()
    }

    /// Adds a column to the table (and its stage).
    pub(super) async fn add_column(&mut self, client: &Client, column: Column) -> Result<()> {
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
    pub(super) async fn widen(
        &mut self,
        client: &Client,
        name: &str,
        to: ColumnKind,
    ) -> Result<()> {
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
    pub(super) async fn ensure(&mut self, client: &Client) -> Result<()> {
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
