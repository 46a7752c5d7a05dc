//! What a destination needs to know to write one configured stream as a table.

use super::{Column, ColumnKind, TableSchema};
use crate::catalog::{ConfiguredStream, DestinationSyncMode};
use crate::error::{Error, Result};
/// What a destination needs to know to write one configured stream as a table.
#[derive(Debug, Clone)]
pub struct TablePlan {
    /// The columns from the stream's schema, with the key columns added if it lacked them.
    pub schema: TableSchema,
    /// The write mode.
    pub mode: DestinationSyncMode,
    /// The primary key's (top-level) fields.
    pub primary_key: Vec<String>,
    /// The cursor field, when it is a top-level column (what `append_dedup` compares).
    pub cursor: Option<String>,
}

impl TablePlan {
    /// The plan for a configured stream. `append_dedup` needs a top-level primary key: a
    /// missing or nested one is a config error naming `destination`.
    pub fn new(stream: &ConfiguredStream, destination: &str) -> Result<TablePlan> {
        let d = stream.descriptor();
        let mode = stream.destination_sync_mode;
        let mut schema = TableSchema::from_json_schema(&stream.stream.json_schema);
        let mut primary_key = Vec::new();
        for path in stream.effective_primary_key() {
            match path.as_slice() {
                [field] => primary_key.push(field.clone()),
                _ if mode == DestinationSyncMode::AppendDedup => {
                    return Err(Error::config(format!(
                        "stream \"{d}\": the primary key {path:?} is nested; the {destination} destination dedups on top-level fields"
                    )));
                }
                _ => {}
            }
        }
        if mode == DestinationSyncMode::AppendDedup && primary_key.is_empty() {
            return Err(Error::config(format!(
                "stream \"{d}\" is configured append_dedup but has no primary key"
            )));
        }
        for key in &primary_key {
            if schema.position(key).is_none() {
                schema.push(Column {
                    name: key.clone(),
                    kind: ColumnKind::String,
                });
            }
        }
        let cursor = stream
            .cursor_field
            .as_ref()
            .or(stream.stream.default_cursor_field.as_ref())
            .and_then(|c| match c.as_slice() {
                [field] => Some(field.clone()),
                _ => None,
            })
            .filter(|c| schema.position(c).is_some());
        Ok(TablePlan {
            schema,
            mode,
            primary_key,
            cursor,
        })
    }
}
