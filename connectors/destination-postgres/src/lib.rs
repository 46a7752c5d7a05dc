//! The PostgreSQL destination: for teams that outgrow one SQLite file.
//!
//! - **Tables from schemas.** A table per stream in the schema named by the stream's namespace
//!   (or the config's `schema`, default `public`); columns typed from the JSON Schema (see
//!   [`intake::table`]): `TEXT`, `BIGINT`, `DOUBLE PRECISION`, `BOOLEAN`, `TIMESTAMPTZ`, `DATE`,
//!   `JSONB`; metadata `_intake_extracted_at TIMESTAMPTZ`, `_intake_raw JSONB` (the record
//!   when a value did not fit) and `_intake_error TEXT`.
//! - **Bulk path.** Each batch goes in with one binary `COPY`: straight into the table for
//!   `append`, into a staging table swapped in at the stream's end for `overwrite`, and for
//!   `append_dedup` into a temporary table merged with `INSERT ... SELECT DISTINCT ON (key)
//!   ... ON CONFLICT (key) DO UPDATE ... WHERE` the incoming cursor is not older (ties: the
//!   later record wins).
//! - **Checkpoints commit with the data.** Batches and the stream's state row in
//!   `_intake_state` share one transaction, committed before the checkpoint is acknowledged;
//!   rows after the last checkpoint are rolled back if the input ends early.
//! - **Schema evolution.** New fields add columns; widened kinds alter the column type
//!   (`USING` a cast); values that fit nothing keep the record's raw JSON and count as rejected.
//! - **TLS** with rustls: `tls: prefer` (the default: encrypted when the server offers it),
//!   `require` or `disable`. An encrypted connection always verifies the server's certificate
//!   and host name, against the Mozilla roots plus `ca_certificate` when given (a private CA or
//!   a self-signed server); there is no "encrypt without verifying" mode.

mod client;
mod config;
mod destination;
mod writer;

pub use config::{PostgresConfig, TlsMode};
pub use destination::PostgresDestination;
