//! Typed cells from a record's fields, read from the raw JSON text without building a tree.

use std::borrow::Cow;
use std::fmt;

use chrono::{DateTime, NaiveDate, Utc};

use super::ColumnKind;
use crate::error::{Error, Result};
use crate::record::Record;
use crate::state::parse_datetime;
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
    let string = || crate::json::json_str(text).ok_or(found.what());
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
        if crate::json::scan::members(text, |k, v| {
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
pub(super) fn checked_members(
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
