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

mod config;
mod destination;
mod writer;

pub use config::ParquetConfig;
pub use destination::ParquetDestination;
pub use writer::STATE_FILE;
