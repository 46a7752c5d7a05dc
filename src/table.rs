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

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU16, Ordering};

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;

use crate::catalog::{ConfiguredStream, DestinationSyncMode};
use crate::error::{Error, Result};
use crate::record::Record;
use crate::state::parse_datetime;

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

/// One column.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    /// The field name (the record's top-level key).
    pub name: String,
    /// Its kind.
    pub kind: ColumnKind,
}

/// The columns of a stream's table, in schema order, with a name index (a fast hash, seeded
/// per process: names come from the data).
#[derive(Debug, Clone, Default)]
pub struct TableSchema {
    columns: Vec<Column>,
    index: HashMap<String, usize, foldhash::fast::RandomState>,
    guesses: Guesses,
}

/// For the first fields of a record, the column the field at each position had last time:
/// a source's records list their fields in the same order, so a record's fields usually find
/// their columns by one name comparison instead of a hash lookup. Always checked against the
/// column's name, so a stale or raced guess only costs the lookup. Atomics (relaxed: plain
/// loads and stores) keep the schema shareable between threads.
struct Guesses([AtomicU16; GUESSES]);

const GUESSES: usize = 32;

impl Guesses {
    const NONE: u16 = u16::MAX;

    fn get(&self, field: usize) -> Option<usize> {
        let g = self.0.get(field)?.load(Ordering::Relaxed);
        (g != Self::NONE).then_some(usize::from(g))
    }

    fn set(&self, field: usize, column: usize) {
        if let (Some(slot), Ok(column)) = (self.0.get(field), u16::try_from(column)) {
            slot.store(column, Ordering::Relaxed);
        }
    }
}

impl Default for Guesses {
    fn default() -> Self {
        Guesses(std::array::from_fn(|_| AtomicU16::new(Self::NONE)))
    }
}

impl Clone for Guesses {
    fn clone(&self) -> Self {
        Guesses(std::array::from_fn(|field| {
            AtomicU16::new(self.0[field].load(Ordering::Relaxed))
        }))
    }
}

impl fmt::Debug for Guesses {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Guesses")
    }
}

impl TableSchema {
    /// The columns a stream's JSON Schema declares (its top-level `properties`).
    pub fn from_json_schema(schema: &Value) -> TableSchema {
        let mut t = TableSchema::default();
        if let Some(props) = schema.get("properties").and_then(Value::as_object) {
            for (name, prop) in props {
                t.push(Column {
                    name: name.clone(),
                    kind: ColumnKind::from_schema(prop),
                });
            }
        }
        t
    }

    /// Adds a column (replacing the kind of an existing one of the same name).
    pub fn push(&mut self, column: Column) {
        match self.index.get(&column.name) {
            Some(&i) => self.columns[i] = column,
            None => {
                self.index.insert(column.name.clone(), self.columns.len());
                self.columns.push(column);
            }
        }
    }

    /// The columns.
    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    /// The position of a column.
    pub fn position(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }

    /// The position of the column of a record's `field`-th field, `name`: where that field's
    /// column was last time if the name matches, else from the index.
    fn position_of_field(&self, field: usize, name: &str) -> Option<usize> {
        if let Some(g) = self.guesses.get(field)
            && self.columns.get(g).is_some_and(|c| c.name == name)
        {
            return Some(g);
        }
        let i = self.position(name)?;
        self.guesses.set(field, i);
        Some(i)
    }

    /// The column at a position.
    pub fn column(&self, i: usize) -> &Column {
        &self.columns[i]
    }

    /// Number of columns.
    pub fn len(&self) -> usize {
        self.columns.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.columns.is_empty()
    }
}

impl TableSchema {
    /// The columns a record needs that the table lacks: a new non-null field (typed by its
    /// value), or an integer column meeting a fraction (widened to number, losslessly).
    /// Fields named in `skip` (a destination's metadata columns) are ignored.
    pub fn changes_for(&self, fields: &Fields<'_>, skip: &[&str]) -> Vec<Column> {
        let mut changes: Vec<Column> = Vec::new();
        for (name, raw) in fields.iter() {
            if skip.contains(&name) || changes.iter().any(|c| c.name == name) {
                continue;
            }
            match self.position(name) {
                None => {
                    let value: Value = serde_json::from_str(raw).unwrap_or(Value::Null);
                    if !value.is_null() {
                        changes.push(Column {
                            name: name.to_string(),
                            kind: ColumnKind::of_value(&value),
                        });
                    }
                }
                Some(i) => {
                    if self.column(i).kind == ColumnKind::Integer
                        && cell(raw, ColumnKind::Integer) == Err("a fractional number")
                    {
                        changes.push(Column {
                            name: name.to_string(),
                            kind: ColumnKind::Number,
                        });
                    }
                }
            }
        }
        changes
    }

    /// A record's cells in column order (absent fields are null), and every value that did
    /// not fit its column. Fields without a column are ignored: apply
    /// [`TableSchema::changes_for`] first.
    pub fn cells<'a>(&self, fields: &Fields<'a>) -> (Vec<Cell<'a>>, Vec<Misfit>) {
        // Without the check the fill never stops early.
        self.fill(fields, None)
            .unwrap_or_else(|| (vec![Cell::Null; self.len()], Vec::new()))
    }

    /// [`TableSchema::cells`] in the same pass that checks the record needs no column change:
    /// `None` when [`TableSchema::changes_for`] has changes for it (apply them, then call
    /// [`TableSchema::cells`]). The common case costs one lookup per field instead of two.
    pub fn cells_if_unchanged<'a>(
        &self,
        fields: &Fields<'a>,
        skip: &[&str],
    ) -> Option<(Vec<Cell<'a>>, Vec<Misfit>)> {
        self.fill(fields, Some(skip))
    }

    /// The cells; with `check` (the fields to ignore), `None` as soon as a field needs a column
    /// change (a new non-null field, a fraction in an integer column).
    fn fill<'a>(
        &self,
        fields: &Fields<'a>,
        check: Option<&[&str]>,
    ) -> Option<(Vec<Cell<'a>>, Vec<Misfit>)> {
        let mut cells = vec![Cell::Null; self.len()];
        let mut misfits = Vec::new();
        for (field, (name, raw)) in fields.iter().enumerate() {
            let Some(i) = self.position_of_field(field, name) else {
                match check {
                    Some(skip) if !skip.contains(&name) && raw != "null" => return None,
                    _ => continue,
                }
            };
            let kind = self.column(i).kind;
            match cell(raw, kind) {
                Ok(c) => cells[i] = c,
                Err("a fractional number") if check.is_some() && kind == ColumnKind::Integer => {
                    return None;
                }
                Err(found) => misfits.push(Misfit {
                    field: name.to_string(),
                    expected: kind,
                    found,
                }),
            }
        }
        Some((cells, misfits))
    }
}

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

/// A typed value for one column.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell<'a> {
    /// SQL NULL (a null or absent field).
    Null,
    /// Text.
    Text(Cow<'a, str>),
    /// An integer.
    Integer(i64),
    /// A float.
    Number(f64),
    /// A boolean.
    Boolean(bool),
    /// An instant.
    DateTime(DateTime<Utc>),
    /// A date.
    Date(NaiveDate),
    /// JSON text, as it was in the record.
    Json(&'a str),
}

/// Why a value did not fit its column.
#[derive(Debug, Clone, PartialEq)]
pub struct Misfit {
    /// The field.
    pub field: String,
    /// The column's kind.
    pub expected: ColumnKind,
    /// What the value was.
    pub found: &'static str,
}

impl fmt::Display for Misfit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "field \"{}\" holds {} where the column is {}",
            self.field, self.found, self.expected
        )
    }
}

/// What a JSON value is, from its first byte.
#[derive(Clone, Copy, PartialEq, Eq)]
enum JsonType {
    String,
    Object,
    Array,
    Boolean,
    Null,
    Number,
}

impl JsonType {
    fn of(raw: &str) -> JsonType {
        match raw.as_bytes().first() {
            Some(b'"') => JsonType::String,
            Some(b'{') => JsonType::Object,
            Some(b'[') => JsonType::Array,
            Some(b't' | b'f') => JsonType::Boolean,
            Some(b'n') => JsonType::Null,
            _ => JsonType::Number,
        }
    }

    /// How a misfit names it.
    fn what(self) -> &'static str {
        match self {
            JsonType::String => "a string",
            JsonType::Object => "an object",
            JsonType::Array => "an array",
            JsonType::Boolean => "a boolean",
            JsonType::Null => "null",
            JsonType::Number => "a number",
        }
    }
}

/// Converts one JSON value (its text, as [`Fields::iter`] gives it) to a cell of `kind`;
/// `Err` names what the value was.
pub fn cell(text: &str, kind: ColumnKind) -> std::result::Result<Cell<'_>, &'static str> {
    let found = JsonType::of(text);
    if found == JsonType::Null {
        return Ok(Cell::Null);
    }
    let string = || crate::record::json_str(text).ok_or(found.what());
    match kind {
        ColumnKind::Json => Ok(Cell::Json(text)),
        ColumnKind::String => match found {
            JsonType::String => string().map(Cell::Text),
            // Numbers and booleans read fine as text; objects do not belong in a text column.
            JsonType::Number | JsonType::Boolean => Ok(Cell::Text(Cow::Borrowed(text))),
            _ => Err(found.what()),
        },
        ColumnKind::Integer => {
            if found != JsonType::Number {
                return Err(found.what());
            }
            text.parse::<i64>().map(Cell::Integer).or_else(|_| {
                // 3.0 is an integer; 3.5 is not.
                match text.parse::<f64>() {
                    Ok(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(Cell::Integer(f as i64)),
                    _ => Err("a fractional number"),
                }
            })
        }
        ColumnKind::Number => {
            if found != JsonType::Number {
                return Err(found.what());
            }
            text.parse::<f64>()
                .map(Cell::Number)
                .map_err(|_| found.what())
        }
        ColumnKind::Boolean => match text {
            "true" => Ok(Cell::Boolean(true)),
            "false" => Ok(Cell::Boolean(false)),
            _ => Err(found.what()),
        },
        ColumnKind::DateTime => {
            let s = string()?;
            parse_datetime(&s)
                .map(Cell::DateTime)
                .ok_or("a string that is not a date-time")
        }
        ColumnKind::Date => {
            let s = string()?;
            NaiveDate::parse_from_str(&s, "%Y-%m-%d")
                .ok()
                .or_else(|| parse_datetime(&s).map(|d| d.date_naive()))
                .map(Cell::Date)
                .ok_or("a string that is not a date")
        }
    }
}

/// A record split into its top-level fields, borrowing from the record's JSON.
pub struct Fields<'a> {
    entries: Vec<(Cow<'a, str>, &'a str)>,
}

impl<'a> Fields<'a> {
    /// Splits a record (one pass over its JSON, no value is parsed).
    pub fn of(record: &'a Record) -> Result<Fields<'a>> {
        let text = record.json();
        let mut entries = Vec::with_capacity(16);
        if crate::scan::members(text, |k, v| {
            entries.push((k, v));
            false
        })
        .is_some()
        {
            return Ok(Fields { entries });
        }
        // Only text the scanner cannot follow gets here: the checking reader says what is
        // wrong (or splits what the scanner gave up on).
        let entries = checked_members(text)
            .map_err(|e| Error::system(format!("a record is not a JSON object: {e}")))?;
        Ok(Fields { entries })
    }

    /// The fields, in the record's order, each with its value's JSON text.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &'a str)> {
        self.entries.iter().map(|(k, v)| (k.as_ref(), *v))
    }
}

/// The top-level members of the object `text`, split by the checking reader.
fn checked_members(
    text: &str,
) -> std::result::Result<Vec<(Cow<'_, str>, &str)>, crate::json::JsonError> {
    let mut r = crate::json::Reader::new(text);
    let mut object = r.object()?;
    let mut entries = Vec::new();
    while let Some(key) = object.next_key(&mut r)? {
        entries.push((key, r.value()?.get()));
    }
    r.finish()?;
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_fallback_split_agrees_with_the_scanner() {
        let text = r#"{"a\"b": [1, {"c": "}"}], "e": null, "f": "x\ny"}"#;
        let mut scanned = Vec::new();
        crate::scan::members(text, |k, v| {
            scanned.push((k, v));
            false
        })
        .unwrap();
        assert_eq!(checked_members(text).unwrap(), scanned);
        assert_eq!(checked_members("{}").unwrap(), []);
        for bad in ["[1]", "{\"a\": 1", "{\"a\": tru}", "{} x"] {
            assert!(checked_members(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn kinds_from_schemas() {
        let k = |v: Value| ColumnKind::from_schema(&v);
        assert_eq!(k(json!({"type": ["null", "string"]})), ColumnKind::String);
        assert_eq!(
            k(json!({"type": "string", "format": "date-time"})),
            ColumnKind::DateTime
        );
        assert_eq!(
            k(json!({"type": ["null", "string"], "format": "date"})),
            ColumnKind::Date
        );
        assert_eq!(k(json!({"type": "integer"})), ColumnKind::Integer);
        assert_eq!(
            k(json!({"type": ["integer", "number"]})),
            ColumnKind::Number
        );
        assert_eq!(k(json!({"type": "boolean"})), ColumnKind::Boolean);
        assert_eq!(k(json!({"type": "object"})), ColumnKind::Json);
        assert_eq!(k(json!({"type": ["string", "integer"]})), ColumnKind::Json);
        assert_eq!(k(json!({})), ColumnKind::Json);
        assert_eq!(
            ColumnKind::Integer.widen(ColumnKind::Number),
            ColumnKind::Number
        );
        assert_eq!(
            ColumnKind::Date.widen(ColumnKind::String),
            ColumnKind::String
        );
        assert_eq!(
            ColumnKind::Boolean.widen(ColumnKind::String),
            ColumnKind::String
        );
        assert_eq!(
            ColumnKind::Number.widen(ColumnKind::DateTime),
            ColumnKind::String
        );
        assert_eq!(
            ColumnKind::Json.widen(ColumnKind::Integer),
            ColumnKind::Json
        );
        assert!(ColumnKind::Number.holds(ColumnKind::Integer));
        assert!(!ColumnKind::Integer.holds(ColumnKind::Number));
    }

    #[test]
    fn cells_convert_or_say_why_not() {
        let c = |s: &str, k| cell(s, k).map(|c| format!("{c:?}"));
        assert_eq!(c("42", ColumnKind::Integer).unwrap(), "Integer(42)");
        assert_eq!(c("42.0", ColumnKind::Integer).unwrap(), "Integer(42)");
        assert_eq!(c("4.5", ColumnKind::Integer), Err("a fractional number"));
        assert_eq!(c("\"x\"", ColumnKind::Integer), Err("a string"));
        assert_eq!(c("null", ColumnKind::Integer).unwrap(), "Null");
        assert_eq!(
            c("\"a\\u0062\"", ColumnKind::String).unwrap(),
            "Text(\"ab\")"
        );
        assert_eq!(c("7", ColumnKind::String).unwrap(), "Text(\"7\")");
        assert_eq!(c("{\"a\":1}", ColumnKind::String), Err("an object"));
        assert_eq!(
            c("{\"a\":1}", ColumnKind::Json).unwrap(),
            "Json(\"{\\\"a\\\":1}\")"
        );
        assert!(
            c("\"2024-01-02T03:04:05+02:00\"", ColumnKind::DateTime)
                .unwrap()
                .contains("2024-01-02T01:04:05Z")
        );
        assert_eq!(
            c("\"soon\"", ColumnKind::DateTime),
            Err("a string that is not a date-time")
        );
        assert!(
            c("\"2024-02-29\"", ColumnKind::Date)
                .unwrap()
                .contains("2024-02-29")
        );
        assert_eq!(c("true", ColumnKind::Boolean).unwrap(), "Boolean(true)");
    }

    #[test]
    fn fields_borrow_from_the_record() {
        let r = Record::from_json(r#"{"id": 1, "n\u0061me": "x", "o": {"a": [1, 2]}}"#).unwrap();
        let f = Fields::of(&r).unwrap();
        let names: Vec<&str> = f.iter().map(|(k, _)| k).collect();
        assert_eq!(names, vec!["id", "name", "o"]);
        assert_eq!(f.iter().nth(2).unwrap().1, r#"{"a": [1, 2]}"#);
        let mut t =
            TableSchema::from_json_schema(&json!({"properties": {"id": {"type": "integer"}}}));
        t.push(Column {
            name: "x".into(),
            kind: ColumnKind::Json,
        });
        assert_eq!(t.position("x"), Some(1));
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn changes_and_cells_of_a_record() {
        let t = TableSchema::from_json_schema(&json!({"properties": {"id": {"type": "integer"}}}));
        let evolving =
            Record::from_json(r#"{"id": 1.5, "new": "x", "gone": null, "_meta": 1}"#).unwrap();
        let changes = t.changes_for(&Fields::of(&evolving).unwrap(), &["_meta"]);
        assert_eq!(
            changes,
            vec![
                Column {
                    name: "id".into(),
                    kind: ColumnKind::Number
                },
                Column {
                    name: "new".into(),
                    kind: ColumnKind::String
                },
            ]
        );
        let misfit = Record::from_json(r#"{"id": "x", "other": 1}"#).unwrap();
        let (cells, misfits) = t.cells(&Fields::of(&misfit).unwrap());
        assert_eq!(cells, vec![Cell::Null]);
        assert_eq!(misfits.len(), 1);
        assert_eq!(
            misfits[0].to_string(),
            "field \"id\" holds a string where the column is integer"
        );
    }

    #[test]
    fn cells_in_one_pass_only_when_no_column_changes() {
        let t = TableSchema::from_json_schema(&json!({"properties": {"id": {"type": "integer"}}}));
        let skip = ["_meta"];
        let check = |json: &str| {
            let r = Record::from_json(json).unwrap();
            let fields = Fields::of(&r).unwrap();
            let fast = t.cells_if_unchanged(&fields, &skip);
            // `None` exactly when there are changes; otherwise the same cells.
            assert_eq!(
                fast.is_none(),
                !t.changes_for(&fields, &skip).is_empty(),
                "{json}"
            );
            if let Some((cells, misfits)) = fast {
                let (slow_cells, slow_misfits) = t.cells(&fields);
                assert_eq!(cells, slow_cells, "{json}");
                assert_eq!(misfits.len(), slow_misfits.len(), "{json}");
            }
        };
        check(r#"{"id": 1, "gone": null, "_meta": 1}"#);
        check(r#"{"id": "x"}"#);
        check(r#"{"id": 1.5}"#);
        check(r#"{"id": 1, "new": "x"}"#);
        check(r#"{}"#);
    }

    #[test]
    fn fields_find_their_columns_whatever_order_the_records_list_them_in() {
        // More fields than positions are remembered, in orders that change from record to
        // record (each record's guesses are the last record's), across a clone and a new column.
        let names: Vec<String> = (0..40).map(|i| format!("f{i}")).collect();
        let schema = json!({"properties": names.iter().map(|n| (n.clone(), json!({"type": "integer"})))
            .collect::<serde_json::Map<_, _>>()});
        let mut t = TableSchema::from_json_schema(&schema);
        let record = |order: &[usize]| {
            let fields: Vec<String> = order.iter().map(|&i| format!("\"f{i}\": {i}")).collect();
            Record::from_json(format!("{{{}}}", fields.join(","))).unwrap()
        };
        let forward: Vec<usize> = (0..40).collect();
        let backward: Vec<usize> = (0..40).rev().collect();
        let shifted: Vec<usize> = (0..40).map(|i| (i + 7) % 40).collect();
        let sparse: Vec<usize> = (0..40).step_by(3).collect();
        for round in 0..3 {
            if round == 1 {
                t = t.clone();
            }
            if round == 2 {
                t.push(Column {
                    name: "extra".into(),
                    kind: ColumnKind::String,
                });
            }
            for order in [&forward, &backward, &forward, &shifted, &sparse, &shifted] {
                let r = record(order);
                let (cells, misfits) = t.cells(&Fields::of(&r).unwrap());
                assert!(misfits.is_empty());
                for (column, cell) in cells.iter().enumerate() {
                    let expected = match t.column(column).name.strip_prefix('f') {
                        Some(n) if order.contains(&n.parse().unwrap()) => {
                            Cell::Integer(n.parse().unwrap())
                        }
                        _ => Cell::Null,
                    };
                    assert_eq!(
                        *cell,
                        expected,
                        "column {} of {order:?}",
                        t.column(column).name
                    );
                }
            }
        }
    }
}
