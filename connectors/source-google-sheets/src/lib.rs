//! The Google Sheets source: every grid tab of a spreadsheet is a stream.
//!
//! - **Auth**: a service-account key (an RS256 JWT exchanged at the key's `token_uri` for the
//!   `spreadsheets.readonly` scope; the token cached until a minute before it expires), or OAuth
//!   (client id, client secret, refresh token).
//! - **Discovery**: `spreadsheets.get` with `fields=sheets.properties`; each GRID sheet whose
//!   first row has a header becomes a stream named after the tab (charts skipped, hidden tabs
//!   listed; a tab without a header row is left out with a log line). An empty header cell
//!   leaves its column out (with a warning). Duplicate headers are all renamed with their cell:
//!   two `name` headers in B1 and D1 become `name_B1` and `name_D1`. Names can be converted to
//!   snake_case. Every column is a nullable string, except in unformatted mode, where a column
//!   whose sampled values are all numbers (or all booleans) is typed so.
//! - **Reading**: `values:batchGet` over row ranges of `batch_size` rows; short rows padded with
//!   null, blank rows skipped, the end decided by the tab's `rowCount`. Each record carries its
//!   row number in `_row` (the primary key: it moves if rows are inserted or sorted above it).
//! - **State**: full refresh only (Sheets has no change feed), resumable: each checkpoint holds
//!   the next row to read, so an interrupted sync continues where it stopped.
//! - **Limits and errors**: the per-minute read quota (default 60, Google's per-user quota, paced
//!   at 90%); 429 `RESOURCE_EXHAUSTED` retried with backoff; 403 `PERMISSION_DENIED` says to
//!   share the spreadsheet with the service account's email; 404 names the spreadsheet id.

#![warn(missing_docs)]

mod client;
mod config;
#[cfg(feature = "mock")]
pub mod mock;
mod rows;
mod source;
mod streams;

pub use config::{
    Credentials, DEFAULT_BASE_URL, DEFAULT_BATCH_SIZE, DEFAULT_TOKEN_URL, NamesConversion, ROW,
    SCOPE, SheetsConfig, ValueRender, spreadsheet_id,
};
pub use rows::{Column, column_letters, columns, quote_title, row_record, snake_case};
pub use source::SheetsSource;
