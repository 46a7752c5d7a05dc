//! Tables from streams, for destinations that write typed columns (SQLite, PostgreSQL,
//! Parquet): column kinds from a JSON Schema, widening, and converting a record's fields to
//! typed cells without parsing the record into a tree.
//!
//! | JSON Schema | [`ColumnKind`] |
//! |---|---|
//! | `string` | `String` |
//! | `string` + `format: date-time` | `DateTime` (UTC) |
//! | `string` + `format: date` | `Date` |
//! | `integer` | `Integer` (i64) |
//! | `number` | `Number` (f64) |
//! | `boolean` | `Boolean` |
//! | `object`, `array`, several types, no type | `Json` |
//!
//! `null` in a type list only makes the column nullable (every column is). A value that does
//! not fit its column is reported as a [`Misfit`]: the destination keeps the record's raw JSON
//! and counts the reason, never drops it.

mod cell;
mod kind;
mod plan;
mod schema;
#[cfg(test)]
mod tests;

pub use cell::{Cell, Fields, Misfit, cell};
pub use kind::ColumnKind;
pub use plan::TablePlan;
pub use schema::{Column, TableSchema};
