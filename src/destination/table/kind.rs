//! Column kinds: the logical type of a column, from a JSON Schema or a value, and widening.

use std::fmt;

use serde_json::Value;
/// A column's logical type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ColumnKind {
    /// Text.
    String,
    /// A 64-bit integer.
    Integer,
    /// A 64-bit float.
    Number,
    /// True or false.
    Boolean,
    /// An instant, stored in UTC.
    DateTime,
    /// A calendar date.
    Date,
    /// Any JSON (objects, arrays, mixed types).
    Json,
}

impl ColumnKind {
    /// The kind a JSON Schema property describes.
    pub fn from_schema(schema: &Value) -> ColumnKind {
        let types: Vec<&str> = match schema.get("type") {
            Some(Value::String(t)) => vec![t.as_str()],
            Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        let types: Vec<&str> = types.into_iter().filter(|t| *t != "null").collect();
        match types.as_slice() {
            ["string"] => match schema.get("format").and_then(Value::as_str) {
                Some("date-time") => ColumnKind::DateTime,
                Some("date") => ColumnKind::Date,
                _ => ColumnKind::String,
            },
            ["integer"] => ColumnKind::Integer,
            ["number"] => ColumnKind::Number,
            ["integer", "number"] | ["number", "integer"] => ColumnKind::Number,
            ["boolean"] => ColumnKind::Boolean,
            _ => ColumnKind::Json,
        }
    }

    /// The kind a JSON value would get as a new column (a field the schema did not declare).
    pub fn of_value(value: &Value) -> ColumnKind {
        match value {
            Value::Bool(_) => ColumnKind::Boolean,
            Value::Number(n) if n.is_i64() => ColumnKind::Integer,
            Value::Number(_) => ColumnKind::Number,
            Value::String(_) => ColumnKind::String,
            _ => ColumnKind::Json,
        }
    }

    /// The narrowest kind holding values of both: `Integer` + `Number` = `Number`; anything
    /// with `Json` is `Json`; any other two different kinds are `String` (every scalar has a
    /// lossless text form).
    pub fn widen(self, other: ColumnKind) -> ColumnKind {
        use ColumnKind::*;
        match (self, other) {
            (a, b) if a == b => a,
            (Json, _) | (_, Json) => Json,
            (Integer, Number) | (Number, Integer) => Number,
            _ => String,
        }
    }

    /// Whether a column of this kind holds every value of `other` without change.
    pub fn holds(self, other: ColumnKind) -> bool {
        self.widen(other) == self
    }
}

impl fmt::Display for ColumnKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            ColumnKind::String => "string",
            ColumnKind::Integer => "integer",
            ColumnKind::Number => "number",
            ColumnKind::Boolean => "boolean",
            ColumnKind::DateTime => "date-time",
            ColumnKind::Date => "date",
            ColumnKind::Json => "json",
        };
        f.write_str(s)
    }
}
