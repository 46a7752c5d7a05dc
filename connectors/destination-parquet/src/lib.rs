//! The Parquet destination: a folder of Parquet files per stream, the lake format DuckDB,
//! Polars, Spark and Trino read directly (`SELECT * FROM 'out/contacts/*.parquet'`).
//!
//! Layout of `destination_path`:
//! ```text
//! contacts/part-<run>-00001.parquet   a complete file per checkpoint (row groups of up to 128k rows)
//! contacts/.part-...parquet.tmp       a file being written (removed at the next start if a crash left it)
//! crm__deals/...                      stream "deals" in namespace "crm"
//! _intake_state.json                  the acknowledged state, replaced atomically after the data
//! ```
//!
//! - **Columns** are typed from the stream's JSON Schema ([`intake::table`]): `Utf8`, `Int64`,
//!   `Float64`, `Boolean`, `Timestamp(µs, UTC)`, `Date32`, and JSON text (`Utf8`) for objects
//!   and arrays; plus `_intake_extracted_at`, `_intake_raw` (the record when a value did not
//!   fit its column, counted as rejected) and `_intake_error`.
//! - **Modes.** `append` adds files; `overwrite` writes into a staging folder that replaces the
//!   stream's folder when the stream completes. `append_dedup` is refused with a config error:
//!   Parquet files are immutable, so a merge means rewriting them — use SQLite or PostgreSQL,
//!   or dedup when reading (`QUALIFY row_number() OVER (PARTITION BY id ORDER BY ...) = 1`).
//! - **Checkpoints.** At a checkpoint the open file is finished, synced and renamed into place,
//!   then the state sidecar is replaced (write, sync, rename), and only then is the checkpoint
//!   acknowledged. A crash leaves at most `.tmp` files, which the next run deletes.
//! - **Schema evolution.** A new field or a widened column finishes the current file and starts
//!   a new one with the new schema; readers merge files by column name (DuckDB's
//!   `union_by_name`, Spark's `mergeSchema`).

mod writer;

use std::path::PathBuf;

use async_trait::async_trait;
use intake::destination::{Acks, Destination, DestinationInput, WriteSummary};
use intake::spec::{ConnectorSpec, parse_config};
use intake::{ConfiguredCatalog, DestinationSyncMode, Error, Result, State};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use writer::STATE_FILE;

/// Settings of the Parquet destination.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ParquetConfig {
    /// Folder to write a sub-folder of Parquet files per stream into; created if missing.
    pub destination_path: PathBuf,
    /// Rows per row group. Default 131,072: large enough for fast scans, small enough to
    /// bound the writer's memory.
    #[serde(default = "default_row_group")]
    pub row_group_rows: usize,
}

fn default_row_group() -> usize {
    131_072
}

/// The Parquet destination. [`ParquetDestination::new`] fixes the folder in code; the default
/// instance reads `destination_path` from the config it is given.
#[derive(Debug, Clone, Default)]
pub struct ParquetDestination {
    preset: Option<ParquetConfig>,
}

impl ParquetDestination {
    /// Writes into this folder, whatever config JSON it is given.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        ParquetDestination {
            preset: Some(ParquetConfig {
                destination_path: path.into(),
                row_group_rows: default_row_group(),
            }),
        }
    }

    fn config(&self, config: &Value) -> Result<ParquetConfig> {
        match &self.preset {
            Some(p) => Ok(p.clone()),
            None => parse_config(config),
        }
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::system(format!("the Parquet writer stopped: {e}")))?
}

#[async_trait]
impl Destination for ParquetDestination {
    fn spec(&self) -> ConnectorSpec {
        ConnectorSpec::from_config::<ParquetConfig>()
            .documentation_url(
                "https://github.com/intake-rs/intake/tree/main/connectors/destination-parquet",
            )
            .destination_sync_modes(&[DestinationSyncMode::Append, DestinationSyncMode::Overwrite])
    }

    async fn check(&self, config: &Value) -> Result<()> {
        let cfg = self.config(config)?;
        blocking(move || {
            std::fs::create_dir_all(&cfg.destination_path).map_err(|e| {
                Error::config(format!(
                    "cannot create {}: {e}",
                    cfg.destination_path.display()
                ))
            })?;
            let probe = cfg.destination_path.join(".intake-check");
            std::fs::write(&probe, b"ok").map_err(|e| {
                Error::config(format!(
                    "{} is not writable: {e}",
                    cfg.destination_path.display()
                ))
            })?;
            let _ = std::fs::remove_file(probe);
            Ok(())
        })
        .await
    }

    async fn stored_state(&self, config: &Value) -> Result<Option<State>> {
        let cfg = self.config(config)?;
        blocking(move || writer::stored_state(&cfg.destination_path)).await
    }

    async fn write(
        &self,
        config: &Value,
        catalog: &ConfiguredCatalog,
        input: DestinationInput,
        acks: Acks,
    ) -> Result<WriteSummary> {
        let cfg = self.config(config)?;
        for s in &catalog.streams {
            if s.destination_sync_mode == DestinationSyncMode::AppendDedup {
                return Err(Error::config(format!(
                    "stream \"{}\" is configured append_dedup, which the Parquet destination does not do (its files are immutable); use append or overwrite, or the SQLite or PostgreSQL destination",
                    s.descriptor()
                )));
            }
        }
        let catalog = catalog.clone();
        blocking(move || writer::Writer::start(&cfg, &catalog)?.run(input, acks)).await
    }
}
