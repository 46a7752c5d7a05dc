//! Names and types: how streams and fields become SQLite tables and columns.

use intake::StreamDescriptor;
use intake::destination::table::ColumnKind;

/// Metadata column: when the record was extracted (epoch milliseconds).
pub const EXTRACTED_AT: &str = "_intake_extracted_at";
/// Metadata column: the record's JSON when a value did not fit its column.
pub const RAW: &str = "_intake_raw";
/// Metadata column: why the record did not fit.
pub const ERROR: &str = "_intake_error";
/// The state table.
pub const STATE_TABLE: &str = "_intake_state";
/// Prefix of an overwrite's staging table.
pub const STAGING_PREFIX: &str = "_intake_tmp__";

/// A quoted identifier: `"name"`, with inner quotes doubled.
pub fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The table a stream is written to: its name, or `namespace__name`. Control characters are
/// replaced with `_`; everything else is kept and quoted.
pub fn table_name(d: &StreamDescriptor) -> String {
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| if c.is_control() { '_' } else { c })
            .collect()
    };
    match &d.namespace {
        Some(ns) if !ns.is_empty() => format!("{}__{}", clean(ns), clean(&d.name)),
        _ => clean(&d.name),
    }
}

/// The declared SQLite type of a column kind. Every name maps back with [`kind_of`], and its
/// affinity stores the values as intake writes them.
pub fn declared_type(kind: ColumnKind) -> &'static str {
    match kind {
        ColumnKind::String => "TEXT",
        ColumnKind::Integer => "INTEGER",
        ColumnKind::Number => "REAL",
        ColumnKind::Boolean => "BOOLEAN",
        ColumnKind::DateTime => "TIMESTAMP TEXT",
        ColumnKind::Date => "DATE TEXT",
        ColumnKind::Json => "JSON TEXT",
    }
}

/// The column kind of a declared type (a column intake did not create is read as JSON).
pub fn kind_of(declared: &str) -> ColumnKind {
    match declared.to_ascii_uppercase().as_str() {
        "TEXT" => ColumnKind::String,
        "INTEGER" => ColumnKind::Integer,
        "REAL" => ColumnKind::Number,
        "BOOLEAN" => ColumnKind::Boolean,
        "TIMESTAMP TEXT" => ColumnKind::DateTime,
        "DATE TEXT" => ColumnKind::Date,
        _ => ColumnKind::Json,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_types_round_trip() {
        assert_eq!(quote("a\"b"), "\"a\"\"b\"");
        assert_eq!(table_name(&StreamDescriptor::new("contacts")), "contacts");
        let d = StreamDescriptor {
            name: "deals".into(),
            namespace: Some("crm".into()),
        };
        assert_eq!(table_name(&d), "crm__deals");
        for k in [
            ColumnKind::String,
            ColumnKind::Integer,
            ColumnKind::Number,
            ColumnKind::Boolean,
            ColumnKind::DateTime,
            ColumnKind::Date,
            ColumnKind::Json,
        ] {
            assert_eq!(kind_of(declared_type(k)), k);
        }
    }
}
