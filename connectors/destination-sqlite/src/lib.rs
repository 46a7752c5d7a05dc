//! The SQLite destination: intake's embedded default. One database file; one table per stream.
//!
//! - **Tables from schemas.** A table per stream (`namespace__name` when there is a
//!   namespace), a column per top-level property typed from the JSON Schema (see
//!   [`intake::table`]): `TEXT`, `INTEGER`, `REAL`, `BOOLEAN` (0/1), `TIMESTAMP TEXT` (UTC,
//!   `2024-01-02T03:04:05.000000Z`, so text order is time order), `DATE TEXT`, `JSON TEXT`.
//!   Metadata columns: `_intake_extracted_at` (epoch ms), `_intake_raw` (the record's JSON when
//!   a value did not fit its column) and `_intake_error` (why).
//! - **Write modes.** `append`; `overwrite` into `_intake_tmp__<table>`, swapped in when the
//!   stream completes (readers never see a half-written table; an interrupted overwrite that
//!   the source will resume keeps its staging table); `append_dedup` with a unique index on the
//!   primary key and `INSERT ... ON CONFLICT DO UPDATE ... WHERE` the incoming cursor is not
//!   older (ties: the later record wins, so the result is deterministic).
//! - **Checkpoints commit with the data.** Records go in through prepared statements inside one
//!   transaction; at each checkpoint the stream's state is written to `_intake_state` in the
//!   same transaction, the transaction commits, and only then is the checkpoint acknowledged.
//!   Records after the last checkpoint are rolled back if the input ends early.
//! - **Schema evolution.** A new field adds a column; a column whose schema type widened
//!   (integer -> number, anything -> string or JSON) is rebuilt with the wider type; an
//!   integer column that meets a fraction is widened to number on the spot; any other value
//!   that does not fit keeps the record's raw JSON in `_intake_raw`, the reason in
//!   `_intake_error`, and is counted in the sync report as rejected.
//! - **Speed.** One thread turns records into typed values, another owns the connection and
//!   runs multi-row prepared inserts (64 rows a statement) in one transaction per checkpoint,
//!   binding text straight from the records (`SQLITE_STATIC`, through SQLite's C API: the only
//!   unsafe code of the crate, in `raw.rs`); new files get 32 KiB pages; bulk loads checkpoint
//!   the WAL on a third thread, and the writer finishes that copy every 64 MiB so the WAL
//!   stays near that size. The limit is the bytes: in WAL mode every page crosses the page
//!   cache three times (WAL write, checkpoint read, checkpoint write), where JSONL writes each
//!   record once (figures in docs/benchmarks.md; `cargo bench -p intake-destination-sqlite`).
//! - **Durability.** WAL journal by default ([`Journal::Delete`] trades concurrent readers for
//!   single writes). `synchronous = NORMAL` (the default) survives a process crash
//!   at every commit and a power loss up to the last checkpoint of the WAL; `FULL` also
//!   survives a power loss at every commit, at some speed.
//!
//! # Example
//! ```no_run
//! # async fn demo(source: impl intake::Source + 'static) -> intake::Result<()> {
//! use intake_destination_sqlite::SqliteDestination;
//! let report = intake::sync(source, serde_json::json!({}))
//!     .to(SqliteDestination::open("acme.db"))
//!     .run()
//!     .await?;
//! # let _ = report; Ok(()) }
//! ```

mod config;
mod destination;
mod raw;
mod sql;
mod writer;

pub use config::{Journal, SqliteConfig, Synchronous};
pub use destination::SqliteDestination;
pub use sql::{quote, table_name};
