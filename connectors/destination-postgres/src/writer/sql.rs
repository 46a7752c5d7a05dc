//! Names and types: metadata columns, quoting, column kinds to PostgreSQL types and back.

use intake::Error;
use intake::destination::table::ColumnKind;
use tokio_postgres::types::Type;

pub(super) const EXTRACTED_AT: &str = "_intake_extracted_at";
pub(super) const RAW: &str = "_intake_raw";
pub(super) const ERROR: &str = "_intake_error";
pub(super) const SEQ: &str = "_intake_seq";
pub(super) const STATE_TABLE: &str = "_intake_state";
pub(super) const STAGING_PREFIX: &str = "_intake_tmp__";

/// A quoted identifier.
pub(crate) fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A server error's message and code, or the client error (never the connection URL).
pub(crate) fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => e.to_string(),
    }
}

pub(super) fn pg_error(what: &str) -> impl Fn(tokio_postgres::Error) -> Error + '_ {
    move |e| {
        let message = format!("PostgreSQL: {what}: {}", describe(&e));
        if e.is_closed() || e.as_db_error().is_none() {
            Error::transient(message)
        } else {
            Error::system(message)
        }
    }
}

pub(super) fn pg_type(kind: ColumnKind) -> &'static str {
    match kind {
        ColumnKind::String => "TEXT",
        ColumnKind::Integer => "BIGINT",
        ColumnKind::Number => "DOUBLE PRECISION",
        ColumnKind::Boolean => "BOOLEAN",
        ColumnKind::DateTime => "TIMESTAMPTZ",
        ColumnKind::Date => "DATE",
        ColumnKind::Json => "JSONB",
    }
}

pub(super) fn wire_type(kind: ColumnKind) -> Type {
    match kind {
        ColumnKind::String => Type::TEXT,
        ColumnKind::Integer => Type::INT8,
        ColumnKind::Number => Type::FLOAT8,
        ColumnKind::Boolean => Type::BOOL,
        ColumnKind::DateTime => Type::TIMESTAMPTZ,
        ColumnKind::Date => Type::DATE,
        ColumnKind::Json => Type::JSONB,
    }
}

/// The kind of a column as `information_schema` names its type.
pub(super) fn kind_of(data_type: &str) -> ColumnKind {
    match data_type {
        "text" | "character varying" => ColumnKind::String,
        "bigint" | "integer" | "smallint" => ColumnKind::Integer,
        "double precision" | "real" | "numeric" => ColumnKind::Number,
        "boolean" => ColumnKind::Boolean,
        "timestamp with time zone" => ColumnKind::DateTime,
        "date" => ColumnKind::Date,
        _ => ColumnKind::Json,
    }
}

/// How an existing column is cast to a wider kind.
pub(super) fn cast(column: &str, to: ColumnKind) -> String {
    let c = quote(column);
    match to {
        ColumnKind::Json => format!("to_jsonb({c})"),
        other => format!("{c}::{}", pg_type(other)),
    }
}
